# The TypeScript build step of scripts/package.sh (sourced by it; yours to change).

# Prints the unit's version: "version" in package.json.
unit_version() {
  sed -n 's/^  "version":[[:space:]]*"\([^"]*\)".*/\1/p' package.json | head -n 1
}

# Builds the bundle (npm run build: src/main.ts and everything it imports in
# dist/unit/) into $1/lib/, with $1/bin/unit running it on the node on PATH.
# A dependency kept out of the bundle (--external:) must be copied here too.
build_unit() {
  rm -rf dist/unit # esbuild leaves the chunks of earlier builds
  npm run build --silent
  mkdir -p "$1/bin" "$1/lib"
  cp -R dist/unit/. "$1/lib/"
  printf '{ "type": "module" }\n' >"$1/lib/package.json"
  cat >"$1/bin/unit" <<'UNIT'
#!/bin/sh
# Runs the bundled unit; exec keeps the pid, so a master's signals reach node.
exec node "$(dirname "$0")/../lib/main.js" "$@"
UNIT
  chmod +x "$1/bin/unit"
}
