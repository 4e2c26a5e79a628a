"""The bodies of the master's non-worker processes: mules and spoolers.

Each loads the instance's runtimes (so every language's signal handlers, mule functions and
spooler functions exist there), then serves its queue; signals arrive on the control channel.
"""

from __future__ import annotations

import os
import runpy
import select
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

from polyhost.dispatch import Dispatcher, RuntimeContext
from polyhost.fabric import signals
from polyhost.fabric.hooks import HOOKS
from polyhost.log import log, log_exception
from polyhost.process_state import CURRENT

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.fabric.instance import Fabric
    from polyhost.fabric.mules import MuleSpec


def load_runtimes(config: Config, dispatcher: Dispatcher, wid: int) -> None:
    ctx = RuntimeContext(config, log, wid, 1)
    dispatcher.post_fork(ctx)
    CURRENT.run_postfork_hooks()


def run_mule(config: Config, dispatcher: Dispatcher, fabric: Fabric, spec: MuleSpec) -> int:
    """A mule: its script, or a loop running signal handlers and mule functions."""
    assert fabric.mules is not None
    fabric.mules.keep_only(spec.id)
    load_runtimes(config, dispatcher, 0)
    log(f"mule {spec.id} (pid: {os.getpid()}) ready" + (f": {spec.script}" if spec.script else ""))
    if spec.script:
        # the script owns the main thread (it usually loops on mule_get_msg); signals run aside
        signals.CLIENT.shared_reader = True
        threading.Thread(target=_signal_loop, daemon=True, name="signals").start()
        sys.argv = [spec.script]
        try:
            runpy.run_path(spec.script, run_name="__main__")
        except SystemExit as exc:
            return int(exc.code or 0) if isinstance(exc.code, int) else 1
        except Exception as exc:
            log_exception(f"mule {spec.id}: {spec.script} failed:", exc)
            return 1
        return 0
    channel = signals.CLIENT.channel
    readers = [*fabric.mules.readers(spec.id), *([channel] if channel else [])]
    while True:
        readable, _, _ = select.select(readers, [], [])
        for reader in readable:
            if reader is channel:
                signals.CLIENT.dispatch_pending()
                continue
            try:
                message = reader.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            _mule_message(spec.id, message)


def _signal_loop() -> None:
    channel = signals.CLIENT.channel
    while channel is not None:
        select.select([channel], [], [])
        signals.CLIENT.dispatch_pending()


def _mule_message(mule_id: int, message: bytes) -> None:
    """A message nobody waits for: offered to the runtimes' hooks (Python's mulefunc calls and
    `uwsgi.mule_msg_hook`, say)."""
    if not HOOKS.mule_message(message):
        log(
            f"mule {mule_id}: message of {len(message)} bytes and nothing to handle it "
            "(set uwsgi.mule_msg_hook or run a mule script that calls mule_get_msg)"
        )


def run_spooler(config: Config, dispatcher: Dispatcher, fabric: Fabric, directory: str) -> int:
    """A spooler process for one directory or Redis stream."""
    from polyhost.fabric.redis_url import is_redis_url, redacted
    from polyhost.fabric.spooler import Spooler, TaskRunner

    CURRENT.spooler_dir = directory
    load_runtimes(config, dispatcher, 0)
    settings: dict[str, Any] = {
        "frequency": config.get("spooler-frequency"),
        "max_tasks": config.get("spooler-max-tasks"),
        "harakiri": config.get("spooler-harakiri"),
        "log": log,
    }
    loop: Any
    if is_redis_url(directory):
        from polyhost.fabric.spooler_redis import StreamSpec, StreamSpooler

        spooler: TaskRunner = TaskRunner(redacted(directory), **settings)
        timeout = config.get("socket-timeout")
        spec = StreamSpec(directory, settings["harakiri"])
        loop = StreamSpooler(spec, spooler, timeout).loop
    else:
        spooler = Spooler(directory, ordered=config.get("spooler-ordered"), **settings)
        loop = spooler.loop
    CURRENT.spooler = spooler
    signal.signal(signal.SIGUSR1, lambda *_: spooler.wake())  # uWSGI's "new task" nudge
    signals.CLIENT.shared_reader = True
    threading.Thread(target=_signal_loop, daemon=True, name="signals").start()
    log(f"spooler for {spooler.directory} (pid: {os.getpid()}) ready")

    def report(vars_: dict[bytes, bytes], body: bytes, task_name: bytes) -> object:
        try:
            return HOOKS.run_spooler(vars_, body, task_name)
        finally:  # the master shows the counters in the stats' spoolers[]
            signals.CLIENT.send(["spooler_stats", directory, spooler.tasks + 1])

    loop(report, lambda: False)
    return 0
