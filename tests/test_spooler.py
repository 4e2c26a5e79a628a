"""The spooler: uWSGI's spool-file format, atomic writes, scanning, return codes, and real uWSGI.

Interop tests run Debian's uWSGI 2.0 (uwsgi-core + uwsgi-plugin-python3): files written by
polyhost's `spool()` run under uWSGI's spooler, files written by uWSGI's `uwsgi.spool()` decode and
run under polyhost's `Spooler` with the same dict, and the two writers produce identical bytes.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from polyhost.bridges.python.spool_decorators import SpoolDecorators, python_spooler_handler
from polyhost.fabric.spooler import (
    SPOOL_IGNORE,
    SPOOL_OK,
    SPOOL_RETRY,
    Spooler,
    SpoolError,
    decode_spool_file,
    encode_spool_file,
    spool,
)

from conftest import wait_for

APP_DIR = Path(__file__).resolve().parent / "apps" / "spooler"
UWSGI = shutil.which("uwsgi")
PYTHON3_PLUGIN = Path("/usr/lib/uwsgi/plugins/python3_plugin.so")
needs_uwsgi = pytest.mark.skipif(
    UWSGI is None or not PYTHON3_PLUGIN.exists(),
    reason="real uWSGI 2.0 with its Python 3 plugin is not installed "
    "(apt-get install uwsgi-core uwsgi-plugin-python3, listed in scripts/apt-packages-spooler.txt)",
)
NAME = re.compile(r"uwsgi_spoolfile_on_(?P<host>.+)_(?P<pid>\d+)_(?P<counter>\d+)_\d+_\d+_\d+")


def _recorder():
    spec = importlib.util.spec_from_file_location("spool_recorder", APP_DIR / "recorder.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORD = _recorder().record


class Log(list):
    """The spooler's log lines, kept for assertions."""

    def __call__(self, line: str) -> None:
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)


def task_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("uwsgi_spoolfile_on_*") if p.is_file())


def records(record_dir: Path) -> dict[str, dict]:
    return {
        p.name[: -len(".pickle")]: pickle.loads(p.read_bytes()) for p in record_dir.glob("*.pickle")
    }


def run_order(record_dir: Path) -> list[str]:
    log = record_dir / "order.log"
    return log.read_text().split() if log.exists() else []


