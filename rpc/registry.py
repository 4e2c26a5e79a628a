"""The per-process RPC registry: name -> (runtime, handle), called from any language.

Every worker loads every app, so every function exists in every worker and a local call runs in
the caller's own process, in whichever runtime registered it, through that owner's hooks
(`polyhost.fabric.hooks`). Arguments and results are bytes (uWSGI semantics).

A caller in the owner's own runtime may skip the hooks: `direct(owner)` is a dict name -> the
function itself for the functions that owner registered and can call directly
(`RuntimeHooks.direct_rpc`), kept in step with every (re-)registration, so a Python -> Python
call is a dict lookup and a call, as in uWSGI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from polyhost.fabric.hooks import HOOKS, RuntimeHooks
from polyhost.rpc.call_count import CallCounter

#: uWSGI's limits: names are < 256 bytes, at most 255 arguments
MAX_NAME = 255
MAX_ARGS = 255


class RpcError(Exception):
    """An RPC call or registration failed; the message says which function and why."""


class RpcLimitError(RpcError):
    """A call over uWSGI's limits (name, argument count, packet size): the caller's to fix."""


@dataclass
class Registry:
    """Functions registered in this process: name -> (owner, handle)."""

    functions: dict[bytes, tuple[str, object]] = field(default_factory=dict)
    #: owner -> {name: function} for the functions that owner can call itself
    directs: dict[str, dict[bytes, Callable[..., object]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: every call, local or from a client, counted (the metrics' core.rpc_calls)
    counter: CallCounter = field(default_factory=CallCounter)

    def register(self, name: bytes | str, runtime: str, handle: object) -> None:
        key = name.encode() if isinstance(name, str) else bytes(name)
        if not key:
            raise RpcError("an RPC function needs a name")
        if len(key) > MAX_NAME:
            raise RpcError(f"RPC name {key[:40]!r}... is {len(key)} bytes: the limit is {MAX_NAME}")
        hooks = HOOKS.get(runtime)
        function = None if hooks is None else hooks.direct_rpc(handle)
        with self.lock:
            self.functions[key] = (runtime, handle)
            for owner, functions in self.directs.items():
                if owner != runtime:
                    functions.pop(key, None)
            if function is None:
                self.direct(runtime).pop(key, None)
            else:
                self.direct(runtime)[key] = function

    def direct(self, owner: str) -> dict[bytes, Callable[..., object]]:
        """The functions `owner` registered and may call itself (the same dict every time)."""
        functions = self.directs.get(owner)
        if functions is None:
            functions = self.directs.setdefault(owner, {})
        return functions

    def names(self) -> list[bytes]:
        return [name for name in self.functions if not name.startswith(b"__polyhost")]

    def call(self, name: bytes | str, args: list[bytes]) -> bytes:
        # the common call (every call from another language): a bytes name that is registered,
        # within the argument limit; a registered name is within the name limit already
        entry = self.functions.get(name) if type(name) is bytes else None  # type: ignore[arg-type]
        if entry is not None and len(args) <= MAX_ARGS:
            hooks = HOOKS.get(entry[0])
            if hooks is not None:
                self.counter.count()
                return hooks.call_rpc(entry[1], args)
        return self._checked_call(name, args)

    def _checked_call(self, name: bytes | str, args: list[bytes]) -> bytes:
        key = name.encode() if isinstance(name, str) else bytes(name)
        check_call(key, args)
        entry = self.functions.get(key)
        if entry is None:
            known = ", ".join(sorted(n.decode("latin-1") for n in self.names())) or "none"
            raise RpcError(
                f"no RPC function named {key.decode('latin-1')!r} in this instance "
                f"(registered: {known})"
            )
        runtime, handle = entry
        self.counter.count()
        hooks = HOOKS.get(runtime)
        if hooks is None:
            raise RpcError(
                f"RPC function {key.decode('latin-1')!r} belongs to the {runtime} "
                "runtime, which is not running in this process"
            )
        return hooks.call_rpc(handle, args)


def check_call(name: bytes, args: list[bytes]) -> None:
    """uWSGI's limits on a call, checked the same way for local and remote calls."""
    if len(name) > MAX_NAME:
        raise RpcLimitError(f"RPC name of {len(name)} bytes is over the limit of {MAX_NAME}")
    if len(args) > MAX_ARGS:
        raise RpcLimitError(
            f"RPC call of {name.decode('latin-1')!r} with {len(args)} arguments: "
            f"the limit is {MAX_ARGS}"
        )


def to_bytes(value: object) -> bytes:
    """What a function returned, as the bytes RPC carries (str as UTF-8, None as empty)."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return str(value).encode("utf-8")


class OwnFunctions(RuntimeHooks):
    """The registry's own functions, owned by "polyhost": Python callables of the arguments."""

    def call_rpc(self, handle: object, args: list[bytes]) -> bytes:
        return to_bytes(handle(*args))  # type: ignore[operator]


REGISTRY = Registry()
HOOKS.install("polyhost", OwnFunctions())
#: what the gRPC gateway's List asks the workers (hidden from rpc_list)
REGISTRY.register(b"__polyhost_rpc_list__", "polyhost", lambda: b"\n".join(REGISTRY.names()))
