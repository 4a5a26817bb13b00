#!/usr/bin/env bash
# locked.sh <package-dir> <command...>: runs the command holding that package's
# build lock. A build starts with `rm -rf dist`, so two builds of one package,
# or a build and a `pnpm pack` of it, must never overlap: a tarball packed
# while another process rebuilt dist lacks the files not yet emitted. Every
# in-place build (the package's own "build" script, packAll, the TS SDK
# tarballs of the tests, create-hsu-unit's prepack) goes through here. A
# command run under the lock sees HSU_BUILD_LOCK_<package>=1 and does not take
# it again (the build inside a locked build-and-pack).
set -euo pipefail
dir=$(cd "$1" && pwd)
shift
name=$(basename "$dir" | tr -c 'A-Za-z0-9\n' '_')
var="HSU_BUILD_LOCK_${name}"
if [ -n "${!var:-}" ]; then exec "$@"; fi
mkdir -p "$dir/node_modules"
export "$var=1"
rc=0
flock --wait 600 --conflict-exit-code 75 "$dir/node_modules/.hsu-build.lock" "$@" || rc=$?
if [ "$rc" = 75 ]; then
  echo "locked.sh: another build of $dir held its lock ($dir/node_modules/.hsu-build.lock) for 600 s; is a build stuck? (fuser -v that file)" >&2
fi
exit "$rc"
