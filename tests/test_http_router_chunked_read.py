"""`uwsgi.chunked_read()` behind `--http ... --http-chunked-input`, side by side with real uWSGI.

One WSGI app echoes a chunked upload chunk by chunk (`uwsgi.chunked_read`) under polyhost's router
and under Debian uWSGI's (`--plugins http,python3`); both must answer the same chunks. Then the
cases where polyhost follows RFC 9112 and uWSGI does not (it fails a chunk extension, takes an
invalid size "zz" for the end and skips the CRLF check): a malformed stream and a chunk over
`chunked-input-limit` raise IOError in the app; `chunked_read_nb` returns None before the next
chunk has arrived and the app then reads it while its response streams (uWSGI's router does not
deliver that chunk: its `chunked_read` times out). The Lua `uwsgi.chunked_read` of uWSGI's
master branch is served the same way (Debian's 2.0 lua51 plugin has none: pinned). Rack, JVM
and Mono have no chunked_read in uWSGI (rack_api.c, jvm, jwsgi, ring, mono): none is added.
A chunk that breaks once the request is at the worker: uWSGI's router forwards it unchecked
(pinned); polyhost's logs one line in uWSGI's router format and answers 400 (413 past
limit-post) if the response has not begun, else cuts it.
"""

from __future__ import annotations

import functools
import shutil
import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from polyhost.protocol.uwsgi import encode_vars, pack_header

from conftest import Instance, free_port, http_request, split_response, uwsgi_request, wait_for
from router_helper import listening, start_router
from uwsgi_reference import UWSGI, start_uwsgi, stop_uwsgi

#: Debian's Lua plugin for uWSGI (uwsgi-plugin-lua5.1)
LUA51 = Path("/usr/lib/uwsgi/plugins/lua51_plugin.so")
LUA_PLUGIN = shutil.which(UWSGI) is not None and LUA51.exists()

APP = textwrap.dedent(
    """
    import pathlib
    import uwsgi

    def application(environ, start_response):
        if environ["PATH_INFO"] == "/nb":  # streamed: the client sends the chunk after "None"
            start_response("200 OK", [("Content-Type", "text/plain")])
            return nonblocking()
        parts = []
        try:
            while True:
                chunk = uwsgi.chunked_read(5)
                if not chunk:
                    break
                parts.append(b"[" + chunk + b"]")
                if environ["QUERY_STRING"]:  # the test waits for this file: the app has a chunk
                    (pathlib.Path("MARKS") / environ["QUERY_STRING"]).touch()
        except IOError as exc:
            parts.append(b"IOError:" + str(exc).split(":")[0].encode())
        body = b"".join(parts)
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def nonblocking():
        yield repr(uwsgi.chunked_read_nb()).encode() + b"\\n"
        yield b"[" + uwsgi.chunked_read(5) + b"]"
        yield repr(uwsgi.chunked_read(5)).encode()
    """
)
PSGI_APP = """
my $app = sub {
    my $out = '';
    while ((my $chunk = uwsgi::chunked_read(5)) ne '') { $out .= "[$chunk]" }
    return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $out], [$out]];
};
"""
LUA_APP = """
return function(env)
  if env.PATH_INFO == "/nb" then  -- streamed: the client sends the chunk after "nil"
    return 200, { ["Content-Type"] = "text/plain" }, coroutine.wrap(function()
      coroutine.yield(tostring(uwsgi.chunked_read_nb()) .. "\\n")
      coroutine.yield("[" .. uwsgi.chunked_read(5) .. "]")
      coroutine.yield("'" .. uwsgi.chunked_read(5) .. "'")
    end)
  end
  local out = {}
  local ok, err = pcall(function()
    while true do
      local chunk = uwsgi.chunked_read(5)
      if chunk == "" then break end
      out[#out + 1] = "[" .. chunk .. "]"
    end
  end)
  if not ok then
    err = tostring(err)
    out[#out + 1] = "error:" .. (err:match("unable to receive chunked part") or err)
  end
  local body = table.concat(out)
  return 200, { ["Content-Type"] = "text/plain", ["Content-Length"] = tostring(#body) },
    coroutine.wrap(function() coroutine.yield(body) end)
end
"""
#: the router's limit-post in `ours`: a body that passes it mid-stream is refused there
LIMIT_POST = 4096
HEAD = b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
BODY = b"5\r\nhello\r\n6\r\n world\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"
ECHO = b"[hello][ world][abcdefghijklmnopqrstuvwxyz]"


