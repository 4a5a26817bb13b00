# The Python build step of scripts/package.sh (sourced by it; yours to change).

# Prints the unit's version: [project] version in pyproject.toml.
unit_version() {
  sed -n 's/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' pyproject.toml | head -n 1
}

# Compiles the unit with Nuitka (scripts/dev.sh binary: minutes the first
# time, skipped while the sources are unchanged) and copies the standalone
# folder to $1/bin/, with the executable at $1/bin/unit. It needs no Python
# on the target, but links the system libc: build on the oldest system it
# must run on.
build_unit() {
  bash scripts/dev.sh binary
  cp -R build/unit "$1/bin"
  rm -f "$1/bin/.source-hash"
}
