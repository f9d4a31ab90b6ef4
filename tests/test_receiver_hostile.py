"""The embedded receiver against hostile and broken clients, over real sockets on 127.0.0.1:
slowloris, connection floods and a low open-file limit, bodies and heads that never end, memory
bombs, clients that never read, and ambiguous HTTP/1.1 framing (RFC 9112). Every loop here is
bounded in count and in time."""

from __future__ import annotations

import json
import re
import resource
import select
import socket
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from simlib import DeliveryConfig, Simulator, sign
from simlib.core.signing import now_ms
from simlib.receiver import Receiver, default_max_connections
from tests.helpers import ACT

SECRET = "receiver-hostile-secret-0123456789"
BODY = b'{"event":"desktop.activity_tracking.captured","data":{"activity":{"workMode":true}},"simulation":true}'

README_CASES = {
    "receiver-slowloris",
    "receiver-connection-flood",
    "receiver-fd-limit",
    "receiver-idle-keepalive",
    "receiver-slow-body",
    "receiver-endless-chunked",
    "receiver-header-flood",
    "receiver-body-too-large",
    "receiver-memory-bound",
    "receiver-pending-bytes",
    "receiver-never-reads",
    "receiver-te-and-cl",
    "receiver-duplicate-cl",
    "receiver-bad-cl",
    "receiver-te-not-chunked",
    "receiver-obs-fold",
    "receiver-space-before-colon",
    "receiver-bad-chunk-size",
    "receiver-no-host",
}


# -- helpers ----------------------------------------------------------------------------------------


def connect(port: int, timeout: float = 5) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def post_head(length: int | None = None, extra: str = "", chunked: bool = False) -> bytes:
    framing = "Transfer-Encoding: chunked\r\n" if chunked else "" if length is None else f"Content-Length: {length}\r\n"
    return f"POST /webhooks/trackpilots HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}{framing}\r\n".encode("latin-1")


def signed_request(body: bytes = BODY) -> bytes:
    h = sign(SECRET, body, now_ms())
    extra = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    return post_head(len(body), extra) + body


