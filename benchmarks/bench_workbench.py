"""The explorer's history refresh after a send at 1k vs 1M rows (issue 12 goal 5: <= 2x).

A send ends with the short history list's refresh, which refreshes the History tab too: the
newest 20 rows, one keyset page of the grid and two capped counts. Both stores are built fast
(executemany in one transaction); each round appends one attempt (the send's row) and times the
refresh that follows. Also printed: the next page, a filtered page, "replayed by" for the oldest
row, the lookup by signature (Explain) and one append, at both sizes.

    python benchmarks/bench_workbench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sqlite3
import uuid
from typing import Any

from _common import machine, median, temp_store, timed, verdict

from simlib import HistoryFilter, Simulator, sign
from simlib.core.classify import make_history_row
from simlib.core.delivery.http import Outcome
from simlib.core.store.sqlite import HISTORY_SQL
from simlib.ui import Explorer

EVENT = "desktop.app_tracking.captured"
ROUNDS = 15
CHUNK = 50_000


def build(rows: int) -> tuple[Simulator, Explorer, Any]:
    sim = Simulator(temp_store())
    wh = sim.create_webhook("bench", "http://127.0.0.1:9/hook", [EVENT])
    p = sim.preview(wh, EVENT, seed=1)
    row = make_history_row(p, "x", wh, sign("benchmark-secret-0123456789abcdef", p.body, 1_800_000_000_000),
                           1_800_000_000_000, Outcome(200, 1.5, '{"ok":true}', False, {}, None, "Delivered: 200 OK"))
    params = list(HISTORY_SQL.params(row))
    conn = sqlite3.connect(sim.store.path, isolation_level=None)
    conn.execute("BEGIN")
    sim_id = HISTORY_SQL.insert.split("(")[1].split(",").index("simulation_id")
    for start in range(0, rows, CHUNK):
        batch = []
        for i in range(start, min(rows, start + CHUNK)):
            values = params.copy()
            values[sim_id] = f"bench-{i}"
            batch.append(values)
        conn.executemany(HISTORY_SQL.insert, batch)
    conn.execute("COMMIT")
    conn.close()
    explorer = Explorer(sim, seed=1)
    return sim, explorer, row


def figures(rows: int) -> dict[str, float]:
    sim, explorer, row = build(rows)
    grid = explorer.tools["History"].grid
    try:
        def send_then_refresh() -> float:
            sim.store.append(dataclasses.replace(row, simulation_id=str(uuid.uuid4())))
            return timed(explorer.history_panel.refresh)

        send_then_refresh()
        out = {"refresh": median([send_then_refresh() for _ in range(ROUNDS)])}
        assert grid.ids[0] == sim.history_page(limit=1).rows[0]["id"]  # the refresh showed the new row first
        first = sim.history_page(limit=25)
        out["next page"] = median([timed(lambda: sim.history_page(after=first.last, limit=25)) for _ in range(ROUNDS)])
        flt = HistoryFilter(status_class="2xx", webhook=row.webhook_id)
        out["filtered page + count"] = median(
            [timed(lambda: (sim.history_page(flt), sim.history_count_capped(flt))) for _ in range(ROUNDS)])
        out["replays of the oldest row"] = median([timed(lambda: sim.replays_of(1)) for _ in range(3)])
        out["find by signature"] = median([timed(lambda: sim.find_attempts(signature="0" * 64)) for _ in range(3)])
        out["append one attempt"] = median(
            [timed(lambda: sim.store.append(dataclasses.replace(row, simulation_id=str(uuid.uuid4()))))
             for _ in range(200)])
    finally:
        explorer.close()
        sim.close()
        shutil.rmtree(os.path.dirname(sim.store.path), ignore_errors=True)  # 1.3 GB at 1M rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    large_rows = parser.parse_args().rows
    print(f"bench_workbench on {machine()}")
    small, large = figures(1_000), figures(large_rows)
    for name in small:
        print(f"{name:28s} 1k rows {small[name] * 1e3:9.3f} ms   {large_rows // 1000}k rows {large[name] * 1e3:9.3f} ms")
    ratio = large["refresh"] / small["refresh"]
    verdict("bench_workbench", ratio, f"refresh after a send at {large_rows // 1000}k / 1k rows <= 2.0", ratio <= 2.0)


if __name__ == "__main__":
    main()
