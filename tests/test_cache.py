"""The shared cache (polyhost.fabric.cache): uWSGI's cache2 semantics on LMDB, across real
processes, and its network forms (modifier1 111) over real TCP, against real uWSGI too."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from polyhost.config import load_config
from polyhost.fabric.cache import (
    CacheError,
    CacheFull,
    CacheSet,
    parse_cache2,
    specs_from_config,
)
from polyhost.fabric.cache_remote import magic_body_size, serve_cache_packet
from polyhost.protocol.uwsgi import (
    decode_vars,
    encode_array,
    encode_vars,
    pack_header,
    unpack_header,
)

from conftest import ROOT, free_port, wait_for

UWSGI = shutil.which("uwsgi")
UWSGI_PLUGINS = Path("/usr/lib/uwsgi/plugins")


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., CacheSet]]:
    """make("name=a,items=3", ...) -> a CacheSet in tmp_path; closed and removed at the end."""
    made: list[CacheSet] = []

    def build(*definitions: str, directory: Path | None = None) -> CacheSet:
        specs = [parse_cache2(d, f"test.ini:{i + 1}") for i, d in enumerate(definitions)]
        caches = CacheSet(specs, str(directory or tmp_path / "caches"))
        made.append(caches)
        return caches

    yield build
    for caches in made:
        caches.remove_files()


def run_forked(body: Callable[[int], None], count: int, timeout: float = 30.0) -> None:
    """Run body(i) in `count` forked processes at once; fail if any fails or hangs."""
    pids = []
    for i in range(count):
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                body(i)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        pids.append(pid)
    deadline = time.monotonic() + timeout
    codes = {}
    while len(codes) < len(pids):
        for pid in pids:
            if pid not in codes:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            for pid in pids:
                if pid not in codes:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            raise AssertionError(f"forked processes still running after {timeout}s")
        time.sleep(0.01)
    assert all(code == 0 for code in codes.values()), codes


def run_python(code: str, timeout: float = 30.0) -> str:
    """Run `code` in a new Python process (what the master's re-exec is); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- configuration ---------------------------------------------------------------------------


def test_parse_cache2_keys_and_aliases() -> None:
    spec = parse_cache2(
        "name=c,maxitems=7,blocksize=100,key_size=20,purge_lru=1,store=/x.db,"
        "hash_size=100,hash=murmur2,math_initial=-5,lastmod=1",
        "a.ini:3",
    )
    assert (spec.name, spec.max_items, spec.blocksize, spec.keysize) == ("c", 7, 100, 20)
    assert (spec.purge_lru, spec.store, spec.hashsize, spec.hash) == (True, "/x.db", 100, "murmur2")
    assert spec.math_initial == -5 and spec.origin == "a.ini:3"
    assert parse_cache2("name=d,items=3", "x").max_items == 3
    assert parse_cache2("name=d,max_items=4,lru=0", "x").purge_lru is False
    bitmap = parse_cache2("name=b,items=2,blocks=10,blocksize=10,bitmap=1", "x")
    assert bitmap.max_item_size == 100


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("name=c,items=3,itemz=4", "unknown key 'itemz'; known keys: backend, bitmap, blocks"),
        ("items=3", "needs a name"),
        ("name=c", "needs its maximum number of items"),
        ("name=c,items=three", "items=three is not an integer"),
        ("name=c,items=3,purge_lru=maybe", "not a boolean"),
        ("name=c,items=3,udp=127.0.0.1:5000", "UDP cache replication"),
        ("name=c,items=3,hash=md5", "hash=md5 is not one of djb33x, murmur2"),
        ("name=c,items=3,keysize=70000", "keysize must be between 1 and 65534"),
        ("name=c,items=3,blocks=2", "blocks=2 must be at least items=3"),
        ("name=c,items", "has no value"),
    ],
)
def test_parse_cache2_errors_name_origin_and_key(value: str, message: str) -> None:
    with pytest.raises(CacheError) as error:
        parse_cache2(value, "app.ini:12")
    assert str(error.value).startswith(f"app.ini:12: cache2 = {value}: ")
    assert message in str(error.value)


