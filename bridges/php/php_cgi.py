"""php-cgi children in FastCGI mode, one per worker thread, and the FastCGI exchange with them.

php-cgi serves FastCGI when its stdin is a listening socket: each child gets its own unix socket
in a directory only the worker's user can enter, the worker connects once and keeps the
connection (FCGI_KEEP_CONN) for every request. Request bodies stream to PHP as STDIN records
while the response streams back (poll on the one socket, so neither side can fill the other's
buffer and wait forever); STDERR records (PHP's log_errors output) go to the instance log with
the script's name. A child that exits after PHP_FCGI_MAX_REQUESTS is replaced at once; one that
crashes mid-request answers 502 and is replaced. The record codec is polyhost.protocol.fastcgi.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from polyhost.bridges.cgi.response import CgiHead, CgiHeadError
from polyhost.bridges.channel import (
    EXIT_GRACE,
    ThreadChildPool,
    describe_process_exit,
    die_with_parent,
    kill_process,
    private_dir,
    reap_process,
)
from polyhost.dispatch import AppLoadError
from polyhost.protocol.fastcgi import (
    BEGIN_BODY,
    BEGIN_REQUEST,
    END_REQUEST,
    GET_VALUES,
    GET_VALUES_RESULT,
    KEEP_CONN,
    MAX_CONTENT,
    PARAMS,
    RESPONDER,
    STDERR,
    STDIN,
    STDOUT,
    FastCgiError,
    RecordReader,
    encode_pairs,
    record,
    stream,
)
from polyhost.request import BodyReader, ClientGone, Responder, ResponseAborted, simple_error

#: the one request id used on each child's connection (one request at a time)
REQUEST_ID = 1
#: bodies up to this size are sent with the request in one write
INLINE_BODY_MAX = 64 * 1024
READ_SIZE = 256 * 1024
#: seconds a new child gets to answer its first FastCGI management record
START_TIMEOUT = 30.0
#: how many requests before PHP_FCGI_MAX_REQUESTS the successor of a child is started
STANDBY_LEAD = 50
_POLL_ERR = select.POLLERR | select.POLLHUP | select.POLLNVAL

_BEGIN = record(BEGIN_REQUEST, REQUEST_ID, BEGIN_BODY.pack(RESPONDER, KEEP_CONN))
_END_PARAMS = record(PARAMS, REQUEST_ID)
_END_STDIN = record(STDIN, REQUEST_ID)


class ChildDied(Exception):
    """php-cgi exited or broke the protocol; the message says how."""


@dataclass(frozen=True)
class PhpCgiCommand:
    """How to start a php-cgi child."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    #: PHP_FCGI_MAX_REQUESTS: php-cgi exits after this many requests (0: never)
    max_requests: int


