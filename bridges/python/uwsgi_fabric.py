"""The fabric half of Python's `uwsgi` module: RPC, cache, signals, spooler, mules.

Thin: every function converts Python values to bytes and goes through `polyhost.fabric.ops` (or
the objects behind it), so Python behaves exactly like every other language. Failures raise
`uwsgi.error`-style exceptions (here FabricError / ValueError) with the reason.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from polyhost.bridges.python.hooks import rpc_result
from polyhost.fabric import ops, signals
from polyhost.fabric.ops import FabricError
from polyhost.process_state import CURRENT
from polyhost.rpc.registry import MAX_ARGS, REGISTRY


def _b(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return str(value).encode()


def _cache(cache: str | bytes | None) -> bytes:
    return b"" if cache is None else _b(cache)


# -- RPC -------------------------------------------------------------------------------------
def register_rpc(name: str | bytes, function: Callable[..., Any], argc: int = 0) -> bool:
    REGISTRY.register(_b(name), "python", function)
    return True


#: the RPC functions Python registered in this process: a local call to one is a direct call
_PYTHON_FUNCTIONS = REGISTRY.direct("python")
_COUNTER = REGISTRY.counter
_COUNTS = _COUNTER.view
#: `rpc`'s "no argument given" (so one argument needs no tuple)
_NO_ARG: Any = object()


def rpc(node: str | bytes | None, name: str | bytes, arg: Any = _NO_ARG, *more: Any) -> bytes:
    """uWSGI's uwsgi.rpc(node, name, *args).

    The fast path is the common local call: one bytes argument to a function Python registered
    here, in a process that has claimed its counter slot. It is counted in line and called
    without building an argument tuple; every other call (no or several arguments, conversions,
    the limits, other owners, remote nodes, errors) takes `_rpc`, which counts and raises the
    same way.
    """
    if not node and not more and type(arg) is bytes:
        function = _PYTHON_FUNCTIONS.get(name)  # type: ignore[call-overload]
        if function is not None:
            index = _COUNTER.index
            if index >= 0:
                _COUNTS[index] += 1
                result = function(arg)
                return result if type(result) is bytes else rpc_result(result)
    return _rpc(node, name, () if arg is _NO_ARG else (arg, *more))


def _rpc(node: str | bytes | None, name: str | bytes, args: tuple[Any, ...]) -> bytes:
    if not node:  # a local call
        function = _PYTHON_FUNCTIONS.get(name)  # type: ignore[call-overload]
        if function is not None and len(args) <= MAX_ARGS:
            if any(type(arg) is not bytes for arg in args):
                args = tuple(map(_b, args))
            _COUNTER.count()
            result = function(*args)
            return result if type(result) is bytes else rpc_result(result)
        return REGISTRY.call(_b(name), [a if type(a) is bytes else _b(a) for a in args])
    return ops.call("python", "rpc", [_b(node), _b(name), *map(_b, args)])[0]


def call(name: str | bytes, *args: Any) -> bytes:
    return ops.call("python", "call", [_b(name), *map(_b, args)])[0]


def rpc_list() -> tuple[bytes, ...]:
    return tuple(REGISTRY.names())


# -- cache -------------------------------------------------------------------------------------
# Python calls the CacheSet behind the op table directly: the same objects and semantics, without
# the list-of-bytes round trip the other languages need (these are the hot fabric calls).
def _name(cache: str | bytes | None) -> str | None:
    if not cache:
        return None
    return cache.decode() if isinstance(cache, bytes) else cache


def _caches(cache: str | None) -> Any:
    return CURRENT.caches or ops.caches_for(cache)


def cache_get(key: str | bytes, cache: str | bytes | None = None) -> bytes | None:
    name = _name(cache)
    return _caches(name).get(key if type(key) is bytes else _b(key), name)


def cache_set(
    key: str | bytes, value: bytes, expires: int = 0, cache: str | bytes | None = None
) -> bool:
    name = _name(cache)
    return _caches(name).set(key if type(key) is bytes else _b(key), _b(value), int(expires), name)


def cache_update(
    key: str | bytes, value: bytes, expires: int = 0, cache: str | bytes | None = None
) -> bool:
    name = _name(cache)
    return _caches(name).update(
        key if type(key) is bytes else _b(key), _b(value), int(expires), name
    )


def cache_del(key: str | bytes, cache: str | bytes | None = None) -> bool:
    name = _name(cache)
    return _caches(name).delete(_b(key), name)


def cache_exists(key: str | bytes, cache: str | bytes | None = None) -> bool:
    name = _name(cache)
    return _caches(name).exists(_b(key), name)


def cache_clear(cache: str | bytes | None = None) -> bool:
    name = _name(cache)
    _caches(name).clear(name)
    return True


def cache_keys(cache: str | bytes | None = None) -> list[bytes]:
    name = _name(cache)
    return list(_caches(name).keys(name))


def _math(method: str, default: int) -> Callable[..., int]:
    def function(
        key: str | bytes, amount: int = default, expires: int = 0, cache: str | bytes | None = None
    ) -> int:
        name = _name(cache)
        return int(getattr(_caches(name), method)(_b(key), int(amount), int(expires), name))

    function.__name__ = f"cache_{method}"
    return function


cache_inc, cache_dec = _math("inc", 1), _math("dec", 1)
cache_mul, cache_div = _math("mul", 2), _math("div", 2)


def cache_num(key: str | bytes, cache: str | bytes | None = None) -> int:
    name = _name(cache)
    return int(_caches(name).num(_b(key), name))


# -- signals ---------------------------------------------------------------------------------
def register_signal(num: int, who: str, handler: Callable[[int], Any]) -> bool:
    signals.CLIENT.register(num, who or "", "python", handler)
    return True


def signal(num: int, remote: str | None = None) -> None:
    if remote:
        from polyhost.fabric.packets import send_remote_signal

        send_remote_signal(remote, num)
        return
    signals.CLIENT.raise_signal(num)


def signal_registered(num: int) -> bool:
    return signals.CLIENT.registered(num)


def signal_wait(num: int | None = None) -> int:
    return signals.CLIENT.wait(num)


def signal_received() -> int:
    return signals.HANDLERS.received


def add_timer(num: int, seconds: float, iterations: int = 0) -> bool:
    signals.CLIENT.add_timer(num, seconds, iterations)
    return True


def add_rb_timer(num: int, seconds: float, iterations: int = 0) -> bool:
    signals.CLIENT.add_timer(num, seconds, iterations, rb=True)
    return True


def add_cron(num: int, minute: int, hour: int, day: int, month: int, weekday: int) -> bool:
    signals.CLIENT.add_cron(num, minute, hour, day, month, weekday)
    return True


def add_file_monitor(num: int, path: str) -> bool:
    signals.CLIENT.add_file_monitor(num, path)
    return True


# -- spooler ---------------------------------------------------------------------------------
def spool(message: dict[Any, Any] | None = None, **kwargs: Any) -> bytes:
    """uWSGI's spool(): bytes keys and values (ValueError otherwise); `body` leaves the dict."""
    task = dict(message or {})
    task.update(kwargs)
    pairs: list[tuple[bytes, bytes]] = []
    for key, value in task.items():
        if not isinstance(value, bytes):
            raise ValueError(
                f"spooler values must be bytes, got {type(value).__name__} for "
                f"{key!r} (as uWSGI with Python 3)"
            )
        pairs.append((_b(key), value))
    if message is not None:
        message.pop(b"body", None)
        message.pop("body", None)
    return ops.call("python", "spool", [item for pair in pairs for item in pair])[0]