def test_specs_from_config_old_cache_first_then_cache2(tmp_path: Path) -> None:
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[uwsgi]\ncache = 10\ncache-blocksize = 512\ncache-store = /tmp/x.store\n"
        "cache2 = name=one,items=5\ncache2 = name=two,items=6,keysize=10\n"
    )
    specs = specs_from_config(load_config(["--ini", str(ini)]))
    assert [(s.name, s.max_items) for s in specs] == [("default", 10), ("one", 5), ("two", 6)]
    assert (specs[0].blocksize, specs[0].store) == (512, "/tmp/x.store")
    assert specs[2].keysize == 10 and specs[1].origin.endswith("app.ini:5")

    ini.write_text("[uwsgi]\ncache2 = name=one,items=5\ncache2 = name=one,items=6\n")
    with pytest.raises(
        CacheError,
        match=r"app.ini:3: cache name 'one' is already used by the "
        r"cache defined at .*app.ini:2",
    ):
        specs_from_config(load_config(["--ini", str(ini)]))
    ini.write_text("[uwsgi]\ncache2 = name=one,items=5,nope=1\n")
    with pytest.raises(CacheError, match=r"app.ini:2: cache2 = .*unknown key 'nope'"):
        specs_from_config(load_config(["--ini", str(ini)]))


# --- operations ------------------------------------------------------------------------------


def test_every_operation(make: Callable[..., CacheSet]) -> None:
    caches = make("name=first,items=10", "name=second,items=10")
    assert caches.get(b"k") is None
    assert caches.set(b"k", b"v1") is True
    assert caches.set(b"k", b"v2") is False  # set does not overwrite
    assert caches.get(b"k") == b"v1" == caches.get(b"k", "first")
    assert caches.update(b"k", b"v3") is True
    assert caches.get(b"k") == b"v3"
    assert caches.get(b"k", "second") is None  # caches are separate
    assert caches.update(b"new", b"", cache="second") is True  # empty values are kept
    assert caches.get(b"new", "second") == b""
    assert caches.exists(b"k") and not caches.exists(b"nope")
    assert sorted(caches.keys()) == [b"k"]
    assert caches.delete(b"k") is True and caches.delete(b"k") is False
    assert caches.get(b"k") is None and not caches.exists(b"k")
    for i in range(5):
        caches.set(b"x%d" % i, b"%d" % i)
    assert len(caches.keys()) == 5
    caches.clear()
    assert caches.keys() == [] and caches.get(b"x1") is None
    assert caches.keys("second") == [b"new"]
    with pytest.raises(CacheError, match="no cache named 'third' in this instance"):
        caches.get(b"k", "third")


def test_no_cache_configured(tmp_path: Path) -> None:
    caches = CacheSet([], str(tmp_path / "none"))
    with pytest.raises(CacheError, match="no cache is configured: add `cache2"):
        caches.get(b"k")


def test_oversized_values_and_keys(make: Callable[..., CacheSet]) -> None:
    caches = make("name=small,items=10,blocksize=100,keysize=1000")
    assert caches.set(b"fits", b"x" * 100)
    with pytest.raises(
        CacheError, match="value of 101 bytes is over blocksize 100 of cache 'small'"
    ):
        caches.set(b"big", b"x" * 101)
    with pytest.raises(CacheError, match="key of 1001 bytes is over keysize 1000"):
        caches.update(b"k" * 1001, b"v")
    with pytest.raises(CacheError, match="empty key"):
        caches.set(b"", b"v")
    assert caches.get(b"big") is None and caches.get(b"k" * 1001) is None
    # keys over LMDB's own key limit (511 bytes) still work, each one distinct
    long_a, long_b = b"a" * 900, b"a" * 899 + b"b"
    assert caches.set(long_a, b"A") and caches.set(long_b, b"B")
    assert (caches.get(long_a), caches.get(long_b)) == (b"A", b"B")
    assert sorted(caches.keys()) == sorted([b"fits", long_a, long_b])
    assert caches.delete(long_a) and caches.get(long_a) is None and caches.get(long_b) == b"B"


