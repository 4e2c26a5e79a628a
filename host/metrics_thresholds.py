"""`metric-threshold = key=NAME,value=N[,reset=M][,alarm=A,rate=S,msg=TEXT]` (aliases
`metric-alarm`, `alarm-metric`): once a second the master compares the metric with N; at or
above it the metric is set back to `reset` (when given) and the alarm is raised, at most once
every `rate` seconds, as uWSGI's metrics thread does. polyhost has no alarm plugins: a raised
alarm is a log line `[metric-alarm] A: TEXT` (the metric's name without `msg`), and start-up
says so once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.config.keyval import parse_keyval
from polyhost.log import log

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.metrics import MetricStore

KEYS = frozenset({"key", "value", "alarm", "rate", "msg", "reset"})


@dataclass
class Threshold:
    metric: str
    value: int
    reset: int | None = None
    alarm: str = ""
    rate: int = 0
    msg: str = ""
    last_alarm: float = float("-inf")


def thresholds_from_config(config: Config, store: MetricStore) -> list[Threshold]:
    found = []
    for text in option_values(config, "metric-threshold"):
        where = f"metric-threshold = {text} ({config.origin('metric-threshold')})"
        keys = parse_keyval(text, "metric-threshold", KEYS)
        if not keys.get("key") or not keys.get("value"):
            raise ValueError(f"{where}: a threshold needs a key (the metric) and a value")
        if keys["key"] not in store.index:
            raise ValueError(
                f"{where}: unable to find metric {keys['key']!r}: declare it with `metric`"
            )
        try:
            threshold = Threshold(
                keys["key"],
                int(keys["value"]),
                int(keys["reset"]) if keys.get("reset") else None,
                keys.get("alarm", ""),
                int(keys.get("rate") or 0),
                keys.get("msg", ""),
            )
        except ValueError as exc:
            raise ValueError(f"{where}: value, reset and rate are integers ({exc})") from exc
        found.append(threshold)
        log(f"added threshold for metric {threshold.metric} (value: {threshold.value})")
    if any(t.alarm for t in found):
        log("metric-threshold: polyhost has no alarm plugins, raised alarms are logged")
    return found


class Thresholds:
    def __init__(self, config: Config, store: MetricStore) -> None:
        self.store = store
        self.thresholds = thresholds_from_config(config, store)

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for threshold in self.thresholds:
            if self.store.get(threshold.metric) < threshold.value:
                continue
            if threshold.reset is not None:
                reset = threshold.reset
                self.store.update(threshold.metric, lambda _old, r=reset: r)
            if threshold.alarm and threshold.last_alarm + threshold.rate <= now:
                threshold.last_alarm = now
                log(f"[metric-alarm] {threshold.alarm}: {threshold.msg or threshold.metric}")
