"""Imperial monitors: where vassal configs come from.

`dir://DIR` (the default for a directory) and `glob://PATTERN` (a value with glob characters)
scan files on every inotify event and every `emperor-freq` seconds; `zmq://ENDPOINT` receives
uWSGI's zeromq monitor messages (multipart `touch|destroy`, name, [config, uid, gid, socket]).
Each scan returns the vassals the monitor sees now; the Emperor compares with what runs.
"""

from __future__ import annotations

import contextlib
import os
import stat

from polyhost.log import log

#: vassal config extensions, as uWSGI's uwsgi_emperor_is_valid() (`.skel` and others skipped)
VASSAL_EXTENSIONS = (".xml", ".ini", ".yml", ".yaml", ".js", ".json")
#: the loader option for each extension (uWSGI's vassal_new_argv)
LOADER_OPTIONS = {
    ".xml": "--xml",
    ".ini": "--ini",
    ".yml": "--yaml",
    ".yaml": "--yaml",
    ".js": "--json",
    ".json": "--json",
}
UNAVAILABLE_SCHEMES = ("pg://", "mongodb://", "amqp://")
#: a zmq config body larger than this is refused (it is written to a file)
MAX_ZMQ_CONFIG = 1 << 20
#: what makes a value a glob (glob.has_magic's set; glob itself is imported for glob monitors
#: only: it costs the Emperor's loop `re`)
GLOB_CHARS = frozenset("*?[")


class MonitorError(Exception):
    """A monitor value cannot be used; the message says which and why."""


class Seen:
    """A vassal as a monitor sees it now: its name, the config file it is started with
    (`path`), the `stamp` whose changes mean a reload (mtime in ns, symlink target), the owner,
    the directory it is started in and its on-demand socket. A plain class: dataclasses costs
    the Emperor's loop `inspect`."""

    __slots__ = ("cwd", "gid", "name", "path", "socket_name", "stamp", "uid")

    def __init__(
        self,
        name: str,
        path: str,
        stamp: tuple[int, str],
        uid: int,
        gid: int,
        cwd: str,
        socket_name: str = "",
    ) -> None:
        self.name, self.path, self.stamp = name, path, stamp
        self.uid, self.gid, self.cwd, self.socket_name = uid, gid, cwd, socket_name


def is_vassal_name(name: str, extra: list[str]) -> bool:
    return (name.endswith(VASSAL_EXTENSIONS) or any(name.endswith(e) for e in extra)) and len(
        name
    ) < 0xFF


