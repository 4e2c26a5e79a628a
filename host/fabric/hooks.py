"""How the fabric calls a runtime back: one `RuntimeHooks` object per owner, in `HOOKS`.

An owner is what registered something in this process: a runtime ("python", "jvm") or one app of
it ("psgi:0"). A runtime that can own RPC functions, signal handlers, spooler functions or mule
message handlers installs one hooks object per owner, once, when it starts in a process (forked
processes inherit it); the RPC registry, the signal table, the spooler and the mules call every
runtime through it and know no language.
"""

from __future__ import annotations

from collections.abc import Callable

from polyhost.fabric.spooler import SPOOL_IGNORE


class RuntimeHooks:
    """What the fabric may ask of an owner. A runtime overrides what it supports; the defaults
    say the owner has no such thing."""

    def call_rpc(self, handle: object, args: list[bytes]) -> bytes:
        """Run the RPC function `handle` (what the owner registered) with `args`."""
        raise NotImplementedError(f"{type(self).__name__} has no RPC functions")

    def direct_rpc(self, handle: object) -> Callable[..., object] | None:
        """`handle` as a function a caller of the owner's own runtime may call itself, with the
        arguments as bytes, converting the result as call_rpc would (a local call is then a
        dict lookup and a call); None when every call must go through call_rpc."""
        return None

    def run_signal(self, handle: object, num: int) -> None:
        """Run the handler `handle` the owner registered for signal `num`."""
        raise NotImplementedError(f"{type(self).__name__} has no signal handlers")

    def run_spooler(self, task: dict[bytes, bytes], body: bytes, task_name: bytes) -> object:
        """Offer a spooler task: SPOOL_OK / SPOOL_RETRY when taken, SPOOL_IGNORE when not."""
        return SPOOL_IGNORE

    def mule_message(self, message: bytes) -> bool:
        """Offer a mule message nobody waits for; True when the owner handled it."""
        return False


class HookTable:
    """The hooks of every owner in this process, and who takes spooler tasks, in order."""

    def __init__(self) -> None:
        self.owners: dict[str, RuntimeHooks] = {}
        #: owners with a spooler function, in the order they declared it
        self.spoolers: list[str] = []

    def install(self, owner: str, hooks: RuntimeHooks) -> None:
        self.owners[owner] = hooks

    def get(self, owner: str) -> RuntimeHooks | None:
        return self.owners.get(owner)

    def take_spool_tasks(self, owner: str) -> None:
        """`owner` has a spooler function: offer it tasks after those that declared one before."""
        if owner not in self.spoolers:
            self.spoolers.append(owner)

    def run_spooler(self, task: dict[bytes, bytes], body: bytes, task_name: bytes) -> object:
        """Offer a task to every owner with a spooler function, in order, as uWSGI offers it
        to every plugin: the first that does not answer SPOOL_IGNORE wins."""
        for owner in self.spoolers:
            hooks = self.owners.get(owner)
            if hooks is not None:
                code = hooks.run_spooler(task, body, task_name)
                if code != SPOOL_IGNORE:
                    return code
        return SPOOL_IGNORE

    def mule_message(self, message: bytes) -> bool:
        """Offer a mule message to every owner; False when none handled it."""
        return any(hooks.mule_message(message) for hooks in list(self.owners.values()))


HOOKS = HookTable()
