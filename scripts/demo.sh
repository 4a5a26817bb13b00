#!/usr/bin/env bash
# The demo, from a fresh clone: installs the pinned toolchain and
# dependencies, builds the Go, Python and Rust echo units, then runs a hybrid
# deployment (examples/demo/hsu.yaml) under the hsu master: integrated units
# in four languages started on demand, a worker pool, a cron job and an
# unmanaged daemon; a client calls every unit through the master.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HSU_ROOT"
# A short step: what runs, its time, and the end of its output if it fails.
step() {
  local label=$1 log started=$SECONDS
  shift
  log=$(mktemp)
  echo "demo: $label: $*"
  if "$@" >"$log" 2>&1; then
    echo "demo: $label: done in $((SECONDS - started)) s"
    rm -f "$log"
  else
    local code=$?
    echo "demo: $label: FAILED (exit $code) after $((SECONDS - started)) s; the end of its output:"
    tail -n 25 "$log" | sed 's/^/  /'
    rm -f "$log"
    return "$code"
  fi
}
step "install" pnpm install --frozen-lockfile --reporter=append-only
demo="$HSU_ROOT/examples/demo"
hsu() { node --conditions=@hsu/source "$HSU_ROOT/packages/master/src/cli/bin.ts" "$@"; }

# The Go, Python and Rust units; prepare.ts shows each build's progress itself.
node --conditions=@hsu/source "$demo/prepare.ts"

cd "$demo"
mkdir -p .run
# The "legacy" daemon: started outside HSU, found by its pid file.
node src/legacy.mjs .run/legacy.pid > .run/legacy.log 2>&1 &
legacy=$!
cleanup() {
  hsu down >/dev/null 2>&1 || true
  kill "$legacy" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do [ -s .run/legacy.pid ] && break; sleep 0.1; done

echo
echo "\$ hsu up --detach -f examples/demo/hsu.yaml"
hsu up --detach
echo
echo "\$ node examples/demo/src/client.ts   # calls every echo unit through the master"
status=0
node --conditions=@hsu/source src/client.ts || status=$?
echo
echo "\$ hsu logs -n 4 workers nightly-report"
hsu logs -n 4 workers nightly-report
echo
echo "\$ hsu down"
hsu down
exit $status