def test_expiry_hides_items_at_once_and_sweep_deletes_them(
    make: Callable[..., CacheSet],
) -> None:
    caches = make("name=c,items=10")
    caches.set(b"short", b"1", expires=1)
    caches.set(b"long", b"2", expires=3600)
    caches.set(b"never", b"3")
    assert caches.get(b"short") == b"1"
    assert caches.lookup(b"long") is not None and caches.lookup(b"long")[1] >= time.time() + 3590
    # no sweeper runs here: the item disappears by itself when its second is over
    wait_for(lambda: caches.get(b"short") is None, timeout=5, what="expiry of 'short'")
    listed = caches.keys()
    assert not caches.exists(b"short") and b"short" not in listed
    assert caches.set(b"short", b"again", expires=60)  # an expired item does not block set
    assert caches.stats()[0]["items"] == 3
    assert caches.sweep(time.time()) == 0
    assert caches.sweep(time.time() + 7200) == 2  # the master's sweep, with `now` injected
    assert caches.keys() == [b"never"] and caches.stats()[0]["items"] == 1


def test_update_resets_expiry_and_math_keeps_it(make: Callable[..., CacheSet]) -> None:
    caches = make("name=c,items=10")
    caches.set(b"k", b"v", expires=100)
    caches.update(b"k", b"w")  # expires 0: never
    assert caches.lookup(b"k") == (b"w", 0)
    assert caches.sweep(time.time() + 1000) == 0
    caches.inc(b"n", 1, expires=100)
    first = caches.lookup(b"n")
    caches.inc(b"n", 1, expires=5000)  # uWSGI's FIXEXPIRE: only a new counter gets expires
    assert caches.lookup(b"n") == (b"\x02" + b"\0" * 7, first[1]) and first[1] > 0


def test_full_cache_returns_false_and_counts(make: Callable[..., CacheSet]) -> None:
    caches = make("name=c,items=3")
    assert all(caches.set(b"k%d" % i, b"v") for i in range(3))
    assert caches.set(b"k3", b"v") is False
    assert caches.update(b"k4", b"v") is False
    assert caches.update(b"k0", b"changed") is True  # existing keys still update
    with pytest.raises(CacheFull, match="cache 'c' is full \\(3 items\\)"):
        caches.inc(b"counter")
    stats = caches.stats()[0]
    assert (stats["items"], stats["full"]) == (3, 3)
    assert caches.delete(b"k1") and caches.set(b"k3", b"v")
    caches.update(b"k2", b"v", expires=1)  # an expired item makes room without the sweeper
    wait_for(lambda: not caches.exists(b"k2"), timeout=5, what="expiry of k2")
    assert caches.set(b"k5", b"v")
    assert sorted(caches.keys()) == [b"k0", b"k3", b"k5"]


def test_purge_lru_evicts_the_least_recently_used(make: Callable[..., CacheSet]) -> None:
    caches = make("name=lru,items=3,purge_lru=1")
    for key in (b"a", b"b", b"c"):
        assert caches.set(key, key.upper())
    assert caches.get(b"a") == b"A"  # a is now the most recently used; b the least
    assert caches.set(b"d", b"D")
    assert sorted(caches.keys()) == [b"a", b"c", b"d"]
    caches.update(b"c", b"C2")  # writing is a use too
    caches.inc(b"e")
    assert sorted(caches.keys()) == [b"c", b"d", b"e"]
    assert caches.exists(b"d")  # exists is not a use (as uWSGI): d is evicted next
    assert caches.set(b"f", b"F")
    assert sorted(caches.keys()) == [b"c", b"e", b"f"]
    assert caches.stats()[0]["full"] == 3  # uWSGI counts each eviction as a full event


def test_clear_on_full(make: Callable[..., CacheSet]) -> None:
    caches = make("name=c,items=2,clear_on_full=1")
    caches.set(b"a", b"1")
    caches.set(b"b", b"2")
    assert caches.set(b"c", b"3")
    assert caches.keys() == [b"c"]


