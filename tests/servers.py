"""Throwaway HTTP servers on 127.0.0.1 for the delivery tests.

``RawServer(behaviour)`` accepts connections on a free port and runs ``behaviour(conn, server)``
in a thread per connection. Behaviours are small functions built by the helpers below:

- ``answer(status, body, headers)``   read the request, record its raw bytes, answer
- ``never_answer()``                  read the request, then say nothing until the server stops
- ``drip(total, every)``              send headers, then the body one byte at a time (body bytes
                                      sent so far, per connection: ``server.dripped``)
- ``redirect(location, status=307)``  answer a redirect
- ``big_body(nbytes)``                answer 200 with an ``nbytes`` body
- ``reset()``                         read the request, then reset the connection (RST)

Every request the server read is kept in ``server.requests`` as a :class:`RawRequest` holding
the exact bytes of the head and of the body.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import trustme

Behaviour = Callable[[socket.socket, "RawServer"], None]


@dataclass(frozen=True)
class RawRequest:
    head: bytes  # request line and header lines, up to and including the blank line
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def header_pairs(self) -> list[tuple[str, str]]:
        """Header names exactly as received, in order."""
        out = []
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            if line:
                name, _, value = line.partition(":")
                out.append((name, value.strip()))
        return out

    def header(self, name: str) -> str | None:
        for key, value in self.header_pairs:
            if key.lower() == name.lower():
                return value
        return None


def read_request(conn: socket.socket) -> RawRequest | None:
    """Read one HTTP/1.1 request with a Content-Length body; None if the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    head += b"\r\n\r\n"
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return RawRequest(head, rest[:length])


class RawServer:
    """A threaded raw-socket server on 127.0.0.1; use as a context manager."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[RawRequest] = []
        self.connections = 0
        self.dripped: list[int] = []  # drip(): body bytes sent on each connection so far
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def record(self, req: RawRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn, self)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def start(self) -> RawServer:
        self._accept.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self._accept.join(timeout=2)
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def raw_answer(payload: bytes, *, then_reset: bool = False, close: bool = True) -> Behaviour:
    """Read the request, record it, answer exactly ``payload`` (raw bytes); then reset the
    connection (``then_reset``), close it, or (``close=False``) hold it open until the server stops."""

    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        conn.sendall(payload)
        if then_reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if not close:
            server.stopped.wait(30)

    return run


def answer(status: int = 200, body: bytes = b'{"ok":true}', headers: dict[str, str] | None = None) -> Behaviour:
    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        conn.sendall(_response(status, body, {"Content-Type": "application/json", **(headers or {})}))

    return run


def never_answer() -> Behaviour:
    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is not None:
            server.record(req)
        server.stopped.wait(30)

    return run


def drip(total: int = 1000, every: float = 0.1) -> Behaviour:
    """Status and headers at once, then one body byte every ``every`` seconds."""

    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n".encode())
        with server._lock:
            i = len(server.dripped)
            server.dripped.append(0)
        for _ in range(total):
            if server.stopped.wait(every):
                return
            conn.sendall(b"x")
            server.dripped[i] += 1

    return run


def redirect(location: str, status: int = 307) -> Behaviour:
    return answer(status, b"", {"Location": location})


def big_body(nbytes: int) -> Behaviour:
    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {nbytes}\r\n\r\n".encode())
        block = b"a" * 65536
        sent = 0
        try:
            while sent < nbytes and not server.stopped.is_set():
                n = min(len(block), nbytes - sent)
                conn.sendall(block[:n])
                sent += n
        except OSError:
            pass  # the client stopped reading at its cap and closed

    return run


def reset() -> Behaviour:
    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is not None:
            server.record(req)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return run


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def client_states(port: int) -> list[str]:
    """The TCP states (two hex digits, as in ``/proc/net/tcp``: "01" established, "02" SYN sent)
    of this machine's IPv4 sockets whose remote port is ``port``: the clients of a local server."""
    states = []
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rpartition(":")[2], 16) == port:
                states.append(fields[3])
    return states


def connecting(port: int) -> int:
    """How many local connects to ``port`` are hanging in SYN-SENT (see :func:`connect_hole`)."""
    return client_states(port).count("02")


@contextmanager
def connect_hole() -> Iterator[tuple[socket.socket, int]]:
    """``(listener, port)``: a listener whose accept queue is full (one connection made and never
    accepted), so Linux drops further SYNs and every new connect to ``port`` hangs. The test may
    ``accept()`` on the listener to free the queue and see what the hanging connects wrote."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    port = hole.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        yield hole, port
    finally:
        filler.close()
        hole.close()


class _Ack(http.server.BaseHTTPRequestHandler):
    """Reads a POST and answers 200 with a small JSON body (HTTP/1.1, kept alive)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def https_servers() -> Iterator[Callable[[trustme.LeafCert], int]]:
    """``start(cert) -> port``: HTTPS servers on 127.0.0.1 presenting ``cert`` (a trustme leaf
    certificate) and answering every POST 200; all stopped afterwards."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(cert: trustme.LeafCert) -> int:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ack)
        srv.daemon_threads = True
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return int(srv.server_address[1])

    try:
        yield start
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
