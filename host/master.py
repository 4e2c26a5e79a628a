"""The master: binds sockets, loads preloadable apps, forks and supervises the workers.

Signal handlers only enqueue; the loop dispatches `handle_<signal>` methods (gunicorn's arbiter
shape) and, every cycle, reaps children, enforces harakiri and lifetimes, watches touch-reload
files and the master FIFO, and respawns dead workers with a backoff.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhost import __version__, heap, reachable, routing
from polyhost.apps import app_specs
from polyhost.async_cores import cores_of
from polyhost.catalog import CATALOG
from polyhost.config import option_values
from polyhost.conn_keeper import Keeper
from polyhost.cpu_affinity import pin_worker
from polyhost.dispatch import AppLoadError, Dispatcher, RuntimeContext, apply_chdir
from polyhost.emperor.link import EmperorLink
from polyhost.fabric.control import ControlPair
from polyhost.fabric.instance import Fabric
from polyhost.fabric.mule_spooler_main import run_mule, run_spooler
from polyhost.fabric.redis_url import redacted
from polyhost.fabric.signals import Target
from polyhost.fifo import FifoError, MasterFifo
from polyhost.identity import IdentityError, drop_privileges, set_process_title
from polyhost.lifeline import die_with_parent
from polyhost.log import log, log_exception, open_logfile, set_log_date
from polyhost.process_state import CURRENT
from polyhost.router import supervision
from polyhost.router.announcer import Announcer, ConfigError
from polyhost.scoreboard import Scoreboard
from polyhost.socket_map import socket_map, worker_listeners
from polyhost.sockets import INHERIT_ENV, Listener, SocketError, export_fds, open_listeners
from polyhost.static_options import serves_static
from polyhost.stats import StatsServer, build_stats
from polyhost.supervision import Supervision
from polyhost.worker import APP_LOAD_ERROR, Worker
from polyhost.zmqlog import install_loggers

if TYPE_CHECKING:
    from polyhost.config import Config

SIGNALS = ("HUP", "TERM", "INT", "QUIT", "USR1", "CHLD", "URG")  # URG: manage.BRUTAL_RELOAD_SIGNAL
SIG_NAMES = {getattr(signal, f"SIG{name}"): name.lower() for name in SIGNALS}
#: how long after the harakiri deadline the master kills (the worker answers 504 first)
HARAKIRI_GRACE = 0.5
#: as uWSGI: the number of reloads so far, read by `if-reload` in configs
RELOAD_ENV = "UWSGI_RELOADS"


class StartupError(Exception):
    """The instance cannot start; the message is for the operator."""


@dataclass
class ChildProc:
    """A process the master supervises: a worker, a mule, a spooler or a router."""

    kind: str
    number: int
    pair: ControlPair
    pid: int = 0
    spawned_at: float = 0.0
    #: consecutive quick deaths, for the respawn backoff
    quick_deaths: int = 0
    respawn_after: float = 0.0
    stopping: bool = False
    respawns: int = 0
    #: mule script or spooler directory
    arg: str = ""
    #: what a router process serves (kind == "router")
    router: supervision.RouterContext | None = None
    #: retired by cheaper or idle mode: not respawned when it exits
    cheap: bool = False

    @property
    def name(self) -> str:
        if self.router is not None:
            return self.router.name
        return f"{self.kind} {self.number}"


@dataclass
class Master:
    config: Config
    listeners: list[Listener] = field(default_factory=list)
    #: the routers' sockets (`--http` ...), bound and inherited with the workers' ones
    router_listeners: list[Listener] = field(default_factory=list)
    children: list[ChildProc] = field(default_factory=list)
    pending: list[ChildProc] = field(default_factory=list)
    state: str = "running"  # running | reloading | stopping | workers-reload

    def __post_init__(self) -> None:
        cfg = self.config
        self.pid = os.getpid()
        self.numproc = max(1, cfg.get("processes"))
        self.threads = max(1, cfg.get("threads"))
        #: per worker: the threads, or the async cores of --gevent/--async/--asyncio
        self.cores = cores_of(cfg)
        self.harakiri = cfg.get("harakiri")
        self.max_lifetime = cfg.get("max-worker-lifetime")
        self.worker_mercy = cfg.get("worker-reload-mercy")
        self.reload_mercy = cfg.get("reload-mercy")
        self.reloads = int(os.environ.pop(RELOAD_ENV, "0") or 0)
        self.sig_r, self.sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.sig_queue: list[int] = []
        self.deadline = 0.0
        self.listeners: list[Listener] = []
        self.socket_map: dict[int, set[int]] = {}
        self.stats_server: StatsServer | None = None
        self.announcer: Announcer | None = None
        self.routers: dict[str, int] = {}
        self.routers_only = False
        self.exit_code = 0
        self.emperor: EmperorLink | None = None
        #: keep-idle-connections: duplicates of the workers' idle keep-alive connections
        self.keeper: Keeper | None = None

    # -- start -------------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config
        logto = cfg.get("logto") or cfg.get("daemonize")
        if logto:
            open_logfile(logto)
        set_log_date(cfg.get("log-date"))
        install_loggers(cfg)
        self.emperor = EmperorLink.from_env(cfg)
        if self.emperor is not None:
            self.emperor.keep_stdin_socket(cfg)
        if not cfg.get("honour-stdin"):
            _stdin_from_devnull()
        set_process_title(cfg, "master")
        log(f"*** Starting polyhost {__version__} (uWSGI 2.0.21 compatible) (pid: {self.pid}) ***")
        for warning in cfg.warnings:
            log(f"config: {warning}")
        if cfg.get("chdir") and not self.reloads:
            log(f"chdir() to {cfg.get('chdir')}")
        try:  # a re-exec'd master is there already
            apply_chdir(cfg, inherited=bool(self.reloads))
        except AppLoadError as exc:
            raise StartupError(f"{cfg.origin('chdir')}: {exc}") from exc
        try:
            self.supervision = Supervision(self)
            self.supervision.phase("asap")
        except ValueError as exc:
            raise StartupError(str(exc)) from exc
        try:
            bound = open_listeners(cfg, log, supervision.router_binds(cfg))
            bound += self.supervision.zerg()
        except (SocketError, OSError) as exc:
            raise StartupError(str(exc)) from exc
        self.listeners = [lst for lst in bound if not supervision.is_router_proto(lst.proto)]
        self.router_listeners = [lst for lst in bound if supervision.is_router_proto(lst.proto)]
        if self.emperor is not None:
            self.listeners += self.emperor.extra_listeners()
        if cfg.get("rpc-grpc"):
            self._open_gateway_backend()
        self._check_routers()
        if not self.listeners and not self.routers:
            log(
                "*** no socket configured (socket, http-socket or fastcgi-socket): "
                "the instance serves nothing ***"
            )
        try:
            self.socket_map = socket_map(cfg, self.numproc)
        except ValueError as exc:
            raise StartupError(f"{cfg.origin('map-socket')}: {exc}") from exc
        how = "inherited" if self.reloads else "bound to"
        for listener in self.router_listeners:
            kind = listener.proto.partition(":")[0]
            verb = "inherited" if self.reloads else "bound on"
            log(f"uWSGI {kind} {verb} {listener.name} fd {listener.sock.fileno()}")
        for number, listener in enumerate(self.listeners):
            if listener.name == supervision.AUTO_SOCKET:
                address = supervision.listener_address(listener)
                log(
                    f"uwsgi socket {number} {how} TCP address {address} (port auto-assigned) "
                    f"fd {listener.sock.fileno()}"
                )
                continue
            log(f"{listener.proto} socket {how} {listener.name} fd {listener.sock.fileno()}")
        self._write_pidfile("pidfile")
        _limit_address_space(cfg.get("limit-as"))
        try:
            named = app_specs(cfg)
        except ValueError:
            named = []  # the app options' own error comes below
        for runtime in {spec.runtime for spec in named}:  # its serving code, while readable
            CATALOG.get(runtime).runtime()  # (imported for an app only, before uid and chroot)
        targets = [spec.target for spec in named if spec.target]
        unreachable = reachable.refusal(cfg, targets)
        if unreachable:
            raise StartupError(unreachable)
        self._phase("as-root")
        self._drop_privileges()
        self._phase("as-user")
        self._write_pidfile("pidfile2")
        if cfg.get("logto2"):
            open_logfile(cfg.get("logto2"))
        CURRENT.config = cfg
        CURRENT.master_pid = self.pid
        self.board = Scoreboard(
            self.numproc,
            self.cores,
            keep_vars=bool(cfg.get("stats") or cfg.get("stats-server")),
        )
        CURRENT.board = self.board
        try:
            self.fabric = Fabric.from_config(cfg, self.pid)
        except Exception as exc:
            raise StartupError(str(exc)) from exc
        self.fabric.install_in_master()
        _apply_env(cfg)
        self.serves_static = serves_static(cfg)
        if self.serves_static:
            from polyhost.static import StaticFiles  # only where it is used (worker RSS)

            try:  # a bad static option stops the start here, not a worker after fork
                StaticFiles.from_config(cfg)
            except ValueError as exc:
                raise StartupError(str(exc)) from exc
        if routing.configured(cfg) or cfg.get("router-list"):
            # imported here: a master (and its workers) without rules carry no routing engine
            from polyhost.routing.serve import routing_startup_lines

            try:  # bad route rules stop the start here (file:line), not a worker after fork
                for line in routing_startup_lines(cfg):
                    log(line)
            except ValueError as exc:
                raise StartupError(str(exc)) from exc
        ctx = RuntimeContext(cfg, log, 0, self.threads)
        try:
            specs = app_specs(cfg)
            self.dispatcher = Dispatcher.from_specs(ctx, specs)
            self.supervision.phase("pre-app")
            self.dispatcher.load(preload=True)
            self.supervision.phase("post-app")
        except (AppLoadError, ValueError) as exc:
            raise StartupError(str(exc)) from exc
        self.specs = specs
        # an instance that is only a router has no workers, so no app to need
        self.routers_only = bool(self.routers and not specs and not self.listeners)
        if not specs and not self.serves_static and cfg.get("need-app") and not self.routers_only:
            raise StartupError(
                "no app configured (wsgi-file, module, mount, static-map ...): nothing to "
                "serve. Set one, or need-app = false to start an empty instance"
            )
        for app in self.dispatcher.apps:
            log(
                f"WSGI app {app.id} ({app.mountpoint or '/'}) ready in "
                f"{app.startup_time:.2f} seconds: {app.target}"
            )
        log(f"*** Operational MODE: {self._mode()} *** (master pid: {self.pid})")
        try:
            self.fifo = MasterFifo(self)
            self.fifo.open()
        except FifoError as exc:
            raise StartupError(str(exc)) from exc
        stats = cfg.get("stats") or cfg.get("stats-server")
        if stats:
            self.stats_server = StatsServer(
                str(stats),
                self.stats_snapshot,
                http=cfg.get("stats-http"),
                minified=cfg.get("stats-minified"),
                pages=self.supervision.metrics_pages(),
            )
            self.stats_server.start()
            log(f"stats server enabled on {stats}")
        for sig in SIG_NAMES:
            signal.signal(sig, self._enqueue)
        gc.collect()
        gc.freeze()
        heap.trim()  # the workers are forked from the smaller heap
        self._phase("master-start")
        self._plan_children()
        adopted = supervision.adopted_pids()
        # the routers first: they must listen before the workers serve
        for child in self.router_children:
            if child.name in adopted:
                self._adopt(child, adopted[child.name])
            else:
                self.spawn(child)
        for child in self.children:
            if child.kind == "router":
                continue
            if self.supervision.starts_cheap(child):
                child.cheap = True
                self.board.worker(child.number).set_cheap(True)
            else:
                self.spawn(child)
        self.supervision.started()

    def _plan_children(self) -> None:
        """Workers, then mules, then spoolers; each keeps its control channel across respawns."""
        plan = [("worker", wid, "") for wid in range(1, self.numproc + 1)]
        if self.routers_only:
            plan = []
        plan += [("mule", spec.id, spec.script) for spec in self.fabric.mule_list]
        per_dir = max(1, self.config.get("spooler-processes"))
        plan += [
            ("spooler", i * per_dir + n + 1, directory)
            for i, directory in enumerate(self.fabric.spool_dirs)
            for n in range(per_dir)
        ]
        if self.config.get("rpc-grpc"):
            plan.append(("gateway", 1, self.config.get("rpc-grpc")))
        planned = [ChildProc(kind, n, ControlPair.create(), arg=arg) for kind, n, arg in plan]
        workers = [n for kind, n, _ in plan if kind == "worker"]
        if workers and self.config.get("keep-idle-connections"):
            self.keeper = Keeper(workers)
        router_plans = supervision.plan_routers(self.config, self.listeners + self.router_listeners)
        planned += [
            ChildProc("router", index, ControlPair.create(), router=context)
            for index, context in enumerate(router_plans, 1)
        ]
        for child in planned:
            kind, number = child.kind, child.number
            self.children.append(child)
            slot = self.board.worker(number) if kind == "worker" else None
            self.fabric.router.processes.append(
                Target(
                    kind,
                    number,
                    child.pair,
                    idle=(lambda s=slot: s.status == "idle") if slot else (lambda: True),
                )
            )

    def _check_routers(self) -> None:
        """Router processes to start and node-side subscriptions, checked before any fork."""
        cfg = self.config
        self.routers: dict[str, int] = {}
        try:
            supervision.check_config(cfg)
            for kind in supervision.configured_kinds(cfg):
                self.routers[kind.name] = max(1, cfg.get(kind.processes_option))
            self.announcer = Announcer.from_config(
                cfg, [supervision.announced_address(ls) for ls in self.listeners]
            )
        except (ValueError, ConfigError) as exc:  # RouterConfigError is a ValueError
            raise StartupError(str(exc)) from exc

    @property
    def workers(self) -> list[ChildProc]:
        return [c for c in self.children if c.kind == "worker"]

    @property
    def router_children(self) -> list[ChildProc]:
        return [c for c in self.children if c.kind == "router"]

    def _adopt(self, child: ChildProc, pid: int) -> None:
        """A router the master that re-exec'd into us left running: supervise it again."""
        child.pid, child.spawned_at = pid, time.time()
        self._target(child).pid = pid
        log(f"polyhost {child.name} kept running through the reload (pid: {pid})")

    def _open_gateway_backend(self) -> None:
        """A private uwsgi socket the gRPC gateway forwards its calls to (modifier1 173)."""
        from polyhost.fabric.instance import instance_dir
        from polyhost.sockets import bind

        path = os.path.join(instance_dir(self.pid), "rpc-gateway.sock")
        sock, created = bind(path, backlog=128)
        os.chmod(created, 0o600)
        sock.setblocking(False)
        self.listeners.append(Listener(path, "uwsgi", sock, None, created))
        self.gateway_backend = path

    def _phase(self, name: str) -> None:
        try:
            self.supervision.phase(name)
        except ValueError as exc:
            raise StartupError(str(exc)) from exc

    def _mode(self) -> str:
        if self.cores > self.threads:  # async cores, as uWSGI says it
            return "async" if self.numproc == 1 else "preforking+async"
        if self.numproc == 1 and self.threads == 1:
            return "single process"
        return "preforking+threaded" if self.threads > 1 else "preforking"

    def _write_pidfile(self, option: str) -> None:
        path = self.config.get(option)
        if path:
            with open(str(path), "w") as pidfile:
                pidfile.write(f"{self.pid}\n")

    def _drop_privileges(self) -> None:
        try:
            drop_privileges(self.config)
        except IdentityError as exc:
            raise StartupError(str(exc)) from exc

    # -- workers ----------------------------------------------------------------------------
    def spawn(self, child: ChildProc) -> None:
        # the master's signals are held from before the fork until the child has dropped the
        # master's handlers: a stop signal sent to a child that was just forked would
        # otherwise run the master's handler there (queued into the master's own pipe) and
        # be lost to the child, which would then serve on through a shutdown
        signal.pthread_sigmask(signal.SIG_BLOCK, SIG_NAMES)
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIG_NAMES)
            raise
        if pid == 0:
            code = 1
            try:
                die_with_parent(self.pid)
                self._close_master_fds(child)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SIG_NAMES)
                set_process_title(self.config, child.name)
                self.fabric.enter_child(child.pair.child)
                self.supervision.phase("post-fork")
                code = self._child_body(child)
            except BaseException as exc:  # the child must never return into the master
                log_exception(f"{child.name} crashed:", exc)
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIG_NAMES)
        if child.spawned_at:
            child.respawns += 1
        child.pid, child.spawned_at, child.stopping = pid, time.time(), False
        self._target(child).pid = pid
        if child.kind == "worker":
            self.board.worker(child.number).spawned(pid)
            log(f"spawned polyhost worker {child.number} (pid: {pid}, cores: {self.cores})")
        else:
            log(f"spawned polyhost {child.name} (pid: {pid})")

    def _child_body(self, child: ChildProc) -> int:
        if child.router is not None:
            for listener in self.listeners:
                listener.sock.close()
            return supervision.run_router(child.router)
        for listener in self.router_listeners:
            listener.sock.close()
        if child.kind == "worker":
            mine = worker_listeners(self.listeners, self.socket_map, child.number, log)
            pin_worker(child.number, self.config.get("cpu-affinity"))
            lends = self.config.get("offload-threads") > 0
            keeper = self.keeper
            link = keeper.link(child.number, lends) if keeper is not None else None
            return Worker(child.number, self.config, mine, self.dispatcher, self.board, link).run()
        for listener in self.listeners:  # mules and spoolers serve no socket
            listener.sock.close()
        if child.kind == "mule":
            spec = next(m for m in self.fabric.mule_list if m.id == child.number)
            return run_mule(self.config, self.dispatcher, self.fabric, spec)
        if child.kind == "gateway":
            from polyhost.rpc.grpc_gateway import serve

            return serve(child.arg, self.gateway_backend)
        return run_spooler(self.config, self.dispatcher, self.fabric, child.arg)

    def _target(self, child: ChildProc) -> Target:
        return next(t for t in self.fabric.router.processes if t.pair is child.pair)

    def _close_master_fds(self, me: ChildProc) -> None:
        for sig in SIG_NAMES:
            signal.signal(sig, signal.SIG_DFL)
        emperor_fd = self.emperor.fd if self.emperor is not None else -1
        for fd in (self.sig_r, self.sig_w, self.fifo.fd, emperor_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.keeper is not None:
            self.keeper.close_in_child(me.number if me.kind == "worker" else 0)
        for other in self.children:  # keep only our own end of our own channel
            other.pair.master.close()
            if other is not me:
                other.pair.child.close()

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = next((p for p in self.children if p.pid == pid), None)
            if proc is None:
                self.supervision.reaped(pid)
                continue
            if proc.kind == "worker":
                self.board.worker(proc.number).exited()
            self._report_exit(proc, status)
            proc.pid = 0
            self._target(proc).pid = 0
            if proc.kind == "worker" and self.keeper is not None:
                self.keeper.worker_gone(proc.number, self._successor(proc))

    def _successor(self, proc: ChildProc) -> int | None:
        """Who adopts a dead worker's idle keep-alive connections: its respawn, unless that
        is delayed, then a living worker; None when the instance stops or reloads."""
        if self.state not in ("running", "workers-reload"):
            return None
        respawning = proc in self.pending
        if respawning and proc.respawn_after <= time.time() + 1.0:
            return proc.number
        living = next((p for p in self.workers if p.pid and not p.stopping), None)
        if living is not None:
            return living.number
        return proc.number if respawning else None

    def _report_exit(self, proc: ChildProc, status: int) -> None:
        lived = time.time() - proc.spawned_at
        stopped_by_us = proc.stopping or self.state not in ("running", "workers-reload")
        code = -1 if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if self.supervision.exited(proc, code == APP_LOAD_ERROR):
            return
        if os.WIFSIGNALED(status):
            if not stopped_by_us:  # one we stop dies quietly
                log(
                    f"DAMN ! {proc.name} (pid: {proc.pid}) died, killed by signal "
                    f"{os.WTERMSIG(status)} :( trying respawn ..."
                )
        else:
            if code == APP_LOAD_ERROR and self.state == "running":
                log(
                    f"{proc.name} could not load the app (exit code {code}): "
                    "stopping the instance instead of respawning (need-app)"
                )
                self.exit_code = APP_LOAD_ERROR
                self.begin_stop(graceful=False)
                return
            if not stopped_by_us:
                log(f"{proc.name} exited with code {code}, respawning")
        if self.state not in ("running", "workers-reload"):
            return
        if lived < 1.0 and not proc.stopping:
            proc.quick_deaths += 1
            delay = min(30.0, 0.5 * 2 ** (proc.quick_deaths - 1))
            log(f"{proc.name} respawning too fast: waiting {delay:.1f} seconds")
            proc.respawn_after = time.time() + delay
        else:
            proc.quick_deaths = 0
            proc.respawn_after = 0.0
        self.pending.append(proc)

    def respawn_pending(self) -> None:
        now = time.time()
        for proc in list(self.pending):
            if proc.respawn_after <= now:
                self.pending.remove(proc)
                self.spawn(proc)

    def check_workers(self) -> None:
        now = time.time()
        for proc in self.workers:
            if not proc.pid:
                continue
            slot = self.board.worker(proc.number)
            if slot.harakiri_expired(now - HARAKIRI_GRACE):
                log(f"*** HARAKIRI ON WORKER {proc.number} (pid: {proc.pid}, try: 1) ***")
                slot.harakiri_kill_noted()
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            elif (
                self.max_lifetime
                and not proc.stopping
                and now - proc.spawned_at > self.max_lifetime
            ):
                log(f"worker {proc.number} lifetime reached ({self.max_lifetime}s): recycling")
                self._stop_worker(proc, signal.SIGHUP)

    def _stop_worker(self, proc: ChildProc, sig: int) -> None:
        proc.stopping = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> int:
        try:
            self.start()
        except StartupError as exc:
            log(f"!!! {exc} !!!")
            self.cleanup(vacuum=True, failed=True)
            return 1
        next_check = 0.0
        while True:
            fabric_fds = self.fabric.router.fds()
            wake_fds = self.supervision.wake_fds()
            fifo_fds = [self.fifo.fd] if self.fifo.fd >= 0 else []
            keeper_fds = self.keeper.fds() if self.keeper is not None else []
            fds = [self.sig_r, *fabric_fds, *wake_fds, *fifo_fds, *keeper_fds]
            try:
                readable, _, _ = select.select(fds, [], [], 0.25)
            except InterruptedError:
                readable = []
            for fd in readable:
                if fd in fabric_fds:
                    self.fabric.router.on_readable(fd)
                elif fd in wake_fds:
                    self.supervision.on_readable(fd)
                elif fd in keeper_fds:
                    self.keeper.on_readable(fd)  # type: ignore[union-attr]
            if self.sig_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self.sig_r, 4096)
            if self.fifo.fd >= 0 and self.fifo.fd in readable:
                self.fifo.read()
            while self.sig_queue:
                name = SIG_NAMES[self.sig_queue.pop(0)]
                getattr(self, f"handle_{name}")()
            self.reap()
            if self.state in ("running", "workers-reload"):
                self.respawn_pending()
            now = time.time()
            if now >= next_check:
                next_check = now + 0.25
                self.check_workers()
                self.supervision.tick(now)
                self._check_emperor()
            self.fabric.tick()
            if self.keeper is not None:
                self.keeper.tick()
            if self.announcer is not None and self.state == "running":
                self.announcer.tick()
            if self.state not in ("running", "workers-reload") and self._finish_transition():
                break
            if self.state == "workers-reload" and not any(p.stopping for p in self.workers):
                self.state = "running"
        self.supervision.finish(reloading=self.state == "reloading")
        if self.state == "reloading":
            self.reexec()
        self.cleanup(vacuum=True, failed=self.exit_code == APP_LOAD_ERROR)
        log(f"goodbye to polyhost (exit code {self.exit_code}).")
        return self.exit_code

    def _enqueue(self, signum: int, _frame: object) -> None:
        if len(self.sig_queue) < 16:
            self.sig_queue.append(signum)
        with contextlib.suppress(OSError):
            os.write(self.sig_w, b"s")

    def _finish_transition(self) -> bool:
        """Stopping or reloading: True once every worker is gone (kill at the deadline). The
        routers stop last, once nothing else runs; a reload keeps them."""
        alive = [p for p in self.children if p.pid and p.kind != "router"]
        if self.state == "stopping" and not alive:
            alive = [p for p in self.router_children if p.pid]
            for proc in alive:
                if not proc.stopping:
                    self._stop_worker(proc, signal.SIGTERM)
        if not alive:
            return True
        if time.time() >= self.deadline:
            for proc in alive:
                log(f"{proc.name} (pid: {proc.pid}) did not stop in time: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            self.deadline = time.time() + 5
        return False

    def begin_stop(self, graceful: bool) -> None:
        if self.announcer is not None and self.state != "stopping":
            self.announcer.unsubscribe()
        self.state = "stopping"
        self.pending.clear()
        self.deadline = time.time() + (self.reload_mercy if graceful else 3)
        sig = signal.SIGTERM if graceful else signal.SIGINT
        for proc in self.children:
            if proc.pid and proc.kind != "router":
                self._stop_worker(proc, sig)

    def begin_reload(self, graceful: bool = True) -> None:
        log("...gracefully killing workers..." if graceful else "...brutally killing workers...")
        self.state = "reloading"
        self.pending.clear()
        self.deadline = time.time() + (self.worker_mercy if graceful else 3)
        for proc in self.children:
            if proc.pid and proc.kind != "router":
                self._stop_worker(proc, signal.SIGHUP if graceful else signal.SIGINT)
            elif proc.pid:  # a router keeps serving; SIGHUP reloads its certificates
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGHUP)

    def reload_workers(self) -> None:
        """Restart every worker gracefully without re-exec (FIFO `w`)."""
        log("...gracefully reloading workers...")
        self.state = "workers-reload"
        for proc in self.workers:
            if proc.pid:
                self._stop_worker(proc, signal.SIGHUP)

    def reexec(self) -> None:
        """Re-exec the master with the listening sockets inherited: nothing is refused."""
        log("binary reloading polyhost...")
        if self.stats_server is not None:
            self.stats_server.close()
        env = dict(os.environ)
        env[INHERIT_ENV] = export_fds(self.listeners + self.router_listeners)
        env[supervision.ADOPT_ENV] = supervision.export_pids(
            {p.name: p.pid for p in self.router_children}
        )
        env[RELOAD_ENV] = str(self.reloads + 1)
        self.fifo.close()
        if self.keeper is not None:
            self.keeper.close()
        argv = [sys.executable, "-m", "polyhost", *self.config.argv]
        os.execve(sys.executable, argv, env)

    # -- signal handlers (run from the loop, not in signal context) ---------------------------
    def handle_hup(self) -> None:
        if self.state == "running":
            self.begin_reload()

    def handle_term(self) -> None:
        if self.config.get("die-on-term"):
            log("SIGTERM received: graceful shutdown (die-on-term)")
            self.begin_stop(graceful=True)
        else:
            log("SIGTERM received: brutal reload (die-on-term = false, as uWSGI 2.0)")
            self.begin_reload(graceful=False)

    def handle_urg(self) -> None:
        if self.state == "running":
            log("SIGURG received: brutal reload (polyhost --brutal-reload)")
            self.begin_reload(graceful=False)

    def handle_int(self) -> None:
        log("SIGINT/SIGQUIT received...killing workers...")
        self.begin_stop(graceful=False)

    handle_quit = handle_int

    def handle_usr1(self) -> None:
        lines = ["*** polyhost status ***"]
        for name, value in self.config.items():
            lines.append(f"  {name} = {value}")
        for proc in self.workers:
            slot = self.board.worker(proc.number)
            lines.append(
                f"  worker {proc.number} pid {proc.pid} status {slot.status} requests "
                f"{slot.requests} exceptions {slot.exceptions} respawns {slot.respawn_count}"
            )
        for proc in self.children:
            if proc.kind != "worker":
                lines.append(f"  {proc.name} pid {proc.pid} {proc.arg}")
        log("\n".join(lines))

    def handle_chld(self) -> None:
        """Children are reaped every cycle."""

    def _check_emperor(self) -> None:
        """A vassal reports to its Emperor and obeys it (polyhost.emperor.link)."""
        if self.emperor is None or not self.emperor.alive:
            return
        busy = lambda: any(self.board.worker(p.number).status == "busy" for p in self.workers)  # noqa: E731
        command = self.emperor.poll(self.board, busy)
        if command == "reload" and self.state == "running":
            self.begin_reload()
        elif command in ("stop", "graceful-stop") and self.state != "stopping":
            self.begin_stop(graceful=command == "graceful-stop")

    # -- stats and cleanup ----------------------------------------------------------------
    def stats_snapshot(self) -> dict[str, object]:
        apps = []
        for index, spec in enumerate(self.specs):
            loaded = next((a for a in self.dispatcher.apps if a.id == index), None)
            apps.append(
                {
                    "id": index,
                    "modifier1": CATALOG.get(spec.runtime).modifier1,
                    "mountpoint": spec.mountpoint,
                    "startup_time": int(loaded.startup_time) if loaded else 0,
                    "requests": 0,
                    "exceptions": 0,
                    "chdir": loaded.chdir if loaded else self.config.get("chdir") or "",
                }
            )
        spoolers = [
            {
                "dir": redacted(c.arg),
                "pid": c.pid,
                "tasks": self.fabric.router.spooler_tasks.get(c.arg, 0),
                "respawns": c.respawns,
                "running": int(bool(c.pid)),
            }
            for c in self.children
            if c.kind == "spooler"
        ]
        mules = [{"id": c.number, "pid": c.pid} for c in self.children if c.kind == "mule"]
        router_stats = [
            {
                "name": c.name,
                "pid": c.pid,
                "respawns": c.respawns,
                "sockets": [s.listener.name for s in c.router.sockets],
            }
            for c in self.router_children
            if c.router is not None
        ]
        return build_stats(
            self.board,
            version=__version__,
            pid=self.pid,
            sockets=[listener.stats() for listener in self.listeners],
            listen_queue=self.supervision.backlog(),
            metrics=self.supervision.stats_metrics(),
            apps=apps,
            caches=self.fabric.stats()["caches"],
            spoolers=spoolers,
            mules=mules,
            routers=router_stats,
        )

    def cleanup(self, vacuum: bool, failed: bool = False) -> None:
        """Close what the master runs; with vacuum, remove its files. A failed start (no app
        could load) always removes the unix sockets it bound: nothing will answer there."""
        if self.stats_server is not None:
            self.stats_server.close()
        backend = getattr(self, "gateway_backend", "")
        if backend:
            with contextlib.suppress(OSError):
                os.unlink(backend)
                os.rmdir(os.path.dirname(backend))
        fabric = getattr(self, "fabric", None)
        if fabric is not None:
            fabric.close(final=True)
        if failed or (vacuum and self.config.get("vacuum")):
            for listener in self.listeners + getattr(self, "router_listeners", []):
                if listener.path:
                    with contextlib.suppress(OSError):
                        os.unlink(listener.path)
        if not vacuum or not self.config.get("vacuum"):
            return
        for option in ("pidfile", "pidfile2"):
            path = self.config.get(option)
            if path:
                with contextlib.suppress(OSError):
                    os.unlink(str(path))
        fifo = getattr(self, "fifo", None)
        if fifo is not None:
            fifo.unlink()


def _apply_env(config: Config) -> None:
    """`env = KEY=VALUE` (and `env = KEY` to remove one) for every runtime and process."""
    for item in option_values(config, "env"):
        key, sep, value = item.partition("=")
        if sep:
            os.environ[key] = value
        else:
            os.environ.pop(key, None)


def _limit_address_space(megabytes: int | None) -> None:
    """limit-as N: the master and every process it forks get N MB of address space."""
    if megabytes:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        log(f"your process address space limit is {limit} bytes ({megabytes} MB)")


def _stdin_from_devnull() -> None:
    """As uWSGI: stdin is /dev/null unless `honour-stdin` (an app must not read the terminal)."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
