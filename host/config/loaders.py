"""Readers for ini, yaml, json and xml config files: one section of a file becomes a list of
directives with their file:line, as uWSGI reads them (a bare ini key has no value, repeated keys
and yaml/json lists repeat the option, repeated xml elements too)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.config.model import ConfigError, Directive, Origin
from polyhost.config.sources import SourceError, read_source

if TYPE_CHECKING:
    import yaml

DEFAULT_SECTION = "uwsgi"

#: config file formats by file extension (`.js` is json, as in uWSGI)
FORMATS_BY_EXTENSION = {
    ".ini": "ini",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".js": "json",
    ".xml": "xml",
}


def format_of(path: str) -> str | None:
    """The config format a file name implies, or None."""
    for extension, fmt in FORMATS_BY_EXTENSION.items():
        if path.endswith(extension):
            return fmt
    return None


def _display(path: str) -> str:
    return "stdin" if path == "-" else path


def _read_text(path: str) -> str:
    try:
        return read_source(path).decode("utf-8", "surrogateescape")
    except SourceError as error:
        raise ConfigError(f"cannot read config file {_display(path)}: {error}") from None


def _missing_section(path: str, section: str, found: list[str]) -> ConfigError:
    listed = ", ".join(f"[{name}]" for name in found) if found else "none"
    return ConfigError(f"{path}: no [{section}] section (sections found: {listed})")


def read_ini(
    path: str, section: str = DEFAULT_SECTION, warn: Callable[[str], None] | None = None
) -> list[Directive]:
    """The directives of one section of an ini file.

    As uWSGI: `;` and `#` start comment lines (not inline comments), a key without `=` is bare
    (true for flags), whitespace around keys and values is ignored. Keys before any section
    header are ignored too, but named to `warn`.
    """
    directives: list[Directive] = []
    sections: list[str] = []
    orphans: list[str] = []
    current: str | None = None
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        text = line.strip()
        if not text or text[0] in ";#":
            continue
        if text.startswith("["):
            current = text[1:-1].strip() if text.endswith("]") else text[1:].strip()
            if current not in sections:
                sections.append(current)
            continue
        if current is None:
            orphans.append(f"{text.partition('=')[0].strip()} (line {number})")
            continue
        if current != section:
            continue
        key, equals, value = text.partition("=")
        directives.append(
            Directive(
                key.strip(), value.strip() if equals else None, Origin(_display(path), number)
            )
        )
    if section not in sections:
        raise _missing_section(path, section, sections)
    if orphans and warn is not None:
        warn(
            f"{_display(path)}: ignored {', '.join(orphans)}: keys before any [section] header"
            f" belong to no section (uWSGI ignores them silently); put them under [{section}]"
        )
    return directives


def _yaml_values(node: yaml.Node, path: str) -> list[tuple[str | None, int]]:
    import yaml

    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        if node.tag == "tag:yaml.org,2002:null":
            return [(None, line)]
        return [(node.value, line)]
    if isinstance(node, yaml.SequenceNode):
        return [value for item in node.value for value in _yaml_values(item, path)]
    raise ConfigError(f"{path}:{line}: expected a value or a list of values, not a mapping")


def read_yaml(path: str, section: str = DEFAULT_SECTION) -> list[Directive]:
    """The directives of one top-level key of a yaml file; a list value repeats the option.

    Scalars are taken as written (`0660` stays `0660`, `yes` stays `yes`); an empty value is bare.
    PyYAML is imported here, not at the top: it is 1.7 MiB in every process (the Emperor, each
    vassal and worker) whose configs are not yaml.
    """
    import yaml

    try:
        root = yaml.compose(_read_text(path))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ConfigError(f"{where}: invalid YAML: {getattr(error, 'problem', error)}") from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: expected a mapping with a '{section}' key at the top")
    found = [key.value for key, _value in root.value]
    body = next((value for key, value in root.value if key.value == section), None)
    if body is None:
        raise _missing_section(path, section, found)
    if isinstance(body, yaml.ScalarNode) and body.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(body, yaml.MappingNode):
        line = body.start_mark.line + 1
        raise ConfigError(f"{path}:{line}: the '{section}' section must be a mapping of options")
    directives = []
    for key, value in body.value:
        for text, line in _yaml_values(value, path):
            directives.append(Directive(str(key.value), text, Origin(_display(path), line)))
    return directives


def _json_scalar(value: object, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConfigError(f"{where}: expected a value or a list of values, not an object")


def read_json(path: str, section: str = DEFAULT_SECTION) -> list[Directive]:
    """The directives of one top-level key of a json file; an array value repeats the option."""
    text = _read_text(path)
    try:
        root = json.loads(text, object_pairs_hook=list)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None
    if not isinstance(root, list):
        raise ConfigError(f"{path}: expected an object with a '{section}' key at the top")
    body = next((value for key, value in root if key == section), None)
    if body is None:
        raise _missing_section(path, section, [key for key, _value in root])
    if not isinstance(body, list):
        raise ConfigError(f"{path}: the '{section}' section must be an object of options")
    directives = []
    position = text.find(json.dumps(section))
    for key, value in body:
        # json has no positions: find each key after the previous one to name its line
        found = text.find(json.dumps(key), position + 1)
        line: int | None = None
        if found != -1:
            position = found
            line = text.count("\n", 0, found) + 1
        origin = Origin(_display(path), line)
        for item in value if isinstance(value, list) else [value]:
            directives.append(Directive(key, _json_scalar(item, str(origin)), origin))
    return directives


def read_xml(path: str, section: str = DEFAULT_SECTION) -> list[Directive]:
    """An xml file's directives (polyhost.config.xml_loader: ElementTree and expat are
    imported by the first xml config, not by every master and worker)."""
    from polyhost.config.xml_loader import read_xml as read

    return read(path, section)


READERS: dict[str, Callable[[str, str], list[Directive]]] = {
    "ini": read_ini,
    "yaml": read_yaml,
    "json": read_json,
    "xml": read_xml,
}
