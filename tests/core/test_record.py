"""Rule 4: one definition of the history record (simlib.records.Attempt). The store's table, its
SQL, the dtypes of history(), the exports, history_row() and SimulationResult.to_dict() (the
CLI's --json) are derived from it; derived values are not stored; a new field shows up in all."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields

import pandas as pd
import pytest

from simlib import Simulator
from simlib.core.classify import make_history_row, result_from_row
from simlib.core.delivery.http import Outcome
from simlib.core.store import schema
from simlib.core.store.alchemy import apply_step
from simlib.core.store.export import EXPORT_COLUMNS
from simlib.core.store.sqlite import HISTORY_COLUMNS, HISTORY_SQL, history_sql
from simlib.receiver import Receiver
from simlib.records import (
    ERROR_STATUS,
    Attempt,
    SimulationResult,
    column,
    record_fields,
    record_view,
)
from tests.helpers import ALL_EVENTS, APP, free_port

# The public shapes, as the previous release had them: derived now, but they must not change.
FRAME_COLUMNS_V1 = [
    "id", "simulation_id", "sent_at", "webhook_id", "webhook_name", "url", "event_type", "result",
    "http_status", "latency_ms", "error", "error_status", "detail", "signature", "signature_timestamp",
    "event_id", "request_headers", "payload", "response_headers", "response_body", "response_truncated",
    "replay_of",
]
TO_DICT_KEYS_V1 = [
    "simulation_id", "webhook_id", "webhook_name", "url", "event_type", "event_id", "result", "http_status",
    "latency_ms", "error", "error_status", "detail", "request_headers", "payload", "response_body",
    "response_truncated", "response_headers", "sent_at_ms", "recorded", "history_id", "error_detail", "sent_at",
]
HISTORY_ROW_KEYS_V1 = [
    "id", "simulation_id", "sent_at_ms", "webhook_id", "webhook_name", "url", "event_type", "result",
    "http_status", "latency_ms", "error", "error_status", "detail", "event_id", "request_headers",
    "request_body", "response_headers", "response_body", "response_truncated", "replay_of",
]
RECORD_FIELDS = [f.name for f in fields(Attempt)]
# Schema version 4 (a shared store) adds who sent an attempt and from where, at the end of each
# shape: what the previous release had stays where it was.
SENDER_V4 = ["user", "host"]


def table_columns(conn: sqlite3.Connection, table: str = "history") -> dict[str, tuple[str, int, int]]:
    """name -> (type, notnull, pk) of a table's columns."""
    return {row[1]: (row[2], row[3], row[5]) for row in conn.execute(f"PRAGMA table_info({table})")}


@pytest.fixture
def attempts(store_path):
    """A Delivered, a Failed 500, a Network error and a Webhook not found, recorded."""
    with Simulator(store_path) as s, Receiver() as ok, Receiver(status=500) as bad:
        a = s.create_webhook("A", ok.url, ALL_EVENTS)
        b = s.create_webhook("B", bad.url, ALL_EVENTS)
        c = s.create_webhook("C", f"http://127.0.0.1:{free_port()}/x", ALL_EVENTS)
        d = s.create_webhook("D", ok.url, ALL_EVENTS)
        results = [s.simulate(a, APP), s.simulate(b, APP), s.simulate(c, APP)]
        p = s.preview(d, APP)
        s.delete_webhook(d)
        results.append(s.send(p))
        assert [r.error for r in results] == [None, None, "Network error", "Webhook not found"]
        yield s, results


# -- every view is the record's ---------------------------------------------------------------------