def test_math_as_uwsgi(make: Callable[..., CacheSet]) -> None:
    caches = make("name=c,items=20", "name=init,items=5,math_initial=100")
    assert caches.num(b"n") == 0
    assert caches.inc(b"n") == 1 and caches.inc(b"n", 10) == 11
    assert caches.dec(b"n") == 10 and caches.dec(b"n", 3) == 7
    assert caches.mul(b"n") == 14 and caches.mul(b"n", 3) == 42
    assert caches.div(b"n") == 21 and caches.div(b"n", 4) == 5
    assert caches.num(b"n") == 5
    assert caches.get(b"n") == (5).to_bytes(8, "little", signed=True)  # uWSGI's native int64
    assert caches.div(b"n", 0) == 0  # uWSGI: division by zero gives 0
    caches.update(b"neg", (-7).to_bytes(8, "little", signed=True))
    assert caches.div(b"neg", 2) == -3  # C division truncates toward zero
    caches.update(b"max", (2**63 - 1).to_bytes(8, "little", signed=True))
    assert caches.inc(b"max") == -(2**63)  # int64 wraps
    assert caches.dec(b"fresh", 5) == -5 and caches.mul(b"fresh2") == 0
    assert caches.inc(b"n", cache="init") == 101
    caches.set(b"text", b"12")
    with pytest.raises(CacheError, match="holds 2 bytes, not a 64-bit counter"):
        caches.inc(b"text")
    with pytest.raises(CacheError, match="not a 64-bit counter"):
        caches.num(b"text")


def test_four_processes_thousand_inc_each_lose_nothing(make: Callable[..., CacheSet]) -> None:
    caches = make("name=counters,items=100")
    caches.set(b"seen", b"x")

    def child(i: int) -> None:
        caches.after_fork()
        for _ in range(1000):
            caches.inc(b"hits")
        for _ in range(10):
            assert caches.get(b"seen") == b"x"
            assert caches.get(b"missing") is None

    run_forked(child, 4)
    assert caches.num(b"hits") == 4000
    stats = caches.stats()[0]
    assert (stats["hits"], stats["miss"]) == (40 + 1, 40)  # counted in every process


def test_fork_without_after_fork_reopens_by_itself(make: Callable[..., CacheSet]) -> None:
    caches = make("name=c,items=10")
    caches.set(b"before", b"1")
    assert caches.get(b"before") == b"1"

    def child(i: int) -> None:  # no after_fork(): the at-fork hook drops the parent's handles
        assert caches.get(b"before") == b"1"
        assert caches.set(b"child%d" % i, b"2")

    run_forked(child, 2)
    assert sorted(caches.keys()) == [b"before", b"child0", b"child1"]
    assert caches.update(b"before", b"parent still writes")
    assert caches.get(b"before") == b"parent still writes"


def test_forking_while_the_stats_thread_reads_does_not_hang(
    make: Callable[..., CacheSet],
) -> None:
    """The master forks workers while its stats-server thread calls stats() and its loop
    sweeps: the children must get working caches, never hang on inherited handles."""
    caches = make("name=c,items=100")
    caches.set(b"k", b"v", expires=3600)
    stop = threading.Event()
    calls = []

    def stats_server() -> None:
        while not stop.is_set():
            calls.append(caches.stats()[0]["items"])
            caches.sweep(time.time())

    thread = threading.Thread(target=stats_server, daemon=True)
    thread.start()
    try:
        for _ in range(10):
            run_forked(lambda i: caches.inc(b"forks") and None, 2, timeout=20)
    finally:
        stop.set()
        thread.join(5)
    assert caches.num(b"forks") == 20 and calls and caches.get(b"k") == b"v"


def test_writes_of_another_process_are_seen_at_once(make: Callable[..., CacheSet]) -> None:
    caches = make("name=c,items=10")
    caches.set(b"k", b"old")
    assert caches.get(b"k") == b"old" and caches.get(b"absent") is None  # both memoised here

    def child(i: int) -> None:
        caches.after_fork()
        assert caches.update(b"k", b"new") and caches.set(b"absent", b"now here")

    run_forked(child, 1)
    assert caches.get(b"k") == b"new" and caches.get(b"absent") == b"now here"
    assert caches.set(b"k", b"x") is False


def test_cache_survives_close_and_reopen_in_a_new_process(tmp_path: Path) -> None:
    """What the master's re-exec on reload does: close, then a new process opens the same
    directory; remove_files at final shutdown removes everything."""
    directory = tmp_path / "instance"
    caches = CacheSet([parse_cache2("name=c,items=10", "t:1")], str(directory))
    caches.set(b"k", b"kept")
    caches.inc(b"n", 41)
    caches.close()
    out = run_python(f"""
        from polyhost.fabric.cache import CacheSet, parse_cache2
        caches = CacheSet([parse_cache2("name=c,items=10", "t:1")], {str(directory)!r})
        print(caches.get(b"k").decode(), caches.inc(b"n"), caches.stats()[0]["items"])
        caches.close()
    """)
    assert out.split() == ["kept", "42", "2"]
    caches = CacheSet([parse_cache2("name=c,items=10", "t:1")], str(directory))
    assert caches.num(b"n") == 42
    caches.remove_files()
    assert os.listdir(directory) == []


