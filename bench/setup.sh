#!/usr/bin/env bash
# Installs the benchmark anchors on Debian 12 (run as root): wrk, real uWSGI 2.0 with the
# python3 plugin, and gunicorn plus polyhost itself in the project venv (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench/setup.sh: run as root (apt-get needs it): sudo bash bench/setup.sh" >&2
    exit 1
fi
if [ ! -x .venv/bin/pip ]; then
    echo "bench/setup.sh: no project venv at $(pwd)/.venv; create it with: python3 -m venv .venv" >&2
    exit 1
fi

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y wrk uwsgi-core uwsgi-plugin-python3
.venv/bin/pip install gunicorn
# the polyhost console script (.venv/bin/polyhost) comes from the editable install
.venv/bin/pip install -e .

wrk -v 2>&1 | head -n 1 || true
echo "uWSGI $(uwsgi --version)"
.venv/bin/gunicorn --version
