"""The local RPC fast path: a Python -> Python call goes straight to the function, and stays in
step with every registration (a name taken over by another owner is no longer called directly)."""

from __future__ import annotations

import pytest

from polyhost.bridges.python import uwsgi_fabric
from polyhost.bridges.python.hooks import PythonHooks
from polyhost.fabric.hooks import HOOKS
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


def test_each_direct_call_is_counted() -> None:
    calls: list[int] = []
    REGISTRY.on_call = lambda: calls.append(1)
    try:
        uwsgi_fabric.register_rpc("counted", lambda: b"")
        uwsgi_fabric.rpc(b"", b"counted")
        uwsgi_fabric.rpc(b"", b"counted")
    finally:
        REGISTRY.on_call = None
    assert len(calls) == 2
