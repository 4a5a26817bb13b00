#!/bin/sh
# Prints "ready" and runs until signalled (default signal handling).
echo "ready pid=$$"
exec sleep 1000
