#!/usr/bin/env bash
# The project's build steps, run from anywhere:
#   scripts/dev.sh venv       create .venv and install requirements-dev.txt (pinned)
#   scripts/dev.sh generate   venv + regenerate PACKAGE/gen/ from proto/
#   scripts/dev.sh build      venv + byte-compile the package (catches syntax errors)
#   scripts/dev.sh test       venv + pytest
#   scripts/dev.sh binary     venv + Nuitka standalone executable in build/
# PYTHON=/path/to/python3.11 picks the interpreter that creates .venv.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PACKAGE="$(sed -n 's/^package *= *"\(.*\)"/\1/p' pyproject.toml | head -n1)"
VENV=.venv
PY="$VENV/bin/python"

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.11 python3 python; do
    [[ -n "$candidate" ]] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: no Python 3.11 or newer found; install it or set PYTHON=/path/to/python3.11" >&2
  return 1
}

# Installs a requirements file once; a stamp holding its hash skips reinstalls.
install_requirements() {
  local file="$1" stamp="$VENV/.installed-$1"
  local want
  want="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  "$PY" -m pip install --disable-pip-version-check --quiet -r "$file"
  echo "$want" >"$stamp"
}

ensure_venv() {
  if [[ ! -x "$PY" ]]; then
    local python
    python="$(find_python)"
    echo "creating $VENV with $("$python" --version)"
    "$python" -m venv "$VENV"
  fi
  install_requirements requirements-dev.txt
}

case "${1:-}" in
  venv)
    ensure_venv
    ;;
  generate)
    ensure_venv
    "$PY" scripts/gen_proto.py "$PACKAGE"
    ;;
  build)
    ensure_venv
    "$PY" -m compileall -q "$PACKAGE"
    ;;
  test)
    ensure_venv
    shift
    "$PY" -m pytest "$@"
    ;;
  binary)
    ensure_venv
    install_requirements requirements-binary.txt
    exec bash scripts/build-binary.sh "$PACKAGE"
    ;;
  *)
    sed -n '2,8p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
