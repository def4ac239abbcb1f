#!/usr/bin/env bash
# Produces the patched copy of qdrant-edge that Cargo.toml's [patch.crates-io] points at.
#
# Why: qdrant-edge 0.9.0 uses `std::debug_assert_matches`, which is unstable on rustc 1.95
# (E0658). We keep only our one-hunk diff in git (scripts/patches/) and build the patched copy
# from the registry's own .crate, outside git, in /var/tmp/skiff-patched/ (a fixed absolute path,
# so every clone, CI's included, shares one build of it in CARGO_TARGET_DIR). Drop this script
# and the [patch] section once the toolchain is >= 1.96.
# Idempotent: a no-op when the patched copy is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
name=qdrant-edge
version=0.9.0
# sha256 of the published qdrant-edge-0.9.0.crate (crates.io checksum)
crate_sha=0bf059f7c7f5145aea9b8ccfea3e6f9bcf7d0fd2440132a1489c02124473468c
dest="/var/tmp/skiff-patched/$name"
stamp="$dest/.skiff-patched-$version"
if [[ -f "$stamp" ]]; then
  exit 0
fi
log() { echo "[patch-crates] $*" >&2; }
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
find_crate() { ls "$cargo_home"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n1; }
crate_file="$(find_crate || true)"
if [[ -z "$crate_file" ]]; then
  log "fetching $name $version from crates.io"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/src" && touch "$tmp/src/lib.rs"
  printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' \
    "$name" "$name" "$version" > "$tmp/Cargo.toml"
  (cd "$tmp" && cargo fetch --quiet)
  crate_file="$(find_crate || true)"
  [[ -n "$crate_file" ]] || { log "error: $name-$version.crate not in $cargo_home/registry/cache after cargo fetch"; exit 1; }
fi
got="$(sha256sum "$crate_file" | cut -d' ' -f1)"
if [[ "$got" != "$crate_sha" ]]; then
  log "error: checksum mismatch for $crate_file: expected $crate_sha, got $got"
  exit 1
fi
rm -rf "$dest" && mkdir -p "$dest"
tar xzf "$crate_file" -C "$dest" --strip-components=1
for p in scripts/patches/"$name-$version"*.diff; do
  log "applying $p"
  patch --quiet -p1 -d "$dest" < "$p"
done
touch "$stamp"
log "patched $name $version in $dest"
