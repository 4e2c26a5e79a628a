"""The fastrouter and subscriptions against real processes, and interop with Debian's uWSGI."""

from __future__ import annotations

import os
import random
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyhost.router.announcer import ConfigError, parse_subscribe2, parse_subscribe_to
from polyhost.router.subscriptions import (
    Subscription,
    SubscriptionTable,
    decode_subscription,
    encode_subscription,
)

from conftest import APPS, Instance, free_port, serving, split_response, uwsgi_request, wait_for
from fuzz_support import mutate, open_fds, throw, uwsgi_seeds
from nginx_helper import Nginx
from router_helper import listening
from uwsgi_reference import nodes_of, start_uwsgi, stats, stop_uwsgi, subscribed_uwsgi_node

APP = str(APPS / "wsgi" / "node_name.py")


def request(port: int, host: str) -> tuple[int, bytes]:
    env = {
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": "/",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": host,
        "SERVER_PORT": "80",
        "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1",
    }
    status, _, body = split_response(uwsgi_request(port, env))
    return status, body


class Router:
    """A polyhost instance that is only a fastrouter (no app, no workers)."""

    def __init__(self, tmp: Path, extra: list[str]) -> None:
        self.port, self.sub_port, self.stats_port = free_port(), free_port(), free_port()
        self.inst = Instance(
            [
                "--fastrouter",
                f"127.0.0.1:{self.port}",
                "--fastrouter-subscription-server",
                f"127.0.0.1:{self.sub_port}",
                "--fastrouter-stats",
                f"127.0.0.1:{self.stats_port}",
                *extra,
            ],
            tmp,
            None,
            None,
        )
        self.inst.wait_log("fastrouter stats server enabled")


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    tmp = tmp_path_factory.mktemp("fastrouter")
    front = Router(tmp, ["--subscription-tolerance", "3"])
    try:
        yield front
    finally:
        assert front.inst.stop() == 0


def node_args(name: str, extra: str = "") -> list[str]:
    """A backend answering its name; `extra` is more options, e.g. its subscription."""
    return ["--wsgi-file", APP, "--env", f"NODE_NAME={name}", "--subscribe-freq", "1",
            *extra.split()]  # fmt: skip


def test_router_only_instance_starts_without_app(router: Router) -> None:
    log = router.inst.log()
    assert "spawned polyhost fastrouter 1" in log
    assert "uWSGI fastrouter bound on" in log and "subscription server bound on" in log
    assert "spawned polyhost worker" not in log and "no app configured" not in log


def test_two_nodes_round_robin_then_one_killed(router: Router, tmp_path: Path) -> None:
    sub = f"--subscribe-to 127.0.0.1:{router.sub_port}:two.example"
    with serving(tmp_path, node_args("a", sub), uwsgi_socket=True) as a:
        b_port = free_port()
        b = Instance(
            ["--socket", f"127.0.0.1:{b_port}", *node_args("b", sub)], tmp_path, None, None
        )
        try:
            b.wait_log("spawned polyhost worker")
            wait_for(lambda: len(nodes_of(router.stats_port, "two.example")) == 2, 10, "2 nodes")
            bodies = [request(router.port, "two.example") for _ in range(6)]
            assert {body for _, body in bodies} == {b"a two.example\n", b"b two.example\n"}
            assert [status for status, _ in bodies] == [200] * 6
            assert bodies[0] != bodies[1]  # weighted round robin with equal weights alternates
            os.killpg(b.pid, signal.SIGKILL)  # no unsubscribe: the router finds out by itself
            b.proc.wait(5)
            wait_for(lambda: not listening(b_port), 5, "b's workers to be gone too")
            answers = [request(router.port, "two.example") for _ in range(4)]
            assert answers == [(200, b"a two.example\n")] * 4  # the refused node was retried on a
            router.inst.wait_log("two.example => marking 127.0.0.1:")
            assert nodes_of(router.stats_port, "two.example") == [f"127.0.0.1:{a.uwsgi_port}"]
        finally:
            b.stop()
    # a stopped gracefully: it unsubscribed, so the key has no node left
    router.inst.wait_log(f"two.example => marking 127.0.0.1:{a.uwsgi_port} as failed")
    wait_for(lambda: not nodes_of(router.stats_port, "two.example"), 5, "the key to be empty")
    assert request(router.port, "two.example") == (
        502,
        b"502 Bad Gateway: no node for two.example\n",
    )


