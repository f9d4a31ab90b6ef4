"""History at scale: append cost at 1k vs 100k rows (target <= 1.2x), and ``history()`` of 100k
rows vs a raw ``pandas.read_sql_query`` of the same table (target <= 2x).

Then at ``--rows`` (default 1,000,000; issue 12 goal 5): ``history()`` vs the raw
``read_sql_query("SELECT * FROM history ORDER BY id")`` in time (target <= 1.3x) and in peak
memory (target <= 1.5x), and the peak memory of a streamed CSV / Parquet export at 100k vs
``--rows`` rows (memory independent of the row count: target <= 1.5x). Each figure is taken in a
fresh subprocess -- peak memory is the peak resident size after the read less the one before it
(VmHWM; see peak_rss) -- alternating simlib and raw, medians of ``--rounds``. ``--skip-scale`` skips it.

    python benchmarks/bench_history.py [--rows 1000000] [--rounds 3] [--skip-scale]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

import pandas as pd
from _common import machine, median, temp_store, timed, verdict

from simlib import Simulator, sign
from simlib.core.classify import make_history_row
from simlib.core.delivery.http import Outcome
from simlib.core.store.sqlite import HISTORY_SQL

EVENT = "desktop.app_tracking.captured"
TARGET_ROWS = 100_000
SAMPLE = 500


def sample_row() -> tuple[Simulator, list]:
    sim = Simulator(temp_store())
    wh = sim.create_webhook("bench", "http://127.0.0.1:9/hook", [EVENT])
    p = sim.preview(wh, EVENT, seed=1)
    headers = sign("benchmark-secret-0123456789abcdef", p.body, 1_800_000_000_000)
    row = make_history_row(p, "x", wh, headers, 1_800_000_000_000, Outcome(200, 1.5, '{"ok":true}', False, {}, None, "Delivered: 200 OK"))
    return sim, list(HISTORY_SQL.params(row))


def build_store(rows: int) -> str:
    """A store of ``rows`` delivered attempts, written fast (executemany in one transaction)."""
    sim, params = sample_row()
    path = str(sim.store.path)
    sim.close()
    at = HISTORY_SQL.insert.split("(")[1].split(",").index("simulation_id")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for start in range(0, rows, 50_000):
        batch = []
        for i in range(start, min(rows, start + 50_000)):
            values = params.copy()
            values[at] = f"bench-{i}"
            batch.append(values)
        conn.executemany(HISTORY_SQL.insert, batch)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def peak_rss() -> int:
    """This process's peak resident memory in bytes. Linux copies a parent's peak into a forked
    child (and keeps it across exec), so ``getrusage`` maxrss of a child started by this big
    process starts high; /proc's VmHWM is the peak of this program's own memory map. maxrss
    where there is no /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(what: str, path: str) -> None:
    """One measured read in this (fresh) process: prints {"seconds", "peak_bytes", "rows"}."""
    import pandas as pd

    sim = Simulator(path)
    sim.store.check()
    conn = sqlite3.connect(path)
    out_dir = tempfile.mkdtemp(prefix="simlib-bench-export-")
    import pyarrow  # noqa: F401 - imported before the baseline by both sides (pandas' str dtype uses it)

    before = peak_rss()
    t = time.perf_counter()
    if what == "history":
        rows = len(sim.history())
    elif what == "raw":
        rows = len(pd.read_sql_query("SELECT * FROM history ORDER BY id", conn))
    else:
        fmt = what.split("-", 1)[1]
        out = sim.export_history(os.path.join(out_dir, f"h.{fmt}"))
        rows = -1
        os.unlink(out)
    os.rmdir(out_dir)
    seconds = time.perf_counter() - t
    peak = peak_rss() - before
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "rows": rows}))


def measure(what: str, path: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", what, path], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def scale(rows: int, rounds: int) -> bool:
    print(f"building stores of 100k and {rows // 1000}k rows ...")
    small, large = build_store(100_000), build_store(rows)
    hist, raw = [], []
    for i in range(rounds):
        pair = [("history", hist), ("raw", raw)]
        for what, into in pair if i % 2 == 0 else pair[::-1]:
            into.append(measure(what, large))
    h_t, r_t = median([m["seconds"] for m in hist]), median([m["seconds"] for m in raw])
    h_m, r_m = median([m["peak_bytes"] for m in hist]), median([m["peak_bytes"] for m in raw])
    print(f"history() of {rows} rows:             {h_t:7.2f} s, peak +{h_m / 1e9:5.2f} GB")
    print(f"raw read_sql_query of the table:     {r_t:7.2f} s, peak +{r_m / 1e9:5.2f} GB")
    ok = h_t / r_t <= 1.3 and h_m / r_m <= 1.5
    print(f"history()/raw at {rows // 1000}k rows: time {h_t / r_t:.3f} (target <= 1.3), peak memory {h_m / r_m:.3f} (target <= 1.5)")
    for fmt in ("csv", "parquet"):
        a, b = measure(f"export-{fmt}", small), measure(f"export-{fmt}", large)
        ratio = b["peak_bytes"] / max(a["peak_bytes"], 1)
        print(f"export {fmt:8s} 100k rows: {a['seconds']:6.2f} s, peak +{a['peak_bytes'] / 1e6:7.1f} MB   "
              f"{rows // 1000}k rows: {b['seconds']:6.2f} s, peak +{b['peak_bytes'] / 1e6:7.1f} MB   ratio {ratio:.2f} (target <= 1.5)")
        ok = ok and ratio <= 1.5
    for path in (small, large):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
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
        print(f"history()/raw at {count // 1000}k rows: {read_ratio:.3f} (target <= 2.0)")
    scaled = True if args.skip_scale else scale(args.rows, args.rounds)
    verdict("bench_history", read_ratio,
            "history()/raw <= 2.0 and append 100k/1k <= 1.2; at scale: time <= 1.3, memory <= 1.5, exports flat",
            ok and scaled)


if __name__ == "__main__":
    main()