def test_a_process_with_a_bigger_cache2_does_not_break_the_others(tmp_path: Path) -> None:
    """During a reload with a raised items=, old workers meet a file with a bigger map."""
    directory = tmp_path / "instance"
    caches = CacheSet([parse_cache2("name=c,items=10", "t:1")], str(directory))
    caches.set(b"old", b"1")
    out = run_python(f"""
        from polyhost.fabric.cache import CacheSet, parse_cache2
        caches = CacheSet([parse_cache2("name=c,items=5000", "t:1")], {str(directory)!r})
        for i in range(400):  # 24 MB: more than the map of items=10 holds
            caches.set(b"big%d" % i, b"x" * 60000)
        print(caches.set(b"new", b"2"), caches.get(b"old").decode())
        caches.close()
    """)
    assert out.split() == ["True", "1"]
    assert caches.get(b"new") == b"2" and caches.update(b"old", b"3")
    assert len(caches.get(b"big399") or b"") == 60000
    assert caches.set(b"one-more", b"x") is False  # full by this process's own items=10
    caches.remove_files()


def test_store_persists_across_restarts(tmp_path: Path) -> None:
    store = tmp_path / "persist" / "c.lmdb"
    store.parent.mkdir()
    definition = f"name=c,items=10,store={store}"
    caches = CacheSet([parse_cache2(definition, "t:1")], str(tmp_path / "instance"))
    caches.set(b"k", b"persisted")
    caches.set(b"temp", b"t", expires=3600)
    caches.remove_files()  # final shutdown: a store= file stays
    assert store.exists()
    out = run_python(f"""
        from polyhost.fabric.cache import CacheSet, parse_cache2
        caches = CacheSet([parse_cache2({definition!r}, "t:1")], {str(tmp_path / "other")!r})
        print(caches.get(b"k").decode(), caches.lookup(b"temp")[1] > 0)
        caches.remove_files()
    """)
    assert out.split() == ["persisted", "True"]


def test_a_bad_store_file_is_a_clear_error(tmp_path: Path) -> None:
    store = tmp_path / "old-uwsgi.store"
    store.write_bytes(b"\x01" * 8192)  # e.g. a uWSGI cache-store image
    spec = parse_cache2(f"name=c,items=10,store={store}", "app.ini:4")
    with pytest.raises(
        CacheError,
        match=r"app.ini:4: cache 'c': .* is not a polyhost cache "
        r"store .*store_delete=1",
    ):
        CacheSet([spec], str(tmp_path / "i"))
    spec = parse_cache2(f"name=c,items=10,store={store},store_delete=1", "app.ini:4")
    caches = CacheSet([spec], str(tmp_path / "i"))
    assert caches.set(b"k", b"v") and caches.get(b"k") == b"v"
    caches.close()


def test_stats_counters_in_uwsgi_order(make: Callable[..., CacheSet]) -> None:
    caches = make("name=s,items=2,keysize=64,blocksize=128,hashsize=1000")
    before = int(time.time())
    caches.set(b"a", b"1")
    caches.get(b"a")
    caches.get(b"a")
    caches.get(b"zz")
    caches.set(b"b", b"2")
    caches.set(b"c", b"3")  # full
    stats = caches.stats()[0]
    assert list(stats) == [
        "name",
        "hash",
        "hashsize",
        "keysize",
        "max_items",
        "blocks",
        "blocksize",
        "items",
        "hits",
        "miss",
        "full",
        "last_modified_at",
    ]
    assert stats == {
        "name": "s",
        "hash": "djb33x",
        "hashsize": 1000,
        "keysize": 64,
        "max_items": 2,
        "blocks": 2,
        "blocksize": 128,
        "items": 2,
        "hits": 2,
        "miss": 1,
        "full": 1,
        "last_modified_at": stats["last_modified_at"],
    }
    assert before <= stats["last_modified_at"] <= time.time()
    json.dumps(caches.stats())


