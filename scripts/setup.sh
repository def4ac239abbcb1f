#!/usr/bin/env bash
# One-time (idempotent) setup of everything skiff needs beyond the Rust toolchain:
# system packages a fresh machine lacks, the patched qdrant-edge crate, and the local models.
# Re-running is a fast no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[setup] $*" >&2; }

need_apt=()
command -v cc >/dev/null || need_apt+=(gcc)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
command -v patch >/dev/null || need_apt+=(patch)
command -v unzip >/dev/null || need_apt+=(unzip)
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
if ! rustup component list --installed 2>/dev/null | grep -q '^clippy'; then
  rustup component add clippy rustfmt >/dev/null 2>&1 || log "warning: could not add clippy/rustfmt"
fi

scripts/patch-crates.sh
scripts/fetch-models.sh --only "${SKIFF_MODELS:-all}" >/dev/null
scripts/fetch-peers.sh >/dev/null
scripts/fetch-browser.sh >/dev/null
