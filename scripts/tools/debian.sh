#!/usr/bin/env bash
# Installs Debian packages the tests and benchmarks run against, when missing:
#   bash scripts/tools/debian.sh            the list in debian-packages.txt
#   bash scripts/tools/debian.sh minisign   just these
# Idempotent and safe to call from parallel tests (one flock); `apt-get update`
# runs at most once per machine boot. Needs root (as CI and the dev machines are).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "$#" -eq 0 ]; then
  mapfile -t wanted < <(grep -vE '^\s*(#|$)' "$here/debian-packages.txt")
else
  wanted=("$@")
fi
missing() {
  local out=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p")
  done
  echo "${out[@]:-}"
}
[ -z "$(missing)" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "hsu: the tests need the Debian packages: $(missing); install them as root: apt-get install -y $(missing)" >&2
  exit 1
fi
exec 9>/tmp/hsu-debian.lock
flock -w 600 9 || { echo "hsu: another apt-get run held /tmp/hsu-debian.lock for 10 minutes" >&2; exit 1; }
todo="$(missing)"
[ -z "$todo" ] && exit 0
stamp=/tmp/hsu-apt-updated
if [ ! -e "$stamp" ] || [ "$stamp" -ot /proc/1 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  touch "$stamp"
fi
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $todo >/dev/null
echo "hsu: installed Debian packages: $todo" >&2
