"""Schema versions and forward migrations: a store made by the previous release
(tests/fixtures/store-v1.sqlite3: schema version 1, two webhooks, five history rows including a
replay and error rows) opens and upgrades in place; a store from a newer simlib is refused."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest

import simlib.core.store.sqlite as store_sqlite
from simlib import Simulator, StoreUnavailable, StoreVersionError
from simlib.core.store.schema import BASE_VERSION, MIGRATIONS, SCHEMA_VERSION, AddColumn, Migration
from simlib.core.store.sqlite import Store
from simlib.records import ERROR_STATUS
from tests.helpers import ALL_EVENTS

README_CASES = {"store-previous-release", "store-version-row-missing"}

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store-v1.sqlite3"


def read_only(path: Path) -> sqlite3.Connection:
    """Read the fixture without writing anything next to it (no -wal / -shm)."""
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def table_columns(path: Path, table: str = "history") -> dict[str, tuple[str, int, int]]:
    conn = sqlite3.connect(path)
    try:
        return {row[1]: (row[2], row[3], row[5]) for row in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()


def as_history_row(raw: dict) -> dict:
    """A raw v1 row as history_row() gives it: headers parsed, the flag a bool."""
    row = dict(raw)
    row["request_headers"] = json.loads(row["request_headers"])
    row["response_headers"] = json.loads(row["response_headers"])
    row["response_truncated"] = bool(row["response_truncated"])
    row.update(user=None, host=None)  # schema version 4: not known for rows recorded before it
    return row


@pytest.fixture(scope="module")
def v1_contents() -> dict:
    """What the previous release wrote, read straight from the fixture file."""
    conn = read_only(FIXTURE)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        history = [as_history_row(dict(r)) for r in conn.execute("SELECT * FROM history ORDER BY id")]
        webhooks = [dict(r) for r in conn.execute("SELECT * FROM webhooks ORDER BY position")]
    finally:
        conn.close()
    return {"history": history, "webhooks": webhooks}


@pytest.fixture
def v1_store(tmp_path) -> Path:
    """A copy of the release fixture (never the fixture itself: opening upgrades the file)."""
    path = tmp_path / "old" / "simlib.sqlite3"
    path.parent.mkdir(mode=0o700)
    shutil.copyfile(FIXTURE, path)
    return path


def opened(path: Path) -> None:
    """Open the store once (creating or upgrading it) and close it again."""
    store = Store(path)
    try:
        store.check()
    finally:
        store.close()


@pytest.fixture
def fresh_store(tmp_path) -> Path:
    path = tmp_path / "fresh.sqlite3"
    opened(path)
    return path


def test_the_fixture_is_a_version_1_store(v1_contents):
    assert len(v1_contents["webhooks"]) == 2 and len(v1_contents["history"]) == 5
    assert "error_status" in v1_contents["history"][0]
    assert BASE_VERSION == 1 < SCHEMA_VERSION == MIGRATIONS[-1].version
    versions = [m.version for m in MIGRATIONS]
    # Increasing, not necessarily consecutive: branches take numbers ahead (3 is another's).
    assert versions == sorted(set(versions)) and versions[0] > BASE_VERSION


def test_a_v1_store_upgrades_in_place_and_keeps_everything(v1_store, v1_contents):
    with Simulator(v1_store) as s:
        hooks = s.list_webhooks()
        frame = s.history()
        rows = [s.history_row(i) for i in frame["id"]]
    assert user_version(v1_store) == SCHEMA_VERSION
    # Webhooks, in their order, with their secrets (current and previous, with its expiry).
    old_hooks = v1_contents["webhooks"]
    assert [w.id for w in hooks] == [h["id"] for h in old_hooks] == ["wh_fixture1", "wh_fixture2"]
    for w, h in zip(hooks, old_hooks):
        assert (w.name, w.url, w.created_ms, w.updated_ms) == (h["name"], h["url"], h["created_ms"], h["updated_ms"])
        assert w.secret.reveal() == h["secret"]
        assert (w.previous_secret.reveal() if w.previous_secret else None) == h["previous_secret"]
        assert w.previous_secret_expires_ms == h["previous_secret_expires_ms"]
    assert hooks[0].previous_secret is not None
    # Every history row, with its id, values and exact body; error_status now derived.
    old = v1_contents["history"]
    assert frame["id"].tolist() == [r["id"] for r in old] == [1, 2, 3, 4, 5]
    for row, o in zip(rows, old):
        assert list(row) == list(o) and row == o, row["id"]
    assert frame["error_status"].tolist() == [pd.NA, 400, 404, pd.NA, pd.NA]
    assert [o["error_status"] for o in old] == [None, 400, 404, None, None]
    assert [ERROR_STATUS.get(e) if e else None for e in frame["error"].fillna("").tolist()] == [None, 400, 404, None, None]
    assert frame["replay_of"].tolist() == [pd.NA, pd.NA, pd.NA, 1, pd.NA]
    assert frame["payload"].tolist() == [o["request_body"].decode("utf-8") for o in old]
    assert frame["signature"].tolist()[0] == old[0]["request_headers"]["x-webhook-signature"]


def test_the_upgraded_table_is_the_one_a_new_store_gets(v1_store, fresh_store):
    opened(v1_store)
    assert "error_status" not in table_columns(v1_store)
    assert table_columns(v1_store) == table_columns(fresh_store)
    assert table_columns(v1_store, "webhooks") == table_columns(fresh_store, "webhooks")
    assert user_version(v1_store) == user_version(fresh_store) == SCHEMA_VERSION


def test_the_upgraded_store_takes_new_attempts(v1_store):
    with Simulator(v1_store) as s:
        r = s.simulate("wh_fixture2", "desktop.screenshot_tracking.captured")  # port 9: refused
        assert r.recorded and r.history_id == 6 and r.error == "Network error"
        wh = s.create_webhook("New", "http://127.0.0.1:9/x", ALL_EVENTS)
        assert [w.id for w in s.list_webhooks()] == ["wh_fixture1", "wh_fixture2", wh.id]
        assert s.history()["id"].tolist() == [1, 2, 3, 4, 5, 6]
        assert s.history(result="Event type not registered")["error_status"].tolist() == [400]


def test_opening_an_upgraded_store_again_changes_nothing(v1_store):
    opened(v1_store)  # upgraded; closing the last connection checkpoints into the main file
    before = v1_store.read_bytes()
    with Simulator(v1_store) as s:
        s.store.check()
        s.history()
        s.list_webhooks()
        assert (v1_store.parent / (v1_store.name + "-wal")).stat().st_size == 0  # nothing written
    assert v1_store.read_bytes() == before
    assert user_version(v1_store) == SCHEMA_VERSION


def test_the_upgrade_without_native_drop_column(v1_store, fresh_store, v1_contents, monkeypatch):
    """SQLite < 3.35 has no ALTER TABLE DROP COLUMN: the table is rebuilt, with the same result."""
    monkeypatch.setattr(store_sqlite, "NATIVE_DROP_COLUMN", False)
    with Simulator(v1_store) as s:
        rows = [s.history_row(i) for i in range(1, 6)]
        assert s.history()["error_status"].tolist() == [pd.NA, 400, 404, pd.NA, pd.NA]
    assert rows == v1_contents["history"]
    assert table_columns(v1_store) == table_columns(fresh_store)


def test_two_processes_opening_an_old_store_at_once_upgrade_it_once(v1_store, v1_contents):
    stores = [Store(v1_store) for _ in range(4)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def open_it(store: Store) -> None:
        start.wait()
        try:
            store.check()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it, args=(st,)) for st in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [len(st.history_frame()) for st in stores] == [5] * len(stores)
    for st in stores:
        st.close()
    assert user_version(v1_store) == SCHEMA_VERSION


def test_a_failed_upgrade_leaves_the_old_store_as_it_was(v1_store, v1_contents, monkeypatch):
    broken = (*MIGRATIONS, Migration(SCHEMA_VERSION + 1, "a step that cannot run", (AddColumn("no_such_table", "x", "int"),)))
    monkeypatch.setattr(store_sqlite, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(store_sqlite, "pending_migrations", lambda v: tuple(m for m in broken if m.version > v))
    with pytest.raises(StoreUnavailable) as exc:
        Store(v1_store).check()
    message = str(exc.value)
    assert "cannot upgrade" in message and "from schema version 1" in message and str(v1_store) in message
    assert user_version(v1_store) == 1
    assert "error_status" in table_columns(v1_store)  # the earlier step was rolled back too


def test_a_store_from_a_newer_simlib_is_refused_and_left_alone(fresh_store):
    future = SCHEMA_VERSION + 1
    conn = sqlite3.connect(fresh_store)
    conn.execute(f"PRAGMA user_version={future}")
    conn.execute("ALTER TABLE history ADD COLUMN from_the_future TEXT")
    conn.close()
    columns = table_columns(fresh_store)
    with Simulator(fresh_store) as s:
        with pytest.raises(StoreVersionError) as exc:
            s.list_webhooks()
    message = str(exc.value)
    assert str(future) in message and "newer" in message and str(fresh_store) in message
    assert user_version(fresh_store) == future
    assert table_columns(fresh_store) == columns


# -- issue 13: the version table (simlib_schema), as in PostgreSQL ------------------------------

FIXTURE_V4 = FIXTURE.with_name("store-v4.sqlite3")


def version_rows(path: Path) -> list[tuple[int]] | None:
    """The rows of simlib_schema (None: no such table)."""
    conn = sqlite3.connect(path)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='simlib_schema'").fetchone():
            return None
        return conn.execute("SELECT version FROM simlib_schema").fetchall()
    finally:
        conn.close()


@pytest.fixture
def v4_store(tmp_path) -> Path:
    """A copy of tests/fixtures/store-v4.sqlite3 and its key file: made by the previous release
    (main at 9081ee9, schema version 4 in PRAGMA user_version only, no simlib_schema), two
    webhooks with encrypted secrets, two attempts recorded by SIMLIB_USER=alice."""
    path = tmp_path / "v4" / "simlib.sqlite3"
    path.parent.mkdir(mode=0o700)
    shutil.copyfile(FIXTURE_V4, path)
    shutil.copyfile(FIXTURE_V4.with_name(FIXTURE_V4.name + ".key"), Path(f"{path}.key"))
    for p in (path, Path(f"{path}.key")):
        p.chmod(0o600)
    return path


def test_the_v4_fixture_is_a_store_of_the_previous_release():
    conn = read_only(FIXTURE_V4)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert names == {"webhooks", "history"}
    finally:
        conn.close()


def test_a_new_store_records_its_version_in_simlib_schema_and_user_version(fresh_store):
    assert version_rows(fresh_store) == [(SCHEMA_VERSION,)]
    assert user_version(fresh_store) == SCHEMA_VERSION  # what the previous release reads


def test_a_v4_store_of_the_previous_release_upgrades_in_place(v4_store, fresh_store):
    before = table_columns(v4_store)
    with Simulator(v4_store) as s:
        hooks = s.list_webhooks()
        frame = s.history()
        r = s.simulate(hooks[0].id, "desktop.app_tracking.captured")  # port 9: refused, recorded
    assert [w.name for w in hooks] == ["alpha", "beta"]
    assert [w.secret.reveal() for w in hooks] == ["whsec_fixture_alpha_0123456789", "whsec_fixture_beta_0123456789"]
    assert frame["id"].tolist() == [1, 2] and frame["user"].tolist() == ["alice", "alice"]
    assert r.recorded and r.history_id == 3
    assert version_rows(v4_store) == [(SCHEMA_VERSION,)] and user_version(v4_store) == SCHEMA_VERSION
    assert table_columns(v4_store) == before == table_columns(fresh_store)
    assert table_columns(v4_store, "simlib_schema") == table_columns(fresh_store, "simlib_schema")


def test_a_v1_store_gets_the_version_table_too(v1_store, fresh_store):
    opened(v1_store)
    assert version_rows(v1_store) == [(SCHEMA_VERSION,)]
    assert table_columns(v1_store, "simlib_schema") == table_columns(fresh_store, "simlib_schema")


def test_a_store_from_a_newer_release_by_its_version_table_is_refused_untouched(fresh_store):
    future = SCHEMA_VERSION + 1
    conn = sqlite3.connect(fresh_store)
    conn.execute("UPDATE simlib_schema SET version=?", (future,))
    conn.commit()
    conn.close()
    before = fresh_store.read_bytes()
    with Simulator(fresh_store) as s:
        with pytest.raises(StoreVersionError) as exc:
            s.list_webhooks()
    message = str(exc.value)
    assert f"schema version {future}, newer than this simlib understands ({SCHEMA_VERSION})" in message
    assert str(fresh_store) in message and "upgrade simlib" in message and "\n" not in message
    assert fresh_store.read_bytes() == before and version_rows(fresh_store) == [(future,)]


def test_a_version_table_without_its_row_is_refused_untouched(fresh_store):
    conn = sqlite3.connect(fresh_store)
    conn.execute("DELETE FROM simlib_schema")
    conn.commit()
    conn.close()
    before = fresh_store.read_bytes()
    with pytest.raises(StoreUnavailable, match="simlib_schema table without its one version row"):
        Store(fresh_store).check()
    assert fresh_store.read_bytes() == before
