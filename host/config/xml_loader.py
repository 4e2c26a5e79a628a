"""The xml config reader: the `<uwsgi>` element of a file, each directive with its line.

Imported by polyhost.config.loaders on the first xml config only (ElementTree and expat are not
in a process whose config is no xml: issue 18, worker RSS).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat

from polyhost.config.loaders import DEFAULT_SECTION, _display, _read_text
from polyhost.config.model import ConfigError, Directive, Origin


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