class FileMonitor:
    """`dir://DIR` or `glob://PATTERN`: vassals are files."""

    def __init__(self, arg: str, options: MonitorOptions) -> None:
        self.options = options
        if arg.startswith("glob://"):
            self.pattern, self.directory = arg[len("glob://") :], ""
        elif arg.startswith("dir://"):
            self.pattern, self.directory = "", arg[len("dir://") :]
        elif GLOB_CHARS.intersection(arg):
            self.pattern, self.directory = arg, ""
        else:
            self.pattern, self.directory = "", arg
        self.cwd = os.getcwd()
        if self.directory:
            if not os.path.isdir(self.directory):
                raise MonitorError(
                    f"emperor = {arg}: {self.directory} is not a directory (create it, or quote "
                    "a glob pattern such as '/etc/polyhost/*.ini')"
                )
            self.directory = os.path.realpath(self.directory)
        self.arg = self.directory or self.pattern

    def watch_dirs(self, seen: list[Seen]) -> set[str]:
        """Directories inotify should watch: the monitored one (or the glob's fixed part) and
        those of symlink targets (touching a target reloads)."""
        dirs = {self.directory} if self.directory else set()
        if self.pattern:
            fixed = self.pattern.split("*")[0].split("?")[0].split("[")[0]
            dirs.add(os.path.dirname(os.path.join(self.cwd, fixed)) or "/")
        for item in seen:
            dirs.add(os.path.dirname(os.path.realpath(item.path)))
        return {d for d in dirs if os.path.isdir(d)}

    def scan(self) -> list[Seen]:
        if self.directory:
            try:
                names = sorted(os.listdir(self.directory))
            except OSError as exc:
                log(f"[emperor] cannot list {self.directory}: {exc.strerror}")
                return []
            candidates = [(n, os.path.join(self.directory, n), self.directory) for n in names]
        else:
            import glob

            candidates = [
                (p, os.path.join(self.cwd, p), self.cwd)
                for p in sorted(glob.glob(self.pattern, root_dir=self.cwd))
            ]
        result = []
        for name, path, cwd in candidates:
            if not is_vassal_name(name, self.options.extra_extensions):
                continue
            item = self._stat(name, path, cwd)
            if item is not None:
                result.append(item)
        return result

    def _stat(self, name: str, path: str, cwd: str) -> Seen | None:
        opts = self.options
        try:
            st = os.lstat(path) if opts.nofollow else os.stat(path)
            link = os.lstat(path)
        except OSError:
            return None
        if not (stat.S_ISREG(st.st_mode) or (opts.nofollow and stat.S_ISLNK(st.st_mode))):
            return None
        owner = link if opts.tyrant_nofollow else st
        target = os.readlink(path) if stat.S_ISLNK(link.st_mode) else ""
        return Seen(name, path, (st.st_mtime_ns, target), owner.st_uid, owner.st_gid, cwd)

    def on_demand_socket(self, item: Seen) -> str:
        """The on-demand socket of a new vassal (asked once, as uWSGI does: the exec option
        runs a command)."""
        return self.options.on_demand_socket(item.path, item.name, item.cwd)


class ZmqMonitor:
    """`zmq://ENDPOINT`: a PULL socket; configs arrive over the wire and live in a private
    directory, one file per vassal named like it (so `%n` works)."""

    def __init__(self, arg: str, options: MonitorOptions) -> None:
        import zmq

        self.options = options
        self.arg = arg
        self.endpoint = arg[len("zmq://") :]
        self.context = zmq.Context.instance()
        self.sock = self.context.socket(zmq.PULL)
        try:
            self.sock.bind(self.endpoint)
        except zmq.ZMQError as exc:
            raise MonitorError(f"emperor = {arg}: cannot bind {self.endpoint}: {exc}") from None
        import tempfile

        self.directory = tempfile.mkdtemp(prefix="polyhost-emperor-zmq-")
        os.chmod(self.directory, 0o711)
        self.vassals: dict[str, Seen] = {}
        self.serial = 0

    @property
    def fd(self) -> int:
        import zmq

        return int(self.sock.getsockopt(zmq.FD))

    def watch_dirs(self, seen: list[Seen]) -> set[str]:
        return set()

    def receive(self) -> bool:
        """Drain the PULL socket; whether anything came. Its fd only wakes the Emperor's
        select (edge-triggered, it may stay quiet while messages wait), so this runs on every
        loop and asks zmq itself."""
        import zmq

        received = False
        while self.sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self._command(self.sock.recv_multipart(zmq.NOBLOCK))
            received = True
        return received

    def _command(self, parts: list[bytes]) -> None:
        if len(parts) < 2:
            log("[emperor-zeromq] bad message received (command and instance name required)")
            return
        command, name = parts[0].decode("latin-1"), parts[1].decode("utf-8", "replace")
        if command == "destroy":
            if self.vassals.pop(name, None) is None:
                log(f'[emperor-zeromq] unknown instance "{name}"')
            elif os.path.dirname(path := os.path.join(self.directory, name)) == self.directory:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            return
        if command != "touch":
            log(f'[emperor-zeromq] unknown command "{command[:32]!r}"')
            return
        if "/" in name or name.startswith(".") or not is_vassal_name(name, []):
            log(f"[emperor-zeromq] invalid vassal name: {name[:64]!r}")
            return
        config = parts[2] if len(parts) > 2 else b""
        if len(config) > MAX_ZMQ_CONFIG:
            log(f"[emperor-zeromq] config of {name} too large ({len(config)} bytes)")
            return
        uid = _number(parts[3]) if len(parts) > 3 else 0
        gid = _number(parts[4]) if len(parts) > 4 else 0
        socket_name = parts[5].decode() if len(parts) > 5 else ""
        path = os.path.join(self.directory, name)
        if config:
            fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(config)
            if os.getuid() == 0 and uid:
                os.chown(path + ".tmp", uid, gid)
            os.replace(path + ".tmp", path)
            cwd = self.directory
        else:  # a static file in the Emperor's directory
            path, cwd = os.path.abspath(name), os.getcwd()
        self.serial += 1
        self.vassals[name] = Seen(name, path, (self.serial, ""), uid, gid, cwd, socket_name)

    def scan(self) -> list[Seen]:
        return list(self.vassals.values())

    def close(self) -> None:
        self.sock.close(linger=0)
        for name in os.listdir(self.directory):
            os.unlink(os.path.join(self.directory, name))
        os.rmdir(self.directory)


