"""The explorer's Burst panel: runs on a worker thread, shows progress and the summary, records
every attempt, and keeps Send disabled meanwhile."""

from __future__ import annotations

import pytest

from simlib import Simulator
from simlib.receiver import Receiver
from simlib.ui import Explorer
from tests.helpers import ACT, APP
from tests.ui.helpers import text_of


@pytest.fixture
def explorer(tmp_path):
    sim = Simulator(tmp_path / "s.db")
    ex = Explorer.with_demo(sim, seed=5)
    yield ex
    ex.close()
    sim.close()


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
    assert "25 · 25 delivered" in text and "sends/s" in text and "p95" in text
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
        assert "4 failed (HTTP 500: 4)" in text
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
