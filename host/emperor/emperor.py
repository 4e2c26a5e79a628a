"""The Emperor: one vassal instance per config its monitors see; start, reload, stop, respawn.

Signal handlers only enqueue; the loop dispatches `handle_<signal>`: SIGINT/SIGTERM/SIGQUIT
start Ragnarok (every vassal stopped gracefully, killed after `reload-mercy`), SIGHUP reloads
the vassals one by one (the next once the previous accepts again), SIGUSR1 logs their status,
SIGWINCH rescans, SIGURG clears the blacklist.

It runs in the slim interpreter handover.py starts, on the options resolved there
(`EmperorOptions`: no config package); what it imports is kept to what that process may
(tests/test_emperor_slim.py): `_signal`, no typing, no dataclasses; the stats server, the zmq
loggers and the on-demand binding are imported when configured.
"""

from __future__ import annotations

import _signal
import contextlib
import os
import select
import time

from polyhost import __version__
from polyhost.emperor import channel, inotify
from polyhost.emperor.handover import EmperorOptions
from polyhost.emperor.inotify import Event, INotify
from polyhost.emperor.monitors import (
    FileMonitor,
    MonitorError,
    MonitorOptions,
    Seen,
    ZmqMonitor,
    build_monitor,
)
from polyhost.emperor.vassal import (
    EXILE_CODE,
    Blacklist,
    SpawnSettings,
    Vassal,
    close_channel,
    log_verbose,
    run_hook,
    start,
)
from polyhost.emperor.zygote import reap_children
from polyhost.identity import IdentityError, drop_privileges, set_process_title
from polyhost.log import log, open_logfile, set_log_date

SIGNALS = ("INT", "TERM", "QUIT", "HUP", "USR1", "WINCH", "URG", "CHLD")
SIG_NAMES = {getattr(_signal, f"SIG{name}"): name.lower() for name in SIGNALS}
WATCH_FLAGS = (
    inotify.IN_CREATE
    | inotify.IN_DELETE
    | inotify.IN_MOVED_TO
    | inotify.IN_MOVED_FROM
    | inotify.IN_CLOSE_WRITE
    | inotify.IN_ATTRIB
)
#: events that mean "scan now"; a CREATE of a regular file waits for its CLOSE_WRITE
SCAN_EVENTS = WATCH_FLAGS & ~inotify.IN_CREATE | inotify.IN_Q_OVERFLOW
#: the longest the loop sleeps without an event
IDLE_WAKEUP = 1.0
#: a new file still open for writing after this long is started anyway (an editor holding it)
WRITING_GRACE = 5.0
#: a rolling reload moves on after this long even if the vassal never accepts again
ROLLING_RELOAD_WAIT = 60.0


