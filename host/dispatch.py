"""modifier1 (+modifier2) and mountpoint -> app, and the clear errors when none fits.

Runtimes (one per language, in bridges/) subclass `Runtime` and their bridge's declaration
(`polyhost.catalog.Declaration`, listed in the catalog); the dispatcher imports and makes one of
each runtime the config names apps for, and routes every request to one `App`. The worker loop only
ever calls `Dispatcher.select` and `Dispatcher.serve_app`.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polyhost.catalog import CATALOG, Declaration
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
    #: the option that named it ("wsgi-file", "module", "mount"): a runtime may read a target
    #: differently by option (Python: `wsgi-file` is always a file, `module` only if it exists)
    option: str = ""


class Runtime(Declaration, ABC):
    """A language runtime serving its apps: the catalog (`polyhost.catalog`) reads what it is from
    its `Declaration` (the bridge's, which this subclasses), and these methods serve its apps."""

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

    def adopts(self, app: App) -> bool:
        """True when this runtime's event loop takes over the connections of `app` (ASGI):
        the worker then calls `adopt` instead of `handle`."""
        return False

    def adopt(self, host: Any, conn: Any, request: Request, app: App) -> None:
        """Own an HTTP connection from now on (polyhost.handover); only if `adopts`."""
        raise NotImplementedError(f"{type(self).__name__} does not adopt connections")

    def close(self) -> None:
        """Release children and resources at worker exit."""


#: modifier1 values the fabric answers without an app, for the "no app" message
FABRIC_MODIFIERS: dict[int, tuple[str, str]] = {173: ("RPC", "an RPC function (register_rpc)")}


def either(options: tuple[str, ...]) -> str:
    """("a", "b", "c") -> "a, b or c"."""
    return " or ".join(filter(None, (", ".join(options[:-1]), *options[-1:])))


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
            runtimes.append(CATALOG.get(name).runtime()(ctx, group))
        return cls(ctx, runtimes, default_app_fallback=not ctx.config.get("no-default-app"))

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
                if not preload and self.ctx.worker_id:  # the master logs the preloaded ones
                    self.ctx.log(
                        f"{runtime.short_title()} app {app.id} ({app.mountpoint or '/'}) ready in "
                        f"worker {self.ctx.worker_id} in {elapsed:.2f} seconds: {app.target}"
                    )
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
                if a.modifier1 == mod1
                and (not a.runtime.modifier2 or a.modifier2 == request.modifier2)
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
        appid = env.get("UWSGI_APPID")
        if appid:  # uWSGI's app id is the mountpoint (`setapp:` routes, nginx uwsgi_param)
            for app in candidates:
                if app.mountpoint and app.mountpoint == appid.rstrip("/"):
                    request.mountpoint = app.mountpoint
                    return app
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
            name, option = self.missing(request.modifier1)
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

    @staticmethod
    def missing(modifier1: int) -> tuple[str, str]:
        """What serves `modifier1` and the option that would configure it, for the log."""
        runtime = CATALOG.by_modifier1(modifier1)
        if runtime is not None:
            return runtime.short_title(), either(runtime.app_options)
        return FABRIC_MODIFIERS.get(modifier1, ("unknown", "a matching app"))

    def describe(self) -> str:
        if not self.apps:
            return "none"
        return ", ".join(
            f"{a.runtime.name}({a.modifier1}) at {a.mountpoint or '/'}" for a in self.apps
        )


_CHDIR_DONE: list[str] = []


def apply_chdir(config: Config, inherited: bool = False) -> None:
    """The `chdir` option, once per process tree (as uWSGI, before sockets and apps of every
    runtime): the master does it first; a runtime loaded without a master does it itself.
    `inherited`: the process started in that directory already (a re-exec'd master)."""
    chdir = config.get("chdir")
    if chdir and not _CHDIR_DONE:
        if not inherited:
            chdir_to(str(chdir))
        _CHDIR_DONE.append(os.getcwd())


def chdir_to(path: str) -> None:
    """chdir with an operator-readable error."""
    try:
        os.chdir(path)
    except OSError as exc:
        raise AppLoadError(f"chdir to {path!r} failed: {exc.strerror}") from exc
