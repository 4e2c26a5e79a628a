"""The Mono runtime (modifier1 15): .NET in-process through pythonnet on Mono.

`mono-app [key=]DIR` and `mount /prefix=DIR` serve an ASP.NET (System.Web) application directory
as uWSGI's mono plugin does; `mono-handler Assembly.dll:Namespace.Class` serves a plain .NET
handler method. The C# side (cs/*.cs) is compiled with mcs in the master (no CLR there: a CLR does
not survive fork); the CLR starts in each worker. Every call into Mono holds one process-wide
lock, because Mono 6.8 deadlocks when two Python threads call into it at the same time.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from polyhost import UWSGI_COMPAT_VERSION
from polyhost.bridges.mono import MonoDeclaration, build
from polyhost.config import Config, option_values
from polyhost.dispatch import App, AppLoadError, AppSpec, Runtime, RuntimeContext
from polyhost.fabric.inprocess import InProcessFabric
from polyhost.process_state import CURRENT
from polyhost.request import BodyReader, ClientGone, Request, Responder, simple_error
from polyhost.rpc.registry import RpcError

#: one lock per process around every call into Mono (see the module docstring)
#: every call into Mono holds it (two threads in Mono 6.8 at once deadlock); re-entrant because
#: .NET code calling the fabric can be called back (an RPC function of its own, a signal handler)
MONO_LOCK = threading.RLock()
#: request bodies up to this size go to .NET with the call; larger ones are read on demand
PRELOAD_LIMIT = 1 << 20
PRELOAD_PIECE = 1 << 16
#: signals the worker handles in Python; Mono's start-up takes some of them (SIGQUIT)
WORKER_SIGNALS = (
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGUSR1,
    signal.SIGPIPE,
)
HAS_HEAD = 1
FAILED = 2


@dataclass
class AspNetApp:
    """An ASP.NET application directory, at a virtual path, selectable by its key."""

    directory: str
    virtual_path: str
    #: the values of the key var (DOCUMENT_ROOT or mono-key) that select this app
    keys: tuple[str, ...]
    index: int = -1


@dataclass
class HandlerApp:
    """A `mono-handler` class in an assembly."""

    assembly: str
    type_name: str
    handler: Any = None


class _RequestState(threading.local):
    """The request a thread is serving, for the callbacks .NET makes into Python."""

    responder: Responder | None = None
    body: BodyReader | None = None
    gone: ClientGone | None = None
    log: Callable[[str], None] | None = None


_STATE = _RequestState()
#: the CLR of this process, once started: pythonnet namespaces and our assemblies' classes
_CLR: SimpleNamespace | None = None
#: the log of the runtime that started the CLR (for .NET threads outside a request)
_LOG: list[Callable[[str], None]] = []


class MonoRuntime(MonoDeclaration, Runtime):
    """ASP.NET application directories and simple .NET handlers, served in-process."""

    def __init__(self, ctx: RuntimeContext, specs: list[AppSpec]) -> None:
        super().__init__(ctx, specs)
        for module, package in (("clr_loader", "pythonnet"), ("pythonnet", "pythonnet")):
            if importlib.util.find_spec(module) is None:
                raise AppLoadError(
                    f"the Mono runtime needs the Python package {package}: "
                    f"pip install {package} (and apt-get install mono-devel)"
                )
        self.targets = [self._parse(spec) for spec in specs]
        aspnet = any(isinstance(t, AspNetApp) for t in self.targets)
        assemblies = option_values(ctx.config, "mono-assembly")
        self.extra_assemblies = [os.path.abspath(str(p)) for p in assemblies]
        self.index_files = option_values(ctx.config, "mono-index")
        self.key_vars = option_values(ctx.config, "mono-key")
        self.gc_every = ctx.config.get("mono-gc-freq")
        self.served = 0
        _check_mono(aspnet)
        wanted = [build.UWSGI_API, build.BRIDGE] + ([build.ASPNET] if aspnet else [])
        self.assembly_dir = build.build(wanted)
        self.keyed: dict[str, App] = {}

    @staticmethod
    def _parse(spec: AppSpec) -> AspNetApp | HandlerApp:
        target = spec.target
        assembly, sep, type_name = target.rpartition(":")
        if sep and assembly.lower().endswith(".dll"):
            if not os.path.isfile(assembly):
                raise AppLoadError(
                    f"{spec.origin}: mono-handler assembly {assembly!r} not found "
                    f"(cwd {os.getcwd()})"
                )
            return HandlerApp(os.path.abspath(assembly), type_name)
        key, sep, directory = target.partition("=")
        if not os.path.isdir(directory if sep else target):
            raise AppLoadError(
                f"{spec.origin}: the ASP.NET application directory "
                f"{directory if sep else target!r} does not exist (cwd {os.getcwd()})"
            )
        if sep:
            return AspNetApp(os.path.abspath(directory), spec.mountpoint or "/", (key,))
        absolute = os.path.abspath(target)
        keys = tuple(dict.fromkeys(k.rstrip("/") or "/" for k in (target, absolute)))
        return AspNetApp(absolute, spec.mountpoint or "/", keys)

    # -- loading (in each worker) ----------------------------------------------------------
    def load(self, first_id: int) -> list[App]:
        clr = _start_clr(self.assembly_dir, self.extra_assemblies, self.ctx)
        apps = []
        for offset, (spec, target) in enumerate(zip(self.specs, self.targets, strict=True)):
            started = time.monotonic()
            with MONO_LOCK:
                self._load_one(clr, spec, target)
            app = App(
                first_id + offset,
                self,
                spec.mountpoint,
                spec.target,
                self.modifier1,
                handle=target,
                chdir=getattr(target, "directory", ""),
            )
            elapsed = time.monotonic() - started
            what = "ASP.NET app" if isinstance(target, AspNetApp) else "handler"
            self.ctx.log(
                f"Mono {what} {app.id} ({spec.target}) loaded in {elapsed:.2f} seconds "
                f"(worker {self.ctx.worker_id})"
            )
            if isinstance(target, AspNetApp) and not spec.mountpoint:
                for key in target.keys:
                    self.keyed.setdefault(key, app)
            apps.append(app)
        return apps

    def _load_one(
        self, clr: SimpleNamespace, spec: AppSpec, target: AspNetApp | HandlerApp
    ) -> None:
        try:
            if isinstance(target, HandlerApp):
                target.handler = clr.SimpleHandler.Load(target.assembly, target.type_name)
            else:
                target.index = clr.AspNetApps.Create(
                    target.virtual_path, target.directory, self.index_files
                )
        except Exception as exc:
            raise AppLoadError(
                f"{spec.origin}: {spec.target!r} failed to load in Mono: {_dotnet_text(exc)}"
            ) from None

    # -- serving ---------------------------------------------------------------------------
    def handle(self, app: App, request: Request, responder: Responder) -> None:
        target = app.handle
        env = request.vars
        if self.keyed and not app.mountpoint and isinstance(target, AspNetApp):
            app, target = self._by_key(app, env)
        body = request.body
        length = request.content_length
        if length:
            data = body.read(length if length <= PRELOAD_LIMIT else PRELOAD_PIECE)
        elif length is None and "HTTP_TRANSFER_ENCODING" in env:
            data = body.read()  # de-chunked by the worker: .NET needs the length up front
            length = len(data)
        else:
            data, length = b"", 0
        packed_vars = "\0".join(chain.from_iterable(env.items()))
        address = ctypes.cast(data, ctypes.c_void_p).value or 0
        request_id = CURRENT.request_id() if CURRENT.request_id else 0
        state = _STATE
        state.responder, state.body, state.gone = responder, body, None
        state.log = self.ctx.log
        try:
            with MONO_LOCK:
                if isinstance(target, AspNetApp):
                    result = _clr().AspNetApps.Process(
                        target.index, packed_vars, address, len(data), length, request_id
                    )
                else:
                    result = target.handler.Invoke(
                        packed_vars, address, len(data), length, request_id
                    )
                packed = bytes(memoryview(result))
                self.served += 1
                if self.gc_every and self.served % self.gc_every == 0:
                    _clr().System.GC.Collect()
        except Exception as exc:  # a failure of the bridge itself, not of the app's code
            app.exceptions += 1
            self.ctx.log(
                f"{env.get('REQUEST_METHOD')} {env.get('REQUEST_URI')}: the Mono runtime "
                f"failed to run {app.target}: {_dotnet_text(exc)}"
            )
            simple_error(responder, 500)
            return
        finally:
            state.responder = state.body = state.log = None
        if state.gone is not None:
            raise state.gone
        if _emit(packed, responder) & FAILED:
            app.exceptions += 1
            simple_error(responder, 500)

    def _by_key(self, app: App, env: dict[str, str]) -> tuple[App, AspNetApp]:
        """uWSGI's app key: the first of the mono-key vars (DOCUMENT_ROOT) names the app."""
        for var in self.key_vars:
            value = env.get(var)
            if value is not None:
                chosen = self.keyed.get(value) or self.keyed.get(value.rstrip("/") or "/")
                if chosen is not None and chosen is not app:
                    app.requests -= 1
                    chosen.requests += 1
                    app = chosen
                break
        return app, app.handle  # type: ignore[return-value]


