"""The JVM runtime with OpenJDK 17 (JPype) and Debian's Clojure: JWSGI and Ring env and response
conformance, every body kind, Java exceptions, 50 MiB bodies streaming both ways, threads, load
failures with the package to install, the class cache, and a live polyhost serving a Clojure app,
JWSGI apps and Lua by mountpoint and modifier1/modifier2, with stats RSS and harakiri.

A JVM must never start inside pytest (later tests fork), so the runtime is driven in a helper
process (tests/apps/jvm/runtime_host.py) with real Requests and a collecting Responder.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from polyhost.bridges.jvm.adapter import CLOJURE_JAR, compiled_classes, find_java_home
from polyhost.protocol.uwsgi import encode_vars, pack_header

from conftest import APPS, Instance, free_port, get, http_request, serving, split_response, wait_for

JVM_APPS = APPS / "jvm"
HOST = JVM_APPS / "runtime_host.py"
RING = str(JVM_APPS / "ring_conformance.clj")
NOTES = str(JVM_APPS / "notes.clj")
BIG = 50 * 1024 * 1024

pytestmark = pytest.mark.skipif(
    shutil.which("javac") is None
    or not os.path.isfile(CLOJURE_JAR)
    or subprocess.run([sys.executable, "-c", "import jpype"], capture_output=True).returncode,
    reason="needs openjdk-17-jdk-headless, clojure (Debian) and jpype1 (pip)",
)


class JvmHost:
    """A JvmRuntime loaded in its own process; `serve` sends one request and returns the result."""

    def __init__(self, target: str, env: dict[str, str] | None = None, **setup: Any) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HOST), json.dumps({"target": target, **setup})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.started = self._next(timeout=120)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    def _next(self, timeout: float = 60) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        assert line, f"the runtime host exited with {self.proc.wait(10)}"
        return json.loads(line)  # type: ignore[no-any-return]

    def send(self, path: str, body: bytes = b"", **message: Any) -> None:
        assert self.proc.stdin is not None
        message.update(path=path, body=base64.b64encode(body).decode())
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 60) -> dict[str, Any]:
        result = self._next(timeout)
        result["body"] = base64.b64decode(result["body"])
        result["headers"] = [tuple(h) for h in result["headers"]]
        return result

    def serve(self, path: str, body: bytes = b"", **message: Any) -> dict[str, Any]:
        self.send(path, body, **message)
        return self.receive()

    def log(self) -> str:
        return "\n".join(self.started.get("log", []))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def header(result: dict[str, Any], name: str) -> str | None:
    return next((v for k, v in result["headers"] if k.lower() == name.lower()), None)


def env_lines(body: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in body.decode().splitlines())


@pytest.fixture(scope="module")
def java_apps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JWSGI test apps compiled against polyhost's `uwsgi` class and packed in lib/*.jar."""
    tmp = tmp_path_factory.mktemp("jvm-apps")
    java_home = find_java_home()
    api = compiled_classes(java_home, "", lambda line: None)
    classes, lib = tmp / "classes", tmp / "lib"
    lib.mkdir()
    sources = sorted(str(p) for p in (JVM_APPS / "java").glob("*.java"))
    subprocess.run(
        [
            str(java_home / "bin" / "javac"),
            "-nowarn",
            "-d",
            str(classes),
            "-cp",
            str(api),
            *sources,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            str(java_home / "bin" / "jar"),
            "cfe",
            str(lib / "jwsgi-tests.jar"),
            "JwsgiHello",
            "-C",
            str(classes),
            ".",
        ],
        check=True,
    )
    return tmp


@pytest.fixture(scope="module")
def jwsgi(java_apps: Path) -> Iterator[JvmHost]:
    host = JvmHost(
        "JwsgiConformance:application",
        threads=3,
        options={
            "jvm-classpath": [str(java_apps / "lib" / "*")],
            "jvm-main-class": ["JwsgiMain"],
            "jvm-opt": ["-Dpolyhost.test.prop=set", "-Xmx64m"],
            "processes": 2,
        },
    )
    assert "error" not in host.started, host.started
    yield host
    host.close()


