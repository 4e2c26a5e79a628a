"""The shared cache of an instance: uWSGI's `cache2` / `cache` on LMDB, one environment per cache.

Every process of the instance (master, workers, mules, spoolers) opens the same LMDB file, in
the instance's cache directory or at `store=FILE`, after fork; every language reaches it through
the fabric op table. Semantics are uWSGI's (core/cache.c): `set` does not overwrite, `update`
does, expiry in seconds from now (0 = never), int64 math, `purge_lru` eviction, a `full` counter.
The network forms (modifier1 111 server side, `NAME@host:port` client) live in cache_remote
(imported when a remote cache is first used).

Layout of one cache (an LMDB environment, `subdir=False`, plus `FILE-stats`):
- db `items`: key -> record `<expires_at u64><long_key_len u16>[full key] value`. Keys longer
  than LMDB's key limit are stored under a sha256 of the key, with the full key in the record.
- db `expiry`: `expires_at (u64 BE) + key` -> b"", what the sweeper walks in time order.
- dbs `lru` (`seq (u64 BE)` -> key) and `lru_of` (key -> seq): only with `purge_lru`.
- `FILE-stats`, a small mmap'd file: the generation (the id of the last write transaction) and
  one slot of counters (hits, miss, full, last_modified_at) per process, claimed with an
  open-file-description lock, so counting a hit is a memory add, not an LMDB write, and the
  master sums the slots for the stats server.

Reads stay cheap: a process keeps a memo of the small values it read (at most 2048 per cache),
tagged with the generation; any write, from any process, moves the generation on before it
commits, and the memo is dropped. Writes are one LMDB transaction each (no fsync; the map is
written in place, except for store= files, which LMDB writes with write(2) so an OS crash can
lose their last commits but not corrupt them; sweep() flushes them every store_sync seconds).

Fork: LMDB handles are not inherited. An at-fork hook drops them in the child (each cache
reopens on its next use, or at once with after_fork()) and holds the master-side calls
(stats, sweep, close) out of the fork, so the master's stats thread can run while it forks. A
process must not fork while another of its threads is inside a get/set (py-lmdb would wait for
that thread in the child).

Counters (`cache_inc` & co) are 8-byte signed little-endian int64: what uWSGI's cache math
writes on x86 and ARM (native int64), so a counter read with `cache_get` gives the same bytes.

Differences from uWSGI, on purpose: a cache holds `max_items` items (uWSGI keeps slot 0 unused
and holds one less); empty values are stored; expiry also works with `purge_lru`; expired items
are invisible at once, not only after the sweeper ran; a full cache first drops its expired
items; a `store=` file is an LMDB file, not uWSGI's raw memory image; no UDP replication.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import mmap
import os
import struct
import threading
import time
import weakref
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import lmdb

from polyhost.fabric.redis_url import is_redis_url

if TYPE_CHECKING:
    from polyhost.fabric.cache_redis import RedisCache
    from polyhost.fabric.cache_remote import RemoteCache

HASHES = ("djb33x", "murmur2")
INT64_MIN = -(1 << 63)

_RECORD = struct.Struct("<QH")  # expires_at (epoch seconds, 0 = never), long key length
_HEAD = _RECORD.size
_NUM = struct.Struct("<q")
_BE64 = struct.Struct(">Q")
_LONG_KEY_TAG = b"\xff\x00polyhost-long-key:"

#: stats file: 8 int64 of header (generation first) then SLOTS slots of 4 int64
_SLOTS = 1024
_FIELDS = 4
_HITS, _MISS, _FULL, _LASTMOD = range(_FIELDS)
_BASE = 8
_STATS_SIZE = (_BASE + _SLOTS * _FIELDS) * 8
_FLOCK = struct.Struct("hhxxxxqqixxxx")  # struct flock on Linux (x86-64, arm64)

#: memo of read values per process and cache: a bounded number of them, each of a bounded size,
#: within a bounded total (a `cache:` route answers pages of tens of KiB from it)
_MEMO_MAX_ITEMS = 2048
_MEMO_MAX_VALUE = 256 << 10
_MEMO_MAX_BYTES = 8 << 20
#: what the memo keeps for a key that is not in the cache
_NO_ITEM: tuple[int, None] = (0, None)

_PAGE = 4096
_LMDB_READERS = 1024


class CacheError(Exception):
    """A cache operation or definition failed; the message names the cache and what to do."""


class CacheFull(CacheError):
    """The cache holds max_items items (and has no purge_lru), or its LMDB map is used up."""


@dataclass(frozen=True)
class CacheSpec:
    """One cache as configured (`cache2 = name=...,items=...` or the old `cache = N`)."""

    name: str
    max_items: int
    blocksize: int = 65536
    keysize: int = 2048
    purge_lru: bool = False
    store: str | None = None
    hashsize: int = 65536
    hash: str = "djb33x"
    #: uWSGI's block count (stats; with bitmap=1 an item may span blocksize*blocks bytes)
    blocks: int = 0
    bitmap: bool = False
    math_initial: int = 0
    clear_on_full: bool = False
    no_expire: bool = False
    #: seconds between syncs of a store= file to disk by sweep() (0: every sweep with changes)
    store_sync: int = 0
    #: replace a store= file that is not a cache store instead of refusing to start
    store_delete: bool = False
    #: `backend=redis://...`: the items live in that Redis server (host/fabric/cache_redis)
    backend: str | None = None
    #: `local_memo=SECONDS` (Redis backend): a process may reuse a value it read that long
    local_memo: int = 0
    #: where it was configured (file:line), for messages
    origin: str = ""

    @property
    def block_count(self) -> int:
        return self.blocks or self.max_items

    @property
    def max_item_size(self) -> int:
        return self.blocksize * self.block_count if self.bitmap else self.blocksize


# --- configuration ---------------------------------------------------------------------------

#: every key of uWSGI's cache2 (core/cache.c uwsgi_cache_create) -> CacheSpec field
_CACHE2_KEYS = {
    "name": "name",
    "items": "max_items",
    "max_items": "max_items",
    "maxitems": "max_items",
    "blocksize": "blocksize",
    "blocks": "blocks",
    "hash": "hash",
    "hashsize": "hashsize",
    "hash_size": "hashsize",
    "keysize": "keysize",
    "key_size": "keysize",
    "store": "store",
    "store_sync": "store_sync",
    "storesync": "store_sync",
    "store_delete": "store_delete",
    "storedelete": "store_delete",
    "bitmap": "bitmap",
    "math_initial": "math_initial",
    "purge_lru": "purge_lru",
    "lru": "purge_lru",
    "clear_on_full": "clear_on_full",
    "no_expire": "no_expire",
    "backend": "backend",
    "local_memo": "local_memo",
    "local-memo": "local_memo",
    # accepted, with nothing to switch: polyhost always records last_modified_at, expires
    # lazily and sweeps expired items before declaring the cache full, and logs nothing on full
    "lastmod": "",
    "lazy_expire": "",
    "lazy": "",
    "sweep_on_full": "",
    "ignore_full": "",
}
#: cache2 keys of uWSGI's UDP replication, which polyhost does not have
_UDP_KEYS = ("node", "nodes", "sync", "udp", "udp_servers", "udp_server", "udpservers", "udpserver")
_INT_FIELDS = frozenset(
    {
        "max_items",
        "blocksize",
        "blocks",
        "hashsize",
        "keysize",
        "store_sync",
        "math_initial",
        "local_memo",
    }
)

_BOOL_FIELDS = frozenset({"bitmap", "purge_lru", "clear_on_full", "no_expire", "store_delete"})
_TRUE = frozenset({"1", "true", "yes", "on", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "n"})


def parse_cache2(value: str, origin: str) -> CacheSpec:
    """Parse a `cache2` value ("name=NAME,items=N[,key=value...]") with uWSGI's keys."""
    where = f"{origin}: cache2 = {value}"
    fields: dict[str, Any] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key = key.strip().lower()
        raw = raw.strip()
        if not sep:
            raise CacheError(f"{where}: '{item.strip()}' has no value (write {key}=VALUE)")
        if key in _UDP_KEYS:
            raise CacheError(
                f"{where}: '{key}' (uWSGI's UDP cache replication) is not supported by"
                " polyhost; remove it (share one cache through `name@host:port` instead)"
            )
        if key not in _CACHE2_KEYS:
            known = ", ".join(sorted(_CACHE2_KEYS))
            raise CacheError(f"{where}: unknown key '{key}'; known keys: {known}")
        field = _CACHE2_KEYS[key]
        if key == "sweep_on_full":
            _parse_int(raw, key, where)
        if not field:
            continue
        if field in _INT_FIELDS:
            fields[field] = _parse_int(raw, key, where)
        elif field in _BOOL_FIELDS:
            fields[field] = _parse_bool(raw, key, where)
        else:
            fields[field] = raw
    if not fields.get("name"):
        raise CacheError(f"{where}: a cache needs a name (name=NAME)")
    if not fields.get("max_items") and not fields.get("backend"):
        raise CacheError(f"{where}: a cache needs its maximum number of items (items=N, N > 0)")
    fields.setdefault("max_items", 0)  # a Redis cache leaves the count to Redis' eviction
    spec = CacheSpec(origin=origin, **fields)
    _check_spec(spec, where)
    return spec