def test_add_items(make: Callable[..., CacheSet]) -> None:
    caches = make("name=a,items=5", "name=b,items=5")
    caches.set(b"kept", b"old")
    lines = caches.add_items(["b only=in b", "both=x=y", "kept=new", "zzz k=v", "novalue"])
    assert caches.get(b"only", "b") == b"in b" and caches.get(b"only", "a") is None
    assert caches.get(b"both", "a") == b"x=y" == caches.get(b"both", "b")
    assert caches.get(b"kept") == b"old"  # like a reload: an existing item keeps its value
    assert lines[0] == '[cache] stored "only" in "b"'
    assert any("no cache named 'zzz'" in line for line in lines)
    assert any("novalue: write [CACHE ]KEY=VALUE" in line for line in lines)


# --- network forms ---------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


class CacheServer:
    """A tiny uwsgi-socket accept loop in a thread that serves modifier1 111 packets."""

    def __init__(self, caches: CacheSet) -> None:
        self.caches = caches
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                modifier1, size, modifier2 = unpack_header(_recv_exact(conn, 4))
                assert modifier1 == 111
                payload = _recv_exact(conn, size)
                try:  # as the worker: a refused declared size closes the connection
                    body = _recv_exact(conn, magic_body_size(self.caches, modifier2, payload))
                except CacheError:
                    continue
                reply = serve_cache_packet(self.caches, modifier2, payload, body)
                if reply is not None:
                    conn.sendall(reply)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()


