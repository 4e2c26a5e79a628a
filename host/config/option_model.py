"""One option of the table: the `Option` row, the builders the table is written with
(`row`, `section`, `runtime_section`), and how a raw value becomes the typed one."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Row kinds of the table below; LIST is a repeatable string option.
FLAG, INT, STR, LIST = "flag", "int", "str", "list"
_KIND_TYPES = {FLAG: ("bool", False), INT: ("int", False), STR: ("str", False), LIST: ("str", True)}


@dataclass(frozen=True)
class Option:
    """One configuration option, as the table declares it."""

    name: str
    type: str  # "bool" | "int" | "str" | "float"
    repeatable: bool = False
    default: Any = None
    help: str = ""
    group: str = ""
    aliases: tuple[str, ...] = ()
    short: str | None = None
    component: str = "core"
    #: implemented by polyhost; False: accepted and reported "not available yet" at start-up
    available: bool = False
    #: what a bare `--name` stands for on the command line (uWSGI's optional-argument options)
    bare: str | None = None
    #: a stricter check of the value, a key of VALUE_FORMATS
    format: str | None = None
    #: how --help names the value ("" for none); None: from the type
    metavar: str | None = None


def row(name: str, kind: str, help: str, **extra: Any) -> dict[str, Any]:
    """One row: name, kind (FLAG, INT, STR, LIST), help, and any other Option field."""
    return {"name": name, "kind": kind, "help": help, **extra}


def section(group: str, component: str, *rows: dict[str, Any]) -> list[Option]:
    """The options of one --help group, all read by `component`."""
    options = []
    for row in rows:
        extra = dict(row)
        name, kind, help_text = extra.pop("name"), extra.pop("kind"), extra.pop("help")
        type_name, repeatable = _KIND_TYPES[kind]
        if repeatable:
            extra.setdefault("default", ())
        elif kind == FLAG:
            extra.setdefault("default", False)
        options.append(
            Option(
                name=name,
                type=type_name,
                repeatable=repeatable,
                help=help_text,
                group=group,
                component=component,
                **extra,
            )
        )
    return options


def runtime_section(runtime: str, *rows: dict[str, Any]) -> list[Option]:
    """A runtime's options: grouped under the runtime's name, which the catalog titles."""
    return section(runtime, runtime, *rows)


def _socket_mode(value: str) -> str:
    if value == "1":
        return "666"
    if not re.fullmatch(r"[0-7]{3}", value):
        raise ValueError("invalid chmod value: expected three octal digits such as 660")
    return value


def _log_date(value: str) -> str:
    """ "true" for the default date format (also a bare key or yes/on/1), else a strftime format."""
    return "true" if value.strip().lower() in ("", "true", "yes", "on", "1") else value


#: Stricter checks for some str options: a function returning the normalised value or raising
#: ValueError with what is expected.
VALUE_FORMATS: dict[str, Callable[[str], str]] = {"mode": _socket_mode, "logdate": _log_date}

_TRUE_WORDS = frozenset({"", "true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def parse_value(option: Option, raw: str | None) -> Any:
    """The typed value of `raw` for `option`; None is a bare key. Raises ValueError(expected)."""
    if option.type == "bool":
        if raw is None or raw.strip().lower() in _TRUE_WORDS:
            return True
        if raw.strip().lower() in _FALSE_WORDS:
            return False
        raise ValueError("expected a boolean (true/false, yes/no, on/off, 1/0)")
    if raw is None:
        if option.type != "str":
            raise ValueError(f"expected {'an integer' if option.type == 'int' else 'a number'}")
        raw = ""
    if option.type == "int":
        if not re.fullmatch(r"\s*[-+]?\d+\s*", raw):
            raise ValueError("expected an integer")
        return int(raw)
    if option.type == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
    if option.format:
        return VALUE_FORMATS[option.format](raw)
    return raw
