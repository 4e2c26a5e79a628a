"""load_config(argv) -> Config: the whole configuration of an instance, typed, with the origin
of every value and the warnings to log at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from polyhost.config.argv import parse_argv, parse_environ, suggestion
from polyhost.config.engine import Assembler, PlaceholderResolver
from polyhost.config.model import ConfigError, Directive, Entry
from polyhost.config.option_lookup import (
    component_available,
    component_title,
    find_option,
    plugin_component,
)
from polyhost.config.option_model import Option, parse_value

#: options whose %(name) are filled at run time (log variables), not placeholders
_RUNTIME_PERCENT_OPTIONS = frozenset({"log-format"})
_PLUGIN_OPTIONS = frozenset({"plugins", "need-plugins"})
#: options that act on a running instance and exit (polyhost.manage), as uWSGI's immediate ones
_MANAGEMENT_COMMANDS = frozenset({"stop", "reload", "brutal-reload", "connect-and-read", "extract"})


class Config:
    """The configuration of one instance: typed values in the order given, with origins."""

    def __init__(
        self,
        argv: list[str],
        entries: list[Entry] | None = None,
        warnings: list[str] | None = None,
        action: str | None = None,
        files: list[str] | None = None,
    ) -> None:
        #: the original command line (the master re-executes itself with it on reload)
        self.argv = argv
        #: messages to log at start-up (unknown keys, options not available yet ...)
        self.warnings = warnings if warnings is not None else []
        #: None, or what the command line asks instead of running: "version", "help",
        #: "help-option:NAME" or "show-config"
        self.action = action
        #: config files read, in order
        self.files = files if files is not None else []
        self._entries = entries if entries is not None else []
        self._values: dict[str, list[tuple[Any, Entry]]] = {}
        for entry in self._entries:
            if entry.option is not None:
                typed = parse_value(entry.option, None if entry.raw is None else entry.value)
                self._values.setdefault(entry.option.name, []).append((typed, entry))
        #: placeholders: every key that is not an option, with its (last) value
        self.placeholders: dict[str, str] = {
            entry.key: entry.value or "" for entry in self._entries if entry.option is None
        }

    @staticmethod
    def _option(name: str) -> Option:
        option = find_option(name)
        if option is None:
            raise KeyError(f"unknown option '{name}'{suggestion(name)}")
        return option

    def get(self, name: str) -> Any:
        """The typed value of an option (by name or alias), or its default. A repeatable option
        gives the list of its values."""
        option = self._option(name)
        values = self._values.get(option.name, [])
        if option.repeatable:
            return [value for value, _entry in values] if values else list(option.default)
        return values[-1][0] if values else option.default

    def is_set(self, name: str) -> bool:
        """Whether the option (by name or alias) is given anywhere."""
        return bool(self._values.get(self._option(name).name))

    def origin(self, name: str, i: int | None = None) -> str:
        """Where the option was given ("app.ini:12", "command line", "env UWSGI_SOCKET"), or
        "default". Without `i`: where the value in effect comes from (the last one given, or the
        first of a repeatable option); with `i`: the i-th occurrence."""
        option = self._option(name)
        values = self._values.get(option.name, [])
        if not values:
            return "default"
        if i is None:
            i = 0 if option.repeatable else -1
        return str(values[i][1].origin)

    def items(self) -> list[tuple[str, str | bool]]:
        """(key as written, value) in the order given; True for a bare key."""
        return [
            (entry.key, True if entry.raw is None else entry.value or "") for entry in self._entries
        ]

    def as_uwsgi_opt(self) -> dict[str, bytes | bool | list[bytes | bool]]:
        """The mapping Python apps see as uwsgi.opt: bytes values, True for bare keys, and a
        list for a key given more than once (as uWSGI's Python 3 plugin builds it)."""
        opt: dict[str, Any] = {}
        for key, value in self.items():
            item = value if value is True else str(value).encode("utf-8", "surrogateescape")
            if key not in opt:
                opt[key] = item
            elif isinstance(opt[key], list):
                opt[key].append(item)
            else:
                opt[key] = [opt[key], item]
        return opt

    def entries(self) -> list[Entry]:
        """The entries in order, with their origins (for --show-config)."""
        return list(self._entries)


def _requested_action(directives: list[Directive]) -> str | None:
    for directive in directives:
        option = find_option(directive.key)
        if option is None:
            continue
        if option.name in ("help", "version"):
            return option.name
        if option.name == "help-option":
            return f"help-option:{directive.value}"
        if option.name in _MANAGEMENT_COMMANDS:  # act on a running instance and exit
            return f"{option.name}:{directive.value or ''}"
    return None


def load_config(argv: list[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read the whole configuration: UWSGI_* environment variables, then the command line in
    order (config files are read where they are named). Raises ConfigError for bad input."""
    environ = os.environ if environ is None else environ
    argv = list(argv)
    directives = parse_argv(argv)
    action = _requested_action(directives)
    if action is not None:
        return Config(argv, action=action)
    assembler = Assembler(environ)
    assembler.run_source("environment", parse_environ(environ))
    assembler.run_source("command line", directives)
    return _finish(argv, assembler)


def _resolve(assembler: Assembler) -> None:
    resolver = PlaceholderResolver(assembler.entries)
    defined = [entry.key for entry in assembler.entries]
    for entry in assembler.entries:
        try:
            entry.value, unresolved = resolver.value_of(entry)
        except ValueError as error:
            raise ConfigError(f"{entry.origin}: {entry.key} = {entry.raw}: {error}") from None
        if entry.option is not None and entry.option.name in _RUNTIME_PERCENT_OPTIONS:
            continue
        for name in unresolved:
            assembler.warnings.append(
                f"{entry.origin}: placeholder %({name}) is not defined; the value keeps it"
                f" as written{suggestion(name, defined)}"
            )


def _check_keys(assembler: Assembler, strict: bool) -> None:
    """Unknown keys: placeholders when used as %(key), otherwise probably typos."""
    errors: list[str] = []
    reported: set[str] = set()
    for entry in assembler.entries:
        if entry.option is not None or entry.placeholder_only or entry.key in reported:
            continue
        reported.add(entry.key)
        if strict:
            errors.append(
                f"{entry.origin}: [strict-mode] unknown config directive: {entry.key}"
                f"{suggestion(entry.key)} (placeholders need set-placeholder in strict mode)"
            )
        elif entry.key not in assembler.referenced:
            assembler.warnings.append(
                f"{entry.origin}: unknown option '{entry.key}'{suggestion(entry.key)}"
            )
    if errors:
        raise ConfigError("\n".join(errors))


def _check_values(assembler: Assembler) -> None:
    for entry in assembler.entries:
        if entry.option is None:
            continue
        try:
            parse_value(entry.option, None if entry.raw is None else entry.value)
        except ValueError as error:
            shown = "(bare key)" if entry.raw is None else repr(entry.value)
            hint = ""
            if entry.raw is None and entry.option.bare is not None:
                hint = f" (a bare --{entry.option.name} means {entry.option.bare} only on the"
                hint += " command line)"
            raise ConfigError(
                f"{entry.origin}: option '{entry.key}' = {shown}: {error}{hint}"
            ) from None


def _report_unavailable(assembler: Assembler) -> None:
    reported: set[str] = set()
    for entry in assembler.entries:
        option = entry.option
        if option is None or option.available or option.name in reported:
            continue
        reported.add(option.name)
        if option.component == "plugins":
            _report_plugins(assembler, entry, option)
        elif component_available(option.component):
            assembler.warnings.append(
                f"{entry.origin}: option '{entry.key}' is not available yet in polyhost;"
                " it is accepted and ignored"
            )
        else:
            title = component_title(option.component)
            assembler.warnings.append(
                f"{entry.origin}: option '{entry.key}' needs {title}, which is not available yet"
            )


def _report_plugins(assembler: Assembler, entry: Entry, option: Option) -> None:
    if option.name not in _PLUGIN_OPTIONS:
        assembler.warnings.append(
            f"{entry.origin}: option '{entry.key}' is not needed: polyhost has every runtime"
            " built in"
        )
        return
    for plugin_entry in assembler.entries:
        if plugin_entry.option is not option or not plugin_entry.value:
            continue
        assembler.warnings.append(
            f"{plugin_entry.origin}: polyhost has every runtime built in;"
            f" {plugin_entry.key} = {plugin_entry.value} is not needed"
        )
        for plugin in plugin_entry.value.split(","):
            component = plugin_component(plugin)
            if component is not None and not component_available(component):
                title = component_title(component)
                assembler.warnings.append(
                    f"{plugin_entry.origin}: plugin '{plugin.strip()}' stands for {title},"
                    " which is not available yet"
                )


def _finish(argv: list[str], assembler: Assembler) -> Config:
    _resolve(assembler)
    _check_values(assembler)
    config = Config(argv, assembler.entries, assembler.warnings, files=assembler.files)
    _check_keys(assembler, strict=config.get("strict"))
    _report_unavailable(assembler)
    config.warnings[:] = list(dict.fromkeys(config.warnings))  # a file read in a loop warns once
    if config.get("show-config"):
        config.action = "show-config"
    return config
