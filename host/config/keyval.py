"""uWSGI's keyval option values: `key=value,key=value` with `\\,` for a comma inside a value
(uwsgi_kvlist_parse), as `attach-daemon2` and `metric` take them."""

from __future__ import annotations


def parse_keyval(text: str, option: str, known: frozenset[str]) -> dict[str, str]:
    """The pairs of `text`; an item without `=` or an unknown key raises ValueError naming the
    option and the keys it knows."""
    items: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    pairs: dict[str, str] = {}
    for item in filter(None, (i.strip() for i in items)):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"{option} = {text}: '{item}' has no value (write {key}=VALUE)")
        if key not in known:
            raise ValueError(
                f"{option} = {text}: unknown key '{key}'; known keys: {', '.join(sorted(known))}"
            )
        pairs[key] = value.strip()
    return pairs
