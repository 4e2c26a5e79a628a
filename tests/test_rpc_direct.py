"""The local RPC fast path: a Python -> Python call goes straight to the function, and stays in
step with every registration (a name taken over by another owner is no longer called directly)."""

from __future__ import annotations

import os

import pytest

from polyhost.bridges.python import uwsgi_fabric
from polyhost.bridges.python.hooks import PythonHooks
from polyhost.fabric.hooks import HOOKS
from polyhost.metrics import MetricStore
from polyhost.rpc.registry import MAX_ARGS, REGISTRY, RpcError


@pytest.fixture(autouse=True)
def python_hooks() -> None:
    if HOOKS.get("python") is None:
        HOOKS.install("python", PythonHooks())


def test_a_python_function_is_called_directly_with_bytes() -> None:
    seen: list[tuple[object, ...]] = []

    def echo(*args: object) -> object:
        seen.append(args)
        return "é" if args == (b"str",) else args[0]

    uwsgi_fabric.register_rpc("direct_echo", echo)
    assert REGISTRY.direct("python")[b"direct_echo"] is echo
    assert uwsgi_fabric.rpc(b"", b"direct_echo", b"x") == b"x"
    # a str argument reaches the function as bytes, a str result comes back as UTF-8
    assert uwsgi_fabric.rpc(None, b"direct_echo", "str") == "é".encode()
    assert seen == [(b"x",), (b"str",)]


def test_a_name_taken_by_another_owner_leaves_the_fast_path() -> None:
    uwsgi_fabric.register_rpc("taken_over", lambda: b"python")
    REGISTRY.register(b"taken_over", "polyhost", lambda: b"owner polyhost")
    assert b"taken_over" not in REGISTRY.direct("python")
    assert uwsgi_fabric.rpc(b"", b"taken_over") == b"owner polyhost"
    uwsgi_fabric.register_rpc("taken_over", lambda: b"python again")
    assert uwsgi_fabric.rpc(b"", b"taken_over") == b"python again"


def test_the_limits_hold_on_the_fast_path() -> None:
    uwsgi_fabric.register_rpc("many_args", lambda *args: b"%d" % len(args))
    assert uwsgi_fabric.rpc(b"", b"many_args", *[b"a"] * MAX_ARGS) == b"%d" % MAX_ARGS
    with pytest.raises(RpcError, match="the limit is 255"):
        uwsgi_fabric.rpc(b"", b"many_args", *[b"a"] * (MAX_ARGS + 1))


def test_each_call_is_counted_in_its_own_process_slot() -> None:
    """Direct and registry calls count, in this process and in a forked one (its own slot),
    and the total every process reads is the sum."""
    uwsgi_fabric.register_rpc("counted", lambda: b"")
    before = REGISTRY.counter.total()
    uwsgi_fabric.rpc(b"", b"counted")
    REGISTRY.call(b"counted", [])
    assert REGISTRY.counter.total() == before + 2
    parent_word = REGISTRY.counter.index
    assert parent_word >= 0  # claimed: the fast path adds in line to this word
    pid = os.fork()
    if pid == 0:  # child: count 3 calls in a word of its own, then leave at once
        code = 1
        try:
            for _ in range(3):
                uwsgi_fabric.rpc(b"", b"counted")
            code = 0 if REGISTRY.counter.index not in (-1, parent_word) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert REGISTRY.counter.total() == before + 5
    uwsgi_fabric.rpc(b"", b"counted")  # the parent keeps its own slot
    assert REGISTRY.counter.total() == before + 6


def test_a_derived_metric_adds_the_counter_and_takes_metric_set() -> None:
    store = MetricStore([])
    calls = [10]
    store.derive("core.rpc_calls", lambda: calls[0])
    assert store.get("core.rpc_calls") == 10
    assert store.update("core.rpc_calls", lambda v: 5)  # metric_set 5
    assert store.get("core.rpc_calls") == 5
    calls[0] += 3
    assert store.get("core.rpc_calls") == 8
