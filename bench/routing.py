"""Internal routing (issue 16): polyhost vs real uWSGI 2.0 on the same rules.

1. Hello-world WSGI with no rules and with 20 non-matching `route` rules (target: 20 rules cost
   at most 10%, ratio >= 0.9, and no worse than uWSGI's own ratio).
2. A page with some work, served by the app and from the response cache (`cache:` +
   `cachestore:` on a `cache2`; target: a hit >= 1.5x the app, and no worse than uWSGI's ratio).

    .venv/bin/python bench/routing.py [--duration S] [--mode keep-alive] [--only NAME]
    .venv/bin/python bench/routing.py --against DIR [--rounds N]   (another revision's hit)

Needs wrk and uwsgi with its python3 and router_cache plugins (bench/setup.sh).
"""

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from asgi_cpu import session_cpu_seconds
from harness import (
    KEEP_ALIVE,
    NO_KEEP_ALIVE,
    REPO,
    Comparison,
    LoadOptions,
    Metric,
    Ratio,
    Server,
    free_port,
    in_both_modes,
    polyhost_argv,
    run_comparison,
    run_wrk,
    stop_process_group,
    uwsgi_argv,
    wait_until_serving,
)

HELLO = "bench/apps/hello_wsgi.py"
PAGE = "bench/apps/routing_page.py"
#: 20 rules on PATH_INFO that never match "/"
NO_MATCH = [arg for n in range(20) for arg in ("--route", f"^/nomatch{n}/(.*)$ break:404")]
CACHED = [
    "--cache2", "name=pages,items=100",
    "--route", "^/ cache:key=${REQUEST_URI},name=pages",
    "--route", "^/ cachestore:key=${REQUEST_URI},name=pages",
]  # fmt: skip


def _poly(*options: str) -> Callable[[int, str], list[str]]:
    return lambda port, mode: polyhost_argv(port, *options)


def _uwsgi(plugins: str, *options: str) -> Callable[[int, str], list[str]]:
    return lambda port, mode: uwsgi_argv(port, mode, plugins, *options)


def _pair(name: str, options: list[str], app: str) -> list[Server]:
    return [
        Server(f"polyhost{name}", _poly("--wsgi-file", app, *options)),
        Server(f"uWSGI{name}", _uwsgi("python3,router_cache", "--wsgi-file", app, *options)),
    ]


RULES = Comparison(
    title="Routing: hello world with 0 and with 20 non-matching route rules",
    servers=[*_pair("", [], HELLO), *_pair(" 20 rules", NO_MATCH, HELLO)],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost 20 rules", "polyhost", Metric.REQUESTS_PER_SECOND, in_both_modes(0.9)),
        Ratio("uWSGI 20 rules", "uWSGI", Metric.REQUESTS_PER_SECOND),
    ],
)
CACHE = Comparison(
    title="Routing: a page from the app and from the response cache (cache/cachestore)",
    servers=[*_pair(" app", [], PAGE), *_pair(" cached", CACHED, PAGE)],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost cached", "polyhost app", Metric.REQUESTS_PER_SECOND, in_both_modes(1.5)),
        Ratio("uWSGI cached", "uWSGI app", Metric.REQUESTS_PER_SECOND),
    ],
)


