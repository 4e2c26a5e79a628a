"""The router's raw upstream connection (host/router/upstream.py) against real sockets: a unix
node whose listen backlog is full is tried again until it accepts (a unix connect refused for
a full backlog is not in progress, unlike a TCP one), and a node that goes away meanwhile is
reported refused."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import Iterator

from polyhost.router.upstream import Upstream


class Recorder:
    """The Upstream's owner: keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.data = b""
        self.changed = asyncio.Event()

    def _note(self, event: str) -> None:
        self.events.append(event)
        self.changed.set()

    def upstream_connected(self) -> None:
        self._note("connected")

    def upstream_refused(self, exc: OSError) -> None:
        self._note(f"refused {exc.errno}")

    def response_data(self, data: bytes) -> None:
        self.data += data
        self._note("data")

    def upstream_done(self, exc: Exception | None) -> None:
        self._note("done")

    def upstream_pause(self) -> None:
        self._note("pause")

    def upstream_resume(self) -> None:
        self._note("resume")


@contextlib.contextmanager
def _full_backlog_listener(name: str) -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    """A unix listener with backlog 0 and the connections it queued until it was full; all
    closed at the end."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    queued: list[socket.socket] = []
    try:
        listener.bind(name)
        listener.listen(0)
        for _ in range(8):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.setblocking(False)
            if probe.connect_ex(name) == errno.EAGAIN:
                probe.close()
                yield listener, queued
                return
            queued.append(probe)
        raise AssertionError("the unix backlog never filled")
    finally:
        listener.close()
        for probe in queued:
            probe.close()


async def _wait_for(recorder: Recorder, event: str) -> None:
    async with asyncio.timeout(5):
        while event not in recorder.events:
            recorder.changed.clear()
            await recorder.changed.wait()


def test_full_unix_backlog_is_tried_again_until_accepted() -> None:
    name = f"\0polyhost-test-{os.getpid()}-backlog"
    with _full_backlog_listener(name) as (listener, queued):

        async def scenario() -> None:
            recorder = Recorder()
            upstream = Upstream(asyncio.get_running_loop(), recorder)
            assert upstream.connect("@" + name[1:], b"packet") is False
            await asyncio.sleep(0.05)
            assert recorder.events == []  # still waiting: not refused, not "connected"
            for _ in queued:  # room in the backlog: the next try connects
                listener.accept()[0].close()
            await _wait_for(recorder, "connected")
            node = listener.accept()[0]
            node.settimeout(5)
            assert node.recv(64) == b"packet"
            node.sendall(b"answer")
            node.close()
            await _wait_for(recorder, "done")
            assert recorder.data == b"answer"
            upstream.close()

        asyncio.run(scenario())


def test_unix_node_gone_while_its_backlog_was_full_is_refused() -> None:
    name = f"\0polyhost-test-{os.getpid()}-gone"
    with _full_backlog_listener(name) as (listener, _queued):

        async def scenario() -> None:
            recorder = Recorder()
            upstream = Upstream(asyncio.get_running_loop(), recorder)
            assert upstream.connect("@" + name[1:], b"packet") is False
            listener.close()
            await _wait_for(recorder, f"refused {errno.ECONNREFUSED}")
            assert upstream.closed

        asyncio.run(scenario())


def test_answer_sent_before_the_node_stopped_reading_the_body_reaches_the_client() -> None:
    """A node that answers after reading the packet and closes without reading the body (an
    app that ignores it): the send of the body fails, the answer already sent is still read
    and passed on, not turned into a 502."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = f"\0polyhost-test-{os.getpid()}-answered"
    listener.bind(name)
    listener.listen(1)

    async def scenario() -> None:
        recorder = Recorder()
        upstream = Upstream(asyncio.get_running_loop(), recorder)
        upstream.connect("@" + name[1:], b"packet")
        node = listener.accept()[0]
        node.settimeout(5)
        assert node.recv(6) == b"packet"
        upstream.write(b"b" * 65536)  # the body: more than the node will read
        node.sendall(b"answer")
        node.close()  # with the body unread
        upstream.write(b"b" * (4 << 20))
        await _wait_for(recorder, "done")
        assert recorder.data == b"answer"
        upstream.close()

    try:
        asyncio.run(scenario())
    finally:
        listener.close()
