"""The CGI runtime (modifier1 9): one process per request, as RFC 3875 describes it.

`cgi [mountpoint=]DIR|FILE` (and `mount /x=DIR|FILE`) names where scripts live. A request walks
its PATH_INFO under the directory until it meets a file: that is the script, the rest is the
script's PATH_INFO. `..`, encoded slashes and symlinks that leave the root (unless `cgi-safe`
covers the target) get 403. The script runs in its own process group with the full set of
meta-variables; the request body streams to its stdin and its stdout streams to the client
(never held whole), its stderr goes to the log line by line with the script's name. `Status:`
sets the status; `Location:` alone is a redirect: a local path is served again as a GET by this
runtime (or the host's static files), anything else is a 302. When the script is silent for
`cgi-timeout` seconds its process group is killed and the client gets 504.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from polyhost import __version__
from polyhost.bridges.cgi import CgiDeclaration
from polyhost.bridges.cgi.response import CgiHead, CgiHeadError
from polyhost.bridges.cgi.script_path import Refusal, walk_to_script
from polyhost.bridges.channel import describe_exit
from polyhost.config import option_values
from polyhost.dispatch import App, AppLoadError, AppSpec, Dispatcher, Runtime, RuntimeContext
from polyhost.request import (
    BodyReader,
    BytesBody,
    Request,
    Responder,
    ResponseAborted,
    simple_error,
)
from polyhost.static import path_within

READ_SIZE = 256 * 1024
BODY_PIECE = 64 * 1024
#: how many local redirects one request may follow
MAX_LOCAL_REDIRECTS = 10
_ENCODED_SLASH = re.compile(r"%(2f|5c)", re.IGNORECASE)
_POLL_IN = select.POLLIN | select.POLLHUP | select.POLLERR


@dataclass(frozen=True)
class CgiRoot:
    """One `cgi` entry: a directory of scripts or a single script, and where it is mounted."""

    path: str
    real: str
    is_file: bool


@dataclass(frozen=True)
class CgiScript:
    """The program one request runs and the names RFC 3875 gives it."""

    filename: str
    script_name: str
    path_info: str
    document_root: str


class CgiTimeout(Exception):
    """The script was silent for cgi-timeout seconds."""


class CgiRuntime(CgiDeclaration, Runtime):
    """CGI programs: a process per request, stdin and stdout streamed."""

    def __init__(self, ctx: RuntimeContext, specs: list[AppSpec]) -> None:
        super().__init__(ctx, specs)
        config = ctx.config
        self.allowed_ext = option_values(config, "cgi-allowed-ext")
        self.index = option_values(config, "cgi-index")
        self.safe = [os.path.realpath(p) for p in option_values(config, "cgi-safe")]
        self.unset = option_values(config, "cgi-unset")
        self.timeout = config.get("cgi-timeout")
        self.helpers: list[tuple[str, list[str]]] = []
        for item in option_values(config, "cgi-map-helper"):
            ext, sep, command = item.partition("=")
            if not sep or not ext or not command.strip():
                raise AppLoadError(f"cgi-helper needs .ext=interpreter, got {item!r}")
            self.helpers.append((ext.lower(), shlex.split(command)))
        self._static: Any = None
        self._base_env: dict[bytes, bytes] | None = None

    @property
    def prefix(self) -> str:
        """How this worker's CGI lines start in the log."""
        return f"[cgi w{self.ctx.worker_id}]"

    def load(self, first_id: int) -> list[App]:
        apps = []
        for index, spec in enumerate(self.specs):
            mountpoint, target = spec.mountpoint, spec.target
            if not mountpoint and target.startswith("/") and "=" in target:
                mountpoint, _, target = target.partition("=")
                mountpoint = mountpoint.rstrip("/")
            real = os.path.realpath(target)
            if not os.path.exists(real):
                raise AppLoadError(
                    f"{spec.origin}: CGI path {target!r} not found (looked for {real})"
                )
            root = CgiRoot(target, real, not os.path.isdir(real))
            apps.append(
                App(
                    id=first_id + index,
                    runtime=self,
                    mountpoint=mountpoint,
                    target=target,
                    modifier1=self.modifier1,
                    chdir=os.path.dirname(real) if root.is_file else real,
                    handle=root,
                )
            )
            self.ctx.log(
                f"initialized CGI {'script' if root.is_file else 'path'} "
                f"{mountpoint or '/'} = {real}"
            )
        self.apps = apps
        return apps

    def handle(self, app: App, request: Request, responder: Responder) -> None:
        if not self._serve(app, request, responder, 0):
            app.exceptions += 1

    # -- one request -------------------------------------------------------------------------

    def _serve(self, app: App, request: Request, responder: Responder, depth: int) -> bool:
        """Run the request's script; False when it failed (5xx produced by us)."""
        root: CgiRoot = app.handle  # type: ignore[assignment]
        env = request.vars
        try:
            script = self.resolve(root, env)
            argv = self._argv(script, env.get("QUERY_STRING", ""))
        except Refusal as refusal:
            refusal.answer(responder, self.ctx.log, self.prefix)
            return True
        run = _CgiRun(self, script, argv, request, responder)
        ok = run.execute()
        if run.local_redirect is not None:
            return self._local_redirect(request, run.local_redirect, responder, depth, script)
        return ok

    def resolve(self, root: CgiRoot, env: dict[str, str]) -> CgiScript:
        """The script for this request, or a Refusal (403, 404, or the 301 adding a slash)."""
        script_name = env.get("SCRIPT_NAME", "")
        path = env.get("PATH_INFO", "")
        uri_path = env.get("REQUEST_URI", "").partition("?")[0]
        if "\0" in path or _ENCODED_SLASH.search(uri_path):
            raise Refusal(403, f"CGI security error: encoded slash or NUL in {uri_path!r}")
        segments = path.split("/")
        if ".." in segments:
            raise Refusal(403, f"CGI security error: '..' in {path!r}")
        if root.is_file:
            document_root = os.path.dirname(root.real)
            return self._checked(root, root.real, script_name, path, document_root)
        filename, url_script, path_info = walk_to_script(
            root.real,
            path,
            script_name,
            env.get("QUERY_STRING", ""),
            self.index,
            os.path.isfile,
        )
        return self._checked(root, filename, script_name + url_script, path_info, root.real)

    def _checked(
        self, root: CgiRoot, filename: str, script_name: str, path_info: str, document_root: str
    ) -> CgiScript:
        real = os.path.realpath(filename)
        inside = real == root.real if root.is_file else path_within(real, root.real)
        if not inside and not any(path_within(real, safe) for safe in self.safe):
            raise Refusal(403, f"CGI security error: {real} is not under {root.real}")
        if self.allowed_ext and not real.endswith(tuple(self.allowed_ext)):
            raise Refusal(
                403,
                f"CGI security error: {real} does not end with an allowed "
                f"extension ({', '.join(self.allowed_ext)})",
            )
        return CgiScript(real, script_name, path_info, document_root)

    def _argv(self, script: CgiScript, query: str) -> list[str]:
        lowered = script.filename.lower()
        helper = next((cmd for ext, cmd in self.helpers if lowered.endswith(ext)), None)
        if helper is None and not os.access(script.filename, os.X_OK):
            raise Refusal(
                403,
                f"CGI {script.filename} is not executable (chmod +x it, or "
                "name an interpreter with cgi-helper .ext=interpreter)",
            )
        argv = [*(helper or []), script.filename]
        if query and "=" not in query:  # RFC 3875 4.4: an indexed query becomes arguments
            argv += [os.fsdecode(unquote_to_bytes(word)) for word in query.split("+")]
        return argv

    def _local_redirect(
        self,
        request: Request,
        location: str,
        responder: Responder,
        depth: int,
        script: CgiScript,
    ) -> bool:
        """RFC 3875 6.2.2: serve `location` as a new GET for this client."""
        if depth >= MAX_LOCAL_REDIRECTS:
            self.ctx.log(
                f"{self.prefix} {script.filename}: more than {MAX_LOCAL_REDIRECTS} "
                f"local redirects, last to {location!r}"
            )
            simple_error(responder, 500, "too many local redirects")
            return False
        path, _, query = location.partition("?")
        env = {k: v for k, v in request.vars.items() if k not in ("CONTENT_LENGTH", "CONTENT_TYPE")}
        env.update(
            REQUEST_METHOD="GET",
            REQUEST_URI=location,
            QUERY_STRING=query,
            SCRIPT_NAME="",
            PATH_INFO=unquote_to_bytes(path).decode("latin-1"),
        )
        redirected = Request(
            env, BytesBody(), request.modifier1, request.modifier2, started=request.started
        )
        mounted = Dispatcher.by_mountpoint(redirected, self.apps)
        if mounted is not None:
            return self._serve(mounted, redirected, responder, depth + 1)
        if self._static_files() is not None and self._static.serve(redirected, responder):
            return True
        root = next((app for app in self.apps if not app.mountpoint), None)
        if root is not None:
            return self._serve(root, redirected, responder, depth + 1)
        self.ctx.log(
            f"{self.prefix} {script.filename}: local redirect to {location!r} matches "
            "no CGI mount or static file"
        )
        simple_error(responder, 404)
        return True

    def _static_files(self) -> Any:
        if self._static is None:
            from polyhost.static import StaticFiles

            self._static = StaticFiles.from_config(self.ctx.config, self.ctx.log) or False
        return self._static or None

    def environment(self, script: CgiScript, env: dict[str, str]) -> dict[bytes, bytes]:
        """The script's environment: the worker's, then every request meta-variable."""
        if self._base_env is None:  # the worker's environment, encoded once
            self._base_env = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}
        out = dict(self._base_env)
        for name, value in env.items():
            if name == "HTTP_PROXY" or "=" in name or "\0" in name or "\0" in value:
                continue  # HTTP_PROXY: httpoxy; a Proxy: header must not set the script's proxy
            out[name.encode("latin-1")] = value.encode("latin-1")
        meta = {
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SCRIPT_NAME": script.script_name,
            "SCRIPT_FILENAME": script.filename,
            "DOCUMENT_ROOT": script.document_root,
            "REDIRECT_STATUS": "200",
            "QUERY_STRING": env.get("QUERY_STRING", ""),
        }
        for name, value in meta.items():
            out[name.encode()] = (
                os.fsencode(value)
                if name in ("SCRIPT_FILENAME", "DOCUMENT_ROOT")
                else value.encode("latin-1")
            )
        out.setdefault(b"SERVER_SOFTWARE", f"polyhost/{__version__}".encode())
        if script.path_info:
            out[b"PATH_INFO"] = script.path_info.encode("latin-1")
            out[b"PATH_TRANSLATED"] = os.fsencode(script.document_root) + out[b"PATH_INFO"]
        else:
            out.pop(b"PATH_INFO", None)
            out.pop(b"PATH_TRANSLATED", None)
        if not env.get("CONTENT_LENGTH", "0").strip("0"):
            out.pop(b"CONTENT_LENGTH", None)
        for name in self.unset:
            out.pop(name.encode("latin-1"), None)
        return out


