"""The fabric's cache on a real Redis server (`cache2 = name=N,backend=redis://...`): the same
meaning as the local LMDB cache, shared by every language of two instances, atomic counters
across 8 workers, TTL expiry, and Redis going away and coming back."""

from __future__ import annotations

import itertools
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from test_fabric_languages import text

from polyhost.fabric.cache import CacheError, CacheSet, parse_cache2

from conftest import APPS, Instance, free_port, get, serving, split_response, wait_for
from redis_helper import RedisServer, redis_server

FABRIC = APPS / "fabric"
#: the languages of tests/apps/fabric/matrix.* (C# and Clojure included)
LANGS = ("py", "pl", "rb", "lua", "clj", "cs")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


def caches(server: RedisServer, name: str = "shared", extra: str = "") -> CacheSet:
    spec = parse_cache2(f"name={name},backend={server.url}{extra}", "test")
    return CacheSet([spec], "/nonexistent-cache-dir", socket_timeout=2)


def test_operations_mean_what_they_mean_on_the_local_cache(server: RedisServer) -> None:
    cache = caches(server)
    cache.clear()
    assert cache.get(b"a") is None
    assert cache.set(b"a", b"1") is True
    assert cache.set(b"a", b"2") is False  # uWSGI's set does not overwrite
    assert cache.get(b"a") == b"1"
    assert cache.update(b"a", b"3") is True
    assert cache.get(b"a") == b"3"
    assert cache.exists(b"a") and not cache.exists(b"b")
    assert cache.set(b"bin", b"\x00\xff\r\n") and cache.get(b"bin") == b"\x00\xff\r\n"
    assert cache.set(b"empty", b"") and cache.get(b"empty") == b""
    assert sorted(cache.keys()) == [b"a", b"bin", b"empty"]
    assert cache.delete(b"a") is True and cache.delete(b"a") is False
    cache.clear()
    assert cache.keys() == []


def test_counters_are_atomic_redis_integers(server: RedisServer) -> None:
    cache = caches(server)
    cache.clear()
    assert cache.inc(b"n") == 1
    assert cache.inc(b"n", 10) == 11
    assert cache.dec(b"n", 3) == 8
    assert cache.mul(b"n", 5) == 40
    assert cache.div(b"n", 3) == 13
    assert cache.div(b"n", 0) == 0  # uWSGI: division by zero gives 0
    assert cache.num(b"n") == 0 and cache.num(b"missing") == 0
    assert cache.dec(b"neg", 7) == -7 and cache.div(b"neg", 2) == -3  # C's truncation
    assert cache.mul(b"big", 2) == 0  # math_initial 0
    assert caches(server, extra=",math_initial=5").inc(b"five") == 6
    # what another Redis client sees: an integer it can INCRBY itself
    raw = redis.Redis.from_url(server.url)
    assert raw.get(b"polyhost:shared:n") == b"0"
    raw.incrby(b"polyhost:shared:n", 4)
    assert cache.num(b"n") == 4
    cache.set(b"text", b"abc")
    with pytest.raises(CacheError, match="not a counter"):
        cache.num(b"text")


def test_expiry_is_a_ttl(server: RedisServer) -> None:
    cache = caches(server)
    cache.clear()
    cache.set(b"soon", b"x", 1)
    cache.inc(b"count", 1, 1)
    raw = redis.Redis.from_url(server.url)
    assert 0 < raw.ttl(b"polyhost:shared:soon") <= 1
    found = cache.lookup(b"soon")
    assert found is not None and found[0] == b"x" and found[1] >= int(time.time())
    cache.inc(b"count")  # an existing counter keeps its TTL
    assert 0 < raw.ttl(b"polyhost:shared:count") <= 1
    wait_for(lambda: cache.get(b"soon") is None, 5, "the item to expire")
    assert cache.get(b"count") is None
    assert cache.set(b"soon", b"again")  # a set after expiry stores


def test_caches_are_namespaced_and_keep_the_size_limits(server: RedisServer) -> None:
    one, two = caches(server, "one", ",keysize=8,blocksize=6"), caches(server, "two")
    one.clear()
    two.clear()
    one.set(b"k", b"in-one")
    two.set(b"k", b"in-two")
    assert (one.get(b"k"), two.get(b"k")) == (b"in-one", b"in-two")
    one.clear()
    assert two.get(b"k") == b"in-two"
    with pytest.raises(CacheError, match="over keysize 8"):
        one.set(b"k" * 9, b"v")
    with pytest.raises(CacheError, match="over blocksize 6"):
        one.set(b"k", b"1234567")


