"""The Emperor's hand-over: from the `polyhost` process that parsed the config to a slim loop.

cli.py parses every option (the config package, the option table: about 4 MiB) before it knows
the process is an Emperor. Once it does, `hand_over` resolves the options the Emperor reads,
writes them (marshal) to a memfd and exec's the same interpreter, same PID (pidfile, signals,
systemd unchanged), as `python -S -P host/emperor/boot.py FD ARGS...`: no site, no
editable-install finder. `run_slim` in that process reads them back and runs the loop, which
imports no config package, typing, dataclasses, inspect, json, subprocess or ctypes.util
(tests/test_emperor_slim.py). The zygote is still spawned from it and imports everything.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False  # typing costs the slim loop 1 MiB; checkers know this name
if TYPE_CHECKING:
    from typing import Any

    from polyhost.config import Config

#: options the Emperor reads with one value
SCALAR_OPTIONS = (
    "auto-procname",
    "daemonize",
    "emperor-broodlord",
    "emperor-freq",
    "emperor-max-throttle",
    "emperor-no-blacklist",
    "emperor-nofollow",
    "emperor-on-demand-directory",
    "emperor-on-demand-exec",
    "emperor-on-demand-extension",
    "emperor-pidfile",
    "emperor-procname",
    "emperor-required-heartbeat",
    "emperor-stats",
    "emperor-throttle",
    "emperor-tyrant",
    "emperor-tyrant-initgroups",
    "emperor-tyrant-nofollow",
    "gid",
    "listen",
    "log-date",
    "logto",
    "procname",
    "procname-prefix",
    "reload-mercy",
    "uid",
    "vassals-start-hook",
    "vassals-stop-hook",
)
#: options the Emperor reads as lists (repeatable, or several values in one)
LIST_OPTIONS = (
    "emperor",
    "emperor-extra-extension",
    "logger",
    "req-logger",
    "vassals-include",
    "vassals-include-before",
    "vassals-inherit",
    "vassals-inherit-before",
    "vassals-set",
)
#: the largest hand-over read back (the options of one Emperor are a few KiB)
MAX_STATE = 1 << 20


class EmperorOptions:
    """The options as the hand-over resolved them, by uWSGI name (a list for LIST_OPTIONS,
    `private-env` the variables a vassal must not inherit). A name the hand-over did not
    resolve is a KeyError: add it to SCALAR_OPTIONS or LIST_OPTIONS."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def get(self, name: str) -> Any:
        return self.values[name]


def resolve(config: Config) -> dict[str, Any]:
    """What the Emperor reads of `config`, as marshal-able values."""
    from polyhost.config import option_values
    from polyhost.emperor.channel import EMPEROR_FD_ENV, ON_DEMAND_ENV
    from polyhost.sockets import INHERIT_ENV

    values: dict[str, Any] = {name: config.get(name) for name in SCALAR_OPTIONS}
    values.update({name: option_values(config, name) for name in LIST_OPTIONS})
    values["private-env"] = [
        "UWSGI_RELOADS",
        "NOTIFY_SOCKET",
        INHERIT_ENV,
        ON_DEMAND_ENV,
        EMPEROR_FD_ENV,
    ]
    return values


def hand_over(config: Config) -> int:
    """Exec the slim Emperor (returns only when the vassals' user cannot reach what they need,
    or the exec fails: the exit code)."""
    from polyhost import reachable
    from polyhost.log import log

    if not config.get("emperor-tyrant"):
        refused = reachable.refusal(config, [], who="its vassals")
        if refused:
            log(f"!!! {refused} !!!")
            return 1
    import polyhost

    state = marshal.dumps({"path": [p for p in sys.path if p], "options": resolve(config)})
    fd = os.memfd_create("polyhost-emperor-options", 0)  # inherited by the exec
    os.write(fd, state)
    os.lseek(fd, 0, os.SEEK_SET)
    boot = os.path.join(os.path.dirname(polyhost.__file__), "emperor", "boot.py")
    flags = ["-S", "-P"]
    if sys.flags.dont_write_bytecode:
        flags.append("-B")
    if "importtime" in sys._xoptions:
        flags += ["-X", "importtime"]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, [sys.executable, *flags, boot, str(fd), *sys.argv[1:]])
    except OSError as exc:
        log(f"!!! cannot start the Emperor: exec {sys.executable}: {exc.strerror} !!!")
        os.close(fd)
        return 1
    return 1  # not reached


def run_slim(fd: int) -> int:
    """In the slim interpreter: the handed-over sys.path and options, then the loop."""
    chunks = []
    size = 0
    while chunk := os.read(fd, 65536):
        size += len(chunk)
        if size > MAX_STATE:
            raise SystemExit(f"polyhost: the Emperor's hand-over on fd {fd} is over {MAX_STATE}")
        chunks.append(chunk)
    os.close(fd)
    state = marshal.loads(b"".join(chunks))
    sys.path.extend(p for p in state["path"] if p not in sys.path)
    from polyhost.emperor.emperor import run

    return run(EmperorOptions(state["options"]))
