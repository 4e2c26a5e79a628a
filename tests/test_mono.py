"""The Mono runtime (modifier1 15) with the real Mono 6.8 and pythonnet: ASP.NET application
directories (.aspx pages, .ashx and bin/ IHttpHandlers) and `mono-handler` .NET handlers, driven
directly with Requests and end to end through polyhost over HTTP (mounts, harakiri, errors)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import CollectingResponder, LogLines, PatternBody, config_of, make_request

from polyhost.bridges.mono import build
from polyhost.bridges.mono.adapter import MonoRuntime
from polyhost.dispatch import App, AppLoadError, AppSpec, RuntimeContext
from polyhost.request import Request

from conftest import APPS, Instance, free_port, get, http_request, split_response, wait_for

MONO_APPS = APPS / "mono"
HANDLER = "Polyhost.Tests.Hello"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the test ASP.NET app with its bin/ handler, and the simple handler assembly."""
    root = tmp_path_factory.mktemp("mono")
    api = build.build([build.UWSGI_API]) / "uwsgi.dll"
    app = root / "aspnet"
    shutil.copytree(MONO_APPS / "aspnet", app)
    (app / "bin").mkdir()
    _mcs(
        app / "bin" / "bin-handlers.dll", MONO_APPS / "bin_hello_handler.cs", api, "System.Web.dll"
    )
    _mcs(root / "handlers.dll", MONO_APPS / "simple_handler.cs", api)
    other = root / "other"
    shutil.copytree(MONO_APPS / "aspnet", other)
    config = other / "web.config"
    config.write_text(config.read_text().replace("hello from web.config", "the other app"))
    return root


def _mcs(out: Path, source: Path, *references: Path | str) -> None:
    refs = [f"-r:{ref}" for ref in references]
    subprocess.run(
        ["mcs", "-target:library", "-nologo", f"-out:{out}", *refs, str(source)],
        check=True,
        timeout=120,
    )


class Loaded:
    """A MonoRuntime loaded in this process (as a worker after fork) and its log."""

    def __init__(self, specs: list[AppSpec], options: dict[str, object], worker_id: int) -> None:
        self.log = LogLines()
        ctx = RuntimeContext(
            config=config_of(options), log=self.log, worker_id=worker_id, threads=4
        )
        self.runtime = MonoRuntime(ctx, specs)
        self.apps = self.runtime.load(0)

    def serve(self, app: App, request: Request, keep_body: bool = True) -> CollectingResponder:
        responder = CollectingResponder(keep_body)
        self.runtime.handle(app, request, responder)
        responder.finish()
        return responder


@pytest.fixture(scope="module")
def mono(built: Path) -> Loaded:
    specs = [
        AppSpec("mono", f"{built / 'handlers.dll'}:{HANDLER}", "", "test handler"),
        AppSpec("mono", str(built / "aspnet"), "/app", "test mount"),
    ]
    return Loaded(specs, {"processes": 4, "mono-gc-freq": 50}, worker_id=3)


@pytest.fixture(scope="module")
def handler(mono: Loaded) -> App:
    return mono.apps[0]


@pytest.fixture(scope="module")
def aspnet(mono: Loaded) -> App:
    return mono.apps[1]


def _page(mono: Loaded, app: App, path: str, **kwargs: object) -> CollectingResponder:
    """A request to the app mounted at /app, as the dispatcher hands it over."""
    query = str(kwargs.pop("query", ""))
    request = make_request(path=path, query=query, script_name="/app", **kwargs)  # type: ignore[arg-type]
    request.vars["REQUEST_URI"] = "/app" + request.vars["REQUEST_URI"]
    return mono.serve(app, request)


# -- start-up --------------------------------------------------------------------------------
def test_start_up_is_logged_with_the_runtime_version(mono: Loaded) -> None:
    started = mono.log.wait_for("CLR started in")
    assert "Mono 6." in started and "(worker 3" in started
    assert "Mono ASP.NET app 1 (" in mono.log.wait_for("Mono ASP.NET app")


