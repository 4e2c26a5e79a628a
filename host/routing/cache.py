"""Response caching from the rules (router_cache): `cache:`, `cachestore:`/`cache-store:`,
`cacheset:`, `cachevar:`, `cacheinc:`/`cachedec:`/`cachemul:`/`cachediv:` and the `incache:`
condition, on the instance's `cache2` caches, whatever their backend (LMDB, Redis, remote).

`cache:key=K[,name=CACHE][,content_type=T][,content_encoding=E][,mime=1][,no_cl=1]` answers a
hit itself (200, the stored body, Content-Type text/html unless told, Expires when the item
expires) without calling the app; `cachestore:key=K[,name=CACHE][,expires=S][,status=N]` stores
the body of a 200 (or status N) response as it is sent.
"""

from __future__ import annotations

import email.utils
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.fabric.ops import caches_for
from polyhost.log import log, printable
from polyhost.memo import Memo
from polyhost.process_state import CURRENT
from polyhost.routing.actions import Action, Builder
from polyhost.routing.conditions import RuleError, Test
from polyhost.routing.context import BREAK, NEXT, Answer, CacheStore, RouteContext
from polyhost.routing.routevars import MIME_TYPES
from polyhost.routing.template import Template

if TYPE_CHECKING:
    from polyhost.fabric.cache import CacheSet

_TRUE = frozenset({"1", "true", "yes", "on", "y"})
#: the spellings of "send no Content-Length" (router_cache and router_static take all three)
NO_LENGTH = ("no_content_length", "no_cl", "nocl")


def flag(fields: dict[str, str], *keys: str) -> bool:
    """Whether any of `keys` is set to a true value (1, true, yes, on)."""
    return any(fields.get(key, "").lower() in _TRUE for key in keys)


def keyval(arg: str, allowed: set[str], required: tuple[str, ...], what: str) -> dict[str, str]:
    """`k=v,k=v` with the keys an action knows."""
    fields: dict[str, str] = {}
    for item in arg.split(","):
        if not item:
            continue
        key, equals, value = item.partition("=")
        if not equals or key not in allowed:
            raise RuleError(
                f"invalid {what} route syntax at {item!r}: known keys are "
                f"{', '.join(sorted(allowed))}"
            )
        fields[key] = value
    for key in required:
        if not fields.get(key):
            raise RuleError(f"invalid {what} route syntax: you need to specify {key}=")
    return fields


def _caches(name: str | None = None) -> CacheSet:
    """The instance's caches (or, without any, the client of `NAME@HOST:PORT` ones)."""
    return caches_for(name)


def _name(name: Template | None, ctx: RouteContext) -> str | None:
    return name.render(ctx) if name is not None else None


def _key(key: Template, ctx: RouteContext) -> bytes:
    return key.render(ctx).encode("latin-1")


def _optional(fields: dict[str, str], key: str) -> Template | None:
    return Template(fields[key]) if fields.get(key) else None


def _cache(arg: str) -> Action:
    fields = keyval(
        arg,
        {"key", "content_type", "content_encoding", "mime", "name", "no_offload", *NO_LENGTH},
        ("key",),
        "cache",
    )
    key, name = Template(fields["key"]), _optional(fields, "name")
    content_type = fields.get("content_type") or "text/html"
    encoding = fields.get("content_encoding", "")
    by_mime = flag(fields, "mime")
    no_length = flag(fields, *NO_LENGTH)

    #: the head of a hit by (type, expiry, size): built once, not per hit
    heads: Memo[list[tuple[str, str]]] = Memo(256)

    def serve(ctx: RouteContext) -> int:
        item_key = key.render(ctx)
        try:
            found = _found(item_key.encode("latin-1"), _name(name, ctx))
        except Exception as exc:  # a cache that cannot answer is a miss, as in uWSGI
            log(f"[uwsgi-cache] cache: {printable(str(exc))}")
            return NEXT
        if found is None:
            return NEXT
        value, expires_at = found
        kind = (
            MIME_TYPES.guess_type(item_key, strict=False)[0] or content_type
            if by_mime
            else content_type
        )
        head_key = (kind, expires_at, len(value))
        headers = heads.get(head_key)
        if headers is None:
            headers = heads.put(head_key, _hit_headers(kind, encoding, expires_at, len(value)))
        ctx.answer = Answer("200 OK", headers, value)
        return BREAK

    def _hit_headers(
        kind: str, encoding: str, expires_at: int, length: int
    ) -> list[tuple[str, str]]:
        """uWSGI's head of a hit: Content-Type, [Content-Encoding], [Expires], Content-Length
        (unless no_cl); the list is shared by the hits, so nothing may change it."""
        headers = [("Content-Type", kind)]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        if expires_at:
            headers.append(("Expires", email.utils.formatdate(expires_at, usegmt=True)))
        if not no_length:
            headers.append(("Content-Length", str(length)))
        return headers

    return serve


def _found(key: bytes, cache: str | None) -> tuple[bytes, int] | None:
    """(value, expires_at) of a live item; a remote cache (NAME@HOST:PORT) tells no expiry."""
    caches = CURRENT.caches or _caches(cache)
    if cache and "@" in cache:
        value = caches.get(key, cache)
        return None if value is None else (value, 0)
    return caches.lookup(key, cache)


