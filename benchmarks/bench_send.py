"""One simulation end to end (preview, sign, send, classify, append to history) vs a bare,
reused ``httpx.Client.post`` of the same pre-signed bytes. Target: ratio <= 1.2 (issue 12 goal 4).

The two are interleaved one request at a time (simlib, bare, bare, simlib, ...), so that drift
on a shared machine hits both alike; the figure is the ratio of the medians of ``--pairs``
pairs (default 1000, at least 300). The embedded receiver runs in its own process
(ReceiverProcess, same code as the in-process receiver), so neither side competes with a
receiver thread for this interpreter's lock. Also printed: simlib's own work per send, timed
inside the same run (preview; the reservation before the request; the completion after it).

    python benchmarks/bench_send.py [--pairs 1000]
"""

from __future__ import annotations

import argparse
import socket
import time

import httpx
from _common import SECRET, machine, median, temp_store, verdict

from simlib import Simulator, sign
from simlib.receiver import ReceiverProcess

EVENT = "desktop.app_tracking.captured"
WARMUP = 200


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1000)
    pairs = max(300, parser.parse_args().pairs)
    print(f"bench_send on {machine()}")
    with ReceiverProcess([SECRET]) as rx, Simulator(temp_store()) as sim:
        wh = sim.create_webhook("bench", rx.url, [EVENT], secret=SECRET)
        sample = sim.preview(wh, EVENT, seed=1)
        # The baseline gets the same advantage simlib gives itself (TCP_NODELAY).
        bare = httpx.Client(transport=httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]))
        presigned = [sign(SECRET, sample.body, sim.now_ms()) for _ in range(pairs + WARMUP)]
        clock = time.perf_counter

        # simlib's own work, timed around the stages it runs (the same code send() runs).
        phases: dict[str, list[float]] = {"preview": [], "reserve (before the request)": [], "complete (after it)": []}
        start_send, complete = sim.start_send, sim.complete

        def timed_start(*args: object, **kwargs: object) -> object:
            t = clock()
            try:
                return start_send(*args, **kwargs)  # type: ignore[arg-type]
            finally:
                phases["reserve (before the request)"].append(clock() - t)

        def timed_complete(*args: object, **kwargs: object) -> object:
            t = clock()
            try:
                return complete(*args, **kwargs)  # type: ignore[arg-type]
            finally:
                phases["complete (after it)"].append(clock() - t)

        sim.start_send, sim.complete = timed_start, timed_complete  # type: ignore[method-assign]

        def simlib_one(seed: int) -> float:
            t = clock()
            p = sim.preview(wh, EVENT, seed=seed)
            phases["preview"].append(clock() - t)
            r = sim.send(p)
            elapsed = clock() - t
            assert r.delivered, r.detail
            return elapsed

        def bare_one(headers: dict[str, str]) -> float:
            t = clock()
            resp = bare.post(rx.url, content=sample.body, headers=headers)
            elapsed = clock() - t
            assert resp.status_code == 200, resp.text
            return elapsed

        for i in range(WARMUP):  # connections, caches, the history's first pages
            simlib_one(i)
            bare_one(presigned[i])
        for values in phases.values():
            values.clear()
        xs, ys = [], []
        for i in range(pairs):
            if i % 2 == 0:
                xs.append(simlib_one(WARMUP + i))
                ys.append(bare_one(presigned[WARMUP + i]))
            else:
                ys.append(bare_one(presigned[WARMUP + i]))
                xs.append(simlib_one(WARMUP + i))
        bare.close()
        s, b = median(xs) * 1e6, median(ys) * 1e6
        print(f"simlib send (preview+sign+send+classify+record): {s:8.1f} us per simulation (median of {pairs})")
        print(f"bare httpx.Client.post of pre-signed bytes:      {b:8.1f} us per request (median of {pairs})")
        for name, values in phases.items():
            print(f"  simlib's {name:30s} {median(values) * 1e6:7.1f} us")
        print(f"receiver: {rx.stats()['requests']} requests, {rx.stats()['verified']} verified")
        ratio = s / b
        verdict("bench_send", ratio, "<= 1.2", ratio <= 1.2)


if __name__ == "__main__":
    main()
