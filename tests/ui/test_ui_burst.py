"""The explorer's Burst panel: runs on a worker thread, shows progress and the summary, records
every attempt, and keeps Send disabled meanwhile."""

from __future__ import annotations

import re
import threading
import time

import pytest

from simlib import CANCELLED, FAILED, DeliveryConfig, Simulator
from simlib.receiver import Receiver
from simlib.records import CANCELLED_CONNECTED
from simlib.ui import Explorer
from tests.helpers import ACT, APP
from tests.servers import RawServer, never_answer
from tests.ui.helpers import text_of


def table_rows(panel_html: str, first_header: str) -> list[list[str]]:
    """The body rows (cell texts) of the table whose first header is ``first_header``."""
    for table in re.findall(r"<table[^>]*>(.*?)</table>", panel_html, re.S):
        heads = [text_of(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
        if heads and heads[0] == first_header:
            body = re.search(r"<tbody>(.*?)</tbody>", table, re.S)
            rows = re.findall(r"<tr>(.*?)</tr>", body.group(1) if body else "", re.S)
            return [[text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]
    raise AssertionError(f"no table headed {first_header!r}")


def outcome_rows(panel_html: str) -> list[list[str]]:
    return table_rows(panel_html, "Outcome")


@pytest.fixture
def explorer(tmp_path):
    sim = Simulator(tmp_path / "s.db")
    ex = Explorer.with_demo(sim, seed=5)
    yield ex
    ex.close()
    sim.close()


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("burst_count", 0, "Sends must be from 1 to 100,000, not 0"),
        ("burst_count", -5, "Sends must be from 1 to 100,000, not -5"),
        ("burst_count", 100_001, "Sends must be from 1 to 100,000, not 100,001"),
        ("burst_concurrency", 0, "Concurrency must be from 1 to 1,000, not 0"),
        ("burst_rate", -1.0, "Rate /s must be 0 (as fast as possible) or from 0.001 to 1,000,000, not -1"),
        ("burst_rate", 0.0001, "Rate /s must be 0 (as fast as possible) or from 0.001 to 1,000,000, not 0.0001"),
    ],
)
def test_a_burst_number_out_of_range_sends_nothing_and_says_so(explorer, field, value, said):
    """Not snapped to the nearest bound in silence (a 0 would have sent one request)."""
    explorer.select("demo", ACT)
    getattr(explorer, field).value = value
    explorer.burst_run.click()
    assert explorer.last_burst is None and not explorer.burst_running
    assert text_of(explorer.burst_result.value) == f"Nothing was sent: {said}."
    assert len(explorer.receiver.requests) == 0 and len(explorer.history) == 0
    assert getattr(explorer, field).value == value  # what was typed stays, to be corrected


def test_the_burst_forms_ranges_are_send_manys_own():
    """Not a range of the form's own: a number the form lets through is one send_many takes."""
    from simlib.core import burst as engine
    from simlib.ui import burst as form

    assert (form.MAX_SENDS, form.MAX_CONCURRENCY, form.MIN_RATE, form.MAX_RATE) == (
        engine.MAX_SENDS, engine.MAX_CONCURRENCY, engine.MIN_RATE, engine.MAX_RATE)


def test_burst_button_sends_records_and_summarises(explorer):
    explorer.select("demo", ACT)
    explorer.options["work_mode"].value = False
    explorer.burst_count.value = 25
    explorer.burst_concurrency.value = 5
    explorer.burst_run.click()
    assert explorer.burst_running or explorer.last_burst is not None
    burst = explorer.wait_for_burst(timeout=60)
    assert burst is not None and len(burst.results) == 25
    assert all(r.delivered for r in burst.results)
    assert explorer.burst_progress.value == 25 == explorer.burst_progress.max
    text = text_of(explorer.burst_result.value)
    assert "25 · 25 delivered · 0 failed" in text and "sends/s" in text
    assert outcome_rows(explorer.burst_result.value) == [["Delivered", "200 OK", "25", "100.0 %"]]
    html_ = explorer.burst_result.value
    label = html_.index("Latency of the 25 answered attempts:")  # right above the table it labels
    assert html_.index("Outcome</th>") < label < html_.index("p50</th>")
    (latency,) = table_rows(explorer.burst_result.value, "p50")
    assert len(latency) == 4 and all(cell.endswith(" ms") for cell in latency)
    svg = explorer.burst_result.value[explorer.burst_result.value.index("<svg"):]  # the latency histogram
    assert "var(--jp-ui-font-color1" in svg and "var(--jp-success-color1" in svg  # drawn in the theme's colours
    assert "#010203" not in svg and "#020304" not in svg  # no stand-in colour left
    assert "25 / 25" in text_of(explorer.burst_count_text.value)
    assert len(explorer.history) == 25
    assert not explorer.send.disabled and explorer.burst_run.description == "Run burst"
    # the current options went with every send
    bodies = [req.json for req in explorer.receiver.requests]
    assert all(b["data"]["activity"]["workMode"] is False for b in bodies)
    assert explorer.notice.value == ""


def test_burst_repeat_payload_and_rate(explorer):
    explorer.select("demo", APP)
    explorer.burst_count.value = 6
    explorer.burst_rate.value = 50.0
    explorer.burst_repeat.value = True
    explorer.burst_run.click()
    burst = explorer.wait_for_burst(timeout=60)
    assert len({r.payload for r in burst.results}) == 1
    assert burst.results[0].payload == explorer.current_preview.text  # exactly the previewed bytes


def test_burst_failures_shown_by_reason(tmp_path):
    rx = Receiver(status=500).start()
    sim = Simulator(tmp_path / "s.db")
    try:
        wh = sim.create_webhook("failing", rx.url, [APP])
        ex = Explorer(sim, seed=1)
        ex.select(wh.id, APP)
        ex.burst_count.value = 4
        ex.burst_run.click()
        ex.wait_for_burst(timeout=60)
        text = text_of(ex.burst_result.value)
        assert "0 delivered · 4 failed" in text
        assert outcome_rows(ex.burst_result.value) == [["Failed", "500 Internal Server Error", "4", "100.0 %"]]
        ex.close()
    finally:
        sim.close()
        rx.stop()


def test_send_is_disabled_while_a_burst_runs(tmp_path):
    rx = Receiver(delay_ms=100).start()
    sim = Simulator(tmp_path / "s.db")
    try:
        wh = sim.create_webhook("slow", rx.url, [APP])
        ex = Explorer(sim, seed=1)
        ex.select(wh.id, APP)
        ex.burst_count.value = 10
        ex.burst_concurrency.value = 1
        ex.burst_run.click()
        assert ex.burst_running
        assert ex.send.disabled and ex.burst_run.disabled
        ex.send.click()  # ignored while the burst runs
        ex.wait_for_burst(timeout=60)
        assert not ex.send.disabled
        assert len(ex.history) == 10
        ex.close()
    finally:
        sim.close()
        rx.stop()


def test_cancel_stops_a_burst_and_keeps_what_went_out(tmp_path):
    rx = Receiver(delay_ms=50).start()
    sim = Simulator(tmp_path / "s.db")
    try:
        wh = sim.create_webhook("slow", rx.url, [APP])
        ex = Explorer(sim, seed=1)
        ex.select(wh.id, APP)
        ex.burst_count.value = 400
        ex.burst_concurrency.value = 2
        ex.burst_run.click()
        assert ex.burst_running and not ex.burst_cancel.disabled
        seen = threading.Event()
        assert wait_for(lambda: ex.burst_progress.value >= 4, seen)
        assert re.search(r"\d+ / 400", text_of(ex.burst_count_text.value))
        ex.burst_cancel.click()
        burst = ex.wait_for_burst(timeout=60)
        assert not ex.burst_running and ex.burst_cancel.disabled
        assert 4 <= len(burst.results) < 400
        # The sends in flight at the cancel (at most the concurrency) are cancelled, not awaited.
        cut = [r for r in burst.results if not r.delivered]
        assert len(cut) <= 2 and all(r.detail.startswith(CANCELLED) for r in cut)
        assert burst.stopped_early.startswith("Cancelled by the user")
        assert len(ex.history) == len(burst.results)  # every send that went out is recorded, no other
        assert "Stopped early: Cancelled by the user" in text_of(ex.burst_result.value)
        ex.close()
    finally:
        sim.close()
        rx.stop()


def test_cancel_ends_a_burst_against_a_hanging_endpoint(tmp_path, make_explorer):
    # An endpoint that accepts and never answers: only the cancel can end the sends in flight
    # (the deadline is 20 s); Cancel ends the burst within a second or two, and the table shows them.
    cfg = DeliveryConfig(connect_timeout=20.0, read_timeout=20.0, deadline=20.0)
    with Simulator(tmp_path / "s.db", delivery=cfg) as sim, RawServer(never_answer()) as server:
        wh = sim.create_webhook("Hangs", server.url, [APP])
        ex = make_explorer(sim)
        ex.select(wh.id, APP)
        ex.burst_count.value = 20
        ex.burst_concurrency.value = 4
        ex.burst_run.click()
        assert ex.burst_running
        seen = threading.Event()
        assert wait_for(lambda: len(server.requests) == 4, seen, timeout=10)
        clicked = time.monotonic()
        ex.burst_cancel.click()
        burst = ex.wait_for_burst(timeout=10)
        assert time.monotonic() - clicked < 5  # "within a second", with slack for a stalled machine; the deadline is 20 s
        assert not ex.burst_running and ex.burst_cancel.disabled
        assert [(r.result, r.detail) for r in burst.results] == [(FAILED, CANCELLED_CONNECTED)] * 4
        assert burst.stopped_early == f"{CANCELLED}: 4 of 20 sends went out"
        assert outcome_rows(ex.burst_result.value) == [
            ["Simulation failed (cancelled by the user)", "no answer", "4", "100.0 %"]
        ]
        text = text_of(ex.burst_result.value)
        assert "4 · 0 delivered · 4 failed" in text and "Stopped early: Cancelled by the user: 4 of 20" in text
        assert len(ex.history) == 4 and set(sim.history()["detail"]) == {CANCELLED_CONNECTED}
        assert len(server.requests) == 4  # nothing further went out


def wait_for(predicate, stop: threading.Event, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not stop.is_set():
        if predicate():
            return True
        time.sleep(0.02)
    return False
