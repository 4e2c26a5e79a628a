"""The fabric for runtimes that live inside the worker's own process (Lua, JVM, Mono).

An `InProcessFabric` is one runtime's seat at the fabric under an owner name (an app, or a whole
VM): its calls go to the op table (`polyhost.fabric.ops`), and it is the owner's hooks
(`polyhost.fabric.hooks`), through which the RPC registry and the signal handlers call back the
functions and handlers it registered. A function may be registered once per interpreter
instance (a "context": one Lua state per thread, say); a call runs it in the calling thread's
own context when that one registered it, else in the first context that did. The runtime
supplies how to call its own functions and handlers; `uwsgi_api` turns the op table into
uWSGI-named Python callables that convert values with the runtime's `Conversion`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from polyhost.fabric import ops, signals
from polyhost.fabric.hooks import HOOKS, RuntimeHooks
from polyhost.rpc.registry import RpcError

#: calls one registered function with the call's arguments; returns the reply bytes
FunctionInvoker = Callable[[Any, list[bytes]], bytes]
#: runs one registered signal handler with the signal number
HandlerInvoker = Callable[[Any, int], None]


class InProcessFabric(RuntimeHooks):
    """One in-process runtime on the fabric: op calls out, registered functions called back.

    It is the owner's hooks (`polyhost.fabric.hooks`): making it installs it for `owner`.
    """

    def __init__(
        self,
        owner: str,
        invoke_function: FunctionInvoker,
        invoke_handler: HandlerInvoker,
        current_context: Callable[[], object] = lambda: None,
    ) -> None:
        self.owner = owner
        self.invoke_function = invoke_function
        self.invoke_handler = invoke_handler
        self.current_context = current_context
        #: RPC name -> {context: function}, contexts in the order they registered
        self.functions: dict[bytes, dict[object, Any]] = {}
        #: signal number -> {context: handler}
        self.handlers: dict[int, dict[object, Any]] = {}
        self._lock = threading.Lock()
        HOOKS.install(owner, self)

    def call(self, op: str, args: list[bytes]) -> list[bytes]:
        """A fabric operation (see ops.OPS); failures raise ops.FabricError with the reason."""
        return ops.call(self.owner, op, args)

    def register_rpc(self, name: bytes, function: Any, context: object = None) -> None:
        """`function` serves the RPC `name` (replacing what `context` registered before)."""
        self.call("register_rpc", [name])
        with self._lock:
            self.functions.setdefault(name, {})[context] = function

    def register_signal(self, num: int, target: str, handler: Any, context: object = None) -> None:
        """`handler` runs when signal `num` reaches this process; `target` goes to the master."""
        self.call("register_signal", [str(num).encode(), target.encode()])
        with self._lock:
            self.handlers.setdefault(int(num), {})[context] = handler

    def _pick(self, registered: dict[object, Any]) -> Any:
        own = registered.get(self.current_context())
        return own if own is not None else next(iter(registered.values()))

    def call_rpc(self, handle: object, args: list[bytes]) -> bytes:
        name = bytes(handle)  # type: ignore[call-overload]
        registered = self.functions.get(name)
        if not registered:
            raise RpcError(
                f"RPC function {name.decode('latin-1')!r} is not registered by the "
                f"{self.owner} runtime in this process"
            )
        try:
            return self.invoke_function(self._pick(registered), args)
        except Exception as exc:
            raise RpcError(
                f"RPC function {name.decode('latin-1')!r} ({self.owner}) failed: {exc}"
            ) from None

    def run_signal(self, handle: object, num: int) -> None:
        registered = self.handlers.get(num)
        if not registered:
            raise signals.SignalError(f"signal {num} has no {self.owner} handler in this process")
        self.invoke_handler(self._pick(registered), num)


@dataclass(frozen=True)
class Conversion:
    """How a runtime's values cross: to bytes for the fabric, and back."""

    to_bytes: Callable[[Any], bytes]
    from_bytes: Callable[[bytes], Any]
    #: a list of converted values as the runtime wants it (a Lua table, say)
    to_list: Callable[[list[Any]], Any] = list


