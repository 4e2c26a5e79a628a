"""Which apps the config names: the app options of every runtime and `mount`, as AppSpecs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.dispatch import AppSpec, runtime_for_target, split_mount

if TYPE_CHECKING:
    from polyhost.config import Config

#: option -> runtime for options that name one app mounted at the default mountpoint
APP_OPTIONS: dict[str, str] = {
    "wsgi-file": "python",
    "module": "python",
    "psgi": "psgi",
    "rack": "rack",
    "lua": "lua",
    "jwsgi": "jvm",
    "ring-app": "jvm",
    "mono-app": "mono",
    "mono-handler": "mono",
    "php-app": "php",
    "php-docroot": "php",
    "cgi": "cgi",
}


def app_specs(config: Config) -> list[AppSpec]:
    """AppSpecs in config order: single-app options first, then every `mount`."""
    specs: list[AppSpec] = []
    for option, runtime in APP_OPTIONS.items():
        for index, target in enumerate(option_values(config, option)):
            specs.append(AppSpec(runtime, target, "", config.origin(option, index)))
    for index, value in enumerate(option_values(config, "mount")):
        origin = config.origin("mount", index)
        try:
            mountpoint, target = split_mount(value)
        except ValueError as exc:
            raise ValueError(f"{origin}: {exc}") from None
        specs.append(AppSpec(runtime_for_target(target), target, mountpoint, origin))
    return specs