def _number(raw: bytes) -> int:
    text = raw.decode("latin-1").strip()
    return int(text) if text.isdigit() else 0


class MonitorOptions:
    """The Emperor options every monitor reads."""

    __slots__ = (
        "extra_extensions",
        "nofollow",
        "on_demand_directory",
        "on_demand_exec",
        "on_demand_extension",
        "tyrant_nofollow",
    )

    def __init__(
        self,
        nofollow: bool,
        tyrant_nofollow: bool,
        extra_extensions: list[str],
        on_demand_directory: str,
        on_demand_extension: str,
        on_demand_exec: str,
    ) -> None:
        self.nofollow, self.tyrant_nofollow = nofollow, tyrant_nofollow
        self.extra_extensions = extra_extensions
        self.on_demand_directory = on_demand_directory
        self.on_demand_extension = on_demand_extension
        self.on_demand_exec = on_demand_exec

    def on_demand_socket(self, path: str, name: str, cwd: str) -> str:
        """uWSGI's emperor_check_on_demand_socket(): the socket the Emperor binds for the
        vassal file `path`; the exec command gets its `name` as the monitor sees it, run in
        the monitor's directory `cwd`."""
        if self.on_demand_extension:
            try:
                with open(path + self.on_demand_extension, encoding="utf-8") as source:
                    return _first_line(source.read())
            except OSError:
                return ""
        if self.on_demand_directory:
            stem = os.path.basename(path).rpartition(".")[0]
            return f"{self.on_demand_directory}/{stem}.socket" if stem else ""
        if self.on_demand_exec:
            import shlex
            import subprocess

            out = subprocess.run(
                f"{self.on_demand_exec} {shlex.quote(name)}",
                shell=True,
                cwd=cwd,
                capture_output=True,
                timeout=10,
                check=False,
            )
            return _first_line(out.stdout.decode("utf-8", "replace"))
        return ""


def _first_line(text: str) -> str:
    """Up to the first non-printable character, as uWSGI reads a socket name."""
    for index, char in enumerate(text):
        if ord(char) < 32:
            return text[:index]
    return text


def build_monitor(arg: str, options: MonitorOptions) -> FileMonitor | ZmqMonitor:
    if arg.startswith(UNAVAILABLE_SCHEMES):
        scheme = arg.split("://", 1)[0]
        raise MonitorError(
            f"emperor = {arg}: the {scheme} imperial monitor is not available in polyhost "
            "(use a directory, a glob or zmq://)"
        )
    if arg.startswith("zmq://"):
        return ZmqMonitor(arg, options)
    if "://" in arg and not arg.startswith(("dir://", "glob://")):
        raise MonitorError(f"emperor = {arg}: unknown imperial monitor scheme")
    return FileMonitor(arg, options)
