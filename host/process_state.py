"""What the current process is (master, worker N, mule ...), for APIs like uwsgi.worker_id()."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.fabric.cache import CacheSet
    from polyhost.fabric.mules import MuleQueues
    from polyhost.metrics import MetricStore
    from polyhost.scoreboard import Scoreboard


@dataclass
class ProcessState:
    """Set by the master before fork and updated by each worker after fork."""

    config: Config | None = None
    board: Scoreboard | None = None
    master_pid: int = 0
    worker_id: int = 0
    started_on: int = field(default_factory=lambda: int(time.time()))
    #: per-thread request counters live in the worker; this is the callable giving the id
    request_id: Any = None
    #: asks the master for a graceful reload / stop (set by the master: signals itself)
    reload: Any = None
    stop: Any = None
    set_user_harakiri: Any = None
    #: the fabric's shared parts, set by the master before fork
    caches: CacheSet | None = None
    mules: MuleQueues | None = None
    spool_dirs: list[str] = field(default_factory=list)
    #: the apps' metrics (uwsgi.metric_*), shared by every process; set by the master
    metrics: MetricStore | None = None
    #: the listen queue length (uWSGI's shared->backlog), read live; set by the master
    listen_queue: Any = None
    #: `rpc-nodes` groups (polyhost.rpc.nodes.NodeGroups)
    node_groups: Any = None
    #: set in a spooler process: the directory it serves, and its Spooler
    spooler_dir: str = ""
    spooler: Any = None
    #: run in every worker, mule and spooler right after fork (uwsgidecorators.postfork ...)
    postfork_hooks: list[Any] = field(default_factory=list)

    def run_postfork_hooks(self) -> None:
        from polyhost.log import log_exception

        for hook in self.postfork_hooks:
            try:
                hook()
            except Exception as exc:
                log_exception(f"postfork hook {getattr(hook, '__name__', hook)} failed:", exc)


CURRENT = ProcessState()
