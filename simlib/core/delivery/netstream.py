"""The network-backend half of :mod:`simlib.core.delivery.deadline` (imports httpcore, so it loads only
when the first HTTP client is made, keeping ``import simlib`` light)."""

from __future__ import annotations

import socket
from typing import Any

import httpcore

from simlib.core.delivery.deadline import cancellable, track

__all__ = ["DeadlineBackend", "install"]


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        track(self)
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        track(self)
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> _Stream:
        track(self)
        spare = self._spare() if cancellable() else None
        try:
            wrapped = _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))
        finally:
            if spare is not None:
                spare.close()
        track(wrapped)
        return wrapped

    def _spare(self) -> _Spare | None:
        # Wrapping a socket for TLS detaches it, so during the handshake this stream has no
        # socket to shut down: a duplicate of it lets a cancel end the handshake too.
        sock = self._inner.get_extra_info("socket")
        if not isinstance(sock, socket.socket):
            return None
        spare = _Spare(sock.dup())
        track(spare)
        return spare

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


class _Spare:
    """A duplicate of a socket, kept only to shut the connection down."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def shutdown(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: the handshake ended

    def close(self) -> None:
        self._sock.close()


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, with streams the deadline can interrupt."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None) -> _Stream:
        stream = _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))
        track(stream)
        return stream

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> _Stream:
        stream = _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))
        track(stream)
        return stream

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(transport: Any) -> bool:
    """Make ``transport`` (an httpx.HTTPTransport) use the deadline-aware backend; False if it
    is not the standard one (then only httpx's per-phase timeouts apply)."""
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        return False
    pool._network_backend = DeadlineBackend()
    return True
