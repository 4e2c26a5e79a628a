"""The runtime catalog: the one list of polyhost's language bridges, and what the host asks it.

Each bridge's `Runtime` class declares itself (name, modifier1, the options naming its apps, the
`mount` targets it claims, the packages it needs); the host knows no language and asks the
catalog instead: which runtime a name, a modifier1, an app option or a `mount` target means, and
how --help and the option reports title a runtime. `CATALOG.register(cls)` adds a runtime (a
test's, say) in one call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyhost.dispatch import Runtime

#: "module:Class" of every bridge, in the order their app options are read
BRIDGES = (
    "polyhost.bridges.python.wsgi:WsgiRuntime",
    "polyhost.bridges.asgi.runtime:AsgiRuntime",
    "polyhost.bridges.perl.adapter:PsgiRuntime",
    "polyhost.bridges.ruby.adapter:RackRuntime",
    "polyhost.bridges.lua.adapter:LuaRuntime",
    "polyhost.bridges.jvm.adapter:JvmRuntime",
    "polyhost.bridges.mono.adapter:MonoRuntime",
    "polyhost.bridges.php.adapter:PhpRuntime",
    "polyhost.bridges.cgi.adapter:CgiRuntime",
)


class Catalog:
    """The runtimes of this process: the bridges (imported on first use), then registered ones."""

    def __init__(self, bridges: tuple[str, ...]) -> None:
        self._bridges = bridges
        self._runtimes: dict[str, type[Runtime]] = {}
        self._loaded = False

    def register(self, runtime: type[Runtime]) -> type[Runtime]:
        """Add a runtime; its name and modifier1 must be new. Returns it (usable as a decorator)."""
        for known in self._all():
            if runtime.name == known.name or runtime.modifier1 == known.modifier1:
                raise ValueError(
                    f"runtime {runtime.__qualname__} ({runtime.name}, modifier1 "
                    f"{runtime.modifier1}) clashes with {known.__qualname__} ({known.name}, "
                    f"modifier1 {known.modifier1}): give it its own name and modifier1"
                )
        self._runtimes[runtime.name] = runtime
        return runtime

    def runtimes(self) -> list[type[Runtime]]:
        """Every runtime, the bridges first in BRIDGES order."""
        return list(self._all())

    def _all(self) -> list[type[Runtime]]:
        if not self._loaded:
            self._loaded = True  # before registering: register() asks for the list
            for path in self._bridges:
                module_name, _, class_name = path.partition(":")
                self.register(getattr(importlib.import_module(module_name), class_name))
        return list(self._runtimes.values())

    def get(self, name: str) -> type[Runtime]:
        """The runtime called `name` (a KeyError names the known ones)."""
        for runtime in self._all():
            if runtime.name == name:
                return runtime
        known = ", ".join(runtime.name for runtime in self._all())
        raise KeyError(f"no runtime named {name!r} (known: {known})")

    def find(self, name: str) -> type[Runtime] | None:
        """The runtime called `name`, or None (an option table component that is no runtime)."""
        return next((runtime for runtime in self._all() if runtime.name == name), None)

    def by_modifier1(self, modifier1: int) -> type[Runtime] | None:
        return next((rt for rt in self._all() if rt.modifier1 == modifier1), None)

    def app_options(self) -> list[tuple[str, type[Runtime]]]:
        """(option, runtime) for every option naming one app, in the order they are read."""
        return [(option, runtime) for runtime in self._all() for option in runtime.app_options]

    def for_target(self, target: str) -> type[Runtime]:
        """The runtime of `mount /x=TARGET`: the one claiming the target's form, else the one
        taking unclaimed targets of that kind. Two runtimes claiming it is a ValueError."""
        for test in ("claims", "takes_unclaimed"):
            found = [rt for rt in self._all() if getattr(rt, test)(target)]
            if len(found) > 1:
                names = " and ".join(f"{rt.title()} ({rt.name})" for rt in found)
                raise ValueError(
                    f"mount target {target!r} is claimed by {names}: name a file with one "
                    "runtime's suffix, or use that runtime's own app option"
                )
            if found:
                return found[0]
        raise ValueError(f"no runtime serves the mount target {target!r}")


CATALOG = Catalog(BRIDGES)
