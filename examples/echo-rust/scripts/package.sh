#!/bin/sh
# Builds echo-rust for release and packs it as an HSU artifact:
#   dist/echo-rust-<version>.tar.gz          bin/unit (and what it needs), hsu-artifact.json, LICENSE/README
#   dist/echo-rust-<version>.tar.gz.minisig  when HSU_SIGNING_KEY names a minisign secret key
# then prints its sha256 and the hsu.yaml `source:` that installs it.
#
# The archive is reproducible: the same build gives the same bytes (entries
# sorted by name, mtime 0, owner 0:0, modes normalized, gzip without a name
# or time), so its sha256 can be pinned and checked by anyone who rebuilds.
#
#   HSU_SIGNING_KEY=path/to/minisign.key  sign with the minisign CLI (apt-get install minisign)
#   HSU_KEY_PASSWORD=...                  the key's password (else minisign asks on the terminal)
#   HSU_PUBLIC_KEY=path/to/minisign.pub   its public key (default: the .key path with .pub)
#   UNIT_VERSION=1.2.3                    instead of the version scripts/package-build.sh reads
#   TAR=gtar                              a GNU tar not named tar (macOS: brew install gnu-tar)
#
# Needs POSIX sh, GNU tar, gzip and sha256sum (or shasum). This file is
# rewritten by `create-hsu-unit regen`; the language's build step is
# scripts/package-build.sh, which is yours.
set -eu
# Key paths are relative to where this was run from, not to the project.
absolute() { case "$1" in "" | /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
key=$(absolute "${HSU_SIGNING_KEY:-}")
pub=$(absolute "${HSU_PUBLIC_KEY:-}")
cd "$(dirname "$0")/.."

name=echo-rust
language=rust

die() {
  echo "package: $*" >&2
  exit 1
}

# Defines unit_version (prints the version) and build_unit TREE (puts the program at TREE/bin/unit).
. ./scripts/package-build.sh

tar=${TAR:-tar}
"$tar" --version 2>/dev/null | grep -q 'GNU tar' ||
  die "'$tar' is not GNU tar, which a reproducible archive needs (--sort, --mtime): install it (macOS: brew install gnu-tar) and run with TAR=gtar"
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  die "neither sha256sum nor shasum is on PATH: install coreutils"
fi

if [ -n "$key" ]; then
  [ -f "$key" ] || die "HSU_SIGNING_KEY=$key: no such file (make a key with 'minisign -G -s $key -p ${key%.key}.pub')"
  command -v minisign >/dev/null 2>&1 || die "HSU_SIGNING_KEY is set but minisign is not on PATH: install it (apt-get install minisign, brew install minisign)"
fi

version=${UNIT_VERSION:-$(unit_version)}
case "$version" in
  "" | *[!0-9A-Za-z.+_-]* | [!0-9A-Za-z]*)
    die "the version '$version' is not usable in a file name: fix it where scripts/package-build.sh reads it, or set UNIT_VERSION=1.2.3" ;;
esac

artifact=dist/$name-$version.tar.gz
tree=$(mktemp -d "${TMPDIR:-/tmp}/$name-package.XXXXXX")
trap 'rm -rf "$tree" "${part:-}"' EXIT INT TERM

build_unit "$tree"
[ -x "$tree/bin/unit" ] || die "scripts/package-build.sh: build_unit did not put an executable at bin/unit"
for file in LICENSE* COPYING* NOTICE* README*; do
  if [ -f "$file" ]; then cp "$file" "$tree/"; fi
done
printf '{\n  "name": "%s",\n  "version": "%s",\n  "language": "%s",\n  "command": "bin/unit"\n}\n' \
  "$name" "$version" "$language" >"$tree/hsu-artifact.json"

# The umask and the build tools decide modes; an artifact must not.
chmod -R u+rwX,go+rX,go-w "$tree"
mkdir -p dist
# A signature of an earlier build must not sit beside this one.
rm -f "$artifact" "$artifact.minisig"
part=$artifact.$$.part
"$tar" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$tree" -cf - . | gzip -n -9 >"$part"
mv "$part" "$artifact"
sum=$(sha256 "$artifact")
echo "$artifact"
echo "sha256 $sum"

pub_line=
if [ -n "$key" ]; then
  comment="$name $version sha256:$sum"
  sign() { minisign -S -s "$key" -m "$artifact" -t "$comment" >/dev/null; }
  # minisign reads the password from the terminal, else from stdin.
  if [ -n "${HSU_KEY_PASSWORD:-}" ]; then
    printf '%s\n' "$HSU_KEY_PASSWORD" | sign || die "minisign could not sign with $key: is HSU_KEY_PASSWORD its password?"
  elif [ -t 0 ]; then
    sign || die "minisign could not sign with $key"
  else
    sign </dev/null || die "minisign could not sign with $key: an encrypted key needs HSU_KEY_PASSWORD when there is no terminal"
  fi
  echo "signed $artifact.minisig"
  pub=${pub:-${key%.key}.pub}
  if [ -f "$pub" ]; then
    minisign -V -q -p "$pub" -m "$artifact" >/dev/null ||
      die "$artifact.minisig does not verify with $pub: is it the public key of $key? (set HSU_PUBLIC_KEY)"
    pub_line=$(tail -n 1 "$pub")
  fi
fi

echo
echo "# hsu.yaml (the url is where you publish it, e.g. https://releases.example.com/$name-$version.tar.gz)"
if [ -n "$key" ]; then
  echo "master:"
  echo "  trusted_keys:"
  if [ -n "$pub_line" ]; then
    echo "    - \"$pub_line\""
  else
    echo "    - { file: path/to/your-key.pub }   # the public key of $key"
  fi
fi
echo "units:"
echo "  $name:"
echo "    command: bin/unit"
echo "    source:"
echo "      url: file:$PWD/$artifact"
echo "      sha256: $sum"
echo "      version: \"$version\""
