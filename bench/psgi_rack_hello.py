"""Hello world PSGI and Rack: polyhost vs real uWSGI (psgi / rack plugins), Starman and Puma.

2 workers each, the same wrk runs as bench/wsgi_hello.py (keep-alive on and off). Targets of
issue 4: PSGI >= 0.5x uWSGI and >= 1.0x Starman; Rack >= 1.0x Puma. `--lang psgi|rack` runs one.
"""

import signal
import sys
from collections.abc import Callable

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

PSGI_APP = "bench/apps/hello.psgi"
RACK_APP = "bench/apps/hello.ru"


def polyhost(app: str, *options: str) -> Callable[[int, str], list[str]]:
    def command(port: int, mode_name: str) -> list[str]:
        return polyhost_argv(port, "--mount", f"/={app}", *options)

    return command


def uwsgi(plugin: str, option: str, app: str, modifier1: int) -> Callable[[int, str], list[str]]:
    def command(port: int, mode_name: str) -> list[str]:
        return uwsgi_argv(
            port, mode_name, plugin, "--http-socket-modifier1", str(modifier1), f"--{option}", app
        )

    return command


def starman(port: int, mode_name: str) -> list[str]:
    return ["starman", "--workers", "2", "--listen", f"127.0.0.1:{port}", PSGI_APP]


def puma(port: int, mode_name: str) -> list[str]:
    # 2 workers (processes), 1 thread each: the same shape as the others
    return ["puma", "-w", "2", "-t", "1:1", "-b", f"tcp://127.0.0.1:{port}", "-q", RACK_APP]


UWSGI_NOTE = (
    "keep-alive mode uses --http11-socket (uWSGI 2.0's --http-socket closes every "
    "connection); a sync worker then serves only the 2 connections it holds"
)

PSGI = Comparison(
    title="Hello-world PSGI: polyhost vs uWSGI psgi plugin vs Starman (2 workers each)",
    servers=[
        Server(
            "polyhost",
            polyhost(PSGI_APP),
            version_command=(str(REPO / ".venv/bin/polyhost"), "--version"),
        ),
        # each worker and its child on one CPU of their own (issue 18): one core per round trip
        Server("polyhost pinned", polyhost(PSGI_APP, "--cpu-affinity", "1")),
        Server(
            "uWSGI",
            uwsgi("psgi", "psgi", PSGI_APP, 5),
            version_command=("uwsgi", "--version"),
            note=UWSGI_NOTE,
        ),
        Server(
            "Starman", starman, version_command=("starman", "--version"), stop_signal=signal.SIGTERM
        ),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost", "uWSGI", Metric.REQUESTS_PER_SECOND, {KEEP_ALIVE.name: 0.5}),
        Ratio("polyhost", "Starman", Metric.REQUESTS_PER_SECOND, in_both_modes(1.0)),
        Ratio("polyhost pinned", "Starman", Metric.REQUESTS_PER_SECOND, in_both_modes(1.0)),
    ],
)

RACK = Comparison(
    title="Hello-world Rack: polyhost vs uWSGI rack plugin vs Puma (2 workers each)",
    servers=[
        Server(
            "polyhost",
            polyhost(RACK_APP),
            version_command=(str(REPO / ".venv/bin/polyhost"), "--version"),
        ),
        # each worker and its child on one CPU of their own (issue 18): one core per round trip
        Server("polyhost pinned", polyhost(RACK_APP, "--cpu-affinity", "1")),
        Server(
            "uWSGI",
            uwsgi("rack_ruby31", "rack", RACK_APP, 7),
            version_command=("uwsgi", "--version"),
            note=UWSGI_NOTE,
        ),
        Server("Puma", puma, version_command=("puma", "--version")),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost", "Puma", Metric.REQUESTS_PER_SECOND, in_both_modes(1.0)),
        Ratio("polyhost pinned", "Puma", Metric.REQUESTS_PER_SECOND, in_both_modes(1.0)),
        Ratio("polyhost", "uWSGI", Metric.REQUESTS_PER_SECOND, {}),
    ],
)

if __name__ == "__main__":
    args = sys.argv[1:]
    langs = ["psgi", "rack"]
    if "--lang" in args:
        index = args.index("--lang")
        langs = [args[index + 1]]
        del args[index : index + 2]
    code = 0
    for lang in langs:
        code |= run_comparison(PSGI if lang == "psgi" else RACK, args)
    sys.exit(code)
