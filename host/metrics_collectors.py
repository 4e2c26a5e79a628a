"""uWSGI's metric collectors (core/metrics.c): a `metric` with `collector=` gets its value from
the master every `freq` seconds (default 1) instead of from the apps, which cannot change it:

- `file`: the `arg1n`-th whitespace-separated number in the file `arg1` (0: the first), as
  uWSGI reads /proc or /sys counters;
- `sum`, `avg`: the sum / the integer average of the `children` (metrics declared before it,
  separated by `;`);
- `accumulator`: its own value plus the sum of the children at each collection (and, as in
  uWSGI, plus `initial_value` again);
- `adder`, `multiplier`: the children's sum plus / times `arg1n`.

The value is `initial_value` plus what the collector returns (uWSGI's formula). `ptr` and `func`
read a C pointer or call a C symbol of the uWSGI binary: polyhost has neither and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.log import log

if TYPE_CHECKING:
    from polyhost.metrics import MetricSpec, MetricStore

WITH_CHILDREN = ("sum", "avg", "accumulator", "adder", "multiplier")
NAMES = ("file", *WITH_CHILDREN)


def check_collector(
    value: str, collector: str, arg1: str, children: tuple[str, ...], declared: set[str]
) -> None:
    """Refuse at start-up what cannot collect; `declared`: the metrics declared before."""
    if not collector:
        return
    if collector in ("ptr", "func"):
        raise ValueError(
            f"metric = {value}: the {collector} collector reads the uWSGI binary's memory or "
            f"symbols, which polyhost has not: use one of {', '.join(NAMES)}, or set the value "
            "from the app with uwsgi.metric_set"
        )
    if collector not in NAMES:
        raise ValueError(
            f"metric = {value}: unknown collector {collector!r}: use one of {', '.join(NAMES)}"
        )
    if collector == "file" and not arg1:
        raise ValueError(f"metric = {value}: the file collector needs the file in arg1=PATH")
    if collector in WITH_CHILDREN:
        if not children:
            raise ValueError(
                f"metric = {value}: the {collector} collector needs children=NAME;NAME..."
            )
        for child in children:
            if child not in declared:
                raise ValueError(
                    f"metric = {value}: unable to find metric {child!r}: declare the children "
                    "before the metric that collects them"
                )


def read_field(path: str, position: int) -> int:
    """The `position`-th whitespace-separated field of the file's first 4 KiB as a number (its
    leading digits, as strtoll); 0 when the file or the field is missing."""
    try:
        with open(path, "rb") as file:
            fields = file.read(4096).replace(b"\0", b" ").split()
    except OSError as exc:
        log(f"metric file collector: cannot read {path}: {exc.strerror}")
        return 0
    if position >= len(fields):
        return 0
    text = fields[position].decode("latin-1")
    sign = text[:1] if text[:1] in "+-" else ""
    digits = ""
    for char in text[len(sign) :]:
        if not char.isdigit():
            break
        digits += char
    return int(sign + digits) if digits else 0


class Collectors:
    """The master's side: collect each due metric into the shared store."""

    def __init__(self, store: MetricStore) -> None:
        self.store = store
        self.specs = [spec for spec in store.specs if spec.collector]
        self.due: dict[str, float] = {}

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for spec in self.specs:
            if now < self.due.get(spec.name, 0.0):
                continue
            self.due[spec.name] = now + spec.freq
            collected = spec.initial + self._collect(spec)
            self.store.update(spec.name, lambda _old, v=collected: v)

    def _collect(self, spec: MetricSpec) -> int:
        if spec.collector == "file":
            return read_field(spec.arg1, spec.arg1n)
        children = [self.store.get(child) for child in spec.children]
        total = sum(children)
        combine: dict[str, Callable[[], int]] = {
            "sum": lambda: total,
            "avg": lambda: total // len(children) if children else 0,
            "accumulator": lambda: self.store.get(spec.name) + total,
            "adder": lambda: total + spec.arg1n,
            "multiplier": lambda: total * spec.arg1n,
        }
        return combine[spec.collector]()