def _cachestore(arg: str) -> Action:
    fields = keyval(
        arg, {"key", "name", "value", "status", "code", "expires", "gzip"}, ("key",), "cachestore"
    )
    key, name, value = (
        Template(fields["key"]),
        _optional(fields, "name"),
        _optional(fields, "value"),
    )
    gzip_key = _optional(fields, "gzip")
    expires = _int(fields.get("expires", "0"), "expires")
    status = _int(fields.get("status") or fields.get("code") or "0", "status")

    def store(ctx: RouteContext) -> int:
        cache = _name(name, ctx)
        ctx.stores.append(
            CacheStore(
                key.render(ctx), cache, expires, status, value.render(ctx) if value else None
            )
        )
        if gzip_key is not None:
            ctx.stores.append(CacheStore(gzip_key.render(ctx), cache, expires, status, None, True))
        return NEXT

    return store


def commit(store: CacheStore, status: int, body: bytes) -> None:
    """Put a response into the cache as `cachestore:` asked (a 200, or its status)."""
    if status != 200 and not (store.status and status == store.status):
        return
    data = store.value.encode("latin-1") if store.value is not None else body
    if store.gzip:
        import gzip

        data = gzip.compress(data)
    if not data:
        return
    try:
        _caches(store.cache).update(store.key.encode("latin-1"), data, store.expires, store.cache)
    except Exception as exc:  # the response was sent already; storing is best effort
        log(f"[uwsgi-cache] cachestore {printable(store.key)!r}: {printable(str(exc))}")


def _cacheset(arg: str) -> Action:
    fields = keyval(arg, {"key", "value", "name", "expires"}, ("key", "value"), "cacheset")
    key, value, name = Template(fields["key"]), Template(fields["value"]), _optional(fields, "name")
    expires = _int(fields.get("expires", "0"), "expires")

    def store(ctx: RouteContext) -> int:
        cache = _name(name, ctx)
        try:
            _caches(cache).set(_key(key, ctx), value.render(ctx).encode("latin-1"), expires, cache)
        except Exception as exc:
            log(f"[uwsgi-cache] cacheset: {printable(str(exc))}")
            return BREAK
        return NEXT

    return store


def _cachevar(arg: str) -> Action:
    fields = keyval(arg, {"key", "var", "name", "num", "as_num"}, ("key", "var"), "cachevar")
    key, name, var = Template(fields["key"]), _optional(fields, "name"), fields["var"]
    as_number = flag(fields, "num", "as_num")

    def load(ctx: RouteContext) -> int:
        cache = _name(name, ctx)
        try:
            value = _caches(cache).get(_key(key, ctx), cache)
        except Exception as exc:
            log(f"[uwsgi-cache] cachevar: {printable(str(exc))}")
            return NEXT
        if value is not None:
            if as_number:
                number = struct.unpack("<q", value)[0] if len(value) == 8 else 0
                ctx.vars[var] = str(number)
            else:
                ctx.vars[var] = value.decode("latin-1")
        return NEXT

    return load


def _cachemath(operation: str, default: int) -> Builder:
    def build(arg: str) -> Action:
        fields = keyval(arg, {"key", "value", "name", "expires"}, ("key",), f"cache{operation}")
        key, name, value = (
            Template(fields["key"]),
            _optional(fields, "name"),
            _optional(fields, "value"),
        )
        expires = _int(fields.get("expires", "0"), "expires")

        def compute(ctx: RouteContext) -> int:
            amount = default
            if value is not None:
                amount = _int(value.render(ctx) or "0", "value", strict=False)
            cache = _name(name, ctx)
            try:
                getattr(_caches(cache), operation)(_key(key, ctx), amount, expires, cache)
            except Exception as exc:
                log(f"[uwsgi-cache] cache{operation}: {printable(str(exc))}")
                return BREAK
            return NEXT

        return compute

    return build


def _incache(args: str) -> Test:
    fields = keyval(args, {"key", "name"}, ("key",), "incache")
    key, name = Template(fields["key"]), _optional(fields, "name")

    def test(ctx: RouteContext) -> bool:
        cache = _name(name, ctx)
        try:
            return bool(_caches(cache).exists(_key(key, ctx), cache))
        except Exception:
            return False

    return test


def _int(text: str, what: str, strict: bool = True) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if strict:
        raise RuleError(f"{what} must be a number, not {text!r}")
    return 0


CACHE_ACTIONS: dict[str, Builder] = {
    "cache": _cache,
    "cachestore": _cachestore,
    "cache-store": _cachestore,
    "cacheset": _cacheset,
    "cachevar": _cachevar,
    "cacheinc": _cachemath("inc", 1),
    "cachedec": _cachemath("dec", 1),
    "cachemul": _cachemath("mul", 2),
    "cachediv": _cachemath("div", 2),
}
CACHE_CONDITIONS: dict[str, Callable[[str], Test]] = {"incache": _incache}
