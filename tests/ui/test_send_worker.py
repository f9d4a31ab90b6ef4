"""A single Send runs on a worker thread: against a real endpoint that accepts and never
answers, the preview follows an event change at once, the elapsed time ticks, and Cancel ends
the attempt within a second with the history row to show for it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from simlib import CANCELLED, DELIVERED, DeliveryConfig, Simulator
from tests.helpers import ACT, APP, SHOT
from tests.servers import RawServer, answer, never_answer, wait_until
from tests.ui.helpers import history_rows, send_and_wait, text_of

BOUND_S = 2.0  # "within a second", on a loaded 2-CPU machine


def elapsed_shown(value: str) -> float:
    """The seconds a "Sending … 1.2 s" line shows (-1 when it shows none)."""
    m = re.search(r"Sending.*?(\d+\.\d) s", text_of(value))
    return float(m.group(1)) if m else -1.0


@pytest.fixture
def slow_sim(tmp_path) -> Iterator[Simulator]:
    cfg = DeliveryConfig(connect_timeout=20.0, read_timeout=20.0, deadline=20.0)
    with Simulator(tmp_path / "s.db", delivery=cfg) as sim:
        yield sim


@pytest.fixture
def hanging() -> Iterator[RawServer]:
    with RawServer(never_answer()) as server:
        yield server


def test_the_page_stays_usable_while_a_send_hangs_and_cancel_records_it(slow_sim, hanging, make_explorer) -> None:
    wh = slow_sim.create_webhook("Hangs", hanging.url, [APP, SHOT, ACT])
    explorer = make_explorer(slow_sim)
    explorer.select(wh.id, APP)
    sent_preview = explorer.current_preview
    explorer.send.click()
    assert explorer.send_running and explorer.send.disabled and not explorer.send_cancel.disabled
    assert wait_until(lambda: len(hanging.requests) == 1, 5)  # it is out, and nothing answers

    # The kernel is free: an event change rebuilds the preview at once.
    started = time.monotonic()
    explorer.event.value = SHOT
    assert time.monotonic() - started < 5  # far below the hanging send's 20 s
    assert explorer.current_preview.event_type == SHOT
    assert SHOT in text_of(explorer.preview.value) and explorer.send_running

    # The elapsed time ticks, in the status line and in the result panel.
    assert wait_until(lambda: elapsed_shown(explorer.send_status.value) >= 0.6, 5)
    assert elapsed_shown(explorer.result.value) >= 0.6

    clicked = time.monotonic()
    explorer.send_cancel.click()
    assert wait_until(lambda: not explorer.send_running, BOUND_S), "Cancel did not end the send"
    assert time.monotonic() - clicked < BOUND_S
    result = explorer.last_result
    assert result.detail.startswith(CANCELLED) and result.event_type == APP  # what was sent: the preview at the click
    assert result.request_body == sent_preview.body
    shown = text_of(explorer.result.value)
    assert "Cancelled by the user" in shown and "✗ Failed" in shown
    assert "You cancelled this attempt" in shown and "check your endpoint logs" not in shown
    assert "Cancelled in" in text_of(explorer.send_status.value)
    row = slow_sim.history().iloc[-1]
    assert row["detail"].startswith(CANCELLED) and row["result"] == "Failed"
    assert history_rows(explorer) == 1
    assert not explorer.send.disabled and explorer.send_cancel.disabled  # ready for the next one


def test_a_send_that_answers_shows_its_result_and_disables_cancel(sim, make_explorer) -> None:
    with RawServer(answer()) as server:
        wh = sim.create_webhook("Answers", server.url, [APP])
        explorer = make_explorer(sim)
        explorer.select(wh.id)
        send_and_wait(explorer)
        assert explorer.last_result.result == DELIVERED
        assert "Delivered" in text_of(explorer.result.value)
        assert "Done in" in text_of(explorer.send_status.value) and explorer.send_cancel.disabled


def test_closing_the_explorer_cancels_a_send_in_flight(slow_sim, hanging, make_explorer) -> None:
    wh = slow_sim.create_webhook("Hangs", hanging.url, [APP])
    explorer = make_explorer(slow_sim)
    explorer.select(wh.id)
    explorer.send.click()
    assert wait_until(lambda: len(hanging.requests) == 1, 5)
    explorer.close()
    assert wait_until(lambda: not explorer.send_running, BOUND_S)
    assert slow_sim.history().iloc[-1]["detail"].startswith(CANCELLED)