def _parse_int(raw: str, key: str, where: str) -> int:
    try:
        return int(raw, 10)
    except ValueError:
        raise CacheError(f"{where}: {key}={raw} is not an integer") from None


def _parse_bool(raw: str, key: str, where: str) -> bool:
    word = raw.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise CacheError(f"{where}: {key}={raw} is not a boolean (use 1 or 0)")


def _check_spec(spec: CacheSpec, where: str) -> None:
    if spec.max_items <= 0 and not (spec.backend and spec.max_items == 0):
        raise CacheError(f"{where}: items must be over 0")
    if spec.blocksize <= 0:
        raise CacheError(f"{where}: blocksize must be over 0")
    if not 0 < spec.keysize < 0xFFFF:
        raise CacheError(f"{where}: keysize must be between 1 and 65534")
    if spec.hashsize <= 0:
        raise CacheError(f"{where}: hashsize must be over 0")
    if spec.hash not in HASHES:
        raise CacheError(f"{where}: hash={spec.hash} is not one of {', '.join(HASHES)}")
    if spec.blocks and spec.blocks < spec.max_items:
        raise CacheError(f"{where}: blocks={spec.blocks} must be at least items={spec.max_items}")
    if spec.store_sync < 0:
        raise CacheError(f"{where}: store_sync must be 0 or more seconds")
    if spec.store == "":
        raise CacheError(f"{where}: store= needs a file name")
    if spec.backend is not None:
        if not is_redis_url(spec.backend):
            raise CacheError(
                f"{where}: backend={spec.backend} is not a Redis URL; write"
                " backend=redis://HOST:PORT/DB (or rediss://... for TLS, unix:///path.sock)"
            )
        if spec.store:
            raise CacheError(f"{where}: store= and backend= exclude each other (Redis persists)")
    if spec.local_memo < 0:
        raise CacheError(f"{where}: local_memo must be 0 or more seconds")
    if spec.local_memo and spec.backend is None:
        raise CacheError(f"{where}: local_memo= is for caches with backend=redis://...")


