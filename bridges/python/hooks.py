"""Python's hooks on the fabric: how RPC, signals, the spooler and the mules call Python code.

Installed once for the owner "python" when the WSGI runtime starts (in the master before fork,
so every worker, mule and spooler has them): RPC functions and signal handlers are Python
callables, the spooler function is `uwsgi.spooler`, and a mule message nobody waits for goes to
the @mulefunc it names or to `uwsgi.mule_msg_hook`.
"""

from __future__ import annotations

import inspect
import pickle
import sys
from collections.abc import Callable
from typing import Any

from polyhost.bridges.asgi.lazy import engine
from polyhost.bridges.python.spool_decorators import python_spooler_handler
from polyhost.fabric.hooks import HOOKS, RuntimeHooks
from polyhost.fabric.spooler import SPOOL_IGNORE
from polyhost.log import log, log_exception
from polyhost.process_state import CURRENT
from polyhost.rpc.registry import to_bytes

#: the marker uwsgidecorators' mulefunc puts in its pickled messages (as uWSGI)
MULEFUNC_SERVICE = "uwsgi_mulefunc"
#: name -> function, filled by uwsgidecorators.mulefunc in every process
MULE_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def _resolved(result: object) -> object:
    """What a function returned; an async function's (an ASGI app's handler) run to its end."""
    if inspect.isawaitable(result):
        return engine().run_awaitable(result)
    return result


def rpc_result(result: object) -> bytes:
    """What a Python RPC function returned, as the bytes RPC carries."""
    if type(result) is bytes:
        return result
    return to_bytes(_resolved(result))


class PythonHooks(RuntimeHooks):
    """The fabric's calls into Python: handles are the Python callables registered."""

    def call_rpc(self, handle: object, args: list[bytes]) -> bytes:
        return rpc_result(handle(*args))  # type: ignore[operator]

    def direct_rpc(self, handle: object) -> Callable[..., object] | None:
        return handle if callable(handle) else None

    def run_signal(self, handle: object, num: int) -> None:
        _resolved(handle(num))  # type: ignore[operator]

    def run_spooler(self, task: dict[bytes, bytes], body: bytes, task_name: bytes) -> object:
        """Offer a task to `uwsgi.spooler` (the app's assignable spooler function), if any."""
        function = getattr(sys.modules.get("uwsgi"), "spooler", None)
        if function is None:
            return SPOOL_IGNORE
        return python_spooler_handler(function)(task, body, task_name)

    def mule_message(self, message: bytes) -> bool:
        """A pickled @mulefunc call runs its function; anything else goes to mule_msg_hook."""
        mule_id = CURRENT.mules.mule_id if CURRENT.mules else 0
        try:
            payload = pickle.loads(message) if message[:1] == b"\x80" else None
        except Exception:
            payload = None
        if isinstance(payload, dict) and payload.get("service") == MULEFUNC_SERVICE:
            function = MULE_FUNCTIONS.get(payload.get("func", ""))
            if function is None:
                log(f"mule {mule_id}: mulefunc {payload.get('func')!r} is not registered here")
                return True
            try:
                function(*payload.get("args", ()), **payload.get("kwargs", {}))
            except Exception as exc:
                log_exception(f"mule {mule_id}: mulefunc {payload.get('func')} failed:", exc)
            return True
        hook = getattr(sys.modules.get("uwsgi"), "mule_msg_hook", None)
        if hook is None:
            return False
        try:
            hook(message)
        except Exception as exc:
            log_exception(f"mule {mule_id}: mule_msg_hook failed:", exc)
        return True


def install_python_hooks() -> None:
    """Python's hooks for the owner "python"; its spooler function is offered tasks first."""
    HOOKS.install("python", PythonHooks())
    HOOKS.take_spool_tasks("python")
