"""A cache of the fabric kept in a Redis (or Valkey) server: `cache2 = name=N,backend=redis://...`.

Several instances on several hosts that name the same server share the cache. Every operation
has the meaning it has on the local LMDB cache (host/fabric/cache.py), as Redis commands:

- get/exists/del/keys/clear: GET, EXISTS, UNLINK, SCAN over the cache's prefix
  (`polyhost:NAME:`), so several caches (and other users) share one Redis database;
- set stores only when the key is absent (uWSGI's set): SET NX; update is SET; expiry in seconds
  from now is the key's TTL (EX), so Redis expires items itself;
- inc/dec are INCRBY/DECRBY, atomic in Redis; mul/div read, compute with uWSGI's int64 rules and
  write under WATCH (an optimistic transaction retried on conflict): atomic too. A missing key
  starts at math_initial and gets `expires`; an existing one keeps its TTL. Counters are stored
  as Redis integers (decimal text, readable by any Redis client), not as the LMDB cache's 8-byte
  int64: `cache_num` reads both, `cache_get` returns what is stored;
- `items` (max items) and `purge_lru` are left to Redis' own `maxmemory` and eviction policy
  (`maxmemory-policy allkeys-lru` gives purge_lru's behaviour): polyhost does not count a shared
  server's keys on every write. `blocksize` still caps a value's size, `keysize` a key's.

No value is remembered in the process unless `local_memo=SECONDS` is set (then a get may return
a value up to that old: stale reads are the user's choice). When Redis cannot be reached each call
fails within `socket-timeout` with a CacheError naming the cache and the server; the next call
reconnects (redis-py's pool), so calls succeed again once Redis is back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import redis

from polyhost.fabric.cache import _MATH, INT64_MIN, CacheError, check_key
from polyhost.fabric.redis_url import redacted

if TYPE_CHECKING:
    from polyhost.fabric.cache import CacheSpec

INT64_MAX = -INT64_MIN - 1
_SCAN_BATCH = 500
_WATCH_RETRIES = 64
#: mul and div are computed here (Redis has no such commands); inc and dec are INCRBY/DECRBY
_COMPUTED = {"mul": _MATH["mul"], "div": _MATH["div"]}


def redis_client(url: str, timeout: float, what: str) -> redis.Redis:
    """A client for `redis://`, `rediss://` (TLS) or `unix://` URLs, with bounded timeouts."""
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
        )
    except ValueError as exc:
        raise CacheError(
            f"{what}: {url!r} is not a Redis URL ({exc}); write redis://HOST:PORT/DB,"
            " rediss://HOST:PORT/DB or unix:///path/to/redis.sock"
        ) from None


class RedisCache:
    """One cache of the instance stored in Redis; the same methods as LocalCache."""

    def __init__(self, spec: CacheSpec, timeout: float) -> None:
        assert spec.backend
        self.spec = spec
        self.url = redacted(spec.backend)
        self._redis = redis_client(spec.backend, timeout, f"cache '{spec.name}'")
        self._prefix = f"polyhost:{spec.name}:".encode()
        self._memo_seconds = spec.local_memo
        self._memo: dict[bytes, tuple[float, bytes | None]] = {}

    # -- plumbing --

    def _call(self, operation: str, command: Any, *args: Any) -> Any:
        try:
            return command(*args)
        except redis.RedisError as exc:
            raise CacheError(
                f"cache '{self.spec.name}' on {self.url}: {operation} failed: {exc}"
            ) from None

    def _key(self, key: bytes) -> bytes:
        check_key(self.spec, key)
        return self._prefix + key

    def _forget(self, key: bytes) -> None:
        if self._memo:
            self._memo.pop(key, None)

    # -- process life (redis-py's pool reconnects by itself in a forked child) --

    def forget(self) -> None:
        self._memo.clear()

    def reopen(self) -> None:
        self._memo.clear()

    def close(self) -> None:
        self._redis.close()

    def remove_files(self) -> None:
        """The data lives in Redis and outlives the instance: nothing to remove."""
        self.close()

    def sweep(self, now: float) -> int:
        """Redis expires items itself (TTL)."""
        return 0

    def generation(self) -> int:
        return -1

    # -- reads --

    def get(self, key: bytes) -> bytes | None:
        if self._memo_seconds:
            memo = self._memo.get(key)
            if memo is not None and memo[0] > time.monotonic():
                return memo[1]
        value = self._call("get", self._redis.get, self._key(key))
        if self._memo_seconds:
            if len(self._memo) >= 2048:
                self._memo.clear()
            self._memo[key] = (time.monotonic() + self._memo_seconds, value)
        return value

    def lookup(self, key: bytes) -> tuple[bytes, int] | None:
        """(value, expires_at epoch seconds or 0) of a live item."""
        pipe = self._redis.pipeline(transaction=False)
        full = self._key(key)
        pipe.get(full)
        pipe.expiretime(full)
        value, expires_at = self._call("get", pipe.execute)
        if value is None:
            return None
        return value, max(int(expires_at), 0)

    def exists(self, key: bytes) -> bool:
        return bool(self._call("exists", self._redis.exists, self._key(key)))

    def keys(self) -> list[bytes]:
        start = len(self._prefix)
        return [
            full[start:]
            for full in self._call(
                "keys", lambda: list(self._redis.scan_iter(self._prefix + b"*", _SCAN_BATCH))
            )
        ]

    def num(self, key: bytes) -> int:
        value = self.get(key)
        if value is None:
            return 0
        return self._number(key, value)

    def _number(self, key: bytes, value: bytes) -> int:
        try:
            return int(value)
        except ValueError:
            pass
        if len(value) == 8:  # a counter written the LMDB cache's way
            return int.from_bytes(value, "little", signed=True)
        raise CacheError(
            f"cache '{self.spec.name}': key {key[:60]!r} holds {len(value)} bytes, not a counter"
        )

    # -- writes --

    def store(self, key: bytes, value: bytes, expires: int, overwrite: bool) -> bool:
        full = self._key(key)
        if len(value) > self.spec.max_item_size:
            raise CacheError(
                f"cache '{self.spec.name}': value of {len(value)} bytes is over blocksize"
                f" {self.spec.max_item_size}; raise blocksize= in its cache2"
            )
        if expires < 0:
            raise CacheError(f"cache '{self.spec.name}': expires={expires} is negative")
        self._forget(key)
        stored = self._call(
            "update" if overwrite else "set",
            self._redis.set,
            full,
            value,
            expires or None,
            None,
            not overwrite,
        )
        return bool(stored)

    def delete(self, key: bytes) -> bool:
        self._forget(key)
        return bool(self._call("del", self._redis.unlink, self._key(key)))

    def clear(self) -> None:
        self._memo.clear()

        def unlink_all() -> None:
            batch: list[bytes] = []
            for full in self._redis.scan_iter(self._prefix + b"*", _SCAN_BATCH):
                batch.append(full)
                if len(batch) >= _SCAN_BATCH:
                    self._redis.unlink(*batch)
                    batch = []
            if batch:
                self._redis.unlink(*batch)

        self._call("clear", unlink_all)

    def math(self, key: bytes, operation: str, amount: int, expires: int) -> int:
        full = self._key(key)
        if not INT64_MIN <= amount <= INT64_MAX:
            raise CacheError(f"cache '{self.spec.name}': amount {amount} is not an int64")
        if expires < 0:
            raise CacheError(f"cache '{self.spec.name}': expires={expires} is negative")
        self._forget(key)
        if operation in _COMPUTED:
            return int(self._call(operation, self._computed, key, full, operation, amount, expires))
        delta = amount if operation == "inc" else -amount
        pipe = self._redis.pipeline(transaction=True)
        # a missing key starts at math_initial with the TTL; an existing one keeps both
        pipe.set(full, self.spec.math_initial, ex=expires or None, nx=True)
        pipe.incrby(full, delta)
        return int(self._call(f"cache_{operation}", pipe.execute)[1])

    def _computed(self, key: bytes, full: bytes, operation: str, amount: int, expires: int) -> int:
        apply = _COMPUTED[operation]
        for _ in range(_WATCH_RETRIES):
            with self._redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(full)
                    old = pipe.get(full)
                    current = self.spec.math_initial if old is None else self._number(key, old)
                    result = apply(current, amount)
                    pipe.multi()
                    if old is None:
                        pipe.set(full, result, ex=expires or None)
                    else:
                        pipe.set(full, result, keepttl=True)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue
        raise CacheError(
            f"cache '{self.spec.name}': cache_{operation} of {key[:60]!r} lost {_WATCH_RETRIES}"
            " races in a row with other writers; try again"
        )

    # -- stats --

    def stats(self) -> dict[str, Any]:
        """uWSGI's cache stats keys; hits and misses are Redis' to count (INFO keyspace_hits),
        `items` is null while Redis cannot be reached."""
        spec = self.spec
        try:
            items: int | None = len(self.keys())
        except CacheError:
            items = None
        return {
            "name": spec.name,
            "hash": "redis",
            "hashsize": 0,
            "keysize": spec.keysize,
            "max_items": spec.max_items,
            "blocks": spec.block_count,
            "blocksize": spec.blocksize,
            "items": items,
            "hits": 0,
            "miss": 0,
            "full": 0,
            "last_modified_at": 0,
            "backend": self.url,
        }
