"""TLS on the `--http` router (issue 11 point 5): `https = ADDR,CERT,KEY` with a self-signed
certificate, HTTPS=on and wsgi.url_scheme https in the app, the `https2` key=value form, client
certificates with https-export-cert, `http-to-https` redirects, certificates reloaded on SIGHUP,
and HTTP/2 by ALPN (`http2`) with a real h2 client, several streams on one connection."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest

from conftest import APPS, Instance, free_port, get, split_response, wait_for
from router_helper import make_cert

BASIC = str(APPS / "wsgi" / "basic.py")
EDGES = str(APPS / "wsgi" / "router_edges.py")


def https_get(port: int, path: str, ca: Path, client: tuple[Path, Path] | None = None) -> bytes:
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def h2_requests(
    port: int, ca: Path, requests: list[tuple[bytes, bytes, bytes]]
) -> list[tuple[int, bytes]]:
    """(method, path, body) requests as concurrent streams on one HTTP/2 connection (the h2
    package as the client); -> (status, body) of each, in order."""
    context = ssl.create_default_context(cafile=str(ca))
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=20) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        assert sock.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        conn.initiate_connection()
        streams: dict[int, list] = {}
        for method, path, body in requests:
            sid = conn.get_next_available_stream_id()
            headers = [(b":method", method), (b":path", path), (b":scheme", b"https"),
                       (b":authority", b"127.0.0.1"),
                       (b"content-length", b"%d" % len(body))]  # fmt: skip
            conn.send_headers(sid, headers, end_stream=not body)
            for start in range(0, len(body), 16384):  # the default max frame size
                conn.send_data(
                    sid, body[start : start + 16384], end_stream=start + 16384 >= len(body)
                )
            streams[sid] = [0, b"", False]
        sock.sendall(conn.data_to_send())
        while not all(done for _, _, done in streams.values()):
            data = sock.recv(65536)
            assert data, "the router closed the HTTP/2 connection"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    streams[event.stream_id][0] = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    streams[event.stream_id][1] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    streams[event.stream_id][2] = True
            sock.sendall(conn.data_to_send())
    return [(status, body) for status, body, _ in streams.values()]


def served_certificate(port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw) as sock,
    ):
        return sock.getpeercert(binary_form=True) or b""


class TlsRouter:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cert, self.key = make_cert(tmp, "server")
        self.client = make_cert(tmp, "client")
        self.https, self.https2, self.plain = free_port(), free_port(), free_port()
        self.inst = Instance(
            ["--wsgi-file", BASIC, "--mount", f"/edges={EDGES}", "--die-on-term",
             "--https", f"127.0.0.1:{self.https},{self.cert},{self.key}",
             "--https2", f"addr=127.0.0.1:{self.https2},cert={self.cert},key={self.key},"
                         f"clientca=!{self.client[0]}",
             "--https-export-cert", "--http2",
             "--http-to-https", f"127.0.0.1:{self.plain},{self.https}"],
            tmp, None, None,
        )  # fmt: skip
        self.inst.wait_log("spawned polyhost worker")
        wait_for(lambda: served_certificate(self.https), 20, "the https socket")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRouter]:
    router = TlsRouter(tmp_path_factory.mktemp("tls"))
    try:
        yield router
    finally:
        assert router.inst.stop() == 0


def test_https_serves_the_app_with_https_vars(tls: TlsRouter) -> None:
    status, _, body = split_response(https_get(tls.https, "/env", tls.cert))
    env = json.loads(body)
    assert status == 200 and env["HTTPS"] == "on" and env["wsgi.url_scheme"] == "https"
    assert "HTTPS_CC" not in env  # no client certificate was sent


def test_https2_form_and_exported_client_certificate(tls: TlsRouter) -> None:
    status, _, body = split_response(https_get(tls.https2, "/env", tls.cert, tls.client))
    env = json.loads(body)
    assert status == 200 and env["HTTPS"] == "on"
    assert env["HTTPS_DN"] == "/CN=client"  # as OpenSSL's X509_NAME_oneline, like uWSGI
    assert env["HTTPS_CC"].startswith("-----BEGIN CERTIFICATE-----")
    # the CA is optional (`!`): a client without a certificate is served too
    assert split_response(https_get(tls.https2, "/", tls.cert))[0] == 200


def test_plain_http_is_redirected_to_https(tls: TlsRouter) -> None:
    status, headers, _ = split_response(get(tls.plain, "/some/path?q=1", host="example.org:80"))
    assert status == 301
    assert headers["location"] == f"https://example.org:{tls.https}/some/path?q=1"
    # a Host that is not a name cannot be written into the Location header
    assert split_response(get(tls.plain, "/", host="evil\x0bx"))[0] == 400


def test_certificates_are_reloaded_on_sighup(tls: TlsRouter) -> None:
    before = served_certificate(tls.https)
    new_cert, new_key = make_cert(tls.tmp, "renewed")
    new_cert.replace(tls.cert)
    new_key.replace(tls.key)
    tls.inst.signal(1)
    tls.inst.wait_log("TLS certificates reloaded", 30)
    after = served_certificate(tls.https)
    assert after and after != before
    assert split_response(https_get(tls.https, "/", tls.cert))[2] == b"Hello World"


def test_missing_certificate_stops_the_start(tmp_path: Path) -> None:
    port = free_port()
    inst = Instance(
        ["--wsgi-file", BASIC, "--https", f"127.0.0.1:{port},{tmp_path}/no.crt,{tmp_path}/no.key"],
        tmp_path, None, None,
    )  # fmt: skip
    try:
        assert inst.proc.wait(30) == 1
        assert f"{tmp_path}/no.crt does not exist" in inst.log()
    finally:
        inst.stop()


def test_http2_streams_become_uwsgi_requests(tls: TlsRouter) -> None:
    body = b"z" * 60_000  # within the client's initial window (this client does not wait)
    answers = h2_requests(
        tls.https,
        tls.cert,
        [(b"GET", b"/", b""), (b"GET", b"/env?x=1", b""), (b"POST", b"/echo", body),
         (b"GET", b"/stream", b""), (b"GET", b"/edges/big?2", b"")],
    )  # fmt: skip
    assert answers[0] == (200, b"Hello World")
    env = json.loads(answers[1][1])
    assert env["SERVER_PROTOCOL"] == "HTTP/2.0" and env["QUERY_STRING"] == "x=1"
    assert env["HTTPS"] == "on" and env["wsgi.url_scheme"] == "https"
    assert answers[2] == (200, body)
    assert answers[3] == (200, b"one two three")
    # 2 MiB: far beyond the 64 KiB windows, sent as the client opens them
    assert answers[4] == (200, b"x" * (2 << 20))