@pytest.fixture(scope="module")
def app_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chunked") / "echo.py"
    path.write_text(APP.replace("MARKS", str(path.parent)))
    return path


@pytest.fixture(scope="module")
def ours(app_file: Path) -> Iterator[Instance]:
    """The router, and the workers' own uwsgi socket (`uwsgi_port`) for streams the router
    would never forward (it refuses a malformed one)."""
    uwsgi_port = free_port()
    args = ["--http-chunked-input", "--wsgi-file", str(app_file), "--chunked-input-limit", "64",
            "--socket", f"127.0.0.1:{uwsgi_port}", "--limit-post", str(LIMIT_POST)]  # fmt: skip
    inst = start_router(app_file.parent, args)
    inst.uwsgi_port = uwsgi_port  # type: ignore[attr-defined]
    yield inst
    assert inst.stop() == 0


def _echo(port: int, raw: bytes) -> tuple[int, bytes]:
    status, _, body = split_response(http_request(port, raw, 15))
    return status, body


def _packet_env(**extra: str) -> dict[str, str]:
    """The vars of a POST /up packet sent straight to the workers' uwsgi socket."""
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/up", "SERVER_PROTOCOL": "HTTP/1.1", **extra}


def _uwsgi_echo(
    tmp: Path, plugins: str, app: list[str], exchange: Callable[[int], bytes] | None = None
) -> tuple[int, bytes]:
    """Debian uWSGI's router + worker running `app` with --http-chunked-input: its answer (to
    `exchange(port)`, the raw response; by default to HEAD + BODY)."""
    port = free_port()
    args = ["--plugins", plugins, "--http", f"127.0.0.1:{port}", "--master",
            "--http-chunked-input", *app]  # fmt: skip
    proc = start_uwsgi(tmp, args)
    try:
        wait_for(lambda: listening(port), 15, "uWSGI's router")
        if exchange is None:
            return _echo(port, HEAD + BODY)
        status, _, body = split_response(exchange(port))
        return status, body
    finally:
        stop_uwsgi(proc)


@pytest.mark.skipif(shutil.which(UWSGI) is None, reason="needs Debian's uwsgi")
def test_chunked_read_echoes_as_uwsgi(ours: Instance, app_file: Path) -> None:
    theirs = _uwsgi_echo(app_file.parent, "http,python3", ["--wsgi-file", str(app_file)])
    assert theirs == (200, ECHO)
    assert _echo(ours.port, HEAD + BODY) == theirs


@pytest.mark.skipif(shutil.which(UWSGI) is None, reason="needs Debian's uwsgi")
def test_perl_chunked_read_echoes_as_uwsgi(app_file: Path) -> None:
    """uwsgi::chunked_read in a PSGI app (`--http-modifier1 5`), under both."""
    psgi = app_file.parent / "echo.psgi"
    psgi.write_text(PSGI_APP)
    app = ["--http-modifier1", "5", "--psgi", str(psgi)]
    theirs = _uwsgi_echo(app_file.parent, "http,psgi", app)
    assert theirs == (200, ECHO)
    inst = start_router(app_file.parent, ["--http-chunked-input", *app])
    try:
        assert _echo(inst.port, HEAD + BODY) == theirs
    finally:
        assert inst.stop() == 0


@pytest.fixture(scope="module")
def lua_app(app_file: Path) -> list[str]:
    path = app_file.parent / "echo.lua"
    path.write_text(LUA_APP)
    return ["--http-modifier1", "6", "--lua", str(path)]


@pytest.fixture(scope="module")
def ours_lua(app_file: Path, lua_app: list[str]) -> Iterator[Instance]:
    """The Lua app behind polyhost's router, and its workers' own uwsgi socket."""
    uwsgi_port = free_port()
    args = ["--http-chunked-input", *lua_app, "--socket", f"127.0.0.1:{uwsgi_port}"]
    inst = start_router(app_file.parent, args)
    inst.uwsgi_port = uwsgi_port  # type: ignore[attr-defined]
    yield inst
    assert inst.stop() == 0


