#!/usr/bin/env bash
# Installs everything polyhost needs on Debian 12 (run as root): the Debian packages of the
# language runtimes and test peers, then a venv in .venv with polyhost and its Python deps.
# Idempotent and quick on a machine that already has everything (a stamp records what was done).
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.setup-stamp
want=$(cat scripts/apt-packages*.txt pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/polyhost ]; then
  exit 0
fi

# one list per runtime: scripts/apt-packages.txt (core) and scripts/apt-packages-<runtime>.txt
packages=$(cat scripts/apt-packages*.txt | grep -vE '^\s*(#|$)' | sort -u | tr '\n' ' ')
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $packages 2>/dev/null \
  | awk '$NF != "installed" {print $1}'; for p in $packages; do
    dpkg-query -W "$p" >/dev/null 2>&1 || echo "$p"; done)
missing=$(echo "$missing" | sort -u | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "polyhost setup: these Debian packages are missing and need root: $missing" >&2
    exit 1
  fi
  echo "polyhost setup: installing Debian packages: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'
echo "$want" > "$stamp"
echo "polyhost setup: ready (.venv/bin/polyhost)"
