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

import socket
import threading
import time
from typing import Any

import httpcore

__all__ = ["Deadline", "DeadlineBackend", "install"]

_local = threading.local()
_POLL = 0.1


def _track(stream: _Stream) -> None:
    dl = getattr(_local, "deadline", None)
    if dl is not None:
        dl.stream = stream


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        _track(self)
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _track(self)
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> _Stream:
        _track(self)
        wrapped = _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))
        _track(wrapped)
        return wrapped

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def shutdown(self) -> None:
        sock = self._inner.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            try:
                # The plain socket method, also for an SSLSocket: only the file descriptor is
                # shut down; the TLS state stays with the thread that is using it.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, with streams the deadline can interrupt."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None) -> _Stream:
        stream = _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))
        _track(stream)
        return stream

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> _Stream:
        stream = _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))
        _track(stream)
        return stream

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(client: Any) -> bool:
    """Make ``client`` (an httpx.Client) use the deadline-aware backend; False if its transport
    is not the standard one (then only httpx's per-phase timeouts apply)."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        return False
    pool._network_backend = DeadlineBackend()
    return True


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


class Deadline:
    """``with Deadline(seconds) as d:`` around one request on the current thread."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self.stream: _Stream | None = None

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
