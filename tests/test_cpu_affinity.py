"""`cpu-affinity`: workers pinned the way uWSGI maps them, and the PSGI children they spawn share
their worker's CPUs (so a request's socketpair round trip stays on one core)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from bridge_support import needs_plack

from polyhost.affinity import worker_cpus

from conftest import get, serving, split_response

#: answers the Perl child's pid, its parent (the worker) and the CPUs it may run on
AFFINITY_PSGI = r"""
sub {
    open(my $fh, '<', '/proc/self/status') or die "status: $!";
    my ($cpus) = map { /^Cpus_allowed_list:\s*(\S+)/ ? $1 : () } <$fh>;
    return [200, ['Content-Type' => 'text/plain'], [join(' ', $$, getppid(), $cpus)]];
};
"""


def allowed_cpus(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M)
    assert match, status
    return match.group(1)


def parse_list(text: str) -> set[int]:
    """`0-2,5` -> {0, 1, 2, 5}"""
    found: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def test_mapping_is_uwsgis() -> None:
    # uWSGI 2.0.21, 2 CPUs, --processes 2 --cpu-affinity 1: "mapping worker 1 to CPUs: 0",
    # "mapping worker 2 to CPUs: 1"; further workers wrap around
    assert worker_cpus(1, 1, 2) == [0]
    assert worker_cpus(2, 1, 2) == [1]
    assert worker_cpus(3, 1, 2) == [0]
    assert worker_cpus(2, 2, 4) == [2, 3]
    assert worker_cpus(2, 3, 4) == [3, 0, 1]
    assert worker_cpus(1, 8, 2) == [0, 1]  # never more CPUs than there are


@needs_plack
def test_workers_and_their_psgi_children_are_pinned(tmp_path: Path) -> None:
    app = tmp_path / "affinity.psgi"
    app.write_text(AFFINITY_PSGI)
    count = os.cpu_count() or 1
    args = ["--master", "--processes", "2", "--cpu-affinity", "1", "--psgi", str(app)]
    with serving(tmp_path, args) as inst:
        inst.wait_log("mapping worker 1 to CPUs:")
        log = inst.wait_log("mapping worker 2 to CPUs:")
        for wid in (1, 2):
            cpus = " ".join(str(c) for c in worker_cpus(wid, 1, count))
            assert f"mapping worker {wid} to CPUs: {cpus}\n" in log, log
        workers = inst.worker_pids()
        assert len(workers) == 2
        pinned = sorted(sorted(parse_list(allowed_cpus(pid))) for pid in workers)
        assert pinned == sorted([worker_cpus(1, 1, count), worker_cpus(2, 1, count)]), pinned
        seen: dict[int, set[int]] = {}
        for _ in range(20):  # a new connection each time: both workers answer sooner or later
            status, _, body = split_response(get(inst.port, "/"))
            assert status == 200, body
            child, worker, cpus = body.decode().split()
            assert int(worker) in workers
            assert parse_list(allowed_cpus(int(child))) == parse_list(cpus)
            seen[int(worker)] = parse_list(cpus)
        for worker, child_cpus in seen.items():  # the child inherited its worker's mask
            assert child_cpus == parse_list(allowed_cpus(worker))


def test_no_affinity_by_default(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("def application(e, s):\n    s('200 OK', [])\n    return [b'']\n")
    with serving(tmp_path, ["--master", "--processes", "1", "--wsgi-file", str(app)]) as inst:
        assert "mapping worker" not in inst.log()
        (worker,) = inst.worker_pids()
        assert parse_list(allowed_cpus(worker)) == parse_list(allowed_cpus(os.getpid()))
