"""The history workbench's store API: keyset pages (order, edges, filters), the capped count,
replay links, the lookup by signature, bounded filtered reads and the export bytes."""

from __future__ import annotations

import io
import json
import sqlite3

import pandas as pd
import pytest

from simlib import CappedCount, HistoryFilter, PageCursor, Simulator, ValidationError
from simlib.core.store.query import PAGE_COLUMNS, count_sql, page_sql
from simlib.records import Attempt

BASE_MS = 1_800_000_000_000


def attempt(i: int, **changes: object) -> Attempt:
    """Attempt number ``i`` of a varied history: two webhooks, two events, every outcome."""
    status = (200, 201, 404, 500, None, 302)[i % 6]  # by i % 6: 0 and 1 delivered, 4 a network error
    values: dict[str, object] = {
        "simulation_id": f"sim-{i:04d}",
        "sent_at_ms": BASE_MS + i * 1000,
        "webhook_id": "wh_a" if i % 2 else "wh_b",
        "webhook_name": "Alpha" if i % 2 else "Beta",
        "url": "http://127.0.0.1:9/hook",
        "event_type": "desktop.app_tracking.captured" if i % 3 else "desktop.activity_tracking.captured",
        "result": "Delivered" if status is not None and 200 <= status < 300 else "Failed",
        "http_status": status,
        "latency_ms": None if status is None else float((i * 37) % 101),
        "error": "Network error" if status is None else None,
        "detail": "connection refused" if status is None else f"answer {status}",
        "event_id": f"evt-{i}",
        "request_headers": {"x-webhook-signature": f"{i:064x}", "x-webhook-timestamp": str(BASE_MS + i * 1000)},
        "request_body": json.dumps({"event": "x", "n": i, "needle": "haystack-%d" % i}).encode(),
        "response_headers": {"content-type": "application/json"},
        "response_body": '{"ok":true}',
        "response_truncated": False,
        "replay_of": None,
    }
    values.update(changes)
    return Attempt(**values)  # type: ignore[arg-type]


@pytest.fixture
def filled(sim: Simulator) -> Simulator:
    sim.store.append_many([attempt(i) for i in range(1, 61)])  # ids 1..60
    return sim


def ids(rows: tuple[dict, ...]) -> list[int]:
    return [r["id"] for r in rows]


def test_first_page_is_newest_first_without_bodies(filled):
    page = filled.history_page(limit=10)
    assert ids(page.rows) == list(range(60, 50, -1))
    assert page.has_more and page.first == PageCursor(60, 60) and page.last == PageCursor(51, 51)
    assert tuple(page.rows[0]) == PAGE_COLUMNS  # no request/response bodies or headers
    assert page.rows[0]["sent_at_ms"] == BASE_MS + 60_000


def test_keyset_forward_and_back_cover_every_row_once(filled):
    seen, page = [], filled.history_page(limit=7)
    pages = [page]
    while True:
        seen += ids(page.rows)
        if not page.has_more:
            break
        page = filled.history_page(after=page.last, limit=7)
        pages.append(page)
    assert seen == list(range(60, 0, -1)) and len(pages) == 9 and len(pages[-1].rows) == 4
    # back from the last page: the same pages in reverse, and no newer rows before the first
    back = pages[-1]
    for expected in reversed(pages[:-1]):
        back = filled.history_page(before=back.first, limit=7)
        assert ids(back.rows) == ids(expected.rows)
    assert not back.has_more  # nothing newer than the first page
    assert filled.history_page(before=PageCursor(60, 60), limit=7).rows == ()


