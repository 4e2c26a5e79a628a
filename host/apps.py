"""Which apps the config names: the app options of every runtime, `mount`, and a `plugin` of a
runtime whose plugin alone serves (PHP), as AppSpecs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyhost.catalog import CATALOG
from polyhost.config import option_values
from polyhost.config.option_lookup import plugin_component
from polyhost.dispatch import AppSpec, split_mount

if TYPE_CHECKING:
    from polyhost.config import Config


def app_specs(config: Config) -> list[AppSpec]:
    """AppSpecs in config order: single-app options first, then every `mount`."""
    specs: list[AppSpec] = []
    for option, runtime in CATALOG.app_options():
        for index, target in enumerate(option_values(config, option)):
            specs.append(AppSpec(runtime.name, target, "", config.origin(option, index), option))
    for index, value in enumerate(option_values(config, "mount")):
        origin = config.origin("mount", index)
        try:
            mountpoint, target = split_mount(value)
            runtime = CATALOG.for_target(target)
        except ValueError as exc:
            raise ValueError(f"{origin}: {exc}") from None
        specs.append(AppSpec(runtime.name, target, mountpoint, origin, "mount"))
    return specs + _plugin_apps(config, {spec.runtime for spec in specs})


def _plugin_apps(config: Config, named: set[str]) -> list[AppSpec]:
    """`plugin = php` with no PHP app option: uWSGI's PHP plugin then serves the DOCUMENT_ROOT
    of each request (what nginx's `root` sends), so the plugin names an app (target "")."""
    specs: list[AppSpec] = []
    for index, value in enumerate(option_values(config, "plugins")):
        for plugin in value.split(","):
            runtime = CATALOG.find(plugin_component(plugin) or "")
            if runtime is not None and runtime.plugin_app and runtime.name not in named:
                named.add(runtime.name)
                specs.append(
                    AppSpec(runtime.name, "", "", config.origin("plugins", index), "plugins")
                )
    return specs
