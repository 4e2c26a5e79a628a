"""The Emperor with many vassals: polyhost's against real uWSGI 2.0's, side by side.

Each Emperor starts on an empty folder; then N vassal files appear at once (one tiny WSGI app
each, the hello-world of bench/apps, on its own 127.0.0.1 http-socket, a master and one worker).
Measured: seconds from a file's creation to its vassal's first 200 (median and slowest), until
all N answer, then, with every vassal idle, the Emperor's own RSS, PSS and CPU over a few seconds,
polyhost's vassal zygote's RSS and PSS apart (it is in the vassals' columns too), and the RSS, PSS
of all vassals together, their CPU when all N answer (start-up) and while idle (schedstat's ns).
Both Emperors are stopped as a process group, even on errors.
Run `python bench/emperor_vassals.py -h`; the helpers are bench/harness.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import (
    REPO,
    first_output_line,
    free_port,
    http_get,
    live_session_members,
    machine_description,
    progress,
    rss_kib,
    stop_process_group,
)

WSGI_FILE = REPO / "bench" / "apps" / "hello_wsgi.py"
#: in the command line of polyhost's vassal zygote (host/emperor/zygote.py)
ZYGOTE_MARK = b"polyhost.emperor.zygote"


@dataclass(frozen=True)
class Emperor:
    name: str
    argv: list[str]
    #: lines a vassal file adds for this server (uWSGI needs its python3 plugin)
    vassal_extra: str
    stop_signal: signal.Signals
    #: a Python server gets compiled bytecode, as an installed package has (see python_env)
    python: bool = False


EMPERORS = (
    Emperor(
        "polyhost",
        [str(REPO / ".venv/bin/polyhost"), "--emperor"],
        "",
        signal.SIGTERM,
        python=True,
    ),
    Emperor("uWSGI", ["uwsgi", "--emperor"], "plugins = python3\n", signal.SIGINT),
)


@dataclass(frozen=True)
class Result:
    name: str
    single_median_s: float
    burst_median_s: float
    burst_max_s: float
    all_serving_s: float
    emperor_rss_mib: float
    emperor_cpu_percent: float
    #: proportional set size of the Emperor (its share of libpython and libc pages)
    emperor_pss_mib: float
    #: polyhost's vassal zygote (a child of the Emperor, counted in the vassals' columns too)
    zygote_rss_mib: float
    zygote_pss_mib: float
    vassals_rss_mib: float
    #: proportional set size: pages shared copy-on-write (polyhost's zygote) counted once
    vassals_pss_mib: float
    #: CPU seconds all vassal processes (and the zygote) had used when all N answered: their
    #: start-up, which the idle seconds after it do not dilute
    vassals_cpu_s: float
    #: CPU the vassals use while idle (all of them together, % of one CPU over the idle sample)
    vassals_idle_cpu_percent: float


def python_env() -> dict[str, str]:
    """pip compiles an installed package's .pyc files; this checkout is an editable install
    and machines like ours set PYTHONDONTWRITEBYTECODE, so every vassal would compile polyhost
    from source (most of its start-up). Compile it once, in place (__pycache__ is ignored by
    git), and let the Emperor and its vassals use the bytecode."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    sources = [str(REPO / "host"), str(REPO / "bridges")]
    if env.get("PYTHONPATH"):  # another checkout's polyhost package (see --pythonpath)
        sources += env["PYTHONPATH"].split(os.pathsep)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *sources], env=env, check=True, timeout=300
    )
    return env


