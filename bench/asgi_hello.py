"""Hello-world ASGI: polyhost vs uvicorn (httptools + uvloop) vs Granian (--interface asgi).

2 workers each, wrk on loopback with keep-alive on and off; then (bench/asgi_websockets.py) the
WebSocket echo and the memory of idle WebSockets. Run `python bench/asgi_hello.py -h`; the
machinery is in bench/harness.py; uvicorn and Granian come with `pip install -e .[bench]`.
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
    polyhost_argv,
    run_comparison,
)

APPS = REPO / "bench" / "apps"
BIN = REPO / ".venv" / "bin"


def polyhost_command(port: int, mode_name: str) -> list[str]:
    return polyhost_argv(port, "--asgi-file", str(APPS / "hello_asgi.py"))


def uvicorn_command(port: int, mode_name: str) -> list[str]:
    return [
        str(BIN / "uvicorn"), "hello_asgi:app", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "2", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip


def granian_command(port: int, mode_name: str) -> list[str]:
    return [
        str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "2", "--no-access-log", "--log-level", "warning", "hello_asgi:app",
    ]  # fmt: skip


SERVERS = [
    Server(
        name="polyhost",
        command=polyhost_command,
        version_command=(str(BIN / "polyhost"), "--version"),
    ),
    Server(
        name="uvicorn",
        command=uvicorn_command,
        cwd=APPS,
        version_command=(str(BIN / "uvicorn"), "--version"),
    ),
    Server(
        name="Granian",
        command=granian_command,
        cwd=APPS,
        version_command=(str(BIN / "granian"), "--version"),
    ),
]

COMPARISON = Comparison(
    title="Hello-world ASGI: polyhost vs uvicorn vs Granian (2 workers each)",
    servers=SERVERS,
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost", "uvicorn", Metric.REQUESTS_PER_SECOND, {KEEP_ALIVE.name: 1.0}),
        Ratio("polyhost", "Granian", Metric.REQUESTS_PER_SECOND, {KEEP_ALIVE.name: 0.7}),
        Ratio("polyhost", "uvicorn", Metric.P99_LATENCY),
    ],
)

if __name__ == "__main__":
    sys.exit(run_comparison(COMPARISON))
