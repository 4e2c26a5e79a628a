"""Static files served by the host: lookup, MIME types, conditional and range requests, Expires,
.gz siblings, traversal attempts of every kind, and offload-threads over a real instance."""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import CollectingResponder, config_of, make_request

from polyhost.static import StaticFiles

from conftest import APPS, Instance, free_port, get, split_response

SECRET = b"the secret outside every root\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """served/ (the served root), outside/ (never served), shared/ (a symlink target)."""
    base = tmp_path_factory.mktemp("static")
    root, outside, shared = base / "served", base / "outside", base / "shared"
    for folder in (root / "sub", root / "docs", outside, shared):
        folder.mkdir(parents=True)
    (root / "a.txt").write_bytes(b"0123456789" * 10)
    (root / "page.html").write_text("<p>page</p>\n")
    (root / "style.css").write_text("body { color: red; }\n" * 50)
    (root / "style.css.gz").write_bytes(gzip.compress((root / "style.css").read_bytes()))
    (root / "data.poly").write_text("custom type\n")
    (root / "script.php").write_text("<?php echo 'source';\n")
    (root / "docs" / "index.html").write_text("docs index\n")
    (root / "caf\u00e9.txt").write_text("accented name\n")
    # larger than what loopback socket buffers hold, so a client that doesn't read holds it up
    with open(root / "big.bin", "wb") as big:
        for index in range(24):
            big.write(os.urandom(1024) * 1023 + index.to_bytes(1024, "big"))
    (outside / "secret.txt").write_bytes(SECRET)
    (shared / "logo.txt").write_text("shared through a symlink\n")
    (root / "link_out.txt").symlink_to(outside / "secret.txt")
    (root / "link_dir").symlink_to(outside)
    (root / "shared").symlink_to(shared)
    (root / "link_in.txt").symlink_to(root / "a.txt")
    (base / "types").write_text("application/x-polyhost-test\tpoly\n")
    return base


def files(tree: Path, **options: object) -> StaticFiles:
    config: dict[str, object] = {"static-map": [f"/s={tree / 'served'}"]}
    config.update({k.replace("_", "-"): v for k, v in options.items()})
    static = StaticFiles.from_config(config_of(config))
    assert static is not None
    return static


def fetch(
    static: StaticFiles, path: str, method: str = "GET", **headers: str
) -> CollectingResponder | None:
    responder = CollectingResponder()
    request = make_request(
        method, path, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )
    if not static.serve(request, responder):
        return None
    return responder


def test_no_static_option_means_no_file_server() -> None:
    assert StaticFiles.from_config(config_of({"module": "x"})) is None


def test_file_with_type_length_validators(tree: Path) -> None:
    response = fetch(files(tree), "/s/a.txt")
    assert response is not None and response.status == 200
    assert bytes(response.body) == b"0123456789" * 10
    assert response.header("Content-Type") == "text/plain"
    assert response.header("Content-Length") == "100"
    assert response.header(
        "ETag",
    ).startswith('"')  # type: ignore[union-attr]
    mtime = int((tree / "served" / "a.txt").stat().st_mtime)
    assert response.header("Last-Modified") == email.utils.formatdate(mtime, usegmt=True)
    assert response.header("Accept-Ranges") == "bytes"
    assert response.sendfiles, "the body goes out with sendfile"


def test_mime_types_from_the_system_and_mime_file(tree: Path) -> None:
    assert fetch(files(tree), "/s/style.css").header("Content-Type") == "text/css"  # type: ignore[union-attr]
    assert fetch(files(tree), "/s/page.html").header("Content-Type") == "text/html"  # type: ignore[union-attr]
    plain = fetch(files(tree), "/s/data.poly")
    assert plain is not None and plain.header("Content-Type") == "application/octet-stream"
    custom = fetch(files(tree, mimefile=[str(tree / "types")]), "/s/data.poly")
    assert custom is not None and custom.header("Content-Type") == "application/x-polyhost-test"


def test_conditional_requests_give_304(tree: Path) -> None:
    static = files(tree)
    first = fetch(static, "/s/a.txt")
    assert first is not None
    etag, modified = first.header("ETag"), first.header("Last-Modified")
    by_etag = fetch(static, "/s/a.txt", If_None_Match=etag)  # type: ignore[arg-type]
    assert by_etag is not None and by_etag.status == 304 and not by_etag.body
    by_date = fetch(static, "/s/a.txt", If_Modified_Since=modified)  # type: ignore[arg-type]
    assert by_date is not None and by_date.status == 304
    old = email.utils.formatdate(time.time() - 10 * 365 * 86400, usegmt=True)
    assert fetch(static, "/s/a.txt", If_Modified_Since=old).status == 200  # type: ignore[union-attr]
    other_tag = fetch(static, "/s/a.txt", If_None_Match='"other"', If_Modified_Since=modified)
    assert other_tag is not None and other_tag.status == 200, "If-None-Match wins"


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=10-19", 206, b"0123456789", "bytes 10-19/100"),
        ("bytes=95-", 206, b"56789", "bytes 95-99/100"),
        ("bytes=-3", 206, b"789", "bytes 97-99/100"),
        ("bytes=90-500", 206, b"0123456789", "bytes 90-99/100"),
        ("bytes=100-", 416, b"", "bytes */100"),
        ("bytes=0-1,5-6", 200, b"0123456789" * 10, None),
        ("pages=1-2", 200, b"0123456789" * 10, None),
    ],
)
def test_ranges(
    tree: Path, header: str, status: int, body: bytes, content_range: str | None
) -> None:
    response = fetch(files(tree), "/s/a.txt", Range=header)
    assert response is not None and response.status == status
    assert bytes(response.body) == body
    assert response.header("Content-Range") == content_range
    if status == 206:
        assert response.header("Content-Length") == str(len(body))


def test_if_range_and_honour_range_off(tree: Path) -> None:
    static = files(tree)
    etag = fetch(static, "/s/a.txt").header("ETag")  # type: ignore[union-attr]
    assert fetch(static, "/s/a.txt", Range="bytes=0-0", If_Range=etag).status == 206  # type: ignore[arg-type,union-attr]
    stale = fetch(static, "/s/a.txt", Range="bytes=0-0", If_Range='"stale"')
    assert stale is not None and stale.status == 200 and len(stale.body) == 100
    off = fetch(files(tree, honour_range=False), "/s/a.txt", Range="bytes=0-0")
    assert off is not None and off.status == 200 and off.header("Accept-Ranges") is None


def test_head_sends_headers_only(tree: Path) -> None:
    response = fetch(files(tree), "/s/a.txt", method="HEAD")
    assert response is not None and response.status == 200
    assert response.header("Content-Length") == "100" and not response.body


def test_other_methods_and_missing_files_go_to_the_app(tree: Path) -> None:
    static = files(tree)
    assert fetch(static, "/s/a.txt", method="POST") is None
    assert fetch(static, "/s/missing.txt") is None
    assert fetch(static, "/elsewhere/a.txt") is None
    assert fetch(static, "/s/sub") is None, "a directory without static-index"


def test_static_index_map2_check_static_and_non_ascii_names(tree: Path) -> None:
    indexed = fetch(files(tree, static_index=["index.html"]), "/s/docs/")
    assert indexed is not None and bytes(indexed.body) == b"docs index\n"
    map2 = StaticFiles.from_config(config_of({"static-map2": [f"/served={tree}"]}))
    assert map2 is not None
    found = fetch(map2, "/served/a.txt")
    assert found is not None and bytes(found.body) == b"0123456789" * 10
    check = StaticFiles.from_config(config_of({"check-static": [str(tree / "served")]}))
    assert check is not None and fetch(check, "/page.html") is not None
    accented = fetch(files(tree), "/s/caf\u00e9.txt".encode().decode("latin-1"))
    assert accented is not None and bytes(accented.body) == b"accented name\n"


def test_scripts_are_never_served_as_files(tree: Path) -> None:
    assert fetch(files(tree), "/s/script.php") is None
    assert fetch(files(tree, static_skip_ext=[".html"]), "/s/page.html") is None
    assert fetch(files(tree, static_skip_ext=[".html"]), "/s/script.php") is None


@pytest.mark.parametrize(
    "path",
    [
        "/s/../outside/secret.txt",
        "/s/docs/../../outside/secret.txt",
        "/s/link_out.txt",
        "/s/link_dir/secret.txt",
        "/s/a.txt\0.png",
    ],
)
def test_traversal_is_403(tree: Path, path: str) -> None:
    response = fetch(files(tree), path)
    assert response is not None and response.status == 403
    assert SECRET not in response.body


def test_double_encoding_stays_a_literal_name(tree: Path) -> None:
    # the HTTP layer decodes once: %252e%252e arrives as the literal name "%2e%2e"
    assert fetch(files(tree), "/s/%2e%2e/outside/secret.txt") is None


def test_symlinks_inside_the_root_and_static_safe(tree: Path) -> None:
    inside = fetch(files(tree), "/s/link_in.txt")
    assert inside is not None and inside.status == 200
    assert fetch(files(tree), "/s/shared/logo.txt").status == 403  # type: ignore[union-attr]
    safe = fetch(files(tree, static_safe=[str(tree / "shared")]), "/s/shared/logo.txt")
    assert safe is not None and safe.status == 200


def test_gzip_sibling_for_clients_that_accept_it(tree: Path) -> None:
    static = files(tree, static_gzip_ext=[".css"])
    zipped = fetch(static, "/s/style.css", Accept_Encoding="br, gzip;q=0.8")
    assert zipped is not None and zipped.header("Content-Encoding") == "gzip"
    assert zipped.header("Content-Type") == "text/css"
    assert gzip.decompress(bytes(zipped.body)) == (tree / "served" / "style.css").read_bytes()
    assert zipped.header("Vary") == "Accept-Encoding"
    plain = fetch(static, "/s/style.css")
    assert plain is not None and plain.header("Content-Encoding") is None
    assert plain.header("Vary") == "Accept-Encoding"
    refused = fetch(static, "/s/style.css", Accept_Encoding="gzip;q=0")
    assert refused is not None and refused.header("Content-Encoding") is None
    by_regex = fetch(files(tree, static_gzip=[r"\.css$"]), "/s/style.css", Accept_Encoding="gzip")
    assert by_regex is not None and by_regex.header("Content-Encoding") == "gzip"


def test_expires_by_type_uri_and_mtime(tree: Path) -> None:
    before = int(time.time())
    by_type = fetch(files(tree, static_expires_type=["text/css=3600"]), "/s/style.css")
    assert by_type is not None
    expires = email.utils.parsedate_to_datetime(by_type.header("Expires")).timestamp()  # type: ignore[arg-type]
    assert before + 3600 <= expires <= int(time.time()) + 3600
    by_uri = fetch(files(tree, static_expires_uri=[r"\.txt$ 60"]), "/s/a.txt")
    assert by_uri is not None and by_uri.header("Expires") is not None
    assert (
        fetch(files(tree, static_expires_uri=[r"\.css$ 60"]), "/s/a.txt").header(  # type: ignore[union-attr]
            "Expires"
        )
        is None
    )
    by_mtime = fetch(files(tree, static_expires_mtime=[r"a\.txt$=100"]), "/s/a.txt")
    mtime = int((tree / "served" / "a.txt").stat().st_mtime)
    assert by_mtime is not None
    assert by_mtime.header("Expires") == email.utils.formatdate(mtime + 100, usegmt=True)


# -- over HTTP, with offload threads ---------------------------------------------------------


@pytest.fixture(scope="module")
def instance(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    port = free_port()
    inst = Instance(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            str(APPS / "wsgi" / "basic.py"),
            "--static-map",
            f"/s={tree / 'served'}",
            "--offload-threads",
            "2",
            "--socket-timeout",
            "10",
        ],
        tmp_path_factory.mktemp("static-instance"),
        port,
        None,
    )
    inst.wait_ready()
    yield inst
    inst.stop()


@pytest.mark.parametrize(
    "target",
    [
        "/s/../outside/secret.txt",
        "/s/%2e%2e/outside/secret.txt",
        "/s/%2E%2E/%2e%2e/outside/secret.txt",
        "/s/%252e%252e/outside/secret.txt",
        "/s/..%2foutside/secret.txt",
        "/s/a.txt%00.png",
        "/s/link_out.txt",
        "/s/link_dir/secret.txt",
    ],
)
def test_traversal_over_http_never_returns_the_secret(instance: Instance, target: str) -> None:
    raw = get(instance.port, target)  # type: ignore[arg-type]
    status, _, body = split_response(raw)
    assert SECRET not in body
    # refused, or not a file at all: then the app answers
    assert status in (400, 403, 404) or body == b"Hello World", raw[:300]


def test_static_request_is_logged_with_app_minus_one(instance: Instance) -> None:
    status, _, body = split_response(get(instance.port, "/s/page.html"))  # type: ignore[arg-type]
    assert status == 200 and body == b"<p>page</p>\n"
    log = instance.wait_log("GET /s/page.html")
    line = next(line for line in log.splitlines() if "GET /s/page.html" in line)
    assert "app: -1" in line


def test_small_files_keep_the_connection_alive(instance: Instance) -> None:
    request = b"GET /s/a.txt HTTP/1.1\r\nHost: t\r\n\r\n"
    with socket.create_connection(("127.0.0.1", instance.port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(request)
            data = b""
            while not data.endswith(b"0123456789" * 10):
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
            assert b"Connection: close" not in data


def test_offloaded_download_does_not_hold_the_worker(instance: Instance, tree: Path) -> None:
    expected = hashlib.md5((tree / "served" / "big.bin").read_bytes()).hexdigest()
    slow = socket.create_connection(("127.0.0.1", instance.port), timeout=10)
    try:
        slow.sendall(b"GET /s/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += slow.recv(1)
        assert b"200 OK" in head and b"Connection: close" in head
        # the one worker (one thread) answers others while the big body waits for this client
        status, _, body = split_response(get(instance.port, "/s/a.txt", timeout=5))  # type: ignore[arg-type]
        assert status == 200 and body == b"0123456789" * 10
        digest = hashlib.md5()
        while chunk := slow.recv(1 << 20):
            digest.update(chunk)
        assert digest.hexdigest() == expected
    finally:
        slow.close()


def test_app_still_serves_what_is_not_a_file(instance: Instance) -> None:
    status, _, _ = split_response(get(instance.port, "/s/missing.txt"))  # type: ignore[arg-type]
    assert status in (200, 404)
    log = instance.wait_log("GET /s/missing.txt")
    line = next(line for line in log.splitlines() if "GET /s/missing.txt" in line)
    assert "app: 0" in line


def test_a_static_only_instance_starts_and_a_bad_map_stops_it_at_once(polyhost, tmp_path) -> None:
    (tmp_path / "a.txt").write_text("static only")
    port = free_port()
    polyhost(["--http-socket", f"127.0.0.1:{port}", "--static-map", f"/s={tmp_path}"], port=port)
    assert split_response(get(port, "/s/a.txt"))[2] == b"static only"
    bad = polyhost(
        ["--http-socket", f"127.0.0.1:{free_port()}", "--static-map", "nowhere"], ready=False
    )
    assert bad.proc.wait(20) == 1
    assert "static-map needs /mountpoint=DIR, got 'nowhere'" in bad.log()
    assert "spawned polyhost worker" not in bad.log()
