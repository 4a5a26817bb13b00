#!/usr/bin/env bash
# Prints the path of the pinned grpcurl (see go-tool.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/go-tool.sh" grpcurl
