"""What the master does beside spawning and reaping: cheaper, idle mode, chain reload, the
`touch-*-reload` files, attached daemons, metrics and systemd notifications, each in its own
module; the master calls this one from a few places (start, every check, a child's exit, its
select set).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.chain import ChainReload
from polyhost.cheaper import CheaperControl
from polyhost.config import option_values
from polyhost.daemons import Daemons
from polyhost.hooks import HookError, run_phase
from polyhost.idle import IdleMode
from polyhost.listen_queue import queue_of
from polyhost.log import log
from polyhost.metrics import MetricStore
from polyhost.metrics_collectors import Collectors
from polyhost.metrics_dir import MetricsDir
from polyhost.metrics_thresholds import Thresholds
from polyhost.process_state import CURRENT
from polyhost.prometheus import CONTENT_TYPE, render
from polyhost.rpc.registry import REGISTRY
from polyhost.stats import Page, StatsServer
from polyhost.systemd import SystemdNotify
from polyhost.touch import TouchWatch
from polyhost.zerg import ZergServer, zerg_listeners, zergpools

if TYPE_CHECKING:
    from polyhost.master import ChildProc, Master
    from polyhost.sockets import Listener


class Supervision:
    def __init__(self, master: Master) -> None:
        self.master = master
        self.cheaper = CheaperControl.from_master(master)
        self.chain = ChainReload(master)
        self.idle = IdleMode(master)
        self.daemons = Daemons(master.config, lambda: master.begin_stop(graceful=True))
        self.metrics = CURRENT.metrics = MetricStore.from_config(master.config)
        self.metrics.derive("core.rpc_calls", REGISTRY.counter.total)
        self.metrics_server: StatsServer | None = None
        self.collectors = Collectors(self.metrics)
        self.thresholds = Thresholds(master.config, self.metrics)
        self.metrics_dir = MetricsDir.from_config(master.config, self.metrics)
        self.systemd = SystemdNotify.from_master(master)
        self.zerg_servers: list[ZergServer] = []
        self.touch = TouchWatch()
        self.next_second = 0.0
        CURRENT.listen_queue = self.backlog  # the workers inherit the listeners: read it live
        cfg = master.config
        self.touch.watch(option_values(cfg, "touch-reload"), self._touched_reload)
        self.touch.watch(option_values(cfg, "touch-chain-reload"), self._touched_chain)
        self.touch.watch(option_values(cfg, "touch-workers-reload"), self._touched("worker"))
        self.touch.watch(option_values(cfg, "touch-mules-reload"), self._touched("mule"))
        self.touch.watch(option_values(cfg, "touch-spoolers-reload"), self._touched("spooler"))

    def phase(self, name: str) -> None:
        """Run a hook phase (exec-*/hook-*); a failure is a start-up error (ValueError)."""
        try:
            run_phase(self.master.config, name)
        except HookError as exc:
            raise ValueError(str(exc)) from exc

    def zerg(self) -> list[Listener]:
        """After the instance's own sockets: those of its `zerg` servers; then its own
        `zerg-server` (which lends all of them), both before any fork."""
        master = self.master
        attached = zerg_listeners(master.config, master.listeners)
        path = master.config.get("zerg-server")
        if path:
            self.zerg_servers.append(ZergServer(str(path), lambda: master.listeners, master.config))
        self.zerg_servers += zergpools(master.config)
        return attached

    def started(self) -> None:
        """The workers are spawned: the attached daemons and the metrics endpoint follow."""
        self.daemons.start()
        address = self.master.config.get("metrics")
        if address:
            page = self.metrics_pages()["/metrics"]
            self.metrics_server = StatsServer(
                str(address), self.master.stats_snapshot, http=True, default_page=page
            )
            self.metrics_server.start()
            log(f"metrics (Prometheus) enabled on {self.metrics_server.bound_address}")

    def finish(self, reloading: bool) -> None:
        """Every worker is gone, the master re-execs or exits."""
        if self.metrics_server is not None:
            self.metrics_server.close()
        if self.systemd is not None:
            self.systemd.finish(reloading)
        for server in self.zerg_servers:
            server.close()
        self.daemons.stop(reloading)
        run_phase(self.master.config, "as-user-atexit")

    def reaped(self, pid: int) -> None:
        """A child that is no worker, mule or spooler was reaped (an attached daemon)."""
        self.daemons.reaped(pid)

    def metrics_pages(self) -> dict[str, Page]:
        """`/metrics` (Prometheus) on the stats socket with stats-http."""
        master = self.master

        def page() -> tuple[bytes, bytes]:
            runtimes = {i: spec.runtime for i, spec in enumerate(master.specs)}
            return CONTENT_TYPE, render(master.stats_snapshot(), runtimes, self.metrics)

        return {"/metrics": page}

    def stats_metrics(self) -> dict[str, dict[str, object]] | None:
        """The stats JSON's `metrics` (enable-metrics or a `metric`, unless stats-no-metrics)."""
        cfg = self.master.config
        wanted = cfg.get("enable-metrics") or option_values(cfg, "metric")
        return self.metrics.stats() if wanted and not cfg.get("stats-no-metrics") else None

    def starts_cheap(self, proc: ChildProc) -> bool:
        """A worker above cheaper-initial is not spawned at start."""
        return (
            proc.kind == "worker"
            and self.cheaper is not None
            and self.cheaper.starts_cheap(proc.number)
        )

    def backlog(self) -> int:
        """Connections waiting in the longest listen queue (uWSGI's shared->backlog, the
        stats' listen_queue, the route var ${uwsgi[lq]}, what the cheaper algorithms see)."""
        return max((queue_of(listener.sock)[0] for listener in self.master.listeners), default=0)

    def _each_second(self, now: float) -> None:
        """What uWSGI's master and metrics thread do once a second: the full listen queues,
        the metric collectors and thresholds, the metrics-dir files."""
        if now < self.next_second:
            return
        self.next_second = now + 1.0
        self._warn_full_queues()
        self.collectors.tick()
        self.thresholds.tick()
        if self.metrics_dir is not None:
            self.metrics_dir.tick(self.master.stats_snapshot())

    def _warn_full_queues(self) -> None:
        for listener in self.master.listeners:
            queue, maximum = queue_of(listener.sock)
            if queue > 0 and queue >= maximum:
                log(
                    f'*** polyhost listen queue of socket "{listener.name}" '
                    f"(fd: {listener.sock.fileno()}) full !!! ({queue}/{maximum}) ***"
                )

    def tick(self, now: float) -> None:
        self.touch.check()
        self._each_second(now)
        if self.master.state == "running":
            self.daemons.tick()
        self.idle.tick(now)
        if self.cheaper is not None and not self.idle.cheap and not self.chain.running:
            self.cheaper.tick(now, self.backlog())
        self.chain.tick()
        if self.systemd is not None:
            self.systemd.tick(now)

    def exited(self, proc: ChildProc, app_load_failed: bool) -> bool:
        """A child was reaped: True when it must not be respawned (retired, or the chain's
        replacement that could not load its app)."""
        if app_load_failed and self.chain.failed(proc):
            return True
        if proc.cheap:
            if proc.kind == "worker":
                log(f"polyhost worker {proc.number} cheaped.")
            return True
        return False

    def wake_fds(self) -> list[int]:
        return [*self.idle.wake_fds(), *(server.fd for server in self.zerg_servers)]

    def on_readable(self, fd: int) -> None:
        for server in self.zerg_servers:
            if fd == server.fd:
                server.answer()
        if fd in self.idle.wake_fds():
            self.idle.wake()

    # -- touch files ---------------------------------------------------------------------------
    def _touched_reload(self, path: str) -> None:
        if self.master.state == "running":
            log(f"*** {path} has been touched... grace them all !!! ***")
            self.master.begin_reload()

    def _touched_chain(self, path: str) -> None:
        if self.master.state == "running":
            log(f"*** {path} has been touched... chain reload !!! ***")
            self.chain.start()

    def _touched(self, kind: str) -> Callable[[str], None]:
        def reload(path: str) -> None:
            if self.master.state != "running":
                return
            log(f"*** {path} has been touched... reloading {kind}s !!! ***")
            for proc in self.master.children:
                if proc.kind == kind and proc.pid and not proc.cheap:
                    self.master._stop_worker(proc, signal.SIGHUP)

        return reload
