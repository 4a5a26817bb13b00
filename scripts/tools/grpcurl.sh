#!/usr/bin/env bash
# Prints the path of a pinned grpcurl (a stock gRPC client used by the tests),
# building it from the Go module proxy into .cache/bin on first use.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="v1.9.3"
bin="$root/.cache/bin/grpcurl-$version"
if [ ! -x "$bin" ]; then
  mkdir -p "$root/.cache/bin"
  tmp="$(mktemp -d)"
  GOBIN="$tmp" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$version" >&2
  mv "$tmp/grpcurl" "$bin"
  rmdir "$tmp"
fi
echo "$bin"
