"""The fastrouter: polyhost's (asyncio) vs real uWSGI 2.0's (C), between the same nginx and backend.

wrk -> nginx (`uwsgi_pass`) -> the fastrouter under test (`--fastrouter-to` the backend) ->
one backend, real uWSGI with 2 workers serving the hello-world WSGI app. Only the router
differs, so the ratio is the router's cost. Run `python bench/fastrouter_hello.py -h`; the
machinery is in bench/harness.py.
"""

import shlex
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
    free_port,
    in_both_modes,
    run_comparison,
)

WSGI_FILE = str(REPO / "bench" / "apps" / "hello_wsgi.py")
NGINX_CONF = """
daemon off; worker_processes 1; pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  include /etc/nginx/uwsgi_params;
  server {{ listen 127.0.0.1:{port}; location / {{ uwsgi_pass 127.0.0.1:{router}; }} }}
}}
"""


def stack(port: int, router_argv: list[str], router_port: int, backend_port: int) -> list[str]:
    """One shell (one session, stopped as a group) running backend, router and nginx."""
    work = Path(tempfile.mkdtemp(prefix="bench-fastrouter-"))
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=work, port=port, router=router_port))
    backend = [
        "uwsgi", "--plugins", "python3", "--socket", f"127.0.0.1:{backend_port}", "--master",
        "--processes", "2", "--wsgi-file", WSGI_FILE, "--disable-logging",
    ]  # fmt: skip
    script = (
        f"{shlex.join(backend)} & {shlex.join(router_argv)} & "
        f"exec nginx -c {shlex.quote(str(conf))} -p {shlex.quote(str(work))}"
    )
    return ["bash", "-c", f"trap 'kill 0' INT TERM; {script}"]


def polyhost_command(port: int, mode_name: str) -> list[str]:
    router, backend = free_port(), free_port()
    argv = [
        str(REPO / ".venv/bin/polyhost"), "--fastrouter", f"127.0.0.1:{router}",
        "--fastrouter-to", f"127.0.0.1:{backend}", "--disable-logging",
    ]  # fmt: skip
    return stack(port, argv, router, backend)


def uwsgi_command(port: int, mode_name: str) -> list[str]:
    router, backend = free_port(), free_port()
    argv = [
        "uwsgi", "--plugins", "fastrouter", "--fastrouter", f"127.0.0.1:{router}",
        "--fastrouter-to", f"127.0.0.1:{backend}", "--master",
    ]  # fmt: skip
    return stack(port, argv, router, backend)


COMPARISON = Comparison(
    title="Fastrouter: polyhost vs uWSGI 2.0 (same nginx in front, same uWSGI backend)",
    servers=[
        Server(
            name="polyhost",
            command=polyhost_command,
            version_command=(str(REPO / ".venv/bin/polyhost"), "--version"),
            note="RSS columns include nginx and the backend (the same for both)",
        ),
        Server(name="uWSGI", command=uwsgi_command, version_command=("uwsgi", "--version")),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost", "uWSGI", Metric.REQUESTS_PER_SECOND, in_both_modes(1.0)),
        Ratio("polyhost", "uWSGI", Metric.P99_LATENCY, in_both_modes(1.0)),
    ],
)

if __name__ == "__main__":
    sys.exit(run_comparison(COMPARISON))
