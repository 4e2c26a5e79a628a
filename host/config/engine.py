"""Runs directives into the ordered list of config entries: loads ini/yaml/json files where
they are named (include, ini = :section ...), puts inherited templates before the file that
inherits them, runs for/if blocks and records set/set-placeholder. Placeholders are resolved
later, over the whole configuration, as uWSGI does (a key may be used before it is defined)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from polyhost.config.expand import (
    MagicVars,
    expand_env,
    expand_magic,
    expand_placeholders,
    referenced_names,
)
from polyhost.config.loaders import READERS, format_of, read_ini
from polyhost.config.logic import CLOSERS, OPENERS, LogicContext
from polyhost.config.model import ConfigError, Directive, Entry
from polyhost.config.option_lookup import find_option
from polyhost.config.option_model import Option

#: options that read a config file, and the format they force (None: by file extension)
FILE_OPTIONS: dict[str, str | None] = {
    "ini": "ini",
    "yaml": "yaml",
    "json": "json",
    "xmlconfig": "xml",
    "include": None,
    "inherit": None,
}
_UNSUPPORTED_FILE_OPTIONS = {
    "config": "pluggable config loaders (--config) are not supported; use ini, yaml or json",
}


class PlaceholderResolver:
    """Resolves %(name) over a list of entries: a name is a key as written or an option name or
    alias. A repeated option gives its first value (as uWSGI), anything else its last value, so
    a later definition overrides an earlier one and a file overrides its inherited template."""

    def __init__(self, entries: list[Entry]) -> None:
        self._entries = entries
        self._cache: dict[int, str] = {}
        self._resolving: list[Entry] = []

    def definition(self, name: str) -> Entry | None:
        """The entry that %(name) stands for, or None."""
        matches = [entry for entry in self._entries if entry.key == name]
        if not matches and (option := find_option(name)) is not None:
            matches = [entry for entry in self._entries if entry.option is option]
        if not matches:
            return None
        option = matches[0].option
        return matches[0] if option is not None and option.repeatable else matches[-1]

    def lookup(self, name: str) -> str | None:
        entry = self.definition(name)
        return None if entry is None else self.value_of(entry)[0]

    def value_of(self, entry: Entry) -> tuple[str, list[str]]:
        """The entry's value with placeholders resolved, and the names left undefined.
        Raises ValueError for a bad expression or a loop of placeholders."""
        if entry.raw is None:
            return ("true" if entry.option is not None and entry.option.type == "bool" else ""), []
        if id(entry) in self._cache:
            return self._cache[id(entry)], []
        if any(active is entry for active in self._resolving):
            chain = " -> ".join(active.key for active in self._resolving)
            raise ValueError(f"placeholder loop: {chain} -> {entry.key}")
        self._resolving.append(entry)
        try:
            value, unresolved = expand_placeholders(entry.raw, self.lookup)
        finally:
            self._resolving.pop()
        self._cache[id(entry)] = value
        return value, unresolved


@dataclass(frozen=True)
class _Source:
    """What directives are being run from: a file (path set) or the command line/environment."""

    name: str
    path: str | None
    #: index in the entries where this source's entries begin: inherited templates go there
    start: int


class Assembler:
    """Collects entries, warnings and the keys used as placeholders from directive sources."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.entries: list[Entry] = []
        self.warnings: list[str] = []
        self.referenced: set[str] = set()
        self.files: list[str] = []
        self._magic = MagicVars()
        self._reading: list[tuple[str, str]] = []
        self._last_file: str | None = None

    def run_source(self, name: str, directives: list[Directive]) -> None:
        """Run the directives of the environment or the command line."""
        self._run(self._expand(directives), _Source(name, None, len(self.entries)))

    def _expand(
        self, directives: list[Directive], magic: dict[str, str] | None = None
    ) -> list[Directive]:
        """Magic variables (files only) and $(ENV) references, as soon as a value is read."""
        prepared = []
        for directive in directives:
            value = directive.value
            if value is not None:
                if magic is not None:
                    value = expand_magic(value, magic)
                value, missing = expand_env(value, self.environ)
                for name in missing:
                    self.warnings.append(
                        f"{directive.origin}: environment variable {name} is not set;"
                        f" $({name}) is kept as written"
                    )
            prepared.append(Directive(directive.key, value, directive.origin))
        return prepared

    def _run(self, directives: list[Directive], source: _Source) -> None:
        index = 0
        while index < len(directives):
            directive = directives[index]
            option = find_option(directive.key)
            name = option.name if option is not None else directive.key
            if name in OPENERS:
                end = self._block_end(directives, index)
                self._run_block(name, directive, directives[index + 1 : end], source)
                index = end + 1
                continue
            if name in CLOSERS:
                self.warnings.append(
                    f"{directive.origin}: '{directive.key}' closes no for/if block"
                )
            else:
                self._apply(directive, option, source)
            index += 1

    def _block_end(self, directives: list[Directive], opener: int) -> int:
        depth = 0
        for index in range(opener, len(directives)):
            option = find_option(directives[index].key)
            name = option.name if option is not None else directives[index].key
            if name in OPENERS:
                depth += 1
            elif name in CLOSERS:
                depth -= 1
                if depth == 0:
                    return index
        start = directives[opener]
        option = find_option(start.key)
        closer = "endfor" if option is not None and option.name.startswith("for") else "endif"
        self.warnings.append(
            f"{start.origin}: '{start.key}' block is not closed (add {closer});"
            " it runs to the end of its file"
        )
        return len(directives)

    def _run_block(
        self, name: str, opener: Directive, body: list[Directive], source: _Source
    ) -> None:
        argument, unresolved = self._resolve_now(opener)
        for undefined in unresolved:
            self.warnings.append(
                f"{opener.origin}: placeholder %({undefined}) is not defined before this line"
            )
        if name in ("if-opt", "if-not-opt"):
            self.referenced.add(argument.partition("=")[0])
        context = LogicContext(
            environ=self.environ,
            resolve_path=lambda path: self._resolve_path(source, path),
            current_value=self._current_value,
        )
        try:
            bindings = OPENERS[name](argument, context)
        except ValueError as error:
            raise ConfigError(f"{opener.origin}: {error}") from None
        for binding in bindings:
            self._run(_bind(body, binding), source)

    def _current_value(self, name: str) -> str | None:
        resolver = PlaceholderResolver(self.entries)
        entry = resolver.definition(name)
        if entry is None:
            return None
        try:
            return resolver.value_of(entry)[0]
        except ValueError as error:
            raise ConfigError(f"{entry.origin}: {error}") from None

    def _resolve_now(self, directive: Directive) -> tuple[str, list[str]]:
        """The directive's value with the placeholders defined so far (for file names and block
        arguments, which are used at once)."""
        value = directive.value or ""
        self.referenced |= referenced_names(value)
        try:
            return expand_placeholders(value, PlaceholderResolver(self.entries).lookup)
        except ValueError as error:
            raise ConfigError(f"{directive.origin}: {error}") from None

    def _apply(self, directive: Directive, option: Option | None, source: _Source) -> None:
        if option is not None and option.name in ("set", "set-placeholder"):
            self._set(directive, option, source)
            return
        self.entries.append(Entry(directive.key, option, directive.value, directive.origin))
        if directive.value is not None:
            self.referenced |= referenced_names(directive.value)
        if option is None:
            return
        if option.name in FILE_OPTIONS:
            self._load(option.name, directive, source)
        elif option.name in _UNSUPPORTED_FILE_OPTIONS:
            problem = _UNSUPPORTED_FILE_OPTIONS[option.name]
            raise ConfigError(f"{directive.origin}: {directive.key} = {directive.value}: {problem}")

    def _set(self, directive: Directive, option: Option, source: _Source) -> None:
        text = directive.value or ""
        name, equals, value = text.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ConfigError(
                f"{directive.origin}: {directive.key} expects NAME=VALUE, got '{text}'"
            )
        target = find_option(name)
        if target is None:
            self.entries.append(Entry(name, None, value, directive.origin, placeholder_only=True))
            self.referenced |= referenced_names(value)
        elif option.name == "set-placeholder":
            raise ConfigError(
                f"{directive.origin}: '{name}' cannot be a placeholder, it is an option;"
                f" use {name} = {value} or pick another name"
            )
        else:
            self._apply(Directive(name, value, directive.origin), target, source)

    def _load(self, kind: str, directive: Directive, source: _Source) -> None:
        spec, unresolved = self._resolve_now(directive)
        if unresolved:
            raise ConfigError(
                f"{directive.origin}: {directive.key} = {directive.value}: placeholder"
                f" %({unresolved[0]}) is not defined before this line"
            )
        path, section = self._split_section(spec, directive, source)
        fmt = FILE_OPTIONS[kind] or format_of(path)
        if fmt is None:
            raise ConfigError(
                f"{directive.origin}: cannot load {path}: unknown config format"
                " (expected a name ending in .ini, .yaml, .yml, .json, .js or .xml)"
            )
        path = self._resolve_path(source, path)
        chain_key = (os.path.realpath(path) if path != "-" else path, section or "uwsgi")
        if chain_key in self._reading:
            chain = " -> ".join(f"{file}:{part}" for file, part in [*self._reading, chain_key])
            raise ConfigError(f"{directive.origin}: config files include each other: {chain}")
        if fmt == "ini":
            directives = read_ini(path, section or "uwsgi", self.warnings.append)
        else:
            directives = READERS[fmt](path, section or "uwsgi")
        magic = self._magic.for_stdin() if path == "-" else self._magic.for_file(path, section)
        self.files.append(path)
        self._last_file = path
        self._reading.append(chain_key)
        try:
            before = len(self.entries)
            self._run(self._expand(directives, magic), _Source(path, path, before))
            if kind == "inherit":
                template = self.entries[before:]
                del self.entries[before:]
                self.entries[source.start : source.start] = template
        finally:
            self._reading.pop()

    def _split_section(
        self, spec: str, directive: Directive, source: _Source
    ) -> tuple[str, str | None]:
        """FILE[:SECTION]; a bare :SECTION names a section of the current file (uWSGI takes the
        last file loaded, which surprises)."""
        path, colon, section = spec.rpartition(":")
        if not colon or "/" in section:
            return spec, None
        if not path:
            path = source.path or self._last_file or ""
            if not path:
                raise ConfigError(
                    f"{directive.origin}: {directive.key} = {spec}: no config file to take"
                    f" section [{section}] from"
                )
        return path, section or None

    @staticmethod
    def _resolve_path(source: _Source, path: str) -> str:
        """A path named in a config file is relative to that file (falling back to the current
        directory, where uWSGI looks, when only that one exists)."""
        if source.path is None or source.path == "-" or path == "-" or os.path.isabs(path):
            return path
        beside = os.path.join(os.path.dirname(source.path), path)
        if os.path.exists(beside) or not os.path.exists(path):
            return beside
        return path


def _bind(body: list[Directive], binding: str) -> list[Directive]:
    """The body of a block with %(_) set to `binding`, except inside nested blocks, whose own
    %(_) wins."""
    bound = []
    depth = 0
    for directive in body:
        option = find_option(directive.key)
        name = option.name if option is not None else directive.key
        value = directive.value
        if depth == 0 and value is not None:
            value = value.replace("%(_)", binding)
        if name in OPENERS:
            depth += 1
        elif name in CLOSERS:
            depth -= 1
        bound.append(Directive(directive.key, value, directive.origin))
    return bound