def test_local_memo_is_an_explicit_choice(server: RedisServer) -> None:
    plain, memo = caches(server), caches(server, extra=",local_memo=60")
    writer = caches(server)
    writer.update(b"m", b"old")
    assert plain.get(b"m") == memo.get(b"m") == b"old"
    writer.update(b"m", b"new")
    assert plain.get(b"m") == b"new"  # no memo: always what Redis holds
    assert memo.get(b"m") == b"old"  # local_memo=60: up to 60 s stale, as asked
    memo.update(b"m", b"mine")
    assert memo.get(b"m") == b"mine"  # its own writes are seen at once


def test_bad_definitions_are_clear_errors() -> None:
    with pytest.raises(CacheError, match="is not a Redis URL"):
        parse_cache2("name=x,backend=http://127.0.0.1:6379", "app.ini:3")
    with pytest.raises(CacheError, match="exclude each other"):
        parse_cache2("name=x,backend=redis://127.0.0.1,store=/tmp/x", "app.ini:3")
    with pytest.raises(CacheError, match="local_memo= is for caches with backend"):
        parse_cache2("name=x,items=10,local_memo=5", "app.ini:3")


def test_redis_down_is_a_clear_error_then_recovers(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        cache = caches(server)
        cache.update(b"k", b"v")
        server.stop()
        started = time.monotonic()
        with pytest.raises(CacheError, match=r"cache 'shared' on redis://127\.0\.0\.1:\d+/0: get"):
            cache.get(b"k")
        assert time.monotonic() - started < 5  # bounded by socket-timeout (2 s here)
        server.start()  # same port: the data is gone (no persistence), the cache works again
        wait_for(lambda: _answers(cache), 10, "the cache to reconnect")
        assert cache.set(b"k", b"back") and cache.get(b"k") == b"back"


def _answers(cache: CacheSet) -> bool:
    try:
        cache.exists(b"probe")
        return True
    except CacheError:
        return False


def test_password_is_not_shown() -> None:
    from polyhost.fabric.redis_url import redacted

    assert redacted("redis://:s3cret@10.0.0.1:6379/0") == "redis://:***@10.0.0.1:6379/0"
    assert redacted("rediss://app:s3cret@h/1") == "rediss://app:***@h/1"
    assert redacted("unix:///run/redis.sock") == "unix:///run/redis.sock"


# --- two instances, every language ------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(
    server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Instance, Instance]]:
    import os

    from test_fabric_languages import csharp_matrix

    tmp = tmp_path_factory.mktemp("pair")
    markers = tmp / "markers"
    markers.mkdir()
    os.environ["MARKER_DIR"] = str(markers)
    dll = csharp_matrix(tmp)
    args = ["--processes", "1", "--cache2", f"name=shared,backend={server.url}"]
    for lang, app in (
        ("py", "matrix.py"),
        ("pl", "matrix.psgi"),
        ("rb", "matrix.ru"),
        ("lua", "matrix.lua"),
        ("clj", "matrix.clj"),
    ):
        args += ["--mount", f"/{lang}={FABRIC / app}"]
    args += ["--mount", f"/cs={dll}:Polyhost.Tests.FabricMatrix"]
    try:
        with serving(tmp, args, timeout=90) as one, serving(tmp, args, timeout=90) as two:
            for inst in (one, two):
                wait_for(
                    lambda inst=inst: "polyhost.test.fabric-matrix:handler loaded" in inst.log(),
                    120,
                    "the Clojure app",
                )
            yield one, two
    finally:
        del os.environ["MARKER_DIR"]


@pytest.mark.parametrize(("writer", "reader"), list(itertools.product(LANGS, LANGS)))
def test_cache_matrix_across_two_instances(
    pair: tuple[Instance, Instance], writer: str, reader: str
) -> None:
    one, two = pair
    key = f"k-{writer}-{reader}"
    text(one, f"/{writer}/cache_set?k={key}&v=from-{writer}")
    assert text(two, f"/{reader}/cache_get?k={key}") == f"from-{writer}"


def test_counter_shared_by_two_instances(pair: tuple[Instance, Instance]) -> None:
    one, two = pair
    values = [int(text(inst, f"/{lang}/cache_inc?k=xcount")) for lang in LANGS for inst in pair]
    assert values == list(range(1, 2 * len(LANGS) + 1))
    assert one.proc.poll() is None and two.proc.poll() is None