@pytest.mark.skipif(not LUA_PLUGIN, reason="needs Debian's uwsgi-plugin-lua5.1")
def test_lua_chunked_read_echoes_where_debian_uwsgi_has_none(
    app_file: Path, lua_app: list[str], ours_lua: Instance
) -> None:
    """uwsgi.chunked_read in a WSAPI app (`--http-modifier1 6`): lua_plugin.c has it only since
    uWSGI's master branch (no 2.0 release), so Debian's 2.0 lua51 plugin has no such field;
    polyhost gives master's API (one chunk per call, "" at the end)."""
    status, theirs = _uwsgi_echo(app_file.parent, "http,lua51", lua_app)
    assert status == 200
    assert theirs.endswith(b"attempt to call field 'chunked_read' (a nil value)")
    assert _echo(ours_lua.port, HEAD + BODY) == (200, ECHO)


def test_lua_chunked_read_raises_on_a_broken_stream(ours_lua: Instance) -> None:
    """A malformed stream is a Lua error with uWSGI's message, which the app can catch."""
    env = _packet_env(HTTP_TRANSFER_ENCODING="chunked")
    status, _, answer = split_response(
        uwsgi_request(ours_lua.uwsgi_port, env, b"5\r\nhelloXX0\r\n\r\n")  # type: ignore[attr-defined]
    )
    assert (status, answer) == (200, b"error:unable to receive chunked part")


def test_chunk_extensions_are_skipped(ours: Instance) -> None:
    """RFC 9112 7.1.1 allows `;name=value` after the size; uWSGI fails such a chunk."""
    body = b"5;name=v\r\nhello\r\n0\r\n\r\n"
    assert _echo(ours.port, HEAD + body) == (200, b"[hello]")


def test_a_chunk_arriving_late_is_waited_for(ours: Instance) -> None:
    """The router checks the client's chunks and re-frames what has arrived as it arrives, so
    chunk boundaries may differ from the client's (they carry no meaning, RFC 9112 7.1)."""
    with socket.create_connection(("127.0.0.1", ours.port), timeout=15) as sock:
        sock.sendall(HEAD + b"5\r\nhel")
        sock.sendall(b"lo\r\n")
        sock.sendall(b"0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status, _, body = split_response(data)
    assert status == 200
    assert body.startswith(b"[") and body.endswith(b"]")
    assert body[1:-1].replace(b"][", b"") == b"hello"


def test_chunked_read_nb_returns_none_before_a_chunk(ours: Instance) -> None:
    assert _read_nb(ours, b"None\n").endswith(b"None\n[abc]b''")


def test_lua_chunked_read_nb_returns_nil_before_a_chunk(ours_lua: Instance) -> None:
    """lua_plugin.c raises there ("unable to receive chunked part", EAGAIN is not told apart);
    polyhost returns nil, as the Python and Perl calls return None/undef."""
    assert _read_nb(ours_lua, b"nil\n").endswith(b"nil\n[abc]''")


def _send_once_written(inst: Instance, path: bytes, first: bytes, then: bytes) -> bytes:
    """A chunked request to `path`: everything answered, `then` sent only once the app has
    written `first` (its response has begun)."""
    with socket.create_connection(("127.0.0.1", inst.port), timeout=15) as sock:
        sock.sendall(HEAD.replace(b"/up", path))
        data = b""
        while first not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        sock.sendall(then)
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    return data


def _read_nb(inst: Instance, first: bytes) -> bytes:
    """GET /nb: the answer, the chunk sent only once the app has written `first`."""
    return _send_once_written(inst, b"/nb", first, b"3\r\nabc\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"41\r\n" + b"x" * 65 + b"\r\n0\r\n\r\n",
    ],
    ids=["bad-size", "no-crlf", "over-limit"],
)
def test_a_broken_stream_raises_ioerror(ours: Instance, body: bytes) -> None:
    env = _packet_env(HTTP_TRANSFER_ENCODING="chunked")
    status, _, answer = split_response(uwsgi_request(ours.uwsgi_port, env, body))  # type: ignore[attr-defined]
    assert (status, answer) == (200, b"IOError:unable to receive chunked part")


