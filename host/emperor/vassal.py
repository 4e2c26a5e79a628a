"""One vassal: its state as the Emperor tracks it, how it is started, and the blacklist.

A vassal is a normal polyhost instance with its file as config (`--ini FILE`, `--yaml FILE`
...), forked by the zygote (zygote.py) in the monitored directory, with the Emperor channel on
`UWSGI_EMPEROR_FD`. It gets SIGKILL if the Emperor dies (polyhost.lifeline, set after the
privileges are dropped, since a credential change clears it) and sees EOF on its channel.
The Emperor's slim loop (handover.py) imports this module: plain classes (dataclasses costs
`inspect`), `_socket`; subprocess only when a hook runs.
"""

from __future__ import annotations

import _socket
import contextlib
import os
import pwd
import sys
import time

from polyhost.emperor.monitors import LOADER_OPTIONS, Seen
from polyhost.emperor.zygote import SpawnRequest, VassalProcess, Zygote
from polyhost.log import log

#: a vassal exiting with this code is not respawned (uWSGI's UWSGI_EXILE_CODE)
EXILE_CODE = 26


def log_verbose(message: str) -> None:
    """uWSGI's uwsgi_log_verbose(): the line starts with the date."""
    log(f"{time.ctime()} - {message}")


class Vassal:
    """A vassal the Emperor governs (one per config name)."""

    def __init__(self, seen: Seen, monitor: str, last_mod: int = 0) -> None:
        self.seen = seen
        self.monitor = monitor
        self.born = int(time.time())
        self.last_mod = last_mod
        self.proc: VassalProcess | None = None
        self.channel: _socket.socket | None = None
        #: running | stopping | on-demand (waiting for a connection) | to-on-demand | dead
        self.status = "running"
        self.loyal = self.ready = self.accepting = False
        self.last_loyal = self.last_ready = self.last_accepting = self.last_heartbeat = 0
        self.first_run = self.last_run = 0
        self.cursed_at = 0.0
        self.respawns = 0
        #: when a dead vassal may be started again (the blacklist's throttle)
        self.respawn_at = 0.0
        #: the socket the Emperor bound for an on-demand vassal (polyhost.sockets.bind)
        self.on_demand: _socket.socket | None = None

    @property
    def name(self) -> str:
        return self.seen.name

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else -1

    def send(self, byte: int) -> bool:
        if self.channel is None:
            return False
        try:
            self.channel.send(bytes([byte]))
            return True
        except OSError:
            return False

    def stats(self) -> dict[str, object]:
        return {
            "id": self.name,
            "pid": self.pid,
            "born": self.born,
            "last_mod": self.last_mod,
            "last_heartbeat": self.last_heartbeat,
            "loyal": int(self.loyal),
            "ready": int(self.ready),
            "accepting": int(self.accepting),
            "last_loyal": self.last_loyal,
            "last_ready": self.last_ready,
            "last_accepting": self.last_accepting,
            "first_run": self.first_run,
            "last_run": self.last_run,
            "cursed": int(self.cursed_at),
            "zerg": 0,
            "on_demand": self.seen.socket_name,
            "suspended": 0,
            "adopted": 0,
            "uid": self.seen.uid,
            "gid": self.seen.gid,
            "monitor": self.monitor,
            "attrs": [],
            "respawns": self.respawns,
        }


class SpawnSettings:
    """The Emperor options that shape every vassal's command line, environment and
    credentials; `private_env` names what a vassal must not inherit (handover.py lists it)."""

    def __init__(
        self,
        before: list[str],
        after: list[str],
        extra_extensions: list[str],
        tyrant: bool,
        initgroups: bool,
        start_hook: str,
        vassals_dir: str,
        private_env: list[str],
    ) -> None:
        self.before, self.after, self.extra_extensions = before, after, extra_extensions
        self.tyrant, self.initgroups = tyrant, initgroups
        self.start_hook, self.vassals_dir = start_hook, vassals_dir
        self.private_env = frozenset(private_env)
        self.zygote = Zygote()


def vassal_argv(seen: Seen, settings: SpawnSettings) -> list[str]:
    """uWSGI's vassal_new_argv(): templates and --set before the file, includes after."""
    name = seen.path
    loader = "--inherit"
    for extension, option in LOADER_OPTIONS.items():
        if name.endswith(extension):
            loader = option
    if any(name.endswith(e) for e in settings.extra_extensions):
        loader = "--config"
    return [sys.executable, "-m", "polyhost", *settings.before, loader, name, *settings.after]


def _vassal_env(private: frozenset[str]) -> dict[str, str]:
    """The Emperor's environment without `private`, UWSGI_VASSAL_X renamed to UWSGI_X (the
    zygote adds the channel fd)."""
    env = {k: v for k, v in os.environ.items() if k not in private}
    for key in [k for k in env if k.startswith("UWSGI_VASSAL_")]:
        env["UWSGI_" + key[len("UWSGI_VASSAL_") :]] = env.pop(key)
    return env


