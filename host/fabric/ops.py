"""The fabric's operations by name, the one table every language's `uwsgi` API goes through.

Child runtimes (Perl, Ruby, PHP) send `CALL op args...` packets; in-process runtimes (Lua, JVM,
Mono) call `call(runtime, op, args)` directly; Python's `uwsgi` module calls the same functions.
Arguments and results are lists of bytes. A runtime that registers a function, signal handler or
spooler function here is called back through the hooks it installed (`polyhost.fabric.hooks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.fabric import signals
from polyhost.fabric.hooks import HOOKS
from polyhost.fabric.mules import MuleError
from polyhost.log import log
from polyhost.metrics import CHANGES
from polyhost.process_state import CURRENT
from polyhost.rpc.registry import REGISTRY, RpcError
from polyhost.rpc.remote import call_remote

if TYPE_CHECKING:
    from polyhost.fabric.cache import CacheSet

Op = Callable[[str, list[bytes]], list[bytes]]

TRUE, FALSE = b"1", b""


class FabricError(Exception):
    """An operation failed; raised in the caller's language with this message."""


def _s(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _cache_name(args: list[bytes], index: int) -> str | None:
    return _s(args[index]) if len(args) > index and args[index] else None


_REMOTE_ONLY: list[CacheSet] = []


def caches_for(name: str | None) -> CacheSet:
    """The instance's caches; `name@host:port` works even in an instance without its own."""
    if CURRENT.caches is not None:
        return CURRENT.caches
    if name and "@" in name:
        if not _REMOTE_ONLY:
            from polyhost.fabric.cache import CacheSet

            _REMOTE_ONLY.append(CacheSet([], ""))
        return _REMOTE_ONLY[0]
    raise FabricError("no cache configured: add cache2 = name=NAME,items=N")


# -- RPC ---------------------------------------------------------------------------------------
def op_rpc(runtime: str, args: list[bytes]) -> list[bytes]:
    """[node, name, args...]: node "" (or the local name) calls in this process."""
    if len(args) < 2:
        raise FabricError('rpc needs a node ("" for local) and a function name')
    node, name, rest = _s(args[0]), args[1], args[2:]
    return [call_remote(node, name, rest) if node else REGISTRY.call(name, rest)]


def op_call(runtime: str, args: list[bytes]) -> list[bytes]:
    """[name@node or name, args...] as uWSGI's `call`."""
    if not args:
        raise FabricError("call needs a function name")
    name, _, node = args[0].partition(b"@")
    if not node:  # a local call (the common one): straight to the registry
        return [REGISTRY.call(name, args[1:])]
    return op_rpc(runtime, [node, name, *args[1:]])


def op_register_rpc(runtime: str, args: list[bytes]) -> list[bytes]:
    """[name]: the caller's runtime serves `name`; it is invoked with the name as handle."""
    REGISTRY.register(args[0], runtime, args[0])
    return [TRUE]


def op_rpc_list(runtime: str, args: list[bytes]) -> list[bytes]:
    return REGISTRY.names()


# -- cache -------------------------------------------------------------------------------------
def op_cache_get(runtime: str, args: list[bytes]) -> list[bytes]:
    name = _cache_name(args, 1)
    value = caches_for(name).get(args[0], name)
    return [] if value is None else [value]


def _cache_store(method: str) -> Op:
    def op(runtime: str, args: list[bytes]) -> list[bytes]:
        expires = int(args[2] or 0) if len(args) > 2 else 0
        name = _cache_name(args, 3)
        stored = getattr(caches_for(name), method)(args[0], args[1], expires, name)
        return [TRUE if stored else FALSE]

    return op


def _cache_key_op(method: str) -> Op:
    def op(runtime: str, args: list[bytes]) -> list[bytes]:
        name = _cache_name(args, 1)
        return [TRUE if getattr(caches_for(name), method)(args[0], name) else FALSE]

    return op


def op_cache_clear(runtime: str, args: list[bytes]) -> list[bytes]:
    name = _cache_name(args, 0)
    caches_for(name).clear(name)
    return [TRUE]


def op_cache_keys(runtime: str, args: list[bytes]) -> list[bytes]:
    name = _cache_name(args, 0)
    return list(caches_for(name).keys(name))


def _cache_math(method: str, default: int) -> Op:
    def op(runtime: str, args: list[bytes]) -> list[bytes]:
        amount = int(args[1]) if len(args) > 1 and args[1] else default
        expires = int(args[2]) if len(args) > 2 and args[2] else 0
        name = _cache_name(args, 3)
        value = getattr(caches_for(name), method)(args[0], amount, expires, name)
        return [str(value).encode()]

    return op


def op_cache_num(runtime: str, args: list[bytes]) -> list[bytes]:
    name = _cache_name(args, 1)
    return [str(caches_for(name).num(args[0], name)).encode()]


# -- signals -----------------------------------------------------------------------------------
def op_signal(runtime: str, args: list[bytes]) -> list[bytes]:
    signals.CLIENT.raise_signal(int(args[0]))
    return [TRUE]


def op_register_signal(runtime: str, args: list[bytes]) -> list[bytes]:
    """[num, target]: the caller's runtime handles `num` (invoked with the number)."""
    num = int(args[0])
    signals.CLIENT.register(num, _s(args[1]) if len(args) > 1 else "", runtime, num)
    return [TRUE]


def op_add_timer(runtime: str, args: list[bytes]) -> list[bytes]:
    iterations = int(args[2]) if len(args) > 2 and args[2] else 0
    signals.CLIENT.add_timer(int(args[0]), float(args[1]), iterations)
    return [TRUE]


def op_add_rb_timer(runtime: str, args: list[bytes]) -> list[bytes]:
    iterations = int(args[2]) if len(args) > 2 and args[2] else 0
    signals.CLIENT.add_timer(int(args[0]), float(args[1]), iterations, rb=True)
    return [TRUE]


def op_add_cron(runtime: str, args: list[bytes]) -> list[bytes]:
    num, minute, hour, day, month, weekday = (int(a) for a in args[:6])
    signals.CLIENT.add_cron(num, minute, hour, day, month, weekday)
    return [TRUE]


def op_add_file_monitor(runtime: str, args: list[bytes]) -> list[bytes]:
    signals.CLIENT.add_file_monitor(int(args[0]), _s(args[1]))
    return [TRUE]


def op_signal_registered(runtime: str, args: list[bytes]) -> list[bytes]:
    return [TRUE if signals.CLIENT.registered(int(args[0])) else FALSE]


def op_signal_wait(runtime: str, args: list[bytes]) -> list[bytes]:
    num = int(args[0]) if args and args[0] else None
    return [str(signals.CLIENT.wait(num)).encode()]


def op_signal_received(runtime: str, args: list[bytes]) -> list[bytes]:
    return [str(signals.HANDLERS.received).encode()]


# -- spooler -----------------------------------------------------------------------------------
def op_spool(runtime: str, args: list[bytes]) -> list[bytes]:
    """[key, value, key, value ...]: `body`, `spooler`, `priority`, `at` are uWSGI's keys."""
    from polyhost.fabric.spool_api import spool_pairs

    if len(args) % 2:
        raise FabricError("spool needs key/value pairs")
    pairs = list(zip(args[0::2], args[1::2], strict=True))
    return [spool_pairs(pairs)]


def op_register_spooler(runtime: str, args: list[bytes]) -> list[bytes]:
    HOOKS.take_spool_tasks(runtime)
    return [TRUE]


# -- mules and process facts ---------------------------------------------------------------
def op_mule_msg(runtime: str, args: list[bytes]) -> list[bytes]:
    if CURRENT.mules is None:
        raise FabricError("mule_msg needs at least one mule (option mule)")
    target = _s(args[1]) if len(args) > 1 and args[1] else None
    return [TRUE if CURRENT.mules.send(args[0], target) else FALSE]


def op_mule_get_msg(runtime: str, args: list[bytes]) -> list[bytes]:
    if CURRENT.mules is None or not CURRENT.mules.mule_id:
        raise FabricError("mule_get_msg can only be called in a mule")
    message = CURRENT.mules.receive(CURRENT.mules.mule_id)
    return [] if message is None else [message]


def op_log(runtime: str, args: list[bytes]) -> list[bytes]:
    log(_s(b"".join(args)))
    return [TRUE]


def op_process(runtime: str, args: list[bytes]) -> list[bytes]:
    """Process facts in one round trip: worker_id, mule_id, masterpid, request_id, numproc."""
    return [
        str(v).encode()
        for v in (
            CURRENT.worker_id,
            CURRENT.mules.mule_id if CURRENT.mules else 0,
            CURRENT.master_pid,
            CURRENT.request_id() if CURRENT.request_id else 0,
            CURRENT.config.get("processes") if CURRENT.config else 1,
        )
    ]


# -- metrics (uWSGI's metric_* API) --------------------------------------------------------
def _metric_change(op_name: str) -> Op:
    default, change = CHANGES[op_name]

    def op(runtime: str, args: list[bytes]) -> list[bytes]:
        """[name, value]: TRUE when the declared metric changed, FALSE for an unknown one."""
        store = CURRENT.metrics
        name = _s(args[0]) if args else ""
        amount = int(args[1]) if len(args) > 1 and args[1] else default
        changed = store is not None and name in store.custom and store.update(name, change(amount))
        return [TRUE if changed else FALSE]

    return op


def op_chunked_read(runtime: str, args: list[bytes]) -> list[bytes]:
    """[timeout, nonblocking]: [the next chunk of the current request's body], [] for none yet
    (uwsgi::chunked_read / chunked_read_nb of a child runtime, served on the request's thread)."""
    from polyhost.protocol.chunked_body import read_chunk

    timeout = float(args[0]) if args and args[0] else 0.0
    try:
        chunk = read_chunk(timeout, len(args) > 1 and args[1] == TRUE)
    except OSError as exc:
        raise FabricError(str(exc)) from exc
    return [] if chunk is None else [chunk]


def op_metric_get(runtime: str, args: list[bytes]) -> list[bytes]:
    store = CURRENT.metrics
    return [str(store.get(_s(args[0])) if store is not None and args else 0).encode()]


OPS: dict[str, Op] = {
    "rpc": op_rpc,
    "call": op_call,
    "register_rpc": op_register_rpc,
    "rpc_list": op_rpc_list,
    "cache_get": op_cache_get,
    "cache_set": _cache_store("set"),
    "cache_update": _cache_store("update"),
    "cache_del": _cache_key_op("delete"),
    "cache_exists": _cache_key_op("exists"),
    "cache_clear": op_cache_clear,
    "cache_keys": op_cache_keys,
    "cache_inc": _cache_math("inc", 1),
    "cache_dec": _cache_math("dec", 1),
    "cache_mul": _cache_math("mul", 2),
    "cache_div": _cache_math("div", 2),
    "cache_num": op_cache_num,
    "signal": op_signal,
    "register_signal": op_register_signal,
    "add_timer": op_add_timer,
    "add_rb_timer": op_add_rb_timer,
    "add_cron": op_add_cron,
    "add_file_monitor": op_add_file_monitor,
    "signal_registered": op_signal_registered,
    "signal_wait": op_signal_wait,
    "signal_received": op_signal_received,
    "spool": op_spool,
    "register_spooler": op_register_spooler,
    "mule_msg": op_mule_msg,
    "mule_get_msg": op_mule_get_msg,
    "log": op_log,
    "process": op_process,
    "metric_get": op_metric_get,
    "chunked_read": op_chunked_read,
    **{name: _metric_change(name) for name in CHANGES},
}


def call(runtime: str, op: str, args: list[bytes]) -> list[bytes]:
    """Run a fabric operation for `runtime`; every failure is a FabricError with a message."""
    function = OPS.get(op)
    if function is None:
        raise FabricError(f"unknown fabric operation {op!r} (known: {', '.join(sorted(OPS))})")
    try:
        return function(runtime, args)
    except FabricError:
        raise
    except (RpcError, signals.SignalError, MuleError, ValueError, IndexError, OSError) as exc:
        raise FabricError(f"{op}: {exc}") from exc
    except Exception as exc:  # the cache and spooler raise their own errors
        raise FabricError(f"{op}: {type(exc).__name__}: {exc}") from exc
