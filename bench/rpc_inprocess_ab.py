"""In-process A/B of the Python RPC paths: a base ref's code against this tree's, alternating.

Two paths, each timed in one process with the base ref's function exec'd beside the current
one (same globals, same registered function, same counter): `uwsgi.rpc(b"", b"py_echo", b"x")`
(Python -> Python) and `op_call` of a local Python function (what every call from another
language runs in the worker). Prints the medians and the median per-round speed-up.

    .venv/bin/python bench/rpc_inprocess_ab.py [--base main] [--rounds 11]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def base_function(ref: str, path: str, name: str, namespace: dict[str, Any]) -> Any:
    """`name` as defined in `path` at `ref`, exec'd over a copy of the current module's globals."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    start = source.index(f"def {name}(")
    end = source.find("\ndef ", start + 1)
    scope = dict(namespace)
    exec(compile(source[start : end if end > 0 else None], f"{ref}:{path}", "exec"), scope)
    return scope[name]


def compare(label: str, old: Callable[[], object], new: Callable[[], object], rounds: int) -> None:
    assert old() == new(), f"{label}: the two versions answer differently"
    times: dict[str, list[float]] = {"base": [], "new": []}
    number = 100000
    for _ in range(rounds):
        times["base"].append(timeit.timeit(old, number=number) / number * 1e9)
        times["new"].append(timeit.timeit(new, number=number) / number * 1e9)
    ratios = sorted(a / b for a, b in zip(times["base"], times["new"], strict=True))
    print(
        f"{label}: base {statistics.median(times['base']):,.0f} ns, new "
        f"{statistics.median(times['new']):,.0f} ns per call; speed-up "
        f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f}), {rounds} rounds"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    from polyhost.bridges.python import uwsgi_fabric
    from polyhost.bridges.python.hooks import PythonHooks
    from polyhost.fabric import ops
    from polyhost.fabric.hooks import HOOKS
    from polyhost.rpc import registry

    HOOKS.install("python", PythonHooks())
    uwsgi_fabric.register_rpc("py_echo", lambda arg: arg)
    rpc = base_function(args.base, "bridges/python/uwsgi_fabric.py", "rpc", vars(uwsgi_fabric))
    compare(
        "uwsgi.rpc Python -> Python",
        lambda: rpc(b"", b"py_echo", b"x"),
        lambda: uwsgi_fabric.rpc(b"", b"py_echo", b"x"),
        args.rounds,
    )
    # the base's op_call, calling the base's Registry.call (bound to the same registry)
    base_call = base_function(args.base, "rpc/registry.py", "call", vars(registry))
    base_registry = type(
        "BaseRegistry", (), {"call": staticmethod(base_call.__get__(registry.REGISTRY))}
    )
    op_call = base_function(
        args.base, "host/fabric/ops.py", "op_call", {**vars(ops), "REGISTRY": base_registry}
    )
    op_rpc = base_function(
        args.base, "host/fabric/ops.py", "op_rpc", {**vars(ops), "REGISTRY": base_registry}
    )
    op_call.__globals__["op_rpc"] = op_rpc
    compare(
        "op_call of a local Python function (a call from another language)",
        lambda: op_call("psgi", [b"py_echo", b"x"]),
        lambda: ops.op_call("psgi", [b"py_echo", b"x"]),
        args.rounds,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