@pytest.fixture(scope="module")
def ring() -> Iterator[JvmHost]:
    host = JvmHost(RING, options={"jvm-opt": ["-Xmx64m"]})
    assert "error" not in host.started, host.started
    yield host
    host.close()


# -- JWSGI --------------------------------------------------------------------------------------
def test_jwsgi_env_and_start_up_log(jwsgi: JvmHost) -> None:
    result = jwsgi.serve("/env", query="a=1", headers={"X-Name": "caf\xc3\xa9"})
    env = env_lines(result["body"])
    assert env["jwsgi.input"] == "uwsgi$RequestBody"
    assert (env["PATH_INFO"], env["QUERY_STRING"], env["REQUEST_METHOD"]) == ("/env", "a=1", "GET")
    assert env["HTTP_X_NAME"] == "café"  # UTF-8 request bytes become Java text, as in uWSGI
    assert "CONTENT_LENGTH" not in env
    log = jwsgi.log()
    assert "JVM 17" in log and "started in" in log
    assert "jvm-main-class JwsgiMain: main() done" in log
    assert "JWSGI app JwsgiConformance:application loaded (worker 1)" in log


def test_jwsgi_string_body_gets_a_content_length(jwsgi: JvmHost) -> None:
    result = jwsgi.serve("/string")
    assert result["status_line"] == "200 OK"
    assert result["body"] == "héllo from JWSGI".encode()
    assert header(result, "Content-Length") == str(len(result["body"]))
    assert result["writes"] == 1


def test_jwsgi_body_kinds(jwsgi: JvmHost) -> None:
    assert jwsgi.serve("/bytes")["body"] == bytes(range(256))
    assert jwsgi.serve("/string-array")["body"] == b"one two three"
    iterable = jwsgi.serve("/iterable")
    assert (iterable["body"], iterable["writes"]) == (b"text bytes 42", 3)
    assert header(iterable, "Content-Length") is None  # streamed, so the framing decides
    big = jwsgi.serve("/big-string", keep_body=False)
    assert big["bytes_sent"] == 3 * 1024 * 1024 and big["writes"] == 48


def test_jwsgi_header_arrays_and_lists(jwsgi: JvmHost) -> None:
    result = jwsgi.serve("/headers")
    assert result["status_line"] == "201 Created"
    assert sorted(result["headers"]) == [
        ("Content-Length", "4"),
        ("Content-Type", "text/plain"),
        ("X-Array", "a"),
        ("X-Array", "b"),
        ("X-List", "c"),
        ("X-List", "d"),
    ]


def test_jwsgi_file_body_is_sent_with_sendfile(jwsgi: JvmHost) -> None:
    path = str(JVM_APPS / "notes.clj")
    result = jwsgi.serve("/file", query=path)
    size = os.path.getsize(path)
    assert result["sendfiles"] == [[path, 0, size]]
    assert header(result, "Content-Length") == str(size)
    assert result["body"] == Path(path).read_bytes()
    missing = jwsgi.serve("/file", query="/nonexistent/body.txt")
    assert missing["status"] == 500
    assert "the app's response body is the file /nonexistent/body.txt, which fails" in "\n".join(
        missing["log"]
    )


def test_jwsgi_input_stream_body_is_streamed_and_closed(jwsgi: JvmHost) -> None:
    assert jwsgi.serve("/stream")["body"] == b"streamed body"
    assert jwsgi.serve("/stream-closed")["body"] == b"closed=true"


def test_jwsgi_input_read_line(jwsgi: JvmHost) -> None:
    result = jwsgi.serve("/read-line", b"first line\nXsecond\n", method="POST")
    assert result["body"] == b"[first line\n][X][second\n][-1]"


def test_java_exception_is_a_500_with_the_stack_trace(jwsgi: JvmHost) -> None:
    result = jwsgi.serve("/throw")
    assert result["status"] == 500
    log = "\n".join(result["log"])
    assert "GET /throw: Java exception in the JWSGI app JwsgiConformance:application:" in log
    assert "java.lang.IllegalStateException: boom in the JWSGI app" in log
    assert "\tat JwsgiConformance.application(JwsgiConformance.java:" in log
    assert 'Caused by: java.lang.NumberFormatException: For input string: "not a number"' in log
    assert jwsgi.serve("/string")["status"] == 200
    bad = jwsgi.serve("/bad-return")
    assert bad["status"] == 500
    assert "returned an Object[] of 2 items, not Object[]{status, headers, body}" in "\n".join(
        bad["log"]
    )
    assert bad["exceptions"] >= 2


