"""A Runtime whose apps run in child interpreters (Perl, Ruby...) reached through bridges/channel.

Each language adapter only names its child program, its interpreter, the library the child needs
(and the Debian packages providing both) and the CONFIG entries its options turn into. The
children's CALLs go to the fabric's op table; RPC functions, signal handlers and spooler
functions they register are invoked back through the app's `ChildHooks`: CALLs into its child.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import ClassVar

from polyhost.bridges.channel import CallError, CallHandler, ChannelPool, ChildProgram
from polyhost.config import option_values
from polyhost.dispatch import App, AppLoadError, Runtime
from polyhost.fabric import ops
from polyhost.fabric.hooks import HOOKS, RuntimeHooks
from polyhost.protocol.uwsgi import encode_array
from polyhost.request import Request, Responder
from polyhost.rpc.registry import RpcError


class ChildHooks(RuntimeHooks):
    """The fabric's calls into what one app's children registered: each is a CALL into a ready
    child of the app (RPC functions by name, signal handlers by number, its spooler function)."""

    def __init__(self, runtime: str, pool: ChannelPool) -> None:
        self.runtime = runtime
        self.pool = pool

    def _call(self, op: bytes, args: list[bytes]) -> list[bytes]:
        try:
            return self.pool.ready_channel().call(op, args)
        except CallError as exc:
            raise RpcError(f"{self.runtime} app: {exc}") from None

    def call_rpc(self, handle: object, args: list[bytes]) -> bytes:
        result = self._call(b"rpc", [handle, *args])  # type: ignore[list-item]
        return result[0] if result else b""

    def run_signal(self, handle: object, num: int) -> None:
        self._call(b"signal", [str(num).encode()])

    def run_spooler(self, task: dict[bytes, bytes], body: bytes, task_name: bytes) -> object:
        pairs = [
            (b"spooler_task_name", task_name),
            *task.items(),
            *([(b"body", body)] if body else []),
        ]
        result = self._call(b"spooler", [encode_array(item for pair in pairs for item in pair)])
        return int(result[0]) if result and result[0].lstrip(b"-").isdigit() else -1


class ChildRuntime(Runtime):
    """Apps served by child processes, one per app and worker thread."""

    #: the child program run by the interpreter
    program: ClassVar[Path]
    #: interpreter command looked up on PATH ("perl", "ruby")
    interpreter: ClassVar[str]
    #: Debian packages providing the interpreter and the library (the declaration's
    #: `debian_packages`, in that order)
    interpreter_package: ClassVar[str]
    library_package: ClassVar[str]
    #: library the child loads apps with ("Plack", "rack")
    library: ClassVar[str]
    #: seconds a child may take to load its app
    load_timeout: ClassVar[float] = 60.0
    #: loop engine options the child implements (`coroae`): given N, one child per worker
    #: serves the N threads' requests at once, on N bridge lanes, and CONFIG says `loop`
    loop_options: ClassVar[tuple[str, ...]] = ()

    def loop_engine(self) -> tuple[str, int]:
        """The loop engine option given for this runtime and its N, else ("", 1)."""
        for name in self.loop_options:
            if (cores := self.ctx.config.get(name)) > 0:
                return name, cores
        return "", 1

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.interpreter_package, cls.library_package = cls.debian_packages

    def log(self, line: str) -> None:
        """The log of the process hosting the runtime now (the worker's after fork)."""
        self.ctx.log(line)

    # -- the fabric, both ways ---------------------------------------------------------------
    def fabric_calls(self, owner: str) -> CallHandler:
        """How the children of one app reach the fabric; `owner` names that app's registry."""

        def answer(op: bytes, args: list[bytes]) -> list[bytes]:
            if op == b"log":  # through this runtime's logger (the worker's, or a test's)
                for arg in args:
                    self.log(arg.decode("utf-8", "replace").rstrip("\n"))
                return []
            try:
                return ops.call(owner, op.decode("latin-1"), args)
            except ops.FabricError as exc:
                raise CallError(str(exc)) from None

        return answer

    def child_config(self) -> list[tuple[str, str]]:
        """CONFIG entries from this runtime's options (library paths, requires...)."""
        return []

    def option_values(self, *names: str) -> list[str]:
        """Values of options that may be repeated; an option the config doesn't know is empty."""
        return [value for name in names for value in option_values(self.ctx.config, name)]

    def find_interpreter(self, app: str) -> str:
        found = shutil.which(self.interpreter)
        if found is None:
            raise AppLoadError(
                f"{self.name} app {app} needs {self.interpreter}, which is not on PATH "
                f"({os.environ.get('PATH', '')}); install the Debian package "
                f"{self.interpreter_package} (apt-get install {self.interpreter_package})"
            )
        return found

    def child_program(self, app: str, origin: str) -> ChildProgram:
        interpreter = self.find_interpreter(app)
        loop, lanes = self.loop_engine()
        config = [
            ("app", app),
            ("runtime", self.name),
            ("worker_id", str(self.ctx.worker_id)),
            ("masterpid", str(os.getppid() if self.ctx.worker_id else os.getpid())),
            ("origin", origin),
            *self.child_config(),
            *([("loop", loop)] if loop else []),
        ]
        return ChildProgram(
            runtime=self.name,
            argv=(interpreter, str(self.program)),
            app=app,
            config=tuple(config),
            library_package=self.library_package,
            library=self.library,
            load_timeout=self.load_timeout,
            lanes=lanes,
        )

    def load(self, first_id: int) -> list[App]:
        apps: list[App] = []
        try:
            for index, spec in enumerate(self.specs):
                path = os.path.abspath(spec.target)
                if not os.path.isfile(path):
                    raise AppLoadError(
                        f"{spec.origin}: {self.name} app {spec.target!r} not found "
                        f"(looked for {path})"
                    )
                owner = f"{self.name}:{first_id + index}"
                pool = ChannelPool(
                    self.child_program(path, spec.origin),
                    self.log,
                    self.ctx.worker_id,
                    self.fabric_calls(owner),
                    self.ctx.threads,
                )
                HOOKS.install(owner, ChildHooks(self.name, pool))
                apps.append(
                    App(
                        id=first_id + index,
                        runtime=self,
                        mountpoint=spec.mountpoint,
                        target=spec.target,
                        modifier1=self.modifier1,
                        handle=pool,
                    )
                )
                try:
                    pool.start()
                except AppLoadError as exc:
                    raise AppLoadError(f"{spec.origin}: {exc}") from None
        except AppLoadError:
            self._close_apps(apps)
            raise
        self.apps = apps
        return apps

    def handle(self, app: App, request: Request, responder: Responder) -> None:
        pool: ChannelPool = app.handle  # type: ignore[assignment]
        if pool.serve(request, responder):
            app.exceptions += 1

    def close(self) -> None:
        self._close_apps(self.apps)

    @staticmethod
    def _close_apps(apps: list[App]) -> None:
        for app in apps:
            pool: ChannelPool = app.handle  # type: ignore[assignment]
            pool.close()
