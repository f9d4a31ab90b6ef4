"""What-if probe for issue 12 goal 1 (not one of the ``make bench`` scripts): how far is a curl
burst's CPU per send above the same work per send in the barest loop around libcurl?

In one run, against the same receiver (in its own process, pinned as ``bench_burst.py`` pins it),
alternately:

- ``send_many`` on the curl engine (what simlib does);
- the same work per send -- a fresh payload, the pending rows reserved 32 at a time, the HMAC,
  the engine's own curl handles and per-transfer callbacks (head, body within the cap, the
  request-sent check), the answer worded by ``answered_outcome``, the completions in batches of
  100 and the results -- driven by a plain ``CurlMulti`` ``perform``/``select`` loop that starts
  the next send as soon as a transfer ends, without an event loop, tasks or futures.

The probe leaves out what a real burst must add (the total deadline set per send, the
read-timeout sweep, rate mode, Retry-After pauses, cancel, the address policy, the progress bar,
Ctrl-C, the WAL checkpoints on a thread of their own), so its figure is a floor, not a design.
It prints the CPU microseconds per send of both (medians over the rounds, each pair back to
back) and their ratio. A burst driven this way (without the event loop, every rule kept) was
built and measured no cheaper than ``send_many`` (BENCHMARKS.md, "A new machine"): the gap is
not the event loop.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

import bench_burst as bb
import pycurl
from _common import SECRET, machine, temp_store

from simlib import Simulator
from simlib.core.classify import make_history_row, pending_row, result_from_row
from simlib.core.delivery.answer import answered_outcome
from simlib.core.delivery.curl import CurlSender
from simlib.core.ids import new_uuid4
from simlib.receiver import ReceiverProcess

N = int(os.environ.get("BENCH_BURST_N", "5000"))
ROUNDS = int(os.environ.get("BENCH_BURST_ROUNDS", "6"))
CHUNK, FLUSH = bb.CONCURRENCY, 100


def sync_burst(sim: Simulator, wh_id: str, url: str, n: int) -> float:
    """``n`` sends as described above; CPU microseconds per send."""
    wh, series, sign_for, room, _ = bb._work_parts(sim, wh_id)
    store, now_ms, config = sim.store, sim.now_ms, sim.delivery
    sender = CurlSender(config, max_connections=bb.CONCURRENCY)
    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, bb.CONCURRENCY)
    slots = {}
    for _ in range(bb.CONCURRENCY):
        slot = sender._handle()  # the engine's handle: its fixed options and callbacks
        slot.curl.setopt(pycurl.URL, url)
        slot.curl.setopt(pycurl.TIMEOUT_MS, int(config.deadline * 1000))
        slot.literal = True  # 127.0.0.1: no lookup
        slots[slot.curl] = slot
    reserved: dict[int, tuple[Any, str, int]] = {}
    flight: dict[Any, tuple[Any, str, int, dict[str, str], int, float]] = {}
    done: list[tuple[int, Any]] = []
    rows: list[Any] = []
    state = {"next": 0}

    def reserve(base: int) -> None:
        now = now_ms()
        previews = [series(base + j) for j in range(min(CHUNK, n - base))]
        sims = [new_uuid4() for _ in previews]
        ids = store.reserve([pending_row(p, s, wh, {}, now) for p, s in zip(previews, sims, strict=True)], outcome_bytes=room)
        for j, (p, s, hid) in enumerate(zip(previews, sims, ids, strict=True)):
            reserved[base + j] = (p, s, hid)

    def start(curl: Any) -> int:
        i = state["next"]
        if i >= n:
            return 0
        state["next"] = i + 1
        if i not in reserved:
            reserve(i)
        p, s, hid = reserved.pop(i)
        ts = now_ms()
        headers = sign_for(p.body, ts)
        slots[curl].reset(config.max_response_bytes, None)
        curl.setopt(pycurl.POSTFIELDS, p.body)
        curl.setopt(pycurl.HTTPHEADER, [*[f"{k}: {v}" for k, v in headers.items()], "Accept:", "Expect:"])
        flight[curl] = (p, s, hid, headers, ts, time.perf_counter())
        multi.add_handle(curl)
        return 1

    def finished(curl: Any) -> None:
        p, s, hid, headers, ts, sent = flight.pop(curl)
        slot = slots[curl]
        assert slot.status is not None and slot.reader is not None
        outcome = answered_outcome(slot.status, slot.reason, slot.headers or {}, slot.reader,
                                   (time.perf_counter() - sent) * 1000, config)
        row = make_history_row(p, s, wh, headers, ts, outcome)
        rows.append(row)
        done.append((hid, row))
        if len(done) >= FLUSH:
            store.complete_many(done)
            done.clear()

    began = time.process_time()
    bb.curl_loop(multi, list(slots), start, finished)
    if done:
        store.complete_many(done)
    for row in rows:
        result_from_row(row, history_id=0)
    used = (time.process_time() - began) / n * 1e6
    multi.close()
    for curl in slots:
        curl.close()
    assert all(r.http_status == 200 for r in rows)
    return used


def main() -> None:
    print(f"probe_sync_curl on {machine()}: {N} sends at concurrency {bb.CONCURRENCY}, {ROUNDS} pairs")
    with ReceiverProcess([SECRET]) as rx, Simulator(temp_store()) as sim:
        print(bb.pin(rx))
        wh = sim.create_webhook("bench", rx.url, [bb.EVENT], secret=SECRET)
        sim.send_many(wh, bb.EVENT, 1000, concurrency=bb.CONCURRENCY, progress=False)  # warm-up
        sync_burst(sim, wh.id, rx.url, 1000)
        asyncio_cpu: list[float] = []
        sync_cpu: list[float] = []
        for i in range(ROUNDS):
            for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                if which == 0:
                    t = time.process_time()
                    burst = sim.send_many(wh, bb.EVENT, N, concurrency=bb.CONCURRENCY, progress=False)
                    asyncio_cpu.append((time.process_time() - t) / N * 1e6)
                    assert all(r.delivered for r in burst.results)
                else:
                    sync_cpu.append(sync_burst(sim, wh.id, rx.url, N))
        a, s = statistics.median(asyncio_cpu), statistics.median(sync_cpu)
        print(f"send_many (curl):               {a:6.0f} us CPU per send (rounds: {', '.join(f'{v:.0f}' for v in asyncio_cpu)})")
        print(f"plain perform/select loop:      {s:6.0f} us CPU per send (rounds: {', '.join(f'{v:.0f}' for v in sync_cpu)})")
        print(f"probe_sync_curl: plain loop / send_many = {s / a:.3f} (send_many is ~{a - s:.0f} us per send above the floor)")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
