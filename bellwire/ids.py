"""Identifiers for requests, messages and channels, made without a system call.

``uuid.uuid4()`` and ``secrets.token_hex()`` read ``os.urandom``, which releases the GIL; while
the store's writer thread holds it, the event loop then waits a whole switch interval to get
it back. These ids need to be unique and hard to guess, not secret keys: a generator seeded once
from the operating system's randomness serves them. Credentials keep using ``secrets``.
"""

from __future__ import annotations

import os
import random

_random = random.Random(os.urandom(32))


def hex_id(nbytes: int) -> str:
    """``nbytes`` random bytes as lowercase hex, like ``secrets.token_hex(nbytes)``."""
    return f"{_random.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def ordered_hex_id(nbytes: int, now: float) -> str:
    """Like ``hex_id``, but the first 6 bytes are ``now`` in milliseconds: rows keyed by these
    ids are appended to their index in time order instead of dirtying a random page each."""
    return f"{int(now * 1000) & 0xFFFF_FFFF_FFFF:012x}" + hex_id(nbytes - 6)


def uuid_string() -> str:
    """A random (version 4) UUID in its canonical form, like ``str(uuid.uuid4())``."""
    bits = _random.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
