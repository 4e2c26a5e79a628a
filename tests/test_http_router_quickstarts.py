"""The `--http` commands of the uWSGI quickstarts run unchanged (issue 11 point 2): one per
language with its `--http-modifier1` (and `--http-modifier2`), and an instance mounting several
languages by mountpoint that routes by mountpoint when no modifier is forced."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import APPS, get, split_response, wait_for
from router_helper import start_router

QUICKSTARTS = [
    pytest.param(["--wsgi-file", str(APPS / "wsgi" / "basic.py")], "/", b"Hello World",
                 id="wsgi"),
    pytest.param(["--http-modifier1", "5", "--psgi", str(APPS / "psgi" / "hello.psgi")],
                 "/p", b"Hello from /p", id="psgi"),
    pytest.param(["--http-modifier1", "7", "--rack", str(APPS / "rack" / "hello.ru")],
                 "/r", b"Hello from /r", id="rack"),
    pytest.param(["--http-modifier1", "6", "--lua", str(APPS / "lua" / "hello.lua")],
                 "/", b"Hello World", id="lua"),
    pytest.param(["--http-modifier1", "9", "--cgi", str(APPS / "cgi")],
                 "/env.cgi", None, id="cgi"),
    pytest.param(["--http-modifier1", "14", "--php-docroot", str(APPS / "php")],
                 "/hello.php", b"hello", id="php"),
    pytest.param(["--http-modifier1", "8", "--http-modifier2", "1",
                  "--ring-load", str(APPS / "jvm" / "hello.clj"),
                  "--ring-app", "polyhost.test.hello:handler"],
                 "/", b"Hello World", id="clojure-ring",
                 marks=pytest.mark.skipif(shutil.which("java") is None, reason="needs a JVM")),
]  # fmt: skip


def _first_answer(port: int, path: str) -> bytes:
    try:
        return get(port, path, timeout=60)
    except OSError:
        return b""


@pytest.mark.parametrize(("args", "path", "expected"), QUICKSTARTS)
def test_quickstart_command_serves_its_app(
    tmp_path: Path, args: list[str], path: str, expected: bytes | None
) -> None:
    inst = start_router(tmp_path, args)
    try:
        raw = wait_for(lambda: _first_answer(inst.port, path), 60, f"an answer on {path}")
        status, _, body = split_response(raw)  # type: ignore[arg-type]
        assert status == 200, (body[:300], inst.log()[-2000:])
        if expected is not None:
            assert body == expected
    finally:
        assert inst.stop() == 0


@pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK (openjdk-17-jdk-headless)")
def test_jwsgi_quickstart_answers_through_the_router(tmp_path: Path) -> None:
    """`--http :PORT --http-modifier1 8 --jwsgi Class:method`, the JWSGI quickstart."""
    classes = tmp_path / "classes"
    source = APPS / "jvm" / "java" / "JwsgiHello.java"
    subprocess.run(["javac", "-nowarn", "-d", str(classes), str(source)], check=True, timeout=120)
    args = ["--http-modifier1", "8", "--jvm-classpath", str(classes),
            "--jwsgi", "JwsgiHello:application"]  # fmt: skip
    test_quickstart_command_serves_its_app(tmp_path, args, "/", b"Hello World")


def test_languages_by_mountpoint_without_a_forced_modifier(tmp_path: Path) -> None:
    inst = start_router(
        tmp_path,
        ["--mount", f"/perl={APPS / 'psgi' / 'hello.psgi'}",
         "--mount", f"/ruby={APPS / 'rack' / 'hello.ru'}",
         "--mount", f"/={APPS / 'wsgi' / 'basic.py'}"],
    )  # fmt: skip
    try:
        assert split_response(get(inst.port, "/perl/x", timeout=30))[2] == b"Hello from /x"
        assert split_response(get(inst.port, "/ruby/y", timeout=30))[2] == b"Hello from /y"
        assert split_response(get(inst.port, "/", timeout=30))[2] == b"Hello World"
    finally:
        assert inst.stop() == 0
