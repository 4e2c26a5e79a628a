"""Hello-world PHP: polyhost (php-cgi children) vs uWSGI's embedded PHP vs nginx -> php-fpm.

`bench/apps/php/hello.php` (`<?php echo "hello";`), 2 workers (2 php-fpm children) each, the same
wrk runs as bench/wsgi_hello.py (keep-alive on and off). Targets of issue 7: polyhost >= 1.0x
nginx+php-fpm and >= 0.5x uWSGI (uwsgi-plugin-php).
"""

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
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

DOCROOT = REPO / "bench" / "apps" / "php"
PHP_FPM = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
UWSGI_NOTE = (
    "--http-socket in both modes: uWSGI closes every connection (its php plugin sends no "
    "Content-Length, so --http11-socket cannot keep one alive)"
)


def polyhost_with(*options: str) -> Callable[[int, str], list[str]]:
    def command(port: int, mode_name: str) -> list[str]:
        return polyhost_argv(
            port, "--http-socket-modifier1", "14", "--php-docroot", str(DOCROOT), *options
        )

    return command


def uwsgi(port: int, mode_name: str) -> list[str]:
    # the php plugin sends no Content-Length: --http-socket in both modes
    return uwsgi_argv(
        port, mode_name, "php", "--http-socket-modifier1", "14", "--php-docroot", str(DOCROOT),
        "--php-allowed-ext", ".php", keep_alive=False,
    )  # fmt: skip


def nginx_php_fpm(port: int, mode_name: str) -> list[str]:
    """nginx (2 workers) in front of php-fpm (static pool of 2 children) over a unix socket."""
    work = Path(tempfile.mkdtemp(prefix="bench-php-fpm-"))
    fpm_socket = work / "fpm.sock"
    (work / "fpm.conf").write_text(f"""[global]
error_log = {work}/fpm.log
daemonize = no
[bench]
listen = {fpm_socket}
pm = static
pm.max_children = 2
{"user = root" if os.geteuid() == 0 else ""}
""")
    (work / "nginx.conf").write_text(f"""{"user root root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  fastcgi_temp_path {work}/fastcgi;
  proxy_temp_path {work}/proxy;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    root {DOCROOT};
    location ~ \\.php$ {{
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass unix:{fpm_socket};
    }}
  }}
}}
""")
    allow_root = "-R " if os.geteuid() == 0 else ""
    # php-fpm calls setsid(), so the harness's stop of our session misses it: the shell stops it
    return [
        "sh", "-c",
        f"{PHP_FPM} -F {allow_root}-y {work}/fpm.conf & fpm=$!; "
        'trap "kill $fpm" EXIT; trap "exit 0" INT TERM; '
        f"{NGINX} -c {work}/nginx.conf -p {work}",
    ]  # fmt: skip


PHP = Comparison(
    title="Hello-world PHP: polyhost vs uWSGI php plugin vs nginx -> php-fpm (2 workers each)",
    servers=[
        Server(
            "polyhost",
            polyhost_with(),
            version_command=(str(REPO / ".venv/bin/polyhost"), "--version"),
        ),
        # each worker and its php-cgi child on one CPU of their own (issue 18)
        Server("polyhost pinned", polyhost_with("--cpu-affinity", "1")),
        Server("uWSGI", uwsgi, version_command=("uwsgi", "--version"), note=UWSGI_NOTE),
        Server(
            "nginx+php-fpm",
            nginx_php_fpm,
            version_command=(PHP_FPM, "-v"),
            note="php-fpm pm = static, 2 children; nginx 2 workers, fastcgi over a unix socket",
        ),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio(
            "polyhost",
            "nginx+php-fpm",
            Metric.REQUESTS_PER_SECOND,
            in_both_modes(1.0),
        ),
        Ratio("polyhost pinned", "nginx+php-fpm", Metric.REQUESTS_PER_SECOND, in_both_modes(1.0)),
        Ratio(
            "polyhost",
            "uWSGI",
            Metric.REQUESTS_PER_SECOND,
            in_both_modes(0.5),
        ),
    ],
    path="/hello.php",
)

if __name__ == "__main__":
    sys.exit(run_comparison(PHP, sys.argv[1:]))
