"""Concurrency and crashes with real processes sharing one store file.

- two processes x 500 sends -> 1,000 rows, unique ids, no error, while a third process loops
  over history() without blocking them;
- kill -9 of a sender mid-burst -> integrity_check ok, and every row it reported is present;
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
from simlib.receiver import Receiver

from .conftest import APP

SENDER = textwrap.dedent(
    """
    import json, sys
    from simlib import Simulator
    store, webhook, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Simulator(store, busy_timeout=30) as sim:
        preview = sim.preview(webhook, "desktop.app_tracking.captured", seed=1)
        for i in range(n):
            r = sim.send(preview)
            print(json.dumps({"id": r.history_id, "sim": r.simulation_id, "result": r.result,
                              "recorded": r.recorded, "error": r.error}), flush=True)
    """
)

READER = textwrap.dedent(
    """
    import sys, time
    from simlib import Simulator
    store, stop_file = sys.argv[1], sys.argv[2]
    import os
    loops, slowest = 0, 0.0
    with Simulator(store, busy_timeout=30) as sim:
        while not os.path.exists(stop_file):
            t = time.perf_counter()
            sim.history()
            slowest = max(slowest, time.perf_counter() - t)
            loops += 1
    print(loops, slowest, flush=True)
    """
)


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
    writers = [_python(SENDER, str(path), wid, "500") for _ in range(2)]
    outputs = [w.communicate(timeout=240) for w in writers]
    stop.touch()
    r_out, r_err = reader.communicate(timeout=60)
    for w, (out, err) in zip(writers, outputs):
        assert w.returncode == 0, err
        rows = [json.loads(line) for line in out.splitlines()]
        assert len(rows) == 500
        assert all(r["recorded"] and r["result"] == "Delivered" and r["error"] is None for r in rows)
    assert reader.returncode == 0, r_err
    loops = int(r_out.split()[0])
    assert loops > 0  # the reader kept reading while the writers wrote
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
