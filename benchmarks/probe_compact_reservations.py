"""What-if probe for issue 12 goal 1's own work (not one of the ``make bench`` scripts): what would
a burst's own work per send be if each history row were written once?

Today a burst reserves each send's whole row (payload included) before the send and rewrites it
with the outcome after (``bench_burst.py --own-work``). The probe runs, alternately in one
process, that loop and the same loop with the reservation as a small marker row (simulation id,
seed, time; 32 per transaction, in a table of the probe's own) and the whole row INSERTed once at
completion, its marker deleted in the same transaction (100 per transaction). It leaves out the
room proof and what a store would need to turn the markers of a killed process into
"interrupted" rows, so its figure is a floor, not a design. It prints the least and the median
CPU microseconds per send of both.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

import bench_burst as bb
from _common import machine, temp_store

from simlib import Simulator
from simlib.core.classify import make_history_row, result_from_row
from simlib.core.ids import new_uuid4
from simlib.core.store import sqlite as store_sql

ROUNDS = int(os.environ.get("BENCH_BURST_ROUNDS", "8"))
MARKERS = "probe_reservations"


def written_once_us(sim: Simulator, wh_id: str, count: int = 3000) -> float:
    """As ``bench_burst.own_work_us``, each row written once; CPU microseconds per send."""
    wh, series, sign_for, _, answer = bb._work_parts(sim, wh_id)
    store, now_ms, chunk = sim.store, sim.now_ms, bb.CONCURRENCY
    insert_row, params = store_sql._INSERT_HISTORY, store_sql._history_params
    with store._write() as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {MARKERS} (id INTEGER PRIMARY KEY, simulation_id TEXT, seed INTEGER, at INTEGER)")
    start = time.process_time()
    done: list[tuple[int, Any]] = []
    for base in range(0, count, chunk):
        now = now_ms()
        previews = [series(base + j) for j in range(chunk)]
        sims = [new_uuid4() for _ in previews]
        with store._write() as conn:
            conn.executemany(f"INSERT INTO {MARKERS} (simulation_id, seed, at) VALUES (?, ?, ?)",
                             [(s, p.seed, now) for p, s in zip(previews, sims, strict=True)])
            last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        for p, s, marker in zip(previews, sims, range(last - chunk + 1, last + 1), strict=True):
            ts = now_ms()
            done.append((marker, make_history_row(p, s, wh, sign_for(p.body, ts), ts, answer)))
            if len(done) >= 100:
                with store._write() as conn:
                    conn.executemany(insert_row, [params(row) for _, row in done])
                    conn.executemany(f"DELETE FROM {MARKERS} WHERE id=?", [(marker,) for marker, _ in done])
                for _, row in done:
                    result_from_row(row, history_id=0)
                done = []
    if done:
        with store._write() as conn:
            conn.executemany(insert_row, [params(row) for _, row in done])
            conn.executemany(f"DELETE FROM {MARKERS} WHERE id=?", [(marker,) for marker, _ in done])
    sent = -(-count // chunk) * chunk
    return (time.process_time() - start) / sent * 1e6


def main() -> None:
    print(f"probe_compact_reservations on {machine()}: {ROUNDS} pairs of 3,000 sends without the network")
    with Simulator(temp_store()) as sim:
        wh_id = sim.create_webhook("bench", "http://127.0.0.1:9/hook", [bb.EVENT], secret=bb.SECRET).id
        bb.own_work_us(sim, wh_id, 320)  # warm-up
        written_once_us(sim, wh_id, 320)
        today: list[float] = []
        once: list[float] = []
        for i in range(ROUNDS):
            if i % 2 == 0:
                today.append(bb.own_work_us(sim, wh_id))
                once.append(written_once_us(sim, wh_id))
            else:
                once.append(written_once_us(sim, wh_id))
                today.append(bb.own_work_us(sim, wh_id))
        print(f"today (pending row, then its UPDATE): least {min(today):.1f}, median {statistics.median(today):.1f} us per send")
        print(f"each row written once (a marker first): least {min(once):.1f}, median {statistics.median(once):.1f} us per send")
        print(f"probe_compact_reservations: written once / today = {min(once) / min(today):.3f} (least of each)")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
