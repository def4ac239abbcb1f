#!/usr/bin/env bash
# Runs the property-based fuzz targets (src/fuzz.rs) far longer than `cargo test` does, each
# within a time bound. Failures are shrunk and saved by proptest under proptest-regressions/
# (commit them: they are replayed first on every test run).
# Usage: scripts/fuzz.sh [CASES per target, default 20000] [SECONDS per target, default 300]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/skiff-target}"
cases="${1:-20000}"
secs="${2:-300}"
targets=(
  loaders_take_arbitrary_bytes
  loaders_take_arbitrary_text
  mutated_pages_load_and_chunk_within_limits
  config_parsing_never_panics
  plan_validation_never_panics
  slack_signature_check
)
cargo test --lib --no-run
status=0
for t in "${targets[@]}"; do
  echo "[fuzz] $t: $cases cases, at most ${secs}s" >&2
  started=$(date +%s)
  if PROPTEST_CASES="$cases" timeout "$secs" cargo test --lib --quiet "fuzz::$t" -- --exact >/tmp/skiff-fuzz-$t.log 2>&1; then
    echo "[fuzz] $t: ok in $(( $(date +%s) - started ))s" >&2
  else
    rc=$?
    if [[ $rc -eq 124 ]]; then
      echo "[fuzz] $t: time bound reached without a failure" >&2
    else
      echo "[fuzz] $t: FAILED (see /tmp/skiff-fuzz-$t.log and proptest-regressions/)" >&2
      tail -30 "/tmp/skiff-fuzz-$t.log" >&2
      status=1
    fi
  fi
done
exit $status
