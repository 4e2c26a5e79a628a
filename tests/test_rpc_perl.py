"""Perl -> Python RPC through the PSGI child's call path: every size class of arguments (one
packet, a message split into 64 KiB packets, an item over the limit), uwsgi::rpc and
uwsgi::call, errors as croaks with the worker's message, and many calls in one request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import APPS, Instance, get, serving, split_response

SIZES = APPS / "rpc_perl"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("rpc_perl")
    args = ["--wsgi-file", str(SIZES / "sizes.py"), "--mount", f"/pl={SIZES / 'sizes.psgi'}"]
    with serving(tmp, args) as inst:
        yield inst


def perl(instance: Instance, case: str) -> bytes:
    status, _, body = split_response(get(instance.port, f"/pl?{case}", timeout=30))
    assert status == 200, body
    return body


def test_a_small_call_is_answered(instance: Instance) -> None:
    assert perl(instance, "small") == b"1:x"


def test_arguments_over_one_packet_arrive_whole(instance: Instance) -> None:
    assert perl(instance, "split") == b"40000:aaa|40000:bbb"


def test_rpc_with_a_local_node_and_two_arguments(instance: Instance) -> None:
    assert perl(instance, "rpc") == b"3:one|3:two"


def test_an_argument_over_64_kib_is_refused_with_the_reason(instance: Instance) -> None:
    body = perl(instance, "toobig")
    assert body.startswith(b"died: uwsgi::call: a value of 70000 bytes does not fit the 64 KiB")


def test_an_unknown_function_is_a_croak_naming_it(instance: Instance) -> None:
    body = perl(instance, "missing")
    assert body.startswith(b"died: uwsgi::call: ")
    assert b"no RPC function named 'not_registered'" in body


def test_many_calls_in_one_request_each_get_their_own_result(instance: Instance) -> None:
    expected = ",".join(f"{len(f'n{i}')}:{f'n{i}'[:3]}" for i in range(1, 201))
    assert perl(instance, "loop") == expected.encode()
