#!/usr/bin/env bash
# The release: version (changesets) -> build -> pack every published package
# and lint the tarballs -> the single executable hsu -> publish. `--dry-run` does all but change versions
# and publish: it shows what changesets would release and leaves the packed
# tarballs in .cache/release/ to inspect. See docs/release.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HSU_ROOT"
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    *) echo "release: unknown argument $arg (only --dry-run)" >&2; exit 2 ;;
  esac
done
step() { echo; echo "== release: $*"; }

if [ "$dry_run" = 1 ]; then
  step "what changesets would release (changeset status)"
  pnpm exec changeset status --verbose
else
  if [ -n "$(git status --porcelain)" ]; then
    echo "release: the work tree has uncommitted changes; commit or stash them first" >&2
    exit 1
  fi
  step "changeset version"
  pnpm exec changeset version
  pnpm install --lockfile-only --reporter=silent
fi

step "build"
nice pnpm turbo run build --filter='./packages/*' --output-logs=errors-only

out="$HSU_ROOT/.cache/release"
rm -rf "$out" && mkdir -p "$out"
published=$(node -e '
  const { readdirSync, readFileSync, existsSync } = require("node:fs");
  for (const d of readdirSync("packages")) {
    const f = `packages/${d}/package.json`;
    if (existsSync(f) && !JSON.parse(readFileSync(f, "utf8")).private) console.log(d);
  }')
for dir in $published; do
  step "pack packages/$dir"
  (cd "packages/$dir" && pnpm pack --pack-destination "$out" >/dev/null)
done
for tarball in "$out"/*.tgz; do
  step "publint $(basename "$tarball")"
  pnpm exec publint run "$tarball"
done

step "single executable hsu (packages/master build:sea)"
pnpm --filter @hsu/master run build:sea >/dev/null
version=$(node -p 'require("./packages/master/package.json").version')
binary="hsu-$version-$(node -p 'process.platform + "-" + process.arch')"
cp packages/master/dist-sea/hsu "$out/$binary"
"$out/$binary" --version
(cd "$out" && sha256sum "$binary" > "$binary.sha256")

if [ "$dry_run" = 1 ]; then
  step "dry run: not publishing; tarballs and the binary are in .cache/release/"
  ls -l "$out"
else
  step "changeset publish"
  pnpm exec changeset publish
  echo "release: published; push the version commit and tags: git push --follow-tags"
  echo "release: attach .cache/release/$binary and $binary.sha256 to the release of v$version"
fi
