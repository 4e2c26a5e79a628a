"""The scoreboard: per-worker state in anonymous shared memory, written by workers, read by master.

The master creates it before forking (one `mmap.mmap(-1, size)`, MAP_SHARED|MAP_ANONYMOUS), so
every worker inherits the same pages. Each field has a single writer, so there are no locks
between processes: the master owns `pid`, `last_spawn`, `respawn_count`, `harakiri_count` and
`cheap`; a worker owns everything it updates per request. Inside one worker, threads share a
process-local lock for the worker-wide counters; each thread owns its core's fields.

Worker lives: a respawned worker must not see, and the master must not act on, the previous
process's in-flight state (busy cores, harakiri deadlines, accepting). So the per-life fields carry
the pid of the process that wrote them (`life_pid`): the worker resets them on its first write and
readers trust them only while `life_pid` equals the pid the master published with `spawned()`.
This lets the master call `spawned(pid)` after fork without racing the child's first writes.
Counters that uWSGI keeps across respawns (requests, exceptions, tx, avg_rt, running_time, the
per-core and per-app counts) are not per-life.

Layout (native byte order, every field 8 bytes, so offsets stay aligned):
    header (master_pid, generation) | requests[workers] | worker 1 .. worker N
    worker = fields | cores[cores] (fields + vars blob) | apps[max_apps] (requests, exceptions)
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time
from collections.abc import Iterator

#: bytes of "KEY=VALUE" vars kept per core for the stats `vars` array
VARS_CAPACITY = 2048

_HEADER = struct.Struct("=qq")  # master_pid, generation
_Q = struct.Struct("=q")
_D = struct.Struct("=d")
_PAIR = struct.Struct("=qq")

# worker fields, in order, each 8 bytes (int64, or float64 for the *_deadline/_spawn/_since ones)
_WORKER_FIELDS = (
    "pid",
    "respawn_count",
    "last_spawn",
    "harakiri_count",
    "cheap",
    "paused",
    "signals",
    # per-life, written by the worker process whose pid is life_pid
    "life_pid",
    "accepting",
    "signum",
    "user_harakiri_deadline",
    "websockets",
    # the per-request accounting group (one pack in end_request)
    "delta_requests",
    "exceptions",
    "tx",
    "avg_rt",
    "running_time",
    "busy_since",
)
_W = {name: i * 8 for i, name in enumerate(_WORKER_FIELDS)}
_WORKER_SIZE = len(_WORKER_FIELDS) * 8
_ACCOUNTING = struct.Struct("=qqqqqd")  # delta_requests .. busy_since
_LIFE_RESET = struct.Struct("=qqqdq")  # life_pid .. websockets

# core fields; seq is a seqlock counter around the vars blob (odd while the worker writes it)
_CORE_FIELDS = (
    "requests",
    "static_requests",
    "routed_requests",
    "offloaded_requests",
    "write_errors",
    "read_errors",
    "in_request",
    "request_start",
    "harakiri_deadline",
    "vars_len",
    "seq",
)
_C = {name: i * 8 for i, name in enumerate(_CORE_FIELDS)}
_CORE_COUNTERS = struct.Struct("=qqqqqq")  # requests .. read_errors
_CORE_BEGIN = struct.Struct("=qddqq")  # in_request, request_start, harakiri_deadline, vars_len, seq
_CORE_END = struct.Struct("=qqqqqqqdd")  # requests .. harakiri_deadline
_CORE_HEAD_SIZE = len(_CORE_FIELDS) * 8
_CORE_SIZE = _CORE_HEAD_SIZE + VARS_CAPACITY

#: this process's pid, kept current across fork without a getpid() per request
_process_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _process_pid
    _process_pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Scoreboard:
    """Shared state of every worker; create it in the master before the first fork."""

    def __init__(
        self, workers: int, cores: int, max_apps: int = 64, *, keep_vars: bool = True
    ) -> None:
        """`keep_vars=False` skips copying each request's vars (only the stats show them)."""
        if workers < 1 or cores < 1 or max_apps < 1:
            raise ValueError(
                f"scoreboard needs workers, cores (threads) and max_apps >= 1, "
                f"got workers={workers} cores={cores} max_apps={max_apps}"
            )
        self.workers = workers
        self.cores = cores
        self.max_apps = max_apps
        self.keep_vars = keep_vars
        self._requests_at = _HEADER.size
        self._requests_all = struct.Struct(f"={workers}q")
        worker_area = _WORKER_SIZE + cores * _CORE_SIZE + max_apps * _PAIR.size
        first_worker = self._requests_at + workers * 8
        self._mem = mmap.mmap(-1, first_worker + workers * worker_area)
        self._slots = [
            WorkerSlot(self, wid, first_worker + (wid - 1) * worker_area)
            for wid in range(1, workers + 1)
        ]
        for slot in self._slots:
            slot._write_q(_W["signum"], -1)

    def worker(self, wid: int) -> WorkerSlot:
        """The slot of worker `wid` (1..workers)."""
        if not 1 <= wid <= self.workers:
            raise IndexError(f"worker id {wid} is outside 1..{self.workers}")
        return self._slots[wid - 1]

    def __iter__(self) -> Iterator[WorkerSlot]:
        return iter(self._slots)

    def total_requests(self) -> int:
        """Requests completed by every worker (uWSGI's workers[0].requests, `req: N/M`'s M)."""
        return sum(self._requests_all.unpack_from(self._mem, self._requests_at))

    @property
    def master_pid(self) -> int:
        return int(_Q.unpack_from(self._mem, 0)[0])

    @master_pid.setter
    def master_pid(self, pid: int) -> None:
        _Q.pack_into(self._mem, 0, pid)

    @property
    def generation(self) -> int:
        """Reload generation: bumped by the master at each graceful reload."""
        return int(_Q.unpack_from(self._mem, 8)[0])

    @generation.setter
    def generation(self, value: int) -> None:
        _Q.pack_into(self._mem, 8, value)


