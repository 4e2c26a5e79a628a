"""Dispatch by modifier1 and mountpoint: forced modifiers, 501 for missing runtimes, mounts."""

from __future__ import annotations

import json

from conftest import APPS, free_port, get, split_response

BASIC = str(APPS / "wsgi" / "basic.py")


def test_http_socket_modifier1_without_runtime_is_501(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--http-socket-modifier1",
            "14",
            "--wsgi-file",
            BASIC,
        ],
        port=port,
    )
    status, _, body = split_response(get(port, "/x"))
    assert status == 501 and b"php-docroot or php-app" in body
    log = inst.wait_log("no app for modifier1 14 (PHP)")
    assert "loaded: python(0) at /" in log


def test_mountpoints_split_script_name(polyhost) -> None:
    port = free_port()
    polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--mount",
            f"/one={BASIC}",
            "--mount",
            f"/one/two={BASIC}",
            "--mount",
            f"/={BASIC}",
        ],
        port=port,
    )
    cases = {
        "/one/env": ("/one", "/env"),
        "/one/two/env": ("/one/two", "/env"),
        "/env": ("", "/env"),
    }
    for path, (script_name, path_info) in cases.items():
        env = json.loads(split_response(get(port, path))[2])
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script_name, path_info), path
    # /onex is not under /one: the default app gets the whole path (not /env, so Hello World)
    assert split_response(get(port, "/onex/env"))[2] == b"Hello World"


def test_module_callable_forms(polyhost, tmp_path) -> None:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "site.py").write_text(
        "def app(e, sr):\n    sr('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'from module']\n\napplication = app\n"
    )
    for module in (
        ["--module", "mypkg.site:app"],
        ["-w", "mypkg.site"],
        ["--module", "mypkg.site", "--callable", "app"],
    ):
        port = free_port()
        inst = polyhost(
            ["--http-socket", f"127.0.0.1:{port}", "--chdir", str(tmp_path), *module], port=port
        )
        assert split_response(get(port, "/"))[2] == b"from module"
        inst.stop()


def test_missing_callable_is_a_clear_error(polyhost, tmp_path) -> None:
    app = tmp_path / "app.py"
    app.write_text("something = 1\n")
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{free_port()}", "--wsgi-file", str(app)], ready=False
    )
    assert inst.proc.wait(20) == 1
    assert "has no callable 'application'" in inst.log()
