"""Which apps the config names: the app options of every runtime and `mount`, as AppSpecs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyhost.catalog import CATALOG
from polyhost.config import option_values
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
    return specs
