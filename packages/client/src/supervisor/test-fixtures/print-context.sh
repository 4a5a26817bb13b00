#!/bin/sh
# Prints its arguments, working directory and a few environment variables, then exits 0.
for a in "$@"; do echo "arg=$a"; done
echo "cwd=$(pwd)"
echo "HSU_TEST_VALUE=${HSU_TEST_VALUE-<unset>}"
echo "HOME=${HOME-<unset>}"
echo "MASTER_ONLY=${MASTER_ONLY-<unset>}"
echo "done"
