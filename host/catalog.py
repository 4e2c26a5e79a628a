"""The runtime catalog: the one list of polyhost's language bridges, and what the host asks it.

Each bridge declares its runtime once, in a `Declaration` subclass (name, modifier1, the options
naming its apps, the `mount` targets it claims, the packages it needs) that imports nothing of
the bridge's serving code; its `Runtime` (polyhost.dispatch) subclasses that declaration and is
imported only when a config names an app of it, so a hello-world worker carries no adapter of
the other languages (issue 18, worker RSS). The host knows no language and asks the catalog:
which runtime a name, a modifier1, an app option or a `mount` target means, and how --help and
the option reports title a runtime. `CATALOG.register(cls)` adds a runtime (a test's, say) in
one call: a declaration, or a whole `Runtime` class.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from polyhost.dispatch import Runtime

#: "module:Class" of every bridge's declaration, in the order their app options are read
BRIDGES = (
    "polyhost.bridges.python.wsgi:WsgiRuntime",
    "polyhost.bridges.asgi.runtime:AsgiRuntime",
    "polyhost.bridges.perl:PsgiDeclaration",
    "polyhost.bridges.ruby:RackDeclaration",
    "polyhost.bridges.lua:LuaDeclaration",
    "polyhost.bridges.jvm:JvmDeclaration",
    "polyhost.bridges.mono:MonoDeclaration",
    "polyhost.bridges.php:PhpDeclaration",
    "polyhost.bridges.cgi:CgiDeclaration",
)


def imported(path: str) -> type:
    """The class a "module:Class" path names, its module imported."""
    module_name, _, class_name = path.partition(":")
    found: type = getattr(importlib.import_module(module_name), class_name)
    return found


class Declaration:
    """What a runtime is, in class attributes the catalog reads without loading the runtime."""

    #: the runtime's name: `AppSpec.runtime`, its options' component in the option table
    name: ClassVar[str]
    #: the language and the interface its apps are written to ("Perl", "PSGI")
    language: ClassVar[str]
    interface: ClassVar[str] = ""
    modifier1: ClassVar[int]
    #: modifier2 values that pick among its apps (JVM: 0 JWSGI, 1 Ring); () when it ignores it
    modifier2: ClassVar[tuple[int, ...]] = ()
    #: options that name one app of this runtime at the default mountpoint, in config order
    app_options: ClassVar[tuple[str, ...]] = ()
    #: file suffixes a `mount /x=FILE` picks this runtime for
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: True when `plugin = NAME` alone makes an app (uWSGI's PHP: the request's DOCUMENT_ROOT);
    #: its AppSpec has the target "" and the option "plugins"
    plugin_app: ClassVar[bool] = False
    #: what it needs installed: Debian packages and PyPI distributions
    debian_packages: ClassVar[tuple[str, ...]] = ()
    pypi_packages: ClassVar[tuple[str, ...]] = ()
    #: True when the runtime can be loaded before fork (Python); JVM/CLR never can
    preload_in_master: ClassVar[bool] = False
    #: modules each of its masters imports: the Emperor's zygote imports them once for all vassals
    shared_modules: ClassVar[tuple[str, ...]] = ()
    #: "module:Class" of the `Runtime` serving its apps (a subclass of this declaration),
    #: imported when a config names one; "" when this class is that Runtime
    serving: ClassVar[str] = ""

    @classmethod
    def runtime(cls) -> type[Runtime]:
        """The Runtime class serving this runtime's apps (its module imported now)."""
        found: type[Runtime] = imported(cls.serving) if cls.serving else cls  # type: ignore[assignment]
        return found

    @classmethod
    def claims(cls, target: str) -> bool:
        """True when `mount /x=TARGET` names an app of this runtime by its form (by default:
        its suffix). Two runtimes claiming one target is a start-up error."""
        return target.lower().endswith(cls.suffixes) if cls.suffixes else False

    @classmethod
    def takes_unclaimed(cls, target: str) -> bool:
        """True when this runtime serves a `mount` target no runtime claims (CGI: a directory
        or an executable; Python: a module name)."""
        return False

    @classmethod
    def title(cls) -> str:
        """How --help and the option reports name it: "Perl (PSGI)"."""
        return f"{cls.language} ({cls.interface})" if cls.interface else cls.language

    @classmethod
    def short_title(cls) -> str:
        """How the log names it: "Perl/PSGI"."""
        return f"{cls.language}/{cls.interface}" if cls.interface else cls.language


class Catalog:
    """The runtimes of this process: the bridges (imported on first use), then registered ones."""

    def __init__(self, bridges: tuple[str, ...]) -> None:
        self._bridges = bridges
        self._runtimes: dict[str, type[Declaration]] = {}
        self._loaded = False

    def register(self, runtime: type[Declaration]) -> type[Declaration]:
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

    def runtimes(self) -> list[type[Declaration]]:
        """Every runtime, the bridges first in BRIDGES order."""
        return list(self._all())

    def _all(self) -> list[type[Declaration]]:
        if not self._loaded:
            self._loaded = True  # before registering: register() asks for the list
            for path in self._bridges:
                self.register(imported(path))
        return list(self._runtimes.values())

    def get(self, name: str) -> type[Declaration]:
        """The runtime called `name` (a KeyError names the known ones)."""
        for runtime in self._all():
            if runtime.name == name:
                return runtime
        known = ", ".join(runtime.name for runtime in self._all())
        raise KeyError(f"no runtime named {name!r} (known: {known})")

    def find(self, name: str) -> type[Declaration] | None:
        """The runtime called `name`, or None (an option table component that is no runtime)."""
        return next((runtime for runtime in self._all() if runtime.name == name), None)

    def by_modifier1(self, modifier1: int) -> type[Declaration] | None:
        return next((rt for rt in self._all() if rt.modifier1 == modifier1), None)

    def app_options(self) -> list[tuple[str, type[Declaration]]]:
        """(option, runtime) for every option naming one app, in the order they are read."""
        return [(option, runtime) for runtime in self._all() for option in runtime.app_options]

    def for_target(self, target: str) -> type[Declaration]:
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
