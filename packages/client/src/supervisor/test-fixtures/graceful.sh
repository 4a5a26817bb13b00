#!/bin/sh
# Runs until SIGTERM, then says so and exits with the code given as $1 (default 0).
code="${1:-0}"
trap 'echo "got SIGTERM"; exit "$code"' TERM
echo "ready pid=$$"
while :; do sleep 0.05; done