def exchange(port: int, modifier2: int, payload: bytes, body: bytes = b"") -> bytes:
    """Send one modifier1 111 packet, read until the peer closes (a peer that closes without
    reading the body resets the connection: that is no reply too)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(pack_header(111, len(payload), modifier2) + payload + body)
        reply = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                reply += chunk
    return reply


@pytest.fixture
def served(make: Callable[..., CacheSet]) -> Iterator[tuple[CacheSet, int]]:
    caches = make("name=main,items=20", "name=other,items=20,blocksize=1000")
    server = CacheServer(caches)
    yield caches, server.port
    server.close()


def magic(**fields: str) -> bytes:
    return encode_vars(fields)


def test_serve_simple_commands(served: tuple[CacheSet, int]) -> None:
    caches, port = served
    assert exchange(port, 1, encode_array([b"k", b"value"])) == b""  # set: no reply
    assert caches.get(b"k") == b"value"
    assert exchange(port, 0, b"k") == pack_header(111, 5, 0) + b"value"
    assert exchange(port, 0, b"missing") == b""
    assert exchange(port, 5, b"k") == pack_header(111, 0, 1) + b"value"
    assert exchange(port, 5, b"missing") == pack_header(111, 0, 0)
    assert exchange(port, 3, magic(key="k")) == b"value"
    assert exchange(port, 4, magic(get="k")) == b"value"
    assert exchange(port, 3, magic(key="missing")) == b""
    assert exchange(port, 4, magic(get="missing")).startswith(b"HTTP/1.0 404 Not Found\r\n")
    assert exchange(port, 6, b"main") == b""  # uWSGI's raw dump has no LMDB equivalent
    assert exchange(port, 2, b"k") == b""  # del: no reply
    assert caches.get(b"k") is None


def test_serve_magic_commands(served: tuple[CacheSet, int]) -> None:
    caches, port = served
    ok = pack_header(111, 12, 17) + encode_vars({"status": "ok"})
    assert exchange(port, 17, magic(cmd="set", key="m", size="3", expires="100"), b"abc") == ok
    assert exchange(port, 17, magic(cmd="set", key="m", size="3"), b"xyz") == b""  # exists
    reply = exchange(port, 17, magic(cmd="get", key="m"))
    modifier1, size, modifier2 = unpack_header(reply)
    assert (modifier1, modifier2) == (111, 17)
    fields = decode_vars(reply[4 : 4 + size])
    assert fields["status"] == "ok" and fields["size"] == "3"
    assert int(fields["expires"]) >= time.time() + 90 and reply[4 + size :] == b"abc"
    assert exchange(port, 17, magic(cmd="update", key="m", size="2"), b"zz") == ok
    assert caches.lookup(b"m") == (b"zz", 0)
    assert exchange(port, 17, magic(cmd="exists", key="m")) == ok
    assert exchange(port, 17, magic(cmd="exists", key="nope")) == b""
    assert exchange(port, 17, magic(cmd="set", key="o", size="1", cache="other"), b"1") == ok
    assert caches.get(b"o", "other") == b"1" and caches.get(b"o") is None
    assert exchange(port, 17, magic(cmd="get", key="o", cache="nosuch")) == b""
    assert exchange(port, 17, magic(cmd="get", key="o", cache="x@127.0.0.1:1")) == b""
    too_big = b"x" * 1001
    assert (
        exchange(port, 17, magic(cmd="set", key="big", size="1001", cache="other"), too_big) == b""
    )
    assert exchange(port, 17, magic(cmd="del", key="m")) == ok
    assert exchange(port, 17, magic(cmd="del", key="m")) == b""
    assert exchange(port, 17, magic(cmd="clear", cache="other")) == ok
    assert caches.keys("other") == []
    assert exchange(port, 17, magic(cmd="bogus", key="m")) == b""
    assert exchange(port, 17, b"\x05\x00cm") == b""  # malformed vars: no reply, no crash


def test_remote_client_against_the_server(served: tuple[CacheSet, int]) -> None:
    caches, port = served
    remote, remote_other = f"@127.0.0.1:{port}", f"other@127.0.0.1:{port}"
    assert caches.set(b"r", b"one", cache=remote) is True
    assert caches.set(b"r", b"two", cache=remote) is False
    assert caches.get(b"r", remote) == b"one" == caches.get(b"r")
    assert caches.update(b"r", b"three", 60, cache=remote) is True
    assert caches.lookup(b"r")[1] > time.time()
    assert caches.exists(b"r", remote) and not caches.exists(b"nope", remote)
    assert caches.get(b"nope", remote) is None
    assert caches.set(b"o", b"x", cache=remote_other) and caches.get(b"o", "other") == b"x"
    caches.inc(b"n", 5)
    assert caches.num(b"n", remote) == 5
    with pytest.raises(CacheError, match="works on local caches only"):
        caches.inc(b"n", cache=remote)
    with pytest.raises(CacheError, match="cache_keys works on local caches only"):
        caches.keys(remote)
    assert caches.delete(b"r", remote) and not caches.delete(b"r", remote)
    caches.clear(remote_other)
    assert caches.keys("other") == []
    closed = free_port()
    with pytest.raises(CacheError, match=rf"cache 'c@127.0.0.1:{closed}' failed: .*refused"):
        caches.get(b"r", f"c@127.0.0.1:{closed}")


def test_remote_client_refuses_a_peer_that_is_not_a_cache() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(pack_header(173, 0, 0))

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    caches = CacheSet([], "/nonexistent-unused")
    with pytest.raises(CacheError, match=r"answered \[173, 0, 0\], not a cache reply"):
        caches.get(b"k", f"c@127.0.0.1:{port}")
    thread.join(5)
    listener.close()


# --- against real uWSGI ----------------------------------------------------------------------


@contextlib.contextmanager
def real_uwsgi(args: list[str], tmp_path: Path, port: int) -> Iterator[None]:
    log = tmp_path / f"uwsgi-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [UWSGI or "uwsgi", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=tmp_path,
        )
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"uWSGI exited: {log.read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return True
            return False

        wait_for(up, timeout=15, what="real uWSGI")
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


needs_uwsgi_cache = pytest.mark.skipif(
    not UWSGI or not (UWSGI_PLUGINS / "cache_plugin.so").exists(),
    reason="real uWSGI with its cache plugin is not installed (bench/setup.sh)",
)


@needs_uwsgi_cache
def test_remote_client_against_real_uwsgi(tmp_path: Path) -> None:
    port = free_port()
    args = [
        "--plugins",
        "cache",
        "--socket",
        f"127.0.0.1:{port}",
        "--cache2",
        "name=u,items=10",
        "--cache2",
        "name=v,items=10",
    ]
    caches = CacheSet([], str(tmp_path / "unused"))
    with real_uwsgi(args, tmp_path, port):
        default, named = f"@127.0.0.1:{port}", f"v@127.0.0.1:{port}"
        assert caches.set(b"k", b"from polyhost", 100, cache=default)
        assert not caches.set(b"k", b"again", cache=default)
        assert caches.get(b"k", default) == b"from polyhost"
        assert caches.get(b"k", named) is None
        assert caches.update(b"k", b"updated", cache=default)
        assert caches.get(b"k", default) == b"updated"
        assert caches.exists(b"k", default) and not caches.exists(b"x", default)
        assert caches.set(b"k", b"in v", cache=named) and caches.get(b"k", named) == b"in v"
        assert caches.delete(b"k", default) and caches.get(b"k", default) is None
        caches.clear(named)
        assert caches.get(b"k", named) is None


@pytest.mark.skipif(
    not UWSGI or not (UWSGI_PLUGINS / "python3_plugin.so").exists(),
    reason="real uWSGI with its python3 plugin is not installed (bench/setup.sh)",
)
def test_real_uwsgi_client_against_our_server(served: tuple[CacheSet, int], tmp_path: Path) -> None:
    """uWSGI's own magic client (uwsgi.cache_* with NAME@host:port) talking to polyhost."""
    caches, port = served
    caches.set(b"from-polyhost", b"hello uwsgi")
    app = tmp_path / "client_app.py"
    app.write_text(
        textwrap.dedent(f"""
        import json, uwsgi
        def application(environ, start_response):
            node = "other@127.0.0.1:{port}"
            default = "@127.0.0.1:{port}"
            steps = [
                uwsgi.cache_set("k", "from uwsgi", 0, node),
                uwsgi.cache_set("k", "again", 0, node),
                uwsgi.cache_get("k", node),
                uwsgi.cache_update("k", "updated", 0, node),
                uwsgi.cache_exists("k", node),
                uwsgi.cache_get("from-polyhost", default),
                uwsgi.cache_get("missing", node),
                uwsgi.cache_del("gone", node),
                uwsgi.cache_set("gone", "x", 0, node),
                uwsgi.cache_del("gone", node),
            ]
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps([s.decode() if isinstance(s, bytes) else s
                                for s in steps]).encode()]
    """)
    )
    http_port = free_port()
    args = [
        "--plugins",
        "python3",
        "--http-socket",
        f"127.0.0.1:{http_port}",
        "--wsgi-file",
        str(app),
    ]
    url = f"http://127.0.0.1:{http_port}/"
    with real_uwsgi(args, tmp_path, http_port), urllib.request.urlopen(url, timeout=20) as reply:
        steps = json.loads(reply.read())
    assert steps == [True, None, "from uwsgi", True, True, "hello uwsgi", None, None, True, True]
    assert caches.get(b"k", "other") == b"updated" and not caches.exists(b"gone", "other")


