"""Config logic blocks: `for` loops and `if-*` tests, closed by endfor/endif/end.

Every block opener is a function of its argument returning the values the body runs with: a
loop returns its items, a test returns [tested value] when it holds and [] otherwise. The body
sees the value as %(_). Unlike uWSGI, blocks may nest (the innermost %(_) wins).
"""

from __future__ import annotations

import glob
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from polyhost.config.option_lookup import component_available, plugin_component

Opener: TypeAlias = "Callable[[str, LogicContext], list[str]]"

#: keys closing the innermost open block (main names; end-for/end-if are their aliases)
CLOSERS = frozenset({"endfor", "endif", "end"})


@dataclass(frozen=True)
class LogicContext:
    """What block openers may look at."""

    environ: Mapping[str, str]
    #: a path as include would resolve it from the current file
    resolve_path: Callable[[str], str]
    #: the current value of a key or option, None when not set
    current_value: Callable[[str], str | None]


def _name_and_expected(argument: str) -> tuple[str, str | None]:
    name, equals, expected = argument.partition("=")
    return name, expected if equals else None


def _if_opt(argument: str, context: LogicContext) -> list[str]:
    name, expected = _name_and_expected(argument)
    value = context.current_value(name)
    if value is None or (expected is not None and value != expected):
        return []
    return [value]


def _if_not_opt(argument: str, context: LogicContext) -> list[str]:
    name, expected = _name_and_expected(argument)
    value = context.current_value(name)
    if value is not None and (expected is None or value == expected):
        return []
    return [name]


def _if_env(argument: str, context: LogicContext) -> list[str]:
    name, expected = _name_and_expected(argument)
    value = context.environ.get(name)
    if value is None or (expected is not None and value != expected):
        return []
    return [value]


def _if_not_env(argument: str, context: LogicContext) -> list[str]:
    name, expected = _name_and_expected(argument)
    value = context.environ.get(name)
    if value is not None and (expected is None or value == expected):
        return []
    return [name]


def _is_reload(context: LogicContext) -> bool:
    return context.environ.get("UWSGI_RELOADS", "0") not in ("", "0")


def _path_test(check: Callable[[str], bool], wanted: bool) -> Opener:
    def test(argument: str, context: LogicContext) -> list[str]:
        return [argument] if check(context.resolve_path(argument)) == wanted else []

    return test


def _plugin_loaded(name: str) -> bool:
    component = plugin_component(name)
    return component is not None and component_available(component)


def _for(argument: str, context: LogicContext) -> list[str]:
    return argument.split()


def _for_glob(argument: str, context: LogicContext) -> list[str]:
    pattern = context.resolve_path(argument)
    return [path + "/" if os.path.isdir(path) else path for path in sorted(glob.glob(pattern))]


def _for_times(argument: str, context: LogicContext) -> list[str]:
    if not re.fullmatch(r"\s*\d+\s*", argument):
        raise ValueError(f"for-times expects a number, got '{argument}'")
    return [str(number) for number in range(1, int(argument) + 1)]


def _for_readline(argument: str, context: LogicContext) -> list[str]:
    path = context.resolve_path(argument)
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return [line.rstrip("\r\n") for line in handle if line.strip()]
    except OSError as error:
        raise ValueError(f"for-readline cannot read {path}: {error.strerror}") from None


def _hostname_matches(argument: str) -> bool:
    return re.search(argument, socket.gethostname()) is not None


def _when(check: Callable[[str], bool], wanted: bool = True) -> Opener:
    def test(argument: str, context: LogicContext) -> list[str]:
        return [argument] if check(argument) == wanted else []

    return test


#: block openers by option main name
OPENERS: dict[str, Opener] = {
    "for": _for,
    "for-glob": _for_glob,
    "for-times": _for_times,
    "for-readline": _for_readline,
    "if-opt": _if_opt,
    "if-not-opt": _if_not_opt,
    "if-env": _if_env,
    "if-not-env": _if_not_env,
    "if-exists": _path_test(os.path.exists, True),
    "if-not-exists": _path_test(os.path.exists, False),
    "if-file": _path_test(os.path.isfile, True),
    "if-not-file": _path_test(os.path.isfile, False),
    "if-dir": _path_test(os.path.isdir, True),
    "if-not-dir": _path_test(os.path.isdir, False),
    "if-hostname": _when(lambda name: name == socket.gethostname()),
    "if-not-hostname": _when(lambda name: name == socket.gethostname(), wanted=False),
    "if-hostname-match": _when(_hostname_matches),
    "if-not-hostname-match": _when(_hostname_matches, wanted=False),
    "if-plugin": _when(_plugin_loaded),
    "if-not-plugin": _when(_plugin_loaded, wanted=False),
    "if-reload": lambda argument, context: [""] if _is_reload(context) else [],
    "if-not-reload": lambda argument, context: [] if _is_reload(context) else [""],
}