def test_a_missing_app_directory_or_assembly_is_a_load_error(tmp_path: Path) -> None:
    ctx = RuntimeContext(config=config_of(), log=LogLines(), worker_id=1)
    with pytest.raises(AppLoadError, match=r"application directory .*nowhere.* does not exist"):
        MonoRuntime(ctx, [AppSpec("mono", str(tmp_path / "nowhere"), "", "cfg:3")])
    with pytest.raises(
        AppLoadError, match=r"cfg:4: mono-handler assembly .*absent\.dll.* not found"
    ):
        MonoRuntime(ctx, [AppSpec("mono", f"{tmp_path}/absent.dll:A.B", "", "cfg:4")])


def test_a_handler_class_that_does_not_exist_names_the_classes_there(built: Path) -> None:
    spec = AppSpec("mono", f"{built / 'handlers.dll'}:Polyhost.Tests.Nope", "", "cfg:9")
    with pytest.raises(AppLoadError) as error:
        Loaded([spec], {}, worker_id=3)
    assert "cfg:9" in str(error.value)
    assert "has no public class Polyhost.Tests.Nope (classes: Polyhost.Tests.Hello)" in str(
        error.value
    )


# -- mono-handler --------------------------------------------------------------------------
def test_handler_hello(mono: Loaded, handler: App) -> None:
    answer = mono.serve(handler, make_request(path="/hi"))
    assert answer.status_line == "200 OK"
    assert answer.header("Content-Type") == "text/plain"
    assert answer.header("Content-Length") == str(len(answer.body))
    assert answer.text() == "Hello from .NET, GET /hi"


def test_handler_env_has_the_uwsgi_vars_with_utf8_text(mono: Loaded, handler: App) -> None:
    zoe = "Zoë".encode().decode("latin-1")  # header bytes reach the vars latin-1 decoded
    answer = mono.serve(
        handler,
        make_request(
            path="/env", query="a=1&b=%C3%AB", headers={"X-Custom": zoe, "Content-Type": "text/x"}
        ),
    )
    env = dict(line.split("=", 1) for line in answer.text().splitlines())
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/env"
    assert env["QUERY_STRING"] == "a=1&b=%C3%AB"
    assert env["HTTP_X_CUSTOM"] == "Zoë"
    assert env["CONTENT_TYPE"] == "text/x"
    assert env["SERVER_PORT"] == "8080"


@pytest.mark.parametrize("size", [0, 1000, 3 * 1024 * 1024 + 7])
def test_handler_reads_the_request_body(mono: Loaded, handler: App, size: int) -> None:
    body = PatternBody(size, piece=40_000)
    request = make_request("POST", "/md5", body=body, content_length=size)
    answer = mono.serve(handler, request)
    assert answer.status_line == "201 Created"
    assert answer.text() == body.expected_md5
    assert answer.header("X-Length") == str(size)


def test_handler_reads_a_dechunked_body_of_unknown_length(mono: Loaded, handler: App) -> None:
    data = b"chunk" * 50_000
    request = make_request("POST", "/md5", body=data, headers={"Transfer-Encoding": "chunked"})
    del request.vars["CONTENT_LENGTH"]
    answer = mono.serve(handler, request)
    assert answer.text() == hashlib.md5(data).hexdigest()


def test_handler_bodies_bytes_stream_and_file(mono: Loaded, handler: App, tmp_path: Path) -> None:
    assert bytes(mono.serve(handler, make_request(path="/bytes")).body) == b"\x00\x01\x02\xff"
    streamed = mono.serve(handler, make_request(path="/stream", query="2048"), keep_body=False)
    expected = hashlib.sha256(bytes(i % 251 for i in range(2048 * 1024))).hexdigest()
    assert streamed.digest.hexdigest() == expected
    assert streamed.writes > 1  # went out in pieces, not as one 2 MiB buffer
    file = tmp_path / "data.txt"
    file.write_bytes(b"file body\n" * 1000)
    sent = mono.serve(handler, make_request(path="/file", query=str(file)))
    assert sent.sendfiles == [(str(file), 0, 10_000)]
    assert bytes(sent.body) == file.read_bytes()


