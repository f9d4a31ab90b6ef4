"""The Receiver check tab: the conformance matrix and the tolerance probe against the selected
webhook, on a worker thread (the explorer stays responsive), with a request count, the elapsed
time and Cancel; the verdicts as a coloured table. Against real receivers on 127.0.0.1."""

from __future__ import annotations

import re
import time

import pytest

from simlib import Simulator
from simlib.receiver import Receiver
from simlib.toolkit.conformance import VARIANTS
from simlib.ui import GREEN, RED, Explorer
from tests.helpers import ACT, APP
from tests.ui.helpers import text_of

N = len(VARIANTS)  # the matrix's requests (the demo webhook subscribes to every event: all are sent)

SECRET = "check-panel-secret-0123456789"


def rows(html_value: str) -> list[str]:
    """The visible text of each row of the check table."""
    return [text_of(r) for r in re.findall(r'<tr class="simlib-check-row".*?</tr>', html_value)]


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_check_on_the_demo_webhook_shows_pass_rows_and_the_probe(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = explorer.tools["Receiver check"]
    assert panel.picker.value == "demo"  # the explorer's selection
    panel.run.click()
    assert panel.wait(60)
    html_value = panel.result.value
    table = rows(html_value)
    assert len(table) == N
    valid = next(r for r in table if r.startswith("valid"))
    assert "PASS" in valid and "accepted (200) as it must be" in valid
    assert sum("PASS" in r for r in table) >= N - 2 and not any("FAIL" in r for r in table)
    assert re.search(f'"background:{re.escape(GREEN)};[^"]*">PASS<', html_value)  # PASS badges in the theme's green
    text = text_of(html_value)
    assert "Receiver check: Demo receiver (local)" in text and f"{N - 2} PASS" in text and "0 FAIL" in text
    assert "Timestamp tolerance" in text and text.count("≈ 300 s") == 2  # the demo receiver's ±300 s window
    assert text_of(panel.status.value).startswith("Done:")
    assert panel.progress.value == panel.progress.max
    assert sim.history_count() == N + panel.last_probe.requests  # every request recorded
    assert not panel.run.disabled and panel.cancel.disabled


def test_a_sloppy_receiver_gets_red_fail_rows_with_their_explanation(sim, make_explorer):
    with Receiver(verify_signatures=False) as rx:
        wh = sim.create_webhook("Sloppy", rx.url, [ACT], secret=SECRET)
        explorer = make_explorer(sim)
        explorer.select(wh.id)
        panel = explorer.tools["Receiver check"]
        panel.with_probe.value = False
        panel.run.click()
        assert panel.wait(60)
    wrong = next(r for r in rows(panel.result.value) if r.startswith("wrong-secret"))
    assert "FAIL" in wrong and "it does not verify signatures" in wrong
    assert re.search(f'"background:{re.escape(RED)};[^"]*">FAIL<', panel.result.value)  # in the theme's red
    assert "Tolerance probe" not in text_of(panel.result.value) and panel.last_probe is None


def test_the_table_wraps_instead_of_overflowing(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = explorer.tools["Receiver check"]
    panel.with_probe.value = False
    panel.run.click()
    assert panel.wait(60)
    html_value = panel.result.value
    assert "table-layout:fixed" in html_value and "width:100%" in html_value
    assert "overflow-wrap:anywhere" in html_value and "nowrap" not in html_value


#: The slow receiver's delay: long enough that a check ignoring Cancel would run well past the
#: 2 s the cancel is allowed (the requests left times this), even if a stalled machine let it
#: get some requests further before the click.
SLOW_S = 0.5
CANCEL_BOUND_S = 2.0


@pytest.fixture
def slow(sim: Simulator):
    """A correct receiver that takes SLOW_S over each answer, and a webhook pointing at it."""
    with Receiver(SECRET, delay_ms=SLOW_S * 1000) as rx:
        yield rx, sim.create_webhook("Slow receiver", rx.url, [ACT, APP], secret=SECRET)


def test_cancel_stops_a_check_against_a_slow_receiver_within_a_second_and_says_so(sim, slow, make_explorer):
    rx, wh = slow
    explorer = make_explorer(sim)
    explorer.select(wh.id)
    panel = explorer.tools["Receiver check"]
    panel.run.click()
    assert panel.running and panel.run.disabled and not panel.cancel.disabled
    wait_until(lambda: panel.progress.value >= 2)
    status = text_of(panel.status.value)
    assert re.search(rf"Conformance matrix: \d+ / {N} requests · \d+\.\d s", status), status
    # meanwhile the rest of the explorer answers at once
    before = explorer.preview.value
    explorer.event.value = APP
    assert explorer.preview.value != before and APP in explorer.preview.value

    left = N - rx.count  # an ignored cancel would still wait out all of these but the one in flight
    assert (left - 1) * SLOW_S > CANCEL_BOUND_S + 1, f"only {left} requests left: the bound would prove nothing"
    t1 = time.monotonic()
    panel.cancel.click()
    assert panel.wait(5), "the check did not stop after Cancel"
    assert time.monotonic() - t1 < CANCEL_BOUND_S, "the check did not stop within the request in flight"
    sent = rx.count
    text = text_of(panel.result.value)
    assert re.search(rf"Cancelled after (\d+) of {N} requests", text), text
    assert len(rows(panel.result.value)) == sent < N
    assert "Tolerance probe: not run (cancelled)." in text
    assert text_of(panel.status.value).startswith("Cancelled:")
    time.sleep(0.5)
    assert rx.count == sent  # nothing was sent after the cancel
    assert sim.history_count() == sent and not panel.run.disabled


def test_cancel_during_the_probe_keeps_the_matrix_and_marks_the_probe(sim, make_explorer):
    with Receiver(SECRET, delay_ms=60) as rx:
        wh = sim.create_webhook("Somewhat slow", rx.url, [ACT], secret=SECRET)
        explorer = make_explorer(sim)
        explorer.select(wh.id)
        panel = explorer.tools["Receiver check"]
        panel.run.click()
        wait_until(lambda: "Tolerance probe: 3 /" in text_of(panel.status.value), timeout=30)
        panel.cancel.click()
        assert panel.wait(5)
    text = text_of(panel.result.value)
    assert len(rows(panel.result.value)) == N and "Cancelled after" not in text
    assert "not measured" in text and "cancelled after" in text and panel.last_probe.cancelled


def test_a_deleted_webhook_is_one_readable_line_in_the_panel(sim, make_explorer):
    wh = sim.create_webhook("Gone soon", "http://127.0.0.1:9/hook", [ACT], secret=SECRET)
    explorer = make_explorer(sim)
    panel = explorer.tools["Receiver check"]
    assert panel.picker.value == wh.id
    sim.delete_webhook(wh.id)
    panel.run.click()
    assert panel.wait(10)
    text = text_of(panel.result.value)
    assert text.startswith("Could not run the receiver check:") and wh.id in text
    assert "Traceback" not in text and text.count("\n") == 0
    assert not panel.run.disabled


def test_the_picker_follows_the_explorer_and_reloads_webhooks_made_elsewhere(sim, make_explorer):
    first = sim.create_webhook("First", "http://127.0.0.1:9/a", [ACT], secret=SECRET)
    explorer = make_explorer(sim)
    panel = explorer.tools["Receiver check"]
    second = sim.create_webhook("Second", "http://127.0.0.1:9/b", [ACT], secret=SECRET)  # e.g. by the CLI
    assert [v for _, v in panel.picker.dropdown.options] == [first.id]
    panel.picker.reload.click()
    assert [v for _, v in panel.picker.dropdown.options] == [first.id, second.id]
    explorer.select(second.id)
    assert panel.picker.value == second.id


def test_no_webhook_at_all_says_what_to_do(sim: Simulator):
    explorer = Explorer(sim)
    try:
        panel = explorer.tools["Receiver check"]
        panel.run.click()
        assert "Pick a webhook first" in text_of(panel.result.value) and not panel.running
    finally:
        explorer.close()


def test_a_check_the_toolkit_stopped_by_itself_says_why_not_cancelled():
    from simlib.ui.views import render_check

    row = {"variant": "valid", "sent": "s", "expected": "2xx", "observed_status": None, "verdict": "NOTE",
           "explanation": "no HTTP answer", "history_id": None}
    text = text_of(render_check([row], target="T", requests=1, total=13, cancelled=True,
                                stopped="the store is unavailable: locked"))
    assert "Stopped after 1 of 13 requests: the store is unavailable: locked." in text and "Cancelled" not in text
