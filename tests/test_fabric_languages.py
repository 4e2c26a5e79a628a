"""The fabric across languages in one instance: Python, Perl, Ruby, Lua and Clojure (JVM) apps
calling each other, sharing one cache, raising signals handled in another language; Python, Perl
and Ruby spooling for each other."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, Instance, get, serving, split_response, wait_for

FABRIC = APPS / "fabric"
LANGS = ("py", "pl", "rb", "lua", "clj", "cs")
#: languages with a spooler API (the issue's list)
SPOOL_LANGS = ("py", "pl", "rb")
SIGNALS = {"py": 40, "pl": 41, "rb": 42, "lua": 43, "clj": 44, "cs": 47}


def csharp_matrix(tmp: Path) -> Path:
    """matrix_handler.cs built with mcs against polyhost's uwsgi.dll (the C# uwsgi.api)."""
    from polyhost.bridges.mono import build

    api = build.build([build.UWSGI_API]) / "uwsgi.dll"
    out = tmp / "matrix.dll"
    subprocess.run(
        [
            "mcs",
            "-target:library",
            "-nologo",
            f"-out:{out}",
            f"-r:{api}",
            str(FABRIC / "matrix_handler.cs"),
        ],
        check=True,
        timeout=120,
    )
    return out


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("languages")
    markers, spool = tmp / "markers", tmp / "spool"
    markers.mkdir()
    spool.mkdir()
    os.environ["MARKER_DIR"] = str(markers)
    args = [
        "--processes",
        "2",
        "--mount",
        f"/py={FABRIC / 'matrix.py'}",
        "--mount",
        f"/pl={FABRIC / 'matrix.psgi'}",
        "--mount",
        f"/rb={FABRIC / 'matrix.ru'}",
        "--mount",
        f"/lua={FABRIC / 'matrix.lua'}",
        "--mount",
        f"/clj={FABRIC / 'matrix.clj'}",
        "--mount",
        f"/cs={csharp_matrix(tmp)}:Polyhost.Tests.FabricMatrix",
        "--mount",
        f"/php={FABRIC / 'php'}",
        "--cache2",
        "name=shared,items=100",
        "--spooler",
        str(spool),
        "--spooler-frequency",
        "1",
    ]
    try:
        with serving(tmp, args, timeout=60) as inst:
            inst.markers = markers  # type: ignore[attr-defined]
            # a JVM starts in each worker: wait until both serve Clojure (and registered its
            # handlers)
            loaded = [
                f"Ring app polyhost.test.fabric-matrix:handler loaded (worker {n})" for n in (1, 2)
            ]
            wait_for(
                lambda: all(line in inst.log() for line in loaded) or inst.proc.poll() is not None,
                120,
                "the Clojure app in both workers",
            )
            yield inst
    finally:
        del os.environ["MARKER_DIR"]


def text(instance: Instance, path: str) -> str:
    raw = get(instance.port, path, timeout=20)
    assert raw, (path, "closed with no response", instance.log()[-6000:])
    status, _, body = split_response(raw)
    assert status == 200, (path, body, instance.log()[-3000:])
    return body.decode()


@pytest.mark.parametrize(("caller", "callee"), list(itertools.product(LANGS, LANGS)))
def test_rpc_matrix(instance: Instance, caller: str, callee: str) -> None:
    assert text(instance, f"/{caller}/call?fn={callee}_echo&args=hi") == f"{callee}:hi"


def test_nested_calls_across_languages(instance: Instance) -> None:
    # Perl -> Python -> Ruby -> Perl, in one request
    assert text(instance, "/pl/call?fn=py_relay&args=rb_relay,pl_echo,deep") == "py>rb>pl:deep"
    assert text(instance, "/rb/call?fn=pl_relay&args=py_relay,rb_echo,x") == "pl>py>rb:x"
    # Python -> Lua -> Clojure -> Perl, and every language in one chain from Clojure
    assert text(instance, "/py/call?fn=lua_relay&args=clj_relay,pl_echo,y") == "lua>clj>pl:y"
    assert (
        text(
            instance, "/clj/call?fn=py_relay&args=lua_relay,rb_relay,clj_relay,lua_relay,pl_echo,z"
        )
        == "py>lua>rb>clj>lua>pl:z"
    )


def test_missing_function_is_a_clear_error_in_each_language(instance: Instance) -> None:
    for lang in LANGS:
        status, _, _ = split_response(get(instance.port, f"/{lang}/call?fn=nope"))
        assert status == 500
    log = instance.log()
    assert "no RPC function named 'nope'" in log
    assert "uwsgi$FabricException: call: no RPC function named 'nope'" in log  # in Java
    assert "fabric/matrix.lua:\ncall: no RPC function named 'nope'" in log  # in Lua


def test_failing_lua_and_java_functions_are_rpc_errors_with_their_traces(
    instance: Instance,
) -> None:
    for caller in LANGS:
        for callee in ("lua", "clj"):
            status, _, _ = split_response(get(instance.port, f"/{caller}/call?fn={callee}_fail"))
            assert status == 500, (caller, callee)
    log = instance.log()
    assert "RPC function 'lua_fail' (lua:" in log
    assert re.search(r"matrix\.lua:\d+: lua_fail always fails\nstack traceback:", log)
    assert (
        "RPC function 'clj_fail' (jvm) failed: java.lang.IllegalStateException: clj_fail "
        "always fails\n\tat polyhost.test.fabric_matrix$"
    ) in log
    # the workers live on
    assert text(instance, "/lua/call?fn=clj_echo&args=after") == "clj:after"