def test_uwsgi_class_from_java(jwsgi: JvmHost) -> None:
    result = jwsgi.serve("/uwsgi")
    assert result["body"] == (
        b"worker=1 numproc=2 version=2.0.21 request=0 masterpid=0 main=yes prop=set opt=null"
    )
    assert "uwsgi.log from the JWSGI app" in result["log"]


def test_big_upload_and_download_stream_through(jwsgi: JvmHost) -> None:
    upload = jwsgi.serve("/md5", method="POST", pattern=BIG, measure=True)
    assert upload["body"].decode() == f"{BIG} {upload['upload_md5']}"
    echo = jwsgi.serve("/echo", method="POST", pattern=BIG, keep_body=False, measure=True)
    assert echo["bytes_sent"] == BIG
    download = jwsgi.serve("/download", query=str(BIG), keep_body=False, measure=True)
    assert download["bytes_sent"] == BIG
    for result in (upload, echo, download):
        assert result["rss_growth_kib"] < 48 * 1024, result["rss_growth_kib"]


def test_chunked_upload_of_unknown_length(jwsgi: JvmHost) -> None:
    result = jwsgi.serve(
        "/md5",
        method="POST",
        pattern=300_000,
        chunked=True,
        headers={"Transfer-Encoding": "chunked"},
    )
    assert result["body"].decode() == f"300000 {result['upload_md5']}"


def test_each_worker_thread_calls_into_the_jvm(jwsgi: JvmHost) -> None:
    for index in range(3):
        jwsgi.send("/sleep", query="300", parallel=True, id=index)
    results = [jwsgi.receive() for _ in range(3)]
    assert sorted(r["id"] for r in results) == [0, 1, 2]
    assert all(r["body"] == b"slept" for r in results)


# -- Ring ---------------------------------------------------------------------------------------
def test_ring_request_map(ring: JvmHost) -> None:
    result = ring.serve(
        "/request",
        b"a=1",
        method="POST",
        query="x=1&y=2",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Forwarded-For": "10.0.0.1",
        },
    )
    lines = result["body"].decode().splitlines()
    request = dict(line.split("=", 1) for line in lines)
    assert request[":server-port"] == "java.lang.Integer 8080"
    assert request[":server-name"] == '"127.0.0.1"'
    assert request[":remote-addr"] == '"127.0.0.1"'
    assert request[":uri"] == '"/request"'
    assert request[":query-string"] == '"x=1&y=2"'
    assert request[":scheme"] == ":http"
    assert request[":request-method"] == ":post"
    assert request[":protocol"] == '"HTTP/1.1"'
    assert request[":content-type"] == '"application/x-www-form-urlencoded; charset=utf-8"'
    assert request[":content-length"] == "java.lang.Long 3"
    assert request[":character-encoding"] == '"utf-8"'
    assert request[":ssl-client-cert"] == "nil"
    assert request[":context"] == ":polyhost.test.ring-conformance/absent"
    assert request[":headers"] == (
        '{"content-length" "3", "content-type" "application/x-www-form-urlencoded; '
        'charset=utf-8", "host" "127.0.0.1:8080", "x-forwarded-for" "10.0.0.1"}'
    )
    assert request[":body"] == "uwsgi$RequestBody"


def test_ring_request_map_defaults_and_https(ring: JvmHost) -> None:
    result = ring.serve("/request", vars={"UWSGI_SCHEME": "https"})
    request = dict(line.split("=", 1) for line in result["body"].decode().splitlines())
    assert request[":scheme"] == ":https"
    assert request[":query-string"] == "nil"
    assert request[":content-type"] == "nil"
    assert request[":request-method"] == ":get"


def test_ring_mounted_request_has_context_and_path_info(ring: JvmHost) -> None:
    result = ring.serve(
        "/request", script_name="/mounted", vars={"REQUEST_URI": "/mounted/request?q"}
    )
    request = dict(line.split("=", 1) for line in result["body"].decode().splitlines())
    assert request[":uri"] == '"/mounted/request"'
    assert request[":context"] == '"/mounted"'
    assert request[":path-info"] == '"/request"'


