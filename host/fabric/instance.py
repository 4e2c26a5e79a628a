"""The fabric of one instance: what the master creates before fork, and each process's share.

Caches (LMDB files in a per-instance directory that survives the master's re-exec), mule
queues, spooler directories and the signal router. The master calls `install_in_master`, each
forked process `enter_child` with its control channel.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polyhost.config import option_values
from polyhost.fabric import signals
from polyhost.fabric.mules import MuleQueues, MuleSpec, farm_specs, mule_specs
from polyhost.fabric.redis_url import is_redis_url
from polyhost.log import log
from polyhost.process_state import CURRENT
from polyhost.rpc.nodes import NodeGroups

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.fabric.cache import CacheSet


def _shared_base() -> str:
    if os.path.isdir("/dev/shm"):
        return "/dev/shm"
    import tempfile  # tempfile and shutil (0.9 MiB) are not in every worker: issue 18

    return tempfile.gettempdir()


def instance_dir(master_pid: int) -> str:
    """Where the instance keeps its shared files: the same before and after a reload."""
    path = os.path.join(_shared_base(), f"polyhost-{master_pid}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def reclaim_dead_instances() -> None:
    """Remove the shared-file directories of instances whose master is gone (killed -9, so it
    could not clean up) and that belonged to this user: a restart does not leak /dev/shm."""
    base = _shared_base()
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            pid = entry.name.removeprefix("polyhost-")
            if pid == entry.name or not pid.isdigit() or _alive(int(pid)):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False) and entry.stat().st_uid == os.getuid():
                    import shutil

                    shutil.rmtree(entry.path)
                    log(f"removed {entry.path}, left by instance {pid} that died without cleanup")


def _alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie, not yet reaped by its parent, is dead)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass
class Fabric:
    config: Config
    master_pid: int
    caches: CacheSet | None = None
    mules: MuleQueues | None = None
    mule_list: list[MuleSpec] = field(default_factory=list)
    #: the spoolers this instance serves (directories, redis:// streams)
    spool_dirs: list[str] = field(default_factory=list)
    #: `spooler-external`: spoolers this instance writes to and another instance serves
    external_spoolers: list[str] = field(default_factory=list)
    node_groups: NodeGroups | None = None
    router: signals.SignalRouter = field(default_factory=signals.SignalRouter)
    next_sweep: float = 0.0
    directory: str = ""

    @classmethod
    def from_config(cls, config: Config, master_pid: int) -> Fabric:
        reclaim_dead_instances()
        fabric = cls(config, master_pid)
        if config.get("cache2") or config.get("cache"):
            fabric._open_caches()
        fabric.mule_list = mule_specs(config)
        if fabric.mule_list:
            farms = farm_specs(config, len(fabric.mule_list))
            fabric.mules = MuleQueues.create(fabric.mule_list, farms)
        fabric.spool_dirs = [_spooler_place(value) for value in option_values(config, "spooler")]
        fabric.node_groups = NodeGroups(
            option_values(config, "rpc-nodes"), lambda i: config.origin("rpc-nodes", i)
        )
        fabric.external_spoolers = [
            _spooler_place(value) for value in option_values(config, "spooler-external")
        ]
        return fabric

    def _open_caches(self) -> None:
        from polyhost.fabric.cache import CacheSet, specs_from_config

        self.directory = instance_dir(self.master_pid)
        self.caches = CacheSet(
            specs_from_config(self.config),
            self.directory,
            self.config.get("socket-timeout"),
        )
        for line in self.caches.add_items(option_values(self.config, "add-cache-item")):
            log(line)

    def install_in_master(self) -> None:
        CURRENT.caches, CURRENT.mules, CURRENT.node_groups = (
            self.caches,
            self.mules,
            self.node_groups,
        )
        CURRENT.spool_dirs = [*self.spool_dirs, *self.external_spoolers]
        signals.in_master(self.router)

    def enter_child(self, channel: socket.socket) -> None:
        """In a freshly forked worker, mule or spooler."""
        if self.caches is not None:
            self.caches.after_fork()
        signals.in_child(channel)

    def tick(self) -> None:
        """Every master cycle: timers and crons; once a second: the cache sweeper."""
        now = time.monotonic()
        self.router.tick(now, time.time())
        if self.caches is not None and now >= self.next_sweep:
            self.next_sweep = now + 1.0
            try:
                self.caches.sweep(time.time())
            except Exception as exc:  # a sweeper problem must not stop the master
                log(f"cache sweeper: {exc}")

    def stats(self) -> dict[str, Any]:
        return {"caches": self.caches.stats() if self.caches is not None else []}

    def close(self, final: bool) -> None:
        if self.caches is not None:
            self.caches.close()
            if final:
                self.caches.remove_files()
        if final and self.directory:
            with contextlib.suppress(OSError):
                os.rmdir(self.directory)


def _spooler_place(value: str) -> str:
    """A `spooler`/`spooler-external` value checked at start: a directory that exists (as an
    absolute path), or a Redis stream URL that names its stream."""
    if is_redis_url(value):
        from polyhost.fabric.spooler_redis import StreamSpec

        StreamSpec(value)  # a bad stream URL stops the start, with the reason
        return value
    path = os.path.abspath(value)
    if not os.path.isdir(path):
        raise OSError(f"spooler directory {path} does not exist: create it first")
    return path
