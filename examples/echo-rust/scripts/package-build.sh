# The Rust build step of scripts/package.sh (sourced by it; yours to change).

# Prints the unit's version: [package] version in Cargo.toml, which GetInfo reports.
unit_version() {
  sed -n 's/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1
}

# Builds the release binary and copies it to $1/bin/unit. It links the system
# libc dynamically: build on the oldest system it must run on.
build_unit() {
  cargo build --release --target-dir target --bin unit
  mkdir -p "$1/bin"
  cp target/release/unit "$1/bin/unit"
}
