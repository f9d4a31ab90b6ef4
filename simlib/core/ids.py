"""Version-4 UUID strings without importing :mod:`uuid` (which loads :mod:`platform`, a
noticeable share of ``import simlib``)."""

from __future__ import annotations

import os
import threading

# Variant 10xx and version 0100 (RFC 4122), exactly as uuid.UUID(int=n, version=4) sets them.
_CLEAR = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_V4 = (0x8000 << 48) | (0x4000 << 64)


def uuid4_from_int(n: int) -> str:
    """``str(uuid.UUID(int=n, version=4))``."""
    h = "%032x" % ((n & _CLEAR) | _V4)  # %-formatting: the quickest of the forms tried (issue 12)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])  # noqa: UP031


def uuid4s_from_bits(n: int, count: int) -> list[str]:
    """``[uuid4_from_int(b) for b in parts]`` where ``n`` holds ``count`` 128-bit parts, the first
    in the lowest bits -- what ``getrandbits(128 * count)`` gives for ``count`` successive
    ``getrandbits(128)`` draws. Issue 12: one mask and one hex text for all of them."""
    masks = _MASKS.get(count)
    if masks is None:
        masks = _MASKS[count] = (
            sum(_CLEAR << (128 * i) for i in range(count)), sum(_V4 << (128 * i) for i in range(count)),
        )
    h = "%0*x" % (32 * count, (n & masks[0]) | masks[1])  # noqa: UP031
    return [f"{h[o : o + 8]}-{h[o + 8 : o + 12]}-{h[o + 12 : o + 16]}-{h[o + 16 : o + 20]}-{h[o + 20 : o + 32]}"
            for o in _OFFSETS.get(count) or range(32 * (count - 1), -1, -32)]


#: uuid4s_from_bits' masks by count.
_MASKS: dict[int, tuple[int, int]] = {}
#: Where each uuid's hex digits start, for the counts the built-in events draw.
_OFFSETS: dict[int, tuple[int, ...]] = {n: tuple(range(32 * (n - 1), -1, -32)) for n in (3, 4)}


def new_uuid4() -> str:
    """``str(uuid.uuid4())``: 122 random bits from the operating system.

    Issue 12 (own work per send): the bits come from the operating system 4 KiB at a time, not
    in one system call per id; the bits not used yet are dropped in a child process after a
    fork (it must not make the ids its parent makes) and never used twice."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.extend(_chunks(os.urandom(_POOL_BYTES)))
        bits = _POOL.pop()
    return uuid4_from_int(bits)


_POOL_BYTES = 4096
_POOL: list[int] = []
_POOL_LOCK = threading.Lock()


def _chunks(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 16], "big") for i in range(0, len(data), 16)]


def _drop_pool() -> None:
    global _POOL_LOCK
    _POOL.clear()
    _POOL_LOCK = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_pool)