def test_ring_body_kinds(ring: JvmHost) -> None:
    assert ring.serve("/string")["body"] == "héllo from Ring".encode()
    seq = ring.serve("/seq")
    assert (seq["body"], seq["writes"]) == (b"one two three", 3)
    path = str(JVM_APPS / "hello.clj")
    file = ring.serve("/file", query=path)
    assert file["sendfiles"] == [[path, 0, os.path.getsize(path)]]
    assert ring.serve("/input-stream")["body"] == b"from an input stream"
    empty = ring.serve("/nil")
    assert (empty["status_line"], empty["body"], empty["headers"]) == ("204 No Content", b"", [])
    assert ring.serve("/bytes")["body"] == bytes(range(10))
    many = ring.serve("/headers")
    assert ("X-Many", "a") in many["headers"] and ("X-Many", "b") in many["headers"]
    assert ring.serve("/no-status")["status"] == 200


def test_ring_body_input_stream(ring: JvmHost) -> None:
    assert ring.serve("/slurp", b"posted text", method="POST")["body"] == b"got posted text"
    echo = ring.serve("/echo", method="POST", pattern=BIG, keep_body=False, measure=True)
    assert echo["bytes_sent"] == BIG
    assert echo["rss_growth_kib"] < 48 * 1024, echo["rss_growth_kib"]


def test_ring_exceptions_and_bad_responses_are_500s(ring: JvmHost) -> None:
    thrown = ring.serve("/throw")
    assert thrown["status"] == 500
    log = "\n".join(thrown["log"])
    assert 'clojure.lang.ExceptionInfo: boom in the Ring handler {:uri "/throw"}' in log
    assert "ring_conformance.clj:" in log
    not_a_map = ring.serve("/not-a-map")
    assert not_a_map["status"] == 500
    assert (
        "Ring handler polyhost.test.ring-conformance/handler returned a java.lang.String, "
        "not a response map" in "\n".join(not_a_map["log"])
    )
    assert ring.serve("/string")["status"] == 200


def test_uwsgi_namespace_from_clojure(ring: JvmHost) -> None:
    result = ring.serve("/uwsgi")
    assert result["body"] == b"worker=1 version=2.0.21 numproc=1 request=0"
    assert "uwsgi/log from the Ring app" in result["log"]
    assert "Clojure 1.11" in ring.log()


