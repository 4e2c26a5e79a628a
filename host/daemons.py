"""Attached daemons: helper processes a site runs beside its app, supervised by the master.

`attach-daemon CMD` (a plain daemon: it stays in the foreground, the master respawns it when it
dies and stops it when the instance stops or reloads), `smart-attach-daemon PIDFILE CMD` (the
command forks itself and writes PIDFILE; the master follows the pid in it every `freq` seconds,
respawns it when that process is gone, and re-attaches to it after a reload instead of starting
another), `smart-attach-daemon2 PIDFILE CMD` (the same, the master daemonizes the command and
writes PIDFILE) and `attach-daemon2 key=value,...` with uWSGI's keys. Respawns are throttled as
uWSGI's daemons (one more second per quick respawn, up to `max_throttle` or 300); a `touch` file
sends its daemon the stop signal, which respawns it; a `control` daemon that dies stops the
instance. Log lines are uWSGI's `[uwsgi-daemons] ...`.
"""

from __future__ import annotations

import contextlib
import functools
import grp
import os
import pwd
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.config.keyval import parse_keyval
from polyhost.lifeline import die_with_parent
from polyhost.log import log
from polyhost.touch import TouchWatch

if TYPE_CHECKING:
    from polyhost.config import Config

KEYS = frozenset(
    {
        "command",
        "cmd",
        "exec",
        "pidfile",
        "daemonize",
        "daemon",
        "touch",
        "uid",
        "gid",
        "stopsignal",
        "stop_signal",
        "reloadsignal",
        "reload_signal",
        "freq",
        "control",
        "max_throttle",
        "chdir",
    }
)
#: seconds a plain daemon gets to stop before SIGKILL (uWSGI: reload-mercy, else 3)
DEFAULT_MERCY = 3.0
#: a daemon that lived less than this many seconds counts as a quick death (throttled)
QUICK = 10.0


@dataclass
class Daemon:
    command: str
    pidfile: str = ""
    daemonize: bool = False
    touch: list[str] = field(default_factory=list)
    uid: str = ""
    gid: str = ""
    stop_signal: int = signal.SIGTERM
    reload_signal: int = 0
    freq: int = 10
    control: bool = False
    max_throttle: int = 0
    chdir: str = ""
    # state
    pid: int = 0
    respawns: int = 0
    last_spawn: float = 0.0
    spawn_after: float = 0.0
    next_pidfile_check: float = 0.0
    #: the launcher of a smart daemon exited (the daemon forked itself away)
    launched: bool = False

    @property
    def smart(self) -> bool:
        return bool(self.pidfile)


def _signal_number(value: str, where: str) -> int:
    if value.isdigit():
        return int(value)
    name = value.upper() if value.upper().startswith("SIG") else f"SIG{value.upper()}"
    number = getattr(signal, name, None)
    if not isinstance(number, signal.Signals):
        raise ValueError(f"{where}: {value!r} is not a signal (a number or a name like TERM)")
    return int(number)


def daemons_from_config(config: Config) -> list[Daemon]:
    daemons = [Daemon(command) for command in option_values(config, "attach-daemon")]
    daemons += [
        Daemon(command, control=True) for command in option_values(config, "attach-control-daemon")
    ]
    for option, daemonize in (("smart-attach-daemon", False), ("smart-attach-daemon2", True)):
        for i, value in enumerate(option_values(config, option)):
            pidfile, _, command = value.strip().partition(" ")
            if not command.strip():
                raise ValueError(
                    f"{option} = {value} ({config.origin(option, i)}): write the pidfile, a "
                    "space, then the command"
                )
            daemons.append(Daemon(command.strip(), pidfile=pidfile, daemonize=daemonize))
    for i, value in enumerate(option_values(config, "attach-daemon2")):
        where = f"attach-daemon2 = {value} ({config.origin('attach-daemon2', i)})"
        keys = parse_keyval(value, "attach-daemon2", KEYS)
        command = keys.get("command") or keys.get("cmd") or keys.get("exec") or ""
        if not command:
            raise ValueError(f"{where}: you need to specify a 'command' key (cmd=...)")
        daemons.append(
            Daemon(
                command,
                pidfile=keys.get("pidfile", ""),
                daemonize=_true(keys.get("daemonize") or keys.get("daemon")),
                touch=[t for t in (keys.get("touch") or "").split(";") if t],
                uid=keys.get("uid", ""),
                gid=keys.get("gid", ""),
                stop_signal=_signal_number(
                    keys.get("stopsignal") or keys.get("stop_signal") or "15", where
                ),
                reload_signal=_signal_number(
                    keys.get("reloadsignal") or keys.get("reload_signal") or "0", where
                ),
                freq=int(keys.get("freq") or 10),
                control=_true(keys.get("control")),
                max_throttle=int(keys.get("max_throttle") or 0),
                chdir=keys.get("chdir", ""),
            )
        )
    return daemons


