"""The sockets of the `--http` router and what each one means for the requests it accepts.

`http = ADDR` is plain HTTP; `https = ADDR,CERT,KEY[,CIPHERS[,CA]]` and `https2 =
addr=ADDR,cert=CERT,key=KEY[,ciphers=...,clientca=...]` are TLS (a CA verifies client
certificates: required, or optional when the CA path starts with `!`, as uWSGI); `http-to-https =
ADDR[,PORT]` answers every request with a 301 to the https URL (PORT added to the host when
given). `http2` (or `h2=1` in an https2 value) offers HTTP/2 by ALPN on the TLS sockets. TLS
contexts are built once per process and reloaded on SIGHUP (`reload_certificates`).
"""

from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyhost.router.supervision import RouterSocket


class ListenerConfigError(ValueError):
    """An https option that cannot work; the message says which and what to change."""


@dataclass
class TlsFiles:
    """The files of one TLS socket, kept to reload them."""

    cert: str
    key: str
    ciphers: str = ""
    client_ca: str = ""
    http2: bool = False


@dataclass
class RouterListener:
    """One socket of the router, with its scheme, TLS context and redirect port."""

    router_socket: RouterSocket
    scheme: str = "http"
    tls: TlsFiles | None = None
    context: ssl.SSLContext | None = None
    #: http-to-https: requests are redirected to https (with this port when not empty)
    redirect: bool = False
    redirect_port: str = ""

    @property
    def sock(self) -> socket.socket:
        return self.router_socket.listener.sock

    def server_addr(self) -> tuple[str, str]:
        """SERVER_NAME and SERVER_PORT before the Host header names them."""
        sock = self.sock
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host, port = sock.getsockname()[:2]
            return str(host), str(port)
        return self.router_socket.listener.name, ""

    def reload_certificates(self) -> None:
        if self.tls is not None and self.context is not None:
            _load(self.context, self.tls, self.router_socket.option)


def https_files(option: str, value: str) -> TlsFiles:
    """The TLS files of an `https` or `https2` value (ListenerConfigError when incomplete)."""
    if option == "https2":
        items = dict(item.partition("=")[::2] for item in value.split(","))
        cert = items.get("cert") or items.get("crt") or ""
        key = items.get("key", "")
        if not (items.get("addr") and cert and key):
            raise ListenerConfigError(f"https2 = {value}: needs addr, cert and key items")
        ca = items.get("clientca") or items.get("client_ca") or ""
        http2 = items.get("h2", items.get("http2", "")).lower() in ("1", "true", "yes", "on")
        return TlsFiles(cert, key, items.get("ciphers", ""), ca, http2)
    parts = [part.strip() for part in value.split(",")]
    if len(parts) < 3 or not parts[1] or not parts[2]:
        raise ListenerConfigError(f"https = {value}: use ADDR,CERT,KEY[,CIPHERS[,CA]]")
    return TlsFiles(
        parts[1], parts[2], parts[3] if len(parts) > 3 else "", parts[4] if len(parts) > 4 else ""
    )


def _load(context: ssl.SSLContext, files: TlsFiles, option: str) -> None:
    try:
        context.load_cert_chain(files.cert, files.key)
        if files.ciphers:
            context.set_ciphers(files.ciphers)
        if files.client_ca:
            optional = files.client_ca.startswith("!")
            context.load_verify_locations(files.client_ca.lstrip("!"))
            context.verify_mode = ssl.CERT_OPTIONAL if optional else ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ListenerConfigError(
            f"{option}: cannot load the certificate {files.cert} / key {files.key}: {exc}"
        ) from exc


def tls_context(files: TlsFiles, option: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(["h2", "http/1.1"] if files.http2 else ["http/1.1"])
    _load(context, files, option)
    return context


def router_listener(router_socket: RouterSocket, http2: bool = False) -> RouterListener:
    """The listener of one router socket; `http2`: the `http2` option (for every TLS socket)."""
    option, value = router_socket.option, router_socket.value
    if option in ("https", "https2"):
        files = https_files(option, value)
        files.http2 = files.http2 or http2
        return RouterListener(router_socket, "https", files, tls_context(files, option))
    if option == "http-to-https":
        _, _, port = value.partition(",")
        return RouterListener(router_socket, redirect=True, redirect_port=port.strip())
    return RouterListener(router_socket)


def check_tls_files(option: str, value: str) -> None:
    """Before any fork: the certificate and key of an https socket exist and load."""
    files = https_files(option, value)
    for path in (files.cert, files.key):
        if not os.path.exists(path):
            raise ListenerConfigError(f"{option} = {value}: {path} does not exist")
    tls_context(files, option)
