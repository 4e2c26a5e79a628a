"""The `uwsgi` module that Python apps import, as real uWSGI injects it.

Process facts (`worker_id`, `masterpid`, `numproc`, `opt` ...), control (`reload`, `stop`,
`set_user_harakiri`), the fabric (rpc, cache, signals, spooler, mules) from uwsgi_fabric and
the WebSocket calls from uwsgi_websocket, chunked input from uwsgi_chunked.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import types
from typing import TYPE_CHECKING

from polyhost import UWSGI_COMPAT_VERSION, async_cores
from polyhost.bridges.python import uwsgi_async, uwsgi_chunked, uwsgi_fabric, uwsgi_websocket
from polyhost.log import log
from polyhost.process_state import CURRENT
from polyhost.shared_lock import shared_lock

if TYPE_CHECKING:
    from polyhost.config import Config

SPOOL_OK = -2
SPOOL_RETRY = -1
SPOOL_IGNORE = 0


def worker_id() -> int:
    return CURRENT.worker_id


def masterpid() -> int:
    return CURRENT.master_pid


def request_id() -> int:
    return CURRENT.request_id() if CURRENT.request_id else 0


def total_requests() -> int:
    return CURRENT.board.total_requests() if CURRENT.board else 0


def set_user_harakiri(seconds: int) -> None:
    if CURRENT.set_user_harakiri:
        CURRENT.set_user_harakiri(int(seconds))


def reload() -> bool:
    """Graceful reload of the whole instance (SIGHUP to the master)."""
    os.kill(CURRENT.master_pid, signal.SIGHUP)
    return True


def stop() -> bool:
    """Graceful shutdown of the instance (SIGTERM to the master: die-on-term)."""
    os.kill(CURRENT.master_pid, signal.SIGTERM)
    return True


#: uWSGI's user lock 0, made at import (in the master, which imports every bridge before fork)
#: so that every worker, mule and spooler shares it: a POSIX semaphore
_USER_LOCK = shared_lock()


def lock(num: int = 0) -> None:
    """Take the instance-wide user lock (uWSGI's `uwsgi.lock()`; only lock 0 exists)."""
    if num != 0:
        raise ValueError(f"uwsgi.lock({num}): polyhost has one user lock, number 0")
    _USER_LOCK.acquire()


def unlock(num: int = 0) -> None:
    if num != 0:
        raise ValueError(f"uwsgi.unlock({num}): polyhost has one user lock, number 0")
    _USER_LOCK.release()


def install(config: Config) -> types.ModuleType:
    """Create (once) and register the `uwsgi` module in sys.modules."""
    existing = sys.modules.get("uwsgi")
    if isinstance(existing, types.ModuleType) and getattr(existing, "__polyhost__", False):
        return existing
    module = types.ModuleType("uwsgi", "polyhost's implementation of uWSGI's Python API")
    functions = (
        worker_id,
        masterpid,
        request_id,
        total_requests,
        set_user_harakiri,
        reload,
        stop,
        lock,
        unlock,
        *uwsgi_fabric.EXPORTS,
        *uwsgi_websocket.EXPORTS,
        *uwsgi_chunked.EXPORTS,
        *uwsgi_async.EXPORTS,
        *async_cores.EXPORTS,
    )
    for function in functions:
        setattr(module, function.__name__, function)
    module.send_to_spooler = uwsgi_fabric.spool
    module.farm_get_msg = uwsgi_fabric.mule_get_msg
    module.post_fork_hook = None
    module.spooler = None
    module.mule_msg_hook = None
    module.__dict__.update(
        __polyhost__=True,
        log=log,
        SPOOL_OK=SPOOL_OK,
        SPOOL_RETRY=SPOOL_RETRY,
        SPOOL_IGNORE=SPOOL_IGNORE,
        numproc=config.get("processes"),
        buffer_size=config.get("buffer-size"),
        opt=config.as_uwsgi_opt(),
        started_on=CURRENT.started_on,
        hostname=socket.gethostname().encode(),
        version=UWSGI_COMPAT_VERSION.encode(),
        version_info=(*(int(p) for p in UWSGI_COMPAT_VERSION.split(".")), 0, ""),
        magic_table={},
    )
    if CURRENT.caches is not None:  # the hot cache calls bound straight to the shared caches
        caches = CURRENT.caches
        module.cache_get, module.cache_set = caches.get, caches.set
        module.cache_update, module.cache_exists = caches.update, caches.exists
    sys.modules["uwsgi"] = module
    CURRENT.postfork_hooks.append(lambda: module.post_fork_hook and module.post_fork_hook())
    from polyhost.bridges.python import uwsgidecorators

    sys.modules["uwsgidecorators"] = uwsgidecorators
    return module
