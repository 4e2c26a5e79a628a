"""A worker process: accept -> parse -> dispatch by modifier1 -> respond -> log.

One epoll loop multiplexes the listeners and idle keep-alive connections; a connection with a
complete request head is served synchronously (threads = 1) or by one of N request threads.
Harakiri is watched here too: at the deadline a stuck request's client gets a 504 (when nothing
was sent yet) and the master then kills the worker.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import queue
import select
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyhost import async_cores, routing, websocket
from polyhost.conn_keeper import WorkerLink
from polyhost.dispatch import AppLoadError, Dispatcher, RuntimeContext
from polyhost.fabric import signals
from polyhost.fabric.packets import serve_packet
from polyhost.log import log, log_exception, log_request, printable
from polyhost.process_state import CURRENT
from polyhost.protocol import sockio
from polyhost.protocol.connection import BodyLimits, Connection, WireResponder
from polyhost.protocol.fastcgi import FastCgiConnection
from polyhost.protocol.http import RECV_SIZE, HttpConnection, HttpError, error_response
from polyhost.protocol.http_rules import HeadLimits
from polyhost.protocol.uwsgi import PacketError
from polyhost.protocol.uwsgi_conn import UwsgiConnection
from polyhost.reqlog import RequestInfo, RequestLogger, memory_usage
from polyhost.request import (
    BodyTimeout,
    BytesBody,
    ClientGone,
    FileBody,
    Request,
    ResponseAborted,
    simple_error,
)
from polyhost.static_options import serves_static

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.handover import Handover
    from polyhost.routing.serve import Routing
    from polyhost.scoreboard import Scoreboard
    from polyhost.sockets import Listener
    from polyhost.static import StaticFiles

#: exit code of a worker whose app failed to load: the master stops instead of respawning
APP_LOAD_ERROR = 22
EPOLLIN = select.EPOLLIN
#: with request threads a connection is handed over: one-shot, re-armed when it comes back
EPOLL_ONESHOT_IN = select.EPOLLIN | select.EPOLLONESHOT
LISTEN_FLAGS = select.EPOLLIN | getattr(select, "EPOLLEXCLUSIVE", 0)
#: seconds a stopping worker still waits for the next request of an idle keep-alive connection
#: (answered with `Connection: close`) before closing it: a client under load sends it within
#: milliseconds, so a reload closes its connections between requests instead of under them
STOP_GRACE = 2.0
#: --hold-per-core: seconds a connection may sit idle (between requests, or before its first)
#: in a worker holding all it may while others wait in the listen queue: then it is closed and
#: the core takes a waiting one
YIELD_IDLE = 0.5
#: --hold-per-core: requests a keep-alive connection is served before it yields its core to
#: connections waiting in the listen queue (its answer then says `Connection: close`): the
#: reconnect is paid once per this many, and a waiting connection is taken within this many
ROTATE_AFTER = 16
#: accept rounds a single-core worker runs on one listener event: after answering and closing a
#: connection it accepts the next one waiting without an epoll round in between (stopping at an
#: empty queue, or at a connection kept alive: those stay spread over the workers as before);
#: bounded so idle keep-alive connections and signals are looked at in between
ACCEPT_ROUNDS = 8
#: the core serving the current request (per request thread, and per greenlet on async cores)
CORE: contextvars.ContextVar[int] = contextvars.ContextVar("core", default=0)


@dataclass
class Core:
    """A request slot (one per thread): what harakiri needs to answer the client."""

    deadline: float = 0.0
    conn: Connection | None = None
    request: Request | None = None
    responder: WireResponder | None = None
    fired: bool = False


class Worker:
    """Runs in the forked child until it is told to stop (or recycles itself)."""

    def __init__(
        self,
        wid: int,
        config: Config,
        listeners: list[Listener],
        dispatcher: Dispatcher,
        board: Scoreboard,
        keeper: WorkerLink | None = None,
    ) -> None:
        self.wid = wid
        #: keep-idle-connections: the master holds a duplicate of each idle keep-alive one
        self.keeper = keeper
        self.config = config
        self.listeners = listeners
        self.dispatcher = dispatcher
        self.board = board
        self.slot = board.worker(wid)
        self.pid = os.getpid()
        self.threads = async_cores.request_threads(config)
        #: --gevent/--async/--asyncio: requests run on async cores, not request threads
        self.async_cores = async_cores.for_worker(config)
        #: more than one request at a time: connections are handed over, registered one-shot
        self.concurrent = self.threads > 1 or self.async_cores is not None
        self.buffer_size = config.get("buffer-size")
        self.limit_post = config.get("limit-post")
        self.socket_timeout = config.get("socket-timeout")
        # `http-keepalive N` (N > 1) is the idle timeout of keep-alive connections, as uWSGI's
        # router takes it; else at least 15 s
        keepalive = config.get("http-keepalive")
        self.keepalive_timeout = (
            float(keepalive) if keepalive and keepalive > 1 else max(self.socket_timeout, 15.0)
        )
        self.head_limits = HeadLimits.from_config(config)
        #: --hold-per-core: most connections held per core (0: as many as arrive)
        self.hold = config.get("hold-per-core") * async_cores.cores_of(config)
        #: how every connection reads request bodies (http-body-timeout, chunked-input-*)
        self.body_limits = BodyLimits.from_config(config, self.socket_timeout)
        self.harakiri = config.get("harakiri")
        self.max_requests = config.get("max-requests")
        self.min_lifetime = config.get("min-worker-lifetime")
        self.reload_on_rss = config.get("reload-on-rss") * 1024 * 1024
        self.post_buffering = config.get("post-buffering")
        self.logging = not config.get("disable-logging")
        self.reqlog = RequestLogger(
            config.get("log-format"),
            config.get("log-micros"),
            memory_report=config.get("memory-report"),
        )
        self.started = time.monotonic()
        self.requests = 0
        self.stopping = False
        #: when the loop saw `stopping` (the start of the keep-alive connections' STOP_GRACE)
        self.stop_started = 0.0
        self.cores = [Core() for _ in range(async_cores.cores_of(config))]
        self.conns: dict[int, Connection] = {}
        self.fresh: list[Connection] = []
        self.idle_since: dict[int, float] = {}
        self.epoll = select.epoll()
        #: the listeners, polled (never accepted from) to see whether connections wait
        self.backlog = select.poll()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.returned: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self.work: queue.SimpleQueue[Connection | None] = queue.SimpleQueue()
        self.watchdog = threading.Condition()
        self.static = _static_files(config)
        #: set when an app's runtime takes connections over (ASGI's event loop)
        self.handover: Handover | None = None
        self.routing = _routing(config, wid, self.static)

    # -- life cycle ------------------------------------------------------------------------
    def run(self) -> int:
        self._install_signals()
        CURRENT.worker_id = self.wid
        CURRENT.set_user_harakiri = self.set_user_harakiri
        CURRENT.request_id = self.request_id
        ctx = RuntimeContext(self.config, log, self.wid, self.threads)
        try:
            if self.async_cores is not None:
                self.async_cores.prepare(self.config)  # before the apps load (monkey patching)
            self.dispatcher.post_fork(ctx)
        except (AppLoadError, async_cores.AsyncCoresError) as exc:
            log(f"worker {self.wid} (pid: {self.pid}): {exc}")
            return APP_LOAD_ERROR
        except Exception as exc:  # an app's own import error under lazy-apps
            log_exception(f"worker {self.wid} (pid: {self.pid}): app failed to load:", exc)
            return APP_LOAD_ERROR
        CURRENT.run_postfork_hooks()
        if any(app.runtime.adopts(app) for app in self.dispatcher.apps):
            from polyhost.handover import Handover  # only with an app that adopts (ASGI)

            self.handover = Handover(self)
        if not self.dispatcher.apps and self.static is None and self.config.get("need-app"):
            log("no app loaded. GAME OVER")
            return APP_LOAD_ERROR
        threading.Thread(target=self._watch_harakiri, name="harakiri", daemon=True).start()
        # threads = N: N request threads (cores 0..N-1); the loop thread only does the I/O
        request_threads = self.threads if self.threads > 1 and not self.async_cores else 0
        if self.async_cores is not None:
            self.async_cores.start(self._serve_on_core)
        for core in range(request_threads):
            threading.Thread(target=self._request_thread, args=(core,), daemon=True).start()
        try:
            self._loop()
        finally:
            for _ in range(request_threads):
                self.work.put(None)
            if self.static is not None:  # downloads handed to offload threads finish first
                self.static.close(grace=self.config.get("worker-reload-mercy"))
            self.dispatcher.close()
        return 0

    def _install_signals(self) -> None:
        for sig in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(sig, self._graceful)
        for sig in (signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, lambda *_: os._exit(0))
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def _graceful(self, *_: object) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"x")

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        by_fd = {listener.sock.fileno(): listener for listener in self.listeners}
        for listener in self.listeners:
            _no_delay(listener)
        for fd in by_fd:
            self.epoll.register(fd, LISTEN_FLAGS)
            self.backlog.register(fd, select.POLLIN)
        self.epoll.register(self.wake_r, EPOLLIN)
        channel = signals.CLIENT.channel
        channel_fd = channel.fileno() if channel is not None else -1
        # with request threads the loop keeps reading signals while a request waits for one
        signals.CLIENT.shared_reader = self.concurrent
        if channel is not None:
            self.epoll.register(channel_fd, EPOLLIN)
        keeper_fd = self.keeper.fileno() if self.keeper is not None else -1
        if keeper_fd >= 0:  # connections a dead worker held idle, passed on by the master
            self.epoll.register(keeper_fd, EPOLLIN)
        self.slot.set_accepting(True)
        busy = 0
        #: the listeners are in the epoll set (not while every request thread is busy)
        listening = True
        next_sweep = time.monotonic() + 1.0
        while not self.stopping or busy or self.conns:
            try:
                events = self.epoll.poll(0.25 if self.stopping else 1.0)
            except InterruptedError:
                continue
            for fd, _ in events:
                listener = by_fd.get(fd)
                if listener is not None:
                    # no more connections than free cores (threads, async cores), nor than
                    # --hold-per-core allows: the rest stay in the backlog for the other
                    # workers (not lost with this one)
                    for _ in range(ACCEPT_ROUNDS):
                        admitted = 0 if self.stopping else self._admits(busy)
                        if not admitted:
                            break
                        held = len(self.conns)
                        drained = self._accept(listener, admitted)
                        busy += self._serve_fresh()
                        if drained or len(self.conns) > held:
                            break  # a kept connection: the next waits for the other workers too
                elif fd == channel_fd:
                    signals.CLIENT.dispatch_pending()
                elif fd == keeper_fd:
                    self._adopt_kept()
                    busy += self._serve_fresh()
                elif fd == self.wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 4096)
                    busy -= self._take_returned()
                    if self.handover is not None:
                        for conn in self.handover.take_returned():
                            self.conns[conn.fd] = conn
                            busy += self._serve_or_queue(conn)
                else:
                    conn = self.conns.get(fd)
                    if conn is not None and self._read(conn):
                        busy += self._serve_or_queue(conn)
            if not self.stopping and listening != (self._admits(busy) > 0):
                # every core busy (or held): leave new connections to the other workers
                listening = not listening
                for fd in by_fd:
                    if listening:
                        self.epoll.register(fd, LISTEN_FLAGS)
                    else:
                        self.epoll.unregister(fd)
            now = time.monotonic()
            if self.stopping:
                if by_fd:
                    self.slot.set_accepting(False)
                    if listening:
                        for fd in by_fd:
                            self.epoll.unregister(fd)
                    by_fd = {}
                    self.stop_started = now
                    idle = sum(1 for fd in self.idle_since if self.conns[fd].served)
                    if idle:
                        log(
                            f"worker {self.wid} (pid: {self.pid}) stopping: {idle} idle keep-alive"
                            f" connection(s) get {STOP_GRACE:g}s for one more request"
                        )
                self._close_idle()
            elif now >= next_sweep:
                next_sweep = now + 1.0
                self._close_idle()
                if self.hold:
                    self._yield_idle()

    # -- admission: how many connections a worker takes ----------------------------------------
    def _admits(self, busy: int) -> int:
        """How many more connections this worker may accept: one per free core; with
        --hold-per-core no more than that many per core, idle keep-alive ones included, so a
        worker killed -9 takes down only the requests it was serving."""
        if self.hold:
            return max(0, self.hold - len(self.conns))
        return len(self.cores) - busy

    def _others_wait(self) -> bool:
        """Connections wait in a listen queue (one poll(2), nothing accepted)."""
        return bool(self.backlog.poll(0))

    def _is_wanted(self) -> bool:
        """Every core holds a connection and others wait: the one answered now closes after."""
        return len(self.conns) >= self.hold and self._others_wait()

    def _rotates(self, conn: Connection) -> bool:
        """After ROTATE_AFTER requests a connection yields its core to one that waits."""
        return bool(self.hold) and conn.served >= ROTATE_AFTER and self._is_wanted()

    def _yield_idle(self) -> None:
        """Holding a connection per core while others wait: close those idle for YIELD_IDLE
        (a keep-alive one between requests, or one that sent nothing yet: a clean close, the
        client reconnects), so an idle browser connection does not keep a core from others."""
        if not self._is_wanted():
            return
        limit = time.monotonic() - YIELD_IDLE
        for fd, since in list(self.idle_since.items()):
            conn = self.conns.get(fd)
            if conn is not None and since < limit and not _has_unread(conn.sock):
                self._drop(conn)

    def _serve_fresh(self) -> int:
        """Read connections just accepted right away (their request is usually there)."""
        handed = 0
        fresh, self.fresh = self.fresh, []
        for conn in fresh:
            if self._read(conn):
                handed += self._serve_or_queue(conn)
            elif conn.fd in self.conns:
                self._arm(conn)
        return handed

    def _arm(self, conn: Connection) -> None:
        """Watch a connection for its next request (one-shot when threads hand it over)."""
        if not conn.registered:
            conn.registered = True
            self.epoll.register(conn.fd, EPOLL_ONESHOT_IN if self.concurrent else EPOLLIN)
        elif self.concurrent:
            self.epoll.modify(conn.fd, EPOLL_ONESHOT_IN)

    def _accept(self, listener: Listener, count: int) -> bool:
        """Accept up to `count` connections: those the worker is about to serve. True when
        the queue ran empty (or accept failed) before `count`."""
        for _ in range(count):
            try:
                sock, peer = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as exc:
                log(f"accept() on {listener.name} failed: {exc}")
                return True
            sock.setblocking(False)
            self._take(self._connection(listener, sock, peer))
        return False

    def _adopt_kept(self) -> None:
        """Take the idle keep-alive connections of a dead worker as fresh ones (their next
        request usually waits in the socket): the master passed them on (conn_keeper)."""
        assert self.keeper is not None
        by_name = {listener.name: listener for listener in self.listeners}
        for sock, name in self.keeper.adoptions():
            listener = by_name.get(name)
            try:
                peer = sock.getpeername() if listener is not None else None
            except OSError:  # the client went away meanwhile
                peer = None
            if listener is None or peer is None:
                sock.close()
                continue
            self._take(self._connection(listener, sock, peer))

    def _take(self, conn: Connection) -> None:
        """A new connection: read right away by `_serve_fresh`."""
        self.conns[conn.fd] = conn
        self.idle_since[conn.fd] = time.monotonic()
        self.fresh.append(conn)

    def _connection(self, listener: Listener, sock: socket.socket, peer: object) -> Connection:
        """The connection object of a new socket, in its listener's protocol."""
        if listener.proto == "http":  # TCP_NODELAY comes from the listener (_loop)
            return HttpConnection(
                sock,
                listener.name,
                peer,  # type: ignore[arg-type]
                listener.server_addr,
                self.buffer_size,
                listener.modifiers or (0, 0),
                self.socket_timeout,
                limits=self.head_limits,
                body_timeout=self.body_limits.timeout,
            )
        kind = UwsgiConnection if listener.proto == "uwsgi" else FastCgiConnection
        return kind(
            sock,
            listener.name,
            self.buffer_size,
            listener.modifiers,
            self.socket_timeout,
            self.body_limits,
        )

    def _read(self, conn: Connection) -> bool:
        """Read what is there; True when a request head is complete."""
        if self.keeper is not None:
            self.keeper.busy(conn)  # before the recv: a death from now on loses it
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            if self.keeper is not None:
                self.keeper.idle(conn)
            return False
        except OSError:
            data = b""
        try:
            conn.feed(data)
        except HttpError as exc:
            self._refuse(conn, exc.status, exc.reason)
            return False
        except ClientGone:
            self._drop(conn)
            return False
        except Exception as exc:  # a malformed head (or a parser bug) closes it, never the worker
            kind = (
                "bad request" if isinstance(exc, PacketError | ValueError) else "unparsable input"
            )
            log(f"{kind} on {conn.listener}: {printable(str(exc))}")
            self._drop(conn)
            return False
        if conn.ready:
            return True
        if conn.closed:
            self._drop(conn)
        elif self.keeper is not None:
            self.keeper.idle(conn)
        return False

    def _refuse(self, conn: Connection, status: int, reason: str) -> None:
        _answer_refusal(conn, status, reason)
        self._drop(conn)

    def _drop(self, conn: Connection) -> None:
        """Forget and close a connection (closing the fd also takes it out of the epoll set)."""
        if self.conns.pop(conn.fd, None) is not None:
            self.idle_since.pop(conn.fd, None)
        if self.keeper is not None:
            self.keeper.closing(conn)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _close_idle(self) -> None:
        """Close idle connections that timed out; once stopping, one that was answered gets
        STOP_GRACE (from its last answer, or from the stop) to send one more request."""
        now = time.monotonic()
        for fd, since in list(self.idle_since.items()):
            conn = self.conns.get(fd)
            if conn is None:
                continue
            timeout = self.keepalive_timeout if conn.served else self.socket_timeout
            if self.stopping and conn.served:
                since, timeout = max(since, self.stop_started), min(timeout, STOP_GRACE)
            if since < now - timeout and not _has_unread(conn.sock):
                self._drop(conn)

    def _serve_or_queue(self, conn: Connection) -> int:
        """Serve now (one thread) or hand to a request thread; returns 1 if handed over."""
        self.idle_since.pop(conn.fd, None)
        if not self.concurrent:  # the fd stays registered: nothing polls while we serve it
            self._serve(conn, 0)
            self._resume(conn)
            return 0
        # registered one-shot: not reported again until re-armed
        if self.async_cores is not None:
            self.async_cores.submit(conn)
        else:
            self.work.put(conn)
        return 1

    def _request_thread(self, core: int) -> None:
        while True:
            conn = self.work.get()
            if conn is None:
                return
            self._serve_on_core(conn, core)

    def _serve_on_core(self, conn: Connection, core: int) -> None:
        """A request thread or async core serves a connection, then gives it back."""
        self._serve(conn, core)
        self.returned.put(conn)
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"r")

    def _take_returned(self) -> int:
        count = 0
        while True:
            try:
                conn = self.returned.get_nowait()
            except queue.Empty:
                return count
            count += 1
            self._resume(conn)

    def _resume(self, conn: Connection) -> None:
        """Back to the loop after serving: keep-alive, close, or hand over (ASGI)."""
        adopted = conn.adopted
        if adopted is not None and self.handover is not None:
            conn.adopted = None
            if conn.registered:
                conn.registered = False
                self.epoll.unregister(conn.fd)
            self.conns.pop(conn.fd, None)
            self.idle_since.pop(conn.fd, None)
            if self.keeper is not None:
                self.keeper.release(conn)
            self.handover.hand_over(conn, *adopted)
            return
        if conn.closed or conn.done:  # a stopping worker's keep-alive ones get STOP_GRACE
            self._drop(conn)
            return
        try:
            self._arm(conn)
        except OSError:
            self._drop(conn)
            return
        self.idle_since[conn.fd] = time.monotonic()
        if self.keeper is not None:
            self.keeper.answered(conn)

    # -- one connection's requests --------------------------------------------------------
    def _serve(self, conn: Connection, core: int) -> None:
        CORE.set(core)
        try:
            while conn.ready and not conn.closed:
                request = conn.ready.popleft()
                if self.handover is not None:
                    app = self.handover.adopting_app(conn, request)
                    if app is not None:  # _resume hands it over
                        conn.adopted = (request, app)
                        return
                if not self._handle(conn, request, core):
                    conn.done = True
                    return
        except HttpError as exc:  # found in a pipelined head or a chunked body
            conn.done = True
            _answer_refusal(conn, exc.status, exc.reason)

    def _handle(self, conn: Connection, request: Request, core: int) -> bool:
        """Run one request; True when the connection may serve another."""
        packet = request.extra.get("packet")
        if packet is not None:  # RPC, signal, cache or spool form on a uwsgi socket
            reply = serve_packet(request.modifier1, request.modifier2, packet, request.body)  # type: ignore[arg-type]
            if reply:
                with contextlib.suppress(ClientGone):
                    sockio.send_all(conn.sock, reply, self.socket_timeout)
            return False
        responder = conn.responder(request)
        conn.served += 1
        websocket.bind(conn.sock, request, responder)
        if responder.keep_alive and (self.stopping or self._rotates(conn)):
            # tell the client before we close: stopping, or others wait for this core
            responder.keep_alive = False
        slot = self.cores[core]
        slot.conn, slot.request, slot.responder, slot.fired = conn, request, responder, False
        slot.deadline = time.time() + self.harakiri if self.harakiri else 0.0
        if slot.deadline:
            with self.watchdog:
                self.watchdog.notify()
        self.slot.begin_request(core, request.vars, self.harakiri)
        app = None
        routed = None
        exceptions_before = 0
        failed = False
        keep = False
        try:
            if self.limit_post and (request.content_length or 0) > self.limit_post:
                raise BodyOverLimit(
                    f"{request.content_length} bytes over limit-post {self.limit_post}"
                )
            if self.post_buffering:
                self._buffer_body(request)
            if self.routing is not None:  # the route* rules: may answer, rewrite, wrap
                routed = self.routing.begin(request, responder, conn.sock)
                if routed is not None:
                    responder = routed.responder
            if routed is not None and routed.handled:
                pass
            elif self.static is None or not self.static.serve(request, responder):
                app = self.dispatcher.select(request)
                if app is not None:
                    exceptions_before = app.exceptions
                self.dispatcher.serve_app(app, request, responder)
            responder.finish()
            keep = responder.keep_alive and request.body.drain()  # type: ignore[attr-defined]
        except BodyTimeout as exc:  # a body trickling in: the worker is not held any longer
            log(
                f"request body of {request.vars.get('REMOTE_ADDR', '')} for "
                f"{printable(request.vars.get('REQUEST_URI', ''))} timed out: {exc}"
            )
            if not responder.started:
                responder.keep_alive = False
                with contextlib.suppress(Exception):
                    simple_error(responder, BodyTimeout.status)
                    responder.finish()
            sockio.discard_unread(conn.sock)  # the trickler may still be sending
        except ClientGone as exc:
            log(
                f"client {request.vars.get('REMOTE_ADDR', '')} gone while serving "
                f"{request.vars.get('REQUEST_URI', '')}: {exc}"
            )
        except BodyOverLimit as exc:  # refused before a byte of the body was read
            log(
                f"request body of {request.vars.get('REMOTE_ADDR', '')} for "
                f"{printable(request.vars.get('REQUEST_URI', ''))} refused: {exc}"
            )
            responder.keep_alive = False
            with contextlib.suppress(Exception):
                simple_error(responder, 413)
                responder.finish()
        except ResponseAborted:
            failed = True  # the runtime logged why; closing the connection tells the client
        except Exception as exc:  # a bug in a runtime: log it, answer 500, keep the worker
            failed = True
            log_exception(f"error serving {request.vars.get('REQUEST_URI', '')}:", exc)
            with contextlib.suppress(Exception):
                simple_error(responder, 500)
                responder.finish()
        finally:
            slot.deadline = 0.0
            slot.conn = slot.request = slot.responder = None
        if routed is not None:
            self.routing.end(routed)  # type: ignore[union-attr]
        end = time.time()
        exception = failed or (app is not None and app.exceptions > exceptions_before)
        self.requests += 1
        self.slot.end_request(
            core,
            responder.bytes_sent + responder.headers_size,
            int((end - request.started) * 1_000_000),
            app.id if app else -1,
            exception,
            routed=routed is not None and routed.ctx.routed,
        )
        if self.logging and not (routed is not None and routed.ctx.donotlog):
            logvars = routed.ctx.logvars if routed is not None else None
            self._log_request(
                request, responder, app.id if app else -1, core, end, exception, logvars
            )
        self._maybe_recycle()
        return keep  # when stopping, only a response started before it says keep-alive

    def _buffer_body(self, request: Request) -> None:
        """post-buffering: read the whole body first (memory up to the limit, then a temp file)."""
        length = request.content_length
        if not length:
            return
        if length <= self.post_buffering:
            request.body = BytesBody(request.body.read(length))
            return
        import tempfile  # a body over post-buffering is rare: not in every worker (RSS)

        spool = tempfile.TemporaryFile()  # noqa: SIM115 - it becomes the request body
        remaining = length
        while remaining > 0:
            chunk = request.body.read(min(remaining, RECV_SIZE))
            if not chunk:
                break
            spool.write(chunk)
            remaining -= len(chunk)
        spool.seek(0)
        request.body = FileBody(spool)

    def _log_request(
        self,
        request: Request,
        responder: WireResponder,
        app_id: int,
        core: int,
        end: float,
        exception: bool,
        logvars: dict[str, str] | None = None,
    ) -> None:
        env = request.vars
        req_worker = self.slot.app_counters(app_id)[0] if app_id >= 0 else -1
        log_request(
            self.reqlog.line(
                RequestInfo(
                    pid=self.pid,
                    wid=self.wid,
                    app_id=app_id,
                    req_worker=req_worker,
                    req_total=self.board.total_requests(),
                    vars=env,
                    vars_count=2 * len(env),
                    vars_size=sum(4 + len(k) + len(v) for k, v in env.items()),
                    start=request.started,
                    end=end,
                    status=responder.status,
                    size=responder.bytes_sent,
                    hsize=responder.headers_size,
                    headers=responder.headers_count,
                    core=core,
                    modifier1=request.modifier1,
                    modifier2=request.modifier2,
                    pktsize=request.vars_size,
                    switches=0 if exception else 1,
                    logvars=logvars,
                )
            )
        )

    def _maybe_recycle(self) -> None:
        lifetime = time.monotonic() - self.started
        if self.max_requests and self.requests >= self.max_requests and not self.stopping:
            if lifetime >= self.min_lifetime:
                log(f"...The work of process {self.pid} is done. Seeya!")
                self._graceful()
            elif self.requests == self.max_requests:
                log(
                    f"worker {self.wid} reached max-requests ({self.max_requests}) after "
                    f"{lifetime:.1f}s: recycle deferred until min-worker-lifetime "
                    f"({self.min_lifetime:.0f}s)"
                )
        if self.reload_on_rss and not self.stopping:
            rss = memory_usage()[1]
            if rss > self.reload_on_rss:
                log(
                    f"worker {self.wid} (pid: {self.pid}) RSS {rss >> 20} MiB is over "
                    f"reload-on-rss ({self.reload_on_rss >> 20} MiB): recycling"
                )
                self._graceful()

    # -- harakiri and the uwsgi API ---------------------------------------------------------
    def set_user_harakiri(self, seconds: int) -> None:
        core = self.cores[CORE.get()]
        core.deadline = time.time() + seconds if seconds else 0.0
        self.slot.set_user_harakiri(seconds)
        with self.watchdog:
            self.watchdog.notify()

    def request_id(self) -> int:
        return self.requests + 1

    def _watch_harakiri(self) -> None:
        """At a core's deadline, answer its client 504 if nothing was sent (master kills us)."""
        while True:
            with self.watchdog:
                deadlines = [c.deadline for c in self.cores if c.deadline and not c.fired]
                wait = max(0.0, min(deadlines) - time.time()) if deadlines else None
                self.watchdog.wait(wait)
            now = time.time()
            for core in self.cores:
                if core.deadline and not core.fired and core.deadline <= now:
                    core.fired = True
                    self._answer_504(core)

    @staticmethod
    def _answer_504(core: Core) -> None:
        conn, request, responder = core.conn, core.request, core.responder
        if conn is None or request is None or responder is None or responder.started:
            return
        with contextlib.suppress(OSError):
            os.write(conn.sock.fileno(), conn.harakiri_reply(request))
            conn.sock.shutdown(socket.SHUT_RDWR)