def run_hook(what: str, command: str, vassal: str, vassals_dir: str) -> None:
    """`vassals-start-hook` / `vassals-stop-hook`: run `COMMAND NAME`, log its exit code."""
    import shlex
    import subprocess

    log(f"[emperor] running vassal {what}-hook: {command} {vassal}")
    env = dict(os.environ, UWSGI_VASSALS_DIR=vassals_dir)
    try:
        code = subprocess.run(
            f"{command} {shlex.quote(vassal)}", shell=True, env=env, timeout=60, check=False
        ).returncode
    except subprocess.TimeoutExpired:
        code = -1
    log(f"[emperor] {vassal} {what}-hook returned {code}")


def _unreachable_for_owner(seen: Seen, name: str) -> str:
    """What the owner of a tyrant's vassal file cannot read of what its exec needs (the
    interpreter, the standard library, polyhost), or "". Its directory is entered before the
    drop, and its config file is the vassal's to read."""
    from polyhost import reachable

    try:
        user = pwd.getpwuid(seen.uid).pw_name
    except KeyError:
        user = str(seen.uid)
    paths = reachable.needed_paths(None, [])
    return reachable.explain(user, seen.uid, seen.gid, paths, f"vassal {name}")


def start(vassal: Vassal, settings: SpawnSettings) -> bool:
    """Fork and exec the vassal; False (logged) when it cannot start."""
    seen = vassal.seen
    if settings.start_hook:
        run_hook("start", settings.start_hook, vassal.name, settings.vassals_dir)
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    ours.setblocking(False)
    credentials: tuple[int, int, list[int]] | None = None
    if settings.tyrant:
        log(
            f"[emperor-tyrant] dropping privileges to {seen.uid} {seen.gid} for instance "
            f"{vassal.name}"
        )
        groups: list[int] = []
        if settings.initgroups:
            with contextlib.suppress(KeyError):
                groups = os.getgrouplist(pwd.getpwuid(seen.uid).pw_name, seen.gid)
        credentials = (seen.uid, seen.gid, groups)
        refused = _unreachable_for_owner(seen, vassal.name)
        if refused:
            log(f"[emperor-tyrant] cannot start vassal {vassal.name}: {refused}")
            ours.close()
            theirs.close()
            return False
    request = SpawnRequest(
        argv=vassal_argv(seen, settings),
        cwd=seen.cwd,
        env=_vassal_env(settings.private_env),
        channel_fd=theirs.fileno(),
        stdin_fd=-1 if vassal.on_demand is None else vassal.on_demand.fileno(),
        emperor_pid=os.getpid(),
        credentials=credentials,
    )
    try:
        vassal.proc = settings.zygote.spawn(request)
    except OSError as exc:
        log(f"[emperor] cannot start vassal {vassal.name}: {exc}")
        ours.close()
        return False
    finally:
        theirs.close()
    vassal.channel = ours
    now = int(time.time())
    vassal.first_run = vassal.first_run or now
    vassal.last_run = now
    vassal.status = "running"
    vassal.loyal = vassal.ready = vassal.accepting = False
    vassal.cursed_at = 0.0
    vassal.last_heartbeat = 0
    return True


def close_channel(vassal: Vassal) -> None:
    if vassal.channel is not None:
        vassal.channel.close()
        vassal.channel = None


class BlacklistItem:
    __slots__ = ("attempt", "first_attempt", "last_attempt", "throttle_us")

    def __init__(self, throttle_us: int) -> None:
        self.throttle_us = throttle_us
        #: as uWSGI's: 0 at the first death, so "unloyal bad behaving" is logged at the third
        self.attempt = 0
        self.first_attempt = self.last_attempt = time.time()


class Blacklist:
    """uWSGI's blacklist: a non-loyal vassal that dies is throttled; each further death adds
    `emperor-throttle` ms up to `emperor-max-throttle` ms (then halves)."""

    def __init__(self, throttle_ms: int, max_throttle_ms: int) -> None:
        self.throttle_ms = throttle_ms
        self.max_throttle_ms = max_throttle_ms
        self.items: dict[str, BlacklistItem] = {}

    def next_start(self, name: str) -> float:
        """The earliest time the vassal may start again."""
        item = self.items.get(name)
        return 0.0 if item is None else item.last_attempt + item.throttle_us / 1e6

    def add(self, name: str) -> None:
        item = self.items.get(name)
        if item is None:
            self.items[name] = BlacklistItem(self.throttle_ms)
            return
        item.last_attempt = time.time()
        if item.throttle_us < self.max_throttle_ms * 1000:
            item.throttle_us += self.throttle_ms * 1000
        else:
            log_verbose(f"[emperor] maximum throttle level for vassal {name} reached !!!")
            item.throttle_us //= 2
        item.attempt += 1
        if item.attempt == 2:
            log_verbose(f"[emperor] unloyal bad behaving vassal found: {name} throttling it...")

    def remove(self, name: str) -> None:
        self.items.pop(name, None)

    def clear(self) -> None:
        log_verbose("[emperor] cleaning up blacklist ...")
        self.items.clear()

    def stats(self) -> list[dict[str, object]]:
        return [
            {
                "id": name,
                "throttle_level": item.throttle_us // 1000,
                "attempt": item.attempt,
                "first_attempt": int(item.first_attempt),
                "last_attempt": int(item.last_attempt),
            }
            for name, item in list(self.items.items())
        ]