send_to_spooler = spool


def spooler_pid() -> int:
    return os.getpid() if CURRENT.spooler_dir else 0


def i_am_the_spooler() -> bool:
    return bool(CURRENT.spooler_dir)


_DECORATORS: list[Any] = []


def spool_decorators() -> Any:
    """uwsgidecorators' spool family, made on first use; like uWSGI's module, it installs its
    dispatcher as `uwsgi.spooler` unless the app set its own."""
    if not _DECORATORS:
        from polyhost.bridges.python.spool_decorators import SpoolDecorators
        from polyhost.fabric.spooler import spools_to_redis

        decorators = SpoolDecorators(
            spool,
            lambda: bool(CURRENT.spool_dirs),
            lambda spooler: spools_to_redis(CURRENT.spool_dirs, spooler),
        )
        module = sys.modules.get("uwsgi")
        if module is not None and getattr(module, "spooler", None) is None:
            module.spooler = decorators.manage_spool_request
        _DECORATORS.append(decorators)
    return _DECORATORS[0]


# -- mules -----------------------------------------------------------------------------------
def mule_msg(message: str | bytes, mule: int | str | None = None) -> bool:
    args = [_b(message), b"" if mule is None else _b(mule)]
    return ops.call("python", "mule_msg", args)[0] == ops.TRUE


def farm_msg(farm: str, message: str | bytes) -> bool:
    return mule_msg(message, farm)


def mule_get_msg(
    signals_: bool = True, farms: bool = True, buffer_size: int = 65536, timeout: int = -1
) -> bytes | None:
    if CURRENT.mules is None or not CURRENT.mules.mule_id:
        raise FabricError("mule_get_msg can only be called in a mule")
    return CURRENT.mules.receive(CURRENT.mules.mule_id, None if timeout < 0 else timeout)


farm_get_msg = mule_get_msg


def mule_id() -> int:
    return CURRENT.mules.mule_id if CURRENT.mules else 0


def in_farm(name: str | None = None) -> bool:
    mules = CURRENT.mules
    if mules is None or not mules.mule_id:
        return False
    return any(
        mules.mule_id in ids for farm, ids in mules.members.items() if name is None or farm == name
    )


# -- metrics ---------------------------------------------------------------------------------
def metric_get(name: str | bytes) -> int:
    return int(ops.call("python", "metric_get", [_b(name)])[0])


def _metric(op: str) -> Callable[..., bool | None]:
    def change(name: str | bytes, value: int | None = None) -> bool | None:
        """True once the metric changed; None (as uWSGI) when no `metric` option declares it."""
        args = [_b(name)] if value is None else [_b(name), str(int(value)).encode()]
        return True if ops.call("python", op, args)[0] == ops.TRUE else None

    change.__name__ = op
    return change


metric_set, metric_inc, metric_dec = (
    _metric("metric_set"),
    _metric("metric_inc"),
    _metric("metric_dec"),
)
metric_mul, metric_div = _metric("metric_mul"), _metric("metric_div")


EXPORTS = [
    register_rpc,
    rpc,
    call,
    rpc_list,
    cache_get,
    cache_set,
    cache_update,
    cache_del,
    cache_exists,
    cache_clear,
    cache_keys,
    cache_inc,
    cache_dec,
    cache_mul,
    cache_div,
    cache_num,
    register_signal,
    signal,
    signal_registered,
    signal_wait,
    signal_received,
    add_timer,
    add_rb_timer,
    add_cron,
    add_file_monitor,
    spool,
    spooler_pid,
    i_am_the_spooler,
    mule_msg,
    farm_msg,
    mule_get_msg,
    mule_id,
    in_farm,
    metric_get,
    metric_set,
    metric_inc,
    metric_dec,
    metric_mul,
    metric_div,
]