def _emit(packed: bytes, responder: Responder) -> int:
    """Send a packed piece of a response (bridge.cs's format); returns its flags."""
    flags = packed[0]
    start = 1
    if flags & HAS_HEAD:
        end = packed.index(b"\r\n\r\n", 1)
        lines = packed[1:end].decode("latin-1").split("\r\n")
        headers = [(name, value) for name, _, value in (line.partition(": ") for line in lines[1:])]
        responder.start(lines[0], headers)
        start = end + 4
    if len(packed) > start:
        responder.write(packed[start:])
    return flags


# -- callbacks from .NET (run on the thread that called into Mono) -----------------------------
def _send(packed: Any) -> None:
    state = _STATE
    if state.gone is not None or state.responder is None:
        return
    try:
        _emit(bytes(memoryview(packed)), state.responder)
    except ClientGone as exc:
        state.gone = exc


def _read_into(address: int, size: int) -> int:
    body = _STATE.body
    if body is None:
        return 0
    data = body.read(size)
    ctypes.memmove(address, data, len(data))
    return len(data)


def _send_file(path: str, offset: int, length: int) -> None:
    state = _STATE
    if state.gone is not None or state.responder is None:
        return
    try:
        with open(path, "rb") as file:
            state.responder.sendfile(file, offset, length)
    except ClientGone as exc:
        state.gone = exc


