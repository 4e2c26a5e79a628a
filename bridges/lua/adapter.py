"""The Lua runtime (modifier1 6): WSAPI apps in-process through lupa, one Lua state per thread.

Lua is 5.1 (`lupa.lua51`), the version uWSGI's Debian `lua5.1` plugin embeds and WSAPI apps are
written for. Every worker thread gets its own Lua state per app (created at load, as uWSGI makes one
per core), holding the `uwsgi` table, the `--lua-load` files and the app. Strings cross as latin-1,
so request and response bytes reach Lua and come back unchanged. Each app is one owner on the
fabric (`lua:<app id>`, host/fabric/inprocess.py); its states' RPC functions and signal handlers
are called in the calling thread's own state when it registered them, else in the first one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from polyhost import UWSGI_COMPAT_VERSION
from polyhost.bridges.lua import LuaDeclaration
from polyhost.config import option_values
from polyhost.dispatch import App, AppLoadError, AppSpec, Runtime, RuntimeContext
from polyhost.fabric.inprocess import Conversion, InProcessFabric, uwsgi_api
from polyhost.fabric.ops import FabricError
from polyhost.process_state import CURRENT
from polyhost.request import REASONS, BodyReader, Request, Responder, fail_response

GLUE = Path(__file__).with_name("wsapi.lua")
#: "200" -> "200 OK" for every code Python knows (polyhost's own reasons win)
STATUS_LINES = {
    **{int(s): f"{int(s)} {s.phrase}" for s in HTTPStatus},
    **{code: f"{code} {reason}" for code, reason in REASONS.items()},
}


def status_line(status: str) -> str:
    """'200' -> '200 OK'; a status that has its reason is kept."""
    status = status.strip()
    if status.isdigit():
        return STATUS_LINES.get(int(status), f"{status} Unknown")
    return status


class BodySource:
    """What wsapi_env.input reads from: the body of the request its Lua state is serving."""

    __slots__ = ("body",)

    def __init__(self) -> None:
        self.body: BodyReader | None = None

    def read(self, size: float = -1) -> str:
        count = int(size)
        if count == 0 or self.body is None:
            return ""
        return self.body.read(count if count > 0 else -1).decode("latin-1")

    def readline(self) -> str:
        return "" if self.body is None else self.body.readline().decode("latin-1")


class LogSink:
    """wsapi_env.error and uwsgi.log: Lua text (UTF-8 bytes as latin-1 str) to whole log lines."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self._pending += text
            lines = self._pending.split("\n")
            self._pending = lines.pop()
        for line in lines:
            self._log(decode_lua_text(line))

    def line(self, text: str) -> None:
        self._log(decode_lua_text(text))


def decode_lua_text(text: str) -> str:
    return text.encode("latin-1").decode("utf-8", "replace")


class LuaCallError(Exception):
    """A Lua RPC function or signal handler failed: Lua's error message with its traceback."""


def lua_bytes(value: object) -> bytes:
    """A Lua value sent through the fabric: strings as their bytes, numbers as tostring."""
    if isinstance(value, str):
        return value.encode("latin-1")
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return (f"{value:.14g}").encode()  # Lua 5.1's LUA_NUMBER_FMT
    from lupa import lua51

    kind = "nil" if value is None else lua51.lua_type(value) or type(value).__name__
    raise FabricError(f"a Lua {kind} cannot go through the fabric: pass strings or numbers")


def lua_string(data: bytes) -> str:
    return data.decode("latin-1")


def call_lua_function(handle: Any, args: list[bytes]) -> bytes:
    """Run a registered Lua RPC function (wrapped by wsapi.lua's rpc_function)."""
    ok, reply = handle(*[arg.decode("latin-1") for arg in args])
    if not ok:
        raise LuaCallError(decode_lua_text(reply))
    return reply.encode("latin-1")  # type: ignore[no-any-return]


def run_lua_handler(handle: Any, num: int) -> None:
    """Run a registered Lua signal handler (wrapped by wsapi.lua's signal_handler)."""
    result = handle(num)
    if isinstance(result, tuple) and not result[0]:
        raise LuaCallError(decode_lua_text(result[1]))


class LuaState:
    """One Lua state: the glue, the `uwsgi` table and one loaded WSAPI app."""

    def __init__(
        self, runtime: LuaRuntime, spec: AppSpec, path: str, fabric: InProcessFabric
    ) -> None:
        lua51 = import_lua51(spec)
        self.lua = lua51.LuaRuntime(
            encoding="latin-1",
            unpack_returned_tuples=True,
            register_eval=False,
            register_builtins=False,
        )
        self.error_type: type[Exception] = lua51.LuaError
        glue = self.lua.globals().loadstring(GLUE.read_text(), f"@{GLUE}")()
        uwsgi = self.lua.globals().uwsgi = self.lua.table_from(runtime.api, recursive=True)
        conversion = Conversion(lua_bytes, lua_string, self.lua.table_from)
        glue.install_fabric(uwsgi, self.lua.table_from(uwsgi_api(fabric, conversion, self)))
        for extra in runtime.preloads:
            self._run_file(glue, extra, spec, "lua-load")
        loaded = self._run_file(glue, path, spec, "lua")
        app = glue.entry_point(loaded)
        if app is None:
            raise AppLoadError(
                f"{spec.origin}: Lua app {path} returned {self.lua.eval('type')(loaded)}: "
                "a WSAPI app file must return its run(wsapi_env) function or a table with `run`"
            )
        self.source = BodySource()
        self.serve, self.next_chunk = glue.bind(app, self.source, runtime.sink.write)

    @staticmethod
    def _run_file(glue: Any, path: str, spec: AppSpec, option: str) -> Any:
        result = glue.run_file(path)
        ok, value = (result[0], result[1]) if isinstance(result, tuple) else (result, None)
        if not ok:
            raise AppLoadError(f"{spec.origin}: Lua {option} file {path} failed:\n{value}")
        return value


