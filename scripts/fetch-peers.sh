#!/usr/bin/env bash
# Installs the peer programs tests and benchmarks compare against, from PyPI, into a venv outside
# git: llama.cpp's OpenAI-compatible server (xllamacpp wheel), and Python's fastembed +
# qdrant-client (the ingestion/search pipeline `skiff bench all` compares with). Idempotent;
# prints the venv's python on stdout.
set -euo pipefail
VENV="${SKIFF_PEERS_DIR:-/var/tmp/skiff-peers}/venv"
XLLAMACPP_VERSION=2026.10.11549
stamp="$VENV/.xllamacpp-$XLLAMACPP_VERSION"
if [[ ! -f "$stamp" ]]; then
  echo "[fetch-peers] installing xllamacpp $XLLAMACPP_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: "xllamacpp==$XLLAMACPP_VERSION"
  "$VENV/bin/python" -c "import xllamacpp" || { echo "[fetch-peers] error: xllamacpp does not import" >&2; exit 1; }
  touch "$stamp"
fi
PIPELINE_PINS=("fastembed==0.9.1" "qdrant-client==1.20.0")
pipeline_stamp="$VENV/.pipeline-fastembed-0.9.1-qdrant-client-1.20.0"
if [[ ! -f "$pipeline_stamp" ]]; then
  echo "[fetch-peers] installing ${PIPELINE_PINS[*]} into $VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: "${PIPELINE_PINS[@]}"
  "$VENV/bin/python" -c "import fastembed, qdrant_client" \
    || { echo "[fetch-peers] error: fastembed/qdrant-client do not import" >&2; exit 1; }
  touch "$pipeline_stamp"
fi
echo "$VENV/bin/python"
