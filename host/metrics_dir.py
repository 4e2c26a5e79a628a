"""`metrics-dir DIR`: each metric's value in a file DIR/NAME, as uWSGI's metrics thread keeps it.

A file is one memory page: the value in decimal and a newline, the rest NUL bytes (uWSGI maps
the page and writes `"%lld\\n"` into it), rewritten once a second when the value changed. The
files are the apps' metrics (`metric`) and uWSGI's core ones taken from the stats
(`worker.N.requests`, `core.busy_workers`, `socket.N.listen_queue` ...). Beyond uWSGI 2.0, which
writes a file only when a collector changed its value (so an app's metric_inc never reaches the
file and a value of 0 is an empty page), every value is written, the first one at start-up.
`metrics-dir-restore` starts each app metric from the value its file holds (the option's
documented meaning; uWSGI 2.0 only restores collector-driven metrics).
"""

from __future__ import annotations

import mmap
import os
from typing import TYPE_CHECKING, Any

from polyhost.log import log

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.metrics import MetricStore

PAGE = mmap.PAGESIZE
#: uWSGI's per-worker metric name -> the stats JSON key it mirrors
WORKER_KEYS = {
    "requests": "requests",
    "delta_requests": "delta_requests",
    "respawns": "respawn_count",
    "rss_size": "rss",
    "vsz_size": "vsz",
    "running_time": "running_time",
    "avg_response_time": "avg_rt",
    "total_tx": "tx",
}


class MetricsDirError(ValueError):
    """The metrics directory cannot be used; the message says which and what to do."""


def core_metrics(doc: dict[str, Any]) -> dict[str, int]:
    """uWSGI's core metric names and values, from a stats document."""
    workers = doc.get("workers", [])
    values: dict[str, int] = {}
    for worker in workers:
        for name, key in WORKER_KEYS.items():
            values[f"worker.{worker['id']}.{name}"] = int(worker.get(key, 0))
    values["worker.0.requests"] = sum(int(w.get("requests", 0)) for w in workers)
    running = [w for w in workers if w.get("pid")]
    values["core.busy_workers"] = sum(1 for w in running if w.get("status") == "busy")
    values["core.idle_workers"] = sum(1 for w in running if w.get("status") == "idle")
    values["core.total_rss"] = sum(int(w.get("rss", 0)) for w in workers)
    values["core.total_vsz"] = sum(int(w.get("vsz", 0)) for w in workers)
    values["core.total_tx"] = sum(int(w.get("tx", 0)) for w in workers)
    values["core.total_running_time"] = sum(int(w.get("running_time", 0)) for w in workers)
    for number, sock in enumerate(doc.get("sockets", [])):
        values[f"socket.{number}.listen_queue"] = int(sock.get("queue", 0))
    return values


class MetricsDir:
    def __init__(self, path: str, store: MetricStore, restore: bool, where: str) -> None:
        self.path = os.path.realpath(path)
        self.where = f"metrics-dir = {path} ({where})"
        self.store = store
        self.written: dict[str, int] = {}
        if not os.path.isdir(self.path):
            raise MetricsDirError(f"{self.where}: not a directory: create it or fix the path")
        if restore:
            for spec in store.specs:
                restored = _read_value(self._file(spec.name))
                if restored is not None:
                    store.update(spec.name, lambda _v, r=restored: r)
        try:
            self.write({})
        except OSError as exc:
            raise MetricsDirError(f"{self.where}: cannot write its files: {exc}") from exc
        log(
            f"memory allocated for metrics storage: {len(store.specs) * PAGE} bytes "
            f"({len(store.specs) * PAGE // 1024 // 1024} MB)"
        )

    @classmethod
    def from_config(cls, config: Config, store: MetricStore) -> MetricsDir | None:
        path = config.get("metrics-dir")
        if not path:
            return None
        restore = bool(config.get("metrics-dir-restore"))
        return cls(str(path), store, restore, config.origin("metrics-dir"))

    def _file(self, name: str) -> str:
        if "/" in name or name in ("", ".", ".."):
            raise MetricsDirError(f"{self.where}: metric name {name!r} cannot be a file name")
        return os.path.join(self.path, name)

    def write(self, core: dict[str, int]) -> None:
        """Rewrite the files whose value changed since the last write (OSError: the first)."""
        values = {spec.name: value for spec, value in self.store.items()}
        for name, value in {**core, **values}.items():
            if self.written.get(name) == value:
                continue
            text = f"{value}\n".encode()
            fd = os.open(self._file(name), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)
            try:
                os.pwrite(fd, text + b"\0" * (PAGE - len(text)), 0)
            finally:
                os.close(fd)
            self.written[name] = value

    def tick(self, doc: dict[str, Any]) -> None:
        """The master's once-a-second write; a failure is logged, the next tick tries again."""
        try:
            self.write(core_metrics(doc))
        except OSError as exc:
            log(f"{self.where}: cannot write a metric file: {exc}")


def _read_value(filename: str) -> int | None:
    """The number at the start of a metric file (as strtoll reads it), None without one."""
    try:
        with open(filename, "rb") as file:
            head = file.read(64).split(b"\0", 1)[0].split()
    except OSError:
        return None
    try:
        return int(head[0]) if head else None
    except ValueError:
        return None
