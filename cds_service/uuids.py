"""UUIDs from a buffer of the kernel's randomness: time-ordered ones (version 7) for the cards and
suggestions the ledger keys on, random ones (version 4) for request ids.

`uuid.uuid4()` asks the kernel for 16 random bytes on every call (one `getrandom`/`urandom`
system call); a card-issuing call makes three or four, plus one for the request id, and on a host
where system calls are dear (measured here: about 0.1 ms each under load) that was a fifth of the
call's CPU. The functions here take the same `os.urandom` bytes 4 KiB at a time and cut them into
UUIDs: one system call per 256 UUIDs. The buffer is dropped in a forked child
(`os.register_at_fork`), so two gunicorn workers never hand out the same bytes.

Cards and suggestions get RFC 9562 version 7 UUIDs (section 5.7): 48 bits of Unix time in
milliseconds, then 74 random bits (`uuid7`). They are the primary keys of the ledger's tables,
and random keys spread every commit's inserts over the whole index: each batch dirtied about one
index page per row, and a commit's cost grew with the ledger (measured here with sqlite3 alone,
4 rows per call in batches of 75 calls: 0.06-0.10 ms per call over a new ledger's first 9,000
calls, 0.09-0.13 ms on a ledger of 100,000 cards; with time-ordered keys 0.035-0.06 ms on both).
Time-ordered keys land beside each other at the index's end, on SQLite and PostgreSQL alike
(PostgreSQL 18 documents its own `uuidv7()` as the default choice for primary keys). 74 random
bits keep a uuid unguessable; what the time prefix tells is when the card was issued, which the
EHR that received it knows already. Python 3.14's `uuid.uuid7` has the same layout; this module
keeps the buffered source on 3.11. The strings are written straight from the 128-bit value, in
the canonical form `str(uuid.UUID(...))` writes (tested against it), without building and
validating a `uuid.UUID` object for each.
"""

from __future__ import annotations

import os
import threading
import time

_CHUNK = 16 * 256
_lock = threading.Lock()
_buffer = b""
_offset = 0

# Version 7 layout (RFC 9562 section 5.7): unix_ts_ms (48) | ver (4) | rand_a (12) | var (2) |
# rand_b (62). The masks keep the 74 random bits and clear the version and variant fields.
_RANDOM_BITS = (1 << 80) - 1
_CLEAR_VERSION_AND_VARIANT = ~((0xF << 76) | (0x3 << 62)) & _RANDOM_BITS
_VERSION_7_AND_VARIANT = (0x7 << 76) | (0x2 << 62)


def _drop_buffer() -> None:
    global _buffer, _offset, _lock
    _lock = threading.Lock()  # the parent's lock may have been held by a thread that is gone
    _buffer, _offset = b"", 0


os.register_at_fork(after_in_child=_drop_buffer)


def _random_bytes() -> bytes:
    """16 bytes of the kernel's randomness, from the buffer."""
    global _buffer, _offset
    with _lock:
        if _offset + 16 > len(_buffer):
            _buffer, _offset = os.urandom(_CHUNK), 0
        chunk = _buffer[_offset : _offset + 16]
        _offset += 16
    return chunk


def canonical(value: int) -> str:
    """A 128-bit value as a UUID's canonical string (8-4-4-4-12 lower-case hex digits): what
    str(uuid.UUID(int=value)) writes, without building and validating the UUID object."""
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Version 4 (RFC 9562 section 5.4): version 4 in bits 76-79, variant 0b10 in bits 62-63.
_CLEAR_V4_FIELDS = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_VERSION_4_AND_VARIANT = (0x4 << 76) | (0x2 << 62)


def _version_4(random: bytes) -> int:
    return int.from_bytes(random) & _CLEAR_V4_FIELDS | _VERSION_4_AND_VARIANT


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7: Unix milliseconds, then 74 random bits) as its
    canonical string: the card and suggestion uuids, the ledger's primary keys."""
    random = int.from_bytes(_random_bytes()[:10]) & _CLEAR_VERSION_AND_VARIANT
    return canonical((time.time_ns() // 1_000_000) << 80 | random | _VERSION_7_AND_VARIANT)


def uuid4() -> str:
    """A random UUID (RFC 9562 version 4) as its canonical string."""
    return canonical(_version_4(_random_bytes()))


def uuid4_hex() -> str:
    """A random UUID (version 4) as 32 hex digits (request ids)."""
    return f"{_version_4(_random_bytes()):032x}"
