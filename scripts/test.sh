#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the pinned toolchain and
# dependencies, then runs every suite (TypeScript, Go, Python, Rust) and ends
# with "N passed, N failed". HSU_TEST_FAST=1 skips the slow suites.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HSU_ROOT"
pnpm install --frozen-lockfile --reporter=silent
# The real tools the tests run against (minisign, age, ...), from Debian.
bash scripts/tools/debian.sh
exec node scripts/test-all.ts "$@"