def test_replies_are_bytes_across_runtimes(instance: Instance) -> None:
    # Clojure's (and Java's) call gives a String as uWSGI's; call_bytes gives the bytes
    # (C#'s Call, like Java's, gives a string)
    callers = [f"/{lang}/call" for lang in LANGS if lang not in ("clj", "cs")]
    for path in [*callers, "/clj/call_bytes"]:
        status, _, body = split_response(get(instance.port, f"{path}?fn=clj_bytes"))
        assert (status, body) == (200, b"\x00\xffA"), path


def test_the_rest_of_the_lua_and_clojure_apis(instance: Instance) -> None:
    missing = "call: no RPC function named 'nope' in this instance (registered: "
    # set, set again (refused: uWSGI's set), get, exists, dec, del, get after del, keys' type,
    # rpc with a number, signal_registered(own), signal_registered(99), missing function caught
    lua = text(instance, "/lua/api")
    assert lua.startswith("true false v1 true -5 true nil table lua:42 true false false " + missing)
    # ... the same, with uWSGI's (uwsgi/rpc (into-array [...])) form too
    clj = text(instance, "/clj/api")
    assert clj.startswith(
        "true false v1 true -5 true nil true clj:arr clj:42 true false " + missing
    )


@pytest.mark.parametrize(("writer", "reader"), list(itertools.product(LANGS, LANGS)))
def test_cache_matrix(instance: Instance, writer: str, reader: str) -> None:
    key = f"k-{writer}-{reader}"
    text(instance, f"/{writer}/cache_set?k={key}&v=from-{writer}")
    assert text(instance, f"/{reader}/cache_get?k={key}") == f"from-{writer}"


def test_cache_counter_shared_by_every_language(instance: Instance) -> None:
    values = [int(text(instance, f"/{lang}/cache_inc?k=counter")) for lang in LANGS * 3]
    assert values == list(range(1, 3 * len(LANGS) + 1))


@pytest.mark.parametrize(("raiser", "handler"), list(itertools.product(LANGS, LANGS)))
def test_signals_raised_anywhere_handled_in_each_language(
    instance: Instance, raiser: str, handler: str
) -> None:
    markers: Path = instance.markers  # type: ignore[attr-defined]
    num = SIGNALS[handler]
    for marker in markers.glob(f"{handler}-sig{num}-*"):
        marker.unlink()
    assert text(instance, f"/{raiser}/signal?num={num}") == "raised"
    wait_for(
        lambda: len(list(markers.glob(f"{handler}-sig{num}-w*"))) == 2,
        15,
        f"{handler} handler of signal {num} in both workers",
    )


def test_failing_lua_and_clojure_signal_handlers_are_logged(instance: Instance) -> None:
    pids = instance.worker_pids()
    for num in (45, 46):
        assert text(instance, f"/py/signal?num={num}") == "raised"
    wait_for(
        lambda: (
            instance.log().count("the clj handler of signal 46 fails") >= 2
            and instance.log().count("the lua handler of signal 45 fails") >= 2
        ),
        15,
        "both failures logged by both workers",
    )
    log = instance.log()
    assert "error in the handler of signal 45 (lua:" in log
    assert re.search(r"matrix\.lua:\d+: the lua handler of signal 45 fails\nstack traceback:", log)
    assert "error in the handler of signal 46 (jvm):" in log
    assert "clojure.lang.ExceptionInfo: the clj handler of signal 46 fails" in log
    for lang in LANGS:
        assert text(instance, f"/{lang}/call?fn={lang}_echo&args=alive") == f"{lang}:alive"
    assert instance.worker_pids() == pids


@pytest.mark.parametrize(("enqueuer", "handler"), list(itertools.product(SPOOL_LANGS, SPOOL_LANGS)))
def test_spooler_tasks_from_any_language_to_any_spooler(
    instance: Instance, enqueuer: str, handler: str
) -> None:
    markers: Path = instance.markers  # type: ignore[attr-defined]
    name = f"{enqueuer}2{handler}"
    path = text(instance, f"/{enqueuer}/spool?handler={handler}&name={name}")
    assert "uwsgi_spoolfile_on_" in path
    wait_for(
        lambda: (markers / f"{handler}-spooled-{name}").exists(),
        20,
        f"the {handler} spooler function to run {name}",
    )
    wait_for(lambda: not Path(path).exists(), 10, "the done task to be removed")


@pytest.mark.parametrize("callee", LANGS)
def test_php_calls_every_language(instance: Instance, callee: str) -> None:
    assert text(instance, f"/php/matrix.php?op=call&fn={callee}_echo&args=hi") == f"{callee}:hi"


def test_php_in_a_nested_call(instance: Instance) -> None:
    chain = "/php/matrix.php?op=call&fn=py_relay&args=rb_relay,pl_echo,php"
    assert text(instance, chain) == "py>rb>pl:php"


@pytest.mark.parametrize("other", LANGS)
def test_php_shares_the_cache(instance: Instance, other: str) -> None:
    text(instance, f"/php/matrix.php?op=cache_set&k=from-php-{other}&v=php-wrote")
    assert text(instance, f"/{other}/cache_get?k=from-php-{other}") == "php-wrote"
    text(instance, f"/{other}/cache_set?k=for-php-{other}&v={other}-wrote")
    assert text(instance, f"/php/matrix.php?op=cache_get&k=for-php-{other}") == f"{other}-wrote"


def test_php_raises_a_signal_handled_in_ruby(instance: Instance) -> None:
    markers: Path = instance.markers  # type: ignore[attr-defined]
    for marker in markers.glob("rb-sig42-*"):
        marker.unlink()
    assert text(instance, "/php/matrix.php?op=signal&num=42") == "raised"
    wait_for(lambda: len(list(markers.glob("rb-sig42-w*"))) == 2, 15, "the Ruby handlers")
