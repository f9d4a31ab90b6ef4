"""Why the SQLite store's hot paths run their SQL on the DB-API connection (issue 13).

The store is opened through SQLAlchemy (engine, connect / begin hooks, Core DDL and migrations);
the statements a send runs are compiled once from the Core table. This measures, on one store
file and alternating one operation at a time, the two ways of running them:

- Core: ``with conn.begin(): conn.execute(insert, values)`` on the SQLAlchemy ``Connection``
  (the ``begin`` hook emitting ``BEGIN IMMEDIATE``; SQLAlchemy's compiled cache warm);
- DB-API: ``BEGIN IMMEDIATE`` / ``execute(compiled SQL, params)`` / ``COMMIT`` on the
  ``sqlite3.Connection`` SQLAlchemy opened and configured (what ``Store.append`` does).

The same for the completion (an UPDATE of a row by its key, in autocommit as ``Store.complete``
runs it). The ratio is Core / DB-API (the two summed), medians of ``--rounds`` rounds of ``--ops`` operations.

    python benchmarks/bench_store_core.py [--ops 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import time

import sqlalchemy as sa
from _common import SECRET, machine, median, temp_store, verdict

from simlib import Simulator, sign
from simlib.core.classify import make_history_row
from simlib.core.delivery.http import Outcome
from simlib.core.store.alchemy import tables
from simlib.core.store.schema import stored_fields
from simlib.core.store.sqlite import HISTORY_SQL, PENDING_FINAL

EVENT = "desktop.app_tracking.captured"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"bench_store_core on {machine()}")
    sim = Simulator(temp_store())
    wh = sim.create_webhook("bench", "http://127.0.0.1:9/hook", [EVENT])
    p = sim.preview(wh, EVENT, seed=1)
    headers = sign(SECRET, p.body, 1_800_000_000_000)
    row = make_history_row(p, "x", wh, headers, 1_800_000_000_000, Outcome(200, 1.5, '{"ok":true}', False, {}, None, "Delivered: 200 OK"))
    store = sim.store
    raw = store._conn  # the DB-API connection SQLAlchemy opened
    core = store._core  # its Core connection
    assert raw is not None and core is not None
    names = [s.name for s in stored_fields()]
    params = list(HISTORY_SQL.params(row))
    values = dict(zip(names, params, strict=True))
    _, history, _ = tables(sqlite=True)
    insert = sa.insert(history)
    key = history.c.id
    outcome_names = [n for n in names if n not in PENDING_FINAL]
    update = sa.update(history).where(key == sa.bindparam("_key")).values({n: sa.bindparam(n) for n in outcome_names})
    outcome_values = {n: values[n] for n in outcome_names}
    outcome_params = [values[n] for n in outcome_names]
    assert outcome_params == list(HISTORY_SQL.outcome_params(row))  # the completion's own parameters

    def core_append() -> float:
        t = time.perf_counter()
        for _ in range(args.ops):
            with core.begin():
                core.execute(insert, values)
        return (time.perf_counter() - t) / args.ops

    def raw_append() -> float:
        t = time.perf_counter()
        execute = raw.execute
        for _ in range(args.ops):
            execute("BEGIN IMMEDIATE")
            execute(HISTORY_SQL.insert, params)
            execute("COMMIT")
        return (time.perf_counter() - t) / args.ops

    def core_complete() -> float:
        t = time.perf_counter()
        for i in range(args.ops):
            with core.begin():
                core.execute(update, {**outcome_values, "_key": i + 1})
        return (time.perf_counter() - t) / args.ops

    def raw_complete() -> float:
        t = time.perf_counter()
        for i in range(args.ops):
            raw.execute(HISTORY_SQL.complete, (*outcome_params, i + 1))
        return (time.perf_counter() - t) / args.ops

    for fn in (core_append, raw_append, core_complete, raw_complete):  # warm caches, the WAL
        fn()
    figures: dict[str, list[float]] = {f.__name__: [] for f in (core_append, raw_append, core_complete, raw_complete)}
    for i in range(args.rounds):
        pairs = ((core_append, raw_append), (core_complete, raw_complete))
        for a, b in pairs:
            for fn in (a, b) if i % 2 == 0 else (b, a):
                figures[fn.__name__].append(fn())
    sim.close()
    totals = {"core": 0.0, "raw": 0.0}
    for what in ("append", "complete"):
        c, r = median(figures[f"core_{what}"]), median(figures[f"raw_{what}"])
        totals["core"] += c
        totals["raw"] += r
        print(f"{what}: Core {c * 1e6:.1f} µs, DB-API {r * 1e6:.1f} µs per operation: Core costs "
              f"{(c - r) * 1e6:.1f} µs more, ratio {c / r:.2f}")
    ratio = totals["core"] / totals["raw"]
    verdict("bench_store_core", ratio, "Core / DB-API for an append and a completion; the hot paths stay on the "
            "DB-API connection while Core costs more than 5 % more", ratio > 1.05)


if __name__ == "__main__":
    main()
