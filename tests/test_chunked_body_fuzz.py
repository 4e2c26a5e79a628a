"""RawChunkedBody (the parser behind `uwsgi.chunked_read`) under random input, bounded.

Over a real socketpair: random valid streams (random chunk sizes and extensions, sent in random
fragments) must come back byte for byte and end with b""; mutated streams must either decode or
fail with ChunkedInputError / ClientGone within the timeout, never hand out a chunk over the
limit or more bytes than were sent. Everything derives from one seed, printed on failure.
"""

from __future__ import annotations

import os
import random
import socket
import threading

from polyhost.protocol.chunked_body import ChunkedInputError, RawChunkedBody
from polyhost.request import ClientGone

from fuzz_support import mutate

SEED = int(os.environ.get("FUZZ_SEED", random.randrange(1 << 30)))
ROUNDS = 150
LIMIT = 4096


def _encode(rng: random.Random, payload: bytes) -> bytes:
    out, pos = [], 0
    while pos < len(payload):
        size = rng.randint(1, 600)
        piece = payload[pos : pos + size]
        ext = b";n=v" if rng.random() < 0.2 else b""
        out.append(b"%x%b\r\n%b\r\n" % (len(piece), ext, piece))
        pos += size
    return b"".join(out) + b"0\r\n\r\n"


def _drain(stream: bytes, rng: random.Random) -> list[bytes]:
    """Send `stream` in random fragments (the head part as `initial`), read every chunk."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    split = rng.randint(0, len(stream))
    body = RawChunkedBody(ours, stream[:split], 2.0, LIMIT)

    def feed() -> None:
        rest = stream[split:]
        with theirs:
            while rest:
                cut = rng.randint(1, 700)
                try:
                    theirs.sendall(rest[:cut])
                except OSError:
                    return
                rest = rest[cut:]
            theirs.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=feed, daemon=True)
    sender.start()
    chunks: list[bytes] = []
    try:
        while (chunk := body.next_chunk()) != b"":
            assert chunk is not None
            assert 0 < len(chunk) <= LIMIT
            chunks.append(chunk)
    finally:
        ours.close()
        sender.join(5)
    return chunks


def test_valid_streams_round_trip() -> None:
    rng = random.Random(SEED)
    for _ in range(ROUNDS):
        payload = rng.randbytes(rng.randint(0, 3000))
        assert b"".join(_drain(_encode(rng, payload), rng)) == payload, f"FUZZ_SEED={SEED}"


def test_mutated_streams_decode_or_fail_cleanly() -> None:
    rng = random.Random(SEED)
    failures = 0
    for _ in range(ROUNDS):
        stream = mutate(rng, _encode(rng, rng.randbytes(rng.randint(0, 1500))))
        try:
            chunks = _drain(stream, rng)
        except (ChunkedInputError, ClientGone):
            failures += 1
            continue
        assert sum(map(len, chunks)) <= len(stream), f"FUZZ_SEED={SEED}"
    assert failures > 0, f"FUZZ_SEED={SEED}: no mutation was refused"
