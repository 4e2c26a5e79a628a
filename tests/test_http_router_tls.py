"""TLS on the `--http` router (issue 11 point 5): `https = ADDR,CERT,KEY` with a self-signed
certificate, HTTPS=on and wsgi.url_scheme https in the app, the `https2` key=value form, client
certificates with https-export-cert, `http-to-https` redirects, certificates reloaded on SIGHUP."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, Instance, free_port, get, split_response, wait_for

BASIC = str(APPS / "wsgi" / "basic.py")


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost (openssl), and its key."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


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
            ["--wsgi-file", BASIC, "--die-on-term",
             "--https", f"127.0.0.1:{self.https},{self.cert},{self.key}",
             "--https2", f"addr=127.0.0.1:{self.https2},cert={self.cert},key={self.key},"
                         f"clientca=!{self.client[0]}",
             "--https-export-cert",
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