def test_the_table_is_the_key_plus_the_record_fields(attempts, store_path):
    conn = sqlite3.connect(store_path)
    try:
        cols = table_columns(conn)
    finally:
        conn.close()
    assert list(cols) == ["id", *RECORD_FIELDS]
    assert [s.name for s in schema.stored_fields()] == RECORD_FIELDS
    assert cols["id"] == ("INTEGER", 0, 1)
    # Types and NOT NULL come from the annotations: `| None` is the only nullable.
    assert cols["http_status"] == ("INTEGER", 0, 0) and cols["simulation_id"] == ("TEXT", 1, 0)
    assert cols["latency_ms"] == ("REAL", 0, 0) and cols["request_body"] == ("BLOB", 1, 0)
    assert cols["response_truncated"] == ("INTEGER", 1, 0) and cols["sent_at_ms"] == ("INTEGER", 1, 0)


def test_derived_values_are_not_stored(attempts, store_path):
    conn = sqlite3.connect(store_path)
    try:
        stored = set(table_columns(conn))
    finally:
        conn.close()
    for derived in ("error_status", "signature", "signature_timestamp", "payload", "recorded"):
        assert derived not in stored
    assert set(HISTORY_COLUMNS) - stored == {"sent_at", "error_status", "signature", "signature_timestamp", "payload"}


def test_insert_and_selects_name_exactly_the_record_fields():
    insert = HISTORY_SQL.insert
    assert insert.startswith(f"INSERT INTO history ({', '.join(RECORD_FIELDS)}) VALUES (")
    assert insert.count("?") == len(RECORD_FIELDS)
    assert HISTORY_SQL.row_keys == tuple(HISTORY_ROW_KEYS_V1 + SENDER_V4)
    for name in RECORD_FIELDS:
        assert name in HISTORY_SQL.select_row
    assert "error_status" not in insert and "CASE error" in HISTORY_SQL.select_frame


def test_history_columns_dtypes_and_export_columns_derive_from_the_record(attempts):
    s, _ = attempts
    frame = s.history()
    expected = ["id", *(item.key for item in record_view(Attempt, "frame"))]
    assert list(frame.columns) == HISTORY_COLUMNS == expected == FRAME_COLUMNS_V1 + SENDER_V4
    assert list(EXPORT_COLUMNS) == HISTORY_COLUMNS
    for name, dtype in schema.frame_dtypes().items():
        if name not in schema.time_columns():
            assert str(frame[name].dtype) == dtype, name
    assert schema.frame_dtypes()["error_status"] == "Int64" and schema.frame_dtypes()["replay_of"] == "Int64"
    assert isinstance(frame["sent_at"].dtype, pd.DatetimeTZDtype) and schema.time_columns() == ("sent_at",)


def test_exports_write_the_export_columns(attempts, tmp_path):
    s, _ = attempts
    assert list(pd.read_csv(s.export_history(tmp_path / "h.csv")).columns) == list(EXPORT_COLUMNS)
    records = json.loads(s.export_history(tmp_path / "h.json").read_text(encoding="utf-8"))
    assert all(list(r) == list(EXPORT_COLUMNS) for r in records)


def test_to_dict_and_history_row_derive_from_the_record(attempts):
    s, results = attempts
    json_keys = [item.key for item in record_view(Attempt, "json")]
    for r in results:
        d = r.to_dict()
        assert list(d) == [*json_keys, "recorded", "history_id", "error_detail", "sent_at"]
        v1 = TO_DICT_KEYS_V1[: TO_DICT_KEYS_V1.index("recorded")]
        assert list(d) == [*v1, *SENDER_V4, *TO_DICT_KEYS_V1[len(v1):]]
        json.dumps(d)
        assert list(s.history_row(r.history_id)) == HISTORY_ROW_KEYS_V1 + SENDER_V4
    # SimulationResult is the record plus where it was recorded: every field, by inheritance.
    assert [f.name for f in fields(SimulationResult)] == [*RECORD_FIELDS, "history_id"]