def test_a_client_gone_mid_stream_raises_ioerror(ours: Instance) -> None:
    env = _packet_env(HTTP_TRANSFER_ENCODING="chunked")
    block = encode_vars(env)
    with socket.create_connection(("127.0.0.1", ours.uwsgi_port), timeout=15) as sock:  # type: ignore[attr-defined]
        sock.sendall(pack_header(0, len(block), 0) + block + b"5\r\nhello\r\n5\r\nwo")
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert split_response(data)[2] == b"[hello]IOError:unable to receive chunked part"


def test_a_body_with_a_length_is_read_in_pieces_too(ours: Instance) -> None:
    """Where the body is not raw chunked (a declared length, http-socket, HTTP/2), the same app
    still works: chunked_read returns the body, then b""."""
    env = _packet_env(CONTENT_LENGTH="11")
    status, _, answer = split_response(uwsgi_request(ours.uwsgi_port, env, b"hello world"))  # type: ignore[attr-defined]
    assert (status, answer) == (200, b"[hello world]")


def _break_at_the_worker(marks: Path, mark: str, port: int, tail: bytes) -> bytes:
    """POST a first chunk, wait until the app has read it (its mark file), then send `tail`:
    the raw response, "" when the connection closed without one."""
    raw = HEAD.replace(b"/up", b"/up?" + mark.encode())
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(raw + b"5\r\nhello\r\n")
        wait_for((marks / mark).exists, 15, "the app to read the first chunk")
        sock.sendall(tail)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


BROKEN = b"zz\r\nabc\r\n0\r\n\r\n"


@pytest.mark.skipif(shutil.which(UWSGI) is None, reason="needs Debian's uwsgi")
def test_uwsgi_router_forwards_a_broken_chunk_unchecked(app_file: Path) -> None:
    """uWSGI's router passes the bytes on as they come: its worker takes "zz" for the end."""
    exchange = functools.partial(_break_at_the_worker, app_file.parent, "theirs", tail=BROKEN)
    app = ["--wsgi-file", str(app_file)]
    assert _uwsgi_echo(app_file.parent, "http,python3", app, exchange) == (200, b"[hello]")


def _log_line(inst: Instance, text: str) -> str:
    """The first line of the instance's log holding `text` (waited for)."""
    return next(line for line in inst.wait_log(text).splitlines() if text in line)


def test_a_chunk_broken_at_the_worker_is_answered_400_and_logged(
    ours: Instance, app_file: Path
) -> None:
    """polyhost's router checks each chunk: when one breaks after the request went to the
    worker, one line in uWSGI's router format says who and why, and the client gets a 400."""
    data = _break_at_the_worker(app_file.parent, "ours", ours.port, BROKEN)
    assert split_response(data)[0] == 400
    line = _log_line(ours, "/up?ours: refused mid-body")
    assert "[uwsgi-http key: t client_addr: 127.0.0.1 client_port: " in line
    assert "] POST /up?ours: refused mid-body, after it went to the worker: bad HTTP" in line
    assert "(answered 400; the worker's answer is dropped)" in line


def test_a_body_over_limit_post_at_the_worker_is_answered_413(
    ours: Instance, app_file: Path
) -> None:
    """The same path for a chunked body that passes limit-post once it is at the worker."""
    chunk = b"x" * 60
    tail = (b"3c\r\n" + chunk + b"\r\n") * (LIMIT_POST // len(chunk) + 1) + b"0\r\n\r\n"
    data = _break_at_the_worker(app_file.parent, "big", ours.port, tail)
    assert split_response(data)[0] == 413
    line = _log_line(ours, "/up?big: refused mid-body")
    assert f"request body over limit-post ({LIMIT_POST} bytes) (answered 413;" in line


def test_a_chunk_broken_mid_response_cuts_it(ours: Instance) -> None:
    """Once the response has begun there is no status to send: it is cut, and logged so."""
    data = _send_once_written(ours, b"/nb?cut", b"None\n", b"\x1b[31mzz\r\n")
    assert b"400" not in data
    line = _log_line(ours, "/nb?cut: refused mid-body")
    assert "(response cut short; the worker's answer is dropped)" in line
