#!/usr/bin/env bash
# Builds what bench/gateway/run.ts runs besides Node, with the Go toolchain
# and modules from the Go module proxy, into .cache/bench-gateway/bin/:
#   grpc-gateway   the grpc-gateway side (bench/gateway/grpc-gateway, its generated code committed)
#   echo-go        the Go echo unit every side calls (examples/echo-go)
#
#   bash bench/gateway/setup.sh            build both (a no-op when they are up to date)
#   bash bench/gateway/setup.sh --regen    also reinstall the pinned protoc plugins and run `buf generate`
#   bash bench/gateway/setup.sh --check    regenerate and fail if the committed gen/ differs
#
# Every Go step is bounded (SETUP_TIMEOUT seconds each, default 300).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/.cache/bench-gateway/bin"
limit="${SETUP_TIMEOUT:-300}"
mode="${1:-build}"
mkdir -p "$out"

command -v go >/dev/null || { echo "bench/gateway: no \`go\` on PATH: install Go 1.26 or newer (https://go.dev/dl, or the golang package) and run this again" >&2; exit 1; }

# step NAME DIR CMD...: runs CMD in DIR within the time limit; says what failed and what to check.
step() {
  local name="$1" dir="$2"; shift 2
  local rc=0
  (cd "$dir" && timeout "$limit" "$@") || rc=$?
  if [ "$rc" -eq 124 ]; then
    echo "bench/gateway: $name did not finish in ${limit}s (in $dir): is the Go module proxy ($(go env GOPROXY)) reachable? Raise SETUP_TIMEOUT for a slow link" >&2
    exit 1
  elif [ "$rc" -ne 0 ]; then
    echo "bench/gateway: $name failed (exit $rc, in $dir); if it says it cannot download a module, check that the Go module proxy ($(go env GOPROXY)) is reachable" >&2
    exit 1
  fi
}

step "downloading grpc-gateway's modules" "$here/grpc-gateway" go mod download
if [ "$mode" = "--regen" ] || [ "$mode" = "--check" ]; then
  # The plugins are the `tool` lines of grpc-gateway/go.mod, so go.sum pins them.
  step "installing protoc-gen-go, protoc-gen-go-grpc and protoc-gen-grpc-gateway" "$here/grpc-gateway" env GOBIN="$out" go install tool
  export PATH="$out:$root/node_modules/.bin:$PATH"
  step "buf generate" "$here" buf generate --path proto/hsu
  if [ "$mode" = "--check" ]; then
    if ! git -C "$root" diff --exit-code --stat -- bench/gateway/grpc-gateway/gen || [ -n "$(git -C "$root" status --porcelain -- bench/gateway/grpc-gateway/gen)" ]; then
      echo "bench/gateway: the committed grpc-gateway/gen is not what buf generate makes from bench/gateway/proto: commit the regenerated files" >&2
      exit 1
    fi
  fi
fi
step "building grpc-gateway" "$here/grpc-gateway" go build -trimpath -o "$out/grpc-gateway" .
step "building the Go echo unit" "$root/examples/echo-go" go build -trimpath -o "$out/echo-go" ./cmd/unit
echo "bench/gateway: built $out/grpc-gateway and $out/echo-go"
