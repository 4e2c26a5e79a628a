"""Hello-world ASP.NET on Mono: polyhost's Mono runtime vs real uWSGI 2.0 with its mono plugin.

`bench/apps/mono_hello/hello.ashx` (an IHttpHandler answering the 11-byte `Hello World`) served by
polyhost (`--mono-app`, pythonnet) and by uWSGI (`uwsgi-plugin-mono`), 2 workers each; polyhost's
`--mono-handler` form (a plain .NET method, no ASP.NET) runs too. uWSGI's plugin forces a full
Mono GC after every request by default (`mono-gc-freq 1`); a second uWSGI row uses 1000. After
the wrk runs, each server is started once more to time how long its first answer takes (CLR start
plus ASP.NET's first compile of the handler). Run `python bench/mono_hello.py -h`.
"""

import os
import subprocess
import sys
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
    print_first_answers,
    run_comparison,
    uwsgi_argv,
)

APP = "bench/apps/mono_hello"
PATH = "/hello.ashx"
#: uWSGI's C# half (uwsgi.dll) is not in Debian's plugin package: built from uwsgi-src's source
UWSGI_CS = Path("/usr/src/uwsgi/plugins/mono/uwsgi.cs")
BUILD = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "polyhost" / "bench"
HANDLER_CS = REPO / "bench" / "apps" / "mono_hello_handler.cs"


def mcs(out: Path, source: Path, *references: str) -> Path:
    """Compile `source` into `out` once (and again when the source is newer)."""
    if not out.exists() or out.stat().st_mtime < source.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        refs = [f"-r:{ref}" for ref in references]
        subprocess.run(
            ["mcs", "-target:library", "-optimize+", "-nologo", f"-out:{out}", *refs, str(source)],
            check=True,
        )
    return out


def uwsgi_dll() -> Path:
    return mcs(BUILD / "uwsgi-mono" / "uwsgi.dll", UWSGI_CS, "System.Web.dll")


def uwsgi_command(gc_freq: int | None):
    def command(port: int, mode_name: str) -> list[str]:
        dll = uwsgi_dll()
        gc = ["--mono-gc-freq", str(gc_freq)] if gc_freq else []
        return uwsgi_argv(
            port, mode_name, "mono", "--http-socket-modifier1", "15", "--mono-app", APP,
            "--mono-assembly", str(dll), "--env", f"MONO_PATH={dll.parent}", *gc,
        )  # fmt: skip

    return command


def polyhost_command(port: int, mode_name: str) -> list[str]:
    return polyhost_argv(port, "--http-socket-modifier1", "15", "--mono-app", APP)


def polyhost_handler_command(port: int, mode_name: str) -> list[str]:
    handler = mcs(BUILD / "mono-hello-handler" / "hello-handler.dll", HANDLER_CS)
    return polyhost_argv(port, "--mono-handler", f"{handler}:Bench.Hello")


UWSGI_NOTE = (
    "uwsgi.dll (the plugin's C# half, not shipped by uwsgi-plugin-mono) is built with mcs from "
    "uwsgi-src's plugins/mono/uwsgi.cs; keep-alive mode uses --http11-socket (see "
    "bench/README.md: a sync worker keeps its client's connection, so only 2 of wrk's "
    "connections are served)"
)
COMPARISON = Comparison(
    title="Hello-world ASP.NET on Mono: polyhost vs uWSGI's mono plugin (2 workers each)",
    servers=[
        Server(
            name="polyhost",
            command=polyhost_command,
            version_command=(str(REPO / ".venv/bin/polyhost"), "--version"),
            start_timeout_s=60,
        ),
        Server(
            name="polyhost mono-handler",
            command=polyhost_handler_command,
            start_timeout_s=60,
            note="the same answer from a plain .NET method (--mono-handler), without ASP.NET",
        ),
        Server(
            name="uWSGI",
            command=uwsgi_command(None),
            version_command=("uwsgi", "--version"),
            start_timeout_s=60,
            note=UWSGI_NOTE + "; its default mono-gc-freq 1 runs a full GC after every request",
        ),
        Server(
            name="uWSGI gc-freq 1000",
            command=uwsgi_command(1000),
            start_timeout_s=60,
            note="uWSGI with --mono-gc-freq 1000 (a GC every 1000 requests)",
        ),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio(
            "polyhost", "uWSGI", Metric.REQUESTS_PER_SECOND,
            in_both_modes(1.0),
        ),
        Ratio("polyhost", "uWSGI gc-freq 1000", Metric.REQUESTS_PER_SECOND),
        Ratio("polyhost", "uWSGI", Metric.P99_LATENCY),
    ],
    path=PATH,
)  # fmt: skip


if __name__ == "__main__":
    code = run_comparison(COMPARISON)
    print_first_answers(
        COMPARISON,
        f"worker start-up (spawn to the first 200 on {PATH})",
        path=PATH,
        startup=("CLR start", " CLR started in ", " seconds"),
    )
    sys.exit(code)
