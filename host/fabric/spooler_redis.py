"""The spooler on Redis Streams: `spooler = redis://HOST:PORT/DB?stream=NAME` (several instances,
on several hosts, may serve one stream).

Writing (`uwsgi.spool()`, `@spool`, every language's spool call): the task's vars and body are
packed with msgpack (never pickle: a shared or compromised Redis must not mean code execution in
every spooler) and XADDed to the stream `NAME`, or to `NAME:PRIORITY` for a numeric `priority`
(lower numbers are served first). A task with `at` in the future waits in the sorted set
`NAME[:PRIORITY]:delayed`, scored by its time, until a spooler moves it into its stream.

Serving: each spooler process is one consumer (`host:pid`) of the consumer group (`group=`,
default `polyhost`); it XREADGROUPs one task at a time, runs it in whichever runtime has the
spooler function (the same TaskRunner as the file spooler: log lines, spooler-harakiri, uWSGI's
return codes) and then: SPOOL_OK or SPOOL_IGNORE -> XACK + XDEL; SPOOL_RETRY (or an exception) ->
the task goes back to the delayed set for `spooler-frequency` seconds, then XACK. Tasks left
pending by a spooler that died (kill -9, a host lost) are taken over with XAUTOCLAIM once they
have been idle for `visibility=` seconds (default: spooler-harakiri + 30, or 300 without
harakiri), so delivery is at-least-once and no task is lost; a task may run twice if a spooler
dies after the task's work but before its XACK, or if a task outruns the visibility timeout.

A task whose `args`/`kwargs` are pickled (uwsgidecorators' file-spooler form) is refused: logged,
acknowledged and kept in the stream `NAME:refused` for a person to look at.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import msgpack
import redis

from polyhost.fabric.redis_url import redacted
from polyhost.fabric.spoolfile import SpoolError

DEFAULT_GROUP = "polyhost"
#: limits on what is read back from Redis (the task's vars and body as one msgpack document)
MAX_TASK_BYTES = 64 << 20
#: longest a spooler blocks in XREADGROUP before looking at delayed tasks and should_stop()
BLOCK_MS = 1000
#: seconds between moving due delayed tasks and looking for abandoned ones
CHORES_EVERY = 1.0
_PICKLE = b"\x80"

#: atomically move the due members of a delayed set into their stream (with the task field)
_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, task in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'task', string.sub(task, 17))
  redis.call('ZREM', KEYS[1], task)
end
return #due
"""


class StreamSpec:
    """A parsed `redis://...?stream=NAME[&group=G][&visibility=S]` spooler value."""

    def __init__(self, value: str, harakiri: int = 0) -> None:
        parts = urlsplit(value)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.value = value
        self.stream = query.pop("stream", "")
        if not self.stream:
            raise SpoolError(
                f"spooler {redacted(value)}: name the stream, as in"
                " spooler = redis://HOST:PORT/DB?stream=tasks"
            )
        self.group = query.pop("group", DEFAULT_GROUP)
        visibility = query.pop("visibility", "")
        try:
            self.visibility = (
                float(visibility) if visibility else (harakiri + 30 if harakiri else 300)
            )
        except ValueError:
            raise SpoolError(
                f"spooler {redacted(value)}: visibility={visibility} is not seconds"
            ) from None
        if query:
            raise SpoolError(
                f"spooler {redacted(value)}: unknown parameter(s) {', '.join(sorted(query))};"
                " known: stream, group, visibility"
            )
        self.url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self.shown = redacted(value)

    def client(self, timeout: float) -> redis.Redis:
        return redis.Redis.from_url(
            self.url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def stream_of(self, priority: str | None) -> str:
        return f"{self.stream}:{priority}" if priority else self.stream


def pack_task(vars: dict[bytes, bytes], body: bytes) -> bytes:
    return msgpack.packb({"vars": vars, "body": body}, use_bin_type=True)


def unpack_task(data: bytes) -> tuple[dict[bytes, bytes], bytes]:
    if len(data) > MAX_TASK_BYTES:
        raise SpoolError(f"a task of {len(data)} bytes is over the {MAX_TASK_BYTES}-byte limit")
    try:
        task = msgpack.unpackb(data, raw=True, strict_map_key=False, max_bin_len=MAX_TASK_BYTES)
        vars, body = task[b"vars"], task[b"body"]
    except (ValueError, KeyError, TypeError, msgpack.UnpackException) as exc:
        raise SpoolError(f"not a polyhost task ({exc})") from None
    if not isinstance(body, bytes) or not isinstance(vars, dict):
        raise SpoolError("not a polyhost task (vars or body of the wrong type)")
    if not all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in vars.items()):
        raise SpoolError("not a polyhost task (vars are not bytes)")
    return vars, body


