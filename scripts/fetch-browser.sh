#!/usr/bin/env bash
# Installs what the browser test (tests/browser/chat.mjs) drives the web page with, outside git:
# Debian's chromium (apt) and playwright-core (npm, no bundled browsers) under
# /var/tmp/skiff-peers/node. Idempotent; prints the chromium path on stdout.
set -euo pipefail
CHROMIUM="${SKIFF_CHROMIUM:-/usr/bin/chromium}"
NODE_DIR="${SKIFF_PEERS_DIR:-/var/tmp/skiff-peers}/node"
PLAYWRIGHT_VERSION=1.64.1
if [[ ! -x "$CHROMIUM" ]]; then
  echo "[fetch-browser] installing chromium (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium >&2
  [[ -x "$CHROMIUM" ]] || { echo "[fetch-browser] error: $CHROMIUM missing after install" >&2; exit 1; }
fi
pkg="$NODE_DIR/node_modules/playwright-core/package.json"
if [[ "$(node -p "require('$pkg').version" 2>/dev/null || true)" != "$PLAYWRIGHT_VERSION" ]]; then
  echo "[fetch-browser] installing playwright-core $PLAYWRIGHT_VERSION into $NODE_DIR" >&2
  mkdir -p "$NODE_DIR"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$NODE_DIR" --no-audit --no-fund \
    --loglevel=error --save-exact "playwright-core@$PLAYWRIGHT_VERSION" >&2
fi
echo "$CHROMIUM"
