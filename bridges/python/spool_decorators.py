"""uwsgidecorators' @spool, @spoolforever and @spoolraw, and Python's spooler calling convention.

`python_spooler_handler` adapts a Python spooler function (`uwsgi.spooler = f`) to the
spooler's (vars, body, task_name) handlers; `SpoolDecorators` is uwsgidecorators' spool family
over `uwsgi.spool`, with uWSGI's task vars, so tasks are interchangeable with uWSGI's.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import msgpack

from polyhost.fabric.spooler import SPOOL_IGNORE, SPOOL_OK, SPOOL_RETRY, SpoolHandler


def python_spooler_handler(user_function: Callable[[dict[Any, bytes]], object]) -> SpoolHandler:
    """Adapt a Python spooler function (`uwsgi.spooler = f`) to a Spooler handler.

    As uWSGI's Python plugin: `f` receives the vars with bytes keys and values, plus the str keys
    'spooler_task_name' (the file's basename, bytes) and 'body' (bytes, only when non-empty).
    """

    def handler(vars: dict[bytes, bytes], body: bytes, task_name: bytes) -> object:
        task: dict[Any, bytes] = {"spooler_task_name": task_name}
        task.update(vars)
        if body:
            task["body"] = body
        return user_function(task)

    return handler


class SpoolDecorators:
    """uwsgidecorators' @spool, @spoolforever and @spoolraw over one `spool_function`.

    `spool_function` is `uwsgi.spool` (a dict of bytes -> path). The `uwsgidecorators` module
    re-exports the three decorators and sets `uwsgi.spooler = manage_spool_request`, as uWSGI's
    module does on import. Task vars are uWSGI's: `ud_spool_func` (the function's name),
    `ud_spool_ret` (the forced return code) and, with pass_arguments, pickled `args`/`kwargs`.
    """

    def __init__(
        self,
        spool_function: Callable[[dict[bytes, bytes]], object],
        spooler_configured: Callable[[], bool] = lambda: True,
        spools_to_redis: Callable[[Any], bool] = lambda spooler: False,
    ) -> None:
        self.spool_function = spool_function
        self.spooler_configured = spooler_configured
        #: spools_to_redis(the task's `spooler` or None): arguments then travel as msgpack
        self.spools_to_redis = spools_to_redis
        #: function name -> function, the decorated functions of this process
        self.spooler_functions: dict[str, Callable[..., Any]] = {}

    def spoolraw(self, f: Callable[..., Any] | None = None, pass_arguments: bool = False) -> Any:
        """The function's return value is the task's return code."""
        return self._decorate(f, pass_arguments, None, "spoolraw")

    def spool(self, f: Callable[..., Any] | None = None, pass_arguments: bool = False) -> Any:
        """The task runs once (SPOOL_OK whatever the function returns)."""
        return self._decorate(f, pass_arguments, SPOOL_OK, "spool")

    def spoolforever(
        self, f: Callable[..., Any] | None = None, pass_arguments: bool = False
    ) -> Any:
        """The task runs again at every scan (SPOOL_RETRY)."""
        return self._decorate(f, pass_arguments, SPOOL_RETRY, "spoolforever")

    def _decorate(
        self,
        f: Callable[..., Any] | None,
        pass_arguments: bool,
        forced_return: int | None,
        decorator: str,
    ) -> Any:
        if f is None:
            return lambda function: self._decorate(
                function, pass_arguments, forced_return, decorator
            )
        if not self.spooler_configured():
            raise Exception(f"you have to enable the uWSGI spooler to use @{decorator} decorator")
        self.spooler_functions[f.__name__] = f
        return SpooledFunction(f, pass_arguments, forced_return, self)

    def manage_spool_request(self, vars: dict[Any, bytes]) -> int:
        """uwsgidecorators' spooler function: run the @spool function a task names.

        Values reach the function decoded from UTF-8 (bytes that are not UTF-8 stay bytes, where
        uWSGI raises and retries forever). A task without `ud_spool_func`, or naming a function
        this process doesn't have, returns SPOOL_IGNORE so another runtime may take it.
        """
        task = {_decode(key): value for key, value in vars.items()}
        function = self.spooler_functions.get(_decode(task.get("ud_spool_func", b"")))
        if function is None:
            return SPOOL_IGNORE
        if "args" in task:
            # msgpack for tasks that went through Redis (never pickle there), else uWSGI's pickle
            load = _unpack_arguments if task.get("ud_spool_codec") == b"msgpack" else pickle.loads
            for key in ("args", "kwargs"):
                task[key] = load(task.pop(key))
        task = {key: _decode(value) for key, value in task.items()}
        result = function(*task["args"], **task["kwargs"]) if "args" in task else function(task)
        return int(task.get("ud_spool_ret", result))


class SpooledFunction:
    """A function under @spool/@spoolforever/@spoolraw: calling it, or `.spool()`, enqueues it."""

    def __init__(
        self,
        f: Callable[..., Any],
        pass_arguments: bool,
        forced_return: int | None,
        decorators: SpoolDecorators,
    ) -> None:
        self.f = f
        self.pass_arguments = pass_arguments
        self.decorators = decorators
        self.base_dict: dict[str, Any] = {"ud_spool_func": f.__name__}
        if forced_return is not None:
            self.base_dict["ud_spool_ret"] = str(forced_return)
        f.spool = self.__call__  # type: ignore[attr-defined]  # uWSGI < 1.9.13 spelling

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        arguments = dict(self.base_dict)
        if not self.pass_arguments:
            if args:
                arguments.update(args[0])
            arguments.update(kwargs)
        else:
            for key in ("message_dict", "spooler", "priority", "at", "body"):
                if key in kwargs:
                    arguments[key] = kwargs.pop(key)
            if self.decorators.spools_to_redis(arguments.get("spooler")):
                arguments["ud_spool_codec"] = "msgpack"
                arguments["args"] = msgpack.packb(list(args), use_bin_type=True)
                arguments["kwargs"] = msgpack.packb(kwargs, use_bin_type=True)
            else:
                arguments["args"] = pickle.dumps(args)
                arguments["kwargs"] = pickle.dumps(kwargs)
        return self.decorators.spool_function(
            {_encode(key): _encode(value) for key, value in arguments.items()}
        )

    def spool(self, *args: Any, **kwargs: Any) -> object:
        return self(*args, **kwargs)


def _unpack_arguments(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def _encode(value: Any) -> Any:
    return value.encode("utf-8") if isinstance(value, str) else value


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value