def polyhost_run_all(directory: Path, record_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Log:
    """Run every due task of `directory` once with polyhost's Spooler and the recorder."""
    monkeypatch.setenv("SPOOL_RECORD_DIR", str(record_dir))
    log = Log()
    spooler = Spooler(str(directory), ordered=True, log=log)
    handler = python_spooler_handler(RECORD)
    for path in spooler.scan(time.time()):
        assert spooler.run_task(path, handler) == SPOOL_OK, log.text()
    return log


# -- the file format -----------------------------------------------------------------------------
def test_encode_is_uwsgi_packet_layout() -> None:
    data = encode_spool_file({b"a": b"1", b"key": b""}, b"BODY")
    assert data == bytes([17, 13, 0, 0]) + b"\x01\x00a\x01\x001" + b"\x03\x00key\x00\x00" + b"BODY"
    assert encode_spool_file([(b"a", b"1")]) == bytes([17, 6, 0, 0]) + b"\x01\x00a\x01\x001"
    assert decode_spool_file(data) == ({b"a": b"1", b"key": b""}, b"BODY")


def test_decode_rejects_broken_files_with_reasons() -> None:
    with pytest.raises(SpoolError, match="no complete 4-byte header"):
        decode_spool_file(b"\x11\x00")
    with pytest.raises(SpoolError, match="modifier1 5"):
        decode_spool_file(b"\x05\x00\x00\x00")
    with pytest.raises(SpoolError, match="truncated"):
        decode_spool_file(encode_spool_file({b"a": b"12345"})[:-2])
    with pytest.raises(SpoolError, match="over uWSGI's 64 KiB limit"):
        encode_spool_file({b"k%d" % i: b"v" * 1000 for i in range(70)})


def test_body_over_64k_round_trips(tmp_path: Path) -> None:
    body = os.urandom(300 * 1024)
    path = spool([str(tmp_path)], {b"big": b"1"}, body=body)
    assert decode_spool_file(Path(path).read_bytes()) == ({b"big": b"1"}, body)
    seen = []
    code = Spooler(str(tmp_path), log=Log()).run_task(
        path, lambda vars, body, name: seen.append((vars, body)) or SPOOL_OK
    )
    assert code == SPOOL_OK
    assert seen == [({b"big": b"1"}, body)]


# -- writing tasks -------------------------------------------------------------------------------
def test_spool_writes_a_uwsgi_named_0600_file_and_returns_its_path(tmp_path: Path) -> None:
    first = spool([str(tmp_path)], {b"a": b"1"}, body=b"xyz")
    second = spool([str(tmp_path)], {b"a": b"2"})
    for path in (first, second):
        assert os.path.dirname(path) == os.path.realpath(tmp_path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    one, two = (NAME.fullmatch(os.path.basename(p)) for p in (first, second))
    assert one and two
    assert one["host"] == socket.gethostname() and one["pid"] == str(os.getpid())
    assert int(two["counter"]) == int(one["counter"]) + 1
    assert Path(first).read_bytes() == encode_spool_file({b"a": b"1"}, b"xyz")
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in (first, second))


def test_spool_refuses_what_uwsgi_refuses_and_names_the_choices(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    dirs = [str(one), str(two)]
    with pytest.raises(ValueError, match="must be bytes"):
        spool(dirs, {b"a": "text"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="must be bytes"):
        spool(dirs, {b"a": 5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="keys must be bytes"):
        spool(dirs, {"a": b"1"})  # type: ignore[dict-item]
    with pytest.raises(SpoolError, match="add `spooler = DIR`"):
        spool([], {b"a": b"1"})
    with pytest.raises(SpoolError, match=f"configured spoolers are {one}, {two}"):
        spool(dirs, {b"a": b"1"}, spooler=str(tmp_path / "three"))
    with pytest.raises(ValueError, match="priority must be a number"):
        spool(dirs, {b"a": b"1", b"priority": b"../x"})
    with pytest.raises(SpoolError, match="64 KiB"):
        spool(dirs, {b"big": b"v" * 70_000})
    path = spool(dirs, {b"a": b"1"}, spooler=str(two))
    assert os.path.dirname(path) == str(two)
    assert decode_spool_file(Path(path).read_bytes())[0] == {b"a": b"1", b"spooler": bytes(two)}
    assert list(one.iterdir()) == []


# -- scanning: at, priority ----------------------------------------------------------------------
def test_at_sets_the_mtime_and_the_task_waits_for_it(tmp_path: Path) -> None:
    now = time.time()
    at = int(now) + 100
    path = spool([str(tmp_path)], {b"job": b"later"}, at=at)
    assert os.stat(path).st_mtime == at and os.stat(path).st_atime == at
    assert decode_spool_file(Path(path).read_bytes())[0] == {b"job": b"later", b"at": b"%d" % at}
    spooler = Spooler(str(tmp_path), log=Log())
    assert spooler.scan(now) == []
    assert spooler.scan(at + 1) == [path]
    assert spooler.run_task(path, lambda vars, body, name: SPOOL_OK) == SPOOL_OK
    assert not os.path.exists(path)


def test_priority_runs_lower_first_only_with_ordered(tmp_path: Path) -> None:
    plain = spool([str(tmp_path)], {b"n": b"plain"})
    ten = spool([str(tmp_path)], {b"n": b"ten"}, priority="10")
    two_a = spool([str(tmp_path)], {b"n": b"two-a", b"priority": b"2"})
    two_b = spool([str(tmp_path)], {b"n": b"two-b"}, priority="2")
    assert os.path.dirname(ten) == os.path.join(os.path.realpath(tmp_path), "10")
    assert Spooler(str(tmp_path), ordered=True, log=Log()).scan(time.time()) == [
        two_a,
        two_b,
        ten,
        plain,
    ]
    log = Log()
    unordered = Spooler(str(tmp_path), log=log)
    assert unordered.scan(time.time()) == [plain]
    assert unordered.scan(time.time()) == [plain]
    warnings = [line for line in log if "spooler-ordered" in line]
    assert len(warnings) == 1 and "never run" in warnings[0]


# -- running tasks: return codes -----------------------------------------------------------------
def test_return_codes_exceptions_and_non_ints(tmp_path: Path) -> None:
    log = Log()
    spooler = Spooler(str(tmp_path), log=log)

    def run(result: object) -> tuple[int | None, bool]:
        path = spool([str(tmp_path)], {b"r": repr(result).encode()})

        def handler(vars: dict, body: bytes, name: bytes) -> object:
            if isinstance(result, Exception):
                raise result
            return result

        code = spooler.run_task(path, handler)
        kept = os.path.exists(path)
        if kept:
            os.unlink(path)
        return code, kept

    assert run(SPOOL_OK) == (SPOOL_OK, False)
    assert run(SPOOL_RETRY) == (SPOOL_RETRY, True)
    assert run(SPOOL_IGNORE) == (SPOOL_IGNORE, True)
    assert "no spooler function took task" in log.text()
    assert run(ZeroDivisionError("boom")) == (SPOOL_RETRY, True)
    assert "raised an exception" in log.text() and "ZeroDivisionError: boom" in log.text()
    assert run("done") == (SPOOL_RETRY, True)
    assert "returned 'done'" in log.text()
    # SPOOL_IGNORE is not a task run: uWSGI doesn't count it either
    assert spooler.tasks == 4
    assert spooler.stats() == {
        "dir": os.path.realpath(tmp_path),
        "pid": 0,
        "tasks": 4,
        "respawns": 0,
        "running": 0,
    }


def test_corrupt_task_is_set_aside_not_deleted(tmp_path: Path) -> None:
    bad = tmp_path / "uwsgi_spoolfile_on_elsewhere_1_1_1_1_1"
    bad.write_bytes(b"\x11\xff\x00\x00short")
    log = Log()
    assert Spooler(str(tmp_path), log=log).run_task(str(bad), lambda *a: SPOOL_OK) is None
    assert (tmp_path / f"corrupt-{bad.name}").exists() and not bad.exists()
    assert "truncated" in log.text()


def test_python_calling_convention(tmp_path: Path) -> None:
    received = []
    handler = python_spooler_handler(lambda task: received.append(task) or SPOOL_OK)
    with_body = spool([str(tmp_path)], {b"k": b"v"}, body=b"payload")
    without = spool([str(tmp_path)], {b"k": b"w"})
    spooler = Spooler(str(tmp_path), log=Log())
    assert spooler.run_task(with_body, handler) == SPOOL_OK
    assert spooler.run_task(without, handler) == SPOOL_OK
    assert received == [
        {"spooler_task_name": os.path.basename(with_body).encode(), b"k": b"v", "body": b"payload"},
        {"spooler_task_name": os.path.basename(without).encode(), b"k": b"w"},
    ]


def test_uwsgidecorators_spool_family(tmp_path: Path) -> None:
    calls = []
    decorators = SpoolDecorators(lambda vars: spool([str(tmp_path)], vars).encode())

    @decorators.spool
    def send_mail(arguments: dict) -> None:
        calls.append(("send_mail", arguments))

    @decorators.spoolforever
    def poll(arguments: dict) -> None:
        calls.append(("poll", arguments))

    @decorators.spoolraw(pass_arguments=True)
    def resize(path: str, width: int = 0) -> int:
        calls.append(("resize", (path, width)))
        return SPOOL_RETRY if width > 100 else SPOOL_OK

    mail = send_mail.spool(to="a@example.org", subject=b"hi")
    poll({"every": "minute"})  # calling the decorated function enqueues, as uWSGI's does
    big = resize("/img/a.png", width=640, priority="5")
    small = resize.spool("/img/b.png")
    vars = decode_spool_file(Path(os.fsdecode(mail)).read_bytes())[0]
    assert vars == {
        b"ud_spool_func": b"send_mail",
        b"ud_spool_ret": b"-2",
        b"to": b"a@example.org",
        b"subject": b"hi",
    }
    assert os.path.basename(os.path.dirname(os.fsdecode(big))) == "5"
    resize_vars = decode_spool_file(Path(os.fsdecode(small)).read_bytes())[0]
    assert set(resize_vars) == {b"ud_spool_func", b"args", b"kwargs"}
    assert pickle.loads(resize_vars[b"args"]) == ("/img/b.png",)
    assert calls == []

    spooler = Spooler(str(tmp_path), ordered=True, log=Log())
    handler = python_spooler_handler(decorators.manage_spool_request)
    codes = {path: spooler.run_task(path, handler) for path in spooler.scan(time.time())}
    assert codes == {
        os.fsdecode(big): SPOOL_RETRY,
        os.fsdecode(mail): SPOOL_OK,
        task_path(tmp_path, "poll"): SPOOL_RETRY,
        os.fsdecode(small): SPOOL_OK,
    }
    _, arguments = next(call for call in calls if call[0] == "send_mail")
    assert arguments["to"] == "a@example.org" and arguments["subject"] == "hi"
    assert arguments["spooler_task_name"] == os.path.basename(os.fsdecode(mail))
    assert ("resize", ("/img/a.png", 640)) in calls and ("resize", ("/img/b.png", 0)) in calls
    assert (
        "poll",
        {
            "ud_spool_func": "poll",
            "ud_spool_ret": "-1",
            "every": "minute",
            "spooler_task_name": os.path.basename(task_path(tmp_path, "poll")),
        },
    ) in calls
    # a task that isn't a decorated function of this process is left to another runtime
    assert decorators.manage_spool_request({b"plain": b"task"}) == SPOOL_IGNORE
    with pytest.raises(Exception, match="enable the uWSGI spooler to use @spool decorator"):
        SpoolDecorators(print, spooler_configured=lambda: False).spool(len)


def task_path(directory: Path, function: str) -> str:
    for path in task_files(directory):
        if decode_spool_file(path.read_bytes())[0].get(b"ud_spool_func") == function.encode():
            return str(path)
    raise AssertionError(f"no task for {function}")


# -- the loop --------------------------------------------------------------------------------------
def _loop_in_thread(spooler: Spooler, handler, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=spooler.loop, args=(handler, stop.is_set), daemon=True)
    thread.start()
    return thread


def test_loop_wakes_on_new_tasks_on_wake_and_when_at_falls_due(tmp_path: Path) -> None:
    ran: list[bytes] = []
    spooler = Spooler(str(tmp_path), frequency=3600, log=Log())
    stop = threading.Event()
    thread = _loop_in_thread(spooler, lambda v, b, n: ran.append(v[b"n"]) or SPOOL_OK, stop)
    try:
        spool([str(tmp_path)], {b"n": b"renamed-in"})  # inotify sees the rename
        wait_for(lambda: b"renamed-in" in ran, 10, "the loop to run a freshly spooled task")
        # written in place, as uWSGI's writer does: no rename to see, wake() makes the scan
        direct = tmp_path / "uwsgi_spoolfile_on_elsewhere_1_1_1_1_1"
        direct.write_bytes(encode_spool_file({b"n": b"woken"}))
        spooler.wake()
        wait_for(lambda: b"woken" in ran, 10, "wake() to make the loop scan")
        spool([str(tmp_path)], {b"n": b"at"}, at=int(time.time()) + 2)
        wait_for(lambda: b"at" in ran, 10, "the loop to run the `at` task when due")
        assert ran == [b"renamed-in", b"woken", b"at"]
        assert spooler.stats()["pid"] == os.getpid()
    finally:
        stop.set()
        spooler.wake()
        thread.join(10)
    assert not thread.is_alive()


def test_max_tasks_ends_the_loop(tmp_path: Path) -> None:
    for n in range(5):
        spool([str(tmp_path)], {b"n": b"%d" % n})
    log = Log()
    spooler = Spooler(str(tmp_path), max_tasks=3, log=log)
    deadline = time.monotonic() + 20
    spooler.loop(lambda v, b, n: SPOOL_OK, lambda: time.monotonic() > deadline)
    assert spooler.tasks == 3
    assert "maximum number of tasks reached (3) recycling" in log.text()
    assert len(task_files(tmp_path)) == 2


# -- processes: crash mid-write, concurrency, harakiri ------------------------------------------
def _start(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )


def writing(directory: Path) -> bool:
    """True when a temp file holds part of a task being written."""
    for path in directory.iterdir():
        if path.name.startswith(".spooling-"):
            try:
                if path.stat().st_size > 0:
                    return True
            except FileNotFoundError:
                continue
    return False


def test_kill_during_write_leaves_no_half_task(tmp_path: Path) -> None:
    body_size = 16 * 1024 * 1024
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    for _attempt in range(5):
        writer = _start(
            [str(APP_DIR / "polyhost_writer.py"), str(spool_dir), str(body_size)],
            tmp_path / "writer.log",
        )
        try:
            wait_for(lambda: writing(spool_dir), 30, "a task being written")
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(10)
        if any(p.name.startswith(".spooling-") for p in spool_dir.iterdir()):
            break  # killed mid-write
    else:
        pytest.fail("the writer was never caught mid-write")
    log = Log()
    due = Spooler(str(spool_dir), log=log).scan(time.time())
    assert sorted(due) == [str(p) for p in task_files(spool_dir)]
    for path in due:
        vars, body = decode_spool_file(Path(path).read_bytes())
        assert list(vars) == [b"n"] and body == b"x" * body_size
    # the dead writer's temp file is gone, and said so
    assert not any(p.name.startswith(".spooling-") for p in spool_dir.iterdir())
    assert f"(pid {writer.pid}) died before finishing it" in log.text()


def test_two_processes_never_run_the_same_task(tmp_path: Path) -> None:
    spool_dir, record_dir = tmp_path / "spool", tmp_path / "records"
    spool_dir.mkdir()
    record_dir.mkdir()
    names = [os.path.basename(spool([str(spool_dir)], {b"n": b"%d" % n})) for n in range(60)]
    stop = tmp_path / "stop"
    env = {"SPOOL_RECORD_DIR": str(record_dir)}
    spoolers = [
        _start(
            [str(APP_DIR / "polyhost_spooler.py"), str(spool_dir), str(stop)],
            tmp_path / f"spooler{i}.log",
            env,
        )
        for i in range(3)
    ]
    try:
        wait_for(lambda: not task_files(spool_dir), 60, "the spoolers to run every task")
    finally:
        stop.touch()
        for process in spoolers:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
    assert sorted(run_order(record_dir)) == sorted(names)


def test_spooler_harakiri_kills_the_process_and_keeps_the_task(tmp_path: Path) -> None:
    path = spool([str(tmp_path)], {b"slow": b"1"})
    log_path = tmp_path / "harakiri.log"
    process = _start(
        [
            str(APP_DIR / "polyhost_spooler.py"),
            str(tmp_path),
            str(tmp_path / "stop"),
            "--harakiri",
            "1",
        ],
        log_path,
    )
    try:
        assert process.wait(30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert "HARAKIRI ON THE SPOOLER" in log_path.read_text()
    assert os.path.exists(path)


# -- real uWSGI, both ways -------------------------------------------------------------------------
def sample_tasks(now: float) -> list[tuple[dict[bytes, bytes], bytes]]:
    """(vars, body) pairs covering what a spool file can hold; all due at `now`."""
    return [
        ({b"name": b"plain", b"n": b"1"}, b""),
        ({b"name": b"with-body", b"text": "héllo wörld".encode()}, b"a small body"),
        ({b"name": b"big-body"}, bytes(range(256)) * 400),
        ({b"name": b"binary", b"bin": bytes(range(256)), b"empty": b""}, b"\x00\xff\x00"),
        ({b"name": b"priority", b"priority": b"3"}, b"prio"),
        ({b"name": b"at-past", b"at": b"%d" % (int(now) - 60)}, b""),
    ]


def expected_record(name: str, vars: dict[bytes, bytes], body: bytes) -> dict:
    """What uWSGI's Python spooler function receives for a task."""
    task: dict = {"spooler_task_name": name.encode(), **vars}
    if body:
        task["body"] = body
    return task


def uwsgi_spool(tmp_path: Path, spool_dir: Path, tasks: list[dict[bytes, bytes]]) -> list[str]:
    """Spool `tasks` with real uWSGI's `uwsgi.spool` (no spooler process runs them)."""
    tasks_file, paths_file = tmp_path / "tasks.pickle", tmp_path / "paths.pickle"
    tasks_file.write_bytes(pickle.dumps(tasks))
    log_path = tmp_path / "uwsgi-writer.log"
    with open(log_path, "wb") as log:
        result = subprocess.run(
            [
                UWSGI,
                "--plugin",
                "python3",
                "--spooler-external",
                str(spool_dir),
                "--pyrun",
                str(APP_DIR / "uwsgi_writer.py"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=60,
            env={**os.environ, "SPOOL_TASKS": str(tasks_file), "SPOOL_PATHS": str(paths_file)},
        )
    assert result.returncode == 0 and paths_file.exists(), log_path.read_text()
    return [os.fsdecode(p) for p in pickle.loads(paths_file.read_bytes())]


def uwsgi_run_all(
    tmp_path: Path, spool_dir: Path, record_dir: Path, count: int, left: int = 0
) -> str:
    """Serve `spool_dir` with real uWSGI's spooler and the recorder until `count` tasks ran
    (and were deleted: `left` task files stay)."""
    log_path = tmp_path / f"uwsgi-spooler-{spool_dir.name}.log"
    with open(log_path, "wb") as log:
        master = subprocess.Popen(
            [
                UWSGI,
                "--plugin",
                "python3",
                "--master",
                "--spooler",
                str(spool_dir),
                "--spooler-ordered",
                "--spooler-frequency",
                "1",
                "--pythonpath",
                str(APP_DIR),
                "--spooler-import",
                "uwsgi_spooler",
                "--socket",
                str(tmp_path / "uwsgi.sock"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SPOOL_RECORD_DIR": str(record_dir)},
        )
    try:

        def finished() -> bool:
            done = len(run_order(record_dir)) >= count and len(task_files(spool_dir)) <= left
            return done or master.poll() is not None

        wait_for(finished, 60, f"uWSGI's spooler to run {count} tasks")
    finally:
        master.send_signal(signal.SIGINT)  # uWSGI's master stops its spooler and workers
        try:
            master.wait(20)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait(10)
    text = log_path.read_text(errors="replace")
    assert len(run_order(record_dir)) == count, text
    return text


@needs_uwsgi
def test_uwsgi_runs_tasks_spooled_by_polyhost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    tasks = sample_tasks(now)
    paths = [spool([str(spool_dir)], vars, body=body) for vars, body in tasks]
    later = spool([str(spool_dir)], {b"name": b"at-future"}, at=int(now) + 3600)
    twin = tmp_path / "twin"
    shutil.copytree(spool_dir, twin)  # copy2 keeps the mtimes `at` relies on

    uwsgi_records, polyhost_records = tmp_path / "uwsgi-records", tmp_path / "polyhost-records"
    uwsgi_records.mkdir()
    polyhost_records.mkdir()
    uwsgi_run_all(tmp_path, spool_dir, uwsgi_records, len(tasks), left=1)
    polyhost_run_all(twin, polyhost_records, monkeypatch)

    expected = {
        os.path.basename(path): expected_record(os.path.basename(path), vars, body)
        for path, (vars, body) in zip(paths, tasks, strict=True)
    }
    got_uwsgi, got_polyhost = records(uwsgi_records), records(polyhost_records)
    assert got_uwsgi == expected
    for name, task in expected.items():  # same keys in the same order, too
        assert list(got_uwsgi[name].items()) == list(task.items())
        assert list(got_polyhost[name].items()) == list(task.items())
    assert run_order(uwsgi_records) == run_order(polyhost_records)
    assert task_files(spool_dir) == [Path(later)]  # done tasks deleted, the future one waits


@needs_uwsgi
def test_polyhost_runs_tasks_spooled_by_uwsgi_and_writes_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    tasks = sample_tasks(now)
    uwsgi_dir, polyhost_dir = tmp_path / "by-uwsgi", tmp_path / "by-polyhost"
    uwsgi_dir.mkdir()
    polyhost_dir.mkdir()
    uwsgi_paths = uwsgi_spool(
        tmp_path, uwsgi_dir, [{**vars, b"body": body} if body else vars for vars, body in tasks]
    )
    polyhost_paths = [spool([str(polyhost_dir)], vars, body=body) for vars, body in tasks]

    for uwsgi_path, polyhost_path, (vars, body) in zip(
        uwsgi_paths, polyhost_paths, tasks, strict=True
    ):
        assert NAME.fullmatch(os.path.basename(uwsgi_path))
        uwsgi_bytes = Path(uwsgi_path).read_bytes()
        assert decode_spool_file(uwsgi_bytes) == (vars, body)
        assert uwsgi_bytes == Path(polyhost_path).read_bytes() == encode_spool_file(vars, body)
        uwsgi_stat, polyhost_stat = os.stat(uwsgi_path), os.stat(polyhost_path)
        assert stat.S_IMODE(uwsgi_stat.st_mode) == stat.S_IMODE(polyhost_stat.st_mode) == 0o600
        relative = os.path.relpath(uwsgi_path, uwsgi_dir)
        assert os.path.dirname(relative) == os.path.dirname(
            os.path.relpath(polyhost_path, polyhost_dir)
        )
        if b"at" in vars:
            assert uwsgi_stat.st_mtime == polyhost_stat.st_mtime == int(vars[b"at"])

    twin = tmp_path / "twin"
    shutil.copytree(uwsgi_dir, twin)
    uwsgi_records, polyhost_records = tmp_path / "uwsgi-records", tmp_path / "polyhost-records"
    uwsgi_records.mkdir()
    polyhost_records.mkdir()
    polyhost_run_all(uwsgi_dir, polyhost_records, monkeypatch)
    uwsgi_run_all(tmp_path, twin, uwsgi_records, len(tasks))
    expected = {
        os.path.basename(path): expected_record(os.path.basename(path), vars, body)
        for path, (vars, body) in zip(uwsgi_paths, tasks, strict=True)
    }
    got_polyhost = records(polyhost_records)
    assert got_polyhost == records(uwsgi_records) == expected
    for name, task in expected.items():
        assert list(got_polyhost[name].items()) == list(task.items())
    assert task_files(uwsgi_dir) == []


@needs_uwsgi
def test_uwsgi_and_polyhost_spoolers_share_a_directory_without_double_runs(
    tmp_path: Path,
) -> None:
    spool_dir, record_dir = tmp_path / "spool", tmp_path / "records"
    spool_dir.mkdir()
    record_dir.mkdir()
    names = [os.path.basename(spool([str(spool_dir)], {b"n": b"%d" % n})) for n in range(40)]
    stop = tmp_path / "stop"
    ours = _start(
        [str(APP_DIR / "polyhost_spooler.py"), str(spool_dir), str(stop)],
        tmp_path / "polyhost-spooler.log",
        {"SPOOL_RECORD_DIR": str(record_dir)},
    )
    try:
        uwsgi_run_all(tmp_path, spool_dir, record_dir, len(names))
    finally:
        stop.touch()
        try:
            ours.wait(10)
        except subprocess.TimeoutExpired:
            ours.kill()
            ours.wait(10)
    assert sorted(run_order(record_dir)) == sorted(names)
    assert task_files(spool_dir) == []
