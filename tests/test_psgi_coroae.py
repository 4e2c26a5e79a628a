"""`--coroae N` for PSGI with real perl (libcoro-perl, libanyevent-perl): one Perl child per
worker serves N requests at once, each in a Coro thread (bridges/perl/coroae.pl), with uWSGI's
env values and the fabric reachable from inside a Coro thread."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import APPS, POLYHOST, Instance, get, serving, split_response, wait_for

APP = APPS / "psgi" / "coroae.psgi"
CORES = 8


def _has_coro() -> bool:
    perl = shutil.which("perl")
    if perl is None:
        return False
    probe = [perl, "-MPlack::Util", "-MCoro", "-MCoro::AnyEvent", "-MAnyEvent", "-e1"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


pytestmark = pytest.mark.skipif(
    not _has_coro(),
    reason="needs perl with Plack, Coro and AnyEvent (apt-get install libplack-perl "
    "libcoro-perl libanyevent-perl)",
)


@pytest.fixture(scope="module")
def coroae(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    args = ["--psgi", str(APP), "--coroae", str(CORES), "--processes", "1"]
    args += ["--master", "--cache2", "name=coro,items=64", "--disable-logging"]
    with serving(tmp_path_factory.mktemp("coroae"), args) as inst:
        yield inst


def page(inst: Instance, path: str) -> str:
    assert inst.port is not None
    status, _, body = split_response(get(inst.port, path, timeout=30))
    assert status == 200, (path, body, inst.log())
    return body.decode()


def fields(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split())


def test_n_requests_run_at_once_in_one_perl_child(coroae: Instance) -> None:
    """8 requests meet inside the app (each waits on Coro::AnyEvent::sleep until all have
    arrived): all see 8 arrivals and the same child pid, so one interpreter held them at once."""
    with ThreadPoolExecutor(CORES) as pool:
        answers = list(pool.map(lambda _: fields(page(coroae, f"/wait?n={CORES}")), range(CORES)))
    assert {a["arrived"] for a in answers} >= {str(CORES)}
    assert all(int(a["arrived"]) >= CORES for a in answers), answers
    assert max(int(a["peak"]) for a in answers) == CORES, answers
    assert len({a["pid"] for a in answers}) == 1, answers


def test_env_says_nonblocking_not_multithread(coroae: Instance) -> None:
    """uWSGI's psgi plugin: psgi.nonblocking is `async > 0` (coroae sets async = N),
    psgi.multithread is `threads > 1` (coroae adds no threads)."""
    env = dict(line.split("=", 1) for line in page(coroae, "/env").splitlines())
    assert env == {
        "psgi.multithread": "",
        "psgi.multiprocess": "1",
        "psgi.nonblocking": "1",
        "psgi.run_once": "",
    }


def test_fabric_calls_from_concurrent_coro_threads(coroae: Instance) -> None:
    """cache_set/cache_get and uwsgi::call (an RPC back into the same child) from 8 Coro
    threads interleaved by their sleeps: each gets its own answers."""
    keys = [f"k{i}" for i in range(CORES)]
    with ThreadPoolExecutor(CORES) as pool:
        answers = list(pool.map(lambda k: page(coroae, f"/fabric?k={k}"), keys))
    for key, answer in zip(keys, answers, strict=True):
        assert re.fullmatch(rf"cache=v-{key} rpc=hello from \d+ {key}", answer), answer


def test_one_perl_child_per_worker(coroae: Instance) -> None:
    """The worker runs one perl process for its 8 lanes, not one per lane."""
    assert perl_child(coroae) > 0


def perl_child(inst: Instance) -> int:
    """The pid of the one perl child of the instance's one worker."""
    (worker,) = inst.worker_pids()
    tasks = Path(f"/proc/{worker}/task").glob("*/children")
    children = [int(pid) for task in tasks for pid in task.read_text().split()]
    perl = [p for p in children if b"psgi" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(perl) == 1, children
    return perl[0]


def test_a_killed_child_is_replaced_once_for_all_its_lanes(coroae: Instance) -> None:
    """SIGKILL to the perl child: the next requests are served by one new child, and its idle
    lanes are dropped with it rather than each found dead and logged."""
    old = perl_child(coroae)
    mark = len(coroae.log())
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{old}").exists() or _zombie(old), 15, "the child to die")
    with ThreadPoolExecutor(CORES) as pool:
        answers = list(pool.map(lambda _: page(coroae, "/env"), range(CORES)))
    assert all("psgi.nonblocking=1" in a for a in answers)
    new = perl_child(coroae)
    assert new != old
    assert coroae.log()[mark:].count("while idle; respawning") <= 1, coroae.log()[mark:]


def _zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_client_leaving_ends_its_request_only(coroae: Instance) -> None:
    """A client that resets mid-response gives up its lane alone: a request in flight on
    another lane of the same child still gets its answer, from the same child."""
    assert coroae.port is not None
    child = perl_child(coroae)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(page, coroae, "/slow")
        with socket.create_connection(("127.0.0.1", coroae.port), timeout=10) as sock:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
            assert b"first" in sock.recv(65536) + sock.recv(65536)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert slow.result(30) == f"pid={child} slow done"
    assert perl_child(coroae) == child


def test_coroae_without_coro_stops_the_start_naming_the_packages(tmp_path: Path) -> None:
    """A Perl without Coro (here a local::lib whose Coro.pm fails as a missing one does): the
    worker cannot load the app and the log names the Debian packages to install."""
    fake = tmp_path / "nocoro" / "lib" / "perl5"
    fake.mkdir(parents=True)
    (fake / "Coro.pm").write_text('die "Can\'t locate Coro.pm in @INC (you may need to install"'
                                  ' . " the Coro module)\\n";\n')  # fmt: skip
    args = ["--http-socket", "127.0.0.1:0", "--psgi", str(APP), "--coroae", "4"]
    args += ["--perl-local-lib", str(tmp_path / "nocoro")]
    done = subprocess.run(
        [*POLYHOST, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0, done
    out = done.stdout + done.stderr
    assert "--coroae needs Coro and AnyEvent: Can't locate Coro.pm" in out, out
    assert "install the Debian packages libcoro-perl and libanyevent-perl" in out, out
