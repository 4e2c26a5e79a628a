"""The worker's side of the bridge to child runtimes (PSGI, Rack, later others).

A `Channel` is one child interpreter on the other end of a socketpair: it spawns the child,
waits for HELLO, relays one request at a time as uwsgi packets (bridges/PROTOCOL.md) and serves
the child's CALLs while it waits. A `ChannelPool` gives each worker thread its own channel and
replaces children that die (its checkout logic, `ThreadChildPool`, is shared with php-cgi's
pool). Nothing here knows Perl or Ruby: a runtime describes its child with a
`ChildProgram`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from polyhost.dispatch import AppLoadError
from polyhost.protocol.response_head import BadResponse
from polyhost.protocol.uwsgi import (
    HEADER,
    MAX_PACKET,
    PacketError,
    decode_array,
    decode_vars,
    encode_array,
    encode_vars,
    iter_vars,
)
from polyhost.request import (
    BodyReader,
    ClientGone,
    Request,
    Responder,
    ResponseAborted,
    simple_error,
)

# packet types (modifier1) of the bridge protocol
HELLO = 200
FAIL = 201
REQUEST = 202
BODY = 203
READ = 204
START = 205
SENDFILE = 206
END = 207
CALL = 210
RESULT = 211
LOG = 212
CONFIG = 213

#: modifier2 bit: another packet of the same message follows
MORE = 0x80
#: FAIL modifier2: the runtime library itself (Plack, rack) is missing, not the app
FAIL_RUNTIME_MISSING = 1

#: request bodies up to this size go to the child with the request, in the same write
INLINE_BODY_MAX = 64 * 1024
#: how much one recv may take from the child
READ_SIZE = 256 * 1024
#: environment variable naming the child's end of the socketpair
BRIDGE_FD_ENV = "POLYHOST_BRIDGE_FD"
#: seconds a closing child gets to exit on its own before SIGKILL
EXIT_GRACE = 5.0
#: lines of a child's output kept to explain a load failure
OUTPUT_LINES_KEPT = 40

#: answers a child's CALL: (op, args) -> results; raise CallError for an error RESULT
CallHandler = Callable[[bytes, list[bytes]], list[bytes]]

_PR_SET_PDEATHSIG = 1


class CallError(Exception):
    """A CALL answered with an error (in either direction); the message is for the caller."""


class ChildDied(Exception):
    """The child exited or broke the protocol; the message says how."""


class FailedMidResponse(ResponseAborted):
    """The app raised after its response started (END says `cut`): the error is logged and the
    connection closed without finishing the response, so the client sees it truncated."""


@dataclass(frozen=True)
class ChildProgram:
    """How to start the child of one app: what to run and what to tell it in CONFIG."""

    #: runtime name ("psgi", "rack"): log prefix and messages
    runtime: str
    #: interpreter (absolute path) and the child program, plus interpreter flags
    argv: tuple[str, ...]
    #: the app file (absolute), for messages
    app: str
    #: CONFIG vars sent before the child loads the app (repeated keys allowed)
    config: tuple[tuple[str, str], ...]
    #: Debian package providing the runtime library, named when the child reports it missing
    library_package: str
    #: the library's name as users know it ("Plack", "rack")
    library: str
    load_timeout: float = 60.0
    #: bridge sockets to the one child (`--coroae N`: N, each a Coro thread in the child)
    lanes: int = 1


def frames(modifier1: int, payload: bytes, modifier2: int = 0) -> bytes:
    """One logical message as packets: split at 64 KiB with the MORE bit on all but the last."""
    size = len(payload)
    if size <= MAX_PACKET:
        return HEADER.pack(modifier1, size, modifier2) + payload
    out = bytearray()
    view = memoryview(payload)
    for pos in range(0, size, MAX_PACKET):
        piece = view[pos : pos + MAX_PACKET]
        last = pos + MAX_PACKET >= size
        out += HEADER.pack(modifier1, len(piece), modifier2 if last else modifier2 | MORE)
        out += piece
    return bytes(out)


def body_frames(data: bytes) -> bytes:
    """A whole body as BODY packets, the last one flagged (modifier2 1)."""
    size = len(data)
    if size <= MAX_PACKET:
        return HEADER.pack(BODY, size, 1) + data
    out = bytearray()
    view = memoryview(data)
    for pos in range(0, size, MAX_PACKET):
        piece = view[pos : pos + MAX_PACKET]
        out += HEADER.pack(BODY, len(piece), 1 if pos + MAX_PACKET >= size else 0)
        out += piece
    return bytes(out)


def private_dir(prefix: str) -> str:
    """A new directory only this user can enter, for sockets (short: a unix path is limited)."""
    base = tempfile.gettempdir()
    if len(base) > 60:
        base = "/tmp"
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


def describe_process_exit(proc: subprocess.Popen[bytes] | None) -> str:
    """How a child ended, for ChildDied and the log; waits up to EXIT_GRACE for it to end."""
    if proc is None:
        return "is not running"
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=EXIT_GRACE)
    return f"(pid {proc.pid}) {describe_exit(proc.returncode)}"


def reap_process(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait for `proc` until `deadline` (time.monotonic()), then SIGKILL it."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    if proc.returncode is None:
        proc.kill()
        proc.wait(timeout=EXIT_GRACE)


def kill_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL a child that still runs and wait (bounded) for it."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=EXIT_GRACE)


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """preexec_fn: the child gets SIGKILL when the worker dies (even by SIGKILL, e.g. harakiri).

    PR_SET_PDEATHSIG fires when the spawning *thread* exits; workers keep their threads for life.
    """
    import ctypes  # here, before the fork: not in every process that lists the runtimes

    libc = ctypes.CDLL(None, use_errno=True)

    def setup() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the worker died before prctl took effect
            os._exit(1)

    return setup


class Channel:
    """One child interpreter serving one app, used by one worker thread at a time."""

    def __init__(
        self,
        program: ChildProgram,
        log: Callable[[str], None],
        worker_id: int,
        calls: CallHandler,
    ) -> None:
        self.program = program
        self.log = log
        self.worker_id = worker_id
        self.calls = calls
        self.prefix = f"[{program.runtime} w{worker_id}]"
        #: set by the output pump at EOF: the child exited (or closed its stdout/stderr)
        self._output_closed = False
        self.hello: dict[str, str] = {}
        self.ready = False
        #: set when the child asked to be retired after the current request (harakiri commit)
        self.retiring = False
        #: a request was sent and its END not yet received
        self.busy = False
        self.proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._buf = b""
        self._pos = 0
        self._body: BodyReader | None = None
        self._body_left: int | None = None
        self._depth = 0
        self._lock = threading.RLock()
        self._output: deque[str] | None = deque(maxlen=OUTPUT_LINES_KEPT)
        self._pump: threading.Thread | None = None
        #: the child's other bridge sockets (`lanes` > 1), set by `spawn`, for other threads
        self.lanes: list[Channel] = []

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def spawn(self) -> None:
        """Start the child and send CONFIG; `wait_ready` then waits for its HELLO. With more
        than one lane the child gets a socket per lane; `lanes` holds the other lanes' channels
        (same process, each says HELLO on its own socket)."""
        pairs = [
            socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            for _ in range(max(1, self.program.lanes))
        ]
        child_fds = tuple(child_end.fileno() for _, child_end in pairs)
        env = dict(os.environ)
        env[BRIDGE_FD_ENV] = ",".join(map(str, child_fds))
        try:
            self.proc = subprocess.Popen(
                self.program.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=child_fds,
                env=env,
                preexec_fn=die_with_parent(os.getpid()),
            )
        except OSError as exc:
            for parent_end, _ in pairs:
                parent_end.close()
            raise AppLoadError(
                f"{self.program.runtime} app {self.program.app}: cannot start "
                f"{self.program.argv[0]}: {exc.strerror}"
            ) from exc
        finally:
            for _, child_end in pairs:
                child_end.close()
        parent_end = pairs[0][0]
        self._sock = parent_end
        self.lanes = [self._lane(lane_end) for lane_end, _ in pairs[1:]]
        self._pump = threading.Thread(
            target=self._pump_output, name=f"{self.prefix} output", daemon=True
        )
        self._pump.start()
        with contextlib.suppress(OSError):  # a child already gone is reported by wait_ready
            parent_end.sendall(frames(CONFIG, encode_vars(self.program.config)))

    def _lane(self, sock: socket.socket) -> Channel:
        """Another bridge socket to this channel's child: its own requests, the same process."""
        lane = Channel(self.program, self.log, self.worker_id, self.calls)
        lane.proc = self.proc
        lane._sock = sock
        lane._output = None
        return lane

    def wait_ready(self) -> None:
        """Wait for HELLO (serving calls meanwhile); raise AppLoadError on FAIL, exit or timeout."""
        assert self._sock is not None
        program = self.program
        deadline = time.monotonic() + program.load_timeout
        try:
            while True:
                self._sock.settimeout(max(0.001, deadline - time.monotonic()))
                mod1, payload, mod2 = self._next_message()
                if mod1 == HELLO:
                    self.hello = decode_vars(payload)
                    break
                if mod1 == FAIL:
                    self.kill()
                    raise AppLoadError(self._fail_message(payload, mod2))
                self._serve_side_packet(mod1, payload, "loading")
        except TimeoutError:
            self.kill()
            raise AppLoadError(
                f"{program.runtime} app {program.app}: the {program.runtime} child (pid "
                f"{self.pid}) did not finish loading within {program.load_timeout:g}s"
            ) from None
        except (ChildDied, PacketError) as exc:
            self.kill()  # it may still run after breaking the protocol
            output = self._collected_output()
            reason = exc if isinstance(exc, ChildDied) else f"sent a malformed packet ({exc})"
            raise AppLoadError(
                f"{program.runtime} app {program.app}: the {program.runtime} child "
                f"{reason} before loading the app" + (f":\n{output}" if output else "")
            ) from None
        finally:
            if self._sock is not None:
                self._sock.settimeout(None)
        self.ready = True
        self._output = None

    def _fail_message(self, payload: bytes, mod2: int) -> str:
        program = self.program
        text = payload.decode("utf-8", "replace").rstrip()
        if mod2 == FAIL_RUNTIME_MISSING:
            return (
                f"{program.runtime} app {program.app}: {program.library} is not installed "
                f"({text}); install the Debian package {program.library_package} "
                f"(apt-get install {program.library_package})"
            )
        return f"{program.runtime} app {program.app} failed to load: {text}"

    def exited(self) -> bool:
        """The child is gone. Asked before every request: true once the child's output pipe
        has closed and it was reaped, or once its end of the socketpair is closed (a child
        killed a moment ago, before the thread reading its output saw the pipe close)."""
        if self.proc is None:
            return True
        if self._output_closed and self.proc.poll() is not None:
            return True
        return self._peer_closed()

    def _peer_closed(self) -> bool:
        """The child's end of the socketpair is closed (one non-blocking peek, no wait)."""
        if self._sock is None:
            return True
        try:
            return self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    # -- requests ----------------------------------------------------------------------------

    def serve(self, request: Request, responder: Responder) -> bool:
        """Relay one request; True when the app raised (the child already answered 500).

        Raises ChildDied (nothing of the response may be trusted) and ClientGone.
        """
        with self._lock:
            try:
                self._send_request(request)
                self.busy = True
                failed = self._relay_response(responder)
                self.busy = False
                return failed
            except (BadResponse, FailedMidResponse):
                self.busy = False  # that response was read to its END: the channel is in step
                raise
            except PacketError as exc:
                raise ChildDied(f"sent a malformed packet ({exc})") from None
            finally:
                self._body = None

    def _send_request(self, request: Request) -> None:
        vars_block = encode_vars(request.vars)
        length = request.content_length
        if (length is not None and length <= INLINE_BODY_MAX) or (
            length is None and "HTTP_TRANSFER_ENCODING" not in request.vars
        ):
            body = request.body.read(length) if length else b""
            self._send(frames(REQUEST, vars_block, 1) + body_frames(body))
        else:
            self._body = request.body
            self._body_left = length
            self._send(frames(REQUEST, vars_block, 0))

    def _relay_response(self, responder: Responder) -> bool:
        """Relay the child's response up to its END. A head the responder refuses (a status
        or header that would forge bytes on the wire) is raised only after the rest of that
        response was read and dropped, so the channel stays in step for the next request."""
        started = False
        refused: BadResponse | None = None
        while True:
            mod1, payload, _ = self._next_message()
            if mod1 == BODY:
                if not started:
                    raise ChildDied("sent body bytes before the status")
                if refused is None:
                    responder.write(payload)
            elif mod1 == START:
                pairs = list(iter_vars(payload))
                if not pairs or pairs[0][0] != "STATUS":
                    raise ChildDied("sent a START packet without STATUS")
                try:
                    responder.start(pairs[0][1], pairs[1:])
                except BadResponse as exc:
                    refused = exc
                started = True
            elif mod1 == END:
                failed = self._end_of_response(payload)
                if refused is not None:
                    raise refused
                return failed
            elif mod1 == READ:
                self._answer_read()
            elif mod1 == SENDFILE:
                if not started:
                    raise ChildDied("sent a file before the status")
                if refused is None:
                    self._sendfile(payload, responder)
            else:
                self._serve_side_packet(mod1, payload, "a request")

    def _end_of_response(self, payload: bytes) -> bool:
        if not payload:
            return False
        info = decode_vars(payload)
        if info.get("error"):
            for line in info["error"].rstrip("\n").split("\n"):
                self.log(f"{self.prefix} {line}")
        if info.get("harakiri") == "1":
            self.retiring = True
        if info.get("cut") == "1":
            raise FailedMidResponse("the app failed after its response started")
        return info.get("exception") == "1"

    def _answer_read(self) -> None:
        body = self._body
        if body is None:
            self._send(HEADER.pack(BODY, 0, 1))
            return
        left = self._body_left
        want = MAX_PACKET if left is None else min(MAX_PACKET, left)
        piece = body.read(want) if want else b""
        if left is not None:
            left -= len(piece)
            self._body_left = left
        last = not piece or left == 0
        if last:
            self._body = None
        self._send(HEADER.pack(BODY, len(piece), 1 if last else 0) + piece)

    def _sendfile(self, payload: bytes, responder: Responder) -> None:
        spec = decode_vars(payload)
        path = spec.get("path", "")
        offset = int(spec.get("offset") or 0)
        count = int(spec["count"]) if spec.get("count") else None
        try:
            with open(path, "rb") as file:
                responder.sendfile(file, offset, count)
        except ClientGone:
            raise
        except OSError as exc:
            self.log(f"{self.prefix} cannot send the file {path!r} the app named: {exc.strerror}")
            raise ResponseAborted(f"file body {path!r} unreadable") from None

    # -- calls -------------------------------------------------------------------------------

    def call(self, op: bytes, args: list[bytes]) -> list[bytes]:
        """Call `op` in the child (an RPC function, a signal handler...), serving its calls.

        Raises CallError when the child answers with an error, ChildDied when it is gone."""
        with self._lock:
            self._depth += 1
            try:
                self._send(frames(CALL, encode_array([op, *args]), self._depth & 0x7F))
                while True:
                    mod1, payload, mod2 = self._next_message()
                    if mod1 == RESULT:
                        items = decode_array(payload)
                        if mod2 == 1:
                            raise CallError(items[0].decode("utf-8", "replace") if items else "")
                        return items
                    self._serve_side_packet(mod1, payload, f"the call {op.decode('latin-1')}")
            finally:
                self._depth -= 1

    def _serve_side_packet(self, mod1: int, payload: bytes, during: str) -> None:
        """CALL and LOG may arrive at any time; anything else here breaks the protocol."""
        if mod1 == CALL:
            self._serve_call(payload)
        elif mod1 == LOG:
            text = payload.decode("utf-8", "replace").rstrip("\n")
            for line in text.split("\n"):
                self.log(f"{self.prefix} {line}")
        else:
            raise ChildDied(f"sent an unexpected packet (type {mod1}) during {during}")

    def _serve_call(self, payload: bytes) -> None:
        items = decode_array(payload)
        if not items:
            raise ChildDied("sent an empty CALL")
        op, args = items[0], items[1:]
        try:
            reply = frames(RESULT, encode_array(self.calls(op, args)), 0)
        except CallError as exc:
            reply = frames(RESULT, encode_array([str(exc).encode()]), 1)
        except Exception as exc:
            message = f"{op.decode('latin-1')} failed in the worker: {type(exc).__name__}: {exc}"
            self.log(f"{self.prefix} {message}")
            reply = frames(RESULT, encode_array([message.encode()]), 1)
        self._send(reply)

    # -- packets -----------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise ChildDied("was already stopped")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise ChildDied(f"{self.exit_description()} (writing to it failed: {exc})") from None

    def _next_message(self) -> tuple[int, bytes, int]:
        mod1, payload, mod2 = self._next_packet()
        if mod2 & MORE:
            parts = [payload]
            while mod2 & MORE:
                _, piece, mod2 = self._next_packet()
                parts.append(piece)
            payload = b"".join(parts)
        return mod1, payload, mod2

    def _next_packet(self) -> tuple[int, bytes, int]:
        buf = self._buf
        pos = self._pos
        if len(buf) - pos >= 4:
            mod1, size, mod2 = HEADER.unpack_from(buf, pos)
            end = pos + 4 + size
            if end <= len(buf):
                if end == len(buf):
                    self._buf = b""
                    self._pos = 0
                else:
                    self._pos = end
                return mod1, buf[pos + 4 : end], mod2
        return self._fill_and_next()

    def _fill_and_next(self) -> tuple[int, bytes, int]:
        if self._sock is None:
            raise ChildDied("was already stopped")
        while True:
            try:
                chunk = self._sock.recv(READ_SIZE)
            except TimeoutError:
                raise
            except OSError as exc:
                raise ChildDied(f"{self.exit_description()} (reading failed: {exc})") from None
            if not chunk:
                raise ChildDied(self.exit_description())
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
            buf = self._buf
            if len(buf) >= 4:
                _, size, _ = HEADER.unpack_from(buf, 0)
                if len(buf) >= 4 + size:
                    return self._next_packet()

    def exit_description(self) -> str:
        return describe_process_exit(self.proc)

    # -- output and shutdown -----------------------------------------------------------------

    def _pump_output(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            output = self._output
            if output is not None:
                output.append(line)
            self.log(f"{self.prefix} {line}")
        proc.stdout.close()
        self._output_closed = True

    def _collected_output(self) -> str:
        if self._pump is not None:
            self._pump.join(timeout=EXIT_GRACE)
        return "\n".join(self._output or ())

    def close(self) -> None:
        """Ask the child to exit (EOF on its socket); `reap` waits for it. A thread blocked on
        this channel wakes up with ChildDied."""
        sock = self._sock
        if sock is not None:
            self._sock = None
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def reap(self, deadline: float) -> None:
        """Wait for the child until `deadline` (time.monotonic()), then SIGKILL it."""
        self.close()
        if self.proc is not None:
            reap_process(self.proc, deadline)

    def kill(self) -> None:
        self.close()
        kill_process(self.proc)


class PooledChild(Protocol):
    """What `ThreadChildPool` needs of a child process."""

    def spawn(self) -> None: ...

    def wait_ready(self) -> None: ...


ChildT = TypeVar("ChildT", bound=PooledChild)


class ThreadChildPool(Generic[ChildT]):
    """Child processes checked out one per worker thread: a prespawned idle one, else a new one.

    Subclasses say how a child is made (`_create_child`) and how all of them stop (`close`).
    """

    def __init__(self, log: Callable[[str], None], worker_id: int, size: int, prefix: str) -> None:
        self.log = log
        self.worker_id = worker_id
        self.size = max(1, size)
        self.prefix = prefix
        self._idle: list[ChildT] = []
        self._all: list[ChildT] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        #: held while a thread with no child takes an idle one or spawns one
        self._spawning = threading.Lock()

    def _create_child(self) -> ChildT:
        raise NotImplementedError

    def close(self, grace: float = EXIT_GRACE) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Spawn one child per thread, all loading at once; raise AppLoadError if one fails."""
        children: list[ChildT] = []
        try:
            while len(children) < self.size:  # a child serving several lanes counts for each
                child = self._new_child()
                child.spawn()
                children += [child, *self._adopt_lanes(child, idle=False)]
            for child in children:
                child.wait_ready()
        except AppLoadError:
            self.close(grace=0)
            raise
        self._idle.extend(children)

    def _lanes_of(self, child: ChildT) -> list[ChildT]:
        """The other lanes of a child that serves several threads at once (none here)."""
        return []

    def _adopt_lanes(self, child: ChildT, idle: bool = True) -> list[ChildT]:
        """A child serving several threads at once: its other lanes, tracked (and made idle,
        for other threads, unless the caller does it)."""
        lanes = self._lanes_of(child)
        with self._lock:
            self._all.extend(lanes)
            if idle:
                self._idle.extend(lanes)
        return lanes

    def _new_child(self) -> ChildT:
        child = self._create_child()
        with self._lock:
            self._all.append(child)
        return child

    def _untrack(self, child: ChildT) -> None:
        with self._lock:
            if child in self._all:
                self._all.remove(child)

    def _forget(self, child: ChildT) -> None:
        """This thread no longer has `child`; the caller has stopped it or is retiring it."""
        self._local.child = None
        self._untrack(child)

    def child(self) -> ChildT:
        """This thread's child, taking an idle one or spawning one (not yet waited for)."""
        child: ChildT | None = getattr(self._local, "child", None)
        if child is None:
            with self._spawning:  # a thread waiting here takes a lane of the child just spawned
                with self._lock:
                    child = self._idle.pop() if self._idle else None
                if child is None:
                    child = self._new_child()
                    try:
                        child.spawn()
                    except AppLoadError:
                        self._forget(child)
                        raise
                    self._adopt_lanes(child)
            self._local.child = child
        return child


class ChannelPool(ThreadChildPool[Channel]):
    """The children of one app in one worker: one per worker thread, replaced when they die."""

    def __init__(
        self,
        program: ChildProgram,
        log: Callable[[str], None],
        worker_id: int,
        calls: CallHandler,
        size: int,
    ) -> None:
        super().__init__(log, worker_id, size, f"[{program.runtime} w{worker_id}]")
        self.program = program
        self.calls = calls
        self._closed = False
        #: the pid of the last child found dead between requests (logged once for all lanes)
        self._reported_dead = 0

    def _create_child(self) -> Channel:
        return Channel(self.program, self.log, self.worker_id, self.calls)

    def _lanes_of(self, child: Channel) -> list[Channel]:
        return child.lanes

    def _discard(self, channel: Channel) -> None:
        channel.kill()
        self._forget(channel)
        with self._lock:  # its idle sibling lanes (same process) are gone with it
            lanes = [lane for lane in self._idle if lane.proc is channel.proc]
            for lane in lanes:
                self._idle.remove(lane)
                self._all.remove(lane)
        for lane in lanes:
            lane.close()

    def ready_channel(self) -> Channel:
        """This thread's channel with its app loaded; raises AppLoadError."""
        channel = self.child()
        while channel.ready and channel.exited():
            if channel.pid != self._reported_dead:  # once for a child, not for each of its lanes
                self._reported_dead = channel.pid
                self.log(f"{self.prefix} child {channel.exit_description()} while idle; respawning")
            self._discard(channel)
            channel = self.child()
        if not channel.ready:
            try:
                channel.wait_ready()
            except AppLoadError:
                self._discard(channel)
                raise
        return channel

    def _abandon(self, channel: Channel) -> None:
        """Give up a channel mid-response. A lane of a child that serves other threads too is
        only closed (the child ends that Coro thread; the others' requests go on); this thread
        takes another lane. A child of its own is replaced."""
        if self.program.lanes > 1:
            channel.close()
            self._forget(channel)
        else:
            self._respawn(channel)

    def _respawn(self, old: Channel) -> None:
        """Kill `old` and start its successor, which loads while this request is answered."""
        self._discard(old)
        if self._closed:
            return
        try:
            self.child()
        except AppLoadError as exc:
            self.log(f"{self.prefix} {exc}")

    def serve(self, request: Request, responder: Responder) -> bool:
        """Serve one request on this thread's child; True when the request failed (5xx)."""
        runtime = self.program.runtime
        try:
            channel = self.ready_channel()
        except AppLoadError as exc:
            self.log(f"{self.prefix} {exc}")
            simple_error(responder, 502, f"the {runtime} app could not be loaded")
            return True
        try:
            failed = channel.serve(request, responder)
        except ChildDied as exc:
            self._respawn(channel)
            method = request.vars.get("REQUEST_METHOD", "")
            uri = request.vars.get("REQUEST_URI") or request.vars.get("PATH_INFO", "")
            self.log(
                f"{self.prefix} the {runtime} child of worker {self.worker_id} {exc} during "
                f"{method} {uri}; answering 502 and respawning it"
            )
            if responder.started:
                raise ResponseAborted(f"the {runtime} child died mid-response") from None
            simple_error(
                responder, 502, f"the {runtime} app's process died while handling this request"
            )
            return True
        except (ClientGone, ResponseAborted):
            if channel.busy:  # mid-response with nobody to read it: replace it, don't drain it
                self._abandon(channel)
            raise
        if channel.retiring:
            self._respawn(channel)
        return failed

    def close(self, grace: float = EXIT_GRACE) -> None:
        """Stop every child: EOF first, then SIGKILL for those still running after `grace`."""
        with self._lock:
            self._closed = True
            channels = list(self._all)
            self._all.clear()
            self._idle.clear()
        for channel in channels:
            channel.close()
        deadline = time.monotonic() + grace
        for channel in channels:
            channel.reap(deadline)