def _true(value: str | None) -> bool:
    return bool(value) and value.lower() not in ("0", "false", "no", "off")


def read_pidfile(path: str) -> int:
    """The live pid in a pidfile, 0 when there is none (missing file, garbage, dead process)."""
    try:
        with open(path) as pidfile:
            pid = int(pidfile.read().strip() or 0)
    except (OSError, ValueError):
        return 0
    if pid <= 0:
        return 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return 0
    except PermissionError:
        pass
    return pid


class Daemons:
    """Every attached daemon of the instance; the master calls start, tick, reaped, stop."""

    def __init__(self, config: Config, stop_instance: object) -> None:
        self.daemons = daemons_from_config(config)
        self.mercy = config.get("reload-mercy") if config.is_set("reload-mercy") else DEFAULT_MERCY
        self.stop_instance = stop_instance
        self.touch = TouchWatch()
        for daemon in self.daemons:
            self.touch.watch(daemon.touch, lambda path, d=daemon: self._touched(d, path))

    def start(self) -> None:
        """After the workers: attach to live smart daemons, spawn the others."""
        for daemon in self.daemons:
            if daemon.smart:
                pid = read_pidfile(daemon.pidfile)
                if pid:
                    log(
                        f'[uwsgi-daemons] found valid/active pidfile for "{daemon.command}" '
                        f"(pid: {pid})"
                    )
                    daemon.pid, daemon.launched = pid, True
                    daemon.next_pidfile_check = time.monotonic() + daemon.freq
                    continue
            self._spawn(daemon)

    def _spawn(self, daemon: Daemon) -> None:
        now = time.monotonic()
        if daemon.last_spawn and now - daemon.last_spawn < QUICK:
            throttle = max(1, daemon.respawns - int(now - daemon.last_spawn))
            throttle = min(throttle, daemon.max_throttle or 300)
            log(f'[uwsgi-daemons] throttling "{daemon.command}" for {throttle} seconds')
            daemon.spawn_after = now + throttle
            daemon.pid = 0
            return
        self._launch(daemon)

    def _launch(self, daemon: Daemon) -> None:
        uid = _user_id(daemon.uid) if daemon.uid else os.getuid()
        gid = _group_id(daemon.gid) if daemon.gid else os.getgid()
        command = daemon.command
        if daemon.daemonize:  # as uWSGI: the daemonized process' pid goes to the pidfile
            command = f"{command} &"
            if daemon.pidfile:
                command += f" echo $! > {shlex.quote(daemon.pidfile)}"
        log(
            f'[uwsgi-daemons] {"re" if daemon.respawns else ""}spawning "{daemon.command}" '
            f"(uid: {uid} gid: {gid})"
        )
        master = os.getpid()  # a plain daemon dies with it (a smart one outlives it by design)
        kwargs: dict[str, object] = {}
        if daemon.uid:
            kwargs["user"] = uid
        if daemon.gid:
            kwargs["group"] = gid
            kwargs["extra_groups"] = []
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: signals reach its children
                cwd=daemon.chdir or None,
                preexec_fn=None if daemon.smart else functools.partial(die_with_parent, master),
                **kwargs,  # type: ignore[arg-type]
            )
        except OSError as exc:
            log(f'[uwsgi-daemons] unable to spawn "{daemon.command}": {exc}')
            daemon.pid = 0
            daemon.spawn_after = time.monotonic() + 1
            return
        # the master reaps it (waitpid(-1)); Popen must not try again
        proc.returncode = 0
        if daemon.last_spawn:
            daemon.respawns += 1
        daemon.pid, daemon.launched = proc.pid, False
        daemon.last_spawn = time.monotonic()
        daemon.spawn_after = 0.0
        daemon.next_pidfile_check = daemon.last_spawn + 1

    def reaped(self, pid: int) -> bool:
        """A child that is no worker died; True when it was one of ours."""
        for daemon in self.daemons:
            if daemon.pid != pid:
                continue
            if daemon.smart and not daemon.launched:
                daemon.launched = True  # the launcher exited: the pidfile tells the rest
                return True
            if daemon.control:
                log(f'[uwsgi-daemons] control daemon "{daemon.command}" died: stopping')
                daemon.pid = 0
                self.stop_instance()  # type: ignore[operator]
                return True
            log(f'daemon "{daemon.command}" (pid: {pid}) annihilated')
            daemon.pid = 0
            self._spawn(daemon)
            return True
        return False

    def tick(self) -> None:
        self.touch.check()
        now = time.monotonic()
        for daemon in self.daemons:
            if daemon.spawn_after and now >= daemon.spawn_after:
                self._launch(daemon)
            elif daemon.smart and daemon.launched and now >= daemon.next_pidfile_check:
                daemon.next_pidfile_check = now + min(daemon.freq, 1)
                pid = read_pidfile(daemon.pidfile)
                if pid and pid != daemon.pid:
                    log(
                        f'[uwsgi-daemons] found changed pid for "{daemon.command}" '
                        f"(old_pid: {daemon.pid} new_pid: {pid})"
                    )
                    daemon.pid = pid
                elif not pid and now - daemon.last_spawn >= daemon.freq:
                    log(
                        f'[uwsgi-daemons] found changed pidfile for "{daemon.command}" '
                        f"(old_pid: {daemon.pid} new_pid: 0)"
                    )
                    self._spawn(daemon)

    def _touched(self, daemon: Daemon, path: str) -> None:
        if daemon.pid > 0:
            log(
                f'*** {path} has been touched... reloading daemon "{daemon.command}" '
                f"(pid: {daemon.pid}) !!! ***"
            )
            _signal_group(daemon.pid, daemon.stop_signal)
            if daemon.smart:  # its pidfile goes stale: respawned at the next check
                daemon.next_pidfile_check = 0.0
                daemon.last_spawn = 0.0

    def stop(self, reloading: bool) -> None:
        """Stop the plain daemons (and, on a final stop, the smart ones too: nothing of the
        instance keeps running after it); a reload keeps the smart ones for the next master."""
        for daemon in self.daemons:
            daemon.spawn_after = 0.0
            if daemon.pid <= 0 or (daemon.smart and reloading):
                continue
            log(f"[uwsgi-daemons] stopping daemon (pid: {daemon.pid}): {daemon.command}")
            sig = daemon.reload_signal if reloading and daemon.reload_signal else daemon.stop_signal
            _signal_group(daemon.pid, sig)
            deadline = time.monotonic() + self.mercy
            while _alive(daemon.pid, reap=not daemon.smart):
                if time.monotonic() >= deadline:
                    log(
                        f"[uwsgi-daemons] daemon did not die in time, killing "
                        f"(pid: {daemon.pid}): {daemon.command}"
                    )
                    _signal_group(daemon.pid, signal.SIGKILL)
                    _alive(daemon.pid, reap=not daemon.smart)
                    break
                time.sleep(0.05)
            daemon.pid = 0


def _alive(pid: int, reap: bool) -> bool:
    if reap:
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pid: int, sig: int) -> None:
    """Signal the daemon's process group (it may have children), else the process."""
    try:
        os.killpg(pid, sig)
    except OSError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _user_id(user: str) -> int:
    return int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid


def _group_id(group: str) -> int:
    return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
