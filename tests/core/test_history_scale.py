"""history() built in chunks and exports streamed (issue 12 goal 5): the same frame as
``pandas.read_sql_query`` gave, the same files as writing the whole frame, a progress hook, and no
half-written file. Sizes here are small; bench_history.py measures a million rows."""

from __future__ import annotations

import io
import sqlite3

import pandas as pd
import pytest

from simlib import HistoryFilter
from simlib.core.store.export import frame_bytes, write_frames
from simlib.core.store.frames import frame_from_cursor, iter_frames
from simlib.core.store.sqlite import _FRAME_COLUMNS, _FRAME_DTYPES, _TIME_COLUMNS, HISTORY_SQL, PAGE_CACHE_KIB
from simlib.errors import ValidationError
from simlib.toolkit.replay import replay
from tests.helpers import APP

README_CASES = {"export-chunk-rows", "export-interrupted"}


def old_history(path, sql=HISTORY_SQL.select_frame + " ORDER BY id", params=()) -> pd.DataFrame:
    """history() as it was read before issue 12: one pandas.read_sql_query."""
    conn = sqlite3.connect(path)
    try:
        frame = pd.read_sql_query(sql, conn, params=list(params), dtype=dict(_FRAME_DTYPES))
    finally:
        conn.close()
    for name in _TIME_COLUMNS:
        frame[name] = pd.to_datetime(frame[name].astype("int64"), unit="ms", utc=True)
    return frame[_FRAME_COLUMNS]


@pytest.fixture
def varied(sim, receiver):
    """Delivered, 500, a network error, a deleted webhook, a replay and a cut response."""
    good = sim.create_webhook("good", receiver.url, [APP])
    receiver.secrets = [good.secret.reveal()]
    first = sim.send(sim.preview(good, APP, seed=1))
    sim.send(sim.preview(good, APP, seed=2, overrides={"data.0.tracking.app.name": "Zoë ✓"}))
    dead = sim.create_webhook("dead", "http://127.0.0.1:9/hook", [APP])
    sim.send(sim.preview(dead, APP, seed=3))
    gone = sim.preview(dead, APP, seed=4)
    sim.delete_webhook(dead)
    sim.send(gone)
    replay(sim, first.history_id)
    return sim


def test_history_is_the_frame_read_sql_query_gave(varied):
    frame = varied.history()
    assert len(frame) == 5
    pd.testing.assert_frame_equal(frame, old_history(varied.store.path))
    assert str(frame["payload"].dtype) == "str" and frame["error"].isna().sum() == 3


def test_a_column_with_no_value_and_an_empty_history_keep_their_dtypes(sim, receiver):
    sim.store.check()
    pd.testing.assert_frame_equal(sim.history(), old_history(sim.store.path))  # no rows at all
    wh = sim.create_webhook("good", receiver.url, [APP])
    sim.send(sim.preview(wh, APP, seed=1))
    frame = sim.history()
    assert frame["error"].dtype == object and frame["error"].tolist() == [None]  # no value: object None
    pd.testing.assert_frame_equal(frame, old_history(sim.store.path))


def test_filters_limits_and_chunks_give_the_same_rows(varied):
    path = varied.store.path
    newest = varied.history(limit=2, result="Delivered")
    assert list(newest["result"]) == ["Delivered", "Delivered"] and len(newest) == 2
    whole = varied.history()
    conn = sqlite3.connect(path)
    try:
        sql = HISTORY_SQL.select_frame + " ORDER BY id"
        for rows in (1, 2, 3, 100):
            pd.testing.assert_frame_equal(frame_from_cursor(conn.execute(sql), _FRAME_DTYPES, _TIME_COLUMNS, chunk_rows=rows), whole)
            chunks = list(iter_frames(conn.execute(sql), _FRAME_DTYPES, _TIME_COLUMNS, chunk_rows=rows))
            assert [len(c) for c in chunks] == [min(rows, 5 - i) for i in range(0, 5, rows)]
            assert list(pd.concat(chunks, ignore_index=True)["id"]) == list(whole["id"])
    finally:
        conn.close()
    assert list(varied.history_matching(HistoryFilter(status_class="2xx"))["id"]) == list(
        whole[whole["http_status"].between(200, 299)]["id"])


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("chunk_rows", [1, 2, 5, 1000])
def test_streamed_csv_and_json_are_the_bytes_of_the_whole_frame(varied, tmp_path, fmt, chunk_rows):
    out = varied.export_history(tmp_path / f"h.{fmt}", chunk_rows=chunk_rows)
    assert out.read_bytes() == frame_bytes(varied.history(), fmt)
    filtered = varied.export_history(tmp_path / f"f.{fmt}", chunk_rows=chunk_rows, result="Failed", limit=2)
    assert filtered.read_bytes() == frame_bytes(varied.history(result="Failed", limit=2), fmt)
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_an_empty_export_is_what_the_empty_frame_gave(sim, tmp_path, fmt):
    out = sim.export_history(tmp_path / f"h.{fmt}")
    if fmt == "parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(io.BytesIO(frame_bytes(sim.history(), fmt))))
    else:
        assert out.read_bytes() == frame_bytes(sim.history(), fmt)


def test_streamed_parquet_reads_back_as_the_whole_frame(varied, tmp_path):
    out = varied.export_history(tmp_path / "h.parquet", chunk_rows=2)
    back = pd.read_parquet(out)
    whole = pd.read_parquet(io.BytesIO(frame_bytes(varied.history(), "parquet")))
    pd.testing.assert_frame_equal(back, whole)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(out).num_row_groups == 3  # written as it came: 2 + 2 + 1 rows


def test_progress_hears_each_chunk(varied, tmp_path):
    heard: list[tuple[int, int]] = []
    varied.export_history(tmp_path / "h.csv", chunk_rows=2, progress=lambda done, total: heard.append((done, total)))
    assert heard == [(2, 5), (4, 5), (5, 5)]
    heard.clear()
    varied.export_history(tmp_path / "none.json", progress=lambda d, t: heard.append((d, t)), webhook="nope")
    assert heard == [(0, 0)]


def test_a_bad_chunk_size_is_refused_before_anything_is_written(varied, tmp_path):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValidationError) as info:
            varied.export_history(tmp_path / "h.csv", chunk_rows=bad)
        assert str(info.value).startswith("chunk_rows: must be a whole number >= 1")
    assert not list(tmp_path.glob("h.csv*"))


def test_a_failed_export_leaves_no_file(varied, tmp_path):
    out = tmp_path / "h.csv"
    out.write_text("the previous export\n")

    def frames():
        yield varied.history().iloc[:2]
        raise OSError("disk went away")

    with pytest.raises(OSError):
        write_frames(frames(), out, "csv")
    assert out.read_text() == "the previous export\n" and not list(tmp_path.glob("*.part"))


def test_the_store_keeps_the_pages_a_capped_count_reads(sim):
    sim.store.check()
    assert sim.store._conn.execute("PRAGMA cache_size").fetchone()[0] == -PAGE_CACHE_KIB
