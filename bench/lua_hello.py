"""Hello-world Lua/WSAPI: polyhost's Lua runtime (lupa, Lua 5.1) vs real uWSGI 2.0's lua5.1 plugin.

`tests/apps/lua/hello.lua` (a WSAPI function answering the 11-byte `Hello World` from a
coroutine) served by polyhost (`--lua`) and uWSGI (`uwsgi-plugin-lua5.1`), 2 workers each, on an
http-socket with modifier1 6. uWSGI's lua plugin runs a full Lua GC after every request by default
(`lua-gc-freq 0`); polyhost leaves collection to Lua's incremental GC. After the wrk runs, each
server is started once more to time its first answer (worker spawn, Lua state, app load).
Run `python bench/lua_hello.py -h`.
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
    print_first_answers,
    run_comparison,
    uwsgi_argv,
)

APP = "tests/apps/lua/hello.lua"


def uwsgi_command(port: int, mode_name: str) -> list[str]:
    return uwsgi_argv(port, mode_name, "lua51", "--http-socket-modifier1", "6", "--lua", APP)


def polyhost_command(port: int, mode_name: str) -> list[str]:
    return polyhost_argv(port, "--http-socket-modifier1", "6", "--lua", APP)


COMPARISON = Comparison(
    title="Hello-world Lua/WSAPI: polyhost vs uWSGI's lua5.1 plugin (2 workers each)",
    servers=[
        Server(
            name="polyhost",
            command=polyhost_command,
            version_command=(str(REPO / ".venv/bin/polyhost"), "--version"),
            note="Lua 5.1 from lupa's wheel (lupa.lua51), one Lua state per worker thread",
        ),
        Server(
            name="uWSGI",
            command=uwsgi_command,
            version_command=("uwsgi", "--version"),
            note=(
                "uwsgi-plugin-lua5.1; its default lua-gc-freq 0 runs a full Lua GC after every "
                "request. Keep-alive mode uses --http11-socket (see bench/README.md: a sync "
                "worker keeps its client's connection, so only 2 of wrk's connections are served)"
            ),
        ),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost", "uWSGI", Metric.REQUESTS_PER_SECOND, {KEEP_ALIVE.name: 0.6}),
        Ratio("polyhost", "uWSGI", Metric.P99_LATENCY),
    ],
)


if __name__ == "__main__":
    code = run_comparison(COMPARISON)
    print_first_answers(COMPARISON, "start-up (spawn to the first 200)")
    sys.exit(code)
