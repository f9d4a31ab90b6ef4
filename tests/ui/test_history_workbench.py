"""The History tab, driven as a user would, against the embedded receiver on 127.0.0.1: a send
appears first; filters, sort and paging are the store's; a selected row shows the exact bytes
sent; Replay records a linked row and shows the diff; copy-as-code keeps the secret a
placeholder; exports and the row fixture are the bytes of the filtered rows."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import time

import pandas as pd
import pytest

from simlib import CANCELLED, HistoryFilter, Simulator, parse_capture
from simlib.ui.base import walk
from simlib.ui.history_views import download_link, render_count
from tests.helpers import ACT, APP, free_port
from tests.servers import RawServer
from tests.toolkit.test_support import counting
from tests.ui.helpers import send_and_wait, text_of, visible


@pytest.fixture
def page(sim: Simulator, make_explorer):
    """An explorer on the demo webhook: (explorer, History tab, receiver)."""
    explorer = make_explorer(sim, demo=True)
    explorer.select("demo", APP)
    return explorer, explorer.tools["History"], explorer.receiver


def send(explorer, event: str = APP):
    explorer.select("demo", event)
    send_and_wait(explorer)
    return explorer.last_result


def downloaded(link_html: str) -> bytes:
    """The bytes a data: download link carries."""
    match = re.search(r'href="data:[^;]+;base64,([^"]+)"', link_html)
    assert match, text_of(link_html)
    return base64.b64decode(match.group(1))


def test_a_send_appears_first_in_the_grid(page):
    explorer, wb, rx = page
    assert wb.grid.ids == [] and "The history is empty" in text_of(wb.grid.status.value)
    first, second = send(explorer), send(explorer, ACT)
    assert wb.grid.ids == [second.history_id, first.history_id]
    assert wb.grid.table.df["#"].tolist() == [second.history_id, first.history_id]
    assert "Rows 1–2 of 2 attempts" in text_of(wb.grid.status.value)
    assert "History tab" in text_of(explorer.history_table.value)  # the short list points at it


def test_the_grid_says_who_sent_each_attempt_next_to_the_user_and_host_filters(store_path, make_explorer, monkeypatch):
    """Issue 13: the "By" column (user@host, escaped), filtered by the Sent by / Host fields."""
    monkeypatch.setenv("SIMLIB_USER", "alice")
    monkeypatch.setenv("SIMLIB_HOST", "desk-7")
    alice = Simulator(store_path)
    bob = None
    try:
        explorer = make_explorer(alice, demo=True)
        explorer.select("demo", APP)
        wb = explorer.tools["History"]
        first = send(explorer)
        monkeypatch.setenv("SIMLIB_USER", "<b>bob</b>")
        monkeypatch.setenv("SIMLIB_HOST", "lab-2")
        bob = Simulator(store_path)  # another person on the same store
        second = bob.simulate(first.webhook_id, APP)
        wb.grid.refresh()
        assert wb.grid.ids == [second.history_id, first.history_id]
        assert wb.grid.table.df["By"].tolist() == ["&lt;b&gt;bob&lt;/b&gt;@lab-2", "alice@desk-7"]
        wb.grid.filters.host.value = "desk-7"
        assert wb.grid.table.df["By"].tolist() == ["alice@desk-7"]
        wb.grid.filters.host.value = ""
        wb.grid.filters.user.value = "<b>bob</b>"
        assert wb.grid.ids == [second.history_id]
    finally:
        if bob is not None:
            bob.close()
        alice.close()


def test_filters_by_result_status_class_and_text(sim, page):
    explorer, wb, rx = page
    ok = send(explorer)
    rx.status = 500
    failed = send(explorer, ACT)
    rx.status = 200
    dead = sim.create_webhook("Dead end", f"http://127.0.0.1:{free_port()}/hook", [APP])
    unreachable = sim.simulate(dead, APP)
    explorer.refresh()
    f = wb.grid.filters
    assert wb.grid.ids == [unreachable.history_id, failed.history_id, ok.history_id]
    f.result.value = "Delivered"
    assert wb.grid.ids == [ok.history_id] and "Rows 1–1 of 1 matching attempt" in text_of(wb.grid.status.value)
    f.result.value = "Network error"
    assert wb.grid.ids == [unreachable.history_id]
    f.result.value = ""
    f.status.value = "5xx"
    assert wb.grid.ids == [failed.history_id]
    f.status.value = "none"
    assert wb.grid.ids == [unreachable.history_id]
    f.status.value = ""
    f.text.value = ok.event_id  # a value from inside the sent body
    assert wb.grid.ids == [ok.history_id]
    f.text.value = ""
    f.webhook.value = dead.id
    assert wb.grid.ids == [unreachable.history_id]
    f.clear.click()
    assert len(wb.grid.ids) == 3
    f.time_range.value = -1  # Between…: a window that holds nothing
    f.until.value = "2001-01-01 00:00"
    assert wb.grid.ids == [] and "No attempts match" in text_of(wb.grid.status.value)
    f.until.value = "not a time"
    assert "not a time" in text_of(f.error.value)  # one readable line, by the field
    assert explorer.notice.value == ""


def test_paging_forward_and_back_and_sorting(sim, page):
    explorer, wb, rx = page
    burst = sim.send_many("demo", APP, 23, progress=False)
    assert burst.summary.iloc[0]["delivered"] == 23
    explorer.refresh()
    grid = wb.grid
    grid.filters.page_rows.value = 10
    newest = sim.history_page(limit=23)
    all_ids = [r["id"] for r in newest.rows]
    assert grid.ids == all_ids[:10] and grid.newer.disabled and not grid.older.disabled
    grid.older.click()
    assert grid.ids == all_ids[10:20] and "Rows 11–20 of 23" in text_of(grid.status.value)
    grid.older.click()
    assert grid.ids == all_ids[20:] and grid.older.disabled
    grid.newer.click()
    assert grid.ids == all_ids[10:20]
    send(explorer)  # a new send while on page 2: the page stays, the count follows
    assert grid.ids == all_ids[10:20] and "of 24" in text_of(grid.status.value)
    grid.newest.click()
    assert grid.ids[0] == explorer.last_result.history_id
    grid.filters.order.value = "oldest"
    assert grid.ids == sorted(all_ids)[:10]
    grid.filters.order.value = "slowest"
    latencies = sim.history().set_index("id")["latency_ms"]
    shown = [latencies[i] for i in grid.ids]
    assert shown == sorted(shown, reverse=True) and shown[0] == latencies.max()


def test_selecting_a_row_shows_the_exact_bytes_sent(page):
    explorer, wb, rx = page
    result = send(explorer, ACT)
    request = rx.requests[-1]
    wb.grid.table.selected_rows = [0]
    assert wb.history_id == result.history_id
    detail = wb.detail.value
    pres = re.findall(r"<pre[^>]*>(.*?)</pre>", detail, flags=re.S)
    assert html.unescape(pres[0]).encode() == request.body  # compact, exactly as signed and received
    assert "Copy to the clipboard" in detail and "<details" in detail  # copy button + collapsible tree
    text = text_of(detail)
    for name in ("x-webhook-signature", "x-webhook-timestamp"):
        assert f"{name}: {request.header(name)}" in text
    assert "200 OK" in text and "latency" in text and result.simulation_id in text
    assert "Delivered" in text and "Response" in text


def test_replay_records_a_linked_row_and_shows_the_diff(sim, page):
    explorer, wb, rx = page
    original = send(explorer)
    wb.open(original.history_id)
    actions = wb.actions
    actions.replay.click()
    assert wb.wait(10)
    new_id = actions.last_replay.result.history_id
    assert sim.history_row(new_id)["replay_of"] == original.history_id
    assert wb.grid.ids[0] == new_id and rx.requests[-1].body == rx.requests[0].body
    assert f"Replay of #{original.history_id} (re-signed)" in text_of(actions.replay_result.value)
    assert "x-webhook-signature" in text_of(actions.replay_result.value)  # a re-signed replay differs there
    assert [b.description for b in wb.links.children if hasattr(b, "on_click")] == [f"#{new_id}"]
    actions.open_new.click()
    assert wb.history_id == new_id
    (back,) = [b for b in wb.links.children if hasattr(b, "on_click")]
    assert back.description == f"↩ Replays #{original.history_id}"
    back.click()
    assert wb.history_id == original.history_id
    # with its original timestamp and signature, then with the payload edited first
    actions.mode.value = "original"
    actions.replay.click()
    assert wb.wait(10)
    assert rx.requests[-1].header("x-webhook-signature") == rx.requests[0].header("x-webhook-signature")
    actions.mode.value = "edit"
    actions.overrides.value = "data.0.tracking.app.name=EditedApp"
    actions.replay.click()
    assert wb.wait(10)
    assert b"EditedApp" in rx.requests[-1].body and actions.last_replay.edited
    assert len(sim.replays_of(original.history_id)) == 3


def diff_rows(html_value: str) -> dict[str, str]:
    """field -> the visible text of its row in a rendered replay diff (a leading "≠" marks a difference)."""
    out = {}
    for row in re.findall(r"<tr><td.*?</tr>", html_value):
        cells = [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        out[cells[0].removeprefix("≠ ")] = " | ".join(cells)
    return out


def test_the_replay_diff_marks_answers_that_differ_past_what_is_shown(sim, make_explorer):
    """The user's report, in the explorer: answers equal in their first 200 characters and an
    edited body of the same length are marked as differing, with where, as the DataFrame says."""
    with RawServer(counting()) as server:
        wh = sim.create_webhook("Counting", server.url, [ACT], secret="counting-secret-0123456789")
        first = sim.simulate(wh, ACT, seed=1)
        explorer = make_explorer(sim, demo=True)
        wb = explorer.tools["History"]
        wb.open(first.history_id)
        wb.actions.replay.click()
        assert wb.wait(10)
        rows = diff_rows(wb.actions.replay_result.value)
        assert rows["response_body"].startswith("≠ ") and "differs at character 267 of 269" in rows["response_body"]
        assert not rows["request_body"].startswith("≠ ")
        wb.actions.mode.value = "edit"
        wb.actions.overrides.value = 'data.user.userId="0b5c1e7a-2f4d-4c8e-9a6b-3d2f1e0c9b8a"'
        wb.actions.replay.click()
        assert wb.wait(10)
        html_value = wb.actions.replay_result.value
    rows = diff_rows(html_value)
    diff = wb.actions.last_replay.diff
    assert rows["request_body"].startswith("≠ ") and "354 bytes, differs at byte" in rows["request_body"]
    for field, same in diff["same"].items():
        assert rows[field].startswith("≠ ") is not same, field
    assert "counting-secret-0123456789" not in html_value


def test_copy_as_code_keeps_the_secret_a_placeholder_until_revealed(sim, page):
    explorer, wb, rx = page
    result = send(explorer)
    secret = sim.get_webhook("demo").secret.reveal()
    wb.open(result.history_id)
    wb.actions.copy_code.click()
    code = html.unescape(wb.actions.code.value)
    assert "curl" in code and "$WEBHOOK_SECRET" in code and secret not in code
    wb.actions.lang.value = "httpx"
    wb.actions.copy_code.click()
    assert "httpx" in wb.actions.code.value and secret not in wb.actions.code.value
    for widget in walk(explorer.widget):  # nowhere in the page before the explicit click
        assert secret not in str(getattr(widget, "value", "")), widget
    wb.actions.reveal.click()
    assert secret in html.unescape(wb.actions.code.value)
    wb.grid.filters.clear.click()  # the next action hides it again
    assert secret not in wb.actions.code.value


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_bytes_are_the_filtered_rows(sim, page, fmt):
    explorer, wb, rx = page
    send(explorer)
    rx.status = 503
    send(explorer, ACT)
    rx.status = 200
    send(explorer, ACT)
    wb.grid.filters.status.value = "2xx"
    wb.export_format.value = fmt
    wb.export.click()
    assert wb.wait(10)
    data = downloaded(wb.export_link.value)
    assert data == wb.last_export == sim.export_bytes(fmt, HistoryFilter(status_class="2xx"))
    expected = sim.history_matching(HistoryFilter(status_class="2xx"))
    got = {"csv": pd.read_csv, "json": pd.read_json, "parquet": pd.read_parquet}[fmt](io.BytesIO(data))
    assert list(got["id"]) == list(expected["id"]) and len(got) == 2
    assert list(got["payload"]) == list(expected["payload"])
    assert f'download="simlib-history.{fmt}"' in wb.export_link.value


def test_the_row_fixture_is_read_back_by_import(sim, page):
    explorer, wb, rx = page
    result = send(explorer, ACT)
    wb.open(result.history_id)
    wb.actions.fixture.click()
    data = downloaded(wb.actions.fixture_link.value)
    capture = parse_capture(data)
    assert capture.body == rx.requests[-1].body and capture.header("x-webhook-signature") == result.signature
    assert capture.response is not None and capture.response["status"] == 200
    fixture = json.loads(data)
    assert fixture["history_id"] == result.history_id and fixture["headers"] == result.request_headers
    assert base64.b64decode(fixture["body_base64"]) == fixture["body"].encode() == rx.requests[-1].body
    imported = sim.import_delivery(data, "demo")
    assert imported.resigned.delivered and imported.explanation.valid  # the signature recorded is the one sent


def test_download_size_cap_and_count_words():
    assert "download=" in download_link(b"x" * 10, "a.csv", "text/csv", cap=10)
    refused = text_of(download_link(b"x" * 11, "a.csv", "text/csv", cap=10))
    assert "more than" in refused and "simlib history --output" in refused
    from simlib import CappedCount

    assert "of 10,000+ attempts" in text_of(render_count(CappedCount(10_000, True), 1, 25, False))


def test_a_hanging_replay_shows_its_time_and_cancel_records_it(sim, page):
    explorer, wb, rx = page
    original = send(explorer)
    wb.open(original.history_id)
    actions = wb.actions
    rx.delay_ms = 20_000  # the receiver now holds every answer for 20 s
    actions.replay.click()
    assert actions.job.running and not actions.cancel.disabled and actions.replay.disabled
    deadline = time.monotonic() + 5
    while "Replaying" not in text_of(actions.replay_result.value) or " s" not in text_of(actions.replay_result.value):
        assert time.monotonic() < deadline, text_of(actions.replay_result.value)
        time.sleep(0.05)
    actions.cancel.click()
    assert wb.wait(10), "Cancel did not end the replay within 10 s (the receiver holds it 20 s)"
    result = actions.last_replay.result
    assert result.detail.startswith(CANCELLED) and result.recorded
    assert sim.history_row(result.history_id)["replay_of"] == original.history_id
    assert actions.cancel.disabled and not actions.replay.disabled


def test_opening_another_row_clears_the_replay_area(sim, page):
    """Defect 3: after replaying #a, opening #b shows no replay of #a (nor its "Open the new row",
    nor the edit-first text), so nobody copies #a's comparison into a ticket about #b."""
    explorer, wb, rx = page
    first, second = send(explorer), send(explorer, ACT)
    actions = wb.actions
    wb.open(first.history_id)
    actions.replay.click()
    assert wb.wait(10)
    new_id = actions.last_replay.result.history_id
    assert f"Replay of #{first.history_id}" in text_of(actions.replay_result.value) and visible(actions.open_new)
    wb.grid.table.selected_rows = [wb.grid.ids.index(second.history_id)]  # a click on #b in the grid
    assert wb.history_id == second.history_id and f"Attempt #{second.history_id}" in text_of(wb.detail.value)
    assert "Replay of" not in text_of(actions.replay_result.value), text_of(actions.replay_result.value)
    assert f"#{new_id}" not in text_of(actions.replay_result.value)
    assert not visible(actions.open_new)
    actions.open_new.click()  # even clicked anyway, it does not open #a's replay
    assert wb.history_id == second.history_id
    # the edit-first state is the open row's too
    actions.mode.value = "edit"
    actions.overrides.value = "data.0.tracking.app.name=EditedApp"
    wb.open(first.history_id)
    assert actions.overrides.value == "" and actions.mode.value != "edit" and not visible(actions.overrides)
    # re-opening the same row (as after its own replay) keeps what is shown
    actions.replay.click()
    assert wb.wait(10)
    assert f"Replay of #{first.history_id}" in text_of(actions.replay_result.value) and visible(actions.open_new)
    assert wb.history_id == first.history_id


