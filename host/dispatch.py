"""modifier1 (+modifier2) -> runtime registry, mountpoints, and the clear errors when none fits.

Runtimes (one per language, in bridges/) subclass `Runtime` and are listed in `RUNTIMES`; the
dispatcher asks each whether the config names apps for it, and routes every request to one
`App`. The worker loop only ever calls `Dispatcher.select` and `Dispatcher.serve_app`.
"""

from __future__ import annotations

import importlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from polyhost.request import Request, Responder, simple_error

if TYPE_CHECKING:
    from polyhost.config import Config


class AppLoadError(Exception):
    """An app could not be loaded; the message is the runtime's own error, for the operator."""


@dataclass
class RuntimeContext:
    """What a runtime gets from the process hosting it (master, worker, mule or spooler)."""

    config: Config
    log: Callable[[str], None]
    #: 0 in the master, 1..N in workers
    worker_id: int = 0
    #: number of threads of this worker (one child runtime or Lua state per thread)
    threads: int = 1


@dataclass
class App:
    """One mounted application, as listed in the stats `apps[]`."""

    id: int
    runtime: Runtime
    mountpoint: str
    target: str
    modifier1: int
    modifier2: int = 0
    chdir: str = ""
    startup_time: float = 0.0
    requests: int = 0
    exceptions: int = 0
    #: runtime-private loaded object (a WSGI callable, a child pool, ...)
    handle: object = None

    def stats(self) -> dict[str, object]:
        return {
            "id": self.id,
            "modifier1": self.modifier1,
            "mountpoint": self.mountpoint,
            "startup_time": int(self.startup_time),
            "requests": self.requests,
            "exceptions": self.exceptions,
            "chdir": self.chdir,
        }


@dataclass
class AppSpec:
    """An app named by the config, before it is loaded: which runtime, where it is mounted."""

    runtime: str
    target: str
    mountpoint: str = ""
    origin: str = "command line"