def test_derived_values_agree_in_the_result_the_frame_and_the_row(attempts):
    s, results = attempts
    frame = s.history()
    derived = [item for view in ("frame", "json", "row") for item in record_view(Attempt, view) if item.derived]
    assert {item.key for item in derived} == {"error_status", "signature", "signature_timestamp", "payload"}
    for r in results:
        frame_row = frame[frame["id"] == r.history_id].iloc[0]
        row = s.history_row(r.history_id)
        for item in derived:
            assert item.derived is not None
            expected = item.derived.compute(getattr(r, item.source))
            assert getattr(r, item.attr) == expected, item.key
            if item.key in frame.columns:
                got = frame_row[item.key]
                assert (None if got is pd.NA or (isinstance(got, float) and pd.isna(got)) else got) == expected
            if item.key in row:
                assert row[item.key] == expected
    assert [r.error_status for r in results] == [None, None, None, 404]
    assert frame["error_status"].tolist()[3] == ERROR_STATUS["Webhook not found"] == 404
    assert all(r.recorded is (r.history_id is not None) for r in results)


def test_payload_is_text_on_the_result_and_parsed_on_the_preview(attempts):
    s, results = attempts
    r = results[0]
    assert isinstance(r.request_body, bytes) and r.payload == r.request_body.decode("utf-8")
    assert s.history_row(r.history_id)["request_body"] == r.request_body
    p = s.preview(s.list_webhooks()[0], APP)
    assert isinstance(p.payload, dict) and p.text.encode("utf-8") == p.body


def test_result_of_an_unrecorded_attempt(store_path):
    with Simulator(store_path) as s:
        p = s.preview(s.create_webhook("N", "http://127.0.0.1:9/x", ALL_EVENTS), APP)
    row = make_history_row(p, "sim-1", None, {}, 1_769_000_000_000, Outcome(error="Service unavailable", detail="down"))
    r = result_from_row(row, note=" (not recorded in history)")
    assert r.recorded is False and r.history_id is None
    assert r.detail == "down (not recorded in history)" and row.detail == "down"
    assert r.error_status == 503 and r.to_dict()["error_status"] == 503 and r.to_dict()["recorded"] is False
    assert result_from_row(row, history_id=7).recorded is True


def test_records_built_without_init_are_the_dataclass_records(store_path):
    # make_history_row and SimulationResult.of skip the dataclass __init__ (issue 12): what they
    # build must be what the constructor builds, with every field of the record and no other.
    with Simulator(store_path) as s:
        p = s.preview(s.create_webhook("F", "http://127.0.0.1:9/x", ALL_EVENTS), APP)
    outcome = Outcome(http_status=201, latency_ms=2.5, response_body="ok", detail="Delivered: 201",
                      response_headers={"a": "b"}, response_truncated=True)
    row = make_history_row(p, "sim-2", None, {"h": "v"}, 1_769_000_000_000, outcome, replay_of=4)
    assert list(vars(row)) == RECORD_FIELDS
    rebuilt = Attempt(**{name: getattr(row, name) for name in RECORD_FIELDS})
    assert row == rebuilt
    assert row.result == "Delivered" and row.replay_of == 4 and row.user
    r = result_from_row(row, history_id=9, note=" (x)")
    assert type(r) is SimulationResult and list(vars(r)) == [*RECORD_FIELDS, "history_id"]
    assert r == SimulationResult(**{**vars(row), "detail": "Delivered: 201 (x)", "history_id": 9})
    assert result_from_row(r, history_id=10) == SimulationResult(**{**vars(r), "history_id": 10})
    w = wider(row, 3)
    assert SimulationResult.of(w, history_id=1) == SimulationResult(**vars(row), history_id=1)
    with pytest.raises(AttributeError):
        row.detail = "changed"  # type: ignore[misc]


# -- adding a column is one field (plus one migration step) --------------------------------------------


@dataclass(frozen=True)
class Wider(Attempt):
    """The record with one more field, as the next release might add it."""

    attempt_no: int | None = field(default=None, metadata=column(json_after="event_id"))


def wider(row: Attempt, attempt_no: int) -> Wider:
    return Wider(**{f.name: getattr(row, f.name) for f in fields(Attempt)}, attempt_no=attempt_no)


