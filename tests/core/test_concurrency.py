"""Concurrency and crashes with real processes sharing one store file.

- two processes x 500 sends -> 1,000 rows, unique ids, no error, while a third process loops
  over history() without blocking them;
- kill -9 of a sender mid-burst -> integrity_check ok, and every row it reported is present;
- kill -9 of ``send_many`` (burst mode, batched history writes) -> integrity_check ok, every
  committed batch is still there, and every row is complete or reads "interrupted" (reserved
  before its send, never completed; never Delivered);
- a store locked by another process -> "Service unavailable", then recovery once released.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from simlib import Simulator
from simlib.receiver import Receiver, ReceiverProcess
from simlib.records import INTERRUPTED
from tests.helpers import APP

SENDER = textwrap.dedent(
    """
    import json, sys, time
    from simlib import Simulator
    store, webhook, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Simulator(store, busy_timeout=30) as sim:
        preview = sim.preview(webhook, "desktop.app_tracking.captured", seed=1)
        for i in range(n):
            t = time.perf_counter()
            r = sim.send(preview)
            took = time.perf_counter() - t
            print(json.dumps({"id": r.history_id, "sim": r.simulation_id, "result": r.result,
                              "recorded": r.recorded, "error": r.error, "seconds": took}), flush=True)
    """
)

READER = textwrap.dedent(
    """
    import sys, time
    from simlib import Simulator
    store, stop_file = sys.argv[1], sys.argv[2]
    import os
    loops, slowest, sizes = 0, 0.0, set()
    with Simulator(store, busy_timeout=30) as sim:
        sim.history()  # warm up (imports pandas) before timing anything
        print("ready", flush=True)
        while not os.path.exists(stop_file):
            t = time.perf_counter()
            sizes.add(len(sim.history()))
            slowest = max(slowest, time.perf_counter() - t)
            loops += 1
    print(loops, slowest, len(sizes), flush=True)
    """
)


SEND_BOUND_S = 3.0  # no single send may take longer while another process reads and writes


def _python(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


@pytest.fixture
def shared(tmp_path):
    rx = Receiver().start()
    path = tmp_path / "shared.sqlite3"
    with Simulator(path) as sim:
        wh = sim.create_webhook("shared", rx.url, [APP])
    yield path, wh.id, rx
    rx.stop()


@pytest.mark.slow
def test_two_writers_and_a_reader_lose_nothing(shared, tmp_path):
    path, wid, rx = shared
    stop = tmp_path / "stop"
    reader = _python(READER, str(path), str(stop))
    assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
    writers = [_python(SENDER, str(path), wid, "500") for _ in range(2)]
    outputs = [w.communicate(timeout=240) for w in writers]
    stop.touch()
    r_out, r_err = reader.communicate(timeout=60)
    slowest_send = 0.0
    for w, (out, err) in zip(writers, outputs):
        assert w.returncode == 0, err
        rows = [json.loads(line) for line in out.splitlines()]
        assert len(rows) == 500
        assert all(r["recorded"] and r["result"] == "Delivered" and r["error"] is None for r in rows)
        slowest_send = max(slowest_send, *(r["seconds"] for r in rows))
    assert reader.returncode == 0, r_err
    loops, slowest_read, sizes = r_out.split()
    # The writers wait up to busy_timeout=30 s for a lock, which would hide a reader that blocks
    # them: bound each send instead (a send takes milliseconds; a blocked one would wait).
    assert slowest_send < SEND_BOUND_S, f"a send took {slowest_send:.2f} s while the reader looped"
    assert float(slowest_read) < SEND_BOUND_S
    assert int(loops) >= 20  # the reader kept reading while the writers wrote...
    assert int(sizes) >= 10  # ...and saw the history grow between its reads
    with Simulator(path) as sim:
        frame = sim.history()
    assert len(frame) == 1000
    assert frame["id"].is_unique and frame["simulation_id"].is_unique
    assert rx.count == 1000


@pytest.mark.slow
def test_kill_9_mid_burst_keeps_every_reported_row(shared):
    path, wid, _ = shared
    sender = _python(SENDER, str(path), wid, "100000")
    reported = []
    deadline = time.monotonic() + 60
    while len(reported) < 150 and time.monotonic() < deadline:
        line = sender.stdout.readline()
        if not line:
            break
        reported.append(json.loads(line))
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait(timeout=10)
    assert len(reported) >= 150, sender.stderr.read()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in conn.execute("SELECT simulation_id FROM history")}
    finally:
        conn.close()
    assert {r["sim"] for r in reported} <= stored


BURSTER = textwrap.dedent(
    """
    import sys
    from simlib import Simulator
    store, webhook, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Simulator(store, busy_timeout=30) as sim:
        last = [0]

        def progress(done, total):
            # burst.py commits history in batches (100 rows or 0.25 s); a row counts as recorded
            # once its batch committed. Report the committed count whenever it grows.
            count = sim.store.history_count()
            if count > last[0]:
                last[0] = count
                print(count, flush=True)

        sim.send_many(webhook, "desktop.app_tracking.captured", n, concurrency=16, progress=progress)
    """
)


@pytest.mark.slow
def test_kill_9_mid_send_many_keeps_every_committed_batch(tmp_path):
    path = tmp_path / "burst.sqlite3"
    with ReceiverProcess() as rx:
        with Simulator(path) as sim:
            wid = sim.create_webhook("burst", rx.url, [APP]).id
        burster = _python(BURSTER, str(path), wid, "20000")
        reported = 0
        deadline = time.monotonic() + 60
        while reported < 350 and time.monotonic() < deadline:
            line = burster.stdout.readline()
            if not line:
                break
            reported = int(line)
        # What another connection sees as committed just before the kill counts too.
        peek = sqlite3.connect(path)
        try:
            committed = peek.execute("SELECT COUNT(*) FROM history").fetchone()[0]
        finally:
            peek.close()
        still_running = burster.poll() is None
        os.kill(burster.pid, signal.SIGKILL)
        burster.wait(timeout=10)
        burster.stdout.close()
        err = burster.stderr.read()
        burster.stderr.close()
    assert still_running, f"the burst ended before the kill: {err}"
    assert reported >= 350, err
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute(
            "SELECT simulation_id, result, http_status, latency_ms, error, detail, event_id, request_headers, "
            "length(request_body), response_body FROM history"
        ).fetchall()
    finally:
        conn.close()
    assert len(rows) >= max(reported, committed)
    assert len(rows) < 20000  # it really was killed mid-burst
    assert len({r[0] for r in rows}) == len(rows)
    interrupted = 0
    for sim_id, result, status, latency, error, detail, event_id, headers, body_len, response in rows:
        assert sim_id and event_id and detail is not None and response is not None
        assert body_len > 0
        if detail == INTERRUPTED:
            # Reserved before its send and never completed: in flight (or about to start) at the
            # kill. Never Delivered, no status: the history does not claim what it does not know.
            assert result == "Failed" and error == "Simulation failed" and status is None and latency is None
            interrupted += 1
            continue
        assert result == "Delivered" and status == 200 and error is None and latency is not None
        assert {"x-webhook-signature", "x-webhook-timestamp"} <= set(json.loads(headers))
    # At most the rows reserved but not yet completed: in flight, awaiting their batch, or the
    # rest of the last reserved chunk (16 at this concurrency).
    assert interrupted <= 16 + 100 + 16


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK")
    print("released", flush=True)
    """
)


def test_store_locked_by_another_process_then_released(shared):
    path, wid, rx = shared
    sim = Simulator(path, busy_timeout=0.3)
    try:
        preview = sim.preview(wid, APP, seed=3)
        sim.store.close()  # drop the cached connection so the next use meets the lock
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert locker.stdout.readline().strip() == "locked"
        r = sim.send(preview)
        assert r.error == "Service unavailable" and r.error_status == 503
        assert "locked" in r.detail
        assert r.recorded is False
        assert rx.count == 0  # nothing was delivered while the store could not record it
        locker.stdin.write("\n")
        locker.stdin.flush()
        assert locker.stdout.readline().strip() == "released"
        locker.wait(timeout=10)
        r2 = sim.send(preview)
        assert r2.result == "Delivered" and r2.recorded
        assert len(sim.history()) == 1
    finally:
        sim.close()
