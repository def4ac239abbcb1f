#!/usr/bin/env bash
# Produces the patched crate copies that Cargo.toml's [patch.crates-io] points at.
#
# We keep only our diffs in git (scripts/patches/NAME-VERSION*.diff) and build each patched copy
# from the registry's own .crate, checksum-verified, outside git in /var/tmp/skiff-patched/NAME
# (a fixed absolute path, so every clone, CI's included, shares one build of it in
# CARGO_TARGET_DIR). The crates and why:
# - qdrant-edge 0.9.0 uses `std::debug_assert_matches`, unstable on rustc 1.95 (E0658). Drop its
#   entry and the [patch] line once the toolchain is >= 1.96.
# - candle-core 0.10.2's CPU quantized matmul computes one dot product per output element,
#   unpacking the weights again for every prompt token, so prefill ran at decode speed. On CPUs
#   with AMX (detected at run time, with the kernel's permission asked once per process),
#   prompts of 128+ rows of any weight type are a bf16 GEMM on the tile unit over weights
#   dequantized once per call in L2-sized chunks. Q4_K and Q6_K weights (all of a Q4_K_M model's
#   layers) otherwise go through int8 kernels (AVX-512 VNNI) that unpack each weight block once
#   per tile of up to 8 rows, for decoding (one row) too; other types, and CPUs without VNNI,
#   dequantize the weights once per call from 32 rows and run the crate's f32 GEMM.
#   `skiff bench llm` measures it against llama.cpp.
# - mistralrs-core 0.8.1's prefix cache keeps every finished sequence's KV cache and evicts only
#   caches that are not on the CPU, so on a CPU-only machine nothing was ever evicted and a
#   long-running server's memory grew with every model call (upstream issue #1961). The diff
#   counts and evicts CPU caches too, so at most `prefix_cache` sequences (per local model) are
#   kept; `skiff bench cache` measures it. Its CPU attention took one scalar multiply-add per
#   element for Q·K and for adding V (a float sum in a fixed order is not vectorised); the
#   second diff gives them AVX2 kernels (bf16, f16 and f32). It ran a CPU model's activations in
#   bf16, converted to f32 and back around every matmul; the third diff picks f32 on a CPU.
# Idempotent: a no-op for each crate whose patched copy (with the current diffs) is there.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[patch-crates] $*" >&2; }
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

# patch_crate NAME VERSION SHA256: sha256 is the crates.io checksum of the published .crate.
patch_crate() {
  local name="$1" version="$2" crate_sha="$3"
  local dest="/var/tmp/skiff-patched/$name"
  # The stamp names the diffs' own checksum, so a changed diff rebuilds the copy.
  local diffs_sum
  diffs_sum="$(cat scripts/patches/"$name-$version"*.diff | sha256sum | cut -c1-16)"
  local stamp="$dest/.skiff-patched-$version-$diffs_sum"
  [[ -f "$stamp" ]] && return 0
  find_crate() { ls "$cargo_home"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n1; }
  local crate_file
  crate_file="$(find_crate || true)"
  if [[ -z "$crate_file" ]]; then
    log "fetching $name $version from crates.io"
    local tmp
    tmp="$(mktemp -d)"
    mkdir -p "$tmp/src" && touch "$tmp/src/lib.rs"
    printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' \
      "$name" "$name" "$version" > "$tmp/Cargo.toml"
    (cd "$tmp" && cargo fetch --quiet)
    rm -rf "$tmp"
    crate_file="$(find_crate || true)"
    [[ -n "$crate_file" ]] || { log "error: $name-$version.crate not in $cargo_home/registry/cache after cargo fetch"; exit 1; }
  fi
  local got
  got="$(sha256sum "$crate_file" | cut -d' ' -f1)"
  if [[ "$got" != "$crate_sha" ]]; then
    log "error: checksum mismatch for $crate_file: expected $crate_sha, got $got"
    exit 1
  fi
  rm -rf "$dest" && mkdir -p "$dest"
  tar xzf "$crate_file" -C "$dest" --strip-components=1
  local p
  for p in scripts/patches/"$name-$version"*.diff; do
    log "applying $p"
    patch --quiet -p1 -d "$dest" < "$p"
  done
  touch "$stamp"
  log "patched $name $version in $dest"
}

patch_crate qdrant-edge 0.9.0 0bf059f7c7f5145aea9b8ccfea3e6f9bcf7d0fd2440132a1489c02124473468c
patch_crate candle-core 0.10.2 6bd9895436c1ba5dc1037a19935d084b838db066ff4e15ef7dded020b7c12a4a
patch_crate mistralrs-core 0.8.1 a2b8b9e5c94491d9ceeded3a30291cb6af6ae74810a5776dd55e3bbb8b3429d4
