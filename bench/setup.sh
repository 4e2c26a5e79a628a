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
.venv/bin/pip install -e '.[bench]'  # gunicorn, uvicorn[standard] and Granian
# the polyhost console script (.venv/bin/polyhost) comes from the editable install
.venv/bin/pip install -e .
# Mono (bench/mono_hello.py): uWSGI's mono plugin and uwsgi-src (its plugins/mono/uwsgi.cs, the
# plugin's C# half, which the bench builds with mcs), Mono with System.Web, pythonnet for polyhost
DEBIAN_FRONTEND=noninteractive apt-get install -y uwsgi-plugin-mono uwsgi-src mono-runtime \
    mono-devel mono-mcs libmono-system-web4.0-cil
.venv/bin/pip install pythonnet

# PSGI and Rack (bench/psgi_rack_hello.py): uWSGI's psgi and rack plugins, Starman, Puma
DEBIAN_FRONTEND=noninteractive apt-get install -y uwsgi-plugin-psgi uwsgi-plugin-rack-ruby3.1 \
    starman puma libplack-perl ruby-rack

# Lua (bench/lua_hello.py): uWSGI's lua5.1 plugin; polyhost's Lua 5.1 comes with lupa
DEBIAN_FRONTEND=noninteractive apt-get install -y uwsgi-plugin-lua5.1
.venv/bin/pip install lupa

# JWSGI and Ring (bench/jvm_hello.py): uWSGI's jvm, jwsgi and ring plugins for OpenJDK 17 (with
# their uwsgi.jar), the JDK (javac builds the hello class) and Clojure; JPype for polyhost
DEBIAN_FRONTEND=noninteractive apt-get install -y uwsgi-plugin-jvm-openjdk-17 \
    uwsgi-plugin-jwsgi-openjdk-17 uwsgi-plugin-ring-openjdk-17 openjdk-17-jdk-headless clojure
.venv/bin/pip install jpype1

# PHP, static files and CGI (bench/php_hello.py, static_file.py, cgi_hello.py): uWSGI's php
# plugin (its cgi plugin is in uwsgi-core), php-cgi for polyhost, php-fpm behind nginx
DEBIAN_FRONTEND=noninteractive apt-get install -y uwsgi-plugin-php php-cgi php-fpm nginx-light

wrk -v 2>&1 | head -n 1 || true
echo "uWSGI $(uwsgi --version)"
.venv/bin/gunicorn --version