def test_every_committed_write_survives_a_kill_9_of_the_writer(tmp_path: Path) -> None:
    """The README's promise: a worker killed with SIGKILL (here in the middle of a stream of
    writes) loses nothing it had committed, and the next writer does not wait on its lock."""
    directory = tmp_path / "instance"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys
                from polyhost.fabric.cache import CacheSet, parse_cache2
                caches = CacheSet([parse_cache2("name=c,items=10", "t:1")], {str(directory)!r})
                while True:
                    n = caches.inc(b"n")
                    caches.update(b"last", b"%d" % n)
                    sys.stdout.write("%d\\n" % n)
                    sys.stdout.flush()
            """),
        ],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert writer.stdout is not None
    acknowledged = 0
    try:
        for line in writer.stdout:  # bounded: the writer commits hundreds of writes a second
            acknowledged = int(line)
            if acknowledged >= 300:
                break
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        for line in writer.stdout:  # what it printed before it died, up to EOF
            acknowledged = int(line)
        writer.wait(30)
        writer.stdout.close()
    out = run_python(f"""
        from polyhost.fabric.cache import CacheSet, parse_cache2
        caches = CacheSet([parse_cache2("name=c,items=10", "t:1")], {str(directory)!r})
        print(caches.num(b"n"), caches.get(b"last").decode(), caches.inc(b"n"))
        caches.close()
    """)
    counter, last, after = map(int, out.split())
    # killed after a commit and before its print, the counter (or `last`) may be one ahead
    assert acknowledged <= counter <= acknowledged + 1
    assert acknowledged <= last <= counter
    assert after == counter + 1  # the dead writer's lock did not hold the next write