def read_answer(sock: socket.socket, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """One response (status, headers, body) from a raw socket; (0, {}, b"") if the connection
    closed (or was reset) before a complete head."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return 0, {}, b""
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return 0, {}, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    try:
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return int(lines[0].split(" ")[1]), headers, rest[:length]


def read_until_closed(sock: socket.socket, timeout: float = 5) -> bytes:
    data = b""
    end = time.monotonic() + timeout
    sock.settimeout(timeout)
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True if the peer closes ``sock`` within ``timeout`` s (whatever it says first)."""
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            continue
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def is_open(sock: socket.socket) -> bool:
    """Not closed by the peer as far as can be seen without waiting (reads and drops whatever
    the peer said first, a 408 for instance)."""
    sock.setblocking(False)
    try:
        for _ in range(100):
            if not sock.recv(65536):
                return False
    except BlockingIOError:
        return True
    except OSError:  # reset
        return False
    finally:
        sock.setblocking(True)
    return True


def drip(socks: list[socket.socket], payload: bytes = b"a") -> None:
    """One byte (of a never-ending head or body) on every socket still open."""
    for s in socks:
        try:
            s.send(payload)
        except OSError:
            pass


def legit_send(url: str, tmp_path, *, deadline: float = 10.0) -> tuple[str, int | None]:
    """A real signed simulation from simlib's own sender: (result, http status)."""
    with Simulator(tmp_path / "sender.sqlite3", delivery=DeliveryConfig(deadline=deadline)) as sim:
        wh = sim.create_webhook("Hostile", url, [ACT], secret=SECRET)
        r = sim.simulate(wh, ACT)
    return r.result, r.http_status


def wait_until(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# -- slowloris, floods, file descriptors ------------------------------------------------------------


def test_slowloris_connections_are_closed_after_the_header_timeout_and_a_signed_send_gets_through(tmp_path):
    n, timeout = 60, 4.0
    with Receiver(SECRET, header_timeout=timeout, max_connections=100) as rx:
        socks = [connect(rx.port) for _ in range(n)]
        opened = time.monotonic()
        for s in socks:
            s.sendall(b"POST /webhooks/trackpilots HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert wait_until(lambda: rx.stats()["open_connections"] == n)
        drip(socks)
        # While all of them are open (under the cap), a real signed send is served.
        assert legit_send(rx.url, tmp_path) == ("Delivered", 200)
        assert rx.wait_for(1)[0].verification.ok
        # A byte a second does not extend the head's deadline (closings seen within 0.1 s).
        closed_at: dict[int, float] = {}
        dripped = 0.0
        while len(closed_at) < n and time.monotonic() - opened < timeout + 8:
            if time.monotonic() - dripped >= 1:
                drip([s for i, s in enumerate(socks) if i not in closed_at])
                dripped = time.monotonic()
            for i, s in enumerate(socks):
                if i not in closed_at and not is_open(s):
                    closed_at[i] = time.monotonic() - opened
            time.sleep(0.1)
        stats = rx.stats()
        for s in socks:
            s.close()
    assert len(closed_at) == n, f"{n - len(closed_at)} slowloris connections still open"
    # 3 s for a stalled machine; a deadline a drip extends, or twice the timeout, fails.
    assert max(closed_at.values()) < timeout + 3
    assert stats["connections_closed"]["timeout"] >= n
    assert stats["rejected"].get("408", 0) >= n  # told why, then closed
    assert rx.count == 1  # only the signed send was recorded


def test_past_the_connection_cap_the_longest_waiting_connection_gives_way(tmp_path):
    cap = 20
    with Receiver(SECRET, header_timeout=30, max_connections=cap) as rx:
        socks = []
        for _ in range(2 * cap):
            s = connect(rx.port)
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
            socks.append(s)
            assert wait_until(lambda: rx.stats()["open_connections"] <= cap, 2)
        assert wait_until(lambda: rx.stats()["connections_closed"]["evicted"] == cap)
        assert all(closed_by_peer(s, 2) for s in socks[:cap])  # the oldest went first
        assert all(is_open(s) for s in socks[cap:])
        # A legitimate client is served at once (long before the 30 s header timeout).
        start = time.monotonic()
        assert legit_send(rx.url, tmp_path) == ("Delivered", 200)
        assert time.monotonic() - start < 5
        assert rx.stats()["open_connections"] <= cap
        for s in socks:
            s.close()


def test_when_every_connection_is_being_answered_a_new_one_gets_503_at_once():
    with Receiver(max_connections=2, delay_ms=5000) as rx:
        busy = [connect(rx.port) for _ in range(2)]
        for s in busy:
            s.sendall(post_head(2) + b"{}")
        assert wait_until(lambda: rx.count == 2)
        with connect(rx.port) as extra:
            start = time.monotonic()
            status, _, body = read_answer(extra)
            assert status == 503 and b"too many connections" in body
            assert time.monotonic() - start < 3  # long before the busy ones' 5 s answers ...
            assert select.select(busy, [], [], 0)[0] == []  # ... which have not come yet
        assert [read_answer(s, 15)[0] for s in busy] == [200, 200]  # the busy ones finish normally
        assert rx.stats()["connections_closed"]["refused"] == 1
        for s in busy:
            s.close()
        rx.delay_ms = 0  # the next one need not wait 5 s to show the receiver serves again
        assert httpx.post(rx.url, content=b"{}").status_code == 200


RECEIVER_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    limit = int(sys.argv[1])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    from simlib.receiver import Receiver
    options = json.loads(sys.argv[2])
    rx = Receiver([sys.argv[3]], **options).start()
    print(json.dumps({"port": rx.port, "max_connections": rx.max_connections}), flush=True)
    for line in sys.stdin:  # one command per line; end of input stops
        if line.strip() == "stats":
            print(json.dumps(rx.stats()), flush=True)
        elif line.strip() == "memory":
            print(json.dumps({"kept_bytes": rx.kept_bytes, "kept": len(rx.requests),
                              "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)
    rx.stop()
    """
)


class ReceiverScript:
    """The receiver in a child process with a given open-file limit (a real RLIMIT_NOFILE)."""

    def __init__(self, nofile: int = 4096, **options: object) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RECEIVER_SCRIPT, str(nofile), json.dumps(options), SECRET],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        info = json.loads(self.ask_line())
        self.port, self.max_connections = info["port"], info["max_connections"]
        self.url = f"http://127.0.0.1:{self.port}/webhooks/trackpilots"

    def ask_line(self, command: str | None = None) -> str:
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        assert ready, "the receiver process did not answer"
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        return line

    def ask(self, command: str) -> dict:
        return json.loads(self.ask_line(command))

    def close(self) -> str:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read()


def test_with_256_file_descriptors_300_slow_connections_do_not_block_a_signed_send(tmp_path):
    rx = ReceiverScript(nofile=256, header_timeout=60)
    socks: list[socket.socket] = []
    try:
        assert rx.max_connections == 128  # the default is capped at half the open-file limit
        for _ in range(300):
            s = connect(rx.port)
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        drip(socks)
        start = time.monotonic()
        assert legit_send(rx.url, tmp_path, deadline=10) == ("Delivered", 200)
        assert time.monotonic() - start < 5  # served at once, not after the 60 s header timeout
        stats = rx.ask("stats")
        assert stats["verified"] == 1
        assert stats["open_connections"] <= 128
        assert stats["connections_closed"]["evicted"] >= 300 - 128
    finally:
        for s in socks:
            s.close()
        stderr = rx.close()
    assert "Too many open files" not in stderr and "Traceback" not in stderr, stderr


def test_default_connection_cap_follows_the_open_file_limit():
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    expected = 256 if soft == resource.RLIM_INFINITY else max(1, min(256, soft // 2))
    assert default_max_connections() == expected == Receiver().max_connections
    assert Receiver(max_connections=3).max_connections == 3


def test_an_idle_keep_alive_connection_is_closed_silently_after_the_keepalive_timeout():
    with Receiver(keepalive_timeout=0.5, header_timeout=30) as rx, connect(rx.port) as sock:
        start = time.monotonic()  # before the request: the idle time starts after its answer
        sock.sendall(post_head(2) + b"{}")
        assert read_answer(sock)[0] == 200
        sock.settimeout(10)
        assert sock.recv(100) == b""  # closed, no 408: the client had nothing pending
        assert 0.45 <= time.monotonic() - start < 5
        assert rx.stats()["rejected"] == {}


def test_keep_alive_is_not_cut_short_while_requests_keep_coming():
    # Six requests 0.5 s apart: the exchange (3 s) outlasts the 2 s keep-alive timeout, and each
    # gap leaves 1.5 s for a stalled machine.
    with Receiver(keepalive_timeout=2.0) as rx, connect(rx.port) as sock:
        for _ in range(6):
            sock.sendall(post_head(2) + b"{}")
            assert read_answer(sock)[0] == 200
            time.sleep(0.5)
    assert rx.count == 6 and len({r.client for r in rx.requests}) == 1


def test_pipelined_requests_are_answered_in_order_and_a_bad_one_ends_the_connection():
    bodies = [json.dumps({"n": i}).encode() for i in range(50)]
    wire = b"".join(post_head(len(b)) + b for b in bodies) + b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n"
    with Receiver() as rx, connect(rx.port) as sock:
        sock.sendall(wire)
        received = read_until_closed(sock)
    answers = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]
    assert answers == [200] * 50 + [400]
    assert [r.body for r in rx.requests] == bodies


# -- bodies and heads that never end ---------------------------------------------------------------


def test_a_body_that_drips_gets_408_after_the_body_timeout():
    with Receiver(body_timeout=1.0) as rx, connect(rx.port) as sock:
        sock.sendall(post_head(1000))
        start = time.monotonic()
        status = 0
        for _ in range(40):  # a byte every 0.1 s: 4 s at most
            drip([sock])
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                status = read_answer(sock)[0]
                break
        assert status == 408
        assert time.monotonic() - start < 3
        assert rx.count == 0 and rx.requests == []


def test_a_chunked_body_that_never_ends_stops_at_the_cap_or_the_deadline():
    with Receiver(max_body_bytes=10_000, body_timeout=1.0) as rx:
        # Fast: chunk after chunk, never the last one -> 413 at the body cap.
        with connect(rx.port) as sock:
            sock.sendall(post_head(chunked=True))
            status = 0
            for _ in range(100):  # 100 x 1,000 bytes at most
                try:
                    sock.sendall(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
                except OSError:
                    break
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
            status = read_answer(sock)[0]
            assert status == 413
        # Slow: a small chunk now and then -> 408 at the body deadline.
        with connect(rx.port) as sock:
            sock.sendall(post_head(chunked=True))
            start = time.monotonic()
            for _ in range(40):
                drip([sock], b"1\r\nx\r\n")
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable:
                    break
            assert read_answer(sock)[0] == 408
            assert time.monotonic() - start < 3
        # The last chunk, then trailer lines forever -> 431 (trailers count as a head).
        with connect(rx.port) as sock:
            sock.sendall(post_head(chunked=True) + b"0\r\n")
            for _ in range(200):  # 200 x 1 KiB at most
                try:
                    sock.sendall(b"X-Trailer: " + b"t" * 1000 + b"\r\n")
                except OSError:
                    break
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
            assert read_answer(sock)[0] == 431
        assert rx.count == 0


def test_a_head_that_never_ends_gets_431_at_the_header_cap():
    with Receiver(max_header_bytes=8192) as rx:
        # One header line that goes on and on.
        with connect(rx.port) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Long: ")
            for _ in range(64):  # 64 x 1 KiB at most
                try:
                    sock.sendall(b"a" * 1024)
                except OSError:
                    break
                readable, _, _ = select.select([sock], [], [], 0.01)
                if readable:
                    break
            assert read_answer(sock)[0] == 431
        # Header after header, forever.
        with connect(rx.port) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
            for i in range(2000):
                try:
                    sock.sendall(f"X-H{i}: v\r\n".encode())
                except OSError:
                    break
                if i % 50 == 0 and select.select([sock], [], [], 0)[0]:
                    break
            assert read_answer(sock)[0] == 431
        # A complete head over the cap, arriving in one piece.
        with connect(rx.port) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\nContent-Length: 0\r\n\r\n")
            assert read_answer(sock)[0] == 431
        # Too many header fields, well under the byte cap.
        fields = "".join(f"X-{i}: v\r\n" for i in range(101))
        with connect(rx.port) as sock:
            sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\n{fields}Content-Length: 0\r\n\r\n".encode())
            status, _, body = read_answer(sock)
            assert status == 431 and b"header fields" in body
        assert rx.count == 0
        assert httpx.post(rx.url, content=b"{}").status_code == 200


# -- bodies and memory ---------------------------------------------------------------------------------


def test_a_body_over_the_cap_gets_413_and_is_not_kept():
    with Receiver(max_body_bytes=1000) as rx:
        # Refused from Content-Length, before the body is read (no 100 Continue either).
        with connect(rx.port) as sock:
            sock.sendall(post_head(5000, "Expect: 100-continue\r\n"))
            status, _, body = read_answer(sock)
            assert status == 413 and b"1000" in body
            assert closed_by_peer(sock, 2)
        # A chunked body is refused as it passes the cap.
        with connect(rx.port) as sock:
            sock.sendall(post_head(chunked=True) + b"3e8\r\n" + b"x" * 1000 + b"\r\n" + b"1\r\nx\r\n0\r\n\r\n")
            assert read_answer(sock)[0] == 413
        assert httpx.post(rx.url, content=b"x" * 1000).status_code == 200  # exactly the cap is fine
        assert rx.count == 1 and len(rx.requests[0].body) == 1000
        assert rx.stats()["rejected"] == {"413": 2}


def test_kept_requests_are_bounded_by_bytes_as_well_as_count():
    body = b"x" * 200_000
    with Receiver(keep_bytes=1_000_000, max_body_bytes=300_000) as rx, httpx.Client() as client:
        for _ in range(40):
            assert client.post(rx.url, content=body).status_code == 200
        kept = rx.requests
        assert rx.count == 40  # every request counted ...
        assert rx.kept_bytes <= 1_000_000 and len(kept) == 4  # ... only the newest kept
        assert [r.index for r in kept] == [36, 37, 38, 39]
        assert rx.stats()["kept_bytes"] == rx.kept_bytes == sum(len(r.body) + len(r.path) + sum(len(k) + len(v) + 4 for k, v in r.headers) for r in kept)
    with Receiver(keep=3) as rx:
        for i in range(10):
            httpx.post(rx.url, content=str(i).encode())
        assert [r.body for r in rx.requests] == [b"7", b"8", b"9"]
    # The body cap never exceeds what could be kept.
    assert Receiver(keep_bytes=1000).max_body_bytes == 1000


def test_many_large_bodies_keep_the_receivers_memory_bounded(tmp_path):
    mib = 1024 * 1024
    rx = ReceiverScript(keep_bytes=16 * mib, max_body_bytes=4 * mib)
    try:
        before = rx.ask("memory")["maxrss_kib"]
        body = b"y" * (4 * mib - 4096)
        with httpx.Client() as client:
            for _ in range(40):  # 160 MiB sent
                assert client.post(rx.url, content=body, headers=sign(SECRET, body, now_ms())).status_code == 200
        memory = rx.ask("memory")
        stats = rx.ask("stats")
    finally:
        rx.close()
    assert stats["requests"] == 40
    assert memory["kept_bytes"] <= 16 * mib and memory["kept"] == 4
    grown_mib = (memory["maxrss_kib"] - before) / 1024
    assert grown_mib < 16 + 32, f"peak RSS grew by {grown_mib:.0f} MiB for 16 MiB kept"


def test_bodies_in_flight_together_are_bounded():
    with Receiver(max_pending_bytes=100_000, max_body_bytes=1_000_000) as rx:
        with connect(rx.port) as first, connect(rx.port) as second:
            first.sendall(post_head(80_000) + b"a" * 60_000)
            assert wait_until(lambda: rx.stats()["pending_bytes"] == 60_000)
            second.sendall(post_head(80_000) + b"b" * 60_000)
            status, _, body = read_answer(second)
            assert status == 503 and b"retry" in body
            first.sendall(b"a" * 20_000)  # the first one completes normally
            assert read_answer(first)[0] == 200
        assert wait_until(lambda: rx.stats()["pending_bytes"] == 0)
        assert rx.count == 1 and rx.requests[0].body == b"a" * 80_000


def test_a_client_that_never_reads_its_answers_is_cut_off_after_the_write_timeout():
    with Receiver(write_timeout=1.0) as rx:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", rx.port))
        sock.setblocking(False)
        request = post_head(2) + b"{}"
        burst = request * 200
        end = time.monotonic() + 15
        cut_off = False
        while time.monotonic() < end:  # pipeline requests, never read an answer
            try:
                sock.send(burst)
            except BlockingIOError:
                time.sleep(0.05)
            except OSError:  # reset by the receiver
                cut_off = True
                break
            if rx.stats()["connections_closed"]["timeout"]:
                cut_off = True
                break
        sock.close()
        assert cut_off, "the receiver kept a connection whose client never reads"
        assert wait_until(lambda: rx.stats()["open_connections"] == 0)
        assert httpx.post(rx.url, content=b"{}").status_code == 200


@pytest.mark.parametrize(
    "options",
    [
        {"header_timeout": float("nan")},
        {"body_timeout": float("inf")},
        {"keepalive_timeout": 0},
        {"write_timeout": -1},
        {"max_connections": 0},
        {"max_body_bytes": -1},
        {"keep_bytes": 0},
        {"max_headers": True},
    ],
)
def test_limits_must_be_sensible(options):
    with pytest.raises(ValueError):
        Receiver(**options)


# -- ambiguous framing: 400, not recorded, connection closed ------------------------------------------------

FRAMING = {
    "receiver-te-and-cl": [
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    "receiver-duplicate-cl": [
        b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"Content-Length: 5, 6\r\n\r\nhello!",
    ],
    "receiver-bad-cl": [
        b"Content-Length: abc\r\n\r\n",
        b"Content-Length: -5\r\n\r\n",
        b"Content-Length: +5\r\n\r\nhello",
        b"Content-Length: 5.0\r\n\r\nhello",
        b"Content-Length: 0x5\r\n\r\nhello",
        b"Content-Length: 123456789012345678901\r\n\r\n",
    ],
    "receiver-te-not-chunked": [
        b"Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: identity\r\n\r\nhello",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    "receiver-obs-fold": [
        b"X-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        b"Content-Length:\r\n\t5\r\n\r\nhello",
    ],
    "receiver-space-before-colon": [
        b"Content-Length : 5\r\n\r\nhello",
        b"Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n",
    ],
    "receiver-bad-chunk-size": [
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n5 5\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 21 + b"\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",  # no CRLF after the chunk
    ],
}


@pytest.mark.parametrize(
    ("case", "rest"), [(case, rest) for case, wires in FRAMING.items() for rest in wires]
)
def test_ambiguous_framing_gets_400_and_is_not_recorded(case, rest):
    with Receiver() as rx:
        with connect(rx.port) as sock:
            sock.sendall(b"POST /webhooks/trackpilots HTTP/1.1\r\nHost: 127.0.0.1\r\n" + rest)
            status, headers, body = read_answer(sock)
            assert (status, headers.get("connection")) == (400, "close"), (case, rest)
            assert "error" in json.loads(body)
            assert closed_by_peer(sock, 2)  # nothing after an ambiguous message is read as a request
        assert rx.count == 0 and rx.stats()["rejected"] == {"400": 1}
        assert httpx.post(rx.url, content=b"{}").status_code == 200


def test_an_http_1_1_request_without_host_gets_400():
    with Receiver() as rx, connect(rx.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
        status, _, body = read_answer(sock)
        assert status == 400 and b"Host" in body
        assert rx.count == 0


def test_an_unsupported_http_version_gets_505():
    with Receiver() as rx, connect(rx.port) as sock:
        sock.sendall(b"POST / HTTP/2.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        assert read_answer(sock)[0] == 505
        assert rx.count == 0


def test_framing_the_rfc_allows_is_accepted():
    with Receiver() as rx:
        # Equal duplicate Content-Length values (RFC 9112 §6.3 lets a recipient accept them).
        with connect(rx.port) as sock:
            sock.sendall(post_head(None, "Content-Length: 2\r\nContent-Length: 2\r\n") + b"{}")
            assert read_answer(sock)[0] == 200
        # Case-insensitive coding name, chunk extensions, trailers, an HTTP/1.0 request.
        with connect(rx.port) as sock:
            sock.sendall(post_head(None, "Transfer-Encoding: Chunked\r\n") + b"2;ext=1\r\n{}\r\n0\r\nX-T: t\r\n\r\n")
            assert read_answer(sock)[0] == 200
        with connect(rx.port) as sock:
            sock.sendall(b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}")
            status, headers, _ = read_answer(sock)
            assert status == 200 and headers.get("connection") == "close"
        assert [r.body for r in rx.requests] == [b"{}", b"{}", b"{}"]
        assert rx.requests[2].http_version == "HTTP/1.0"
