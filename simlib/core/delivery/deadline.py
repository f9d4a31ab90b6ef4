"""A total deadline for a synchronous httpx request, whatever phase it is in.

httpx's timeouts bound each wait (connect, each read, each write), not their sum: an endpoint
that drips its headers or body a byte at a time, just inside the read timeout, would hold a send
for ever. Here every socket the client uses goes through a thin network-backend wrapper that
notes, per thread, which stream the current request is using. One shared watchdog thread checks
the running deadlines ten times a second; when one passes, it shuts that stream's socket down,
which ends the blocked read or write at once, and the deadline says it ``expired`` so the caller
can report a timeout rather than a reset.

Cost per send: two set operations under a lock and an attribute write per socket operation;
no thread is started per send.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Deadline", "Interruptible", "track"]

_local = threading.local()
_POLL = 0.1


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[Deadline] = set()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._lock:
            self._running.add(deadline)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="simlib-deadline", daemon=True)
                self._thread.start()

    def remove(self, deadline: Deadline) -> None:
        with self._lock:
            self._running.discard(deadline)

    def _run(self) -> None:
        while True:
            time.sleep(_POLL)
            now = time.monotonic()
            with self._lock:
                due = [d for d in self._running if d.at <= now]
                for d in due:
                    self._running.discard(d)
                    d.expire()


_WATCHDOG = _Watchdog()


class Interruptible(Protocol):
    """A network stream whose blocked read or write ends when it is shut down."""

    def shutdown(self) -> None: ...


def track(stream: Interruptible) -> None:
    """Note that the current thread's request is using ``stream`` (the network backend of
    :mod:`simlib.core.delivery.netstream` calls this on every socket operation)."""
    deadline = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.stream = stream


class Deadline:
    """``with Deadline(seconds) as d:`` around one request on the current thread."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self.stream: Interruptible | None = None

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expire(self) -> None:
        self.expired = True
        if self.stream is not None:
            self.stream.shutdown()

    def __enter__(self) -> Deadline:
        _local.deadline = self
        _WATCHDOG.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _WATCHDOG.remove(self)
        _local.deadline = None
