"""Version-4 UUID strings without importing :mod:`uuid` (which loads :mod:`platform`, a
noticeable share of ``import simlib``)."""

from __future__ import annotations

import os

# Variant 10xx and version 0100 (RFC 4122), exactly as uuid.UUID(int=n, version=4) sets them.
_CLEAR = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_V4 = (0x8000 << 48) | (0x4000 << 64)


def uuid4_from_int(n: int) -> str:
    """``str(uuid.UUID(int=n, version=4))``."""
    h = "%032x" % ((n & _CLEAR) | _V4)  # %-formatting: the quickest of the forms tried (issue 12)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])  # noqa: UP031


def new_uuid4() -> str:
    """``str(uuid.uuid4())``: 122 random bits from the operating system."""
    return uuid4_from_int(int.from_bytes(os.urandom(16), "big"))