def import_lua51(spec: AppSpec) -> Any:
    try:
        from lupa import lua51
    except ImportError as exc:
        raise AppLoadError(
            f"{spec.origin}: the Lua runtime needs lupa with Lua 5.1 ({exc}): "
            "pip install lupa (in polyhost's environment)"
        ) from None
    return lua51


class LuaApp:
    """A WSAPI app: a Lua state per thread, made ahead for the worker's threads."""

    def __init__(
        self, runtime: LuaRuntime, spec: AppSpec, path: str, threads: int, owner: str
    ) -> None:
        self.runtime = runtime
        self.spec = spec
        self.path = path
        self.local = threading.local()
        self.fabric = InProcessFabric(
            owner, call_lua_function, run_lua_handler, lambda: getattr(self.local, "state", None)
        )
        self.spare = [LuaState(runtime, spec, path, self.fabric) for _ in range(threads)]
        self.spare_lock = threading.Lock()

    def state(self) -> LuaState:
        state: LuaState | None = getattr(self.local, "state", None)
        if state is None:
            with self.spare_lock:
                state = self.spare.pop() if self.spare else None
            if state is None:  # more threads than the worker said it had
                state = LuaState(self.runtime, self.spec, self.path, self.fabric)
            self.local.state = state
        return state


class LuaRuntime(LuaDeclaration, Runtime):
    """`--lua app.lua` or `--mount /x=app.lua` (also `.ws`), plus `--lua-load` files per state."""

    def __init__(self, ctx: RuntimeContext, specs: list[AppSpec]) -> None:
        super().__init__(ctx, specs)
        self.sink = LogSink(ctx.log)
        self.preloads = [os.path.abspath(p) for p in option_values(ctx.config, "lua-load")]
        self.api = self.uwsgi_api()

    def uwsgi_api(self) -> dict[str, object]:
        """The `uwsgi` table every Lua state gets (each state adds the fabric's functions)."""
        config = self.ctx.config
        return {
            "version": UWSGI_COMPAT_VERSION,
            "numproc": config.get("processes"),
            "opt": config.as_uwsgi_opt(),
            "log": self.sink.line,
            "worker_id": lambda: self.ctx.worker_id,
            "masterpid": lambda: CURRENT.master_pid,
            "request_id": lambda: CURRENT.request_id() if CURRENT.request_id else 0,
        }

    def post_fork(self, ctx: RuntimeContext) -> None:
        super().post_fork(ctx)
        self.sink = LogSink(ctx.log)
        self.api = self.uwsgi_api()

    def load(self, first_id: int) -> list[App]:
        apps = []
        for offset, spec in enumerate(self.specs):
            path = os.path.abspath(spec.target)
            if not os.path.isfile(path):
                raise AppLoadError(
                    f"{spec.origin}: Lua app {spec.target!r} not found (looked for {path})"
                )
            started = time.monotonic()
            app_id = first_id + offset
            handle = LuaApp(self, spec, path, max(1, self.ctx.threads), f"lua:{app_id}")
            self.ctx.log(
                f"Lua 5.1 WSAPI app {spec.target} loaded in {time.monotonic() - started:.3f}s "
                f"({len(handle.spare)} Lua state(s), worker {self.ctx.worker_id})"
            )
            apps.append(
                App(
                    app_id,
                    self,
                    spec.mountpoint,
                    spec.target,
                    self.modifier1,
                    0,
                    chdir=os.getcwd(),
                    handle=handle,
                )
            )
        self.apps = apps
        return apps

    def handle(self, app: App, request: Request, responder: Responder) -> None:
        lua_app: LuaApp = app.handle  # type: ignore[assignment]
        state = lua_app.state()
        state.source.body = request.body
        try:
            result = state.serve(state.lua.table_from(request.vars))
            if not result[0]:
                self._fail(app, request, responder, result[1])
                return
            _, status, flat, chunk = result
            fields = flat.split("\0") if flat else []
            responder.start(status_line(status), list(zip(fields[::2], fields[1::2], strict=True)))
            next_chunk = state.next_chunk
            while chunk is not None:
                if chunk:
                    responder.write(chunk.encode("latin-1"))
                ok, chunk = next_chunk()
                if not ok:
                    self._fail(app, request, responder, chunk)
                    return
        except state.error_type as exc:
            self._fail(app, request, responder, str(exc))
        finally:
            state.source.body = None

    def _fail(self, app: App, request: Request, responder: Responder, error: str) -> None:
        app.exceptions += 1
        env = request.vars
        self.ctx.log(
            f"{env.get('REQUEST_METHOD')} {env.get('REQUEST_URI')}: Lua error in the WSAPI app "
            f"{app.target}:\n{decode_lua_text(str(error))}"
        )
        fail_response(responder)
