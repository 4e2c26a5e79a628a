"""The stats server: uWSGI 2.0's stats JSON, built from the scoreboard, served by the master.

A client connects and receives one JSON document, then the connection is closed (uWSGI
behaviour, what uwsgitop and the exporters expect). Keys, order and types follow uWSGI 2.0.21's
`uwsgi_master_generate_stats`; the layout (tab indents, no spaces) matches its output too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import select
import socket
import stat
import threading
from collections.abc import Callable, Sequence
from typing import cast

from polyhost.log import log
from polyhost.protocol import sockio
from polyhost.scoreboard import Scoreboard

#: uWSGI's default `locks[]` (`{name: pid holding it}`); one `cache_<name>` follows per cache
DEFAULT_LOCKS = ("user 0", "signal", "filemon", "timer", "rbtimer", "cron", "rpc", "snmp")

#: what `--stats-http` sends before the JSON (uwsgi_send_http_stats)
HTTP_HEAD = (
    b"HTTP/1.0 200 OK\r\n"
    b"Connection: close\r\n"
    b"Access-Control-Allow-Origin: *\r\n"
    b"Content-Type: application/json\r\n"
    b"\r\n"
)

#: an HTTP page besides the stats JSON: () -> (content type, body)
Page = Callable[[], tuple[bytes, bytes]]

#: seconds a stats client gets to send its HTTP request / to read the document (socket-timeout)
CLIENT_TIMEOUT = 4.0

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def memory_of(pid: int) -> tuple[int, int]:
    """(rss, vsz) in bytes from /proc/PID/statm; (0, 0) for no pid or a process that is gone."""
    if pid <= 0:
        return (0, 0)
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            size, resident = statm.read().split()[:2]
    except (OSError, ValueError):
        return (0, 0)
    return (int(resident) * _PAGE_SIZE, int(size) * _PAGE_SIZE)


def build_stats(
    board: Scoreboard,
    *,
    version: str,
    pid: int,
    sockets: Sequence[dict[str, object]],
    apps: Sequence[dict[str, object]],
    listen_queue: int = 0,
    listen_queue_errors: int = 0,
    caches: Sequence[dict[str, object]] = (),
    spoolers: Sequence[dict[str, object]] = (),
    mules: Sequence[dict[str, object]] = (),
    routers: Sequence[dict[str, object]] = (),
    locks: Sequence[dict[str, int]] | None = None,
    no_cores: bool = False,
    metrics: dict[str, dict[str, object]] | None = None,
) -> dict[str, object]:
    """The stats document. `apps` are App.stats() of the loaded apps (the same in every worker);
    each worker's apps[] gets that worker's requests/exceptions from the board. `caches` items
    need at least "name". `mules` and `routers` (the `--http` ... router processes) are polyhost
    additions (uWSGI 2.0 has neither key)."""
    if locks is None:
        locks = [{name: 0} for name in DEFAULT_LOCKS]
        locks += [{f"cache_{cache['name']}": 0} for cache in caches]
    doc: dict[str, object] = {
        "version": version,
        "listen_queue": listen_queue,
        "listen_queue_errors": listen_queue_errors,
        "signal_queue": 0,
        "load": listen_queue,  # uWSGI: shared->load = the listen backlog
        "pid": pid,
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cwd": os.getcwd(),
        "locks": list(locks),
    }
    if metrics is not None:
        doc["metrics"] = metrics
    if caches:
        doc["caches"] = list(caches)
    doc["sockets"] = list(sockets)
    doc["workers"] = [
        _worker_stats(board, wid, apps, no_cores) for wid in range(1, board.workers + 1)
    ]
    if spoolers:
        doc["spoolers"] = list(spoolers)
    if mules:
        doc["mules"] = list(mules)
    if routers:
        doc["routers"] = list(routers)
    return doc


def _worker_stats(
    board: Scoreboard, wid: int, apps: Sequence[dict[str, object]], no_cores: bool
) -> dict[str, object]:
    slot = board.worker(wid)
    worker_pid = slot.pid
    rss, vsz = memory_of(worker_pid)
    worker_apps = []
    for app in apps:
        requests, exceptions = slot.app_counters(cast(int, app["id"]))
        worker_apps.append({**app, "requests": requests, "exceptions": exceptions})
    stats: dict[str, object] = {
        "id": wid,
        "pid": worker_pid,
        "accepting": slot.accepting,
        "requests": slot.requests,
        "delta_requests": slot.delta_requests,
        "exceptions": slot.exceptions,
        "harakiri_count": slot.harakiri_count,
        "signals": slot.signals,
        "signal_queue": 0,
        "status": slot.status,
        "rss": rss,
        "vsz": vsz,
        "running_time": slot.running_time,
        "last_spawn": int(slot.last_spawn),
        "respawn_count": slot.respawn_count,
        "tx": slot.tx,
        "avg_rt": slot.avg_rt,
        "websockets": slot.websockets,  # polyhost's: open WebSockets of ASGI apps
        "apps": worker_apps,
    }
    if not no_cores:
        stats["cores"] = [slot.core(core) for core in range(board.cores)]
    return stats


def encode_stats(doc: dict[str, object], minified: bool = False) -> bytes:
    """The document as uWSGI writes it: tab-indented (or minified), `"key":value`, UTF-8."""
    if minified:
        return json.dumps(doc, separators=(",", ":")).encode()
    return (json.dumps(doc, indent="\t", separators=(",", ":")) + "\n").encode()


def parse_address(address: str) -> tuple[socket.AddressFamily, str | tuple[str, int]]:
    """`host:port`, `:port` (all interfaces), `[v6]:port`, `/path.sock`, `@abstract`."""
    if address.startswith("@"):
        return socket.AF_UNIX, "\0" + address[1:]
    if ":" not in address or address.startswith(("/", ".")):
        return socket.AF_UNIX, address
    host, _, port_text = address.rpartition(":")
    if not port_text.isdigit():
        raise ValueError(
            f"stats address {address!r}: the port must be a number (host:port, :port, "
            "/path/to/socket or @abstract)"
        )
    if host.startswith("[") and host.endswith("]"):
        return socket.AF_INET6, (host[1:-1], int(port_text))
    return socket.AF_INET, (host or "0.0.0.0", int(port_text))


class StatsServer:
    """Serves `snapshot()` as one JSON document per connection, from a daemon thread."""

    def __init__(
        self,
        address: str,
        snapshot: Callable[[], dict[str, object]],
        http: bool = False,
        minified: bool = False,
        pages: dict[str, Page] | None = None,
        default_page: Page | None = None,
    ) -> None:
        """`pages` answer HTTP requests for their path (stats-http; `/metrics`), `default_page`
        every other one instead of the stats JSON."""
        self.address = address
        self.pages = pages or {}
        self.default_page = default_page
        self.snapshot = snapshot
        self.http = http
        self.minified = minified
        #: the address actually bound (the real port when `address` asked for port 0)
        self.bound_address = address
        self._family, self._sockaddr = parse_address(address)
        self._listener: socket.socket | None = None
        self._unix_path = ""
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        #: the connection being answered, and the lock that a fork() holds: a child forked
        #: while an answer is under way must close its copy, or the client never sees EOF
        self._client: socket.socket | None = None
        self._client_lock = threading.Lock()

    def start(self) -> None:
        """Bind and listen (errors name the address), then serve from a daemon thread."""
        listener = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            if self._family != socket.AF_UNIX:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            elif isinstance(self._sockaddr, str) and not self._sockaddr.startswith("\0"):
                _remove_stale_socket(self._sockaddr)
            listener.bind(self._sockaddr)
            listener.listen(100)
            listener.setblocking(False)
        except OSError as exc:
            listener.close()
            raise OSError(
                exc.errno,
                f"stats server: cannot bind {self.address!r}: {exc.strerror}; "
                "pick a free address for the `stats` option",
            ) from exc
        if self._family == socket.AF_UNIX:
            if isinstance(self._sockaddr, str) and not self._sockaddr.startswith("\0"):
                self._unix_path = self._sockaddr
        else:
            host, port = listener.getsockname()[:2]
            self.bound_address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            if not ipaddress.ip_address(host).is_loopback:
                log(
                    f"*** WARNING: the stats server on {self.bound_address} is reachable from"
                    " other hosts and exposes the instance's internals (options, pids, requests"
                    " in flight): bind it to 127.0.0.1 or a unix socket ***"
                )
        self._listener = listener
        self._wake_r, self._wake_w = os.pipe()
        # workers forked by the master must not keep the stats socket (a reloaded master
        # could not bind it again while old workers finish) nor a connection being answered
        os.register_at_fork(
            before=self._hold_client,
            after_in_parent=self._release_client,
            after_in_child=self._forget_in_child,
        )
        self._thread = threading.Thread(target=self._serve, name="stats-server", daemon=True)
        self._thread.start()

    def _hold_client(self) -> None:
        """Before fork: no connection is accepted or closed while the fd table is copied."""
        self._client_lock.acquire()

    def _release_client(self) -> None:
        self._client_lock.release()

    def _forget_in_child(self) -> None:
        """After fork, in the child: close the inherited fds; the socket file is not ours."""
        self._thread = None
        self._unix_path = ""
        if self._client is not None:
            self._client.close()  # only this copy: the parent's thread still answers
            self._client = None
        self._release_client()  # held by the thread that forked, which is this one
        self._release()

    def _release(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r, self._wake_w = -1, -1

    def close(self) -> None:
        """Stop serving, close the socket, unlink the unix socket file this server created."""
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=CLIENT_TIMEOUT + 1)
            self._thread = None
        self._release()
        if self._unix_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._unix_path)
            self._unix_path = ""

    def _serve(self) -> None:
        listener = self._listener
        assert listener is not None
        while True:
            ready, _, _ = select.select([listener, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            with self._client_lock:  # never blocks: the listener is non-blocking
                try:
                    client, _ = listener.accept()
                except OSError:
                    continue
                self._client = client
            try:
                self._answer(client)
                if self.http:  # what is left of the request is read away: no reset eats the page
                    client.setblocking(False)
                    sockio.discard_unread(client)
            finally:
                with self._client_lock:
                    self._client = None
                    client.close()

    def _answer(self, client: socket.socket) -> None:
        client.settimeout(CLIENT_TIMEOUT)
        try:
            if self.http:
                request = client.recv(4096)  # only the path is looked at (uWSGI: nothing)
                page = self.pages.get(_request_path(request), self.default_page)
                if page is not None:
                    content_type, body = page()
                    client.sendall(HTTP_HEAD.replace(b"application/json", content_type) + body)
                    return
                client.sendall(HTTP_HEAD)
            client.sendall(encode_stats(self.snapshot(), self.minified))
        except OSError:
            pass  # the client went away or was too slow: nothing to tell it
        except Exception as exc:
            log(f"stats server {self.address}: building the stats failed: {exc!r}")


def _request_path(request: bytes) -> str:
    """The path of an HTTP request line (`GET /metrics?x HTTP/1.1` -> `/metrics`), "" if none."""
    parts = request.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) < 2:
        return ""
    return parts[1].split(b"?", 1)[0].decode("latin-1")


def _remove_stale_socket(path: str) -> None:
    """Remove a leftover unix socket file at `path` (never a regular file)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
