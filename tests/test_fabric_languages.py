"""The fabric across languages in one instance: Python, Perl and Ruby apps calling each other,
sharing one cache, raising signals handled in another language, spooling for each other."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, Instance, free_port, get, split_response, wait_for

FABRIC = APPS / "fabric"
LANGS = ("py", "pl", "rb")


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("languages")
    markers, spool = tmp / "markers", tmp / "spool"
    markers.mkdir()
    spool.mkdir()
    os.environ["MARKER_DIR"] = str(markers)
    port = free_port()
    inst = Instance([
        "--http-socket", f"127.0.0.1:{port}", "--processes", "2",
        "--mount", f"/py={FABRIC / 'matrix.py'}", "--mount", f"/pl={FABRIC / 'matrix.psgi'}",
        "--mount", f"/rb={FABRIC / 'matrix.ru'}",
        "--cache2", "name=shared,items=100", "--spooler", str(spool), "--spooler-frequency", "1",
    ], tmp, port, None)
    inst.markers = markers  # type: ignore[attr-defined]
    try:
        inst.wait_ready()
        yield inst
    finally:
        del os.environ["MARKER_DIR"]
        assert inst.stop() == 0


def text(instance: Instance, path: str) -> str:
    status, _, body = split_response(get(instance.port, path, timeout=20))
    assert status == 200, (path, body, instance.log()[-3000:])
    return body.decode()


@pytest.mark.parametrize(("caller", "callee"), list(itertools.product(LANGS, LANGS)))
def test_rpc_matrix(instance: Instance, caller: str, callee: str) -> None:
    assert text(instance, f"/{caller}/call?fn={callee}_echo&args=hi") == f"{callee}:hi"


def test_nested_calls_across_three_languages(instance: Instance) -> None:
    # Perl -> Python -> Ruby -> Perl, in one request
    assert text(instance, "/pl/call?fn=py_relay&args=rb_relay,pl_echo,deep") == "py>rb>pl:deep"
    assert text(instance, "/rb/call?fn=pl_relay&args=py_relay,rb_echo,x") == "pl>py>rb:x"


def test_missing_function_is_a_clear_error_in_each_language(instance: Instance) -> None:
    for lang in LANGS:
        status, _, _ = split_response(get(instance.port, f"/{lang}/call?fn=nope"))
        assert status == 500
    log = instance.log()
    assert "no RPC function named 'nope'" in log


@pytest.mark.parametrize(("writer", "reader"), list(itertools.product(LANGS, LANGS)))
def test_cache_matrix(instance: Instance, writer: str, reader: str) -> None:
    key = f"k-{writer}-{reader}"
    text(instance, f"/{writer}/cache_set?k={key}&v=from-{writer}")
    assert text(instance, f"/{reader}/cache_get?k={key}") == f"from-{writer}"


def test_cache_counter_shared_by_every_language(instance: Instance) -> None:
    values = [int(text(instance, f"/{lang}/cache_inc?k=counter")) for lang in LANGS * 3]
    assert values == list(range(1, 10))


@pytest.mark.parametrize(("raiser", "handler"), list(itertools.product(LANGS, LANGS)))
def test_signals_raised_anywhere_handled_in_each_language(instance: Instance, raiser: str,
                                                          handler: str) -> None:
    markers: Path = instance.markers  # type: ignore[attr-defined]
    num = {"py": 40, "pl": 41, "rb": 42}[handler]
    for marker in markers.glob(f"{handler}-sig{num}-*"):
        marker.unlink()
    assert text(instance, f"/{raiser}/signal?num={num}") == "raised"
    wait_for(lambda: len(list(markers.glob(f"{handler}-sig{num}-w*"))) == 2, 15,
             f"{handler} handler of signal {num} in both workers")


@pytest.mark.parametrize(("enqueuer", "handler"), list(itertools.product(LANGS, LANGS)))
def test_spooler_tasks_from_any_language_to_any_spooler(instance: Instance, enqueuer: str,
                                                        handler: str) -> None:
    markers: Path = instance.markers  # type: ignore[attr-defined]
    name = f"{enqueuer}2{handler}"
    path = text(instance, f"/{enqueuer}/spool?handler={handler}&name={name}")
    assert "uwsgi_spoolfile_on_" in path
    wait_for(lambda: (markers / f"{handler}-spooled-{name}").exists(), 20,
             f"the {handler} spooler function to run {name}")
    wait_for(lambda: not Path(path).exists(), 10, "the done task to be removed")
