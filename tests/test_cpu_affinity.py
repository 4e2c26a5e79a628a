"""`cpu-affinity N` as uWSGI does it: worker i pinned to N CPUs from (i-1)*N modulo the online
CPUs, logged as `mapping worker i to CPUs: ...`, and the worker's children (the Perl child of a
PSGI app) inherit the mask. Pinned against real uWSGI's log and read back from /proc."""

from __future__ import annotations

import os
import re
from pathlib import Path

from polyhost.cpu_affinity import worker_cpus

from conftest import serving, wait_for
from uwsgi_helper import reference_uwsgi

APPS = Path(__file__).parent / "apps"
MAPPING = re.compile(r"^mapping worker (\d+) to CPUs:((?: \d+)+)$", re.M)


def _mappings(log: str) -> dict[int, str]:
    return {int(worker): cpus for worker, cpus in MAPPING.findall(log)}


def _allowed(pid: int, thread: int | None = None) -> str:
    status = Path(f"/proc/{pid}/task/{thread or pid}/status").read_text()
    return re.search(r"^Cpus_allowed_list:\s*(\S+)$", status, re.M).group(1)  # type: ignore[union-attr]


def test_the_cpus_of_each_worker_follow_uwsgis_arithmetic() -> None:
    # 4 online CPUs: worker 2 of cpu-affinity 3 starts at CPU 3 and wraps to 0, 1
    assert worker_cpus(2, 3, 4) == [3, 0, 1]
    # past the last CPU the base is taken modulo the online CPUs
    assert worker_cpus(3, 2, 2) == [0, 1]
    assert worker_cpus(2, 1, 2) == [1]
    assert worker_cpus(5, 1, 4) == [0]


def test_workers_and_their_children_are_pinned_as_uwsgi_pins_them(tmp_path: Path) -> None:
    args = ["--processes", "2", "--cpu-affinity", "1"]
    online = os.cpu_count() or 1
    expected = {w: "".join(f" {c}" for c in worker_cpus(w, 1, online)) for w in (1, 2)}
    with reference_uwsgi(tmp_path, [*args, "--wsgi-file", str(APPS / "wsgi/basic.py")], "") as ref:
        wait_for(lambda: len(_mappings(ref.log())) == 2, 15, "uWSGI's two mapping lines")
        assert _mappings(ref.log()) == expected
    with serving(tmp_path, [*args, "--psgi", str(APPS / "psgi/hello.psgi")]) as inst:
        wait_for(lambda: len(_mappings(inst.log())) == 2, 15, "polyhost's two mapping lines")
        assert _mappings(inst.log()) == expected
        workers = inst.worker_pids()
        assert len(workers) == 2

        def children(pid: int) -> list[int]:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
            return [int(child) for child in text.split()]

        wait_for(lambda: all(children(pid) for pid in workers), 15, "each worker's Perl child")
        seen = set()
        for pid in workers:
            number = int(re.search(rf"worker (\d+) \(pid: {pid},", inst.log()).group(1))  # type: ignore[union-attr]
            cpu = expected[number].strip()
            for thread in Path(f"/proc/{pid}/task").iterdir():  # the pump thread too
                assert _allowed(pid, int(thread.name)) == cpu
            for child in children(pid):
                assert _allowed(child) == cpu  # inherited: the fabric round trip stays there
            seen.add(number)
        assert seen == {1, 2}


def test_without_the_option_nothing_is_pinned(tmp_path: Path) -> None:
    args = ["--processes", "1", "--wsgi-file", str(APPS / "wsgi/basic.py")]
    with serving(tmp_path, args) as inst:
        assert "mapping worker" not in inst.log()
        (pid,) = inst.worker_pids()
        assert os.sched_getaffinity(pid) == os.sched_getaffinity(inst.pid)
