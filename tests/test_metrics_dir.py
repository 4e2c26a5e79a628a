"""metrics-dir: one page-sized file per metric, the value and a newline then NUL bytes, side by
side with real uWSGI (whose file format and core metric names it shares); metrics-dir-restore."""

from __future__ import annotations

import mmap
from pathlib import Path

from conftest import APPS, free_port, get, wait_for
from supervision_support import UWSGI, serves, stop_uwsgi

APP = str(APPS / "metrics" / "app.py")
METRICS = ["--metric", "hits.py", "--metric", "name=depth,type=gauge,initial_value=4"]


def page(directory: Path, name: str) -> bytes:
    """A metric file's text (the NUL padding checked and cut off); b"" while it is absent."""
    path = directory / name
    if not path.exists():
        return b""
    data = path.read_bytes()
    assert len(data) == mmap.PAGESIZE, f"{name}: {len(data)} bytes"
    text, _, padding = data.partition(b"\0")
    assert padding.strip(b"\0") == b"", f"{name}: bytes after the value"
    return text


def wait_core_metrics(directory: Path, server: str) -> None:
    """After two requests on the only worker: uWSGI's core metric files say so."""
    for name, text in (("worker.1.requests", b"2\n"), ("worker.0.requests", b"2\n"),
                       ("core.idle_workers", b"1\n")):  # fmt: skip
        wait_for(lambda n=name, t=text: page(directory, n) == t, 30, f"{server}'s {name}")


def two_requests(port: int) -> None:
    for _ in range(2):
        assert get(port, "/").startswith(b"HTTP/1.1 200")


def test_uwsgi_metrics_dir_format_and_core_names(polyhost, tmp_path: Path) -> None:
    """The reference: core metrics as "N\\n" in a page; a custom metric's page stays empty."""
    directory = tmp_path / "uwsgi-metrics"
    directory.mkdir()
    port = free_port()
    inst = polyhost(
        [*UWSGI, "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", APP, *METRICS,
         "--metrics-dir", str(directory), "--cache2", "name=x,items=4"],
        program=[],
        port=port,
        ready=False,
    )  # fmt: skip
    try:
        wait_for(lambda: serves(port), 30, "uWSGI serving")
        assert serves(port)
        wait_core_metrics(directory, "uWSGI")
        assert page(directory, "hits.py") == b""  # uWSGI 2.0 never writes an app's metric
    finally:
        stop_uwsgi(inst)


def test_polyhost_metrics_dir_writes_app_and_core_metrics_and_restores(
    polyhost, tmp_path: Path
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = free_port()
    args = ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", APP, *METRICS,
            "--metrics-dir", str(directory), "--cache2", "name=x,items=4"]  # fmt: skip
    inst = polyhost(args, port=port)
    assert page(directory, "depth") == b"4\n"
    assert page(directory, "hits.py") == b"0\n"
    inst.wait_log("memory allocated for metrics storage: ")
    two_requests(port)
    wait_for(lambda: page(directory, "hits.py") == b"2\n", 30, "the app's metric in its file")
    wait_core_metrics(directory, "polyhost")
    assert page(directory, "socket.0.listen_queue") == b"0\n"
    assert int(page(directory, "worker.1.rss_size")) > 0
    assert inst.stop() == 0
    # restore: the next instance starts each app metric from its file
    restored = polyhost([*args, "--metrics-dir-restore"], port=port)
    assert get(port, "/").endswith(b"3")
    wait_for(lambda: page(directory, "hits.py") == b"3\n", 30, "the restored metric counting on")
    assert restored.stop() == 0


def test_metrics_dir_that_is_no_directory_is_a_startup_error(polyhost, tmp_path: Path) -> None:
    port = free_port()
    missing = tmp_path / "nope"
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", APP, "--metrics-dir", str(missing)],
        port=port,
        ready=False,
    )
    assert inst.proc.wait(15) == 1
    assert f"metrics-dir = {missing} (command line): not a directory" in inst.log()
