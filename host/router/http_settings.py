"""The `--http` router's options, read once when its process starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.protocol.http_rules import HeadLimits

if TYPE_CHECKING:
    from polyhost.config import Config

#: response bytes the router holds for a slow reader before it stops reading the backend
WRITE_BUFFER = 1 << 20
#: request bytes (pipelined heads and bodies) held before the router stops reading a client
READ_BUFFER = 1 << 20


@dataclass(frozen=True)
class HttpSettings:
    """Everything a router session consults, with uWSGI's defaults."""

    buffer_size: int = 4096
    timeout: float = 60.0
    headers_timeout: float = 60.0
    connect_timeout: float = 60.0
    keepalive: bool = False
    keepalive_timeout: float = 60.0
    auto_chunked: bool = False
    auto_gzip: bool = False
    websockets: bool = False
    #: http-chunked-input: a chunked request body goes to the worker still chunked (uWSGI's raw
    #: mode, read with uwsgi.chunked_read); without it the router de-chunks
    chunked_input: bool = False
    modifier1: int = 0
    modifier2: int = 0
    post_buffering: int = 0
    limit_post: int = 0
    gracetime: float = 30.0
    export_cert: bool = False
    extra_vars: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: http-socket's head rules (fields, field and line sizes, underscores)
    head_limits: HeadLimits = field(default_factory=HeadLimits)

    @classmethod
    def from_config(cls, config: Config) -> HttpSettings:
        def seconds(name: str, fallback: float) -> float:
            value = config.get(name)
            return float(value) if value is not None else fallback

        timeout = float(config.get("http-timeout"))
        keepalive = int(config.get("http-keepalive"))
        extra: list[tuple[str, str]] = []
        for item in option_values(config, "http-var"):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"http-var = {item}: use KEY=VALUE")
            extra.append((key, value))
        return cls(
            buffer_size=int(config.get("http-buffer-size") or config.get("buffer-size")),
            timeout=timeout,
            headers_timeout=seconds("http-headers-timeout", timeout),
            connect_timeout=seconds("http-connect-timeout", timeout),
            keepalive=keepalive > 0,
            keepalive_timeout=float(keepalive) if keepalive > 1 else timeout,
            auto_chunked=bool(config.get("http-auto-chunked")),
            auto_gzip=bool(config.get("http-auto-gzip")),
            websockets=bool(config.get("http-websockets")),
            chunked_input=bool(config.get("http-chunked-input")),
            modifier1=int(config.get("http-modifier1")),
            modifier2=int(config.get("http-modifier2")),
            post_buffering=int(config.get("post-buffering")),
            limit_post=int(config.get("limit-post")),
            gracetime=float(config.get("http-gracetime")),
            export_cert=bool(config.get("https-export-cert")),
            head_limits=HeadLimits.from_config(config),
            extra_vars=tuple(extra),
        )