def vassal_ini(port: int, extra: str) -> str:
    return (
        f"[uwsgi]\n{extra}master = true\nprocesses = 1\nhttp-socket = 127.0.0.1:{port}\n"
        f"wsgi-file = {WSGI_FILE}\ndisable-logging = true\n"
    )


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` in ns precision (/proc/PID/schedstat's time on CPU): utime + stime
    count whole clock ticks, each a sample, and 100 processes of a few ms each summed swing
    by a factor 3 between rounds. Every thread's (a thread's time is gone once it ends)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def answers(port: int) -> bool:
    try:
        return http_get(port, "/", timeout_s=2.0)[0] == 200
    except (http.client.HTTPException, OSError):
        return False


def wait_started(process: subprocess.Popen[bytes], log: Path, name: str) -> None:
    """Until the Emperor logs "*** starting ... Emperor ***" (both servers do), 30 s at most."""
    limit = time.monotonic() + 30
    while b"Emperor ***" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > limit:
            raise RuntimeError(f"{name} Emperor did not start: {log.read_text()[-300:]}")
        time.sleep(0.05)


def first_200_after(port: int, created: float, limit: float) -> float | None:
    """Seconds from `created` to the first 200 on `port` (polled every 50 ms), None at `limit`."""
    while time.monotonic() < limit:
        if answers(port):
            return time.monotonic() - created
        time.sleep(0.05)
    return None


def add_vassals(vassals: Path, count: int, extra: str, deadline_s: float) -> list[float]:
    """Write `count` vassal files at once; each one's seconds to its first 200 (a thread per
    vassal polls, so a slow one never delays the others' clocks)."""
    created: dict[int, float] = {}
    while len(created) < count:
        port = free_port()
        if port in created:  # the kernel may hand out a just-closed port again
            continue
        (vassals / f"v{port}.ini").write_text(vassal_ini(port, extra))
        created[port] = time.monotonic()
    limit = time.monotonic() + deadline_s
    with ThreadPoolExecutor(max_workers=count) as pool:
        times = list(pool.map(lambda p: first_200_after(p, created[p], limit), created))
    answered = [t for t in times if t is not None]
    if len(answered) < count:
        raise RuntimeError(f"only {len(answered)} of {count} vassals answered")
    return answered


def measure(emperor: Emperor, count: int, singles: int, idle_s: float, deadline_s: float) -> Result:
    work = Path(tempfile.mkdtemp(prefix=f"bench-emperor-{emperor.name}-"))
    vassals = work / "vassals"
    vassals.mkdir()
    log = open(work / "emperor.log", "wb")  # noqa: SIM115 - closed below
    env = python_env() if emperor.python else None
    process = subprocess.Popen(
        [*emperor.argv, str(vassals)],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_started(process, work / "emperor.log", emperor.name)
        single = [add_vassals(vassals, 1, emperor.vassal_extra, 60)[0] for _ in range(singles)]
        started = time.monotonic()
        burst = add_vassals(vassals, count - singles, emperor.vassal_extra, deadline_s)
        all_serving = time.monotonic() - started
        family = [p for p in live_session_members(process.pid) if p != process.pid]
        start_cpu = sum(cpu_seconds(p) for p in family)
        time.sleep(2.0)  # let start-up settle before sampling the idle Emperor
        cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
        family_before = sum(cpu_seconds(p) for p in family)
        time.sleep(idle_s)
        cpu = cpu_seconds(process.pid) - cpu_before
        family_idle = sum(cpu_seconds(p) for p in family) - family_before
        wall = time.monotonic() - wall_before
        zygote = [p for p in family if ZYGOTE_MARK in Path(f"/proc/{p}/cmdline").read_bytes()]
        return Result(
            emperor.name,
            statistics.median(single),
            statistics.median(burst),
            max(burst),
            all_serving,
            rss_kib(process.pid) / 1024,
            100 * cpu / wall,
            pss_kib(process.pid) / 1024,
            sum(rss_kib(p) for p in zygote) / 1024,
            sum(pss_kib(p) for p in zygote) / 1024,
            sum(rss_kib(p) for p in family) / 1024,
            sum(pss_kib(p) for p in family) / 1024,
            start_cpu,
            100 * family_idle / wall,
        )
    finally:
        stop_process_group(process, emperor.stop_signal)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def median_result(name: str, results: list[Result]) -> Result:
    """Each field's median over the rounds."""
    fields = [f for f in Result.__dataclass_fields__ if f != "name"]
    medians = {f: statistics.median(getattr(r, f) for r in results) for f in fields}
    return Result(name, **medians)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vassals", type=int, default=50, help="vassal files (default 50)")
    parser.add_argument("--singles", type=int, default=5, help="vassals added one at a time first")
    parser.add_argument("--idle", type=float, default=10.0, help="idle seconds sampled")
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds for all to answer")
    parser.add_argument("--only", action="append", default=[], help="polyhost or uWSGI")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds (medians)")
    parser.add_argument(
        "--pythonpath",
        default="",
        help="a folder holding another checkout's package as `polyhost` (a symlink to its host/,"
        " with bridges/ linked inside): measure that one (e.g. main, for a before/after)",
    )
    args = parser.parse_args(argv)
    if args.pythonpath:
        os.environ["PYTHONPATH"] = args.pythonpath
    print(f"# The Emperor with {args.vassals} vassals\n\n{machine_description()}")
    print(f"polyhost {first_output_line([str(REPO / '.venv/bin/polyhost'), '--version'], REPO)}")
    print(f"uWSGI {first_output_line(['uwsgi', '--version'], REPO)}\n")
    rounds: dict[str, list[Result]] = {}
    for round_no in range(1, args.rounds + 1):
        for emperor in EMPERORS:
            if args.only and emperor.name not in args.only:
                continue
            progress(f"round {round_no}: {emperor.name}: {args.vassals} vassals ...")
            try:
                result = measure(emperor, args.vassals, args.singles, args.idle, args.deadline)
            except RuntimeError as error:
                print(f"- {emperor.name}: not measured in round {round_no} ({error})")
                continue
            rounds.setdefault(emperor.name, []).append(result)
            progress(f"  {result}")
    results = [median_result(name, found) for name, found in rounds.items()]
    if args.rounds > 1:
        print(f"Medians of {args.rounds} alternating rounds.\n")
    print(
        f"| Emperor | one file -> first 200 (median of {args.singles}) | then "
        f"{args.vassals - args.singles} files at once: median | slowest | all serving after "
        "| Emperor RSS | Emperor PSS | zygote RSS | zygote PSS | Emperor CPU idle "
        "| vassals' RSS | vassals' PSS | vassals' CPU at all serving | vassals' CPU idle |"
    )
    print("|---|" + "---:|" * 13)
    for r in results:
        print(
            f"| {r.name} | {r.single_median_s:.2f} s | {r.burst_median_s:.2f} s | "
            f"{r.burst_max_s:.2f} s | {r.all_serving_s:.2f} s | {r.emperor_rss_mib:.1f} MiB | "
            f"{r.emperor_pss_mib:.1f} MiB | {r.zygote_rss_mib:.1f} MiB | "
            f"{r.zygote_pss_mib:.1f} MiB | "
            f"{r.emperor_cpu_percent:.2f} % | {r.vassals_rss_mib:.0f} MiB | "
            f"{r.vassals_pss_mib:.0f} MiB | {r.vassals_cpu_s:.2f} s | "
            f"{r.vassals_idle_cpu_percent:.1f} % |"
        )
    by_name = {r.name: r for r in results}
    if {"polyhost", "uWSGI"} <= by_name.keys():
        ours, theirs = by_name["polyhost"], by_name["uWSGI"]
        print()
        for label, mine, reference, target in (
            ("one file -> first 200", ours.single_median_s, theirs.single_median_s, "<= 1.0"),
            ("all serving after the burst", ours.all_serving_s, theirs.all_serving_s, "-"),
            ("Emperor idle RSS", ours.emperor_rss_mib, theirs.emperor_rss_mib, "<= 1.5"),
            ("Emperor idle PSS", ours.emperor_pss_mib, theirs.emperor_pss_mib, "-"),
            ("vassals' CPU at all serving", ours.vassals_cpu_s, theirs.vassals_cpu_s, "<= 1.0"),
            (
                "vassals' idle CPU",
                ours.vassals_idle_cpu_percent,
                max(theirs.vassals_idle_cpu_percent, 0.01),
                "-",
            ),
        ):
            print(f"- {label}: polyhost / uWSGI = {mine / reference:.2f} (target {target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