class PhpCgiChild:
    """One php-cgi process and the worker's FastCGI connection to it."""

    def __init__(
        self, command: PhpCgiCommand, sock_path: str, log: Callable[[str], None], prefix: str
    ) -> None:
        self.command = command
        self.sock_path = sock_path
        self.log = log
        self.prefix = prefix
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.reader = RecordReader()
        self.served = 0
        #: a request is under way (its END_REQUEST not read yet)
        self.busy = False
        #: False when PHP answered before taking the whole body: the connection holds stale
        #: STDIN records, so the child must be replaced
        self.clean = True

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def spawn(self) -> None:
        """Start php-cgi on a fresh listening socket and connect to it (it accepts later)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock_path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.sock_path)
            listener.listen(1)
            self.proc = subprocess.Popen(
                self.command.argv,
                stdin=listener.fileno(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=dict(self.command.env),
                preexec_fn=die_with_parent(os.getpid()),
            )
        except OSError as exc:
            raise AppLoadError(
                f"cannot start {self.command.argv[0]}: {exc.strerror or exc}"
            ) from exc
        finally:
            listener.close()
        threading.Thread(
            target=self._pump_output, name=f"{self.prefix} output", daemon=True
        ).start()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.sock_path)
        self.sock = sock
        self.reader = RecordReader()
        self.served = 0

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Ask for FCGI_MAX_CONNS and wait for the answer: php-cgi is up and speaks FastCGI."""
        assert self.sock is not None
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(record(GET_VALUES, 0, encode_pairs({"FCGI_MAX_CONNS": ""})))
            while True:
                rtype, _, _ = self._next_record()
                if rtype == GET_VALUES_RESULT:
                    return
        except TimeoutError:
            self.kill()
            raise AppLoadError(
                f"php-cgi (pid {self.pid}) did not answer within {timeout:g}s"
            ) from None
        except (ChildDied, OSError) as exc:
            raise AppLoadError(f"php-cgi {exc}") from None
        finally:
            if self.sock is not None:
                self.sock.settimeout(None)

    # -- one request -------------------------------------------------------------------------

    def serve(
        self,
        params: bytes,
        body: BodyReader,
        length: int,
        responder: Responder,
        script: str,
    ) -> CgiHead:
        """Run one request; returns the parsed head. Raises ChildDied, ClientGone."""
        sock = self.sock
        if sock is None:
            raise ChildDied("is not running")
        head = CgiHead()
        relay = _Relay(head, responder, self.log, f"{self.prefix} {script}:")
        if len(params) <= MAX_CONTENT:
            message = _BEGIN + record(PARAMS, REQUEST_ID, params) + _END_PARAMS
        else:
            message = _BEGIN + stream(PARAMS, REQUEST_ID, params) + _END_PARAMS
        self.busy = True
        try:
            if not length:
                self._send(message + _END_STDIN)
            elif length <= INLINE_BODY_MAX:
                data = body.read(length)
                self._send(message + stream(STDIN, REQUEST_ID, data) + _END_STDIN)
            else:
                self._send(message)
                self.clean = self._stream_body(body, length, relay)
            while not relay.ended:
                relay.record(*self._next_record(relay.release))
        except (FastCgiError, CgiHeadError) as exc:
            raise ChildDied(f"sent a malformed response ({exc})") from None
        relay.flush_errors()
        self.busy = False
        self.served += 1
        return head

    def _stream_body(self, body: BodyReader, length: int, relay: _Relay) -> bool:
        """Send STDIN while reading what PHP already answers (it may answer before reading).

        Returns False when PHP ended the request before the whole body was sent.
        """
        assert self.sock is not None
        sock = self.sock
        poller = select.poll()
        fd = sock.fileno()
        left = length
        pending = memoryview(b"")
        done = False
        while not done or pending:
            if not pending and not done:
                piece = body.read(min(MAX_CONTENT, left)) if left else b""
                left -= len(piece)
                if not piece:
                    if left:
                        raise ClientGone(f"the request body ended {left} bytes early")
                    done = True
                    pending = memoryview(_END_STDIN)
                else:
                    pending = memoryview(record(STDIN, REQUEST_ID, piece))
            poller.register(fd, select.POLLIN | select.POLLOUT)
            events = poller.poll()
            mask = events[0][1] if events else 0
            if mask & select.POLLIN:
                self._read_available(relay)
                if relay.ended:
                    return False  # PHP answered without reading the rest: stop sending
            if mask & select.POLLOUT:
                try:
                    sent = sock.send(pending, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    raise ChildDied(f"{self.exit_description()} (writing failed: {exc})") from None
                pending = pending[sent:]
            elif mask & _POLL_ERR and not mask & select.POLLIN:
                raise ChildDied(self.exit_description())
        return True

    def _read_available(self, relay: _Relay) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            raise ChildDied(f"{self.exit_description()} (reading failed: {exc})") from None
        if not data:
            raise ChildDied(self.exit_description())
        self.reader.feed(data)
        while not relay.ended and (rec := self.reader.next_record()) is not None:
            relay.record(*rec)

    def _send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ChildDied(f"{self.exit_description()} (writing failed: {exc})") from None

    def _next_record(
        self, before_waiting: Callable[[], None] = lambda: None
    ) -> tuple[int, int, bytes]:
        """The next record; `before_waiting` runs when none is at hand and PHP must be waited
        for (the relay sends what it holds)."""
        assert self.sock is not None
        while (rec := self.reader.next_record()) is None:
            before_waiting()
            try:
                data = self.sock.recv(READ_SIZE)
            except TimeoutError:
                raise
            except OSError as exc:
                raise ChildDied(f"{self.exit_description()} (reading failed: {exc})") from None
            if not data:
                raise ChildDied(self.exit_description())
            self.reader.feed(data)
        return rec

    # -- life ------------------------------------------------------------------------------

    def exit_description(self) -> str:
        return describe_process_exit(self.proc)

    def _pump_output(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        for raw in proc.stdout:
            self.log(f"{self.prefix} {raw.decode('utf-8', 'replace').rstrip()}")
        proc.stdout.close()

    def retire(self) -> None:
        """Close the connection and let the child exit (it does after its last request)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            reap_process(self.proc, time.monotonic() + EXIT_GRACE)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock_path)

    def kill(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        kill_process(self.proc)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock_path)


#: a response body up to this size that PHP sends in one go gets a Content-Length
HOLD_LIMIT = 64 * 1024


class _Relay:
    """Turns one request's records into the response: STDOUT to the client, STDERR to the log.

    The start of the body is held while more of it is already at hand: a response PHP sends in
    one go (the common case) then goes out with a Content-Length (keep-alive friendly, no
    chunked framing); output PHP flushes in pieces still streams as soon as PHP pauses.
    """

    __slots__ = ("ended", "errors", "head", "held", "log", "log_prefix", "responder", "started")

    def __init__(
        self, head: CgiHead, responder: Responder, log: Callable[[str], None], log_prefix: str
    ) -> None:
        self.head = head
        self.responder = responder
        self.log = log
        self.log_prefix = log_prefix
        self.started = False
        self.ended = False
        self.errors = bytearray()
        self.held: bytearray | None = None

    def record(self, rtype: int, request_id: int, content: bytes) -> None:
        if rtype == STDOUT:
            if not content:
                return
            if self.held is not None:
                self.held += content
                if len(self.held) > HOLD_LIMIT:
                    self.release()
                return
            if self.started:
                self.responder.write(content)
                return
            body = self.head.feed(content)
            if body is not None:
                self.started = True
                self.held = bytearray(body)
        elif rtype == STDERR:
            self.errors += content
            if len(self.errors) > 8192 or b"\n" in content:
                self.flush_errors(partial=True)
        elif rtype == END_REQUEST:
            self.ended = True
            if self.held is not None:
                code = int(self.head.status[:3])
                headers = self.head.headers
                if (
                    code not in (204, 304)
                    and code >= 200
                    and not any(name.lower() == "content-length" for name, _ in headers)
                ):
                    headers.append(("Content-Length", str(len(self.held))))
                self.release()
            elif not self.started:
                self.head.finish()
                self.started = True
                self.responder.start(self.head.status, self.head.headers)

    def release(self) -> None:
        """Send the head and what is held: PHP paused, so stream from here on."""
        held, self.held = self.held, None
        if held is not None:
            self.responder.start(self.head.status, self.head.headers)
            if held:
                self.responder.write(bytes(held))

    def flush_errors(self, partial: bool = False) -> None:
        data = self.errors
        if partial and len(data) <= 8192:
            cut = data.rfind(b"\n") + 1
            complete, self.errors = bytes(data[:cut]), data[cut:]
        else:
            complete, self.errors = bytes(data), bytearray()
        for line in complete.decode("utf-8", "replace").splitlines():
            if line.strip():
                self.log(f"{self.log_prefix} {line}")


class PhpCgiPool(ThreadChildPool[PhpCgiChild]):
    """The php-cgi children of one worker: one per thread, replaced when they exit or die."""

    def __init__(
        self, command: PhpCgiCommand, log: Callable[[str], None], worker_id: int, size: int
    ) -> None:
        super().__init__(log, worker_id, size, f"[php w{worker_id}]")
        self.command = command
        self.dir = private_dir(f"polyhost-php-w{worker_id}-")
        self._counter = itertools.count(1)

    def _create_child(self) -> PhpCgiChild:
        path = os.path.join(self.dir, f"php-{next(self._counter)}.sock")
        return PhpCgiChild(self.command, path, self.log, self.prefix)

    def _replace(self, child: PhpCgiChild, retired: bool) -> None:
        """Put this thread's next child in place: the standby if one is warming up."""
        if retired:  # it exits by itself after its last request: reap it off the hot path
            threading.Thread(target=child.retire, name=f"{self.prefix} reap", daemon=True).start()
        else:
            child.kill()
        self._forget(child)
        standby: PhpCgiChild | None = getattr(self._local, "standby", None)
        if standby is not None:
            self._local.standby = None
            self._local.child = standby
            return
        try:
            self.child()
        except AppLoadError as exc:
            self.log(f"{self.prefix} {exc}")

    def _prepare_successor(self, child: PhpCgiChild) -> None:
        """Near PHP_FCGI_MAX_REQUESTS, start the next child so PHP has booted when it's needed."""
        max_requests = self.command.max_requests
        lead = max(1, min(max_requests // 2, STANDBY_LEAD))
        if child.served < max_requests - lead or getattr(self._local, "standby", None):
            return
        standby = self._new_child()
        try:
            standby.spawn()
        except AppLoadError as exc:
            self._untrack(standby)
            self.log(f"{self.prefix} {exc}")
            return
        self._local.standby = standby

    def serve(
        self,
        params: bytes,
        body: BodyReader,
        length: int,
        responder: Responder,
        script: str,
    ) -> int:
        """Serve one request on this thread's child; returns the HTTP status sent."""
        try:
            child = self.child()
        except AppLoadError as exc:
            self.log(f"{self.prefix} {exc}")
            simple_error(responder, 502, "php-cgi could not be started")
            return 502
        if child.proc is not None and child.proc.poll() is not None:
            self.log(f"{self.prefix} php-cgi {child.exit_description()} while idle; respawning")
            self._replace(child, retired=False)
            child = self.child()
        try:
            head = child.serve(params, body, length, responder, script)
        except ChildDied as exc:
            self._replace(child, retired=False)
            self.log(
                f"{self.prefix} php-cgi {exc} while running {script}; answering 502 and "
                "respawning it"
            )
            if responder.started:
                raise ResponseAborted("php-cgi died mid-response") from None
            simple_error(responder, 502, "the PHP process died while handling this request")
            return 502
        except (ClientGone, ResponseAborted):
            if child.busy:  # mid-response with nobody to read it: replace it, don't drain it
                self._replace(child, retired=False)
            raise
        max_requests = self.command.max_requests
        if max_requests and child.served >= max_requests:
            self._replace(child, retired=True)
        elif not child.clean:
            self._replace(child, retired=False)
        elif max_requests:
            self._prepare_successor(child)
        return int(head.status[:3])

    def close(self, grace: float = EXIT_GRACE) -> None:
        with self._lock:
            children = list(self._all)
            self._all.clear()
            self._idle.clear()
        for child in children:
            if child.sock is not None:
                child.sock.close()
                child.sock = None
            if child.proc is not None and child.proc.poll() is None:
                child.proc.terminate()
        deadline = time.monotonic() + grace
        for child in children:
            if child.proc is not None:
                reap_process(child.proc, deadline)
        shutil.rmtree(self.dir, ignore_errors=True)
