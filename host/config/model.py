"""Records shared by the configuration modules: where a value came from, a directive as read,
an entry as kept, and the error raised for bad configuration."""

from __future__ import annotations

from dataclasses import dataclass

from polyhost.config.option_model import Option


class ConfigError(Exception):
    """Bad configuration. The message names the place (file:line), the problem and the fix."""


@dataclass(frozen=True)
class Origin:
    """Where a directive was written: a file and line, the command line, or an env var."""

    source: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source


@dataclass(frozen=True)
class Directive:
    """One `key = value` as read from a file, the command line or the environment.

    `value` is None for a bare key (`master` in an ini file, `--master` on the command line).
    """

    key: str
    value: str | None
    origin: Origin


@dataclass
class Entry:
    """One key kept in the configuration, in the order given.

    `option` is None for keys that are not options (placeholders or typos); `raw` is the value
    after magic variables and $(ENV), `value` the same after %(placeholders) are resolved.
    """

    key: str
    option: Option | None
    raw: str | None
    origin: Origin
    placeholder_only: bool = False
    value: str | None = None
