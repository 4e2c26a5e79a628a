"""uWSGI's hooks and exec phases: `exec-as-root = CMD`, `hook-pre-app = exec:CMD`, `call:` ...

A phase runs its `exec-<phase>` commands, then its `hook-<phase>` actions, in config order, each
logged as uWSGI does (`running "..." (phase)...`). A failing command or hook stops the start-up
with the reason (uWSGI's phases are fatal), except `as-user-atexit` which only logs.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.log import log

if TYPE_CHECKING:
    from polyhost.config import Config

#: phase -> (exec option, hook option, uWSGI's name for it in the log)
PHASES: dict[str, tuple[str | None, str, str]] = {
    "asap": ("exec-asap", "hook-asap", "asap"),
    "as-root": ("exec-as-root", "hook-as-root", "as root"),
    "as-user": ("exec-as-user", "hook-as-user", "as user"),
    "pre-app": ("exec-pre-app", "hook-pre-app", "pre app"),
    "post-app": ("exec-post-app", "hook-post-app", "post app"),
    "master-start": (None, "hook-master-start", "master-start"),
    "post-fork": (None, "hook-post-fork", "post-fork"),
    "as-user-atexit": ("exec-as-user-atexit", "hook-as-user-atexit", "atexit"),
}


class HookError(Exception):
    """A command or hook of a fatal phase failed; the message says which and why."""


def _exec(arg: str) -> None:
    code = subprocess.call(["/bin/sh", "-c", arg], stdin=subprocess.DEVNULL)
    if code != 0:
        raise HookError(f'command "{arg}" exited with non-zero code: {code}')


def _safeexec(arg: str) -> None:
    subprocess.call(["/bin/sh", "-c", arg], stdin=subprocess.DEVNULL)


def _call(arg: str) -> None:
    """`call:module.function` (Python; uWSGI's calls a C symbol): called without arguments,
    imported from the `pythonpath` entries too."""
    module, _, name = arg.rpartition(".")
    if not module:
        raise HookError(f"call:{arg}: write call:module.function")
    function = getattr(importlib.import_module(module), name, None)
    if not callable(function):
        raise HookError(f"call:{arg}: {module} has no function {name}")
    function()


def _write(mode: str, newline: bool) -> Callable[[str], None]:
    def action(arg: str) -> None:
        path, _, text = arg.partition(" ")
        with open(path, mode) as target:
            target.write(text + ("\n" if newline else ""))

    return action


def _putenv(arg: str) -> None:
    key, _, value = arg.partition("=")
    os.environ[key] = value


def _exit(arg: str) -> None:
    sys.exit(int(arg or 0))


ACTIONS: dict[str, Callable[[str], None]] = {
    "exec": _exec,
    "safeexec": _safeexec,
    "call": _call,
    "cd": os.chdir,
    "chdir": os.chdir,
    "mkdir": lambda arg: os.makedirs(arg, exist_ok=True),
    "putenv": _putenv,
    "unlink": lambda arg: os.unlink(arg),
    "create": lambda arg: open(arg, "a").close(),
    "creat": lambda arg: open(arg, "a").close(),
    "write": _write("w", False),
    "writen": _write("w", True),
    "append": _write("a", False),
    "appendn": _write("a", True),
    "chmod": lambda arg: os.chmod(arg.split()[0], int(arg.split()[1], 8)),
    "print": log,
    "log": log,
    "exit": _exit,
}


def run_phase(config: Config, phase: str) -> None:
    """Run the phase's commands and hooks; HookError when one of a fatal phase fails."""
    exec_option, hook_option, label = PHASES[phase]
    fatal = phase != "as-user-atexit"
    steps: list[tuple[str, Callable[[str], None], str]] = []
    if exec_option:
        steps += [(f'"{cmd}"', _exec, cmd) for cmd in option_values(config, exec_option)]
    for hook in option_values(config, hook_option):
        action, colon, arg = hook.partition(":")
        private = action.startswith("!")
        function = ACTIONS.get(action.lstrip("!"))
        if not colon or function is None:
            raise HookError(
                f"{hook_option} = {hook}: write action:argument with one of "
                f"{', '.join(sorted(ACTIONS))}"
            )
        steps.append(("--- PRIVATE HOOK ---" if private else f'"{hook}"', function, arg))
    for entry in option_values(config, "pythonpath") if any(s[1] is _call for s in steps) else []:
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for shown, function, arg in steps:
        log(f"running {shown} ({label})...")
        try:
            function(arg)
        except (HookError, OSError, ImportError, ValueError, IndexError) as exc:
            if fatal:
                raise HookError(f"{label} hook {shown}: {exc}") from exc
            log(f"{label} hook {shown} failed: {exc}")