def specs_from_config(config: Any) -> list[CacheSpec]:
    """The caches of a polyhost Config: the old `cache = N` (named "default", first, as in
    uWSGI, with cache-blocksize and cache-store), then every `cache2`."""
    specs: list[CacheSpec] = []
    items = config.get("cache")
    if items:
        origin = config.origin("cache")
        spec = CacheSpec(
            name="default",
            max_items=int(items),
            blocksize=config.get("cache-blocksize"),
            store=config.get("cache-store") or None,
            store_sync=config.get("cache-store-sync"),
            origin=origin,
        )
        _check_spec(spec, f"{origin}: cache = {items}")
        specs.append(spec)
    for i, value in enumerate(config.get("cache2")):
        specs.append(parse_cache2(value, config.origin("cache2", i)))
    if config.get("cache-no-expire"):
        specs = [replace(spec, no_expire=True) for spec in specs]
    _check_unique(specs)
    return specs


def _check_unique(specs: list[CacheSpec]) -> None:
    seen: dict[str, CacheSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise CacheError(
                f"{spec.origin}: cache name '{spec.name}' is already used by the cache defined"
                f" at {seen[spec.name].origin}; give each cache its own name"
            )
        seen[spec.name] = spec


# --- one local cache -------------------------------------------------------------------------


def check_key(spec: CacheSpec, key: bytes) -> None:
    """A key of 1 to `keysize` bytes, whatever stores the cache."""
    if not key:
        raise CacheError(f"cache '{spec.name}': empty key (a key needs 1 byte or more)")
    if len(key) > spec.keysize:
        raise CacheError(
            f"cache '{spec.name}': key of {len(key)} bytes is over keysize"
            f" {spec.keysize} ({key[:40]!r}...); raise keysize= in its cache2"
        )


def _wrap64(number: int) -> int:
    """int64 two's complement wrap-around, as uWSGI's C arithmetic."""
    return ((number - INT64_MIN) % (1 << 64)) + INT64_MIN


def _divide(current: int, amount: int) -> int:
    if amount == 0:
        return 0  # uWSGI: division by zero gives 0
    quotient = abs(current) // abs(amount)
    return _wrap64(quotient if (current < 0) == (amount < 0) else -quotient)


_MATH = {
    "inc": lambda current, amount: _wrap64(current + amount),
    "dec": lambda current, amount: _wrap64(current - amount),
    "mul": lambda current, amount: _wrap64(current * amount),
    "div": _divide,
}


def _lock_slot(fd: int, slot: int) -> bool:
    """Try to own `slot` of a stats file: an exclusive lock on byte `slot`, held by this open
    file (an OFD lock: not shared with a forked child, not dropped when another fd closes)."""
    try:
        if hasattr(fcntl, "F_OFD_SETLK"):
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, slot, 1, 0))
        else:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot, os.SEEK_SET)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


