"""Benchmark machinery shared by the comparison scripts in bench/.

A comparison script (bench/wsgi_hello.py, ...) describes its servers, its load modes and its
target ratios as a `Comparison` and calls `run_comparison`. For every mode and server this module
starts the server in its own session, waits (with a deadline) until it answers 200 on loopback,
probes whether it keeps connections alive, warms it up and loads it with `wrk --latency`, reads the
RSS of its processes from /proc, and stops the whole process group by its PID, even on errors.
It prints the machine, the versions, the exact commands, one markdown table per mode and the
ratios against their targets. A server that does not start is reported and skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import http.client
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
SETUP_HINT = "install the anchors with `sudo bash bench/setup.sh`"


@dataclass(frozen=True)
class LoadMode:
    """One way of loading the servers, e.g. keep-alive on or off."""

    name: str
    wrk_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Server:
    """A server under test. `command(port, mode_name)` gives the argv to start it."""

    name: str
    command: Callable[[int, str], list[str]]
    cwd: Path = REPO
    version_command: tuple[str, ...] = ()
    stop_signal: signal.Signals = signal.SIGINT
    start_timeout_s: float = 30.0
    note: str = ""


class Metric(enum.Enum):
    """A measured quantity that ratios compare; `higher_is_better` decides the target's sense."""

    REQUESTS_PER_SECOND = "req/s"
    P99_LATENCY = "p99"

    @property
    def higher_is_better(self) -> bool:
        return self is Metric.REQUESTS_PER_SECOND


@dataclass(frozen=True)
class Ratio:
    """numerator/denominator of a metric; `targets` maps a mode name to the bound to reach."""

    numerator: str
    denominator: str
    metric: Metric
    targets: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    title: str
    servers: Sequence[Server]
    modes: Sequence[LoadMode]
    ratios: Sequence[Ratio]
    path: str = "/"


@dataclass(frozen=True)
class LoadOptions:
    duration_s: int
    warmup_s: int
    connections: int
    threads: int

    def wrk_argv(self, duration_s: int, mode: LoadMode, url: str) -> list[str]:
        return [
            "wrk",
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{duration_s}s",
            "--latency",
            *mode.wrk_args,
            url,
        ]


@dataclass(frozen=True)
class Measurement:
    server: str
    requests_per_second: float
    p99_ms: float
    workers_rss_mib: float
    worker_count: int
    master_rss_mib: float
    keeps_alive: bool
    accept_queue_median: float
    errors: str

    def value(self, metric: Metric) -> float:
        if metric is Metric.REQUESTS_PER_SECOND:
            return self.requests_per_second
        return self.p99_ms


@dataclass(frozen=True)
class Unmeasured:
    server: str
    reason: str


class ServerProblem(Exception):
    """The server did not start, or failed under load; the message says which and why."""


class WrkProblem(Exception):
    """wrk failed or printed something this module cannot parse."""


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p99_ms: float
    errors: str


# ---------------------------------------------------------------- /proc readers


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    session: int
    state: str


def list_processes() -> Iterator[ProcessInfo]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # pid (comm) state ppid pgrp session ... ; comm may contain spaces and parentheses
        fields_after_comm = stat.rpartition(")")[2].split()
        yield ProcessInfo(int(entry.name), int(fields_after_comm[3]), fields_after_comm[0])