def _log(message: str) -> None:
    """uwsgi.api.Log and .NET exceptions: to the log of the runtime serving this thread."""
    sink = _STATE.log or (_LOG[0] if _LOG else None)
    if sink is not None:
        sink(str(message))


# -- the CLR ---------------------------------------------------------------------------------------
def _check_mono(aspnet: bool) -> None:
    """Fail early, in the master, with the Debian package that is missing."""
    from clr_loader.util.find import find_libmono

    try:
        find_libmono(sgen=True)
    except RuntimeError:
        raise AppLoadError(
            "the Mono runtime (libmonosgen-2.0) is not installed: "
            "apt-get install mono-runtime mono-devel"
        ) from None
    facades = Path("/usr/lib/mono/4.5/Facades/netstandard.dll")
    if not facades.exists():
        raise AppLoadError(
            f"pythonnet needs {facades} from Mono's development files: apt-get install mono-devel"
        )
    if aspnet and not Path("/usr/lib/mono/4.5/System.Web.dll").exists():
        raise AppLoadError(
            "ASP.NET applications need System.Web: apt-get install libmono-system-web4.0-cil"
        )


def _start_clr(assembly_dir: Path, extra: list[str], ctx: RuntimeContext) -> SimpleNamespace:
    """Start Mono in this process (once) and load polyhost's assemblies."""
    global _CLR
    if _CLR is not None:
        return _CLR
    if ctx.worker_id == 0 and os.getpid() == CURRENT.master_pid:
        raise AppLoadError("refusing to start the CLR in the master: it does not survive fork")
    started = time.monotonic()
    search = [str(assembly_dir), *(os.path.dirname(path) for path in extra)]
    # a Mono crash report goes to the instance log, not to mono_crash.*.json files in the cwd
    os.environ.setdefault("MONO_CRASH_NOFILE", "1")
    os.environ["MONO_PATH"] = os.pathsep.join(
        [*search, *filter(None, [os.environ.get("MONO_PATH")])]
    )
    handlers = {sig: signal.getsignal(sig) for sig in WORKER_SIGNALS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Mono before 6.12 is problematic": the lock handles it
        from clr_loader import get_mono
        from pythonnet import set_runtime

        config = ctx.config.get("mono-config")
        set_runtime(get_mono(global_config_file=str(config) if config else None))
        import clr  # noqa: F401 - starts the CLR
    for sig, handler in handlers.items():
        if handler is not None:
            signal.signal(sig, handler)  # Mono's own SIGQUIT handler would hide the worker's
    import clr as clr_module
    import System

    for name in ("uwsgi.dll", "polyhost-mono.dll", "polyhost-aspnet.dll"):
        if (assembly_dir / name).exists():
            clr_module.AddReference(str(assembly_dir / name))
    for path in extra:
        if os.path.basename(path).lower() == "uwsgi.dll":
            ctx.log(
                f"mono-assembly {path}: polyhost builds its own uwsgi.dll (uwsgi.api); "
                "uWSGI's is not loaded"
            )
            continue
        try:
            clr_module.AddReference(path)
        except Exception as exc:
            raise AppLoadError(
                f"mono-assembly {path} failed to load: {_dotnet_text(exc)}"
            ) from None
    from Polyhost.Mono import Bridge, SimpleHandler

    aspnet_apps = None
    if (assembly_dir / "polyhost-aspnet.dll").exists():
        from Polyhost.Mono.AspNet import AspNetApps

        aspnet_apps = AspNetApps
    byte_array = System.Array[System.Byte]
    fabric = _MonoFabric(System, byte_array, Bridge)
    _CLR = SimpleNamespace(
        System=System,
        Bridge=Bridge,
        SimpleHandler=SimpleHandler,
        AspNetApps=aspnet_apps,
        send=System.Action[byte_array](_send),
        read_into=System.Func[System.Int64, System.Int32, System.Int32](_read_into),
        send_file=System.Action[System.String, System.Int64, System.Int64](_send_file),
        log=System.Action[System.String](_log),
        fabric_call=System.Func[System.String, System.Array[byte_array], System.Array[byte_array]](
            fabric.op
        ),
        register_rpc=System.Action[System.String, System.Delegate](fabric.register_rpc),
        register_signal=System.Action[System.Int32, System.String, System.Delegate](
            fabric.register_signal
        ),
    )
    config = ctx.config
    Bridge.Start(
        _CLR.send, _CLR.read_into, _CLR.send_file, _CLR.log, _CLR.fabric_call, _CLR.register_rpc,
        _CLR.register_signal, ctx.worker_id, CURRENT.master_pid,
        UWSGI_COMPAT_VERSION, config.get("processes"), _packed_options(config),
    )  # fmt: skip
    _LOG.append(ctx.log)
    version = str(
        System.Type.GetType("Mono.Runtime")
        .GetMethod(
            "GetDisplayName",
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static,
        )
        .Invoke(None, None)
    )
    ctx.log(
        f"Mono {version} CLR started in {time.monotonic() - started:.2f} seconds "
        f"(worker {ctx.worker_id}, pid {os.getpid()})"
    )
    return _CLR


class _MonoFabric:
    """The fabric for .NET code: the op table in, and RPC functions / signal handlers written in
    .NET (delegates) called back under the Mono lock."""

    def __init__(self, system: Any, byte_array: Any, bridge: Any) -> None:
        self.system, self.byte_array, self.bridge = system, byte_array, bridge
        self.seat = InProcessFabric("mono", self._invoke_function, self._invoke_handler)

    def op(self, op: str, args: Any) -> Any:
        result = self.seat.call(str(op), [bytes(arg) for arg in args])  # FabricError -> .NET
        return self.system.Array[self.byte_array]([self.byte_array(item) for item in result])

    def register_rpc(self, name: str, function: Any) -> None:
        self.seat.register_rpc(str(name).encode(), function)

    def register_signal(self, num: int, target: str, handler: Any) -> None:
        self.seat.register_signal(int(num), str(target), handler)

    def _invoke_function(self, function: Any, args: list[bytes]) -> bytes:
        strings = self.system.Array[self.system.String](
            [a.decode("utf-8", "replace") for a in args]
        )
        with MONO_LOCK:
            try:
                result = self.bridge.InvokeRpc(function, strings)
            except Exception as exc:
                raise RpcError(_dotnet_text(exc)) from None
        return b"" if result is None else str(result).encode()

    def _invoke_handler(self, handler: Any, num: int) -> None:
        with MONO_LOCK:
            try:
                self.bridge.InvokeSignal(handler, num)
            except Exception as exc:
                raise RuntimeError(_dotnet_text(exc)) from None


def _clr() -> SimpleNamespace:
    assert _CLR is not None, "the CLR is started by load()"
    return _CLR


def _dotnet_text(exc: BaseException) -> str:
    """A .NET exception with its stack trace (pythonnet keeps the .NET object)."""
    to_string = getattr(exc, "ToString", None)
    if callable(to_string):
        try:
            return str(to_string())
        except Exception:  # the .NET object is gone: fall back to the Python text
            pass
    inner = getattr(exc, "__cause__", None)
    return f"{type(exc).__name__}: {exc}" + (f" ({inner})" if inner else "")


def _packed_options(config: Config) -> str:
    """Options as "name\\0value\\0..." for uwsgi.api.Opt (flags are "true")."""
    fields: list[str] = []
    for key, value in config.items():
        fields += [key, "true" if value is True else value]
    return "\0".join(field.replace("\0", "") for field in fields)
