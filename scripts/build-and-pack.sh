#!/usr/bin/env bash
# Builds one package and packs it (`pnpm pack`) into a directory, holding the
# package's build lock (scripts/locked.sh) across both steps: another build of
# the same package between the two would pack a half-emitted dist/.
#   bash scripts/build-and-pack.sh <package dir> <destination dir>
set -euo pipefail
[ "$#" -eq 2 ] || { echo "usage: build-and-pack.sh <package dir> <destination dir>" >&2; exit 2; }
exec bash "$(dirname "${BASH_SOURCE[0]}")/locked.sh" "$1" sh -c 'cd "$0" && pnpm run build && pnpm pack --pack-destination "$1"' "$1" "$2"
