"""A 1 MiB static file: polyhost's file server vs uWSGI's check-static vs nginx serving it.

The file is written to a temporary directory at start (random bytes, so nothing compresses);
2 workers each, the same wrk runs as bench/wsgi_hello.py (keep-alive on and off). polyhost and
uWSGI also load the hello-world WSGI app, which the file request never reaches. Target of
issue 7: polyhost >= 0.5x nginx.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from harness import (
    KEEP_ALIVE,
    NO_KEEP_ALIVE,
    REPO,
    Comparison,
    Metric,
    Ratio,
    Server,
    in_both_modes,
    polyhost_argv,
    run_comparison,
    uwsgi_argv,
)

WSGI_FILE = "bench/apps/hello_wsgi.py"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FILES = Path(tempfile.mkdtemp(prefix="bench-static-"))
(FILES / "1mb.bin").write_bytes(os.urandom(1024 * 1024))


def polyhost(port: int, mode_name: str) -> list[str]:
    return polyhost_argv(port, "--wsgi-file", WSGI_FILE, "--check-static", str(FILES))


def uwsgi(port: int, mode_name: str) -> list[str]:
    return uwsgi_argv(
        port, mode_name, "python3", "--wsgi-file", WSGI_FILE, "--check-static", str(FILES)
    )


def nginx(port: int, mode_name: str) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    (work / "nginx.conf").write_text(f"""{"user root root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server {{ listen 127.0.0.1:{port}; root {FILES}; }}
}}
""")
    return [NGINX, "-c", f"{work}/nginx.conf", "-p", str(work)]


STATIC = Comparison(
    title="1 MiB static file: polyhost vs uWSGI check-static vs nginx (2 workers each)",
    servers=[
        Server(
            "polyhost", polyhost, version_command=(str(REPO / ".venv/bin/polyhost"), "--version")
        ),
        Server(
            "uWSGI",
            uwsgi,
            version_command=("uwsgi", "--version"),
            note="keep-alive mode uses --http11-socket",
        ),
        Server("nginx", nginx, version_command=(NGINX, "-v")),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio(
            "polyhost",
            "nginx",
            Metric.REQUESTS_PER_SECOND,
            in_both_modes(0.5),
        ),
        Ratio("polyhost", "uWSGI", Metric.REQUESTS_PER_SECOND, {}),
    ],
    path="/1mb.bin",
)

if __name__ == "__main__":
    try:
        code = run_comparison(STATIC, sys.argv[1:])
    finally:
        shutil.rmtree(FILES, ignore_errors=True)
    sys.exit(code)
