"""`cpu-affinity N`: pin worker i to N CPUs, as uWSGI's uwsgi_set_cpu_affinity does.

Worker i (1-based) gets the CPUs starting at (i-1)*N, taken modulo the online CPUs, then N in a
row, wrapping to CPU 0 past the last one; the worker logs uWSGI's line `mapping worker 1 to
CPUs: 0 1`. It runs in the worker right after fork, while the worker has one thread, so every
thread and child process the worker starts later (a Perl or Ruby child, a CGI script) inherits
the mask and fabric round trips between them stay on those CPUs.
"""

from __future__ import annotations

import os

from polyhost.log import log


def worker_cpus(worker: int, per_worker: int, online: int) -> list[int]:
    """The CPUs of worker `worker` (1-based), in uWSGI's order."""
    base = (worker - 1) * per_worker
    if base >= online:
        base %= online
    cpus = []
    for _ in range(per_worker):
        if base >= online:
            base = 0
        cpus.append(base)
        base += 1
    return cpus


def pin_worker(worker: int, per_worker: int | None) -> None:
    """Apply `cpu-affinity` to this process (a worker just forked); nothing when unset."""
    if not per_worker:
        return
    if per_worker < 0:
        log(f"cpu-affinity {per_worker}: not a count of CPUs; worker {worker} is left unpinned")
        return
    online = os.cpu_count() or 1
    cpus = worker_cpus(worker, per_worker, online)
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as exc:  # e.g. a container allowed fewer CPUs than are online
        log(
            f"sched_setaffinity(): {exc.strerror} (worker {worker}, CPUs {cpus}; online"
            f" {online}, allowed {sorted(os.sched_getaffinity(0))}): lower cpu-affinity"
        )
        return
    log(f"mapping worker {worker} to CPUs: {' '.join(map(str, cpus))}")
