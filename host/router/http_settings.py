"""The `--http` router's options, read once when its process starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhost.config import option_values

if TYPE_CHECKING:
    from polyhost.config import Config

#: uWSGI's static_node_gracetime default
DEFAULT_GRACETIME = 30
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
    modifier1: int = 0
    modifier2: int = 0
    post_buffering: int = 0
    limit_post: int = 0
    gracetime: float = DEFAULT_GRACETIME
    export_cert: bool = False
    extra_vars: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, config: Config) -> HttpSettings:
        def number(name: str, default: float) -> float:
            value = config.get(name)
            return float(value) if value not in (None, "") else default

        timeout = number("http-timeout", 60)
        keepalive = int(config.get("http-keepalive") or 0)
        extra: list[tuple[str, str]] = []
        for item in option_values(config, "http-var"):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"http-var = {item}: use KEY=VALUE")
            extra.append((key, value))
        return cls(
            buffer_size=int(number("http-buffer-size", number("buffer-size", 4096))),
            timeout=timeout,
            headers_timeout=number("http-headers-timeout", timeout),
            connect_timeout=number("http-connect-timeout", timeout),
            keepalive=keepalive > 0,
            keepalive_timeout=float(keepalive) if keepalive > 1 else timeout,
            auto_chunked=bool(config.get("http-auto-chunked")),
            auto_gzip=bool(config.get("http-auto-gzip")),
            websockets=bool(config.get("http-websockets")),
            modifier1=int(config.get("http-modifier1") or 0),
            modifier2=int(config.get("http-modifier2") or 0),
            post_buffering=int(config.get("post-buffering") or 0),
            limit_post=int(config.get("limit-post") or 0),
            gracetime=number("http-gracetime", DEFAULT_GRACETIME),
            export_cert=bool(config.get("https-export-cert")),
            extra_vars=tuple(extra),
        )
