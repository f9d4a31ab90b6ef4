"""Serialising each event type's body: simlib's ``serialize`` (JSON.stringify-exact bytes, with
the nesting limit) vs the bare C encoder, ``json.dumps(..., ensure_ascii=False, separators=(",",
":"), allow_nan=False).encode()``, on the same payloads in the same run. Also printed for
reference: the rule-by-rule writer with the nesting walk (what ``serialize`` did before its
fast path). Target: serialize / json.dumps <= 1.2 for every event type. A last line does the same
for one screenshot body carrying a real-sized image (10 MB of base64), which is checked by walking
the value rather than by scanning the bytes.

``python benchmarks/bench_payload.py [rounds]`` (default 41 alternating rounds of 500 bodies per
side: short rounds, so that the machine's drift hits both sides alike).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import alternate, machine, median, verdict

from simlib.core.events import MAX_NESTING, build_payload, event_names, nesting_problem
from simlib.core.jsjson import stringify_reference
from simlib.core.payload import serialize

PER_ROUND = 500
NOW_MS = 1_769_592_774_119


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def reference(payload: Any) -> bytes:
    if nesting_problem(payload, MAX_NESTING, surrogates=False):
        raise ValueError("too deep")
    return stringify_reference(payload).encode("utf-8")


def per_body(fn: Callable[[Any], bytes], payloads: list[Any]) -> Callable[[], float]:
    def one_round() -> float:
        t = time.perf_counter()
        for p in payloads:
            fn(p)
        return (time.perf_counter() - t) / len(payloads)
    return one_round


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 41
    print(f"bench_payload on {machine()}: {rounds} rounds of {PER_ROUND} bodies per event type and side")
    worst = 0.0
    for name in event_names():
        payloads = [build_payload(name, seed=s, now_ms=NOW_MS + s) for s in range(PER_ROUND)]
        assert all(serialize(p) == reference(p) for p in payloads[:50])
        xs, ys = alternate(rounds, per_body(serialize, payloads), per_body(dumps, payloads))
        zs, _ = alternate(max(rounds // 3, 3), per_body(reference, payloads), per_body(dumps, payloads))
        s, d, r = median(xs), median(ys), median(zs)
        ratio = s / d
        worst = max(worst, ratio)
        print(f"{name:40s} {len(serialize(payloads[0])):5d} B  serialize {s * 1e6:6.2f} us  json.dumps {d * 1e6:6.2f} us"
              f"  ratio {ratio:.3f}   (reference writer {r * 1e6:6.2f} us, {r / d:.2f}x)")
    big = build_payload("desktop.screenshot_tracking.captured", seed=1, now_ms=NOW_MS)
    big["data"][0]["screenshot"]["imageBuffer"] = base64.b64encode(b"\xff\xd8\xff\xe0" + os.urandom(7_500_000)).decode()
    xs, ys = alternate(7, per_body(serialize, [big]), per_body(dumps, [big]))
    s, d = median(xs), median(ys)
    print(f"{'screenshot with a 10 MB image':40s} {len(serialize(big)) / 1e6:.1f} MB  serialize {s * 1e3:6.2f} ms"
          f"  json.dumps {d * 1e3:6.2f} ms  ratio {s / d:.3f}")
    worst = max(worst, s / d)
    verdict("bench_payload (worst body, serialize / json.dumps)", worst, "<= 1.2", worst <= 1.2)


if __name__ == "__main__":
    main()
