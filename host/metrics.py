"""uWSGI's metrics subsystem for the apps: `metric = name=NAME,type=counter|gauge|absolute`
declares a metric (or one a collector sets, polyhost.metrics_collectors),
`uwsgi.metric_get/set/inc/dec/mul/div` (every language, through the fabric op
table) read and change it, `enable-metrics` adds them to the stats JSON (`metrics`), and the
Prometheus endpoint exports them.

The values live in one shared memory page made by the master before fork, so every worker, mule
and spooler changes the same numbers; a POSIX semaphore (polyhost.shared_lock) makes
each read-modify-write atomic across processes. As uWSGI, changing a metric that was not declared
is refused (the Python API returns None instead of True) and reading one gives 0. The store also
keeps the instance's own counters (`core.rpc_calls`).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.config.keyval import parse_keyval
from polyhost.metrics_collectors import check_collector
from polyhost.shared_lock import shared_lock

if TYPE_CHECKING:
    from polyhost.config import Config

#: uWSGI's metric type numbers (the stats JSON's `type`)
TYPES = {"counter": 0, "gauge": 1, "absolute": 2}
KEYS = frozenset(
    {
        "name",
        "oid",
        "alias",
        "type",
        "initial_value",
        "freq",
        "reset_after_push",
        "collector",
        "arg1",
        "arg2",
        "arg3",
        "arg1n",
        "arg2n",
        "arg3n",
        "children",
    }
)
#: counters the instance keeps itself, beside the apps' metrics
BUILTIN = ("core.rpc_calls",)
_VALUE = struct.Struct("=q")
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str
    initial: int = 0
    oid: str = ""
    #: uWSGI's collectors (polyhost.metrics_collectors): who sets the value, every `freq` s
    collector: str = ""
    arg1: str = ""
    arg1n: int = 0
    children: tuple[str, ...] = ()
    freq: int = 1


def specs_from_config(config: Config) -> list[MetricSpec]:
    specs = []
    for value in option_values(config, "metric"):
        keys = parse_keyval(value if "=" in value else f"name={value}", "metric", KEYS)
        name = keys.get("name", "")
        kind = keys.get("type", "counter")
        if not name:
            raise ValueError(f"metric = {value}: a metric needs a name (name=NAME)")
        if kind not in TYPES:
            raise ValueError(f"metric = {value}: type must be one of {', '.join(TYPES)}")
        collector = keys.get("collector", "")
        children = tuple(c for c in (keys.get("children") or "").split(";") if c)
        check_collector(value, collector, keys.get("arg1", ""), children, {s.name for s in specs})
        specs.append(
            MetricSpec(
                name,
                kind,
                int(keys.get("initial_value") or 0),
                keys.get("oid", ""),
                collector=collector,
                arg1=keys.get("arg1", ""),
                arg1n=int(keys.get("arg1n") or 0),
                children=children,
                freq=max(1, int(keys.get("freq") or 1)),
            )
        )
    return specs


class MetricStore:
    def __init__(self, specs: list[MetricSpec]) -> None:
        self.specs = [*(MetricSpec(name, "counter") for name in BUILTIN), *specs]
        self.index = {spec.name: i for i, spec in enumerate(self.specs)}
        #: what the apps may change: their metrics, not those a collector sets (as uWSGI)
        self.custom = {spec.name for spec in specs if not spec.collector}
        self._mem = mmap.mmap(-1, max(mmap.PAGESIZE, 8 * len(self.specs)))
        self._lock = shared_lock()
        for i, spec in enumerate(self.specs):
            _VALUE.pack_into(self._mem, i * 8, spec.initial)
        #: metric index -> a count kept elsewhere that its value adds (core.rpc_calls)
        self._sources: dict[int, Callable[[], int]] = {}

    def derive(self, name: str, source: Callable[[], int]) -> None:
        """The value of `name` is what is stored plus source() (a counter kept without this
        store's lock); metric_set and the others still change it as seen."""
        self._sources[self.index[name]] = source

    @classmethod
    def from_config(cls, config: Config) -> MetricStore:
        return cls(specs_from_config(config))

    def get(self, name: str) -> int:
        i = self.index.get(name)
        if i is None:
            return 0
        source = self._sources.get(i)
        stored = int(_VALUE.unpack_from(self._mem, i * 8)[0])
        return stored if source is None else stored + source()

    def update(self, name: str, change: Callable[[int], int]) -> bool:
        """Apply `change` to the value atomically; False for a metric nobody declared."""
        i = self.index.get(name)
        if i is None:
            return False
        source = self._sources.get(i)
        with self._lock:
            extra = 0 if source is None else source()
            value = change(int(_VALUE.unpack_from(self._mem, i * 8)[0]) + extra)
            stored = max(_INT64[0], min(_INT64[1], value)) - extra
            _VALUE.pack_into(self._mem, i * 8, max(_INT64[0], min(_INT64[1], stored)))
        return True

    def inc(self, name: str, amount: int = 1) -> bool:
        return self.update(name, lambda v: v + amount)

    def items(self) -> list[tuple[MetricSpec, int]]:
        return [(spec, self.get(spec.name)) for spec in self.specs]

    def stats(self) -> dict[str, dict[str, object]]:
        """The stats JSON's `metrics` object (uWSGI's keys: type, oid, value)."""
        return {
            spec.name: {"type": TYPES[spec.type], "oid": spec.oid, "value": value}
            for spec, value in self.items()
        }


def _divide(by: int) -> Callable[[int], int]:
    if by == 0:
        raise ValueError("metric_div by 0")
    return lambda v: int(v / by)


#: op name -> (value when none is given, how the value changes the metric)
CHANGES: dict[str, tuple[int, Callable[[int], Callable[[int], int]]]] = {
    "metric_set": (0, lambda x: lambda v: x),
    "metric_inc": (1, lambda x: lambda v: v + x),
    "metric_dec": (1, lambda x: lambda v: v - x),
    "metric_mul": (1, lambda x: lambda v: v * x),
    "metric_div": (1, _divide),
}
