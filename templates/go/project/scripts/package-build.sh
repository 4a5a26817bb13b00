# The Go build step of scripts/package.sh (sourced by it; yours to change).

# Prints the unit's version: the Version in cmd/unit/main.go, which GetInfo reports.
unit_version() {
  sed -n 's/^[[:space:]]*Version:[[:space:]]*"\([^"]*\)".*/\1/p' cmd/unit/main.go | head -n 1
}

# Builds the program into $1/bin/unit: static (CGO_ENABLED=0, so it needs no
# libc on the target), without build paths or a VCS stamp, so the same source
# gives the same bytes. GOOS/GOARCH from the environment cross-compile.
build_unit() {
  mkdir -p "$1/bin"
  CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$1/bin/unit" ./cmd/unit
}