def live_session_members(session: int) -> list[int]:
    return sorted(p.pid for p in list_processes() if p.session == session and p.state != "Z")


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` in KiB, 0 if it exited meanwhile."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the processes (seconds); one that exited meanwhile counts 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def listen_backlog(port: int) -> int:
    """Connections waiting in the accept queue of the LISTEN socket on 127.0.0.1:port."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        columns = line.split()
        if columns[1] == wanted and columns[3] == "0A":  # 0A = LISTEN
            return int(columns[4].split(":")[1], 16)
    return 0


def machine_description() -> str:
    cpu_model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    nproc = len(os.sched_getaffinity(0))
    return f"nproc {nproc}, {cpu_model}, Linux {platform.release()}"


# ---------------------------------------------------------------- small helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def first_output_line(argv: Sequence[str], cwd: Path, any_exit_code: bool = False) -> str:
    """First non-empty line a `--version`-like command prints, or why it could not run.

    `any_exit_code` is for commands such as `wrk -v` that print their version and exit 1.
    """
    try:
        completed = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unavailable ({error})"
    lines = [line.strip() for line in (completed.stdout + completed.stderr).splitlines()]
    lines = [line for line in lines if line]
    if completed.returncode != 0 and not any_exit_code:
        last_line = lines[-1] if lines else "no output"
        return f"unavailable (`{shlex.join(argv)}` exit code {completed.returncode}: {last_line})"
    return lines[0] if lines else "no output"


def log_tail(log: IO[bytes], lines: int) -> list[str]:
    log.flush()
    log.seek(0)
    text = log.read().decode(errors="replace")
    return [line for line in text.splitlines() if line.strip()][-lines:]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def display_command(argv: Sequence[str], cwd: Path) -> str:
    command = shlex.join(argv)
    if cwd == REPO:
        return command
    return f"cd {shlex.quote(os.path.relpath(cwd, REPO))} && {command}"


# ---------------------------------------------------------------- server lifecycle


def http_get(port: int, path: str, timeout_s: float) -> tuple[int, bool]:
    """GET `path` twice on one connection: (status of the first, whether the second reused it)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        first = connection.getresponse()
        first.read()
        if connection.sock is None:  # the server announced Connection: close
            return first.status, False
        try:
            connection.request("GET", path)
            second = connection.getresponse()
            second.read()
        except (http.client.HTTPException, OSError):  # closed without saying so
            return first.status, False
        return first.status, True
    finally:
        connection.close()


def wait_until_serving(
    process: subprocess.Popen[bytes], port: int, path: str, timeout_s: float, log: IO[bytes]
) -> bool:
    """Poll until the server answers 200 on `path`; returns whether it keeps connections alive."""
    deadline = time.monotonic() + timeout_s
    last_problem = "port never opened"
    while True:
        exit_code = process.poll()
        if exit_code is not None:
            tail = log_tail(log, 1)
            raise ServerProblem(
                f"did not start (exit code {exit_code}: {tail[0] if tail else 'no output'})"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerProblem(f"did not start (no 200 within {timeout_s:.0f} s: {last_problem})")
        try:
            status, keeps_alive = http_get(port, path, timeout_s=min(5.0, remaining))
        except ConnectionRefusedError:
            last_problem = "port never opened"
        except (http.client.HTTPException, OSError) as error:
            last_problem = f"GET {path}: {error!r}"
        else:
            if status == 200:
                return keeps_alive
            last_problem = f"GET {path} answered {status}"
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.1)


def stop_process_group(process: subprocess.Popen[bytes], stop_signal: signal.Signals) -> None:
    """Signal the session we started (its group id is the leader's PID), then SIGKILL leftovers."""
    session = process.pid
    for sig, grace_s in ((stop_signal, 15.0), (signal.SIGKILL, 5.0)):
        if not live_session_members(session):
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(session, sig)
        deadline = time.monotonic() + grace_s
        while live_session_members(session) and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=1.0)
    leftovers = live_session_members(session)
    if leftovers:
        progress(f"warning: processes {leftovers} of session {session} survived SIGKILL")


# ---------------------------------------------------------------- wrk

TIME_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk_output(output: str) -> WrkResult:
    requests = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    if not requests or not p99:
        raise WrkProblem(f"no Requests/sec or 99% latency line in wrk output:\n{output}")
    error_counts: list[str] = []
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        for kind, count in zip(
            ("connect", "read", "write", "timeout"), socket_errors.groups(), strict=True
        ):
            if int(count):
                error_counts.append(f"{kind} {count}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        error_counts.append(f"non-2xx {non_2xx.group(1)}")
    return WrkResult(
        requests_per_second=float(requests.group(1)),
        p99_ms=float(p99.group(1)) * TIME_UNIT_MS[p99.group(2)],
        errors=", ".join(error_counts) or "0",
    )


def run_wrk(argv: list[str], duration_s: int, port: int) -> tuple[WrkResult, list[int]]:
    """Run wrk to completion, sampling the server's accept queue every 0.5 s meanwhile."""
    deadline = time.monotonic() + duration_s + 30
    backlog_samples: list[int] = []
    with tempfile.TemporaryFile() as output:
        wrk = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            while True:
                try:
                    wrk.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    backlog_samples.append(listen_backlog(port))
                    if time.monotonic() > deadline:
                        raise WrkProblem(
                            f"`{shlex.join(argv)}` still running {duration_s + 30} s after start"
                        ) from None
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait(timeout=5)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if wrk.returncode != 0:
        raise WrkProblem(f"`{shlex.join(argv)}` exited with {wrk.returncode}:\n{text}")
    return parse_wrk_output(text), backlog_samples


# ---------------------------------------------------------------- one server, one mode


def measure(
    server: Server, mode: LoadMode, options: LoadOptions, path: str
) -> tuple[str, Measurement | Unmeasured]:
    """Start, load and stop one server; returns its exact command line and the outcome."""
    port = free_port()
    argv = server.command(port, mode.name)
    command_line = display_command(argv, server.cwd)
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(
                argv,
                cwd=server.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as error:
            return command_line, Unmeasured(server.name, f"did not start ({argv[0]}: {error})")
        try:
            return command_line, load_running_server(
                server, process, port, mode, options, path, log
            )
        except (ServerProblem, WrkProblem) as problem:
            tail = "\n".join(f"    {line}" for line in log_tail(log, 15))
            progress(f"{server.name}: {problem}\n  last lines of its output:\n{tail}")
            reason = str(problem) if isinstance(problem, ServerProblem) else f"wrk: {problem}"
            return command_line, Unmeasured(server.name, reason.splitlines()[0])
        finally:
            stop_process_group(process, server.stop_signal)


def load_running_server(
    server: Server,
    process: subprocess.Popen[bytes],
    port: int,
    mode: LoadMode,
    options: LoadOptions,
    path: str,
    log: IO[bytes],
) -> Measurement:
    keeps_alive = wait_until_serving(process, port, path, server.start_timeout_s, log)
    url = f"http://{LOOPBACK}:{port}{path}"
    if options.warmup_s > 0:
        run_wrk(options.wrk_argv(options.warmup_s, mode, url), options.warmup_s, port)
    result, backlog_samples = run_wrk(
        options.wrk_argv(options.duration_s, mode, url), options.duration_s, port
    )
    exit_code = process.poll()
    if exit_code is not None:
        raise ServerProblem(f"failed under load (master exited with code {exit_code})")
    workers = [pid for pid in live_session_members(process.pid) if pid != process.pid]
    return Measurement(
        server=server.name,
        requests_per_second=result.requests_per_second,
        p99_ms=result.p99_ms,
        workers_rss_mib=sum(rss_kib(pid) for pid in workers) / 1024,
        worker_count=len(workers),
        master_rss_mib=rss_kib(process.pid) / 1024,
        keeps_alive=keeps_alive,
        accept_queue_median=statistics.median(backlog_samples) if backlog_samples else 0.0,
        errors=result.errors,
    )


# ---------------------------------------------------------------- report


def markdown_table(outcomes: Sequence[Measurement | Unmeasured]) -> list[str]:
    lines = [
        "| server | req/s | p99 ms | workers RSS MiB (n) | master RSS MiB "
        "| keeps alive | accept queue (median) | wrk errors |",
        "|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for outcome in outcomes:
        if isinstance(outcome, Unmeasured):
            lines.append(f"| {outcome.server} |{' - |' * 6} {outcome.reason} |")
            continue
        lines.append(
            f"| {outcome.server} | {outcome.requests_per_second:,.0f} | {outcome.p99_ms:.2f} "
            f"| {outcome.workers_rss_mib:.1f} ({outcome.worker_count}) "
            f"| {outcome.master_rss_mib:.1f} | {'yes' if outcome.keeps_alive else 'no'} "
            f"| {outcome.accept_queue_median:g} | {outcome.errors} |"
        )
    return lines


def ratio_line(
    ratio: Ratio, mode: LoadMode, outcomes: Mapping[str, Measurement | Unmeasured]
) -> str | None:
    """One "a/b metric = x (target ≥ t: met)" line, or None if neither server was run."""
    label = f"{ratio.numerator}/{ratio.denominator} {ratio.metric.value}"
    numerator = outcomes.get(ratio.numerator)
    denominator = outcomes.get(ratio.denominator)
    if numerator is None and denominator is None:
        return None
    target = ratio.targets.get(mode.name)
    sense = "≥" if ratio.metric.higher_is_better else "≤"
    target_text = f"target {sense} {target}" if target is not None else "no target in this mode"
    missing = [
        f"{name} {'not run' if outcome is None else 'not measured'}"
        for name, outcome in ((ratio.numerator, numerator), (ratio.denominator, denominator))
        if not isinstance(outcome, Measurement)
    ]
    if missing:
        return f"{label} = n/a ({target_text}; {', '.join(missing)})"
    assert isinstance(numerator, Measurement) and isinstance(denominator, Measurement)
    if denominator.value(ratio.metric) == 0:
        return f"{label} = n/a ({target_text}; {ratio.denominator} measured 0)"
    value = numerator.value(ratio.metric) / denominator.value(ratio.metric)
    if target is None:
        return f"{label} = {value:.2f} ({target_text})"
    met = value >= target if ratio.metric.higher_is_better else value <= target
    return f"{label} = {value:.2f} ({target_text}: {'met' if met else 'MISSED'})"


def parse_arguments(comparison: Comparison, argv: Sequence[str] | None) -> argparse.Namespace:
    server_names = [server.name for server in comparison.servers]
    mode_names = [mode.name for mode in comparison.modes]
    parser = argparse.ArgumentParser(description=comparison.title)
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument(
        "--only", action="append", choices=server_names, help="run only this server (repeatable)"
    )
    parser.add_argument(
        "--mode", action="append", choices=mode_names, help="run only this mode (repeatable)"
    )
    arguments = parser.parse_args(argv)
    if arguments.duration < 1 or arguments.warmup < 0:
        parser.error("--duration must be ≥ 1 and --warmup ≥ 0")
    if arguments.connections < arguments.threads:
        parser.error("wrk needs --connections ≥ --threads")
    return arguments


def exit_on_signal(signum: int, frame: object) -> None:
    """SIGTERM/SIGHUP end the run through the `finally` blocks that stop the servers."""
    raise SystemExit(f"stopped by {signal.Signals(signum).name}")


def run_comparison(comparison: Comparison, argv: Sequence[str] | None = None) -> int:
    """Run every selected server in every selected mode and print the report; returns 0."""
    arguments = parse_arguments(comparison, argv)
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, exit_on_signal)
    if shutil.which("wrk") is None:
        print(f"error: wrk is not on PATH; {SETUP_HINT}", file=sys.stderr)
        return 2
    options = LoadOptions(
        duration_s=arguments.duration,
        warmup_s=arguments.warmup,
        connections=arguments.connections,
        threads=arguments.threads,
    )
    servers = [s for s in comparison.servers if not arguments.only or s.name in arguments.only]
    modes = [m for m in comparison.modes if not arguments.mode or m.name in arguments.mode]

    report = [
        f"# {comparison.title}",
        "",
        f"- machine: {machine_description()}",
        f"- load: {first_output_line(['wrk', '-v'], REPO, any_exit_code=True)}; "
        f"`{shlex.join(options.wrk_argv(options.duration_s, LoadMode('x'), 'URL'))}` "
        f"after a {options.warmup_s} s warm-up, on {LOOPBACK}; nothing pinned, "
        "wrk shares the CPUs with the servers",
    ]
    report += [
        f"- {server.name}: {first_output_line(server.version_command, server.cwd)}"
        for server in servers
        if server.version_command
    ]
    report += [f"- note on {server.name}: {server.note}" for server in servers if server.note]

    for mode in modes:
        outcomes: dict[str, Measurement | Unmeasured] = {}
        commands: list[str] = []
        for server in servers:
            progress(f"[{mode.name}] {server.name} ...")
            command_line, outcome = measure(server, mode, options, comparison.path)
            outcomes[server.name] = outcome
            commands.append(f"- {server.name}: `{command_line}`")
            if isinstance(outcome, Unmeasured):
                progress(f"{server.name}: {outcome.reason}")
            else:
                progress(
                    f"[{mode.name}] {server.name}: {outcome.requests_per_second:,.0f} req/s, "
                    f"p99 {outcome.p99_ms:.2f} ms"
                )
        extra_wrk_args = f" ({shlex.join(mode.wrk_args)})" if mode.wrk_args else ""
        report += ["", f"## {mode.name}{extra_wrk_args}", "", *commands, ""]
        report += markdown_table(list(outcomes.values()))
        report += [
            f"\n{outcome.server}: {outcome.reason}"
            for outcome in outcomes.values()
            if isinstance(outcome, Unmeasured)
        ]
        ratio_lines = [ratio_line(ratio, mode, outcomes) for ratio in comparison.ratios]
        report += ["", *(f"- {line}" for line in ratio_lines if line is not None)]
    print("\n".join(report))
    return 0


KEEP_ALIVE = LoadMode("keep-alive")
NO_KEEP_ALIVE = LoadMode("no keep-alive", ("-H", "Connection: close"))


def in_both_modes(target: float) -> dict[str, float]:
    """A Ratio's targets when keep-alive and no keep-alive have the same bound."""
    return {KEEP_ALIVE.name: target, NO_KEEP_ALIVE.name: target}


def first_answer_seconds(
    server: Server, path: str = "/", startup: tuple[str, str, str] | None = None
) -> str:
    """Seconds from spawning `server` to its first 200 on `path`. `startup` = (label, text
    before, text after) picks the runtime's own start-up seconds out of the server's log, e.g.
    ("JVM start", " started in ", "s ") for polyhost's "JVM ... started in 0.31s (...)" lines."""
    port = free_port()
    argv = server.command(port, NO_KEEP_ALIVE.name)
    with tempfile.TemporaryFile() as log:
        started = time.monotonic()
        process = subprocess.Popen(
            argv, cwd=server.cwd, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            wait_until_serving(process, port, path, server.start_timeout_s, log)
            elapsed = f"{time.monotonic() - started:.2f} s"
            if startup is None:
                return elapsed
            label, before, after = startup
            log.seek(0)
            found = [
                line.split(before)[1].split(after)[0]
                for line in log.read().decode(errors="replace").splitlines()
                if before in line
            ]
            return elapsed + (f" ({label} {', '.join(found)} s)" if found else "")
        except ServerProblem as error:
            return f"did not start: {error}"
        finally:
            stop_process_group(process, server.stop_signal)


def print_first_answers(comparison: Comparison, title: str, **options: object) -> None:
    """The start-up table after a comparison (honours --only like run_comparison)."""
    args = sys.argv[1:]
    only = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--only"]
    print(f"\n## {title}\n")
    print("| server | first answer after |\n|---|---|")
    for server in comparison.servers:
        if not only or server.name in only:
            print(f"| {server.name} | {first_answer_seconds(server, **options)} |")  # type: ignore[arg-type]


def polyhost_argv(port: int, *options: str) -> list[str]:
    """polyhost as every comparison runs it: an http-socket, 2 workers, no request log."""
    return [
        str(REPO / ".venv/bin/polyhost"), "--http-socket", f"127.0.0.1:{port}",
        "--master", "--processes", "2", *options, "--disable-logging",
    ]  # fmt: skip


def uwsgi_argv(
    port: int, mode_name: str, plugins: str, *options: str, keep_alive: bool = True
) -> list[str]:
    """Real uWSGI the same way. Keep-alive mode takes --http11-socket (2.0's --http-socket
    closes every connection); `keep_alive=False` for plugins that send no Content-Length,
    where --http11-socket would hang each response."""
    http11 = keep_alive and mode_name == KEEP_ALIVE.name
    return [
        "uwsgi", "--plugins", plugins, "--http11-socket" if http11 else "--http-socket",
        f"127.0.0.1:{port}", "--master", "--processes", "2", *options, "--disable-logging",
    ]  # fmt: skip