def test_inc_from_four_workers_in_each_of_two_instances_is_exact(
    server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("MARKER_DIR", str(tmp_path))
    args = [
        "--processes",
        "4",
        "--cache2",
        f"name=shared,backend={server.url}",
        "--mount",
        f"/py={FABRIC / 'matrix.py'}",
    ]
    with serving(tmp_path, args) as one, serving(tmp_path, args) as two:
        per_instance = 200
        targets = [one, two] * per_instance
        with ThreadPoolExecutor(16) as pool:
            values = list(pool.map(lambda i: int(text(i, "/py/cache_inc?k=exact")), targets))
        # every increment happened once, atomically: the results are 1..N, each once
        assert sorted(values) == list(range(1, 2 * per_instance + 1))
        assert text(one, "/py/cache_inc?k=exact") == str(2 * per_instance + 1)
        pids = {*one.worker_pids(), *two.worker_pids()}
        assert len(pids) == 8


def test_tls_and_unix_socket_urls(tmp_path: Path) -> None:
    with redis_server(tmp_path, tls=True) as server:
        over_tls = caches(server, "tls")
        assert server.url.startswith("rediss://")
        assert over_tls.update(b"k", b"over tls") and over_tls.get(b"k") == b"over tls"
        over_unix = CacheSet(
            [parse_cache2(f"name=tls,backend=unix://{server.socket_path}", "test")],
            "/nonexistent-cache-dir",
        )
        assert over_unix.get(b"k") == b"over tls"  # the same server, the same cache


def test_redis_down_in_every_language_then_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKER_DIR", str(tmp_path))
    with redis_server(tmp_path) as server:
        args = [
            "--socket-timeout", "2",
            "--cache2", f"name=shared,backend={server.url}",
            "--mount", f"/py={FABRIC / 'matrix.py'}",
            "--mount", f"/pl={FABRIC / 'matrix.psgi'}",
            "--mount", f"/rb={FABRIC / 'matrix.ru'}",
        ]  # fmt: skip
        with serving(tmp_path, args) as inst:
            for lang in ("py", "pl", "rb"):
                text(inst, f"/{lang}/cache_set?k={lang}&v=1")
            server.stop()
            for lang in ("py", "pl", "rb"):
                started = time.monotonic()
                status, _, _ = split_response(get(inst.port, f"/{lang}/cache_get?k={lang}"))
                assert status == 500 and time.monotonic() - started < 6
            log = inst.log()
            assert log.count("cache 'shared' on redis://127.0.0.1:") >= 3
            assert "Connection refused" in log
            assert text(inst, "/py/") == "python"  # everything else is served
            server.start()
            for lang in ("py", "pl", "rb"):
                text(inst, f"/{lang}/cache_set?k={lang}&v=back")
                assert text(inst, f"/{lang}/cache_get?k={lang}") == "back"


CACHE_APP = """import uwsgi


def application(environ, start_response):
    uwsgi.cache_update("k", b"stored")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [uwsgi.cache_get("k")]
"""


def test_password_from_the_environment_in_an_ini_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backend=redis://:$(REDIS_PASSWORD)@...` in an ini file: the password comes from the
    environment, authenticates, and never reaches the log."""
    password = f"pw-{secrets.token_hex(8)}"
    app = tmp_path / "cache_app.py"
    app.write_text(CACHE_APP)
    with redis_server(tmp_path) as server:
        redis.Redis(unix_socket_path=str(server.socket_path)).config_set("requirepass", password)
        url = f"redis://:$(REDIS_PASSWORD)@127.0.0.1:{server.port}/0"
        ini = tmp_path / "site.ini"
        ini.write_text(f"[uwsgi]\ncache2 = name=shared,backend={url}\nwsgi-file = {app}\n")
        monkeypatch.setenv("REDIS_PASSWORD", password)
        stats = free_port()
        with serving(tmp_path, ["--ini", str(ini), "--stats", f"127.0.0.1:{stats}"]) as inst:
            status, _, data = split_response(get(inst.port, "/"))
            assert (status, data) == (200, b"stored")
            owner = redis.Redis(unix_socket_path=str(server.socket_path), password=password)
            assert owner.get("polyhost:shared:k") == b"stored"
            with socket.create_connection(("127.0.0.1", stats), timeout=10) as conn:
                document = conn.makefile("rb").read()
            assert b'"caches"' in document and password.encode() not in document
        assert password not in inst.log()