class Emperor:
    def __init__(self, config: EmperorOptions) -> None:
        self.config = config
        cfg = config
        self.freq = max(1, cfg.get("emperor-freq"))
        self.heartbeat = cfg.get("emperor-required-heartbeat")
        self.mercy = cfg.get("reload-mercy")
        self.tyrant = cfg.get("emperor-tyrant")
        self.throttle_ms = cfg.get("emperor-throttle")
        self.blacklist = Blacklist(self.throttle_ms, cfg.get("emperor-max-throttle"))
        self.no_blacklist = cfg.get("emperor-no-blacklist")
        self.stop_hook = cfg.get("vassals-stop-hook") or ""
        self.options = MonitorOptions(
            nofollow=cfg.get("emperor-nofollow"),
            tyrant_nofollow=cfg.get("emperor-tyrant-nofollow"),
            extra_extensions=cfg.get("emperor-extra-extension"),
            on_demand_directory=cfg.get("emperor-on-demand-directory") or "",
            on_demand_extension=cfg.get("emperor-on-demand-extension") or "",
            on_demand_exec=cfg.get("emperor-on-demand-exec") or "",
        )
        before: list[str] = []
        for option, flag in (
            ("vassals-inherit-before", "--inherit"),
            ("vassals-include-before", "--include"),
            ("vassals-set", "--set"),
        ):
            for value in cfg.get(option):
                before += [flag, value]
        after: list[str] = []
        for option, flag in (("vassals-inherit", "--inherit"), ("vassals-include", "--include")):
            for value in cfg.get(option):
                after += [flag, os.path.abspath(value)]
        self.settings = SpawnSettings(
            before=before,
            after=after,
            extra_extensions=self.options.extra_extensions,
            tyrant=self.tyrant,
            initgroups=cfg.get("emperor-tyrant-initgroups"),
            start_hook=cfg.get("vassals-start-hook") or "",
            vassals_dir="",
            private_env=cfg.get("private-env"),
        )
        self.monitors: list[FileMonitor | ZmqMonitor] = []
        self.vassals: dict[str, Vassal] = {}
        self.refused: dict[str, tuple[int, str]] = {}
        self.sig_r, self.sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.sig_queue: list[int] = []
        self.inotify = INotify()
        self.watched: dict[str, int] = {}
        #: new files created and not yet closed (path -> when the CREATE was seen)
        self.being_written: dict[str, float] = {}
        self.ragnarok_at = 0.0
        self.rolling: list[str] = []
        self.rolling_since = 0.0
        self.stats_server: object | None = None
        self.pidfile = cfg.get("emperor-pidfile") or ""

    # -- start ------------------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.config
        if cfg.get("logto") or cfg.get("daemonize"):
            open_logfile(cfg.get("logto") or cfg.get("daemonize"))
        set_log_date(cfg.get("log-date"))
        if cfg.get("logger") or cfg.get("req-logger"):
            from polyhost.zmqlog import install_loggers  # pyzmq's weight comes with it

            install_loggers(cfg)
        procname = cfg.get("emperor-procname")
        if procname:
            import setproctitle

            setproctitle.setproctitle(str(procname))
        else:
            set_process_title(cfg, "Emperor")
        try:
            for arg in cfg.get("emperor"):
                self.monitors.append(build_monitor(arg, self.options))
        except MonitorError as exc:
            log(f"!!! {exc} !!!")
            return 1
        first_dir = next((m.directory for m in self.monitors if isinstance(m, FileMonitor)), "")
        if first_dir:
            os.chdir(first_dir)  # as uWSGI: %v and relative paths are the vassals directory
        self.settings.vassals_dir = first_dir or os.getcwd()
        # watched before the Emperor says it started: a file written right after that line
        # is seen being written (its CREATE), never scanned half-written by the first scan
        self._watch(set().union(*(monitor.watch_dirs([]) for monitor in self.monitors)))
        if self.pidfile:
            with open(self.pidfile, "w") as out:
                out.write(f"{os.getpid()}\n")
        stats = cfg.get("emperor-stats")
        if stats:
            from polyhost.stats import StatsServer

            server = StatsServer(str(stats), self.stats_snapshot)
            try:
                server.start()
            except OSError as exc:
                log(f"!!! {exc} !!!")
                return 1
            self.stats_server = server
            log(f"*** Emperor stats server enabled on {stats} ***")
        if not self.tyrant:
            try:  # handover.py checked what the vassals' user can reach
                drop_privileges(cfg)
            except IdentityError as exc:
                log(f"!!! {exc} !!!")
                return 1
        elif os.getuid() != 0:
            log("!!! emperor-tyrant needs root: the Emperor must start as root !!!")
            return 1
        if cfg.get("emperor-broodlord"):
            log("[emperor] emperor-broodlord is accepted; broodlord mode is not built in polyhost")
        for sig in SIG_NAMES:
            _signal.signal(sig, self._enqueue)
        self.settings.zygote.start()
        log("*** starting polyhost Emperor ***")
        try:
            return self.loop()
        finally:
            self.cleanup()

    def _enqueue(self, signum: int, _frame: object) -> None:
        if len(self.sig_queue) < 16:
            self.sig_queue.append(signum)
        with contextlib.suppress(OSError):
            os.write(self.sig_w, b"s")

    # -- the loop ---------------------------------------------------------------------------
    def loop(self) -> int:
        next_scan = 0.0
        while True:
            now = time.time()
            if not self.ragnarok_at and now >= next_scan:
                next_scan = now + self.freq
                self.scan()
            fds = self._fds()
            try:
                readable, _, _ = select.select(list(fds), [], [], self._timeout(next_scan))
            except InterruptedError:
                readable = []
            rescan = False
            for fd in readable:
                kind, target = fds[fd]
                if kind == "signal":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.sig_r, 4096)
                elif kind == "inotify":
                    rescan = self._worth_a_scan(self.inotify.read()) or rescan
                elif kind == "channel":
                    self._on_message(target)  # type: ignore[arg-type]
                elif kind == "on-demand":
                    self._on_demand_connection(target)  # type: ignore[arg-type]
            for monitor in self.monitors:
                if isinstance(monitor, ZmqMonitor):
                    rescan = monitor.receive() or rescan
            while self.sig_queue:
                getattr(self, f"handle_{SIG_NAMES[self.sig_queue.pop(0)]}")()
            if rescan and not self.ragnarok_at:
                self.scan()
            self.reap()
            self.check_vassals()
            if self.ragnarok_at and self._ragnarok_done():
                log_verbose("The Emperor is buried.")
                return 0

    def _timeout(self, next_scan: float) -> float:
        """Until the next scan or throttled respawn, at most IDLE_WAKEUP s (heartbeats and
        mercy are counted in seconds); messages, signals and inotify wake the loop at once."""
        due = [next_scan] + [v.respawn_at for v in self.vassals.values() if v.status == "dead"]
        return min(max(min(due) - time.time(), 0.01), IDLE_WAKEUP)

    def _fds(self) -> dict[int, tuple[str, object]]:
        fds: dict[int, tuple[str, object]] = {
            self.sig_r: ("signal", None),
            self.inotify.fileno(): ("inotify", None),
        }
        for monitor in self.monitors:
            if isinstance(monitor, ZmqMonitor):
                fds[monitor.fd] = ("zmq", monitor)  # only wakes the loop: see receive()
        for vassal in self.vassals.values():
            if vassal.channel is not None:
                fds[vassal.channel.fileno()] = ("channel", vassal)
            if vassal.status == "on-demand" and vassal.on_demand is not None:
                fds[vassal.on_demand.fileno()] = ("on-demand", vassal)
        return fds

    # -- what the monitors see ------------------------------------------------------------
    def scan(self) -> None:
        self._worth_a_scan(self.inotify.read())  # learn which new files are still open
        watch: set[str] = set()
        for monitor in self.monitors:
            seen = monitor.scan()
            self.reconcile(monitor, seen)
            watch |= monitor.watch_dirs(seen)
        self._watch(watch)

    def _watch(self, dirs: set[str]) -> None:
        for directory in dirs - set(self.watched):
            try:
                self.watched[directory] = self.inotify.add_watch(directory, WATCH_FLAGS)
            except OSError as exc:
                log(
                    f"[emperor] cannot watch {directory} ({exc.strerror}): scanning every "
                    f"{self.freq} seconds"
                )
                self.watched[directory] = -1

    def _worth_a_scan(self, events: list[Event]) -> bool:
        """A file being written is scanned once closed, so a new vassal starts on its whole
        config instead of starting on part of it and reloading at once (a scan that another
        event causes meanwhile leaves it alone too); a new symlink (or directory) has no close:
        its CREATE counts. A hard link waits for the periodic scan."""
        dirs = {wd: directory for directory, wd in self.watched.items()}
        worth = False
        for event in events:
            path = os.path.join(dirs.get(event.wd, ""), event.name)
            if event.mask & inotify.IN_CREATE:
                if os.path.islink(path) or os.path.isdir(path):
                    worth = True
                else:
                    self.being_written[path] = time.time()
            if event.mask & SCAN_EVENTS:
                self.being_written.pop(path, None)
                worth = True
        return worth

    def _still_written(self, item: Seen) -> bool:
        since = self.being_written.get(os.path.abspath(item.path))
        if since is None:
            return False
        if time.time() - since < WRITING_GRACE:
            return True
        del self.being_written[os.path.abspath(item.path)]
        return False

    def reconcile(self, monitor: FileMonitor | ZmqMonitor, seen: list[Seen]) -> None:
        names = set()
        for item in seen:
            names.add(item.name)
            vassal = self.vassals.get(item.name)
            if vassal is None:
                self.add(monitor, item)
            elif vassal.status in ("stopping", "to-on-demand"):
                continue
            elif self.tyrant and (item.uid, item.gid) != (vassal.seen.uid, vassal.seen.gid):
                log(f"!!! permissions of file {item.name} changed. stopping the instance... !!!")
                self.stop(vassal)
            elif item.stamp != vassal.seen.stamp:
                self.changed(vassal, item)
        for vassal in list(self.vassals.values()):
            if vassal.monitor == monitor.arg and vassal.name not in names:
                if vassal.status == "dead":  # its stop hook ran when it died
                    log_verbose(f"[emperor] removed uwsgi instance {vassal.name}")
                    self._forget(vassal)
                elif vassal.status not in ("stopping",):
                    self.stop(vassal)

    def add(self, monitor: FileMonitor | ZmqMonitor, item: Seen) -> None:
        if self.tyrant and (item.uid == 0 or item.gid == 0):
            if self.refused.get(item.name) != item.stamp:
                self.refused[item.name] = item.stamp
                log(
                    f"[emperor-tyrant] invalid permissions for vassal {item.name} (owned by "
                    f"uid {item.uid} gid {item.gid}: chown it to the site's user)"
                )
            return
        self.refused.pop(item.name, None)
        if self._still_written(item) or time.time() < self.blacklist.next_start(item.name):
            return  # throttled; a later scan retries
        if isinstance(monitor, FileMonitor):
            item.socket_name = monitor.on_demand_socket(item)
        vassal = Vassal(item, monitor.arg, last_mod=item.stamp[0] // 1_000_000_000)
        self.vassals[item.name] = vassal
        if item.socket_name:
            if not self._bind_on_demand(vassal):
                del self.vassals[item.name]
            return
        self._start(vassal)

    def _start(self, vassal: Vassal) -> None:
        if not start(vassal, self.settings):
            vassal.status = "dead"
            vassal.respawn_at = time.time() + self.throttle_ms / 1000

    def changed(self, vassal: Vassal, item: Seen) -> None:
        item.socket_name = item.socket_name or vassal.seen.socket_name
        vassal.seen = item
        vassal.last_mod = item.stamp[0] // 1_000_000_000
        if vassal.status == "dead":
            log_verbose(f"[emperor] {vassal.name} changed: starting it now")
            self.blacklist.remove(vassal.name)
            self._start(vassal)
        elif vassal.status == "on-demand":
            log_verbose(f'[emperor] updated configuration for "on demand" instance {vassal.name}')
        elif vassal.send(channel.MSG_RELOAD):
            vassal.respawns += 1
            vassal.last_run = int(time.time())
            vassal.ready = vassal.accepting = False
            log_verbose(f"[emperor] reload the uwsgi instance {vassal.name}")

    def stop(self, vassal: Vassal) -> None:
        """Graceful stop (uWSGI kills at once unless emperor-graceful-shutdown)."""
        vassal.cursed_at = time.time()
        if vassal.pid == -1:
            self._remove(vassal)
            return
        vassal.status = "stopping"
        vassal.send(channel.MSG_GRACEFUL_STOP)
        log_verbose(f"[emperor] stop the uwsgi instance {vassal.name}")

    # -- on demand ----------------------------------------------------------------------------
    def _bind_on_demand(self, vassal: Vassal) -> bool:
        from polyhost.sockets import bind

        name = vassal.seen.socket_name
        try:
            sock, path = bind(name, backlog=self.config.get("listen"))
        except (OSError, Exception) as exc:
            log(f"[emperor] cannot bind the on demand socket {name} of {vassal.name}: {exc}")
            return False
        if path:
            os.chmod(path, 0o666)  # as uWSGI's on_demand_bind()
            if self.tyrant:
                os.chown(path, vassal.seen.uid, vassal.seen.gid)
        vassal.on_demand = sock
        vassal.status = "on-demand"
        log(
            f'[polyhost-emperor] {vassal.name} -> "on demand" instance detected, waiting for '
            f'connections on socket "{name}" ...'
        )
        return True

    def _on_demand_connection(self, vassal: Vassal) -> None:
        log_verbose(
            f"[emperor] first connection on {vassal.seen.socket_name}: starting {vassal.name}"
        )
        self._start(vassal)

    # -- messages from vassals ----------------------------------------------------------------
    def _on_message(self, vassal: Vassal) -> None:
        assert vassal.channel is not None
        try:
            data = vassal.channel.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            close_channel(vassal)
            if vassal.status == "running":
                vassal.cursed_at = time.time()
            return
        now = int(time.time())
        for byte in data:
            if byte == channel.MSG_LOYAL:
                vassal.loyal, vassal.last_loyal = True, now
                log_verbose(f"[emperor] vassal {vassal.name} is now loyal")
                self.blacklist.remove(vassal.name)
            elif byte == channel.MSG_HEARTBEAT:
                vassal.last_heartbeat = now
            elif byte == channel.MSG_GOODBYE:
                if vassal.seen.socket_name:
                    vassal.status = "to-on-demand"
                    vassal.send(channel.MSG_GRACEFUL_STOP)
                    log_verbose(f"[emperor] bringing back instance {vassal.name} to on-demand mode")
                else:
                    self.stop(vassal)
            elif byte == channel.MSG_ACCEPTING:
                vassal.accepting, vassal.last_accepting = True, now
                log_verbose(f"[emperor] vassal {vassal.name} is ready to accept requests")
            elif byte == channel.MSG_SPAWNED:
                vassal.ready, vassal.last_ready = True, now
                log_verbose(f"[emperor] vassal {vassal.name} has been spawned")

    # -- deaths, heartbeats, throttled respawns -------------------------------------------------
    def reap(self) -> None:
        reap_children()
        for vassal in list(self.vassals.values()):
            proc = vassal.proc
            if proc is None or proc.returncode is not None or proc.poll() is None:
                continue
            close_channel(vassal)
            code = proc.returncode
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            if vassal.status == "stopping" or self.ragnarok_at:
                self._remove(vassal)
            elif vassal.status == "to-on-demand" or (vassal.on_demand and code != EXILE_CODE):
                vassal.status = "on-demand"
                log(
                    f'[polyhost-emperor] {vassal.name} -> back to "on demand" mode, waiting for '
                    f'connections on socket "{vassal.seen.socket_name}" ...'
                )
            elif code == EXILE_CODE:
                log_verbose(f"[emperor] vassal {vassal.name} exiled itself ({how})")
                self._remove(vassal)
            else:
                self._died(vassal, how)

    def _died(self, vassal: Vassal, how: str) -> None:
        log_verbose(
            f"[emperor] curse the uwsgi instance {vassal.name} "
            f"(pid: {vassal.proc.pid if vassal.proc else -1}): {how}"
        )
        if self.stop_hook:
            run_hook("stop", self.stop_hook, vassal.name, self.settings.vassals_dir)
        if not vassal.loyal and not self.no_blacklist:
            self.blacklist.add(vassal.name)
        vassal.status = "dead"
        # as uWSGI: the entry starts at emperor-throttle microseconds (its unit slip), so the
        # second death waits one emperor-throttle, the third two ...
        vassal.respawn_at = self.blacklist.next_start(vassal.name)
        vassal.ready = vassal.accepting = False

    def _remove(self, vassal: Vassal) -> None:
        if self.stop_hook:
            run_hook("stop", self.stop_hook, vassal.name, self.settings.vassals_dir)
        log_verbose(f"[emperor] removed uwsgi instance {vassal.name}")
        if not vassal.loyal and not self.no_blacklist and not self.ragnarok_at:
            self.blacklist.add(vassal.name)
        self._forget(vassal)

    def _forget(self, vassal: Vassal) -> None:
        close_channel(vassal)
        if vassal.on_demand is not None:
            with contextlib.suppress(OSError):
                if (
                    not vassal.seen.socket_name.startswith("@")
                    and ":" not in vassal.seen.socket_name
                ):
                    os.unlink(vassal.seen.socket_name)
            vassal.on_demand.close()
        self.vassals.pop(vassal.name, None)

    def check_vassals(self) -> None:
        now = time.time()
        for vassal in list(self.vassals.values()):
            if vassal.status == "dead" and now >= vassal.respawn_at and not self.ragnarok_at:
                if vassal.respawn_at:
                    log_verbose(f"[emperor] respawning vassal {vassal.name}")
                vassal.respawns += 1
                self._start(vassal)
            elif (
                vassal.last_heartbeat
                and vassal.pid > 0
                and vassal.last_heartbeat + self.heartbeat < now
            ):
                log(
                    f"[emperor] vassal {vassal.name} sent no heartbeat in last {self.heartbeat} "
                    "seconds, brutally respawning it..."
                )
                vassal.last_heartbeat = 0
                self._kill(vassal)
            elif (
                vassal.status == "stopping"
                and not self.ragnarok_at
                and vassal.pid > 0
                and now - vassal.cursed_at > self.mercy
            ):
                log_verbose(f"[emperor] NO MERCY for vassal {vassal.name} !!!")
                self._kill(vassal)
        self._advance_rolling_reload(now)

    def _kill(self, vassal: Vassal) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(vassal.pid, _signal.SIGKILL)

    def _advance_rolling_reload(self, now: float) -> None:
        while self.rolling:
            current = self.vassals.get(self.rolling[0])
            waiting = current is not None and current.pid > 0 and not current.accepting
            if waiting and now - self.rolling_since < ROLLING_RELOAD_WAIT:
                return
            self.rolling.pop(0)
            if self.rolling:
                nxt = self.vassals.get(self.rolling[0])
                if nxt is not None and nxt.status == "running" and nxt.send(channel.MSG_RELOAD):
                    nxt.respawns += 1
                    nxt.ready = nxt.accepting = False
                    self.rolling_since = now
                    log_verbose(f"[emperor] reload the uwsgi instance {nxt.name}")
                    return

    # -- signals --------------------------------------------------------------------------------
    def handle_int(self) -> None:
        if self.ragnarok_at:
            left = self.mercy - (time.time() - self.ragnarok_at)
            log(f"[emperor] *** RAGNAROK ALREADY EVOKED (mercyless in {int(left)} seconds)***")
            return
        log("[emperor] *** RAGNAROK EVOKED ***")
        self.ragnarok_at = time.time()
        self.rolling.clear()
        for vassal in list(self.vassals.values()):
            self.stop(vassal)

    handle_term = handle_quit = handle_int

    def handle_hup(self) -> None:
        """Reload every vassal, one at a time."""
        running = [v.name for v in self.vassals.values() if v.status == "running" and v.pid > 0]
        if not running or self.ragnarok_at:
            return
        log("[emperor] SIGHUP: reloading every vassal, one by one")
        self.rolling = ["", *running]  # the empty head is "done": the loop starts the first
        self.rolling_since = 0.0
        self._advance_rolling_reload(time.time())

    def handle_usr1(self) -> None:
        lines = ["[emperor] *** vassals status ***"]
        for vassal in self.vassals.values():
            lines.append(
                f"[emperor] vassal {vassal.name} pid {vassal.pid} status {vassal.status} loyal "
                f"{int(vassal.loyal)} accepting {int(vassal.accepting)} respawns {vassal.respawns}"
            )
        log("\n".join(lines))

    def handle_winch(self) -> None:
        self.scan()

    def handle_urg(self) -> None:
        self.blacklist.clear()

    def handle_chld(self) -> None:
        """Vassals are reaped every cycle."""

    def _ragnarok_done(self) -> bool:
        alive = [v for v in self.vassals.values() if v.pid > 0]
        if not alive:
            return True
        if time.time() - self.ragnarok_at >= self.mercy:
            for vassal in alive:
                log_verbose(f"[emperor] NO MERCY for vassal {vassal.name} !!!")
                self._kill(vassal)
                if vassal.proc is not None:
                    with contextlib.suppress(Exception):
                        vassal.proc.wait(5)
            return True
        return False

    # -- stats and cleanup ----------------------------------------------------------------------
    def stats_snapshot(self) -> dict[str, object]:
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uid": os.getuid(),
            "gid": os.getgid(),
            "cwd": os.getcwd(),
            "emperor": [m.arg for m in self.monitors],
            "emperor_tyrant": int(self.tyrant),
            "throttle_level": self.throttle_ms,
            "vassals": [v.stats() for v in list(self.vassals.values())],
            "blacklist": self.blacklist.stats(),
        }

    def cleanup(self) -> None:
        for vassal in list(self.vassals.values()):
            self._forget(vassal)
        for monitor in self.monitors:
            if isinstance(monitor, ZmqMonitor):
                monitor.close()
        if self.stats_server is not None:
            self.stats_server.close()  # type: ignore[attr-defined]
        if self.pidfile:
            with contextlib.suppress(OSError):
                os.unlink(self.pidfile)
        self.inotify.close()
        self.settings.zygote.close()


def run(config: EmperorOptions) -> int:
    """Run the Emperor until Ragnarok; the exit code of the process."""
    return Emperor(config).run()