def _load_in_turn(
    servers: list[Server], rounds: int, duration_s: int, cpu: list[list[float]] | None = None
) -> list[list[float]]:
    """All `servers` running at once, loaded in turn (wrk, keep-alive), `rounds` times: on a
    shared machine a slow moment then hurts them alike. Their req/s, round by round (and into
    `cpu` the CPU µs their processes spent per request, which moves less with the load)."""
    options = LoadOptions(duration_s=duration_s, warmup_s=1, connections=50, threads=2)
    ports = [free_port() for _ in servers]
    processes: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        for server, port in zip(servers, ports, strict=True):
            log = stack.enter_context(tempfile.TemporaryFile())
            process = subprocess.Popen(
                server.command(port, KEEP_ALIVE.name), cwd=server.cwd, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            stack.callback(stop_process_group, process, server.stop_signal)
            wait_until_serving(process, port, "/", server.start_timeout_s, log)
            processes.append(process)
        rates: list[list[float]] = [[] for _ in servers]
        if cpu is not None:
            cpu[:] = [[] for _ in servers]
        for _ in range(rounds):
            for index, port in enumerate(ports):
                url = f"http://127.0.0.1:{port}/"
                before = session_cpu_seconds(processes[index].pid)
                result, _ = run_wrk(options.wrk_argv(duration_s, KEEP_ALIVE, url), duration_s, port)
                spent = session_cpu_seconds(processes[index].pid) - before
                rates[index].append(result.requests_per_second)
                if cpu is not None and result.requests_per_second:
                    cpu[index].append(spent / (result.requests_per_second * duration_s) * 1e6)
    return rates


def _series(servers: list[Server], rates: list[list[float]]) -> list[str]:
    return [
        f"- {server.name}: " + " / ".join(f"{r:,.0f}" for r in series) + " req/s"
        for server, series in zip(servers, rates, strict=True)
    ]


def _median_ratio(numerators: list[float], denominators: list[float]) -> float:
    return statistics.median(b / a for a, b in zip(denominators, numerators, strict=True) if a)


def interleaved(
    pair: list[Server], target: float | None, rounds: int = 5, duration_s: int = 3
) -> str:
    """The median of the per-round ratios pair[1] / pair[0], loaded in turn."""
    rates = _load_in_turn(pair, rounds, duration_s)
    goal = f" (target ≥ {target})" if target is not None else ""
    return "\n".join(
        [
            "",
            f"## Interleaved: {pair[1].name} / {pair[0].name} (keep-alive, {rounds} rounds)",
            "",
            *_series(pair, rates),
            f"- median ratio: {_median_ratio(rates[1], rates[0]):.2f}{goal}",
        ]
    )


def against(base: str, rounds: int = 5, duration_s: int = 3) -> str:
    """This checkout's polyhost and another revision's (`base`: a directory holding its
    `polyhost` package, e.g. `git archive main host` unpacked, host/ linked as base/polyhost),
    app and cache hit, all four loaded in turn: what a change did to the hit, on the same load."""

    def other(*options: str) -> Callable[[int, str], list[str]]:
        return lambda port, mode: ["env", f"PYTHONPATH={base}", *polyhost_argv(port, *options)]

    servers = [
        Server("base app", other("--wsgi-file", PAGE)),
        Server("base cached", other("--wsgi-file", PAGE, *CACHED)),
        Server("this app", _poly("--wsgi-file", PAGE)),
        Server("this cached", _poly("--wsgi-file", PAGE, *CACHED)),
    ]
    cpu: list[list[float]] = []
    rates = _load_in_turn(servers, rounds, duration_s, cpu)
    return "\n".join(
        [
            "",
            f"## This checkout against {base} (keep-alive, {rounds} rounds, loaded in turn)",
            "",
            *_series(servers, rates),
            *(
                f"- {server.name}: median {statistics.median(spent):.1f} CPU µs per request"
                for server, spent in zip(servers, cpu, strict=True)
            ),
            f"- base hit/app: {_median_ratio(rates[1], rates[0]):.2f}",
            f"- this hit/app: {_median_ratio(rates[3], rates[2]):.2f}",
            f"- this hit / base hit: {_median_ratio(rates[3], rates[1]):.2f}",
        ]
    )


def engine_cost(requests: int = 100_000) -> str:
    """What the rules cost a worker per request, without the noise of a shared machine: the
    request chain run in-process on a hello-world request, with 0 and with 20 rules."""
    sys.path.insert(0, str(REPO))
    from polyhost.request import BytesBody, Request
    from polyhost.routing.rules import build_table
    from polyhost.routing.serve import ALL_ACTIONS, ALL_CONDITIONS, Routing
    from polyhost.static import StaticFiles

    lines = ["", "## In-process cost of the request chain (Routing.begin, one core)", ""]
    for count in (1, 20):
        rules = [("route", NO_MATCH[2 * n + 1], "bench") for n in range(count)]
        routing = Routing(build_table(rules, ALL_ACTIONS, ALL_CONDITIONS), 1, 4.0, StaticFiles([]))
        request = Request({"PATH_INFO": "/", "REQUEST_URI": "/"}, BytesBody())
        start = time.perf_counter()
        for _ in range(requests):
            routing.begin(request, None, None)  # type: ignore[arg-type]
        micros = (time.perf_counter() - start) / requests * 1e6
        lines.append(f"- {count} non-matching rule(s): {micros:.2f} µs per request")
    return "\n".join(lines)


if __name__ == "__main__":
    if "--against" in sys.argv:  # --against DIR [--rounds N]: only this comparison
        at = sys.argv.index("--against")
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
        print(against(sys.argv[at + 1], rounds))
        sys.exit(0)
    status = run_comparison(RULES) or run_comparison(CACHE)
    for comparison, target in ((RULES, 0.9), (CACHE, 1.5)):
        poly_0, uwsgi_0, poly_1, uwsgi_1 = comparison.servers
        print(interleaved([poly_0, poly_1], target))
        print(interleaved([uwsgi_0, uwsgi_1], None))
    print(engine_cost())
    sys.exit(status)
