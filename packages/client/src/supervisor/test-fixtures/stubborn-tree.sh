#!/bin/sh
# Ignores SIGTERM and forks two grandchildren that ignore it too (an ignored
# signal stays ignored across fork and exec), then reports their pids.
trap '' TERM
( while :; do sleep 1; done ) &
a=$!
( while :; do sleep 1; done ) &
b=$!
echo "ready leader=$$ children=$a,$b"
while :; do sleep 1; done