def uwsgi_api(
    fabric: InProcessFabric, conversion: Conversion, context: object = None
) -> dict[str, Callable[..., Any]]:
    """uWSGI's fabric functions by name, as Python callables taking and giving the runtime's
    values; `context` is the interpreter the registrations made through them belong to.
    Optional arguments (None) take uWSGI's defaults; failures raise ops.FabricError."""
    to_bytes, value, call = conversion.to_bytes, conversion.from_bytes, fabric.call

    def opt(item: Any) -> bytes:
        return b"" if item is None else to_bytes(item)

    def number(item: Any) -> bytes:
        """A count, number of seconds or signal: digits for the op table to parse."""
        if isinstance(item, int | float) and not isinstance(item, bool):
            return str(item).encode()
        return opt(item)

    def true(op: str, args: list[bytes]) -> bool:
        return call(op, args)[0] == ops.TRUE

    def register_rpc(name: Any, function: Any) -> bool:
        fabric.register_rpc(to_bytes(name), function, context)
        return True

    def rpc(node: Any, name: Any, *args: Any) -> Any:
        return value(call("rpc", [opt(node), to_bytes(name), *map(to_bytes, args)])[0])

    def call_(name: Any, *args: Any) -> Any:
        return value(call("call", [to_bytes(name), *map(to_bytes, args)])[0])

    def rpc_list() -> Any:
        return conversion.to_list([value(name) for name in call("rpc_list", [])])

    def cache_get(key: Any, cache: Any = None) -> Any:
        found = call("cache_get", [to_bytes(key), opt(cache)])
        return value(found[0]) if found else None

    def cache_set(key: Any, data: Any, expires: Any = None, cache: Any = None) -> bool:
        return true("cache_set", [to_bytes(key), to_bytes(data), number(expires), opt(cache)])

    def cache_update(key: Any, data: Any, expires: Any = None, cache: Any = None) -> bool:
        return true("cache_update", [to_bytes(key), to_bytes(data), number(expires), opt(cache)])

    def cache_del(key: Any, cache: Any = None) -> bool:
        return true("cache_del", [to_bytes(key), opt(cache)])

    def cache_exists(key: Any, cache: Any = None) -> bool:
        return true("cache_exists", [to_bytes(key), opt(cache)])

    def cache_clear(cache: Any = None) -> bool:
        return true("cache_clear", [opt(cache)])

    def cache_keys(cache: Any = None) -> Any:
        return conversion.to_list([value(key) for key in call("cache_keys", [opt(cache)])])

    def math(op: str) -> Callable[..., int]:
        def cache_math(key: Any, amount: Any = None, expires: Any = None, cache: Any = None) -> int:
            args = [to_bytes(key), number(amount), number(expires), opt(cache)]
            return int(call(op, args)[0])

        return cache_math

    def register_signal(num: Any, target: Any, handler: Any) -> bool:
        try:
            number_ = int(num)
        except (TypeError, ValueError):
            raise ops.FabricError(f"register_signal: {num!r} is not a signal number") from None
        fabric.register_signal(number_, "" if target is None else str(target), handler, context)
        return True

    def signal(num: Any) -> bool:
        return true("signal", [number(num)])

    def signal_registered(num: Any) -> bool:
        return true("signal_registered", [number(num)])

    def add_timer(num: Any, seconds: Any, iterations: Any = None) -> bool:
        return true("add_timer", [number(num), number(seconds), number(iterations)])

    def add_rb_timer(num: Any, seconds: Any, iterations: Any = None) -> bool:
        return true("add_rb_timer", [number(num), number(seconds), number(iterations)])

    def add_cron(num: Any, minute: Any, hour: Any, day: Any, month: Any, weekday: Any) -> bool:
        return true("add_cron", [number(v) for v in (num, minute, hour, day, month, weekday)])

    def add_file_monitor(num: Any, path: Any) -> bool:
        return true("add_file_monitor", [number(num), to_bytes(path)])

    def mule_msg(message: Any, target: Any = None) -> bool:
        return true("mule_msg", [to_bytes(message), number(target)])

    def chunked_read(timeout: Any = None) -> Any:
        """The next chunk of the request body ("" at its end), as lua_plugin.c's."""
        found = call("chunked_read", [number(timeout), b""])
        return value(found[0] if found else b"")

    def chunked_read_nb() -> Any:
        """The next chunk if a whole one has arrived, else nil (uWSGI's Lua raises there)."""
        found = call("chunked_read", [b"0", ops.TRUE])
        return value(found[0]) if found else None

    def metric_get(name: Any) -> int:
        return int(call("metric_get", [to_bytes(name)])[0])

    def metric(op: str) -> Callable[..., bool]:
        def change(name: Any, amount: Any = None) -> bool:
            return true(op, [to_bytes(name), number(amount)])

        return change

    return {
        "metric_get": metric_get,
        **{op: metric(op) for op in ops.CHANGES},
        "register_rpc": register_rpc,
        "rpc": rpc,
        "call": call_,
        "rpc_list": rpc_list,
        "cache_get": cache_get,
        "cache_set": cache_set,
        "cache_update": cache_update,
        "cache_del": cache_del,
        "cache_exists": cache_exists,
        "cache_clear": cache_clear,
        "cache_keys": cache_keys,
        "cache_inc": math("cache_inc"),
        "cache_dec": math("cache_dec"),
        "cache_mul": math("cache_mul"),
        "cache_div": math("cache_div"),
        "register_signal": register_signal,
        "signal": signal,
        "signal_registered": signal_registered,
        "add_timer": add_timer,
        "add_rb_timer": add_rb_timer,
        "add_cron": add_cron,
        "add_file_monitor": add_file_monitor,
        "mule_msg": mule_msg,
        "chunked_read": chunked_read,
        "chunked_read_nb": chunked_read_nb,
    }
