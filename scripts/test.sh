#!/usr/bin/env bash
# The whole test suite: unit tests and end-to-end tests with the real models and store.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
# Build output lives outside the clone so repeated runs (and CI) are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/skiff-target}"
scripts/setup.sh
# Tests read the models from the same place the fetch script put them.
export SKIFF__MODELS__DIR="${SKIFF_MODELS_DIR:-/var/tmp/skiff-models}"
if [[ -z "${SKIFF_TEST_QDRANT_URL:-}" ]]; then
  echo "[test] VectorStore conformance against a Qdrant server: SKIPPED (no server here; set" \
       "SKIFF_TEST_QDRANT_URL=http://HOST:6334 to run it). The embedded store always runs it." >&2
fi
cargo test --all-targets "$@"
