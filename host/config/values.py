"""Option values as lists of strings: what every component reading a repeatable option wants."""

from __future__ import annotations

from typing import Any


def as_list(value: object) -> list[str]:
    """An option's value as strings: [] when unset, a bare flag as "true", repeats in order."""
    if value is None or value is False or value == "":
        return []
    if value is True:
        return ["true"]
    if isinstance(value, list | tuple):
        return [_text(item) for item in value if item not in (None, "", False)]
    return [str(value)]


def option_values(config: Any, name: str) -> list[str]:
    """`as_list` of an option of a Config; unknown names: []."""
    try:
        return as_list(config.get(name))
    except KeyError:
        return []


def _text(item: object) -> str:
    return "true" if item is True else str(item)
