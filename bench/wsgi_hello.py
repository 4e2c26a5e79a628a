"""Hello-world WSGI: polyhost vs real uWSGI 2.0 (Debian python3 plugin) vs gunicorn (sync) vs
Granian (`--interface wsgi`, from PyPI: `pip install -e .[bench]`).

2 workers each, wrk on loopback with keep-alive on and off. Run `python bench/wsgi_hello.py -h`;
the machinery is in bench/harness.py.
"""

import sys

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

APPS = REPO / "bench" / "apps"
WSGI_FILE = "bench/apps/hello_wsgi.py"


def uwsgi_command(port: int, mode_name: str) -> list[str]:
    return uwsgi_argv(port, mode_name, "python3", "--wsgi-file", WSGI_FILE)


def polyhost_command(port: int, mode_name: str) -> list[str]:
    return polyhost_argv(port, "--wsgi-file", WSGI_FILE)


def gunicorn_command(port: int, mode_name: str) -> list[str]:
    # No access log is gunicorn's default; `--access-logfile None` would log to a file named None.
    return [
        str(REPO / ".venv/bin/gunicorn"),
        "-w", "2", "-k", "sync",
        "-b", f"127.0.0.1:{port}",
        "hello_wsgi:application",
    ]  # fmt: skip


def granian_command(port: int, mode_name: str) -> list[str]:
    return [
        str(REPO / ".venv/bin/granian"), "--interface", "wsgi", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "2", "--no-access-log", "--log-level", "warning",
        "hello_wsgi:application",
    ]  # fmt: skip


COMPARISON = Comparison(
    title="Hello-world WSGI: polyhost vs uWSGI vs gunicorn vs Granian (2 workers each)",
    servers=[
        Server(
            name="polyhost",
            command=polyhost_command,
            version_command=(str(REPO / ".venv/bin/polyhost"), "--version"),
        ),
        Server(
            name="uWSGI",
            command=uwsgi_command,
            version_command=("uwsgi", "--version"),
            note=(
                "keep-alive mode uses --http11-socket: uWSGI 2.0.21's --http-socket closes every "
                "connection, and --http-keepalive belongs to the http router plugin (not in "
                "uwsgi-core: 'unrecognized option'). A sync worker then keeps its client's "
                "connection until the client closes it, so with 2 workers only 2 of wrk's "
                "connections are served and the rest wait in the accept queue unserved "
                "(wrk does not count them as timeouts)."
            ),
        ),
        Server(
            name="gunicorn",
            command=gunicorn_command,
            cwd=APPS,
            version_command=(str(REPO / ".venv/bin/gunicorn"), "--version"),
            note="the sync worker does not do keep-alive: it answers Connection: close",
        ),
        Server(
            name="Granian",
            command=granian_command,
            cwd=APPS,
            version_command=(str(REPO / ".venv/bin/granian"), "--version"),
        ),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost", "gunicorn", Metric.REQUESTS_PER_SECOND, {KEEP_ALIVE.name: 1.5}),
        Ratio("polyhost", "uWSGI", Metric.REQUESTS_PER_SECOND, {KEEP_ALIVE.name: 0.6}),
        Ratio(
            "polyhost",
            "Granian",
            Metric.REQUESTS_PER_SECOND,
            {KEEP_ALIVE.name: 0.7, NO_KEEP_ALIVE.name: 1.0},
        ),
        Ratio(
            "polyhost",
            "uWSGI",
            Metric.P99_LATENCY,
            in_both_modes(2.0),
        ),
    ],
)

if __name__ == "__main__":
    sys.exit(run_comparison(COMPARISON))
