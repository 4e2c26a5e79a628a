"""`cpu-affinity = N`: pin each worker (and the child runtimes it spawns) to N CPUs, as uWSGI.

Worker `w` gets the N CPUs starting at `(w - 1) * N`, wrapping around the online CPUs, so with
`cpu-affinity = 1` and as many workers as CPUs every worker has a CPU of its own. The Perl/Ruby
children a worker starts inherit the mask: a worker and its child then share one CPU, and the
socketpair round trip of each request stays on that core instead of waking a process elsewhere.
The log line is uWSGI's: `mapping worker 1 to CPUs: 0`.
"""

from __future__ import annotations

import os
from collections.abc import Callable


def worker_cpus(worker_id: int, per_worker: int, cpu_count: int) -> list[int]:
    """The CPUs of worker `worker_id` (1-based) when each worker gets `per_worker` of them."""
    base = ((worker_id - 1) * per_worker) % cpu_count
    return [(base + offset) % cpu_count for offset in range(min(per_worker, cpu_count))]


def pin_worker(worker_id: int, per_worker: int, log: Callable[[str], None]) -> None:
    """Pin the calling process; `per_worker` 0 leaves it alone. A refusal is logged, not fatal
    (uWSGI logs `sched_setaffinity()` failing and serves on)."""
    if per_worker <= 0 or worker_id <= 0:
        return
    cpus = worker_cpus(worker_id, per_worker, os.cpu_count() or 1)
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as exc:
        log(
            f"cpu-affinity: cannot pin worker {worker_id} to CPUs {cpus}: sched_setaffinity(): "
            f"{exc.strerror}; the worker runs unpinned (a cpuset cgroup may forbid that CPU: "
            "compare /sys/fs/cgroup/cpuset.cpus.effective, or lower cpu-affinity)"
        )
        return
    log(f"mapping worker {worker_id} to CPUs: {' '.join(str(cpu) for cpu in cpus)}")
