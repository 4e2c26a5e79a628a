"""RFC 9110/9112 rules for an HTTP/1 request head, apart from any parser so that every HTTP
front (the worker's http-socket, the `--http` router) refuses the same requests the same way.

httptools (llhttp) does the byte-level parsing; these checks add what it lets through or does
differently: the request-target forms (origin, absolute, `*` for OPTIONS only, authority for
CONNECT only), 505 for versions other than HTTP/1.0 and 1.1, the `Host` rules, the
`Transfer-Encoding` rules of §6.1 (not on HTTP/1.0, 501 for codings we do not decode), header
names with `_` (dropped as nginx does, or kept with `http-allow-underscores` but never onto a
variable another header maps to), the `limit-request-*` limits and the fields a chunked trailer
must not carry. Each refusal is an `HttpError`: the status, and a reason for the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httptools

if TYPE_CHECKING:
    from polyhost.config import Config

#: RFC 9110 §5.6.2 token (methods, header names, transfer codings)
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: the versions an HTTP/1 request line may carry; any other is a 505
SUPPORTED_VERSIONS = frozenset(("1.0", "1.1"))
#: RFC 9110 §6.5.1: fields a trailer must not carry (framing, routing, request modifiers,
#: authentication, content processing)
FORBIDDEN_TRAILERS = frozenset((
    b"host", b"content-length", b"transfer-encoding", b"trailer", b"te", b"connection",
    b"keep-alive", b"upgrade", b"expect", b"content-type", b"content-encoding",
    b"content-range", b"range", b"authorization", b"proxy-authorization", b"cookie",
    b"set-cookie", b"cache-control", b"max-forwards", b"pragma", b"if-match", b"if-none-match",
    b"if-modified-since", b"if-unmodified-since", b"if-range",
))  # fmt: skip
#: the variables CGI gives some headers instead of HTTP_<NAME>
_CGI_PLAIN = frozenset(("CONTENT_LENGTH", "CONTENT_TYPE"))
#: header names seen (those without `_`) and their variable: a parser looks a name up here
#: first and calls `cgi_variable` only for one not in it
VARIABLES: dict[bytes, str] = {}


class HttpError(Exception):
    """A request the server refuses: answered with `status` and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class HeadLimits:
    """How much of a request head a client may send, and what to do with `_` in names."""

    #: limit-request-fields: header fields per request (gunicorn's default)
    fields: int = 100
    #: limit-request-line: bytes of the request line, without its CRLF
    line: int = 4094
    #: limit-request-field-size: bytes of one header line (name, colon, value)
    field_size: int = 8190
    #: http-allow-underscores: keep `X_Name` headers (as HTTP_X_NAME when nothing else is)
    allow_underscores: bool = False

    @classmethod
    def from_config(cls, config: Config) -> HeadLimits:
        def limit(name: str, default: int) -> int:
            value = config.get(name)
            return default if value is None or int(value) <= 0 else int(value)

        return cls(
            fields=limit("limit-request-fields", cls.fields),
            line=limit("limit-request-line", cls.line),
            field_size=limit("limit-request-field-size", cls.field_size),
            allow_underscores=bool(config.get("http-allow-underscores")),
        )


def check_method(method: bytes) -> None:
    """Any RFC 9110 token is a method (an app may answer 405 or 501 itself)."""
    if not TOKEN.fullmatch(method):
        raise HttpError(400, f"the method {method[:40]!r} is not a token")


def check_version(version: str) -> None:
    """HTTP/1.0 and HTTP/1.1 only: HTTP/2.0, 0.9 or 1.2 in an HTTP/1 request line is a 505."""
    if version not in SUPPORTED_VERSIONS:
        raise HttpError(505, f"HTTP/{version[:8]} is not supported: send HTTP/1.1 or HTTP/1.0")