def test_a_new_field_appears_in_the_table_the_sql_the_frame_and_to_dict(attempts):
    s, results = attempts
    sql = history_sql(Wider)
    assert [spec.name for spec in record_fields(Wider)] == [*RECORD_FIELDS, "attempt_no"]
    assert "attempt_no INTEGER" in sql.create and "attempt_no INTEGER NOT NULL" not in sql.create
    assert "attempt_no" in sql.insert and sql.insert.count("?") == len(RECORD_FIELDS) + 1
    assert "attempt_no" in sql.select_frame and sql.row_keys[-1] == "attempt_no"
    assert schema.frame_columns(Wider) == (*HISTORY_COLUMNS, "attempt_no")
    assert schema.frame_dtypes(Wider)["attempt_no"] == "Int64"
    json_keys = [item.key for item in record_view(Wider, "json")]
    assert json_keys[json_keys.index("event_id") + 1] == "attempt_no"
    # The same store code runs on it: a real table, an insert, a typed frame, a decoded row.
    row = wider(results[0], 3)
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(sql.create)
        conn.execute(sql.insert, sql.params(row))
        frame = pd.read_sql_query(sql.select_frame, conn, dtype=schema.frame_dtypes(Wider))
        values = conn.execute(sql.select_row, (1,)).fetchone()
    finally:
        conn.close()
    assert list(frame.columns) == list(schema.frame_columns(Wider))
    assert frame["attempt_no"].tolist() == [3] and str(frame["attempt_no"].dtype) == "Int64"
    assert frame["payload"].tolist() == [results[0].payload] and frame["error_status"].isna().all()
    assert dict(zip(sql.row_keys, values, strict=True))["attempt_no"] == 3


def test_the_new_field_needs_one_migration_step(tmp_path):
    """The step both backends run, on a Core connection (SQLite here; PostgreSQL in test_shared_store)."""
    import sqlalchemy as sa

    fresh, old = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.db'}"), sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with fresh.begin() as f, old.begin() as o:
            f.exec_driver_sql(history_sql(Wider).create)
            o.exec_driver_sql(history_sql(Attempt).create)
            raw_fresh, raw_old = f.connection.driver_connection, o.connection.driver_connection
            assert table_columns(raw_old) != table_columns(raw_fresh)
            apply_step(o, schema.AddColumn("history", "attempt_no", "int"), None)
            assert table_columns(raw_old) == table_columns(raw_fresh)
    finally:
        fresh.dispose()
        old.dispose()


def test_an_unsupported_annotation_is_refused_when_the_record_is_defined():
    @dataclass(frozen=True)
    class Odd(Attempt):
        when: list[int] | None = None

    with pytest.raises(TypeError, match="when"):
        record_fields(Odd)


def test_a_pending_row_is_the_record_of_an_interrupted_outcome_with_its_own_headers(tmp_path) -> None:
    """Issue 12: pending_row shares one Outcome instead of making one per row; each row is still
    the record make_history_row gives for a fresh interrupted outcome, with its own (empty)
    response headers -- filling one row's in does not show in another's."""
    from simlib.core.classify import pending_row
    from simlib.records import INTERRUPTED, SIMULATION_FAILED

    with Simulator(tmp_path / "s.sqlite3") as sim:
        wh = sim.create_webhook("p", "https://example.com/x", ["desktop.app_tracking.captured"])
        p = sim.preview(wh, "desktop.app_tracking.captured", seed=3)
    fresh = make_history_row(p, "sim-1", wh, {"a": "b"}, 7, Outcome(error=SIMULATION_FAILED, detail=INTERRUPTED))
    one, two = pending_row(p, "sim-1", wh, {"a": "b"}, 7), pending_row(p, "sim-1", wh, {"a": "b"}, 7)
    assert one == fresh == two
    one.response_headers["x"] = "y"
    assert two.response_headers == {} and pending_row(p, "sim-2", wh, {}, 8).response_headers == {}