def test_a_replay_still_running_when_another_row_opens_does_not_land_under_it(sim, page):
    """Defect 3: a replay's progress and result show only while its own row is the open one."""
    explorer, wb, rx = page
    first, second = send(explorer), send(explorer, ACT)
    actions = wb.actions
    wb.open(first.history_id)
    rx.delay_ms = 1500  # the receiver holds the replay's answer 1.5 s
    actions.replay.click()
    assert actions.job.running
    wb.open(second.history_id)
    time.sleep(0.6)  # a few ticks of the replay's elapsed time
    shown = text_of(actions.replay_result.value)
    assert f"Replaying #{first.history_id}" not in shown and "Replay of" not in shown, shown
    assert f"A replay of #{first.history_id} is still running" in shown  # why Replay is disabled, what Cancel does
    assert wb.wait(10)
    rx.delay_ms = 0
    shown = text_of(actions.replay_result.value)
    assert "Replay of" not in shown and "recorded as" not in shown and shown.strip() == "", shown
    assert not visible(actions.open_new) and not actions.replay.disabled
    assert wb.history_id == second.history_id and f"Attempt #{second.history_id}" in text_of(wb.detail.value)
    (replay_id,) = sim.replays_of(first.history_id)  # it was recorded all the same
    assert wb.grid.ids[0] == replay_id


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-45 10:00", "02/12/2026 02:30"])
def test_a_bad_time_is_said_by_the_field_and_the_grid_shows_the_filter_is_not_applied(sim, page, bad):
    """Defect 5: the error is next to From/To (not the page's top line), the field is marked and
    keeps what was typed, the grid shows no rows until it is fixed, and fixing or clearing the
    field removes the error."""
    explorer, wb, rx = page
    rows = [send(explorer).history_id, send(explorer, ACT).history_id][::-1]
    f, grid = wb.grid.filters, wb.grid
    f.time_range.value = -1
    assert grid.ids == rows and f.error.value == ""
    f.since.value = bad
    error = text_of(f.error.value)
    assert f"From: not a time: {bad!r}" in error and "not applied" in error, error
    assert explorer.notice.value == ""  # nothing at the top of the page
    assert f.since.value == bad and f.since.layout.border and not f.until.layout.border
    assert grid.ids == [] and grid.table.df.empty
    status = text_of(grid.status.value)
    assert "not applied" in status and "Rows" not in status, status
    # a send (the grid follows it) and an export while the time is bad: still said there, not applied
    send(explorer)
    assert grid.ids == [] and "not applied" in text_of(f.error.value) and explorer.notice.value == ""
    wb.export.click()
    assert wb.wait(10)
    assert "From: not a time" in text_of(wb.export_link.value) and wb.last_export is None
    assert explorer.notice.value == ""
    rows = [r["id"] for r in sim.history_page(limit=10).rows]
    f.since.value = "2001-01-01 00:00"  # fixed
    assert f.error.value == "" and not f.since.layout.border
    assert grid.ids == rows and "Rows 1–3 of 3 matching attempts" in text_of(grid.status.value)
    f.until.value = bad  # the other field, then cleared
    assert f"To: not a time: {bad!r}" in text_of(f.error.value) and f.until.layout.border and not f.since.layout.border
    assert grid.ids == []
    f.until.value = ""
    assert f.error.value == "" and not f.until.layout.border and grid.ids == rows
    f.since.value = bad  # Clear filters removes it too
    f.clear.click()
    assert f.error.value == "" and not f.since.layout.border and grid.ids == rows
