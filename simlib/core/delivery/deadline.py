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

A deadline may also carry a ``cancel`` event (a :class:`threading.Event`): once it is set, the
watchdog ends the request the same way, within its poll interval, and the deadline says it was
``cancelled``. A stream first noted after that (a connect that was still under way) is shut down
at once, so nothing is written on it. Without a cancel event nothing changes.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Deadline", "Interruptible", "cancellable", "track"]

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
                due = [d for d in self._running if d.at <= now or (d.cancel is not None and d.cancel.is_set())]
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
        if deadline.expired:  # it passed (or was cancelled) before this stream existed
            stream.shutdown()


def cancellable() -> bool:
    """Whether the current thread's request can be cancelled (its deadline has a cancel event)."""
    deadline = getattr(_local, "deadline", None)
    return deadline is not None and deadline.cancel is not None


class Deadline:
    """``with Deadline(seconds) as d:`` around one request on the current thread; with
    ``cancel``, setting that event ends the request too (``d.cancelled`` then says so)."""

    def __init__(self, seconds: float, cancel: threading.Event | None = None) -> None:
        self.at = time.monotonic() + seconds
        self.cancel = cancel
        self.expired = False
        self.cancelled = False
        self.stream: Interruptible | None = None

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expire(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            self.cancelled = True
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