def test_keyset_edges(filled):
    assert ids(filled.history_page(after=PageCursor(1, 1)).rows) == []
    assert not filled.history_page(after=PageCursor(1, 1)).has_more
    exact = filled.history_page(after=PageCursor(11, 11), limit=10)  # exactly the last 10 rows
    assert ids(exact.rows) == list(range(10, 0, -1)) and not exact.has_more
    assert filled.history_page(limit=60).has_more is False
    assert ids(filled.history_page(order="oldest", limit=3).rows) == [1, 2, 3]
    assert ids(filled.history_page(order="oldest", after=PageCursor(3, 3), limit=2).rows) == [4, 5]
    with pytest.raises(ValidationError):
        filled.history_page(limit=0)
    with pytest.raises(ValidationError):
        filled.history_page(order="random")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        filled.history_page(after=PageCursor(3, 3), before=PageCursor(9, 9))


def test_a_new_row_appears_first_and_old_cursors_still_work(filled):
    first = filled.history_page(limit=5)
    filled.store.append(attempt(61))
    assert ids(filled.history_page(limit=5).rows)[0] == 61
    assert ids(filled.history_page(after=first.last, limit=5).rows) == [55, 54, 53, 52, 51]


@pytest.mark.parametrize("order", ["slowest", "fastest", "status_desc", "status_asc"])
def test_other_orders_page_through_every_row_in_order(filled, order):
    frame = filled.history().set_index("id")
    seen, page = [], filled.history_page(order=order, limit=8)
    while True:
        seen += ids(page.rows)
        if not page.has_more:
            break
        page = filled.history_page(order=order, after=page.last, limit=8)
    assert sorted(seen) == list(range(1, 61))
    column = "latency_ms" if order in ("slowest", "fastest") else "http_status"
    values = [frame.loc[i, column] for i in seen]
    present = [float(v) for v in values if not pd.isna(v)]
    descending = order in ("slowest", "status_desc")
    assert present == sorted(present, reverse=descending)
    missing = [pd.isna(v) for v in values]
    assert missing == sorted(missing)  # rows with no value come last
    # and back again from the last page
    back = filled.history_page(order=order, before=page.first, limit=8)
    assert ids(back.rows) == seen[-len(page.rows) - 8 : -len(page.rows)]


def test_filters(filled):
    def all_ids(f: HistoryFilter) -> list[int]:
        return ids(filled.history_page(f, limit=1000).rows)

    assert all_ids(HistoryFilter(webhook="wh_a")) == [i for i in range(60, 0, -1) if i % 2]
    assert all_ids(HistoryFilter(event_type="desktop.activity_tracking.captured")) == list(range(60, 0, -3))
    assert all_ids(HistoryFilter(result="Delivered")) == [i for i in range(60, 0, -1) if i % 6 in (0, 1)]
    assert all_ids(HistoryFilter(result="Network error")) == [i for i in range(60, 0, -1) if i % 6 == 4]
    assert all_ids(HistoryFilter(status_class="4xx")) == [i for i in range(60, 0, -1) if i % 6 == 2]
    assert all_ids(HistoryFilter(status_class=["5xx", "none"])) == [i for i in range(60, 0, -1) if i % 6 in (3, 4)]
    assert all_ids(HistoryFilter(since_ms=BASE_MS + 50_000, until_ms=BASE_MS + 52_000)) == [52, 51, 50]
    assert all_ids(HistoryFilter(text="HAYSTACK-42")) == [42]  # the request body, case-insensitive
    assert all_ids(HistoryFilter(text="#7")) == [7]  # a history id
    assert all_ids(HistoryFilter(text="refused")) == [i for i in range(60, 0, -1) if i % 6 == 4]
    assert all_ids(HistoryFilter(text="100%_")) == []  # LIKE wildcards are literal
    both = HistoryFilter(webhook="wh_a", status_class="2xx", text="desktop.app")
    assert all_ids(both) == [i for i in range(60, 0, -1) if i % 2 and i % 6 in (0, 1) and i % 3]
    with pytest.raises(ValidationError):
        HistoryFilter(status_class="6xx")
    assert HistoryFilter().empty and not HistoryFilter(text=" x ").empty and HistoryFilter(text="  ").empty


