#!/usr/bin/env bash
# Prints the path of a pinned Go tool the tests use, building it from the Go
# module proxy into .cache/bin on first use:
#   grpcurl             a stock gRPC client
#   connectconformance  the connectrpc conformance runner (connect-go and
#                       grpc-go reference peers built in)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
case "${1:-}" in
  grpcurl) module="github.com/fullstorydev/grpcurl/cmd/grpcurl" version="v1.9.3" ;;
  connectconformance) module="connectrpc.com/conformance/cmd/connectconformance" version="v1.0.7" ;;
  *) echo "usage: $0 grpcurl|connectconformance" >&2; exit 2 ;;
esac
bin="$root/.cache/bin/$1-$version"
if [ ! -x "$bin" ]; then
  mkdir -p "$root/.cache/bin"
  tmp="$(mktemp -d)"
  GOBIN="$tmp" go install "$module@$version" >&2
  mv "$tmp/$1" "$bin"
  rmdir "$tmp"
fi
echo "$bin"