class StreamWriter:
    """The writing side, one per process and spooler value (redis-py pools reconnect)."""

    _writers: dict[tuple[int, str], StreamWriter] = {}
    _lock = threading.Lock()

    def __init__(self, spec: StreamSpec, timeout: float) -> None:
        self.spec = spec
        self._redis = spec.client(timeout)

    @classmethod
    def of(cls, value: str, timeout: float = 4.0) -> StreamWriter:
        """This process's writer for a `spooler` value (a forked child makes its own)."""
        key = (os.getpid(), value)
        with cls._lock:
            writer = cls._writers.get(key)
            if writer is None:
                writer = cls._writers[key] = cls(StreamSpec(value), timeout)
            return writer

    def spool(
        self, vars: dict[bytes, bytes], body: bytes, priority: str | None, run_at: int
    ) -> str:
        """XADD the task (or park it in the delayed set until `run_at`); returns its name."""
        stream = self.spec.stream_of(priority)
        task = pack_task(vars, body)
        try:
            if run_at > time.time():
                # a unique 16-byte prefix so equal tasks stay two members of the set
                member = os.urandom(8).hex().encode() + task
                self._redis.zadd(f"{stream}:delayed", {member: run_at})
                if priority:
                    self._redis.sadd(f"{self.spec.stream}:priorities", priority)
                return f"{self.spec.shown}#delayed-{member[:16].decode()}"
            pipe = self._redis.pipeline(transaction=False)
            pipe.xadd(stream, {b"task": task})
            if priority:
                pipe.sadd(f"{self.spec.stream}:priorities", priority)
            entry_id = pipe.execute()[0]
        except redis.RedisError as exc:
            raise SpoolError(f"cannot spool a task to {self.spec.shown}: {exc}") from None
        return f"{self.spec.shown}#{stream}/{entry_id.decode()}"


