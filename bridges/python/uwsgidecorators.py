"""`uwsgidecorators` as uWSGI ships it: rpc, signal, timer, rbtimer, cron, filemon, spool,
spoolforever, spoolraw, mulefunc, postfork, thread, harakiri, on top of the `uwsgi` module."""

from __future__ import annotations

import functools
import pickle
import threading
from collections.abc import Callable
from typing import Any

from polyhost.bridges.python import uwsgi_fabric as _fabric
from polyhost.bridges.python.hooks import MULE_FUNCTIONS, MULEFUNC_SERVICE

F = Callable[..., Any]


def get_free_signal() -> int:
    """The first signal number nobody registered (what the decorators use without signum)."""
    for num in range(256):
        if not _fabric.signal_registered(num):
            return num
    raise RuntimeError("all 256 uWSGI signals are registered")


class rpc:  # lower-case class names: uWSGI's decorators are used as @rpc(...)
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, function: F) -> F:
        _fabric.register_rpc(self.name, function)
        return function


class signal:
    def __init__(self, num: int, **kwargs: Any) -> None:
        self.num = num
        self.target = kwargs.get("target", "")

    def __call__(self, function: F) -> F:
        _fabric.register_signal(self.num, self.target, function)
        return function


class timer:
    rb = False

    def __init__(self, secs: float, **kwargs: Any) -> None:
        self.num = kwargs.get("signum", get_free_signal())
        self.secs = secs
        self.target = kwargs.get("target", "")

    def __call__(self, function: F) -> F:
        _fabric.register_signal(self.num, self.target, function)
        if self.rb:
            _fabric.add_rb_timer(self.num, self.secs)
        else:
            _fabric.add_timer(self.num, self.secs)
        return function


class rbtimer(timer):
    rb = True


class cron:
    def __init__(
        self, minute: int, hour: int, day: int, month: int, dayweek: int, **kwargs: Any
    ) -> None:
        self.num = kwargs.get("signum", get_free_signal())
        self.fields = (minute, hour, day, month, dayweek)
        self.target = kwargs.get("target", "")

    def __call__(self, function: F) -> F:
        _fabric.register_signal(self.num, self.target, function)
        _fabric.add_cron(self.num, *self.fields)
        return function


class filemon:
    def __init__(self, path: str, **kwargs: Any) -> None:
        self.num = kwargs.get("signum", get_free_signal())
        self.path = path
        self.target = kwargs.get("target", "")

    def __call__(self, function: F) -> F:
        _fabric.register_signal(self.num, self.target, function)
        _fabric.add_file_monitor(self.num, self.path)
        return function


class mulefunc:
    """Calling the function sends it to a mule (or a farm) and returns at once."""

    def __init__(self, target: int | str | F = 0) -> None:
        self.target: int | str = 0
        self.function: F | None = None
        if callable(target):
            self._wrap(target)
        else:
            self.target = target

    def _wrap(self, function: F) -> F:
        name = f"{function.__module__}.{function.__qualname__}"
        MULE_FUNCTIONS[name] = function
        self.function = function

        @functools.wraps(function)
        def send(*args: Any, **kwargs: Any) -> bool:
            message = pickle.dumps(
                {"service": MULEFUNC_SERVICE, "func": name, "args": args, "kwargs": kwargs}
            )
            return _fabric.mule_msg(message, self.target or None)

        self.sender = send
        return send

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.function is None:  # used as @mulefunc(target)
            return self._wrap(args[0])
        return self.sender(*args, **kwargs)


def postfork(function: F) -> F:
    """Run `function` in every worker, mule and spooler right after fork."""
    from polyhost.process_state import CURRENT

    CURRENT.postfork_hooks.append(function)
    return function


def thread(function: F) -> F:
    """Run the function in a new daemon thread each time it is called."""

    @functools.wraps(function)
    def start(*args: Any, **kwargs: Any) -> threading.Thread:
        worker = threading.Thread(target=function, args=args, kwargs=kwargs, daemon=True)
        worker.start()
        return worker

    return start


class harakiri:
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __call__(self, function: F) -> F:
        from polyhost.bridges.python import uwsgi_api

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            uwsgi_api.set_user_harakiri(self.seconds)
            try:
                return function(*args, **kwargs)
            finally:
                uwsgi_api.set_user_harakiri(0)

        return guarded


def spool(*args: Any, **kwargs: Any) -> Any:
    """@spool: run the function in the spooler, returning SPOOL_OK (uwsgi.spool underneath)."""
    return _fabric.spool_decorators().spool(*args, **kwargs)


def spoolforever(*args: Any, **kwargs: Any) -> Any:
    """@spoolforever: like @spool, but the task is spooled again after each run."""
    return _fabric.spool_decorators().spoolforever(*args, **kwargs)


def spoolraw(*args: Any, **kwargs: Any) -> Any:
    """@spoolraw: the function's return value is the spooler's answer (-2, -1, 0)."""
    return _fabric.spool_decorators().spoolraw(*args, **kwargs)


def lock(function: F) -> F:
    """Run the function holding the instance-wide user lock (never in the spooler)."""
    from polyhost.bridges.python import uwsgi_api

    @functools.wraps(function)
    def locked(*args: Any, **kwargs: Any) -> Any:
        if _fabric.i_am_the_spooler():
            return None
        uwsgi_api.lock()
        try:
            return function(*args, **kwargs)
        finally:
            uwsgi_api.unlock()

    return locked  # type: ignore[return-value]


class erlang:
    """@erlang(name): uWSGI's Erlang bridge, which polyhost does not have; says so at load."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, function: F) -> F:
        raise RuntimeError(
            f"@erlang({self.name!r}) on {function.__name__}: polyhost has no Erlang bridge "
            "(uWSGI's erlang plugin); expose the function with @rpc instead"
        )


__all__ = [
    "cron",
    "erlang",
    "filemon",
    "get_free_signal",
    "harakiri",
    "lock",
    "mulefunc",
    "postfork",
    "rbtimer",
    "rpc",
    "signal",
    "spool",
    "spoolforever",
    "spoolraw",
    "thread",
    "timer",
]