def test_capped_count(filled):
    assert filled.history_count_capped() == CappedCount(60, False)
    assert filled.history_count_capped(cap=60) == CappedCount(60, False)
    capped = filled.history_count_capped(cap=59)
    assert capped == CappedCount(59, True) and capped.text == "59+"
    assert filled.history_count_capped(HistoryFilter(webhook="wh_b"), cap=10).text == "10+"
    assert filled.history_count_capped(HistoryFilter(status_class="4xx")).text == "10"
    sql, params = count_sql(None, 10_000)
    assert "LIMIT ?" in sql and params == [10_001]  # never a COUNT(*) over the whole table


def test_the_default_order_reads_by_the_primary_key(filled):
    sql, _, _ = page_sql(None, "newest", after=PageCursor(9, 9), before=None, limit=5)
    conn = sqlite3.connect(filled.store.path)
    try:
        plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, [9, 6]))
    finally:
        conn.close()
    assert "INTEGER PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan


def test_replays_of_and_lookup_by_signature(filled):
    filled.store.append_many([attempt(61, replay_of=10), attempt(62, replay_of=10), attempt(63, replay_of=12)])
    assert filled.replays_of(10) == [61, 62] and filled.replays_of(12) == [63] and filled.replays_of(61) == []
    assert filled.find_attempts(signature=f"{33:064x}") == [33]
    assert filled.find_attempts(timestamp=str(BASE_MS + 34_000)) == [34]
    assert filled.find_attempts(signature="0" * 64) == [] and filled.find_attempts(signature='a"b') == []


def test_filtered_frame_and_export_bytes_match(filled):
    f = HistoryFilter(status_class="2xx")
    frame = filled.history_matching(f)
    assert list(frame["id"]) == [i for i in range(1, 61) if i % 6 in (0, 1)]
    assert list(frame.columns) == list(filled.history().columns)
    newest = filled.history_matching(f, limit=3, columns=["latency_ms", "sent_at"])
    assert list(newest.columns) == ["id", "sent_at", "latency_ms"] and list(newest["id"]) == [54, 55, 60]
    assert str(newest["sent_at"].dtype).startswith("datetime64")
    csv = pd.read_csv(io.BytesIO(filled.export_bytes("csv", f)))
    assert list(csv["id"]) == list(frame["id"]) and list(csv["payload"]) == list(frame["payload"])
    js = json.loads(filled.export_bytes("json", f))
    assert [r["id"] for r in js] == list(frame["id"])
    parquet = pd.read_parquet(io.BytesIO(filled.export_bytes("parquet", f, limit=2)))
    assert list(parquet["id"]) == [55, 60]
    with pytest.raises(ValidationError):
        filled.history_matching(columns=["nope"])


def test_a_history_ids_filter_reads_only_the_key_range_between_its_ids(filled):
    """One explorer page's attempts: every page of them, read by the primary key between the
    smallest and largest id (a SEARCH, never a SCAN of the table), with no sort of its own."""
    mine = HistoryFilter(history_ids=[3, 4, 5, 6, 20, 41, 42, 50])
    first = filled.history_page(mine, limit=3)
    assert ids(first.rows) == [50, 42, 41] and first.has_more
    assert ids(filled.history_page(mine, after=first.last, limit=10).rows) == [20, 6, 5, 4, 3]
    assert ids(filled.history_page(HistoryFilter(history_ids=[7, 8], webhook="wh_a"), limit=10).rows) == [7]
    assert filled.history_page(HistoryFilter(history_ids=[]), limit=10).rows == ()
    conn = sqlite3.connect(filled.store.path)
    try:
        for after in (None, first.last):
            sql, params, _ = page_sql(mine, "newest", after=after, before=None, limit=3)
            plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "SEARCH" in plan and "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
            assert "rowid>? AND rowid<?" in plan, plan  # bounded below too: not every row under the cursor
    finally:
        conn.close()
    for bad in ("12", [1, "2"], [True], [1.5]):
        with pytest.raises(ValidationError, match="history_ids"):
            HistoryFilter(history_ids=bad)  # type: ignore[arg-type]
    assert not HistoryFilter(history_ids=[]).empty and HistoryFilter(history_ids=None).empty