class _CgiRun:
    """One CGI process: feeds its stdin, relays its stdout, logs its stderr, times it out."""

    def __init__(
        self,
        runtime: CgiRuntime,
        script: CgiScript,
        argv: list[str],
        request: Request,
        responder: Responder,
    ) -> None:
        self.runtime = runtime
        self.script = script
        self.argv = argv
        self.request = request
        self.responder = responder
        self.log: Callable[[str], None] = runtime.ctx.log
        self.log_prefix = f"{runtime.prefix} {script.filename}:"
        self.head = CgiHead()
        self.started = False
        self.local_redirect: str | None = None
        self._errors = b""

    def execute(self) -> bool:
        """Run the script to the end; False when the client got a 5xx from us."""
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.runtime.environment(self.script, self.request.vars),
                cwd=os.path.dirname(self.script.filename),
                start_new_session=True,
            )
        except OSError as exc:
            self.log(f"{self.log_prefix} cannot run {self.argv[0]}: {exc.strerror or exc}")
            simple_error(self.responder, 500 if exc.errno != 8 else 502)
            return False
        try:
            self._relay(proc)
        except CgiTimeout:
            self._kill(proc)
            self.log(
                f"{self.log_prefix} no output for {self.runtime.timeout}s (cgi-timeout): "
                f"killed its process group (pid {proc.pid})"
            )
            return self._fail(504, "the CGI program timed out")
        except CgiHeadError as exc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
            ended = describe_exit(proc.returncode) if proc.returncode is not None else "runs on"
            self._kill(proc)
            self.log(f"{self.log_prefix} invalid CGI output: {exc}; the program {ended}")
            return self._fail(502, "the CGI program's output is not a valid CGI response")
        except BaseException:
            self._kill(proc)
            raise
        finally:
            self._flush_errors(final=True)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                with contextlib.suppress(OSError):
                    if pipe is not None:
                        pipe.close()
        return self._reap(proc)

    def _relay(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        out_fd, err_fd, in_fd = proc.stdout.fileno(), proc.stderr.fileno(), proc.stdin.fileno()
        for fd in (out_fd, err_fd, in_fd):
            os.set_blocking(fd, False)
        poller = select.poll()
        poller.register(out_fd, select.POLLIN)
        poller.register(err_fd, select.POLLIN)
        body: BodyReader | None = self.request.body
        left = self.request.content_length or 0
        pending = b""
        if left:
            poller.register(in_fd, select.POLLOUT)
        else:
            body = None
            proc.stdin.close()
        open_fds = {out_fd, err_fd}
        timeout_ms = self.runtime.timeout * 1000
        while open_fds:
            events = poller.poll(timeout_ms)
            if not events:
                raise CgiTimeout
            for fd, mask in events:
                if fd == in_fd:
                    if body is not None and not pending:
                        pending = body.read(min(BODY_PIECE, left))
                        left -= len(pending)
                        if not pending:
                            left = 0
                    try:
                        written = os.write(in_fd, pending) if pending else 0
                    except BlockingIOError:
                        written = 0
                    except OSError:  # the script closed its stdin: it wants no more
                        left, pending, written = 0, b"", 0
                    pending = pending[written:]
                    if not pending and left <= 0:
                        poller.unregister(in_fd)
                        proc.stdin.close()
                        body = None
                elif mask & _POLL_IN:
                    data = os.read(fd, READ_SIZE)
                    if not data:
                        poller.unregister(fd)
                        open_fds.discard(fd)
                    elif fd == out_fd:
                        self._output(data)
                    else:
                        self._errors += data
                        self._flush_errors()
        if not self.started and self.local_redirect is None:
            self.head.finish()
            self._start_response()

    def _output(self, data: bytes) -> None:
        if self.started:
            self.responder.write(data)
            return
        if self.local_redirect is not None:
            return  # a local redirect's body is not for the client
        body = self.head.feed(data)
        if body is None:
            return
        location = self.head.local_redirect
        if location is not None:
            self.local_redirect = location
            return
        self._start_response()
        if body:
            self.responder.write(body)

    def _start_response(self) -> None:
        self.started = True
        self.responder.start(self.head.status, self.head.headers)

    def _flush_errors(self, final: bool = False) -> None:
        data = self._errors
        cut = len(data) if final or len(data) > 8192 else data.rfind(b"\n") + 1
        if not cut:
            return
        self._errors = data[cut:]
        for line in data[:cut].decode("utf-8", "replace").splitlines():
            if line.strip():
                self.log(f"{self.log_prefix} {line}")

    def _fail(self, status: int, text: str) -> bool:
        if self.started:
            raise ResponseAborted(text)
        simple_error(self.responder, status, text)
        return False

    def _reap(self, proc: subprocess.Popen[bytes]) -> bool:
        code = _wait_exit(proc, self.runtime.timeout)
        if code is None:
            self._kill(proc)
            self.log(
                f"{self.log_prefix} closed its output but did not exit within "
                f"{self.runtime.timeout}s: killed its process group"
            )
            return True
        if code:
            self.log(f"{self.log_prefix} {describe_exit(code)}")
        return True

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The exit status, waiting at most `timeout` seconds (a pidfd: no polling with sleeps)."""
    code = proc.poll()
    if code is not None:
        return code
    try:
        pidfd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return proc.wait()
    try:
        waiter = select.poll()
        waiter.register(pidfd, select.POLLIN)
        waiter.poll(timeout * 1000)
    finally:
        os.close(pidfd)
    return proc.poll()