def _no_delay(listener: Listener) -> None:
    """TCP_NODELAY on an HTTP listener: Linux copies it to every socket accepted from it, one
    setsockopt per worker instead of one per connection (bound, inherited or systemd's alike)."""
    if listener.proto == "http" and listener.sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            listener.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _static_files(config: Config) -> StaticFiles | None:
    """The worker's file server; the module is imported only when a static option is set."""
    if not serves_static(config):
        return None
    from polyhost.static import StaticFiles

    return StaticFiles.from_config(config)


def _routing(config: Config, wid: int, files: StaticFiles | None) -> Routing | None:
    """The worker's rules; the engine is imported only when the config has some."""
    if not routing.configured(config):
        return None
    from polyhost.routing.serve import Routing

    return Routing.from_config(config, wid, files)


class BodyOverLimit(Exception):
    """The declared request body is over `limit-post`: answered 413 without reading it."""


def _has_unread(sock: socket.socket) -> bool:
    """A request's bytes wait on the connection: it was not idle, the worker was busy
    with another one (a single-threaded worker sweeps after a long request); the loop reads it
    next instead of closing it with a request in its buffer."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except OSError:  # nothing there (EAGAIN), or a reset: idle, or gone
        return False


def _answer_refusal(conn: Connection, status: int, reason: str) -> None:
    """Log a refused request once, with the peer and the reason, and answer it."""
    log(f"HTTP {status} to {conn.remote_addr} on {conn.listener}: {printable(reason)}")
    with contextlib.suppress(OSError):
        conn.sock.send(error_response(status, reason))
    sockio.discard_unread(conn.sock, linger=0.0)  # what arrived; a refused client gets no wait
