"""`map-socket = SOCKET:WORKER[,WORKER...]`: socket number SOCKET (counted from 0 in config
order) is served only by those workers, as uWSGI's uwsgi_map_sockets(); sockets no mapping names
are served by every worker."""

from __future__ import annotations

from collections.abc import Callable

from polyhost.config import Config, option_values
from polyhost.sockets import Listener


def socket_map(config: Config, workers: int) -> dict[int, set[int]]:
    """Socket number -> the workers serving it. Raises ValueError naming a bad mapping."""
    mapping: dict[int, set[int]] = {}
    for value in option_values(config, "map-socket"):
        number, colon, wanted = value.partition(":")
        if not colon or not number.strip().isdigit():
            raise ValueError(f"map-socket = {value}: expected SOCKET:WORKER[,WORKER...]")
        ids = mapping.setdefault(int(number), set())
        for item in wanted.split(","):
            if not item.strip().isdigit() or not 1 <= int(item) <= workers:
                raise ValueError(
                    f"map-socket = {value}: invalid worker num {item.strip()!r}"
                    f" (workers are 1 to {workers})"
                )
            ids.add(int(item))
    return mapping


def worker_listeners(
    listeners: list[Listener],
    mapping: dict[int, set[int]],
    worker: int,
    log: Callable[[str], None],
) -> list[Listener]:
    """The listeners this worker serves; it closes the others (its copies of them)."""
    kept = []
    for number, listener in enumerate(listeners):
        if number not in mapping:
            kept.append(listener)
        elif worker in mapping[number]:
            log(f"mapped socket {number} ({listener.name}) to worker {worker}")
            kept.append(listener)
        else:
            listener.sock.close()
    return kept
