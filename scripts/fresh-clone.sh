#!/usr/bin/env bash
# What a new contributor gets: clones this checkout's HEAD into a temp dir and
# checks, there, that `pnpm install` prints no warning (and links an `hsu`
# that says how to build it), that examples/echo-ts builds and tests with the
# commands of its README's "In this repository" section exactly as written,
# and that none of it leaves an untracked file (an `npm install` there too).
# Usage: bash scripts/fresh-clone.sh   (about 2 minutes; the clone is removed)
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
clone="$(mktemp -d /tmp/hsu-fresh-XXXXXX)"
trap 'rm -rf "$clone"' EXIT
fail() { echo "fresh-clone: FAIL: $*" >&2; exit 1; }
step() { echo "fresh-clone: $*" >&2; }

step "cloning $(git -C "$src" rev-parse --short HEAD) into $clone"
git clone -q "$src" "$clone"
cd "$clone"
untracked() { git status --porcelain --untracked-files=all; }

step "pnpm install --frozen-lockfile --prefer-offline"
log="$clone.install.log"
trap 'rm -rf "$clone" "$log"' EXIT
# shellcheck disable=SC1091
(source scripts/env.sh && pnpm install --frozen-lockfile --prefer-offline) >"$log" 2>&1 || { cat "$log" >&2; fail "pnpm install failed"; }
if grep -inE 'warn|warning|failed to create bin' "$log" >&2; then fail "pnpm install printed the warnings above"; fi

step "hsu before anything is built"
set +e
out="$(examples/demo/node_modules/.bin/hsu --help 2>&1)"
code=$?
set -e
[ "$code" = 1 ] || fail "unbuilt hsu exited $code: $out"
grep -q 'not built yet.*pnpm turbo run build' <<<"$out" || fail "unbuilt hsu did not say how to build: $out"

step "examples/echo-ts: the README's commands, as written"
block="$(awk '/^## In this repository/{f=1} f&&/^```sh$/{b=1; next} b&&/^```$/{exit} b' examples/echo-ts/README.md)"
[ -n "$block" ] || fail "no sh block under '## In this repository' in examples/echo-ts/README.md"
printf '%s\n' "$block" | sed 's/^/  | /' >&2
bash -e -c "$block" || fail "the README's commands failed"

step "npm install in examples/echo-ts"
(source scripts/env.sh && cd examples/echo-ts && npm install --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm install failed"

left="$(untracked)"
[ -z "$left" ] || fail "files left that git does not ignore:
$left"
step "ok: no install warning, echo-ts built and tested per its README, nothing untracked"
