"""The Prometheus text exposition (format 0.0.4) of the instance: what `--metrics ADDR` serves
and what `/metrics` answers on the stats socket with `stats-http`.

Built from the stats document (the same numbers uwsgitop shows) plus the apps' runtimes and the
metric store; names follow the community uwsgi_exporter (`uwsgi_worker_requests_total`, ...)
so existing dashboards keep working, and the apps' own metrics (`metric = name=...`) appear as
`uwsgi_metric_<name>`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from polyhost.fabric.spoolfile import TASK_PREFIX
from polyhost.metrics import MetricStore

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
Labels = Mapping[str, object]
Sample = tuple[Labels, float]


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _name(text: str) -> str:
    """A metric name from an app's metric name (`app.logins` -> `app_logins`)."""
    name = re.sub(r"[^a-zA-Z0-9_:]", "_", text)
    return name if re.match(r"[a-zA-Z_:]", name) else f"_{name}"


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help: str, samples: Iterable[Sample]) -> None:
        self.lines.append(f"# HELP {name} {help}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{inner}}} {value:g}" if inner else f"{name} {value:g}")

    def text(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def queued(directory: str) -> int:
    """The task files in a file spooler's directory and its priority subdirectories."""
    count = 0
    with contextlib.suppress(OSError), os.scandir(directory) as listing:
        for entry in listing:
            if entry.name.startswith(TASK_PREFIX):
                count += 1
            elif entry.name.isdigit() and entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError), os.scandir(entry.path) as inner:
                    count += sum(1 for e in inner if e.name.startswith(TASK_PREFIX))
    return count


def render(doc: Mapping[str, Any], runtimes: Mapping[int, str], store: MetricStore) -> bytes:
    """The exposition of a stats document; `runtimes` names each app id's language."""
    out = Exposition()
    workers: list[dict[str, Any]] = list(doc.get("workers", []))
    out.family(
        "uwsgi_listen_queue_length",
        "gauge",
        "Connections waiting in the listen queues.",
        [({}, doc.get("listen_queue", 0))],
    )
    sockets = list(doc.get("sockets", []))
    socket_labels = [{"name": s["name"], "proto": s["proto"]} for s in sockets]
    out.family(
        "uwsgi_socket_queue_length",
        "gauge",
        "Connections waiting on this socket.",
        [(labels, s["queue"]) for labels, s in zip(socket_labels, sockets, strict=True)],
    )
    out.family(
        "uwsgi_socket_max_queue_length",
        "gauge",
        "Listen backlog of this socket.",
        [(labels, s["max_queue"]) for labels, s in zip(socket_labels, sockets, strict=True)],
    )
    statuses = Counter(w["status"] for w in workers)
    out.family(
        "uwsgi_workers",
        "gauge",
        "Workers by status (idle, busy, cheap, pause, sigN).",
        [({"status": status}, count) for status, count in sorted(statuses.items())],
    )
    per_worker = (
        ("uwsgi_worker_requests_total", "counter", "Requests served.", "requests", 1),
        ("uwsgi_worker_exceptions_total", "counter", "Requests that raised.", "exceptions", 1),
        ("uwsgi_worker_harakiri_total", "counter", "Harakiri kills.", "harakiri_count", 1),
        ("uwsgi_worker_respawns_total", "counter", "Spawns of this worker.", "respawn_count", 1),
        ("uwsgi_worker_transmitted_bytes_total", "counter", "Bytes sent.", "tx", 1),
        ("uwsgi_worker_rss_bytes", "gauge", "Resident memory.", "rss", 1),
        ("uwsgi_worker_vsz_bytes", "gauge", "Virtual memory.", "vsz", 1),
        (
            "uwsgi_worker_average_response_time_seconds",
            "gauge",
            "Running average response time.",
            "avg_rt",
            1e-6,
        ),
        (
            "uwsgi_worker_running_time_seconds_total",
            "counter",
            "Time spent in requests.",
            "running_time",
            1e-6,
        ),
        ("uwsgi_worker_accepting", "gauge", "1 while the worker accepts.", "accepting", 1),
    )
    for name, kind, help, key, scale in per_worker:
        out.family(name, kind, help, [({"worker_id": w["id"]}, w[key] * scale) for w in workers])
    app_rows = [(w["id"], app) for w in workers for app in w.get("apps", [])]
    for name, help, key in (
        ("uwsgi_worker_app_requests_total", "Requests served by this app.", "requests"),
        ("uwsgi_worker_app_exceptions_total", "Requests of this app that raised.", "exceptions"),
    ):
        out.family(
            name,
            "counter",
            help,
            [
                (
                    {
                        "worker_id": wid,
                        "app_id": app["id"],
                        "mountpoint": app["mountpoint"],
                        "language": runtimes.get(app["id"], ""),
                    },
                    app[key],
                )
                for wid, app in app_rows
            ],
        )
    caches = list(doc.get("caches", []))
    for name, kind, help, key in (
        ("uwsgi_cache_hits_total", "counter", "Cache lookups that found the key.", "hits"),
        ("uwsgi_cache_misses_total", "counter", "Cache lookups that missed.", "miss"),
        ("uwsgi_cache_full_total", "counter", "Stores refused: cache full.", "full"),
        ("uwsgi_cache_items", "gauge", "Items in the cache.", "items"),
    ):
        out.family(name, kind, help, [({"cache": c["name"]}, c[key]) for c in caches])
    spoolers = list(doc.get("spoolers", []))
    out.family(
        "uwsgi_spooler_tasks_total",
        "counter",
        "Tasks this spooler ran (the stats' `tasks`).",
        [({"dir": s["dir"]}, s["tasks"]) for s in spoolers],
    )
    out.family(
        "uwsgi_spooler_queue_length",
        "gauge",
        "Tasks waiting in a spool directory (due or not yet), its priority directories too.",
        [
            ({"dir": d}, queued(d))
            for d in dict.fromkeys(s["dir"] for s in spoolers)
            if os.path.isdir(d)  # a Redis spooler's queue is its stream's (XLEN)
        ],
    )
    out.family(
        "uwsgi_rpc_calls_total",
        "counter",
        "RPC calls run in this instance.",
        [({}, store.get("core.rpc_calls"))],
    )
    for spec, value in store.items():
        if spec.name in store.custom or spec.collector:
            kind = "counter" if spec.type == "counter" else "gauge"
            suffix = "_total" if kind == "counter" else ""
            out.family(
                f"uwsgi_metric_{_name(spec.name)}{suffix}",
                kind,
                f"The app metric {spec.name} ({spec.type}).",
                [({}, value)],
            )
    return out.text()