class LocalCache:
    """One cache of this instance, in this process. Use it through CacheSet."""

    def __init__(self, spec: CacheSpec, path: str) -> None:
        self.spec = spec
        self.path = path
        self.stats_path = path + "-stats"
        self._lru = spec.purge_lru
        self._max_size = spec.max_item_size
        self._keysize = spec.keysize
        self._env: lmdb.Environment | None = None
        self._stats_fd = -1
        self._stats_map: mmap.mmap | None = None
        self._view: memoryview | None = None
        self._memo: tuple[int, dict[bytes, Any]] = (-1, {})
        #: the bytes of the values in the memo (0 again whenever a write empties it)
        self._memo_bytes = 0
        self._open()

    # -- opening, fork, closing --

    def _map_size(self) -> int:
        spec = self.spec
        per_item = (min(spec.keysize, 512) + 128) * 2 + 2 * _PAGE
        data = spec.blocksize * spec.block_count + spec.max_items * per_item
        return ((2 * data + (16 << 20)) // _PAGE + 1) * _PAGE

    def _open(self) -> None:
        spec = self.spec
        self._env = self._open_env()
        env = self._env
        try:
            self._items = env.open_db(b"items")
            self._expiry = env.open_db(b"expiry")
            if self._lru:
                self._lru_db = env.open_db(b"lru")
                self._lru_of = env.open_db(b"lru_of")
        except lmdb.Error as exc:
            self._close_env()
            raise CacheError(
                f"cache '{spec.name}': cannot open its databases in {self.path}: {exc}"
            ) from exc
        self._inline_max = env.max_key_size() - _BE64.size
        self._open_stats()

    def _open_env(self) -> lmdb.Environment:
        spec = self.spec
        options: dict[str, Any] = {
            "subdir": False,
            "map_size": self._map_size(),
            "max_dbs": 4,
            "max_readers": _LMDB_READERS,
            # no cached read transaction: closing the inherited environment in a forked child
            # (py-lmdb's close) would abort it and free the parent's reader slot
            "max_spare_txns": 0,
            "lock": True,
            "sync": False,
            "metasync": False,
            "readahead": False,
            "meminit": False,
            # writes go straight into the map (3x the commits/s of write(2)); a store= file
            # stays on write(2) so an OS crash can lose its last commits but not corrupt it
            "writemap": not spec.store,
        }
        try:
            return lmdb.open(self.path, **options)
        except lmdb.InvalidError as exc:
            if not (spec.store and spec.store_delete):
                raise CacheError(
                    f"{spec.origin}: cache '{spec.name}': {self.path} is not a polyhost cache"
                    f" store ({exc}); remove it, point store= elsewhere, or add store_delete=1"
                ) from exc
        except lmdb.Error as exc:
            raise CacheError(
                f"{spec.origin}: cache '{spec.name}': cannot open {self.path}: {exc}"
                " (check the directory exists and is writable)"
            ) from exc
        for stale in (self.path, self.path + "-lock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        return lmdb.open(self.path, **options)

    def _open_stats(self) -> None:
        fd = os.open(self.stats_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < _STATS_SIZE:
                os.ftruncate(fd, _STATS_SIZE)
            stats_map = mmap.mmap(fd, _STATS_SIZE)
        except OSError:
            os.close(fd)
            raise
        self._stats_fd = fd
        self._stats_map = stats_map
        view = memoryview(stats_map).cast("q")
        self._view = view
        slot = next((s for s in range(_SLOTS) if _lock_slot(fd, s)), _SLOTS - 1)
        base = _BASE + slot * _FIELDS
        self._hits, self._miss, self._full, self._lastmod = (base + f for f in range(_FIELDS))
        with self._begin() as txn:
            if view[0] > txn.id():  # the data file was made anew: generations restart
                view[0] = txn.id()

    def forget(self) -> None:
        """Drop the handles this process inherited through fork (it reopens on next use)."""
        if self._env is not None:
            self._env.close()  # our copies of the fds and mappings; the parent keeps its own
            self._env = None
        self._release_stats()
        self._memo = (-1, {})

    def reopen(self) -> None:
        self.forget()
        self._open()

    def _begin(self, write: bool = False, db: Any = None) -> lmdb.Transaction:
        env = self._env_or_open()
        try:
            return env.begin(write=write, db=db)
        except lmdb.MapResizedError:  # another process opened it with a bigger map (reload)
            env.set_mapsize(0)
            return env.begin(write=write, db=db)

    def _env_or_open(self) -> lmdb.Environment:
        if self._env is None:
            self._open()
        assert self._env is not None
        return self._env

    def _close_env(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None

    def _release_stats(self) -> None:
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._stats_map is not None:
            self._stats_map.close()
            self._stats_map = None
        if self._stats_fd >= 0:
            os.close(self._stats_fd)  # releases this process's slot
            self._stats_fd = -1

    def close(self) -> None:
        if self._env is not None and self.spec.store:
            self._env.sync(True)
        self._close_env()
        self._release_stats()

    def remove_files(self) -> None:
        self.close()
        for path in (self.path, self.path + "-lock", self.stats_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    # -- keys and records --

    def _lmdb_key(self, key: bytes) -> bytes:
        if len(key) <= self._inline_max:
            return key
        return _LONG_KEY_TAG + hashlib.sha256(key).digest()

    def _check_key(self, key: bytes) -> None:
        check_key(self.spec, key)

    def _record(self, key: bytes, lkey: bytes, value: bytes, expires_at: int) -> bytes:
        if lkey is key:
            return _RECORD.pack(expires_at, 0) + value
        return _RECORD.pack(expires_at, len(key)) + key + value

    @staticmethod
    def _owned(record: bytes, key: bytes) -> bool:
        """Whether `record` is `key`'s (a long key's record holds the full key)."""
        long_len = _RECORD.unpack_from(record)[1]
        return not long_len or record[_HEAD : _HEAD + long_len] == key

    @staticmethod
    def _value_of(record: bytes) -> bytes:
        return record[_HEAD + _RECORD.unpack_from(record)[1] :]

    # -- counters --

    def _count(self, field: int) -> None:
        view = self._view
        if view is not None:
            view[field] += 1

    def _changed(self, txn: lmdb.Transaction, now: float | None = None) -> None:
        """Call inside a write transaction that changed something, before its commit: the
        new generation tells every process its memo is stale."""
        view = self._view
        if view is not None:
            view[0] = txn.id()
            view[self._lastmod] = int(time.time() if now is None else now)

    def _transact(self, operation: Any, *args: Any) -> Any:
        """Run operation(txn, *args) in a write transaction; a full map becomes CacheFull."""
        txn = self._begin(write=True)
        try:
            result = operation(txn, *args)
        except lmdb.MapFullError:
            txn.abort()
            self._count(self._full)
            raise CacheFull(
                f"cache '{self.spec.name}' is full: its LMDB map of {self._map_size()} bytes is"
                " used up; raise items= or blocksize= in its cache2"
            ) from None
        except BaseException:
            txn.abort()
            raise
        txn.commit()
        return result

    # -- reads --

    def get(self, key: bytes) -> bytes | None:
        view = self._view
        if view is not None:  # the memo's fast path, written out: this is the hot call
            memo_generation, memo = self._memo
            if memo_generation == view[0]:
                entry = memo.get(key)
                if entry is not None:
                    expires_at, value = entry
                    if value is not None and (not expires_at or expires_at > time.time()):
                        view[self._hits] += 1
                        return value  # type: ignore[no-any-return]
                    view[self._miss] += 1
                    return None
        found = self._lookup(key, count=True)
        return None if found is None else found[1]

    def lookup(self, key: bytes) -> tuple[bytes, int] | None:
        """(value, expires_at) of a live item, counting a hit or a miss."""
        entry = self._lookup(key, count=True)
        return None if entry is None else (entry[1], entry[0])

    def exists(self, key: bytes) -> bool:
        return self._lookup(key, count=False) is not None

    def _lookup(self, key: bytes, count: bool) -> tuple[int, bytes] | None:
        """(expires_at, value) of a live item or None; `count` a hit or a miss (a get, not an
        exists). Served from this process's memo while no write happened anywhere."""
        view = self._view
        if view is None:
            self._env_or_open()
            view = self._view
            assert view is not None
        if self._lru:  # no memo: a get is a write (it moves the item in the LRU order)
            entry = self._lookup_lru(key) if count else self._read(key)[1]
        else:
            generation = view[0]
            memo_generation, memo = self._memo
            if memo_generation != generation:
                memo = {}
                self._memo = (generation, memo)
            entry = memo.get(key)
            if entry is None:
                entry = self._read_into(memo, generation, key)
        if entry is None or entry[1] is None or (entry[0] and entry[0] <= time.time()):
            if count:
                view[self._miss] += 1
            return None
        if count:
            view[self._hits] += 1
        return entry

    def _read(self, key: bytes) -> tuple[int, tuple[int, bytes] | None]:
        """(snapshot id, (expires_at, value) or None) from a short read transaction."""
        with self._begin(db=self._items) as txn:
            snapshot = txn.id()
            record = txn.get(self._lmdb_key(key))
        if record is None or not self._owned(record, key):
            return snapshot, None
        return snapshot, (_RECORD.unpack_from(record)[0], self._value_of(record))

    def _read_into(
        self, memo: dict[bytes, Any], generation: int, key: bytes
    ) -> tuple[int, bytes] | None:
        snapshot, entry = self._read(key)
        if not memo:  # a new memo (a write happened): its budget is whole again
            self._memo_bytes = 0
        size = 0 if entry is None else len(entry[1])
        # a snapshot at or after the generation read holds every write up to it
        if (
            size <= _MEMO_MAX_VALUE
            and self._memo_bytes + size <= _MEMO_MAX_BYTES
            and snapshot >= generation
            and len(memo) < _MEMO_MAX_ITEMS
        ):
            memo[key] = _NO_ITEM if entry is None else entry
            self._memo_bytes += size
        return entry

    def _lookup_lru(self, key: bytes) -> tuple[int, bytes] | None:
        """With purge_lru a get moves the item to the young end: a write transaction."""

        def read_and_touch(txn: lmdb.Transaction) -> tuple[int, bytes] | None:
            lkey = self._lmdb_key(key)
            record = txn.get(lkey, db=self._items)
            if record is None or not self._owned(record, key):
                return None
            expires_at = _RECORD.unpack_from(record)[0]
            if expires_at and expires_at <= time.time():
                return None
            self._touch_lru(txn, lkey)
            view = self._view
            if view is not None:
                view[0] = txn.id()
            return expires_at, self._value_of(record)

        try:
            entry: tuple[int, bytes] | None = self._transact(read_and_touch)
        except CacheFull:  # no room left to record the use: still answer the read
            entry = self._read(key)[1]
        return entry

    def keys(self) -> list[bytes]:
        now = time.time()
        keys = []
        with self._begin(db=self._items) as txn:
            for lkey, record in txn.cursor():
                expires_at, long_len = _RECORD.unpack_from(record)
                if expires_at and expires_at <= now:
                    continue
                keys.append(record[_HEAD : _HEAD + long_len] if long_len else lkey)
        return keys

    def num(self, key: bytes) -> int:
        value = self.get(key)
        if value is None:
            return 0
        return self._number(key, value)

    def _number(self, key: bytes, value: bytes) -> int:
        if len(value) != _NUM.size:
            raise CacheError(
                f"cache '{self.spec.name}': key {key[:60]!r} holds {len(value)} bytes, not a"
                " 64-bit counter: cache_num/inc/dec/mul/div need the 8 bytes written by"
                " cache_inc (or cache_set of a little-endian int64)"
            )
        return int(_NUM.unpack(value)[0])

    # -- writes --

    def store(self, key: bytes, value: bytes, expires: int, overwrite: bool) -> bool:
        """set (overwrite=False) or update; False when the key exists (set) or the cache is
        full; CacheError for a bad key or value."""
        if not key or len(key) > self._keysize:
            self._check_key(key)
        if len(value) > self._max_size:
            raise CacheError(
                f"cache '{self.spec.name}': value of {len(value)} bytes is over blocksize"
                f" {self._max_size} of cache '{self.spec.name}'; raise blocksize= in its cache2"
            )
        if expires < 0:
            raise CacheError(f"cache '{self.spec.name}': expires={expires} is negative")
        if not overwrite and not self._lru:  # set does not overwrite: a read can tell
            view = self._view
            memo_generation, memo = self._memo
            entry = memo.get(key) if view is not None and memo_generation == view[0] else None
            if entry is None:
                if self._lookup(key, count=False) is not None:
                    return False
            elif entry[1] is not None and (not entry[0] or entry[0] > time.time()):
                return False
        try:
            return bool(self._transact(self._store, key, value, expires, overwrite))
        except CacheFull:
            return False

    def _store(
        self, txn: lmdb.Transaction, key: bytes, value: bytes, expires: int, overwrite: bool
    ) -> bool:
        now = time.time()
        lkey = key if len(key) <= self._inline_max else self._lmdb_key(key)
        expires_at = int(now) + expires if expires else 0
        record = self._record(key, lkey, value, expires_at)
        items = self._items
        if overwrite:
            old = txn.replace(lkey, record, db=items)
        elif txn.put(lkey, record, db=items, overwrite=False):
            old = None
        else:
            old = txn.get(lkey, db=items)
            old_expires = _RECORD.unpack_from(old)[0]
            if not old_expires or old_expires > now:
                return False
            txn.put(lkey, record, db=items)
        if old is not None:
            old_expires, long_len = _RECORD.unpack_from(old)
            if long_len and old[_HEAD : _HEAD + long_len] != key:
                txn.put(lkey, old, db=items)
                return False  # another key's record under the same digest
            if old_expires:
                txn.delete(_BE64.pack(old_expires) + lkey, db=self._expiry)
        if expires_at:
            txn.put(_BE64.pack(expires_at) + lkey, b"", db=self._expiry)
        if old is None:
            self._make_room(txn, now, lkey)
        if self._lru:
            self._touch_lru(txn, lkey)
        self._changed(txn, now)
        return True

    def _make_room(self, txn: lmdb.Transaction, now: float, added: bytes) -> None:
        """After adding an item: if that makes one too many, free a place (expired items, then
        the least recently used with purge_lru, or everything with clear_on_full) or raise
        CacheFull, which aborts the transaction."""
        limit = self.spec.max_items
        entries = txn.stat(self._items)["entries"]
        if entries <= limit:
            return
        entries -= self._sweep_in(txn, now)
        if entries <= limit:
            return
        self._count(self._full)
        if self._lru:
            cursor = txn.cursor(db=self._lru_db)
            while entries > limit and cursor.first():
                self._drop(txn, cursor.value())
                entries -= 1
            if entries <= limit:
                return
        if self.spec.clear_on_full:
            record = txn.get(added, db=self._items)
            self._clear_in(txn)
            txn.put(added, record, db=self._items)
            expires_at = _RECORD.unpack_from(record)[0]
            if expires_at:
                txn.put(_BE64.pack(expires_at) + added, b"", db=self._expiry)
            return
        raise CacheFull(
            f"cache '{self.spec.name}' is full ({limit} items); raise items= in its cache2, or"
            " add purge_lru=1 to evict the least recently used item"
        )

    def _drop(self, txn: lmdb.Transaction, lkey: bytes) -> bytes | None:
        """Remove an item and its index entries; returns its record."""
        record = txn.pop(lkey, db=self._items)
        if record is None:
            return None
        expires_at = _RECORD.unpack_from(record)[0]
        if expires_at:
            txn.delete(_BE64.pack(expires_at) + lkey, db=self._expiry)
        if self._lru:
            seq = txn.pop(lkey, db=self._lru_of)
            if seq is not None:
                txn.delete(seq, db=self._lru_db)
        return record

    def _touch_lru(self, txn: lmdb.Transaction, lkey: bytes) -> None:
        old_seq = txn.get(lkey, db=self._lru_of)
        if old_seq is not None:
            txn.delete(old_seq, db=self._lru_db)
        cursor = txn.cursor(db=self._lru_db)
        seq = _BE64.pack(_BE64.unpack(cursor.key())[0] + 1 if cursor.last() else 1)
        txn.put(seq, lkey, db=self._lru_db)
        txn.put(lkey, seq, db=self._lru_of)

    def delete(self, key: bytes) -> bool:
        """Delete `key`; True if a live item was there."""
        if not key or len(key) > self.spec.keysize:
            return False
        return bool(self._transact(self._delete, key))

    def _delete(self, txn: lmdb.Transaction, key: bytes) -> bool:
        lkey = self._lmdb_key(key)
        record = txn.get(lkey, db=self._items)
        if record is None or not self._owned(record, key):
            return False
        self._drop(txn, lkey)
        self._changed(txn)
        expires_at = _RECORD.unpack_from(record)[0]
        return not expires_at or expires_at > time.time()

    def clear(self) -> None:
        self._transact(self._clear_in)

    def _clear_in(self, txn: lmdb.Transaction) -> None:
        for db in (self._items, self._expiry, *((self._lru_db, self._lru_of) if self._lru else ())):
            txn.drop(db, delete=False)
        self._changed(txn)

    def math(self, key: bytes, operation: str, amount: int, expires: int) -> int:
        """cache_inc/dec/mul/div: the new value. A missing key starts at math_initial and gets
        `expires`; an existing one keeps its expiry (uWSGI's FIXEXPIRE)."""
        self._check_key(key)
        if not INT64_MIN <= amount < -INT64_MIN:
            raise CacheError(f"cache '{self.spec.name}': amount {amount} is not an int64")
        if expires < 0:
            raise CacheError(f"cache '{self.spec.name}': expires={expires} is negative")
        return int(self._transact(self._math, key, _MATH[operation], amount, expires))

    def _math(
        self, txn: lmdb.Transaction, key: bytes, apply: Any, amount: int, expires: int
    ) -> int:
        now = time.time()
        lkey = self._lmdb_key(key)
        old = txn.get(lkey, db=self._items)
        if old is not None and not self._owned(old, key):
            raise CacheError(f"cache '{self.spec.name}': key {key[:60]!r} collides with another")
        old_expires = 0 if old is None else _RECORD.unpack_from(old)[0]
        if old is not None and (not old_expires or old_expires > now):
            current = self._number(key, self._value_of(old))
            expires_at = old_expires
        else:
            if old is not None:
                self._drop(txn, lkey)  # expired: starts again
            current = self.spec.math_initial
            expires_at = int(now) + expires if expires else 0
            if expires_at:
                txn.put(_BE64.pack(expires_at) + lkey, b"", db=self._expiry)
        result: int = apply(current, amount)
        txn.put(lkey, self._record(key, lkey, _NUM.pack(result), expires_at), db=self._items)
        if old is None:
            self._make_room(txn, now, lkey)
        if self._lru:
            self._touch_lru(txn, lkey)
        self._changed(txn, now)
        return result

    # -- master side --

    def sweep(self, now: float) -> int:
        """Delete the items expired at `now`; a read transaction when there is nothing to do."""
        env = self._env_or_open()
        env.reader_check()  # reader slots of dead processes would pin old pages
        if self.spec.no_expire:
            return 0
        with self._begin(db=self._expiry) as txn:
            cursor = txn.cursor()
            if not cursor.first() or _BE64.unpack_from(cursor.key())[0] > now:
                return 0
        return int(self._transact(self._sweep_in, now))

    def _sweep_in(self, txn: lmdb.Transaction, now: float) -> int:
        removed = 0
        cursor = txn.cursor(db=self._expiry)
        if not cursor.first():
            return 0
        while True:
            index_key = cursor.key()
            if not index_key or _BE64.unpack_from(index_key)[0] > now:
                break
            lkey = index_key[_BE64.size :]
            record = txn.get(lkey, db=self._items)
            if (
                record is not None
                and _RECORD.unpack_from(record)[0] == _BE64.unpack_from(index_key)[0]
            ):
                self._drop(txn, lkey)  # deletes this index entry too
                removed += 1
                if not cursor.set_range(index_key):
                    break
            elif not cursor.delete():  # an index entry left behind: drop it, move on
                break
        if removed:
            self._changed(txn)
        return removed

    def sync(self) -> None:
        """Flush a store= file to disk (LMDB commits without fsync; see CacheSet.sweep)."""
        if self._env is not None:
            self._env.sync(True)

    def generation(self) -> int:
        view = self._view
        return -1 if view is None else int(view[0])

    def stats(self) -> dict[str, Any]:
        spec = self.spec
        with self._begin() as txn:
            items = txn.stat(self._items)["entries"]
        view = self._view
        assert view is not None
        return {
            "name": spec.name,
            "hash": spec.hash,
            "hashsize": spec.hashsize,
            "keysize": spec.keysize,
            "max_items": spec.max_items,
            "blocks": spec.block_count,
            "blocksize": spec.blocksize,
            "items": items,
            "hits": sum(view[_BASE + _HITS :: _FIELDS]),
            "miss": sum(view[_BASE + _MISS :: _FIELDS]),
            "full": sum(view[_BASE + _FULL :: _FIELDS]),
            "last_modified_at": max(view[_BASE + _LASTMOD :: _FIELDS]),
        }


# --- all caches of the instance --------------------------------------------------------------

_LIVE_SETS: weakref.WeakSet[CacheSet] = weakref.WeakSet()
_HELD_ACROSS_FORK: list[CacheSet] = []


def _before_fork() -> None:
    """No stats()/sweep()/close() of another thread may be inside LMDB while we fork: the
    child drops the inherited environments, and py-lmdb would wait for that thread forever."""
    for caches in list(_LIVE_SETS):
        caches._master_lock.acquire()
        _HELD_ACROSS_FORK.append(caches)


def _after_fork_in_parent() -> None:
    while _HELD_ACROSS_FORK:
        _HELD_ACROSS_FORK.pop()._master_lock.release()


def _after_fork_in_child() -> None:
    _HELD_ACROSS_FORK.clear()
    for caches in list(_LIVE_SETS):
        caches._master_lock = threading.Lock()
        caches.forget()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


def cache_file_name(name: str) -> str:
    """File name of a cache without store= in the instance's cache directory."""
    return "cache-" + quote(name, safe="") + ".lmdb"


class CacheSet:
    """Every cache of the instance. `cache` arguments: None or "" = the default (first) cache,
    "NAME" = a local cache, "NAME@host:port" (or @/unix/path) = a remote one (magic 17)."""

    def __init__(self, specs: list[CacheSpec], directory: str, socket_timeout: float = 4.0) -> None:
        _check_unique(specs)
        self.directory = directory
        self.socket_timeout = socket_timeout
        self._caches: dict[str, LocalCache | RedisCache] = {}
        self._remotes: dict[str, RemoteCache] = {}
        self._synced: dict[str, tuple[int, float]] = {}
        #: held by the master-side calls (stats, sweep, close) and across fork()
        self._master_lock = threading.Lock()
        if any(not spec.store and not spec.backend for spec in specs):
            os.makedirs(directory, exist_ok=True)
        try:
            for spec in specs:
                if spec.backend:
                    from polyhost.fabric.cache_redis import RedisCache

                    self._caches[spec.name] = RedisCache(spec, socket_timeout)
                    continue
                path = spec.store or os.path.join(directory, cache_file_name(spec.name))
                self._caches[spec.name] = LocalCache(spec, path)
        except BaseException:
            self.close()
            raise
        self._default = next(iter(self._caches.values()), None)
        _LIVE_SETS.add(self)

    def local(self, cache: str | None = None) -> LocalCache | RedisCache:
        """The cache of this instance named `cache` (None or "" = the default one)."""
        if not cache:
            if self._default is None:
                raise CacheError(
                    "no cache is configured: add `cache2 = name=NAME,items=N` (or `cache = N`)"
                )
            return self._default
        found = self._caches.get(cache)
        if found is None:
            names = ", ".join(self._caches) or "none"
            raise CacheError(f"no cache named '{cache}' in this instance (caches: {names})")
        return found

    def _target(self, cache: str | None) -> LocalCache | RedisCache | RemoteCache:
        if not cache:
            return self._default or self.local()
        found = self._caches.get(cache)
        if found is not None:
            return found
        if "@" in cache:
            remote = self._remotes.get(cache)
            if remote is None:
                from polyhost.fabric.cache_remote import RemoteCache

                remote = self._remotes[cache] = RemoteCache(cache, self.socket_timeout)
            return remote
        return self.local(cache)

    # -- process life --

    def after_fork(self) -> None:
        """In a new process: reopen every environment (LMDB handles don't survive fork)."""
        for local in self._caches.values():
            local.reopen()

    def forget(self) -> None:
        """Drop the handles inherited through fork; each cache reopens on its next use."""
        for local in self._caches.values():
            local.forget()

    def close(self) -> None:
        with self._master_lock:
            for local in self._caches.values():
                local.close()

    def remove_files(self) -> None:
        """At the instance's final shutdown (not on reload): delete every cache's files, except
        those of store= caches, which persist."""
        with self._master_lock:
            for local in self._caches.values():
                if local.spec.store:
                    local.close()
                else:
                    local.remove_files()

    # -- operations --

    def get(self, key: bytes, cache: str | None = None) -> bytes | None:
        # Python's uwsgi.cache_get is bound here: str keys and names converted inline (hot path)
        if type(key) is str:
            key = key.encode()
        elif type(key) is not bytes:
            key = _as_bytes(key)
        if type(cache) is bytes:
            cache = cache.decode()
        target = self._caches.get(cache) if cache else self._default
        return (target or self._target(cache)).get(key)

    def lookup(self, key: bytes, cache: str | None = None) -> tuple[bytes, int] | None:
        """(value, expires_at epoch seconds or 0) of a live item of a local cache."""
        return self.local(cache).lookup(key)

    def set(self, key: bytes, value: bytes, expires: int = 0, cache: str | None = None) -> bool:
        """Store `key` unless it exists (uWSGI's set does not overwrite)."""
        return self._store(key, value, expires, cache, False)

    def update(self, key: bytes, value: bytes, expires: int = 0, cache: str | None = None) -> bool:
        """Store `key`, overwriting it."""
        return self._store(key, value, expires, cache, True)

    def _store(
        self, key: bytes, value: bytes, expires: int, cache: str | None, overwrite: bool
    ) -> bool:
        # Python's uwsgi.cache_set/update land here: str keys and names converted inline
        if type(key) is str:
            key = key.encode()
        elif type(key) is not bytes:
            key = _as_bytes(key)
        if type(value) is not bytes:
            value = _as_bytes(value)
        if type(cache) is bytes:
            cache = cache.decode()
        target = self._caches.get(cache) if cache else self._default
        return (target or self._target(cache)).store(key, value, expires, overwrite=overwrite)

    def delete(self, key: bytes, cache: str | None = None) -> bool:
        return self._target(cache).delete(key)

    def exists(self, key: bytes, cache: str | None = None) -> bool:
        key = key if type(key) is bytes else _as_bytes(key)
        if type(cache) is bytes:
            cache = cache.decode()
        target = self._caches.get(cache) if cache else self._default
        return (target or self._target(cache)).exists(key)

    def clear(self, cache: str | None = None) -> None:
        self._target(cache).clear()

    def keys(self, cache: str | None = None) -> list[bytes]:
        return self._target(cache).keys()

    def num(self, key: bytes, cache: str | None = None) -> int:
        """The int64 counter at `key` (0 when missing)."""
        return self._target(cache).num(key)

    def inc(self, key: bytes, amount: int = 1, expires: int = 0, cache: str | None = None) -> int:
        return self._target(cache).math(key, "inc", amount, expires)

    def dec(self, key: bytes, amount: int = 1, expires: int = 0, cache: str | None = None) -> int:
        return self._target(cache).math(key, "dec", amount, expires)

    def mul(self, key: bytes, amount: int = 2, expires: int = 0, cache: str | None = None) -> int:
        return self._target(cache).math(key, "mul", amount, expires)

    def div(self, key: bytes, amount: int = 2, expires: int = 0, cache: str | None = None) -> int:
        return self._target(cache).math(key, "div", amount, expires)

    def add_items(self, values: list[str]) -> list[str]:
        """`add-cache-item = [CACHE ]KEY=VALUE`: store each item (set: an existing key keeps its
        value, so a reload does not reset it). Without CACHE the item goes to every cache, as
        in uWSGI. Returns the lines to log."""
        lines = []
        for value in values:
            name, space, item = value.partition(" ")
            targets = [self.local(name)] if space and name in self._caches else []
            if not space:
                item = value
                targets = list(self._caches.values())
            elif not targets:
                lines.append(f"[cache-error] add-cache-item {value}: no cache named '{name}'")
                continue
            key, equals, data = item.partition("=")
            if not equals or not key:
                lines.append(f"[cache-error] add-cache-item {value}: write [CACHE ]KEY=VALUE")
                continue
            for local in targets:
                try:
                    stored = local.store(key.encode(), data.encode(), 0, overwrite=False)
                except CacheError as exc:
                    lines.append(
                        f'[cache-error] unable to store "{key}" in "{local.spec.name}": {exc}'
                    )
                    continue
                verb = "stored" if stored else "kept the existing"
                lines.append(f'[cache] {verb} "{key}" in "{local.spec.name}"')
        return lines

    # -- master --

    def sweep(self, now: float) -> int:
        """Delete expired items of every cache (the master calls it each second) and flush
        store= files with changes to disk every store_sync seconds. Returns items deleted."""
        removed = 0
        with self._master_lock:
            for local in self._caches.values():
                removed += local.sweep(now)
                if local.spec.store:
                    generation = local.generation()
                    last_generation, last_time = self._synced.get(local.spec.name, (-1, 0.0))
                    if generation != last_generation and now - last_time >= local.spec.store_sync:
                        local.sync()
                        self._synced[local.spec.name] = (generation, now)
        return removed

    def stats(self) -> list[dict[str, Any]]:
        """The stats server's `caches[]`, counters summed over every process. Safe from the
        stats server's thread while the master forks."""
        with self._master_lock:
            return [local.stats() for local in self._caches.values()]


def _as_bytes(value: object) -> bytes:
    """str (UTF-8) or bytes-like as bytes: what Python apps pass to uwsgi.cache_*."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise CacheError(f"cache keys and values are bytes or str, not {type(value).__name__}")
