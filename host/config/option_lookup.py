"""Finding options in the table: by name, alias or short letter; and how messages name the
component an option belongs to (a runtime's title comes from the catalog)."""

from __future__ import annotations

import re

from polyhost.config.option_model import Option
from polyhost.config.options import COMPONENT_TITLES, OPTIONS, PLUGIN_COMPONENTS

_BY_NAME: dict[str, Option] = {}
_BY_SHORT: dict[str, Option] = {}
for _option in OPTIONS:
    for _name in (_option.name, *_option.aliases):
        _BY_NAME[_name] = _option
    if _option.short:
        _BY_SHORT.setdefault(_option.short, _option)


def find_option(name: str) -> Option | None:
    """The option called `name` (its main name or any alias), or None."""
    return _BY_NAME.get(name)


def find_short_option(letter: str) -> Option | None:
    """The option whose short form is `-letter`, or None."""
    return _BY_SHORT.get(letter)


def all_option_names() -> list[str]:
    """Every name and alias, for did-you-mean suggestions."""
    return list(_BY_NAME)


def component_title(component: str) -> str:
    """How a message names a component: "the Perl (PSGI) runtime", "the cache"."""
    from polyhost.catalog import CATALOG  # the bridges import the config: looked up when asked

    runtime = CATALOG.find(component)
    if runtime is not None:
        return f"the {runtime.title()} runtime"
    return COMPONENT_TITLES.get(component, component)


def group_title(option: Option) -> str:
    """The --help heading of an option: its group, or its runtime's title from the catalog."""
    from polyhost.catalog import CATALOG

    runtime = CATALOG.find(option.group)
    return option.group if runtime is None else runtime.title()


def plugin_component(plugin: str) -> str | None:
    """The component replacing a uWSGI plugin name such as "python311" or "0:php", or None."""
    name = plugin.split("|", 1)[0].split(":")[-1].strip().lower()
    name = re.sub(r"_plugin(\.so)?$", "", name)
    if re.fullmatch(r"python\d*", name):
        return "python"
    if re.fullmatch(r"(ruby|rack)\d*", name):
        return "rack"
    return PLUGIN_COMPONENTS.get(name)


def component_available(component: str) -> bool:
    """True when polyhost implements at least one option of `component`."""
    return any(option.available for option in OPTIONS if option.component == component)