class Runtime(ABC):
    """A language runtime. Subclasses set the class attributes and implement the hooks."""

    name: ClassVar[str]
    modifier1: ClassVar[int]
    #: the option that configures an app of this runtime (for "no app for modifier1 N" errors)
    option: ClassVar[str]
    #: True when the runtime can be loaded before fork (Python); JVM/CLR never can
    preload_in_master: ClassVar[bool] = False
    #: file suffixes a `mount /x=FILE` picks this runtime for
    suffixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: RuntimeContext, specs: list[AppSpec]) -> None:
        self.ctx = ctx
        self.specs = specs
        self.apps: list[App] = []

    @abstractmethod
    def load(self, first_id: int) -> list[App]:
        """Load every app of this runtime; raise AppLoadError with the runtime's own message."""

    @abstractmethod
    def handle(self, app: App, request: Request, responder: Responder) -> None:
        """Serve one request; exceptions are the runtime's to log and turn into a 500."""

    def post_fork(self, ctx: RuntimeContext) -> None:
        """Called in each worker after fork (with the worker's context)."""
        self.ctx = ctx

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release children and resources at worker exit."""


#: runtime name -> "module:Class" of every runtime polyhost has (or will have)
RUNTIMES: dict[str, str] = {
    "python": "polyhost.bridges.python.wsgi:WsgiRuntime",
    "psgi": "polyhost.bridges.perl.adapter:PsgiRuntime",
    "lua": "polyhost.bridges.lua.adapter:LuaRuntime",
    "rack": "polyhost.bridges.ruby.adapter:RackRuntime",
    "jvm": "polyhost.bridges.jvm.adapter:JvmRuntime",
    "cgi": "polyhost.bridges.cgi.adapter:CgiRuntime",
    "php": "polyhost.bridges.php.adapter:PhpRuntime",
    "mono": "polyhost.bridges.mono.adapter:MonoRuntime",
}

#: modifier1 -> (runtime name, option that provides it) for the "no app" message
MODIFIER_NAMES: dict[int, tuple[str, str]] = {
    0: ("Python/WSGI", "wsgi-file, module or mount"),
    5: ("Perl/PSGI", "psgi"),
    6: ("Lua/WSAPI", "lua"),
    7: ("Ruby/Rack", "rack"),
    8: ("JVM (JWSGI/Ring)", "jwsgi or ring-app"),
    9: ("CGI", "cgi"),
    14: ("PHP", "php-docroot or php-app"),
    15: ("Mono/ASP.NET", "mono-app"),
    173: ("RPC", "an RPC function (register_rpc)"),
}

#: file suffixes that pick a runtime for `mount /x=FILE`
SUFFIXES: dict[str, tuple[str, ...]] = {
    "python": (".py", ".wsgi"),
    "psgi": (".psgi", ".pl"),
    "rack": (".ru",),
    "lua": (".lua", ".ws"),
    "jvm": (".clj", ".jar"),
    "php": (".php",),
    "cgi": (".cgi",),
}


def runtime_class(name: str) -> type[Runtime]:
    """The Runtime class of `name`; a runtime this build lacks is a clear AppLoadError."""
    module_name, _, class_name = RUNTIMES[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise AppLoadError(
            f"the {name} runtime is not available yet in this polyhost version"
        ) from None
    cls: type[Runtime] = getattr(module, class_name)
    return cls


def runtime_for_target(target: str) -> str:
    """The runtime of `mount /x=TARGET`, from the target's form.

    A file picks by suffix (an executable without one is CGI); a directory holding an ASP.NET
    app (web.config, *.aspx) is Mono, one with PHP files is PHP, another is a CGI directory;
    `Assembly.dll:Class` is a Mono handler, `Class:method` with a capitalised class is JWSGI,
    any other `module[:callable]` is Python.
    """
    lowered = target.lower()
    for name, suffixes in SUFFIXES.items():
        if lowered.endswith(suffixes):
            return name
    if os.path.isdir(target):
        entries = os.listdir(target)
        if "web.config" in entries or any(e.endswith((".aspx", ".ashx")) for e in entries):
            return "mono"
        if any(e.endswith(".php") for e in entries):
            return "php"
        return "cgi"
    if os.path.isfile(target) and os.access(target, os.X_OK):
        return "cgi"
    module, _, _ = target.partition(":")
    if ":" in target and module.lower().endswith(".dll"):
        return "mono"
    if ":" in target and module.rpartition(".")[2][:1].isupper():
        return "jvm"
    return "python"


def split_mount(value: str) -> tuple[str, str]:
    """`/prefix=target` -> (prefix without trailing slash, target)."""
    mountpoint, sep, target = value.partition("=")
    if not sep or not mountpoint.startswith("/"):
        raise ValueError(f"mount needs /mountpoint=app, got {value!r}")
    return mountpoint.rstrip("/"), target


@dataclass
class Dispatcher:
    """Routes each request to an app by modifier1, modifier2 and mountpoint."""

    ctx: RuntimeContext
    runtimes: list[Runtime] = field(default_factory=list)
    apps: list[App] = field(default_factory=list)
    default_app_fallback: bool = True

    @classmethod
    def from_specs(cls, ctx: RuntimeContext, specs: list[AppSpec]) -> Dispatcher:
        by_runtime: dict[str, list[AppSpec]] = {}
        for spec in specs:
            by_runtime.setdefault(spec.runtime, []).append(spec)
        runtimes = []
        for name, group in by_runtime.items():
            try:
                runtimes.append(runtime_class(name)(ctx, group))
            except AppLoadError as exc:
                raise AppLoadError(f"{group[0].origin}: {group[0].target!r}: {exc}") from None
        no_default = bool(ctx.config.get("no-default-app"))
        return cls(ctx, runtimes, default_app_fallback=not no_default)

    def load(self, preload: bool) -> None:
        """Load apps of runtimes that may load now (preload=True: in the master before fork)."""
        for runtime in self.runtimes:
            if runtime.preload_in_master != preload:
                continue
            started = time.monotonic()
            apps = runtime.load(len(self.apps))
            elapsed = time.monotonic() - started
            for app in apps:
                app.startup_time = elapsed
            runtime.apps = apps
            self.apps.extend(apps)
        self.apps.sort(key=lambda a: a.id)

    def post_fork(self, ctx: RuntimeContext) -> None:
        self.ctx = ctx
        for runtime in self.runtimes:
            runtime.post_fork(ctx)
        self.load(preload=False)

    def close(self) -> None:
        for runtime in self.runtimes:
            runtime.close()

    def select(self, request: Request) -> App | None:
        """The app for this request, or None; sets SCRIPT_NAME/PATH_INFO for mountpoints.

        modifier1 0 (plain HTTP, or nginx without uwsgi_modifier1) picks among every app by
        mountpoint, whatever its language; another modifier1 only among that runtime's apps.
        With no mountpoint matching, the app mounted at "" answers, else (uWSGI's 1.9.18
        "auto-fix") the first app, unless `no-default-app`.
        """
        mod1 = request.modifier1
        if mod1 == 0:
            candidates = self.apps
        else:
            candidates = [
                a
                for a in self.apps
                if a.modifier1 == mod1 and (mod1 != 8 or a.modifier2 == request.modifier2)
            ]
        if not candidates:
            return None
        app = self.by_mountpoint(request, candidates)
        if app is not None:
            return app
        for app in candidates:
            if not app.mountpoint and app.modifier1 == mod1:
                return app
        for app in candidates:
            if not app.mountpoint:
                return app
        return candidates[0] if self.default_app_fallback else None

    @staticmethod
    def by_mountpoint(request: Request, candidates: list[App]) -> App | None:
        """The candidate with the longest mountpoint under the request's path (or the one its
        SCRIPT_NAME names), moving that prefix from PATH_INFO to SCRIPT_NAME; None if none."""
        env = request.vars
        script_name = env.get("SCRIPT_NAME", "")
        path = env.get("PATH_INFO", "")
        if script_name:
            for app in candidates:
                if app.mountpoint and app.mountpoint == script_name.rstrip("/"):
                    request.mountpoint = app.mountpoint
                    return app
        best: App | None = None
        for app in candidates:
            mp = app.mountpoint
            if (
                mp
                and (path == mp or path.startswith(mp + "/"))
                and (best is None or len(mp) > len(best.mountpoint))
            ):
                best = app
        if best is not None:
            env["SCRIPT_NAME"] = script_name.rstrip("/") + best.mountpoint
            env["PATH_INFO"] = path[len(best.mountpoint) :]
            request.mountpoint = best.mountpoint
        return best

    def serve_app(self, app: App | None, request: Request, responder: Responder) -> None:
        """Run one request on the app `select` chose; 501 (HTTP) when there is none."""
        if app is None and (request.modifier1, request.modifier2) == (173, 2):
            from polyhost.rpc.remote import serve_http_form

            serve_http_form(request, responder)
            return
        if app is None:
            name, option = MODIFIER_NAMES.get(request.modifier1, ("unknown", "a matching app"))
            self.ctx.log(
                f"no app for modifier1 {request.modifier1} ({name}): configure {option}, "
                f"or set http-socket-modifier1 / uwsgi_modifier1 to a loaded runtime "
                f"(loaded: {self.describe()}) -- PATH_INFO={request.vars.get('PATH_INFO', '')}"
            )
            if getattr(responder, "protocol", "http") == "uwsgi":
                return  # as uWSGI: log and close, nginx reports the upstream error
            simple_error(
                responder,
                501,
                f"no application for modifier1 {request.modifier1} ({name}); "
                f"the server needs the option {option}",
            )
            return
        app.requests += 1
        app.runtime.handle(app, request, responder)

    def describe(self) -> str:
        if not self.apps:
            return "none"
        return ", ".join(
            f"{a.runtime.name}({a.modifier1}) at {a.mountpoint or '/'}" for a in self.apps
        )


def chdir_to(path: str) -> None:
    """chdir with an operator-readable error."""
    try:
        os.chdir(path)
    except OSError as exc:
        raise AppLoadError(f"chdir to {path!r} failed: {exc.strerror}") from exc