class StreamSpooler:
    """A spooler process's consumer of one Redis stream (and its priority streams)."""

    def __init__(self, spec: StreamSpec, runner: Any, timeout: float) -> None:
        self.spec = spec
        #: the TaskRunner that runs each task (log lines, harakiri, return codes)
        self.runner = runner
        self.consumer = f"{socket.gethostname()}:{os.getpid()}"
        self._timeout = timeout
        self._redis = spec.client(timeout)
        self._blocking = redis.Redis.from_url(
            spec.url, socket_timeout=timeout + BLOCK_MS / 1000, socket_connect_timeout=timeout
        )
        self._groups: set[str] = set()
        self._move_due = self._redis.register_script(_MOVE_DUE)
        self._down_since = 0.0
        self._next_chores = 0.0
        self._known_streams: list[str] = []

    # -- streams and groups --

    def _streams(self) -> list[str]:
        """The priority streams, lower priorities first, then the plain stream."""
        priorities = sorted(
            (p.decode() for p in self._redis.smembers(f"{self.spec.stream}:priorities")),
            key=lambda p: (len(p), p),
        )
        streams = [self.spec.stream_of(p) for p in priorities if p.isdigit()]
        streams.append(self.spec.stream)
        for stream in streams:
            if stream not in self._groups:
                try:
                    self._redis.xgroup_create(stream, self.spec.group, id="0", mkstream=True)
                except redis.ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._groups.add(stream)
        return streams

    # -- the loop --

    def loop(self, handler: Callable[..., object], should_stop: Callable[[], bool]) -> None:
        runner = self.runner
        runner.pid = os.getpid()
        runner.tasks = 0
        while not should_stop():
            try:
                ran = self._serve_once(handler)
            except redis.RedisError as exc:
                self._groups.clear()  # a restarted Redis may have lost them: made again
                self._known_streams = []
                self._unreachable(exc)
                time.sleep(min(1.0, runner.frequency))  # bounded: Redis is down, retry
                continue
            if self._down_since:
                runner.log(f"[spooler {self.spec.shown}] Redis is reachable again")
                self._down_since = 0.0
            if ran and runner.reached_max_tasks():
                return

    def _unreachable(self, exc: Exception) -> None:
        if not self._down_since:
            self._down_since = time.monotonic()
            self.runner.log(
                f"[spooler {self.spec.shown}] cannot reach Redis ({exc}); retrying every second"
            )

    def _serve_once(self, handler: Callable[..., object]) -> bool:
        """Once a second: move due delayed tasks and take over abandoned ones; then run the next
        task, from the priority streams first, waiting up to BLOCK_MS for one."""
        if time.monotonic() >= self._next_chores or not self._known_streams:
            self._next_chores = time.monotonic() + CHORES_EVERY
            self._known_streams = self._streams()
            if self._chores(handler):
                return True
        streams = self._known_streams
        for stream in streams[:-1]:  # priority streams first, without waiting
            found = self._redis.xreadgroup(self.spec.group, self.consumer, {stream: ">"}, count=1)
            if found:
                entry_id, fields = found[0][1][0]
                self._run(stream, entry_id, fields, handler)
                return True
        found = self._blocking.xreadgroup(
            self.spec.group, self.consumer, {streams[-1]: ">"}, count=1, block=BLOCK_MS
        )
        if not found:
            return False
        entry_id, fields = found[0][1][0]
        self._run(streams[-1], entry_id, fields, handler)
        return True

    def _chores(self, handler: Callable[..., object]) -> bool:
        """Move the due delayed tasks into their streams; run one abandoned task if any."""
        now = time.time()
        for stream in self._known_streams:
            self._move_due(keys=[f"{stream}:delayed", stream], args=[now])
        for stream in self._known_streams:
            claimed = self._redis.xautoclaim(
                stream,
                self.spec.group,
                self.consumer,
                int(self.spec.visibility * 1000),
                "0-0",
                count=1,
            )
            entries = claimed[1] if claimed else []
            if entries:
                entry_id, fields = entries[0]
                self.runner.log(
                    f"[spooler {self.spec.shown}] took over task {entry_id.decode()} of"
                    f" {stream}, abandoned by a spooler for over {self.spec.visibility:g} s"
                )
                self._run(stream, entry_id, fields, handler)
                return True
        return False

    def _run(
        self,
        stream: str,
        entry_id: bytes,
        fields: dict[bytes, bytes],
        handler: Callable[..., object],
    ) -> None:
        from polyhost.fabric.spooler import SPOOL_RETRY

        name = f"{stream}/{entry_id.decode()}"
        try:
            vars, body = unpack_task(fields.get(b"task", b""))
        except SpoolError as exc:
            self._refuse(stream, entry_id, fields, f"it is {exc}")
            return
        pickled = [k.decode() for k in (b"args", b"kwargs") if vars.get(k, b"")[:1] == _PICKLE]
        if pickled and vars.get(b"ud_spool_codec") != b"msgpack":
            self._refuse(
                stream,
                entry_id,
                fields,
                f"its {' and '.join(pickled)} are pickled, and a Redis spooler runs no pickle",
            )
            return
        code = self.runner.execute(name, vars, body, handler)
        pipe = self._redis.pipeline(transaction=True)
        if code == SPOOL_RETRY:
            member = os.urandom(8).hex().encode() + fields[b"task"]
            pipe.zadd(f"{stream}:delayed", {member: time.time() + self.runner.frequency})
        pipe.xack(stream, self.spec.group, entry_id)
        pipe.xdel(stream, entry_id)
        pipe.execute()

    def _refuse(self, stream: str, entry_id: bytes, fields: dict[bytes, bytes], why: str) -> None:
        refused = f"{self.spec.stream}:refused"
        self.runner.log(
            f"[spooler {self.spec.shown}] refused task {stream}/{entry_id.decode()}: {why};"
            f" it is kept in the stream {refused}"
        )
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(refused, {b"from": stream.encode() + b"/" + entry_id, **fields}, maxlen=10000)
        pipe.xack(stream, self.spec.group, entry_id)
        pipe.xdel(stream, entry_id)
        pipe.execute()
