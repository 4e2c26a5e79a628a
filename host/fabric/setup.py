"""The fabric of one instance: what the master creates before fork, and each process's share.

Caches (LMDB files in a per-instance directory that survives the master's re-exec), mule
queues, spooler directories and the signal router. The master calls `install_in_master`, each
forked process `enter_child` with its control channel.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polyhost.config import option_values
from polyhost.fabric import signals
from polyhost.fabric.mules import MuleQueues, MuleSpec, farm_specs, mule_specs
from polyhost.log import log
from polyhost.process import CURRENT

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.fabric.cache import CacheSet


def instance_dir(master_pid: int) -> str:
    """Where the instance keeps its shared files: the same before and after a reload."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    path = os.path.join(base, f"polyhost-{master_pid}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


@dataclass
class Fabric:
    config: Config
    master_pid: int
    caches: CacheSet | None = None
    mules: MuleQueues | None = None
    mule_list: list[MuleSpec] = field(default_factory=list)
    spool_dirs: list[str] = field(default_factory=list)
    router: signals.SignalRouter = field(default_factory=signals.SignalRouter)
    next_sweep: float = 0.0
    directory: str = ""

    @classmethod
    def from_config(cls, config: Config, master_pid: int) -> Fabric:
        fabric = cls(config, master_pid)
        if config.get("cache2") or config.get("cache"):
            fabric._open_caches()
        fabric.mule_list = mule_specs(config)
        if fabric.mule_list:
            farms = farm_specs(config, len(fabric.mule_list))
            fabric.mules = MuleQueues.create(fabric.mule_list, farms)
        for directory in option_values(config, "spooler"):
            path = os.path.abspath(directory)
            if not os.path.isdir(path):
                raise OSError(f"spooler directory {path} does not exist: create it first")
            fabric.spool_dirs.append(path)
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
        CURRENT.caches, CURRENT.mules, CURRENT.spool_dirs = (
            self.caches,
            self.mules,
            self.spool_dirs,
        )
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
