"""The PHP runtime (modifier1 14): scripts under a docroot, or one front controller, run by a pool
of php-cgi children per worker (bridges/php/php_cgi.py).

Which script a request runs is decided here, as uWSGI's PHP plugin decides it: PATH_INFO is
walked under the docroot until a file is found (the rest becomes PATH_INFO), a directory asks for
its trailing slash and then for a `php-index` file. With `plugin = php` and no `php-docroot`
the docroot is the request's DOCUMENT_ROOT (what nginx's `root` sends; the current directory
when it sends none), as uWSGI's plugin does. The docroot is a jail: the script's real path
(symlinks resolved) must lie inside it and end with an allowed extension (`.php` unless
`php-allowed-ext` says otherwise), or the client gets 403.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyhost import UWSGI_COMPAT_VERSION
from polyhost.bridges.cgi.script_path import Refusal, walk_to_script
from polyhost.bridges.php import PhpDeclaration
from polyhost.bridges.php.fabric_socket import FabricSocket
from polyhost.bridges.php.php_cgi import PhpCgiCommand, PhpCgiPool
from polyhost.config import option_values
from polyhost.dispatch import App, AppLoadError, AppSpec, Runtime, RuntimeContext
from polyhost.protocol.fastcgi import encode_pairs
from polyhost.request import Request, Responder
from polyhost.static import path_within

#: the uwsgi_* API, loaded into every script with auto_prepend_file
API_LIBRARY = Path(__file__).with_name("uwsgi.php")
#: PHP_FCGI_MAX_REQUESTS when the environment has none: never recycle, as php-fpm's default
#: (pm.max_requests = 0) and uWSGI's embedded PHP (php-cgi alone would stop after 500)
DEFAULT_MAX_REQUESTS = 0
#: seconds a script lookup is remembered (PHP's own realpath cache keeps them 120 s)
RESOLVE_TTL = 2.0
RESOLVE_CACHE_MAX = 4096
#: vars of the request that the runtime sets itself
_OWN_PARAMS = frozenset(
    {
        "SCRIPT_FILENAME",
        "SCRIPT_NAME",
        "PATH_INFO",
        "PATH_TRANSLATED",
        "CONTENT_LENGTH",
        "DOCUMENT_ROOT",
        "GATEWAY_INTERFACE",
        "REDIRECT_STATUS",
        "HTTP_PROXY",
    }
)


@dataclass(frozen=True)
class PhpApp:
    """One PHP app: a docroot (the jail; "" for the request's DOCUMENT_ROOT) and, for php-app,
    the one script every path runs."""

    docroot: str
    front_controller: str | None = None


@dataclass(frozen=True)
class Script:
    """The script a request runs, with the CGI names that describe it."""

    filename: str
    script_name: str
    path_info: str
    docroot: str


class PhpRuntime(PhpDeclaration, Runtime):
    """`php-docroot DIR`, `php-app FILE` or `mount /x=DIR|FILE.php`: PHP through php-cgi."""

    def __init__(self, ctx: RuntimeContext, specs: list[AppSpec]) -> None:
        super().__init__(ctx, specs)
        self.pool: PhpCgiPool | None = None
        self.fabric: FabricSocket | None = None
        config = ctx.config
        self.index = option_values(config, "php-index")
        self.allowed_ext = option_values(config, "php-allowed-ext")
        self.allowed_docroots = [
            os.path.realpath(d) for d in option_values(config, "php-allowed-docroot")
        ]
        self.allowed_scripts = option_values(config, "php-allowed-script")
        self.server_software = config.get("php-server-software")
        #: sent before the request's vars, which may override them
        self._default_params = encode_pairs(
            [("SERVER_SOFTWARE", self.server_software), ("QUERY_STRING", "")]
        )
        self._resolved: dict[tuple[str, str, str], tuple[float, Script]] = {}
        extra_vars: list[tuple[str, str]] = []
        for item in option_values(config, "php-var"):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise AppLoadError(f"php-var needs KEY=VALUE, got {item!r}")
            extra_vars.append((key, value))
        #: sent after the request's vars and ours
        self._constant_params = encode_pairs(
            [("GATEWAY_INTERFACE", "CGI/1.1"), ("REDIRECT_STATUS", "200"), *extra_vars]
        )

    # -- loading ---------------------------------------------------------------------------

    def load(self, first_id: int) -> list[App]:
        apps = [
            App(
                id=first_id + index,
                runtime=self,
                mountpoint=mountpoint,
                target=target,
                modifier1=self.modifier1,
                chdir=php_app.docroot,
                handle=php_app,
            )
            for index, (mountpoint, target, php_app) in enumerate(self._app_table())
        ]
        php_cgi = shutil.which("php-cgi")
        if php_cgi is None:
            raise AppLoadError(
                "PHP needs php-cgi, which is not on PATH; install the Debian package php-cgi "
                "(apt-get install php-cgi)"
            )
        started = time.monotonic()
        self.fabric = FabricSocket(self.ctx.worker_id, self.ctx.log)
        pool = PhpCgiPool(
            self._command(php_cgi), self.ctx.log, self.ctx.worker_id, self.ctx.threads
        )
        try:
            pool.start()
        except AppLoadError as exc:
            raise AppLoadError(f"{self.specs[0].origin}: PHP: {exc}") from None
        self.pool = pool
        self.ctx.log(
            f"PHP {_php_version(php_cgi)} (php-cgi) ready in worker {self.ctx.worker_id}: "
            f"{pool.size} child(ren) in {(time.monotonic() - started) * 1000:.0f} ms; "
            + "; ".join(
                f"{app.mountpoint or '/'} -> {_describe(app.handle)}"  # type: ignore[arg-type]
                for app in apps
            )
        )
        if option_values(self.ctx.config, "php-sapi-name"):
            self.ctx.log(
                "php-sapi-name: php-cgi's SAPI is always cgi-fcgi, and OPcache works with it "
                "as it is (uWSGI needed the option to enable it); the value is not used"
            )
        self.apps = apps
        return apps

    def _app_table(self) -> list[tuple[str, str, PhpApp]]:
        """(mountpoint, target, PhpApp) for every app: php-app and php-docroot make one together."""
        table: list[tuple[str, str, PhpApp]] = []
        root_docroot: str | None = None
        root_front: tuple[AppSpec, str] | None = None
        for spec in self.specs:
            if spec.option == "plugins":  # plugin = php alone: the request's DOCUMENT_ROOT
                table.append(("", "", PhpApp("")))
                continue
            path = os.path.realpath(spec.target)
            if not os.path.exists(path):
                raise AppLoadError(
                    f"{spec.origin}: PHP {'file' if spec.target.endswith('.php') else 'docroot'}"
                    f" {spec.target!r} not found (looked for {path})"
                )
            is_dir = os.path.isdir(path)
            if spec.mountpoint:
                app = PhpApp(path) if is_dir else PhpApp(os.path.dirname(path), path)
                table.append((spec.mountpoint, spec.target, app))
            elif is_dir:
                root_docroot = path
            else:
                root_front = (spec, path)
        if root_front is not None:
            spec, path = root_front
            table.insert(0, ("", spec.target, PhpApp(root_docroot or os.path.dirname(path), path)))
        elif root_docroot is not None:
            table.insert(0, ("", root_docroot, PhpApp(root_docroot)))
        return table

    def _command(self, php_cgi: str) -> PhpCgiCommand:
        config = self.ctx.config
        argv = [php_cgi]
        ini_files = option_values(config, "php-ini")
        if ini_files:
            if len(ini_files) > 1:
                self.ctx.log(
                    f"php-ini given {len(ini_files)} times: php-cgi reads one "
                    f"php.ini, using {ini_files[-1]}"
                )
            if not os.path.exists(ini_files[-1]):
                raise AppLoadError(f"php-ini {ini_files[-1]!r} not found")
            argv += ["-c", ini_files[-1]]
        user_prepend = ""
        settings: list[str] = []
        for item in option_values(config, "php-set"):
            key, sep, value = item.partition("=")
            if not sep:
                raise AppLoadError(f"php-set needs key=value, got {item!r}")
            if key.strip() == "auto_prepend_file":
                user_prepend = value.strip()
                continue
            settings.append(f"{key.strip()}={value.strip()}")
        masterpid = os.getppid() if self.ctx.worker_id else os.getpid()
        for setting in (
            f"auto_prepend_file={API_LIBRARY}",
            f"polyhost.uwsgi_version={UWSGI_COMPAT_VERSION}",
            f"polyhost.worker_id={self.ctx.worker_id}",
            f"polyhost.masterpid={masterpid}",
            f"polyhost.fabric_socket={self.fabric.path}",
            f"polyhost.user_prepend={user_prepend}",
            *settings,
        ):
            argv += ["-d", setting]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHP_FCGI_")}
        try:
            max_requests = int(os.environ.get("PHP_FCGI_MAX_REQUESTS", DEFAULT_MAX_REQUESTS))
        except ValueError:
            raise AppLoadError(
                f"PHP_FCGI_MAX_REQUESTS={os.environ['PHP_FCGI_MAX_REQUESTS']!r} is not a number"
            ) from None
        env["PHP_FCGI_MAX_REQUESTS"] = str(max_requests)
        env["PHP_FCGI_CHILDREN"] = "0"
        return PhpCgiCommand(tuple(argv), tuple(env.items()), max_requests)

    # -- requests ----------------------------------------------------------------------------

    def handle(self, app: App, request: Request, responder: Responder) -> None:
        php_app: PhpApp = app.handle  # type: ignore[assignment]
        env = request.vars
        try:
            script = self.resolve(php_app, env)
        except Refusal as refusal:
            refusal.answer(responder, self.ctx.log, f"[php w{self.ctx.worker_id}]")
            return
        body, length = request.body, request.content_length
        spool = None
        if length is None and "HTTP_TRANSFER_ENCODING" in env:
            spool, length = _spool(body)  # PHP needs CONTENT_LENGTH to read a body
            body = spool
        try:
            params = self._params(script, env, length or 0)
            assert self.pool is not None
            status = self.pool.serve(params, body, length or 0, responder, script.filename)
        finally:
            if spool is not None:
                spool.close()
        if status >= 500:
            app.exceptions += 1

    def resolve(self, php_app: PhpApp, env: dict[str, str]) -> Script:
        """The script for this request, or a Refusal (403, 404, or the 301 to add a slash)."""
        script_name = env.get("SCRIPT_NAME", "")
        path = env.get("PATH_INFO", "")
        docroot = php_app.docroot or _request_docroot(env)
        if php_app.front_controller is not None:
            return Script(php_app.front_controller, script_name, "", docroot)
        key = (docroot, script_name, path)
        now = time.monotonic()
        cached = self._resolved.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        script = self._walk(docroot, env, script_name, path)
        if len(self._resolved) >= RESOLVE_CACHE_MAX:
            self._resolved.clear()
        self._resolved[key] = (now + RESOLVE_TTL, script)
        return script

    def _walk(self, docroot: str, env: dict[str, str], script_name: str, path: str) -> Script:
        if "\0" in path:
            raise Refusal(404)
        segments = path.split("/")
        if ".." in segments:
            raise Refusal(403, log=f"PHP security error: '..' in {path!r}")
        filename, url_script, path_info = walk_to_script(
            docroot, path, script_name, env.get("QUERY_STRING", ""), self.index, _readable_file
        )
        real = os.path.realpath(filename)
        if not path_within(real, docroot):
            raise Refusal(403, log=f"PHP security error: {real} is not under {docroot}")
        if self.allowed_docroots and not any(path_within(real, d) for d in self.allowed_docroots):
            raise Refusal(403, log=f"PHP security error: {real} is not under an allowed docroot")
        if not real.endswith(tuple(self.allowed_ext)):
            raise Refusal(
                403,
                log=f"PHP security error: {real} does not end with an allowed extension "
                f"({', '.join(self.allowed_ext)})",
            )
        if self.allowed_scripts and real not in self.allowed_scripts:
            raise Refusal(403, log=f"PHP security error: {real} is not an allowed script")
        return Script(real, script_name + url_script, path_info, docroot)

    def _params(self, script: Script, env: dict[str, str], length: int) -> bytes:
        """The FastCGI params: defaults, the request's vars, then ours (php-cgi keeps the last
        value of a name). HTTP_PROXY never goes on (httpoxy)."""
        pairs = [(k, v) for k, v in env.items() if k not in _OWN_PARAMS]
        pairs += [
            ("SCRIPT_FILENAME", script.filename),
            ("SCRIPT_NAME", script.script_name),
            ("PATH_INFO", script.path_info),
            ("DOCUMENT_ROOT", script.docroot),
        ]
        if script.path_info:
            pairs.append(("PATH_TRANSLATED", script.docroot + script.path_info))
        if length:
            pairs.append(("CONTENT_LENGTH", str(length)))
        return self._default_params + encode_pairs(pairs) + self._constant_params

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self.fabric is not None:
            self.fabric.close()
            self.fabric = None


def _describe(php_app: PhpApp) -> str:
    return php_app.front_controller or php_app.docroot or "the request's DOCUMENT_ROOT"


def _request_docroot(env: dict[str, str]) -> str:
    """The DOCUMENT_ROOT the front end sent, symlinks resolved (the current directory if none),
    as uWSGI's PHP plugin takes it; one that is not an absolute directory runs nothing."""
    sent = env.get("DOCUMENT_ROOT", "")
    if not sent:
        return os.getcwd()
    real = os.path.realpath(sent)
    if not os.path.isabs(sent) or not os.path.isdir(real):
        raise Refusal(404, log=f"PHP: DOCUMENT_ROOT {sent!r} is not an absolute directory")
    return real


def _php_version(php_cgi: str) -> str:
    try:
        out = subprocess.run(
            [php_cgi, "-n", "-v"], capture_output=True, timeout=10, check=False
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return "(version unknown)"
    parts = out.split()
    return parts[1] if len(parts) > 1 else "(version unknown)"


def _readable_file(path: str) -> bool:
    return os.access(path, os.R_OK) and not os.path.isdir(path)


def _spool(body: Any) -> tuple[Any, int]:
    """A body of unknown length (chunked) copied to a temporary file, and its length."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    total = 0
    while piece := body.read(65536):
        spool.write(piece)
        total += len(piece)
    spool.seek(0)
    return spool, total
