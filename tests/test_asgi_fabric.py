"""The fabric from ASGI code: RPC both ways between an ASGI app and a Perl app, cache, signals
and the spooler, with async functions as RPC and signal targets (real processes, one port)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import APPS, Instance, get, serving, split_response, wait_for


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("asgi_fabric")
    spool = tmp / "spool"
    spool.mkdir()
    args = [
        "--asgi-file",
        str(APPS / "asgi" / "fabric_app.py"),
        "--mount",
        f"/pl={APPS / 'psgi' / 'calls_asgi.psgi'}",
        "--cache2",
        "name=shared,items=20",
        "--spooler",
        str(spool),
        "--spooler-frequency",
        "1",
    ]
    with serving(tmp, args) as inst:
        yield inst


def text(port: int, path: str) -> bytes:
    status, _, body = split_response(get(port, path))
    assert status == 200, body
    return body


def test_asgi_awaits_a_perl_function(site: Instance) -> None:
    assert text(site.port, "/perl").startswith(b"FROM ASGI (perl ")


def test_perl_calls_an_async_function_of_the_asgi_app(site: Instance) -> None:
    assert text(site.port, "/pl/") == b"hello perl from ASGI"


def test_acall_of_an_async_function_of_the_same_app(site: Instance) -> None:
    assert text(site.port, "/self") == b"hello me from ASGI"


def test_sync_call_of_an_async_function_from_the_loop_is_a_clear_500(site: Instance) -> None:
    status, _, _ = split_response(get(site.port, "/blocking-self"))
    assert status == 500
    site.wait_log("use `await uwsgi.acall(...)`")
    assert text(site.port, "/self") == b"hello me from ASGI"  # the loop is still serving


def test_cache_from_asgi(site: Instance) -> None:
    assert text(site.port, "/cache") == b"cached by ASGI"


def test_async_signal_handler(site: Instance) -> None:
    assert text(site.port, "/signal") == b"raised"
    wait_for(lambda: text(site.port, "/get?signalled") == b"17", 20, "the async handler")


def test_spool_from_asgi(site: Instance) -> None:
    assert text(site.port, "/spool") == b"queued"
    wait_for(lambda: text(site.port, "/get?spooled") == b"spooled by ASGI", 20, "the spooler")