def test_handler_exception_is_500_with_the_dotnet_trace_and_the_worker_lives(
    mono: Loaded, handler: App
) -> None:
    before = handler.exceptions
    answer = mono.serve(handler, make_request(path="/boom"))
    assert answer.status == 500
    logged = mono.log.wait_for("boom from the simple handler")
    assert "System.InvalidOperationException" in logged
    assert "at Polyhost.Tests.Hello.Handle" in logged
    assert handler.exceptions == before + 1
    assert mono.serve(handler, make_request(path="/again")).status == 200


def test_handler_with_a_wrong_result_is_500_saying_what_is_expected(
    mono: Loaded, handler: App
) -> None:
    assert mono.serve(handler, make_request(path="/bad")).status == 500
    assert "must return object[] {status, headers, body}, got 2 items" in mono.log.text()


def test_uwsgi_api_values(mono: Loaded, handler: App) -> None:
    answer = mono.serve(handler, make_request(path="/api"))
    assert answer.text().startswith("worker=3 master=")
    assert "version=2.0.21 numproc=4 processes=4" in answer.text()


def test_threads_share_the_runtime_safely(mono: Loaded, handler: App, aspnet: App) -> None:
    failures: list[str] = []

    def hammer(index: int) -> None:
        for count in range(40):
            app, path = (handler, f"/t{index}") if count % 2 else (aspnet, "/echo.ashx")
            answer = (
                _page(mono, app, path)
                if app is aspnet
                else mono.serve(app, make_request(path=path))
            )
            if answer.status != 200:
                failures.append(f"{path}: {answer.status}")

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


# -- ASP.NET applications ------------------------------------------------------------------
def test_aspx_page_runs_server_code_at_the_mount(mono: Loaded, aspnet: App) -> None:
    answer = _page(mono, aspnet, "/index.aspx", query="name=Zo%C3%AB")
    assert answer.status == 200
    assert answer.header("Content-Type") == "text/html"
    page = answer.text()
    for fragment in (
        '<p id="greeting">hello from web.config</p>',
        '<p id="sum">42</p>',
        '<p id="name">Zo&#235;</p>',
        '<p id="app-path">/app</p>',
        '<p id="path">/app/index.aspx</p>',
        '<p id="raw-url">/app/index.aspx?name=Zo%C3%AB</p>',
        '<p id="link">/app/echo.ashx</p>',
        '<p id="worker">3</p>',
        '<p id="version">2.0.21</p>',
    ):
        assert fragment in page


def test_directory_requests_use_the_index_page_or_redirect_to_the_slash(
    mono: Loaded, aspnet: App
) -> None:
    assert '<p id="file-path">/app/index.aspx</p>' in _page(mono, aspnet, "/").text()
    moved = _page(mono, aspnet, "/sub", query="x=1")
    assert moved.status == 301
    assert moved.header("Location") == "/app/sub/?x=1"
    assert _page(mono, aspnet, "/../web.config").status == 400


def test_path_info_after_the_page(mono: Loaded, aspnet: App) -> None:
    answer = _page(mono, aspnet, "/sub/page.aspx/extra/bits")
    assert (
        answer.text()
        == "<html><body>sub page at /app/sub/page.aspx info /extra/bits</body></html>\n"
    )


def test_ashx_handler_sees_method_headers_and_query(mono: Loaded, aspnet: App) -> None:
    answer = _page(
        mono,
        aspnet,
        "/echo.ashx",
        query="q=%C3%AB",
        headers={"X-Custom": "yes", "User-Agent": "pytest"},
    )
    assert answer.header("X-Handler") == "echo"
    seen = dict(line.split("=", 1) for line in answer.text().splitlines())
    assert seen["method"] == "GET"
    assert seen["path"] == "/app/echo.ashx"
    assert seen["q"] == "ë"
    assert seen["x-custom"] == "yes"
    assert seen["user-agent"] == "pytest"
    assert seen["host"] == "127.0.0.1"


