#!/usr/bin/env bash
# The demo, from a fresh clone: installs the pinned toolchain and
# dependencies, then runs the demo master.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HSU_ROOT"
pnpm install --frozen-lockfile --reporter=silent
exec node --conditions=@hsu/source examples/echo/src/master.ts "$@"
