"""The WSGI runtime (modifier1 0): load apps like uWSGI's python plugin, serve PEP 3333.

Apps load in the master before fork (or per worker with `lazy-apps`): `wsgi-file`, `module`
(`pkg.mod:callable` or `pkg.mod` + `callable`), `mount /x=target`, after `home`/`virtualenv`,
`pythonpath`, `chdir` and `env` are applied.
"""

from __future__ import annotations

import glob
import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from polyhost import __version__
from polyhost.async_cores import apps_load_per_worker
from polyhost.bridges.asgi.detect import as_asgi3, is_asgi
from polyhost.bridges.asgi.lazy import engine
from polyhost.bridges.python import uwsgi_api
from polyhost.bridges.python.autoreload import AutoReloader
from polyhost.bridges.python.hooks import install_python_hooks
from polyhost.bridges.python.tracebacker import Tracebacker
from polyhost.config import option_values
from polyhost.dispatch import App, AppLoadError, AppSpec, Runtime, RuntimeContext, apply_chdir
from polyhost.log import log_exception
from polyhost.protocol.response_head import checked_status
from polyhost.request import BodyTimeout, Request, Responder, ResponseAborted, simple_error

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FileWrapper:
    """`wsgi.file_wrapper`: recognised by the runtime and sent with sendfile."""

    def __init__(self, filelike: BinaryIO, blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> FileWrapper:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class ErrorStream:
    """`wsgi.errors`: lines go to the instance log."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._log(line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            self._log(self._pending)
            self._pending = ""


class InputStream:
    """`wsgi.input` over the request body: read(0) is b'', readline honours its size hint."""

    __slots__ = ("_body",)

    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, size: int | None = -1) -> bytes:
        if size == 0:
            return b""
        return self._body.read(-1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        if size == 0:
            return b""
        return self._body.readline(-1 if size is None else size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> InputStream:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if line:
            return line
        raise StopIteration


class WsgiRuntime(Runtime):
    """`--wsgi-file FILE`, `--module mod[:callable]` or a mount of either: WSGI in the worker."""

    name = "python"
    language = "Python"
    interface = "WSGI"
    modifier1 = 0
    app_options = ("wsgi-file", "module")
    suffixes = (".py", ".wsgi")
    shared_modules = ("polyhost.bridges.python.uwsgidecorators",)

    @classmethod
    def takes_unclaimed(cls, target: str) -> bool:
        """A `module[:callable]` name: anything but a directory or an executable file."""
        return not os.path.isdir(target) and not (
            os.path.isfile(target) and os.access(target, os.X_OK)
        )

    def __init__(self, ctx: RuntimeContext, specs: list[Any]) -> None:
        super().__init__(ctx, specs)
        install_python_hooks()  # in the master: every process forked from it has them
        config = ctx.config
        self.preload = not (
            config.get("lazy-apps") or config.get("lazy") or apps_load_per_worker(config)
        )
        self.errors = ErrorStream(ctx.log)
        #: ids of the apps that turned out to be ASGI
        self.asgi_apps: set[int] = set()
        self.tracebacker: Tracebacker | None = None
        threads = ctx.config.get("threads")
        self.base_env: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.errors": self.errors,
            "wsgi.multithread": threads > 1,
            "wsgi.multiprocess": ctx.config.get("processes") > 1,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "SERVER_SOFTWARE": f"polyhost/{__version__}",
        }

    @property
    def preload_in_master(self) -> bool:  # type: ignore[override]
        return self.preload

    def post_fork(self, ctx: RuntimeContext) -> None:
        super().post_fork(ctx)
        interval = ctx.config.get("py-auto-reload")
        if interval and interval > 0 and ctx.worker_id > 0:
            ignore = option_values(ctx.config, "py-auto-reload-ignore")
            AutoReloader(interval, ignore, ctx.log, os.getppid()).start(ctx.worker_id)
        base = ctx.config.get("py-tracebacker")
        if base and ctx.worker_id > 0:
            self.tracebacker = Tracebacker(str(base), ctx.worker_id, ctx.log)
        if self.asgi_apps:
            engine().start_in_worker(ctx)

    def close(self) -> None:
        if self.asgi_apps:
            engine().stop()
        if self.tracebacker is not None:
            self.tracebacker.close()
            self.tracebacker = None

    # -- loading ---------------------------------------------------------------------------
    def load(self, first_id: int) -> list[App]:
        uwsgi_api.install(self.ctx.config)
        prepare_python_environment(self.ctx)
        apps = []
        config = self.ctx.config
        # a file or module without `application` may hold an ASGI `app`
        names = (config.get("callable"),) if config.is_set("callable") else ("application", "app")
        for offset, spec in enumerate(self.specs):
            handle = load_target(spec, names, "WSGI")
            asgi = is_asgi(handle)
            if asgi:  # an async (scope, receive, send) callable: ASGI, on the worker's loop
                self.ctx.log(
                    f"{spec.origin}: {spec.target} is an ASGI app: served by the event loop"
                )
                handle = as_asgi3(handle)
            app = App(
                first_id + offset,
                self,
                spec.mountpoint,
                spec.target,
                0,
                0,
                chdir=os.getcwd(),
                handle=handle,
            )
            if asgi:
                self.asgi_apps.add(app.id)
                engine().configure(self.ctx.config)
                engine().add_app(app)
            apps.append(app)
        return apps

    def adopts(self, app: App) -> bool:
        """ASGI apps found among the Python targets are served by the event loop."""
        return app.id in self.asgi_apps

    def adopt(self, host: Any, conn: Any, request: Request, app: App) -> None:
        engine().adopt(host, conn, request, app)

    # -- serving ---------------------------------------------------------------------------
    def handle(self, app: App, request: Request, responder: Responder) -> None:
        if app.id in self.asgi_apps:
            engine().serve_blocking(app, request, responder)
            return
        env: dict[str, Any] = dict(request.vars)  # the worker still logs request.vars
        env.update(self.base_env)
        env["wsgi.input"] = InputStream(request.body)
        env["wsgi.url_scheme"] = env.get("UWSGI_SCHEME") or (
            "https" if env.get("HTTPS", "").lower() in ("on", "1") else "http"
        )
        env.setdefault("SCRIPT_NAME", "")
        env.setdefault("PATH_INFO", "")
        env.setdefault("QUERY_STRING", "")
        headers_set: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info:
                try:
                    if responder.started:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif headers_set:
                raise AssertionError("start_response called twice without exc_info")
            checked_status(status)  # '200' is fine (sent as '200 OK'); '200\r\nX: y' is not
            headers_set[:] = [status, headers]
            return write

        def write(data: bytes) -> None:
            if not responder.started:
                responder.start(*headers_set)
            responder.write(data)

        handler: WsgiApp = app.handle  # type: ignore[assignment]
        result: Iterable[bytes] | None = None
        try:
            result = handler(env, start_response)
            if isinstance(result, FileWrapper) and hasattr(result.filelike, "fileno"):
                if not headers_set:
                    raise AssertionError("the app returned without calling start_response")
                responder.start(*headers_set)
                _sendfile(responder, result.filelike)
            elif (
                type(result) is list
                and len(result) == 1
                and headers_set
                and isinstance(result[0], bytes)
                and not responder.started
            ):
                # one-piece bodies get a Content-Length instead of chunked framing
                headers = headers_set[1]
                if not any(name.lower() == "content-length" for name, _ in headers):
                    headers = [*headers, ("Content-Length", str(len(result[0])))]
                responder.start(headers_set[0], headers)
                responder.write(result[0])
            else:
                for chunk in result:
                    if chunk:
                        if not isinstance(chunk, bytes):
                            raise TypeError(f"WSGI body items must be bytes, got {type(chunk)}")
                        write(chunk)
                if not responder.started:
                    if not headers_set:
                        raise AssertionError("the app returned without calling start_response")
                    responder.start(*headers_set)
        except BodyTimeout:  # the body trickled in too slowly, not the app's fault: the worker
            raise  # logs it in one line, answers 408 and reads away what the trickler still sends
        except Exception as exc:
            app.exceptions += 1
            log_exception(
                f"{env.get('REQUEST_METHOD')} {env.get('REQUEST_URI')}: "
                f"exception in the WSGI app {app.target}:",
                exc,
            )
            if responder.started:  # part of the body is out: the client must see it cut
                raise ResponseAborted(f"the WSGI app {app.target} failed mid-response") from exc
            simple_error(responder, 500)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    app.exceptions += 1
                    log_exception(f"exception in close() of the WSGI app {app.target}:", exc)


def _sendfile(responder: Responder, filelike: BinaryIO) -> None:
    try:
        offset = filelike.tell()
    except OSError:
        offset = 0
    responder.sendfile(filelike, offset)


def names_a_file(target: str, option: str) -> bool:
    """True when an app target is a file to load, not a module to import: always for
    `wsgi-file`/`asgi-file` or a path with a directory; a `module`/mount target ending in
    .py/.wsgi only when that file exists or no module of that name does (`module = mysite.wsgi`
    is Django's module `mysite.wsgi`)."""
    if option in ("wsgi-file", "asgi-file") or os.sep in target:
        return True
    if not target.endswith((".py", ".wsgi")):
        return False
    if os.path.isfile(target):
        return True
    try:
        return importlib.util.find_spec(target) is None
    except (ImportError, ValueError):
        return True


def load_target(spec: AppSpec, names: tuple[str, ...], kind: str) -> Any:
    """The first callable of `names` in a Python app target (WSGI or ASGI): a file (`app.py`,
    `app.wsgi`, `app.py:attr`) or a module (`pkg.mod`, or `pkg.mod:attr` naming it); a name
    `factory()` is called once, at load (as uWSGI)."""
    target, origin = spec.target, spec.origin
    file_path, sep, attr = target.rpartition(":")
    if sep and file_path.endswith((".py", ".wsgi")) and os.path.isfile(file_path):
        target, names = file_path, (attr,)
    try:
        if names_a_file(target, spec.option):
            module = _load_file(target)
            where = target
        else:
            module_name, _, attr = target.partition(":")
            module = importlib.import_module(module_name)
            names = (attr,) if attr else names
            where = module_name
        app = next(
            (found for name in names if callable(found := _quick_callable(module, name))), None
        )
    except SystemExit as exc:
        raise AppLoadError(f"{origin}: loading {target} called sys.exit({exc.code})") from exc
    except FileNotFoundError as exc:
        raise AppLoadError(
            f"{origin}: cannot load {target}: no such file (cwd {os.getcwd()})"
        ) from exc
    except Exception as exc:
        log_exception(f"{origin}: failed to load the {kind} app {target}:", exc)
        raise AppLoadError(
            f"{origin}: failed to load the {kind} app {target}: "
            f"{type(exc).__name__}: {exc} (traceback above)"
        ) from exc
    if app is None:
        raise AppLoadError(
            f"{origin}: {where} has no callable {' or '.join(map(repr, names))}: set `callable` "
            "or use module:callable"
        )
    return app


def _quick_callable(module: Any, name: str) -> Any:
    """The app `name` of `module`; `factory()` calls the factory once, at load (as uWSGI)."""
    if name.endswith("()"):
        factory = getattr(module, name[:-2], None)
        return factory() if callable(factory) else None
    return getattr(module, name, None)


def _load_file(path: str) -> Any:
    """Import a .py/.wsgi file as a module, as uWSGI's wsgi-file does."""
    abspath = os.path.abspath(path)
    if not os.path.exists(abspath):
        raise FileNotFoundError(abspath)
    name = "uwsgi_file_" + "".join(c if c.isalnum() else "_" for c in abspath)
    loader = importlib.machinery.SourceFileLoader(name, abspath)
    spec = importlib.util.spec_from_file_location(name, abspath, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    directory = os.path.dirname(abspath)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    loader.exec_module(module)
    return module


def prepare_python_environment(ctx: RuntimeContext) -> None:
    """home/virtualenv, pythonpath, chdir and env, once per process (idempotent)."""
    config = ctx.config
    home = config.get("home") or config.get("virtualenv") or config.get("venv")
    if home:
        site_dirs = glob.glob(os.path.join(str(home), "lib", "python3*", "site-packages"))
        if not site_dirs:
            raise AppLoadError(
                f"home/virtualenv {home!r} has no lib/python3*/site-packages: "
                "is it a Python 3 virtualenv?"
            )
        for site_dir in site_dirs:
            if site_dir not in sys.path:
                sys.path.insert(0, site_dir)
    for entry in option_values(config, "pythonpath"):
        for path in sorted(glob.glob(entry)) or [entry]:
            if path not in sys.path:
                sys.path.insert(0, path)
    apply_chdir(config)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in option_values(config, "import"):
        importlib.import_module(module)