def test_ashx_handler_reads_form_and_large_bodies(mono: Loaded, aspnet: App) -> None:
    form = _page(
        mono,
        aspnet,
        "/echo.ashx",
        method="POST",
        body=b"a=%C3%AB+1&b=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "form-a=ë 1\n" in form.text()
    size = 5 * 1024 * 1024 + 3
    body = PatternBody(size, piece=65536)
    big = _page(
        mono,
        aspnet,
        "/echo.ashx",
        method="POST",
        body=body,
        content_length=size,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert f"length={size}\n" in big.text()
    assert f"md5={body.expected_md5}\n" in big.text()


def test_flushed_output_streams_out_in_pieces(mono: Loaded, aspnet: App) -> None:
    request = make_request(path="/stream.ashx", query="kib=3072", script_name="/app")
    answer = mono.serve(aspnet, request, keep_body=False)
    assert answer.status == 200
    assert answer.bytes_sent == 3072 * 1024
    assert answer.writes >= 40
    piece = bytes(i % 251 for i in range(65536))
    assert answer.digest.hexdigest() == hashlib.sha256(piece * 48).hexdigest()


def test_static_file_and_bin_assembly_handler(mono: Loaded, aspnet: App) -> None:
    before = aspnet.exceptions
    static = _page(mono, aspnet, "/hello.txt")
    assert (static.status, static.text()) == (200, "a static file\n")
    assert aspnet.exceptions == before
    from_bin = _page(mono, aspnet, "/bin-hello.axd")
    assert from_bin.text() == "hello from a bin/ assembly handler, worker 3"
    assert _page(mono, aspnet, "/missing.aspx").status == 404
    assert aspnet.exceptions == before


def test_page_exception_is_500_with_the_dotnet_trace_in_the_log(mono: Loaded, aspnet: App) -> None:
    before = aspnet.exceptions
    answer = _page(mono, aspnet, "/boom.aspx")
    assert answer.status == 500
    logged = mono.log.wait_for("boom from boom.aspx")
    assert "GET /app/boom.aspx: exception in the ASP.NET application" in logged
    assert "at ASP.boom_aspx.Page_Load" in logged
    assert aspnet.exceptions == before + 1
    assert _page(mono, aspnet, "/echo.ashx").status == 200


def test_uwsgi_api_log_from_a_page(mono: Loaded, aspnet: App) -> None:
    answer = _page(mono, aspnet, "/log.aspx", query="say=hi")
    assert "worker 3 of 4" in answer.text()
    mono.log.wait_for("log.aspx says hi")


def test_mono_key_selects_the_app(built: Path) -> None:
    specs = [
        AppSpec("mono", f"one={built / 'aspnet'}", "", "cfg:1"),
        AppSpec("mono", f"two={built / 'other'}", "", "cfg:2"),
    ]
    loaded = Loaded(specs, {"mono-key": ["MONO_APP"]}, worker_id=5)
    first = loaded.apps[0]

    def greeting(key: str | None) -> str:
        request = make_request(path="/index.aspx")
        if key is not None:
            request.vars["MONO_APP"] = key
        page = loaded.serve(first, request).text()
        return page.split('<p id="greeting">')[1].split("<")[0]

    assert greeting("two") == "the other app"
    assert greeting("one") == "hello from web.config"
    assert greeting(None) == "hello from web.config"  # no key: the first app, as uWSGI
    assert loaded.apps[1].requests == 1


# -- through a real polyhost ---------------------------------------------------------------
@pytest.fixture(scope="module")
def instance(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    app = tmp_path_factory.mktemp("served") / "aspnet"  # its own copy: one test edits it
    shutil.copytree(built / "aspnet", app)
    port = free_port()
    args = [
        "--http-socket", f"127.0.0.1:{port}", "--master", "--processes", "1", "--threads", "2",
        "--mount", f"/app={app}",
        "--mount", f"/h={built / 'handlers.dll'}:{HANDLER}",
    ]  # fmt: skip
    inst = Instance(args, tmp_path_factory.mktemp("instance"), port, None)
    try:
        inst.wait_ready()
        yield inst
    finally:
        inst.stop()


def test_http_mounted_aspnet_app_gets_its_virtual_path(instance: Instance) -> None:
    status, headers, body = split_response(get(instance.port, "/app/index.aspx?name=web"))
    assert status == 200, body
    assert b'<p id="link">/app/echo.ashx</p>' in body
    assert b'<p id="raw-url">/app/index.aspx?name=web</p>' in body
    assert headers["content-length"] == str(len(body))
    assert "CLR started in" in instance.wait_log("Mono ASP.NET app")


def test_http_mounted_handler_and_post_body(instance: Instance) -> None:
    status, _, body = split_response(get(instance.port, "/h/there"))
    assert (status, body) == (200, b"Hello from .NET, GET /there")
    data = bytes(range(256)) * 8192
    raw = http_request(
        instance.port,
        (
            b"POST /app/echo.ashx HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            b"Content-Type: application/octet-stream\r\n"
            + f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        ),
    )
    status, _, body = split_response(raw)
    assert status == 200
    assert f"md5={hashlib.md5(data).hexdigest()}".encode() in body


def test_http_exception_keeps_the_worker(instance: Instance) -> None:
    pids = instance.worker_pids()
    status, _, _ = split_response(get(instance.port, "/app/boom.aspx"))
    assert status == 500
    instance.wait_log("at ASP.boom_aspx.Page_Load")
    assert split_response(get(instance.port, "/h/after"))[0] == 200
    assert instance.worker_pids() == pids


def test_harakiri_kills_a_worker_stuck_in_the_clr(built: Path, tmp_path: Path) -> None:
    port = free_port()
    # harakiri 3, not 1: a new worker compiles the page on its first request (~1 s under load)
    inst = Instance([
        "--http-socket", f"127.0.0.1:{port}", "--master", "--processes", "1",
        "--harakiri", "3", "--mono-app", str(built / "aspnet"),
    ], tmp_path, port, None)  # fmt: skip
    try:
        inst.wait_ready()
        assert split_response(get(inst.port, "/sleep.aspx?ms=1", timeout=30))[0] == 200
        stuck = inst.worker_pids()
        status, _, _ = split_response(get(inst.port, "/sleep.aspx?ms=20000", timeout=15))
        assert status == 504
        inst.wait_log("HARAKIRI")
        wait_for(lambda: inst.worker_pids() and inst.worker_pids() != stuck, 20, "a new worker")
        assert split_response(get(inst.port, "/sleep.aspx?ms=1", timeout=30))[0] == 200
    finally:
        inst.stop()


def test_a_missing_app_stops_the_start_with_the_reason(tmp_path: Path) -> None:
    port = free_port()
    inst = Instance(
        ["--http-socket", f"127.0.0.1:{port}", "--master", "--mono-app", str(tmp_path / "nowhere")],
        tmp_path,
        port,
        None,
    )
    try:
        inst.proc.wait(30)
        assert inst.proc.returncode != 0
        assert "application directory" in inst.log() and "does not exist" in inst.log()
    finally:
        inst.stop()


def test_http_changed_web_config_is_served_after_a_dotnet_exception(instance: Instance) -> None:
    assert split_response(get(instance.port, "/h/boom"))[0] == 500  # a .NET exception first
    page = get(instance.port, "/app/index.aspx")
    assert b"hello from web.config" in page
    app = Path(instance.args[instance.args.index("--mount") + 1].split("=", 1)[1])
    config = app / "web.config"
    config.write_text(config.read_text().replace("hello from web.config", "changed"))

    def changed() -> bool:
        return b'<p id="greeting">changed</p>' in get(instance.port, "/app/index.aspx")

    wait_for(changed, 30, "the new web.config to be served")
