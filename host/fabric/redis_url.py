"""Redis URLs in options (`cache2 backend=`, `spooler = redis://...`): which values are one, and
how to show one without its password. No import of redis here: the local defaults don't need it."""

from __future__ import annotations

#: the URL forms redis-py reads: TCP, TCP with TLS, a unix socket
SCHEMES = ("redis://", "rediss://", "unix://")


def is_redis_url(value: str) -> bool:
    return value.startswith(SCHEMES)


def redacted(url: str) -> str:
    """A Redis URL without its password, for messages and stats."""
    scheme, sep, rest = url.partition("://")
    credentials, at, place = rest.rpartition("@")
    if not at:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{place}"