class WorkerSlot:
    """One worker's shared fields; attribute reads return the current shared values.

    Worker-side methods keep process-local copies of the counters they own (loaded from shared
    memory at the first write of each worker process), so a request costs a few `pack_into`s.
    """

    def __init__(self, board: Scoreboard, wid: int, offset: int) -> None:
        self.wid = wid
        self._mem = board._mem
        self._cores = board.cores
        self._max_apps = board.max_apps
        self._keep_vars = board.keep_vars
        self._base = offset
        self._requests_at = board._requests_at + (wid - 1) * 8
        cores_at = offset + _WORKER_SIZE
        self._core_offsets = [cores_at + c * _CORE_SIZE for c in range(board.cores)]
        self._apps_at = cores_at + board.cores * _CORE_SIZE
        self._apps_all = struct.Struct(f"={board.max_apps * 2}q")
        self._accounting_at = offset + _W["delta_requests"]
        self._user_harakiri_at = offset + _W["user_harakiri_deadline"]
        self._busy_since_at = offset + _W["busy_since"]
        # worker-process-local state, (re)loaded by _start_life in each worker process
        self._life = 0
        self._threaded = board.cores > 1
        self._lock = threading.Lock()
        self._busy_cores = 0
        self._user_harakiri_set = False
        self._requests = 0
        self._delta = self._exceptions = self._tx = self._avg_rt = self._running = 0
        self._core_counts: list[list[int]] = []
        self._app_counts: list[int] = []

    # -- raw access -------------------------------------------------------------------------

    def _read_q(self, field_offset: int) -> int:
        return int(_Q.unpack_from(self._mem, self._base + field_offset)[0])

    def _read_d(self, field_offset: int) -> float:
        return float(_D.unpack_from(self._mem, self._base + field_offset)[0])

    def _write_q(self, field_offset: int, value: int) -> None:
        _Q.pack_into(self._mem, self._base + field_offset, value)

    def _write_d(self, field_offset: int, value: float) -> None:
        _D.pack_into(self._mem, self._base + field_offset, value)

    def _core_at(self, core: int) -> int:
        if not 0 <= core < self._cores:
            raise IndexError(f"core {core} is outside 0..{self._cores - 1} of worker {self.wid}")
        return self._core_offsets[core]

    def _alive(self) -> bool:
        """True when the per-life fields were written by the current worker process."""
        return self._read_q(_W["life_pid"]) == self._read_q(_W["pid"])

    def _live_q(self, name: str, default: int = 0) -> int:
        return self._read_q(_W[name]) if self._alive() else default

    def _live_d(self, name: str) -> float:
        return self._read_d(_W[name]) if self._alive() else 0.0

    def _start_life(self) -> None:
        """First write of a new worker process: reset the per-life fields, load the counters
        this process now owns, then claim the per-life fields with its pid."""
        mem = self._mem
        self._lock = threading.Lock()
        self._busy_cores = 0
        self._user_harakiri_set = False
        self._write_q(_W["life_pid"], 0)
        self._requests = int(_Q.unpack_from(mem, self._requests_at)[0])
        _, self._exceptions, self._tx, self._avg_rt, self._running, _ = _ACCOUNTING.unpack_from(
            mem, self._accounting_at
        )
        self._delta = 0
        _ACCOUNTING.pack_into(
            mem,
            self._accounting_at,
            0,
            self._exceptions,
            self._tx,
            self._avg_rt,
            self._running,
            0.0,
        )
        self._core_counts = []
        for at in self._core_offsets:
            self._core_counts.append(list(_CORE_COUNTERS.unpack_from(mem, at)))
            seq = _Q.unpack_from(mem, at + _C["seq"])[0]
            _CORE_BEGIN.pack_into(mem, at + _C["in_request"], 0, 0.0, 0.0, 0, seq + seq % 2)
        self._app_counts = list(self._apps_all.unpack_from(mem, self._apps_at))
        _LIFE_RESET.pack_into(mem, self._base + _W["life_pid"], _process_pid, 0, -1, 0.0, 0)
        self._life = _process_pid

    # -- master side ------------------------------------------------------------------------

    def spawned(self, pid: int) -> None:
        """Master, at each (re)spawn, after fork: publish the pid, count the spawn (uWSGI counts
        the first one too, so respawn_count is 1 after the first spawn), clear `cheap`."""
        self._write_d(_W["last_spawn"], time.time())
        self._write_q(_W["respawn_count"], self._read_q(_W["respawn_count"]) + 1)
        self._write_q(_W["cheap"], 0)
        self._write_q(_W["pid"], pid)

    def exited(self) -> None:
        """Master, after reaping the worker: no pid, so its in-flight state reads as empty."""
        self._write_q(_W["pid"], 0)

    def harakiri_expired(self, now: float) -> bool:
        """Master's check: a core's harakiri or the user harakiri deadline has passed."""
        if self._read_q(_W["pid"]) == 0 or not self._alive():
            return False
        user = self._read_d(_W["user_harakiri_deadline"])
        if 0 < user <= now:
            return True
        return any(0 < d <= now for d in self._core_deadlines())

    def harakiri_kill_noted(self) -> None:
        """Master: the worker was killed by harakiri."""
        self._write_q(_W["harakiri_count"], self._read_q(_W["harakiri_count"]) + 1)

    def set_cheap(self, on: bool) -> None:
        """Master (cheaper): the worker is stopped to save resources; status "cheap"."""
        self._write_q(_W["cheap"], int(on))

    # -- worker side ------------------------------------------------------------------------

    def set_accepting(self, on: bool) -> None:
        if self._life != _process_pid:
            self._start_life()
        self._write_q(_W["accepting"], int(on))

    def set_websockets(self, count: int) -> None:
        """The WebSockets the worker's event loop holds open now (ASGI)."""
        if self._life != _process_pid:
            self._start_life()
        self._write_q(_W["websockets"], count)

    def set_paused(self, on: bool) -> None:
        """The worker is suspended (SIGTSTP); status "pause" while no core is busy."""
        self._write_q(_W["paused"], int(on))

    def begin_signal(self, signum: int) -> None:
        """The worker runs the handler of uwsgi signal `signum`; status "sigN"."""
        if self._life != _process_pid:
            self._start_life()
        self._write_q(_W["signum"], signum)

    def end_signal(self) -> None:
        if self._life != _process_pid:
            self._start_life()
        with self._lock:
            self._write_q(_W["signals"], self._read_q(_W["signals"]) + 1)
            self._write_q(_W["signum"], -1)

    def begin_request(self, core: int, vars: dict[str, str], harakiri: int) -> None:
        """A request starts on `core`: busy, request_start, harakiri deadline, vars for stats
        (up to VARS_CAPACITY bytes, cut at a variable boundary)."""
        if self._life != _process_pid:
            self._start_life()
        now = time.time()
        at = self._core_offsets[core]
        mem = self._mem
        seq = _Q.unpack_from(mem, at + _C["seq"])[0] + 1
        if self._keep_vars:
            blob = "\0".join(map("=".join, vars.items())).encode("latin-1", "replace")
            if len(blob) > VARS_CAPACITY:
                cut = blob.rfind(b"\0", 0, VARS_CAPACITY + 1)
                blob = blob[:cut] if cut > 0 else blob[:VARS_CAPACITY]
            _Q.pack_into(mem, at + _C["seq"], seq)
            mem[at + _CORE_HEAD_SIZE : at + _CORE_HEAD_SIZE + len(blob)] = blob
            size = len(blob)
        else:
            size = 0
        _CORE_BEGIN.pack_into(
            mem,
            at + _C["in_request"],
            1,
            now,
            now + harakiri if harakiri > 0 else 0.0,
            size,
            seq + 1,
        )
        if self._threaded:
            with self._lock:
                self._busy_cores += 1
                if self._busy_cores == 1:
                    _D.pack_into(mem, self._busy_since_at, now)
        else:
            self._busy_cores = 1
            _D.pack_into(mem, self._busy_since_at, now)

    def end_request(
        self,
        core: int,
        tx: int,
        rt_us: int,
        app_index: int,
        exception: bool,
        *,
        write_errors: int = 0,
        read_errors: int = 0,
    ) -> None:
        """A request ended: counters (worker, core, app), tx, avg_rt, idle when no core is busy,
        harakiri deadlines cleared. `app_index` is the App.id, or -1 when no app served it."""
        if self._life != _process_pid:
            self._start_life()
        mem = self._mem
        counts = self._core_counts[core]
        counts[0] += 1
        counts[4] += write_errors
        counts[5] += read_errors
        _CORE_END.pack_into(mem, self._core_offsets[core], *counts, 0, 0.0, 0.0)
        if self._threaded:
            with self._lock:
                self._account(tx, rt_us, app_index, exception)
        else:
            self._account(tx, rt_us, app_index, exception)

    def count_request(self, tx: int, rt_us: int, app_index: int, exception: bool) -> None:
        """A request served by the worker's event loop (ASGI), which holds no core."""
        if self._life != _process_pid:
            self._start_life()
        with self._lock:
            self._busy_cores += 1  # _account takes it off again: the cores' state is untouched
            self._account(tx, rt_us, app_index, exception)

    def _account(self, tx: int, rt_us: int, app_index: int, exception: bool) -> None:
        mem = self._mem
        self._requests += 1
        _Q.pack_into(mem, self._requests_at, self._requests)
        self._delta += 1
        self._tx += tx
        self._avg_rt = (self._avg_rt + rt_us) // 2
        self._running += rt_us
        if exception:
            self._exceptions += 1
        if self._busy_cores > 0:
            self._busy_cores -= 1
        _ACCOUNTING.pack_into(
            mem,
            self._accounting_at,
            self._delta,
            self._exceptions,
            self._tx,
            self._avg_rt,
            self._running,
            _D.unpack_from(mem, self._busy_since_at)[0] if self._busy_cores else 0.0,
        )
        if 0 <= app_index < self._max_apps:
            apps = self._app_counts
            i = app_index * 2
            apps[i] += 1
            if exception:
                apps[i + 1] += 1
            _PAIR.pack_into(mem, self._apps_at + i * 8, apps[i], apps[i + 1])
        if self._user_harakiri_set:
            self._user_harakiri_set = False
            _D.pack_into(mem, self._user_harakiri_at, 0.0)

    def set_user_harakiri(self, seconds: int) -> None:
        """uwsgi.set_user_harakiri: kill the worker if still running in `seconds`; 0 clears.
        Cleared at the end of the request, as uWSGI."""
        if self._life != _process_pid:
            self._start_life()
        self._user_harakiri_set = seconds > 0
        _D.pack_into(
            self._mem, self._user_harakiri_at, time.time() + seconds if seconds > 0 else 0.0
        )

    # -- reads ------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._read_q(_W["pid"])

    @property
    def accepting(self) -> int:
        return self._live_q("accepting")

    @property
    def requests(self) -> int:
        return int(_Q.unpack_from(self._mem, self._requests_at)[0])

    @property
    def delta_requests(self) -> int:
        """Requests since the last (re)spawn (what max-requests counts)."""
        return self._live_q("delta_requests")

    @property
    def exceptions(self) -> int:
        return self._read_q(_W["exceptions"])

    @property
    def websockets(self) -> int:
        """Open WebSockets of this life of the worker."""
        return self._live_q("websockets")

    @property
    def harakiri_count(self) -> int:
        return self._read_q(_W["harakiri_count"])

    @property
    def signals(self) -> int:
        return self._read_q(_W["signals"])

    @property
    def busy(self) -> bool:
        return self._alive() and any(
            _Q.unpack_from(self._mem, self._core_at(c) + _C["in_request"])[0]
            for c in range(self._cores)
        )

    @property
    def status(self) -> str:
        """uWSGI's order: cheap, pause (when not busy), sigN, busy, idle."""
        if self._read_q(_W["cheap"]):
            return "cheap"
        busy = self.busy
        if self._read_q(_W["paused"]) and not busy:
            return "pause"
        signum = self._live_q("signum", -1)
        if signum >= 0:
            return f"sig{signum}"
        return "busy" if busy else "idle"

    @property
    def last_spawn(self) -> float:
        return self._read_d(_W["last_spawn"])

    @property
    def respawn_count(self) -> int:
        return self._read_q(_W["respawn_count"])

    @property
    def tx(self) -> int:
        return self._read_q(_W["tx"])

    @property
    def avg_rt(self) -> int:
        """Running average response time in µs: (avg_rt + rt) / 2 at each request, as uWSGI."""
        return self._read_q(_W["avg_rt"])

    @property
    def running_time(self) -> int:
        """Total µs spent in requests."""
        return self._read_q(_W["running_time"])

    @property
    def harakiri_deadline(self) -> float:
        """The earliest harakiri deadline of a busy core (epoch seconds), 0 when none."""
        if not self._alive():
            return 0.0
        return min((d for d in self._core_deadlines() if d > 0), default=0.0)

    @property
    def user_harakiri_deadline(self) -> float:
        return self._live_d("user_harakiri_deadline")

    @property
    def busy_since(self) -> float:
        return self._live_d("busy_since")

    def _core_deadlines(self) -> list[float]:
        return [
            _D.unpack_from(self._mem, self._core_at(c) + _C["harakiri_deadline"])[0]
            for c in range(self._cores)
        ]

    def app_counters(self, app_index: int) -> tuple[int, int]:
        """(requests, exceptions) of app `app_index` in this worker."""
        if not 0 <= app_index < self._max_apps:
            return (0, 0)
        requests, exceptions = _PAIR.unpack_from(self._mem, self._apps_at + app_index * _PAIR.size)
        return (int(requests), int(exceptions))

    def core(self, core: int) -> dict[str, object]:
        """The stats `cores[]` object of one core, with uWSGI 2.0's keys."""
        at = self._core_at(core)
        requests, static, routed, offloaded, werr, rerr = _CORE_COUNTERS.unpack_from(
            self._mem, at + _C["requests"]
        )
        in_request, request_start, _, _, _ = _CORE_BEGIN.unpack_from(
            self._mem, at + _C["in_request"]
        )
        busy = bool(in_request) and self._alive()
        return {
            "id": core,
            "requests": requests,
            "static_requests": static,
            "routed_requests": routed,
            "offloaded_requests": offloaded,
            "write_errors": werr,
            "read_errors": rerr,
            "in_request": 1 if busy else 0,
            "vars": self._core_vars(at) if busy else [],
            "req_info": {"request_start": int(request_start)} if busy else {},
        }

    def _core_vars(self, at: int) -> list[str]:
        """The busy core's vars as "KEY=VALUE"; uWSGI ends a non-empty list with "" (kept for
        byte-compatible consumers). A read torn by a concurrent write is retried, then dropped."""
        mem = self._mem
        seq_at = at + _C["seq"]
        for _ in range(3):
            seq = _Q.unpack_from(mem, seq_at)[0]
            length = min(max(_Q.unpack_from(mem, at + _C["vars_len"])[0], 0), VARS_CAPACITY)
            blob = mem[at + _CORE_HEAD_SIZE : at + _CORE_HEAD_SIZE + length]
            if seq % 2 == 0 and _Q.unpack_from(mem, seq_at)[0] == seq:
                if not blob:
                    return []
                return [*blob.decode("latin-1").split("\0"), ""]
        return []
