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
    uwsgi_fabric.register_rpc("counted", lambda *args: b"")
    before = REGISTRY.counter.total()
    uwsgi_fabric.rpc(b"", b"counted")
    REGISTRY.call(b"counted", [])
    assert REGISTRY.counter.total() == before + 2
    uwsgi_fabric.rpc(b"", b"counted", b"one")  # the one-argument fast path counts as well
    assert REGISTRY.counter.total() == before + 3
    before += 1
    parent_word = REGISTRY.counter.index
    assert parent_word >= 0  # claimed: the fast path adds in line to this word
    pid = os.fork()
    if pid == 0:  # child: count 3 calls in a word of its own, then leave at once
        code = 1
        try:
            # the first call claims the child's slot (the fast path waits for a claimed one)
            for args in ((b"one",), (), (b"one",)):
                uwsgi_fabric.rpc(b"", b"counted", *args)
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


def test_the_one_argument_fast_path_converts_and_raises_as_every_call() -> None:
    """One argument skips the tuple, not the rules: str and bytearray arguments arrive as
    bytes, non-bytes results are converted, errors and unknown names raise as before."""
    seen: list[object] = []

    def one(arg: object) -> object:
        seen.append(arg)
        if arg == b"boom":
            raise ValueError("boom in one")
        return {b"none": None, b"int": 5, b"str": "é"}.get(arg, arg)  # type: ignore[call-overload]

    uwsgi_fabric.register_rpc("one_arg", one)
    uwsgi_fabric.rpc(b"", b"one_arg", b"claim")  # this process's counter slot is claimed
    assert uwsgi_fabric.rpc(b"", b"one_arg", b"x") == b"x"
    assert uwsgi_fabric.rpc(None, b"one_arg", "s") == b"s"
    assert uwsgi_fabric.rpc(b"", b"one_arg", bytearray(b"ba")) == b"ba"
    assert uwsgi_fabric.rpc(b"", "one_arg", b"by str name") == b"by str name"
    assert uwsgi_fabric.rpc(b"", b"one_arg", b"none") == b""
    assert uwsgi_fabric.rpc(b"", b"one_arg", b"int") == b"5"
    assert uwsgi_fabric.rpc(b"", b"one_arg", b"str") == "é".encode()
    assert [type(arg) for arg in seen] == [bytes] * len(seen)
    with pytest.raises(ValueError, match="boom in one"):
        uwsgi_fabric.rpc(b"", b"one_arg", b"boom")
    with pytest.raises(RpcError, match="no RPC function named 'not_there'"):
        uwsgi_fabric.rpc(b"", b"not_there", b"x")
