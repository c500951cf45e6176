"""Random (version 4) UUIDs for cards and suggestions, from a buffer of the kernel's randomness.

`uuid.uuid4()` asks the kernel for 16 random bytes on every call (one `getrandom`/`urandom`
system call); a card-issuing call makes three or four, plus one for the request id, and on a host
where system calls are dear (measured here: about 0.1 ms each under load) that was a fifth of the
call's CPU. `uuid4()` and `uuid4_hex()` here take the same `os.urandom` bytes 4 KiB at a time and
cut them into UUIDs: the same source and the same 122 random bits per UUID, one system call per
256 UUIDs. The buffer is dropped in a
forked child (`os.register_at_fork`), so two gunicorn workers never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading
import uuid

_CHUNK = 16 * 256
_lock = threading.Lock()
_buffer = b""
_offset = 0


def _drop_buffer() -> None:
    global _buffer, _offset, _lock
    _lock = threading.Lock()  # the parent's lock may have been held by a thread that is gone
    _buffer, _offset = b"", 0


os.register_at_fork(after_in_child=_drop_buffer)


def _random_uuid() -> uuid.UUID:
    global _buffer, _offset
    with _lock:
        if _offset + 16 > len(_buffer):
            _buffer, _offset = os.urandom(_CHUNK), 0
        chunk = _buffer[_offset : _offset + 16]
        _offset += 16
    return uuid.UUID(bytes=chunk, version=4)


def uuid4() -> str:
    """A random UUID (RFC 9562 version 4) as its canonical string."""
    return str(_random_uuid())


def uuid4_hex() -> str:
    """A random UUID (version 4) as 32 hex digits (request ids)."""
    return _random_uuid().hex
