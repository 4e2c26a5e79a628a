"""Readers for ini, yaml, json and xml config files: one section of a file becomes a list of
directives with their file:line, as uWSGI reads them (a bare ini key has no value, repeated keys
and yaml/json lists repeat the option, repeated xml elements too)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING
from xml.parsers import expat

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
    import yaml  # loaded by read_yaml already

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
    PyYAML is imported here, for a yaml file: ~1 MiB of every worker of an ini or argv config.
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


class _Element(ET.Element):
    """An element that knows its line in the file."""

    line: int | None = None


def _parse_xml(path: str) -> ET.Element:
    """The xml file as an ElementTree, each element noting the line it starts on (`.line`):
    expat (ElementTree's own parser) drives a TreeBuilder so the line numbers are at hand."""
    builder = ET.TreeBuilder(element_factory=_Element)
    parser = expat.ParserCreate()

    def start(tag: str, attrs: dict[str, str]) -> None:
        builder.start(tag, attrs).line = parser.CurrentLineNumber  # type: ignore[attr-defined]

    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(_read_text(path), True)
    except expat.ExpatError as error:
        raise ConfigError(
            f"{path}:{error.lineno}: invalid XML: {expat.ErrorString(error.code)}"
        ) from None
    return builder.close()


def _xml_block(root: ET.Element, path: str, section: str | None) -> ET.Element:
    """The `<uwsgi>` element to read, as uWSGI: the root itself, or the first `<uwsgi>` child
    (with `id="SECTION"` when a section is asked for)."""
    if root.tag == DEFAULT_SECTION:
        return root
    blocks = [child for child in root if child.tag == DEFAULT_SECTION]
    for block in blocks:
        if section is None or block.get("id") in (None, section):
            return block
    ids = [f"id={block.get('id')!r}" for block in blocks if block.get("id")]
    raise ConfigError(
        f"{path}: no <uwsgi> element{f' with id={section!r}' if section else ''} under"
        f" <{root.tag}> (found: {', '.join(ids) or 'none'})"
    )


def read_xml(path: str, section: str = DEFAULT_SECTION) -> list[Directive]:
    """The directives of the `<uwsgi>` element of an xml file (`file.xml:ID` picks the one, and
    the child elements, with `id="ID"`); an empty element is a bare key, `<app mountpoint=..>`
    a mount, as uWSGI's xml loader."""
    wanted = None if section == DEFAULT_SECTION else section
    directives = []
    for element in _xml_block(_parse_xml(path), path, wanted):
        if wanted is not None and element.get("id") not in (None, wanted):
            continue
        origin = Origin(_display(path), getattr(element, "line", None))
        value = (element.text or "").strip() or None
        if element.tag == "app":
            mountpoint = element.get("mountpoint") or element.get("domain")
            if value is not None:
                target = f"{mountpoint}={value}" if mountpoint else value
                directives.append(Directive("mount", target, origin))
            continue
        directives.append(Directive(element.tag, value, origin))
    return directives


READERS: dict[str, Callable[[str, str], list[Directive]]] = {
    "ini": read_ini,
    "yaml": read_yaml,
    "json": read_json,
    "xml": read_xml,
}
