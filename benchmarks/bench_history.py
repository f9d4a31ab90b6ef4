"""History at scale: append cost at 1k vs 100k rows (target <= 1.2x), and ``history()`` of 100k
rows vs a raw ``pandas.read_sql_query`` of the same table (target <= 2x)."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid

import pandas as pd
from _common import machine, median, temp_store, timed, verdict

from simlib import Simulator, sign
from simlib.core.classify import make_history_row
from simlib.core.delivery.http import Outcome

EVENT = "desktop.app_tracking.captured"
TARGET_ROWS = 100_000
SAMPLE = 500


def main() -> None:
    print(f"bench_history on {machine()}")
    with Simulator(temp_store()) as sim:
        wh = sim.create_webhook("bench", "http://127.0.0.1:9/hook", [EVENT])
        p = sim.preview(wh, EVENT, seed=1)
        headers = sign("benchmark-secret-0123456789abcdef", p.body, 1_800_000_000_000)
        row = make_history_row(p, "x", wh, headers, 1_800_000_000_000, Outcome(200, 1.5, '{"ok":true}', False, {}, None, "Delivered: 200 OK"))

        def rows(n: int) -> list:
            return [dataclasses.replace(row, simulation_id=str(uuid.uuid4())) for _ in range(n)]

        def append_cost() -> float:
            batch = rows(SAMPLE)
            return timed(lambda: [sim.store.append(r) for r in batch]) / SAMPLE

        sim.store.append_many(rows(1_000 - sim.store.history_count()))
        small = median([append_cost() for _ in range(3)])
        remaining = TARGET_ROWS - sim.store.history_count()
        for start in range(0, remaining, 10_000):
            sim.store.append_many(rows(min(10_000, remaining - start)))
        large = median([append_cost() for _ in range(3)])
        count = sim.store.history_count()
        print(f"append one attempt at ~1k rows:   {small * 1e6:7.1f} us")
        print(f"append one attempt at ~{count // 1000}k rows: {large * 1e6:7.1f} us")

        raw_conn = sqlite3.connect(sim.store.path)

        def simlib_history() -> float:
            return timed(sim.history)

        def raw_read() -> float:
            return timed(lambda: pd.read_sql_query("SELECT * FROM history ORDER BY id", raw_conn))

        simlib_history(), raw_read()
        xs = [simlib_history() for _ in range(3)]
        ys = [raw_read() for _ in range(3)]
        raw_conn.close()
        h, r = median(xs), median(ys)
        print(f"history() of {count} rows:                 {h:7.3f} s")
        print(f"raw pandas.read_sql_query of the table:  {r:7.3f} s")
        append_ratio = large / small
        read_ratio = h / r
        print(f"append ratio 100k/1k: {append_ratio:.3f} (target <= 1.2)")
        ok = append_ratio <= 1.2 and read_ratio <= 2.0
        verdict("bench_history", read_ratio, "history()/raw <= 2.0 and append 100k/1k <= 1.2", ok)


if __name__ == "__main__":
    main()
