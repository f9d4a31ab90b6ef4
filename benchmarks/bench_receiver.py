"""Capacity of the embedded receiver: requests/s it verifies and answers, driven by several
client processes so the load generator is not the limit. The figure shows that bench_burst
measures simlib, not the receiver: the receiver's capacity must exceed the burst throughput."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from _common import SECRET, machine

from simlib import sign
from simlib.receiver import ReceiverProcess

CLIENT = textwrap.dedent(
    """
    import socket, sys, time
    port, n, body, ts, sig = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4], sys.argv[5]
    head = (f"POST /webhooks/trackpilots HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\ncontent-type: application/json\\r\\n"
            f"x-webhook-signature: {sig}\\r\\nx-webhook-timestamp: {ts}\\r\\ncontent-length: {len(body)}\\r\\n\\r\\n").encode()
    s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = head + body
    PIPE = 16  # requests in flight on this connection (HTTP/1.1 pipelining)
    sent = done = 0
    buf = b""
    t = time.perf_counter()
    while done < n:
        while sent < n and sent - done < PIPE:
            s.sendall(req); sent += 1
        buf += s.recv(1 << 16)
        while True:
            i = buf.find(b"\\r\\n\\r\\n")
            if i < 0: break
            length = int(buf[:i].split(b"content-length: ")[1].split(b"\\r\\n")[0])
            if len(buf) < i + 4 + length: break
            assert buf.startswith(b"HTTP/1.1 200"), buf[:80]
            buf = buf[i + 4 + length:]; done += 1
    print(n / (time.perf_counter() - t))
    """
)


def main() -> None:
    print(f"bench_receiver on {machine()}")
    body = b'{"event":"desktop.activity_tracking.captured","data":{"activity":{"workMode":true}},"simulation":true}'
    with ReceiverProcess([SECRET]) as rx:
        ts = int(time.time() * 1000)
        headers = sign(SECRET, body, ts)
        n, clients = 5000, 2
        procs = [
            subprocess.Popen([sys.executable, "-c", CLIENT, str(rx.port), str(n), body.decode(), str(ts), headers["x-webhook-signature"]],
                             stdout=subprocess.PIPE, text=True)
            for _ in range(clients)
        ]
        t = time.perf_counter()
        rates = [float(p.communicate(timeout=300)[0]) for p in procs]
        elapsed = time.perf_counter() - t
        stats = rx.stats()
    total = clients * n / elapsed
    print(f"{clients} pipelining clients x {n} requests: {total:.0f} requests/s verified and answered "
          f"(per client: {', '.join(f'{r:.0f}' for r in rates)}); receiver verified {stats['verified']}")
    print(f"bench_receiver: {total:.0f} requests/s with signature verification")


if __name__ == "__main__":
    main()