def test_ring_app_option_with_ring_load(tmp_path: Path) -> None:
    host = JvmHost(
        "polyhost.test.notes:handler",
        options={
            "ring-app": "polyhost.test.notes:handler",
            "ring-load": [NOTES],
        },
    )
    try:
        assert "error" not in host.started, host.started
        result = host.serve(
            "/notes",
            b"text=from+ring-load",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (result["status"], header(result, "Location")) == (303, "/notes/0")
        assert b"from ring-load" in host.serve("/notes/0")["body"]
    finally:
        host.close()


# -- load failures: each names what failed or what to install ----------------------------------
def load_error(target: str, env: dict[str, str] | None = None, **setup: Any) -> str:
    host = JvmHost(target, env=env, **setup)
    host.close()
    assert "error" in host.started, host.started
    return str(host.started["error"])


def test_missing_jwsgi_class(java_apps: Path) -> None:
    error = load_error("NoSuchApp:application")
    assert error.startswith("test: JWSGI app NoSuchApp:application: ")
    assert "java.lang.ClassNotFoundException: NoSuchApp" in error


def test_jwsgi_method_of_the_wrong_shape(java_apps: Path) -> None:
    error = load_error(
        "JwsgiConformance:text",
        options={"jvm-classpath": [str(java_apps / "lib" / "jwsgi-tests.jar")]},
    )
    assert "has no public method text(java.util.HashMap) returning Object[]" in error


def test_clojure_compile_error_stops_the_load() -> None:
    error = load_error(str(JVM_APPS / "broken.clj"))
    assert "Unable to resolve symbol: undefined-function" in error
    assert "broken.clj" in error


def test_ring_app_namespace_from_the_classpath_naming_a_missing_var(tmp_path: Path) -> None:
    (tmp_path / "polyhost_tmp").mkdir()
    (tmp_path / "polyhost_tmp" / "app.clj").write_text(
        "(ns polyhost-tmp.app)\n(defn handler [_] {:status 200})\n"
    )
    error = load_error(
        "polyhost-tmp.app:nope",
        options={
            "ring-app": "polyhost-tmp.app:nope",
            "jvm-classpath": [str(tmp_path)],
        },
    )
    assert "namespace polyhost-tmp.app has no var nope" in error  # required from the classpath


def test_missing_jpype_names_the_package() -> None:
    assert "pip install jpype1" in load_error("Any:app", hide=["jpype"])


def test_missing_clojure_names_the_debian_package() -> None:
    error = load_error(RING, patch={"CLOJURE_JAR": "/nonexistent/clojure.jar"})
    assert "install the Debian package clojure" in error


def test_bad_java_home_names_the_jdk_package(tmp_path: Path) -> None:
    error = load_error("Any:app", env={"JAVA_HOME": str(tmp_path)})
    assert f"JAVA_HOME={tmp_path} holds no JVM" in error
    assert "openjdk-17-jdk-headless" in error


def test_missing_javac_names_the_jdk_package(tmp_path: Path) -> None:
    real = find_java_home()
    (tmp_path / "jdk" / "lib" / "server").mkdir(parents=True)
    (tmp_path / "jdk" / "lib" / "server" / "libjvm.so").symlink_to(
        real / "lib" / "server" / "libjvm.so"
    )
    error = load_error(
        "Any:app",
        env={
            "JAVA_HOME": str(tmp_path / "jdk"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "PATH": "/nonexistent",
        },
    )
    assert "javac is needed once" in error and "openjdk-17-jdk-headless" in error


def test_classes_are_built_once_and_cached(tmp_path: Path, java_apps: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    options = {"jvm-classpath": [str(java_apps / "lib" / "jwsgi-tests.jar")]}
    first = JvmHost("JwsgiHello:application", env=env, options=options)
    first.close()
    assert "built polyhost's Java classes" in first.log()
    built = list((tmp_path / "polyhost" / "jvm").iterdir())
    assert len(built) == 1 and (built[0] / "uwsgi.class").is_file()
    second = JvmHost("JwsgiHello:application", env=env, options=options)
    try:
        assert "built polyhost's Java classes" not in second.log()
        assert second.serve("/")["body"] == b"Hello World"
    finally:
        second.close()


# -- a live polyhost: Clojure, JWSGI and Lua apps by mountpoint, JVM by modifier2 ---------------
@pytest.fixture(scope="module")
def instance(
    java_apps: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Instance, int, int]]:
    tmp = tmp_path_factory.mktemp("jvm-live")
    stats_port = free_port()
    args = [
        "--stats",
        f"127.0.0.1:{stats_port}",
        "--processes",
        "1",
        "--harakiri",
        "2",
        "--jvm-classpath",
        str(java_apps / "lib" / "*"),
        "--mount",
        f"/notes-app={NOTES}",
        "--mount",
        "/jwsgi=JwsgiConformance:application",
        "--mount",
        f"/hello={java_apps / 'lib' / 'jwsgi-tests.jar'}",
        "--mount",
        f"/lua={APPS / 'lua' / 'hello.lua'}",
    ]
    with serving(tmp, args, uwsgi_socket=True, timeout=60) as inst:
        assert inst.uwsgi_port is not None
        yield inst, inst.uwsgi_port, stats_port


def form_post(port: int, path: str, form: str) -> bytes:
    return http_request(
        port,
        (
            f"POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(form)}\r\n\r\n"
            f"{form}"
        ).encode(),
    )


def test_live_clojure_app_with_routing_and_a_post(instance) -> None:  # type: ignore[no-untyped-def]
    inst, _, _ = instance
    status, _, body = split_response(get(inst.port, "/notes-app/notes"))
    assert (status, body) == (200, b"<ul></ul>")
    status, headers, _ = split_response(
        form_post(inst.port, "/notes-app/notes", "text=caf%C3%A9+%3Cb%3E")
    )
    assert (status, headers["location"]) == (303, "/notes-app/notes/0")
    status, _, body = split_response(get(inst.port, "/notes-app/notes/0"))
    assert (status, body.decode()) == (200, "<p>café &lt;b&gt;</p>")
    status, _, body = split_response(get(inst.port, "/notes-app/notes/7"))
    assert (status, body) == (404, b"no note 7")
    assert split_response(get(inst.port, "/notes-app/whoami"))[2] == b"worker 1"


def test_live_jwsgi_jar_and_lua_mounts(instance) -> None:  # type: ignore[no-untyped-def]
    inst, _, _ = instance
    status, _, body = split_response(get(inst.port, "/jwsgi/env?z=9"))
    env = env_lines(body)
    assert (status, env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == (
        200,
        "/jwsgi",
        "/env",
        "z=9",
    )
    assert split_response(get(inst.port, "/hello"))[2] == b"Hello World"  # the jar's Main-Class
    assert split_response(get(inst.port, "/lua"))[2] == b"Hello World"
    log = inst.log()
    assert "JVM 17" in log and "Clojure 1.11.1 ready in" in log
    assert "Ring app polyhost.test.notes:handler loaded (worker 1)" in log


def test_live_jvm_handlers_by_modifier2(instance) -> None:  # type: ignore[no-untyped-def]
    _, uwsgi_port, _ = instance

    def uwsgi_get(modifier2: int, script_name: str, path: str) -> bytes:
        block = encode_vars(
            {
                "REQUEST_METHOD": "GET",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "SERVER_NAME": "t",
                "SERVER_PORT": "80",
                "REMOTE_ADDR": "10.1.2.3",
                "QUERY_STRING": "",
                "SCRIPT_NAME": script_name,
                "PATH_INFO": path,
                "REQUEST_URI": script_name + path,
            }
        )
        with socket.create_connection(("127.0.0.1", uwsgi_port), timeout=10) as sock:
            sock.sendall(pack_header(8, len(block), modifier2) + block)
            return b"".join(iter(lambda: sock.recv(65536), b""))

    assert split_response(uwsgi_get(1, "/notes-app", "/whoami"))[2] == b"worker 1"  # Ring
    assert split_response(uwsgi_get(0, "/hello", "/"))[2] == b"Hello World"  # JWSGI


def test_live_exception_keeps_the_worker_and_stats_show_the_jvm_rss(instance) -> None:  # type: ignore[no-untyped-def]
    inst, _, stats_port = instance
    pids = inst.worker_pids()
    assert split_response(get(inst.port, "/jwsgi/throw"))[0] == 500
    inst.wait_log("java.lang.IllegalStateException: boom in the JWSGI app")
    assert split_response(get(inst.port, "/hello"))[0] == 200
    assert inst.worker_pids() == pids
    with socket.create_connection(("127.0.0.1", stats_port), timeout=5) as sock:
        stats = json.loads(b"".join(iter(lambda: sock.recv(65536), b"")))
    worker = stats["workers"][0]
    assert worker["pid"] == pids[0]
    assert worker["rss"] > 50 * 1024 * 1024  # a JVM and Clojure live in this worker


def test_live_harakiri_kills_a_worker_stuck_in_java(instance) -> None:  # type: ignore[no-untyped-def]
    inst, _, _ = instance
    before = inst.worker_pids()
    # the app sleeps 60 s; the client's 30 s timeout bounds the wait for harakiri's 504
    status, _, _ = split_response(get(inst.port, "/jwsgi/sleep?60000", timeout=30))
    assert status == 504
    inst.wait_log("HARAKIRI ON WORKER 1")
    wait_for(lambda: inst.worker_pids() and inst.worker_pids() != before, 30, "a new worker")
    wait_for(lambda: b"Hello World" in get(inst.port, "/hello"), 60, "the new worker's JVM")


def test_an_app_that_fails_to_load_stops_the_instance(polyhost) -> None:  # type: ignore[no-untyped-def]
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{free_port()}", "--jwsgi", "NoSuchApp"], ready=False
    )
    inst.proc.wait(timeout=60)
    assert inst.proc.returncode != 0
    log = inst.log()
    assert "java.lang.ClassNotFoundException: NoSuchApp" in log
