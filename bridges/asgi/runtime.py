"""The ASGI runtime's declaration and loading: `--asgi`, `--asgi-file`, ASGI mounts.

`asgi = module:app` (or `module` + `callable`), `asgi-file = path.py`, `asgi-factory` (the name is a
factory to call: `create_app()`), and any Python `mount`/`module`/`wsgi-file` whose callable turns
out to be ASGI (an async `(scope, receive, send)` callable: decided at load and logged). ASGI 2
apps (a class called with the scope, whose instance is awaited with receive and send) are wrapped
into ASGI 3. The apps are served on the worker's event loop (`polyhost.bridges.asgi.engine`).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from polyhost.bridges.asgi.detect import AsgiApp, as_asgi3, is_asgi
from polyhost.bridges.asgi.lazy import engine
from polyhost.bridges.python import uwsgi_api
from polyhost.bridges.python.hooks import install_python_hooks
from polyhost.bridges.python.wsgi import load_target, prepare_python_environment
from polyhost.dispatch import App, AppLoadError, AppSpec, Runtime, RuntimeContext
from polyhost.request import Request, Responder


class AsgiRuntime(Runtime):
    """`--asgi module:app`, `--asgi-file app.py`: ASGI 3 apps on the worker's asyncio loop."""

    name = "asgi"
    language = "Python"
    interface = "ASGI"
    modifier1 = 36
    app_options = ("asgi", "asgi-file")
    pypi_packages = ("wsproto", "uvloop")

    def __init__(self, ctx: RuntimeContext, specs: list[Any]) -> None:
        super().__init__(ctx, specs)
        install_python_hooks()  # RPC functions and signal handlers the apps register
        self.preload = not (ctx.config.get("lazy-apps") or ctx.config.get("lazy"))

    @property
    def preload_in_master(self) -> bool:  # type: ignore[override]
        return self.preload

    def load(self, first_id: int) -> list[App]:
        uwsgi_api.install(self.ctx.config)
        prepare_python_environment(self.ctx)
        config = self.ctx.config
        default = config.get("callable") if config.is_set("callable") else ""
        apps = []
        for offset, spec in enumerate(self.specs):
            obj = self._load_app(spec, default)
            apps.append(
                App(
                    first_id + offset,
                    self,
                    spec.mountpoint,
                    spec.target,
                    self.modifier1,
                    chdir=os.getcwd(),
                    handle=obj,
                )
            )
        engine().configure(self.ctx.config)
        for app in apps:
            engine().add_app(app)
        return apps

    def _load_app(self, spec: AppSpec, default: str) -> AsgiApp:
        target, origin = spec.target, spec.origin
        names = (default,) if default else ("app", "application")
        found = load_target(spec, names, "ASGI")
        if self.ctx.config.get("asgi-factory"):
            try:
                found = found()
                if inspect.isawaitable(found):
                    import asyncio

                    from polyhost.bridges.asgi.engine import awaited

                    found = asyncio.run(awaited(found))
            except Exception as exc:
                raise AppLoadError(
                    f"{origin}: the ASGI factory {target} failed: {type(exc).__name__}: {exc}"
                ) from exc
        if not is_asgi(found):
            raise AppLoadError(
                f"{origin}: {target} is not an ASGI app (an async callable taking scope, "
                "receive, send); for a WSGI app use `module` or `wsgi-file`"
                + ("" if self.ctx.config.get("asgi-factory") else ", for a factory asgi-factory")
            )
        self.ctx.log(f"ASGI app {target} loaded ({origin})")
        return as_asgi3(found)

    def post_fork(self, ctx: RuntimeContext) -> None:
        super().post_fork(ctx)
        engine().start_in_worker(ctx)

    def adopts(self, app: App) -> bool:
        return True

    def adopt(self, host: Any, conn: Any, request: Request, app: App) -> None:
        engine().adopt(host, conn, request, app)

    def handle(self, app: App, request: Request, responder: Responder) -> None:
        """A request the worker could not hand to the loop (a uwsgi or FastCGI listener): run
        the app on the loop and wait for it here."""
        engine().serve_blocking(app, request, responder)

    def close(self) -> None:
        engine().stop()