def request_target(method: str, url: bytes) -> bytes:
    """The origin-form target (path and query, no fragment) of the request line's `url`; b"*"
    for `OPTIONS *`, the authority for `CONNECT host:port`."""
    if method == "CONNECT":
        host, _, port = url.rpartition(b":")
        if not host or not port.isdigit() or b"/" in url or b"@" in url:
            raise HttpError(400, f"CONNECT needs a host:port target, not {url[:80]!r}")
        return url
    if url.startswith(b"/"):
        target = url
    elif url == b"*":
        if method != "OPTIONS":
            raise HttpError(400, f"the asterisk target is only for OPTIONS, not {method}")
        return url
    elif url[:7].lower() == b"http://" or url[:8].lower() == b"https://":
        parsed = httptools.parse_url(url)
        target = (parsed.path or b"/") + (b"?" + parsed.query if parsed.query else b"")
    else:
        raise HttpError(400, f"bad request target {url[:80]!r}")
    return target.partition(b"#")[0]


def cgi_variable(name: bytes, allow_underscores: bool) -> str | None:
    """The CGI variable a header maps onto (CONTENT_LENGTH, CONTENT_TYPE or HTTP_<NAME>), or None
    for a name with `_` that is dropped (the default, as nginx's `underscores_in_headers off`)."""
    known = VARIABLES.get(name)
    if known is not None:
        return known
    text = name.decode("latin-1").upper()
    if "_" in text:
        if not allow_underscores:
            return None
        return "HTTP_" + text.replace("-", "_")  # never CONTENT_LENGTH: not framing data
    variable = text.replace("-", "_")
    variable = variable if variable in _CGI_PLAIN else "HTTP_" + variable
    if len(VARIABLES) < 512:  # the usual names, mapped once
        VARIABLES[name] = variable
    return variable


def check_underscores(name: bytes, variable: str, seen: dict[str, bool]) -> None:
    """With http-allow-underscores: `X_Name` and `X-Name` must not both map onto HTTP_X_NAME
    (`seen`: the variables of the headers so far, True for those from a name with `_`)."""
    has_underscore = b"_" in name
    if seen.setdefault(variable, has_underscore) != has_underscore:
        raise HttpError(400, f"the header {name[:40]!r} maps onto {variable}, as another one does")


def refuse_field(name: bytes, value: bytes, count: int, limits: HeadLimits) -> None:
    """Raise the refusal of a header line over limit-request-field-size or past
    limit-request-fields (`count`: the fields so far, this one included); a no-op for one within
    both, so a parser may call it for every field or only once its own quick test fails."""
    if count > limits.fields:
        raise HttpError(431, f"more than {limits.fields} header fields (limit-request-fields)")
    if len(name) + len(value) + 2 > limits.field_size:
        raise HttpError(
            431,
            f"the header {name[:40]!r} is over {limits.field_size} bytes"
            " (limit-request-field-size)",
        )


def check_line(url_size: int, limits: HeadLimits) -> None:
    """The request target against limit-request-line (method and version are short)."""
    if url_size > limits.line:
        raise HttpError(414, f"the request line is over {limits.line} bytes (limit-request-line)")


def check_trailer(name: bytes) -> None:
    """A field of a chunked body's trailer section."""
    if name.lower() in FORBIDDEN_TRAILERS:
        raise HttpError(400, f"the field {name[:40]!r} is not allowed in a trailer")


def check_transfer_encoding(version: str, value: str) -> None:
    """RFC 9112 §6.1: chunked must be the final (and here the only) coding; not on HTTP/1.0."""
    if version == "1.0":
        raise HttpError(400, "Transfer-Encoding in an HTTP/1.0 request")
    codings = [coding.strip().lower() for coding in value.split(",")]
    if codings != ["chunked"]:
        if codings[-1] != "chunked":
            raise HttpError(400, f"Transfer-Encoding {value[:60]!r} does not end with chunked")
        raise HttpError(501, f"the transfer coding {value[:60]!r} is not supported")


def check_host(version: str, hosts: int) -> None:
    """RFC 9112 §3.2: one Host in an HTTP/1.1 request (at most one in HTTP/1.0)."""
    if hosts > 1:
        raise HttpError(400, "more than one Host header")
    if hosts == 0 and version == "1.1":
        raise HttpError(400, "an HTTP/1.1 request without a Host header")
