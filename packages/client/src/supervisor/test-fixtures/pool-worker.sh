#!/bin/sh
# A pool replica: reports its index and pool, then runs until SIGTERM (exit 0).
trap 'exit 0' TERM
echo "index=${HSU_INDEX-<unset>} pool=${HSU_POOL-<unset>}"
while :; do sleep 0.05; done