def test_unknown_key_is_502(router: Router) -> None:
    assert request(router.port, "nobody.example") == (
        502,
        b"502 Bad Gateway: no node for nobody.example\n",
    )
    router.inst.wait_log("[uwsgi-fastrouter] no node for key nobody.example")


def test_weighted_round_robin_order() -> None:
    table = SubscriptionTable("fastrouter")
    table.apply(Subscription("w", "light:1", weight=1))
    table.apply(Subscription("w", "heavy:1", weight=3))
    picks = [table.pick("w") for _ in range(8)]
    assert picks.count("heavy:1") == 6 and picks.count("light:1") == 2
    table.failed("heavy:1")
    assert {table.pick("w") for _ in range(3)} == {"light:1"}
    table.apply(Subscription("w", "light:1", unsubscribe=True))
    assert table.pick("w") is None


def test_silent_node_is_dropped_after_tolerance(router: Router) -> None:
    datagram = encode_subscription(Subscription("silent.example", "127.0.0.1:1", weight=1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(datagram, ("127.0.0.1", router.sub_port))
    wait_for(lambda: nodes_of(router.stats_port, "silent.example"), 5, "the node")
    # subscription-tolerance 3: then the router drops it, as uWSGI, and the key answers 502
    router.inst.wait_log("silent.example => marking 127.0.0.1:1 as failed (no announce received")
    assert not nodes_of(router.stats_port, "silent.example")
    assert request(router.port, "silent.example")[0] == 502


def test_subscription_packet_matches_realstart_uwsgi(tmp_path: Path) -> None:
    """Capture the datagram Debian's uWSGI sends for --subscribe-to; ours is byte-identical."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(15)
        sub_port = server.getsockname()[1]
        node_port = free_port()
        proc = start_uwsgi(
            tmp_path,
            ["--plugin", "python3", "--socket", f"127.0.0.1:{node_port}", "--wsgi-file", APP,
             "--subscribe-to", f"127.0.0.1:{sub_port}:real.example,5", "--master"],
        )  # fmt: skip
        try:
            datagram, _ = server.recvfrom(4096)
        finally:
            stop_uwsgi(proc)
        unsubscribe, _ = server.recvfrom(4096)
    sub = decode_subscription(datagram)
    assert (sub.key, sub.address, sub.modifier1, sub.unsubscribe) == (
        "real.example",
        f"127.0.0.1:{node_port}",
        5,
        False,
    )
    assert encode_subscription(sub) == datagram
    assert decode_subscription(unsubscribe).unsubscribe
    ours = Subscription("real.example", f"127.0.0.1:{node_port}", modifier1=5, cores=1)
    assert encode_subscription(ours) == datagram


def test_real_uwsgi_node_behind_polyhost_fastrouter(router: Router, tmp_path: Path) -> None:
    with subscribed_uwsgi_node(tmp_path, APP, router.sub_port, router.stats_port, "uwsgi.example"):
        assert request(router.port, "uwsgi.example") == (200, b"uwsgi uwsgi.example\n")


def test_polyhost_node_behind_real_uwsgi_fastrouter(tmp_path: Path) -> None:
    fr_port, sub_port, stats_port = free_port(), free_port(), free_port()
    proc = start_uwsgi(
        tmp_path,
        ["--plugin", "fastrouter", "--fastrouter", f"127.0.0.1:{fr_port}",
         "--fastrouter-subscription-server", f"127.0.0.1:{sub_port}",
         "--fastrouter-stats", f"127.0.0.1:{stats_port}", "--master"],
    )  # fmt: skip
    try:
        wait_for(lambda: listening(stats_port), 10, "uWSGI's fastrouter")
        sub = f"--subscribe2 server=127.0.0.1:{sub_port},key=poly.example,weight=3"
        with serving(tmp_path, node_args("poly", sub), uwsgi_socket=True) as node:
            wait_for(lambda: nodes_of(stats_port, "poly.example"), 10, "the subscription")
            slot = stats(stats_port)["subscriptions"][0]  # type: ignore[index]
            assert slot["nodes"][0]["name"] == f"127.0.0.1:{node.uwsgi_port}"
            assert slot["nodes"][0]["weight"] == 3
            assert request(fr_port, "poly.example") == (200, b"poly poly.example\n")
        wait_for(lambda: not nodes_of(stats_port, "poly.example"), 10, "the unsubscribe")
    finally:
        stop_uwsgi(proc)


def test_stats_document(router: Router) -> None:
    doc = stats(router.stats_port)
    assert doc["version"] == "2.0.21" and doc["fastrouter"] == [f"127.0.0.1:{router.port}"]
    assert {"pid", "uid", "gid", "cwd", "active_sessions", "subscriptions", "cheap"} <= set(doc)


def test_static_nodes_pattern_and_base(tmp_path: Path) -> None:
    sockets = tmp_path / "nodes"
    sockets.mkdir()
    with (
        serving(tmp_path, node_args("unix", f"--socket {sockets}/unix.example")),
        serving(tmp_path, node_args("static"), uwsgi_socket=True) as static,
    ):
        to_port, dead, base_port, pattern_port = (free_port() for _ in range(4))
        routers = [
            Instance(
                ["--fastrouter", f"127.0.0.1:{port}", *args], tmp_path, None, None
            )
            for port, args in (
                (to_port, ["--fastrouter-to", f"127.0.0.1:{dead}",
                           "--fastrouter-to", f"127.0.0.1:{static.uwsgi_port}"]),
                (base_port, ["--fastrouter-use-base", f"{sockets}/"]),
                (pattern_port, ["--fastrouter-use-pattern", f"{sockets}/%s"]),
            )
        ]  # fmt: skip
        try:
            for router in routers:
                router.wait_log("uWSGI fastrouter bound on")
            answers = {request(to_port, "any.example") for _ in range(4)}
            assert answers == {(200, b"static any.example\n")}  # the dead node is skipped
            routers[0].wait_log(f"marking 127.0.0.1:{dead} as failed")
            for port in (base_port, pattern_port):
                assert request(port, "unix.example") == (200, b"unix unix.example\n")
                # a key must not walk out of the socket directory
                assert request(port, "../nodes/unix.example")[0] == 502
        finally:
            for router in routers:
                router.stop()


def test_fastrouter_behind_nginx(router: Router, tmp_path: Path) -> None:
    sub = f"--subscribe-to 127.0.0.1:{router.sub_port}:127.0.0.1"
    with serving(tmp_path, node_args("nginx", sub), uwsgi_socket=True):
        wait_for(lambda: nodes_of(router.stats_port, "127.0.0.1"), 10, "the subscription")
        nginx = Nginx(tmp_path, f"location / {{ uwsgi_pass 127.0.0.1:{router.port}; }}")
        try:
            with socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            assert split_response(data)[::2] == (200, b"nginx 127.0.0.1\n")
        finally:
            nginx.stop()


def test_fuzzed_packets_are_bounded(router: Router, tmp_path: Path) -> None:
    """Mutated subscription datagrams and uwsgi requests (tests/fuzz_support.py): the router
    neither dies nor leaks a descriptor, and keeps routing. Seeded: the seed is in the message."""
    seed = int(os.environ.get("POLYHOST_FUZZ_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    (router_pid,) = router.inst.worker_pids()
    fds = open_fds(router_pid)
    announce = encode_subscription(Subscription("fuzz.example", "127.0.0.1:1", weight=2))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(300):
            sock.sendto(mutate(rng, announce), ("127.0.0.1", router.sub_port))
    counts = throw(seed, 150, {"uwsgi": (router.port, uwsgi_seeds())})
    assert counts.timeouts == 0, f"seed {seed}: {counts}"
    assert router.inst.worker_pids() == [router_pid], f"seed {seed}: the router died"
    wait_for(lambda: open_fds(router_pid) <= fds, 5, f"seed {seed}: descriptors to be closed")
    sub = f"--subscribe-to 127.0.0.1:{router.sub_port}:after.example"
    with serving(tmp_path, node_args("after", sub), uwsgi_socket=True):
        wait_for(lambda: nodes_of(router.stats_port, "after.example"), 10, "the subscription")
        assert request(router.port, "after.example") == (200, b"after after.example\n")


def test_subscribe_option_forms(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("# comment\none.example\ntwo.example,5\n")
    assert [
        (a.server, a.key, a.address, a.modifier1)
        for a in parse_subscribe_to(f"127.0.0.1:2626:@{keys}", "127.0.0.1:3031")
    ] == [
        ("127.0.0.1:2626", "one.example", "127.0.0.1:3031", 0),
        ("127.0.0.1:2626", "two.example", "127.0.0.1:3031", 5),
    ]
    (announce,) = parse_subscribe_to("10.0.0.2:4000=/run/sub.sock:k.example,7", "x")
    assert (announce.server, announce.key, announce.address, announce.modifier1) == (
        "/run/sub.sock",
        "k.example",
        "10.0.0.2:4000",
        7,
    )
    two = parse_subscribe2("server=127.0.0.1:2626,key=k,socket=1,weight=4,modifier2=1", ["a", "b"])
    assert (two.server, two.key, two.address, two.weight, two.modifier2) == (
        "127.0.0.1:2626",
        "k",
        "b",
        4,
        1,
    )
    with pytest.raises(ConfigError, match="server= and key= are required"):
        parse_subscribe2("key=k", ["a"])
    with pytest.raises(ConfigError, match="use SERVER:KEY"):
        parse_subscribe_to("127.0.0.1:2626", "a")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([], "fastrouter has nowhere to send requests"),
        (
            ["--fastrouter-subscription-server", "127.0.0.1:0", "--fastrouter-processes", "2"],
            "fastrouter-processes > 1 with a fastrouter-subscription-server is not supported",
        ),
    ],
)
def test_unusable_router_options_stop_the_start(
    tmp_path: Path, args: list[str], error: str
) -> None:
    inst = Instance(["--fastrouter", f"127.0.0.1:{free_port()}", *args], tmp_path, None, None)
    try:
        assert inst.proc.wait(15) == 1
        assert error in inst.log()
    finally:
        inst.stop()


def test_router_survives_reload_and_dies_with_its_master(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    inst = Instance(
        ["--fastrouter", f"127.0.0.1:{port}", "--fastrouter-to", f"127.0.0.1:{dead}"],
        tmp_path,
        None,
        None,
    )
    try:
        inst.wait_log("spawned polyhost fastrouter 1")
        (router_pid,) = inst.worker_pids()
        inst.signal(signal.SIGHUP)  # graceful reload: the master re-execs, the router stays
        wait_for(lambda: "kept running through the reload" in inst.log(), 15, "the re-exec")
        assert inst.worker_pids() == [router_pid]
        assert "uWSGI fastrouter inherited" in inst.log()
        # its only node refuses: marked failed, and then there is no node left for the key
        assert request(port, "r.example") == (502, b"502 Bad Gateway: no node for r.example\n")
        os.kill(inst.pid, signal.SIGKILL)
        inst.proc.wait(5)
        wait_for(lambda: not Path(f"/proc/{router_pid}").exists(), 10, "the orphaned router")
    finally:
        inst.stop()
