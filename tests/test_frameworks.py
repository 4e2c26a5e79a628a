"""Real Django (a `django-admin startproject` site) and Flask apps under polyhost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import APPS, free_port, get, http_request, split_response


def test_django_startproject_site(polyhost, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(tmp_path)],
        check=True,
        timeout=60,
    )
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--chdir",
            str(tmp_path),
            "--module",
            "mysite.wsgi:application",
            "--processes",
            "2",
            "--env",
            "DJANGO_SETTINGS_MODULE=mysite.settings",
        ],
        port=port,
    )
    status, headers, body = split_response(get(port, "/admin/login/", host="127.0.0.1"))
    assert status == 200 and b"Django administration" in body
    assert "csrftoken=" in headers.get("set-cookie", "")
    status, _, body = split_response(get(port, "/nowhere/", host="127.0.0.1"))
    assert status == 404
    # Django's own host validation still applies (ALLOWED_HOSTS)
    assert split_response(get(port, "/admin/login/", host="evil.example"))[0] == 400
    raw = (
        b"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n"
        b"username="
    )
    assert split_response(http_request(port, raw))[0] == 403  # CSRF check ran on the POST
    assert "GET /admin/login/ => generated" in inst.log()


def test_flask_app(polyhost) -> None:
    port = free_port()
    polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--mount",
            f"/app={APPS / 'flask' / 'flaskapp.py'}",
            "--callable",
            "app",
            "--manage-script-name",
        ],
        port=port,
    )
    status, _, body = split_response(get(port, "/app/hello/polyhost?punct=!"))
    assert (status, body) == (200, b"Hello polyhost!")
    form = b"a=1&b=two+words"
    raw = (
        b"POST /app/form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded"
        b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(form), form)
    )
    data = json.loads(split_response(http_request(port, raw))[2])
    assert data == {
        "fields": {"a": "1", "b": "two words"},
        "length": len(form),
        "script_name": "/app",
    }
    payload = b"z" * 200_000
    boundary = b"XbOuNdArY"
    multipart = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
        b'filename="z.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + payload
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )
    raw = (
        b"POST /app/upload HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
        b"boundary="
        + boundary
        + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(multipart)
    ) + multipart
    assert json.loads(split_response(http_request(port, raw))[2]) == {
        "name": "z.bin",
        "size": 200_000,
    }
    _, headers, body = split_response(get(port, "/app/cookie", "Cookie: visit=0\r\n"))
    assert json.loads(body) == {"seen": "0"} and "visit=1" in headers["set-cookie"]
    assert split_response(get(port, "/app/missing"))[0] == 404


def test_wsgiref_validator_finds_no_violation(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(APPS / "wsgi" / "validated.py")],
        port=port,
    )
    for path in ("/", "/stream", "/env", "/file"):
        assert split_response(get(port, path))[0] == 200, inst.log()
    raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    assert split_response(http_request(port, raw))[2] == b"hello"
    assert "AssertionError" not in inst.log() and "WSGIWarning" not in inst.log()
