"""The embedded SQLite store: location, WAL, permissions, versions, corruption; history filters,
insertion order and exports (PRACTICE.md §5)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import time
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from simlib import Simulator, StoreUnavailable, StoreVersionError, ValidationError
from simlib.cli import main
from simlib.core.store.sqlite import HISTORY_COLUMNS, Store
from simlib.receiver import Receiver
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT, free_port

T0 = 1_769_000_000_000


# -- file, location, mode ------------------------------------------------------------------------


def test_journal_mode_is_wal_on_a_real_file(store_path):
    with Simulator(store_path) as s:
        s.list_webhooks()
        assert s.store.journal_mode == "wal"
    conn = sqlite3.connect(store_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    finally:
        conn.close()


def test_a_burst_checkpoints_on_a_thread_of_its_own_and_the_wal_does_not_grow(store_path, monkeypatch):
    """Issue 12: while a burst writes, its commits do not checkpoint (the loop that sends never
    waits for the disk); the store's checkpoint thread does, and gets the WAL started over
    although the burst never pauses, so the WAL stays small; the autocheckpoint is back after."""
    from simlib.core.store import sqlite as store_module

    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY_S", 0.02)
    with Receiver(secrets=["k" * 32]) as rx, Simulator(store_path) as sim:
        wh = sim.create_webhook("w", rx.url, [APP], secret="k" * 32)
        seen: list[tuple[int, int]] = []
        wal = f"{store_path}-wal"

        def sample(done: int, total: int) -> None:
            if done % 100 == 0:
                conn = sim.store._conn
                seen.append((conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0], os.path.getsize(wal)))

        burst = sim.send_many(wh, APP, 3000, concurrency=16, progress=sample)
        assert burst.summary.iloc[0]["delivered"] == 3000
        checkpointer = sim.store._finishing[-1]
        assert checkpointer.runs > 10
        assert {setting for setting, _ in seen} == {0}
        # 3,000 rows written twice make some 10 MB of WAL frames; started over, the WAL holds a
        # few hundredths of a second of them.
        assert max(size for _, size in seen) < 4 * 1024 * 1024, seen
        assert sim.store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == store_module.WAL_AUTOCHECKPOINT_PAGES
        assert len(sim.history()) == 3000


def _write_steadily(store_path, monkeypatch, pause: float, count: int) -> tuple[list[int], int, Any]:
    """``count`` commits of a page of WAL or more each, one after another (``pause`` between), inside
    checkpoints_aside with its thread every 20 ms: the WAL's sizes, how often it was started over
    (its header's checkpoint sequence number, read after every commit) and the checkpoint thread."""
    from simlib.core.store import sqlite as store_module
    from tests.core.test_history_paging import attempt

    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY_S", 0.02)
    with Simulator(store_path) as sim:
        store = sim.store
        store.list_webhooks()
        wal, sizes, generations = f"{store_path}-wal", [], set()
        body = os.urandom(1500).hex().encode()
        with store.checkpoints_aside():
            checkpointer = store._checkpointer
            for i in range(count):
                store.append(attempt(i, request_body=body))
                with open(wal, "rb") as f:
                    generations.add(f.read(16)[12:16])
                if i % 100 == 0:
                    sizes.append(os.path.getsize(wal))
                if pause:
                    time.sleep(pause)
        assert store.history_count() == count
    return sizes, len(generations) - 1, checkpointer


def test_the_wal_of_a_steady_writer_is_started_over(store_path, monkeypatch):
    """A checkpoint pass copies the frames there were when it began, and a writer that keeps
    committing adds some meanwhile: the checkpoint thread passes again until it has them all,
    then waits for the writer's next transaction to start the WAL over -- some 85 times over
    these 3,000 commits. Without that the WAL is started over only when it has grown to the
    fallback's 2,000 pages (4 or 5 times)."""
    _, restarts, _ = _write_steadily(store_path, monkeypatch, 0.0005, 3000)
    assert restarts >= 20, restarts


def test_a_writer_faster_than_the_checkpoints_makes_the_commits_checkpoint_again(store_path, monkeypatch):
    """Commits back to back, faster than the passes catch up: once the WAL is past
    WAL_AUTOCHECKPOINT_PAGES the commits checkpoint again (as without the thread), so the WAL
    stays about that size instead of growing by every commit."""
    sizes, _, checkpointer = _write_steadily(store_path, monkeypatch, 0.0, 6000)
    assert checkpointer.fallbacks >= 1
    assert max(sizes) < 36 * 1024 * 1024, sizes  # 2,000 pages are 8 MB; unchecked, 70 MB and growing


def test_checkpoints_aside_nest_and_come_back_when_the_last_block_ends(store_path):
    with Simulator(store_path) as sim:
        sim.list_webhooks()
        store = sim.store

        def setting() -> int:
            return store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

        with store.checkpoints_aside():
            first = store._checkpointer
            with store.checkpoints_aside():
                assert store._checkpointer is first and setting() == 0
            assert store._checkpointer is first and setting() == 0
        assert store._checkpointer is None and setting() == 2000
    assert not first.running()  # closing the store stops it


def test_the_store_is_opened_through_sqlalchemy_with_the_pysqlite_recipe(store_path):
    """Issue 13: the connect hook configures the connection (WAL, synchronous=NORMAL, the busy
    timeout, pysqlite's own transactions off), the begin hook takes the write lock up front."""
    from simlib.core.store.alchemy import sqlite_engine

    Store(store_path, busy_timeout=1.5).check()
    seen: list[tuple[object, ...]] = []

    def configure(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA busy_timeout=300")
        seen.append((conn.isolation_level, conn.execute("PRAGMA journal_mode").fetchone()[0]))

    engine = sqlite_engine(str(store_path), timeout=0.3, configure=configure)
    holder = sqlite3.connect(store_path, isolation_level=None)
    try:
        with engine.connect() as core:
            assert seen == [(None, "wal")]
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(Exception, match="locked"):
                with core.begin():  # BEGIN IMMEDIATE: waits for the lock at once, not at the first write
                    pass
            holder.execute("ROLLBACK")
            with core.begin():
                assert core.connection.driver_connection.in_transaction
                assert core.exec_driver_sql("SELECT COUNT(*) FROM webhooks").scalar() == 0
                with pytest.raises(sqlite3.OperationalError, match="locked"):  # the lock is ours
                    holder.execute("BEGIN IMMEDIATE")
    finally:
        holder.close()
        engine.dispose()
    with Simulator(store_path) as s:
        s.list_webhooks()
        conn = s.store._conn
        assert conn.isolation_level is None and not conn.in_transaction
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_a_path_that_looks_like_a_url_names_that_file(tmp_path):
    """The path goes to sqlite3 as it is (an SQLAlchemy URL would decode %20 and cut at ?)."""
    folder = tmp_path / "we ird#%20dir?"
    folder.mkdir()
    path = folder / "st @%41.sqlite3"
    with Simulator(path) as s:
        wh = s.create_webhook("a", "http://127.0.0.1:9/x", [APP])
        r = s.simulate(wh, APP)
        assert [len(f) for f in s.store.history_frames()] == [1]
        assert s.history()["id"].tolist() == [r.history_id]
    assert sorted(p.name for p in folder.iterdir()) == ["st @%41.sqlite3", "st @%41.sqlite3.key"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["we ird#%20dir?"]  # nothing made beside it


def test_store_file_is_owner_only(tmp_path):
    path = tmp_path / "new" / "dir" / "store.sqlite3"
    with Simulator(path) as s:
        s.create_webhook("Secretive", "https://example.com/x", [APP])
        # The WAL holds the secret too while the store is open.
        wal = path.parent / (path.name + "-wal")
        assert wal.exists()
        assert stat.S_IMODE(os.stat(wal).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_simlib_home_sets_the_default_location(tmp_path, monkeypatch):
    home = tmp_path / "simlib-home"
    monkeypatch.setenv("SIMLIB_HOME", str(home))
    with Simulator() as s:
        assert s.store.path == home / "simlib.sqlite3"
        wh = s.create_webhook("In home", "https://example.com/x", [APP])
    assert (home / "simlib.sqlite3").is_file()
    store = Store(home / "simlib.sqlite3")
    try:
        assert [w.id for w in store.list_webhooks()] == [wh.id]
    finally:
        store.close()


def test_explicit_path_beats_simlib_home(tmp_path, monkeypatch):
    home = tmp_path / "env-home"
    explicit = tmp_path / "explicit.sqlite3"
    monkeypatch.setenv("SIMLIB_HOME", str(home))
    with Simulator(explicit) as s:
        assert s.store.path == explicit
        s.create_webhook("Explicit", "https://example.com/x", [APP])
    assert explicit.is_file()
    assert not (home / "simlib.sqlite3").exists()


def test_newer_schema_version_is_refused(store_path):
    with Simulator(store_path) as s:
        s.create_webhook("Old", "https://example.com/x", [APP])
    conn = sqlite3.connect(store_path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with Simulator(store_path) as s:
        with pytest.raises(StoreVersionError) as exc:
            s.list_webhooks()
    assert "99" in str(exc.value) and "newer" in str(exc.value)


def test_corrupt_file_is_store_unavailable_with_a_readable_message(store_path):
    store_path.write_bytes(b"this is not a database, just some bytes\x00\x01\x02" * 200)
    with Simulator(store_path) as s:
        with pytest.raises(StoreUnavailable) as exc:
            s.list_webhooks()
    message = str(exc.value)
    assert str(store_path) in message
    assert "not a simlib store" in message
    assert "\n" not in message and "Traceback" not in message


def test_send_on_an_unusable_store_is_service_unavailable(store_path):
    with Receiver() as rx, Simulator(store_path) as s:
        p = s.preview(s.create_webhook("W", rx.url, [APP]), APP)
    store_path.write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        (store_path.parent / (store_path.name + suffix)).unlink(missing_ok=True)
    with Simulator(store_path) as s:
        r = s.send(p)
    assert r.result == "Failed"
    assert r.error == "Service unavailable"
    assert r.error_status == 503
    assert r.recorded is False


# -- history -------------------------------------------------------------------------------------------


@pytest.fixture
def clocked(store_path):
    now = [T0]
    s = Simulator(store_path, clock=lambda: now[0])
    yield s, now
    s.close()


@pytest.fixture
def four_attempts(clocked):
    """Delivered (A, APP), Failed 500 (B, SHOT), Network error (C, ACT), Webhook not found (D, APP)."""
    s, now = clocked
    with Receiver() as ok, Receiver(status=500) as bad:
        a = s.create_webhook("A", ok.url, ALL_EVENTS)
        b = s.create_webhook("B", bad.url, ALL_EVENTS)
        c = s.create_webhook("C", f"http://127.0.0.1:{free_port()}/x", ALL_EVENTS)
        d = s.create_webhook("D", ok.url, ALL_EVENTS)
        results = []
        for i, (wh, event) in enumerate([(a, APP), (b, SHOT), (c, ACT)]):
            now[0] = T0 + i * 1000
            results.append(s.simulate(wh, event))
        now[0] = T0 + 3000
        p = s.preview(d, APP)
        s.delete_webhook(d)
        results.append(s.send(p))
    assert [r.error for r in results] == [None, None, "Network error", "Webhook not found"]
    return s, (a, b, c, d), results


def ids(frame: pd.DataFrame) -> list[str]:
    return frame["webhook_id"].tolist()


def test_history_columns_and_dtypes(four_attempts):
    s, hooks, results = four_attempts
    frame = s.history()
    assert list(frame.columns) == HISTORY_COLUMNS
    assert len(frame) == 4
    assert isinstance(frame["sent_at"].dtype, pd.DatetimeTZDtype) and str(frame["sent_at"].dt.tz) == "UTC"
    assert str(frame["http_status"].dtype) == "Int64"
    assert str(frame["error_status"].dtype) == "Int64"
    assert frame["latency_ms"].dtype == "float64"
    assert frame["sent_at"].tolist() == [pd.Timestamp(T0 + i * 1000, unit="ms", tz="UTC") for i in range(4)]
    assert frame["http_status"].tolist()[:2] == [200, 500]
    assert frame["http_status"].isna().tolist() == [False, False, True, True]
    assert frame["latency_ms"].isna().tolist() == [False, False, True, True]
    assert frame["signature"].tolist()[0] == results[0].signature
    assert frame["signature_timestamp"].tolist()[0] == str(T0)


def test_history_filter_by_webhook(four_attempts):
    s, (a, b, c, d), _ = four_attempts
    assert ids(s.history(webhook=a.id)) == [a.id]
    assert ids(s.history(webhook=a)) == [a.id]
    assert ids(s.history(webhook=[a.id, c.id])) == [a.id, c.id]
    assert ids(s.history(webhook=d.id)) == [d.id]  # deleted webhooks keep their history
    assert s.history(webhook="wh_nosuch").empty


def test_history_filter_by_event_type(four_attempts):
    s, (a, b, c, d), _ = four_attempts
    assert ids(s.history(event_type=SHOT)) == [b.id]
    assert ids(s.history(event_type=APP)) == [a.id, d.id]
    assert ids(s.history(event_type=[SHOT, ACT])) == [b.id, c.id]


def test_history_filter_by_result_and_error_name(four_attempts):
    s, (a, b, c, d), _ = four_attempts
    assert ids(s.history(result="Delivered")) == [a.id]
    assert ids(s.history(result="Failed")) == [b.id, c.id, d.id]
    assert ids(s.history(result="Network error")) == [c.id]
    assert ids(s.history(result="Webhook not found")) == [d.id]
    assert ids(s.history(result=["Delivered", "Network error"])) == [a.id, c.id]
    assert s.history(result="Service unavailable").empty
    assert ids(s.history(result="delivered")) == [a.id]  # any case, as typed on a command line
    assert ids(s.history(result=[" network ERROR", "webhook not found"])) == [c.id, d.id]
    with pytest.raises(ValidationError) as caught:  # a typo is said, not an empty answer
        s.history(result="Delivred")
    assert str(caught.value) == ("result: 'Delivred' is not a result: one of Delivered, Failed, Webhook not found, "
                                 "Event type not registered, Service unavailable, Network error, Simulation failed")
    code = main(["--store", str(s.store.path), "history", "--result", "Delivred"], stdout=io.StringIO(), stderr=io.StringIO())
    assert code == 2


def test_history_filter_by_time(four_attempts):
    s, (a, b, c, d), _ = four_attempts
    assert ids(s.history(since=T0 + 1000)) == [b.id, c.id, d.id]
    assert ids(s.history(until=T0 + 1000)) == [a.id, b.id]
    assert ids(s.history(since=T0 + 1000, until=T0 + 2000)) == [b.id, c.id]
    since_dt = datetime.fromtimestamp((T0 + 2000) / 1000, tz=UTC)
    assert ids(s.history(since=since_dt)) == [c.id, d.id]
    assert ids(s.history(since=since_dt.isoformat().replace("+00:00", "Z"))) == [c.id, d.id]
    assert ids(s.history(until=pd.Timestamp(T0, unit="ms", tz="UTC"))) == [a.id]


def test_history_limit_keeps_the_newest_in_order(four_attempts):
    s, (a, b, c, d), _ = four_attempts
    assert ids(s.history(limit=2)) == [c.id, d.id]
    assert ids(s.history(limit=10)) == [a.id, b.id, c.id, d.id]
    assert s.history(limit=0).empty
    assert ids(s.history(result="Failed", limit=1)) == [d.id]


def test_history_is_in_insertion_order_when_the_clock_goes_backwards(clocked):
    s, now = clocked
    with Receiver() as rx:
        wh = s.create_webhook("Clock", rx.url, ALL_EVENTS)
        sent = []
        for t in (T0 + 5000, T0 + 1000, T0 + 3000, T0 - 60_000):
            now[0] = t
            sent.append(s.simulate(wh, APP).simulation_id)
    frame = s.history()
    assert frame["simulation_id"].tolist() == sent
    assert frame["sent_at"].tolist() == [pd.Timestamp(t, unit="ms", tz="UTC") for t in (T0 + 5000, T0 + 1000, T0 + 3000, T0 - 60_000)]
    assert frame["id"].is_monotonic_increasing
    assert s.history(limit=2)["simulation_id"].tolist() == sent[2:]


def test_history_row_has_the_exact_body_and_headers(four_attempts):
    s, _, results = four_attempts
    row = s.history_row(results[0].history_id)
    assert row["request_body"] == results[0].payload.encode("utf-8")
    assert row["request_headers"]["x-webhook-signature"] == results[0].signature
    assert row["response_truncated"] is False


# -- export -----------------------------------------------------------------------------------------------


def test_export_csv_round_trips(four_attempts, tmp_path):
    s, _, results = four_attempts
    frame = s.history()
    out = s.export_history(tmp_path / "history.csv")
    back = pd.read_csv(out, dtype={"http_status": "Int64", "error_status": "Int64"})
    assert list(back.columns) == HISTORY_COLUMNS
    assert back["simulation_id"].tolist() == frame["simulation_id"].tolist()
    assert back["payload"].tolist() == frame["payload"].tolist()
    assert back["http_status"].tolist()[:2] == [200, 500] and back["http_status"].isna().sum() == 2
    assert pd.to_datetime(back["sent_at"], utc=True).tolist() == frame["sent_at"].tolist()
    assert back["latency_ms"].tolist()[:2] == pytest.approx(frame["latency_ms"].tolist()[:2])


def test_export_json_round_trips(four_attempts, tmp_path):
    s, _, _ = four_attempts
    frame = s.history()
    out = s.export_history(tmp_path / "history.json")
    records = json.loads(out.read_text(encoding="utf-8"))
    assert len(records) == 4
    assert [r["simulation_id"] for r in records] == frame["simulation_id"].tolist()
    assert [r["payload"] for r in records] == frame["payload"].tolist()
    assert [r["http_status"] for r in records] == [200, 500, None, None]
    assert [r["error"] for r in records] == [None, None, "Network error", "Webhook not found"]
    assert [pd.Timestamp(r["sent_at"]) for r in records] == frame["sent_at"].tolist()


def test_export_parquet_round_trips(four_attempts, tmp_path):
    pytest.importorskip("pyarrow")
    s, _, _ = four_attempts
    frame = s.history()
    out = s.export_history(tmp_path / "history.parquet")
    back = pd.read_parquet(out)
    assert list(back.columns) == HISTORY_COLUMNS
    assert str(back["http_status"].dtype) == "Int64"
    assert str(back["sent_at"].dt.tz) == "UTC"
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_export_with_filters_and_unknown_format(four_attempts, tmp_path):
    from simlib import ValidationError

    s, (a, *_), _ = four_attempts
    out = s.export_history(tmp_path / "delivered.csv", result="Delivered")
    assert pd.read_csv(out)["webhook_id"].tolist() == [a.id]
    with pytest.raises(ValidationError) as exc:
        s.export_history(tmp_path / "history.xlsx")
    assert exc.value.field == "format"
