"""Signing a 10 MB screenshot body (real base64 of JPEG-sized random data) vs raw ``hmac`` over
the same bytes. Target: speed ratio (raw time / simlib time) >= 0.9, peak memory <= 4x the body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import tracemalloc

from _common import SECRET, alternate, machine, median, timed, verdict

from simlib import sign

TS = 1_800_000_000_000


def body_10mb() -> bytes:
    image = base64.b64encode(b"\xff\xd8\xff\xe0" + os.urandom(7_500_000)).decode("ascii")
    payload = {"event": "desktop.screenshot_tracking.captured", "data": [{"screenshot": {"imageBuffer": image}}], "simulation": True}
    return json.dumps(payload, separators=(",", ":")).encode()


def main() -> None:
    body = body_10mb()
    print(f"bench_sign on {machine()}: body {len(body) / 1e6:.1f} MB")
    key = SECRET.encode()

    def raw() -> float:
        return timed(lambda: hmac.new(key, str(TS).encode() + b"." + body, hashlib.sha256).hexdigest())

    def ours() -> float:
        return timed(lambda: sign(SECRET, body, TS))

    xs, ys = alternate(10, ours, raw)
    s, r = median(xs), median(ys)
    tracemalloc.start()
    sign(SECRET, body, TS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"simlib.sign: {s * 1e3:7.2f} ms   raw hmac: {r * 1e3:7.2f} ms")
    print(f"peak extra memory while signing: {peak / 1e6:.3f} MB ({peak / len(body):.3f}x the body)")
    ratio = r / s
    verdict("bench_sign", ratio, ">= 0.9 and peak <= 4x body", ratio >= 0.9 and peak <= 4 * len(body))


if __name__ == "__main__":
    main()
