"""The Local receiver panel, driven headlessly against the real embedded receiver: start and
stop it, change how it answers and verifies, and watch the live feed the watcher thread keeps
up to date (the tests never call ``refresh`` before reading the feed, unless they say so)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from simlib import Simulator, sign
from simlib.ui import Explorer
from simlib.ui.receiver_tab import ReceiverPanel
from tests.helpers import APP
from tests.ui.helpers import send_and_wait, text_of, visible


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def panel_of(explorer: Explorer) -> ReceiverPanel:
    panel = explorer.tools["Local receiver"]
    assert isinstance(panel, ReceiverPanel)
    return panel


def feed_cells(panel: ReceiverPanel) -> list[list[str]]:
    """The feed's rows, newest first, as the visible text of their cells."""
    rows = panel.feed.value.split('<tr class="simlib-feed-row">')[1:]
    return [[text_of(cell) for cell in row.split("</tr>")[0].split("</td>")[:-1]] for row in rows]


def feed_rows(panel: ReceiverPanel) -> list[str]:
    """The feed's rows as visible text, newest first."""
    return [" | ".join(cells) for cells in feed_cells(panel)]


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers={"content-type": "application/json", **headers}, timeout=5)


def signed(sim: Simulator, body: bytes, webhook_id: str = "demo") -> dict[str, str]:
    return sign(sim.get_webhook(webhook_id).secret.reveal(), body, sim.now_ms())


def test_the_panel_is_a_workbench_tab(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = panel_of(explorer)
    assert panel.widget in explorer.workbench.children and visible(explorer.workbench)
    assert "● Listening at " + explorer.receiver.url in text_of(panel.state.value)
    assert "Demo receiver (local)" in text_of(panel.state.value)  # the webhooks aimed at it
    assert panel.start.disabled and not panel.stop.disabled
    assert "No request received yet" in text_of(panel.feed.value)


def test_live_feed_shows_a_signed_sends_verdict_and_a_tampered_ones_failure(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = panel_of(explorer)
    send_and_wait(explorer)
    assert explorer.last_result.delivered
    # the watcher thread redraws the feed; nothing here asks it to
    assert eventually(lambda: len(feed_rows(panel)) == 1)
    (row,) = feed_rows(panel)
    assert "✓ signature valid" in row and "200 OK" in row and APP in row

    body = explorer.current_preview.body
    headers = signed(sim, body)
    tampered = body.replace(b'"simulation":true', b'"simulation":false')
    assert tampered != body
    assert post(explorer.receiver.url, tampered, headers).status_code == 401

    assert eventually(lambda: len(feed_rows(panel)) == 2)
    newest, oldest = feed_rows(panel)
    assert "✗ no signature matched" in newest and "401 Unauthorized" in newest
    assert "✓ signature valid" in oldest
    assert "2 requests, 1 verified" in text_of(panel.state.value)


def test_the_feed_is_bounded_newest_first(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = panel_of(explorer)
    for _ in range(5):
        send_and_wait(explorer)
    panel.rows = 3
    panel.refresh(force=True)
    rows = feed_rows(panel)
    assert len(rows) == 3 and [cells[0] for cells in feed_cells(panel)] == ["5", "4", "3"]
    assert "Newest 3 of 5 requests" in text_of(panel.feed.value)
    panel.clear.click()
    assert "No request received yet" in text_of(panel.feed.value)


def test_status_delay_and_body_of_the_answers(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = panel_of(explorer)
    panel.status.value = 503
    panel.delay.value = 300
    panel.body.value = '{"down": "for maintenance"}'
    send_and_wait(explorer)
    result = explorer.last_result
    assert result.http_status == 503 and not result.delivered
    assert result.response_body == '{"down": "for maintenance"}'
    assert result.latency_ms >= 300
    assert "503 Service Unavailable" in text_of(explorer.result.value)

    panel.status.value, panel.delay.value, panel.body.value = 200, 0, ""
    send_and_wait(explorer)
    assert explorer.last_result.delivered and '"received": true' in explorer.last_result.response_body


def test_verification_off_and_the_sloppy_receiver_switches(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = panel_of(explorer)
    rx = explorer.receiver
    body = explorer.current_preview.body
    wrong = sign("not-the-secret-at-all", body, sim.now_ms())

    panel.reject_invalid.value = False  # sloppy: records the verdict, answers 200 anyway
    assert post(rx.url, body, wrong).status_code == 200
    panel.refresh()
    assert "✗ no signature matched" in feed_rows(panel)[0] and "200 OK" in feed_rows(panel)[0]

    panel.reject_invalid.value = True
    panel.verify.value = False  # no verification at all
    assert post(rx.url, body, wrong).status_code == 200
    panel.refresh()
    assert "not verified" in feed_rows(panel)[0]

    panel.verify.value = True
    panel.unit.value = "s"  # the Stripe-style bug: a millisecond timestamp read as seconds
    send_and_wait(explorer)
    assert explorer.last_result.http_status == 401
    panel.refresh()
    assert "ms in the future (read as s)" in feed_rows(panel)[0]

    panel.unit.value = "ms"
    panel.replay.value = True  # the same request twice: the second is a replay
    headers = signed(sim, body)
    assert post(rx.url, body, headers).status_code == 200
    assert post(rx.url, body, headers).status_code == 409
    panel.refresh()
    assert "replayed" in feed_rows(panel)[0]

    panel.replay.value = False
    panel.window.value = False  # no timestamp window: an hour-old signature passes
    assert panel.tolerance.disabled and panel.reject_future.disabled
    old = sign(sim.get_webhook("demo").secret.reveal(), body, sim.now_ms() - 3_600_000)
    assert post(rx.url, body, old).status_code == 200
    panel.window.value = True
    panel.tolerance.value = 60
    assert rx.tolerance_ms == 60_000
    assert post(rx.url, body, old).status_code == 401


def test_stop_and_start_again_on_the_same_port(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = panel_of(explorer)
    rx, port = explorer.receiver, explorer.receiver.port
    panel.stop.click()
    assert not rx.running and "○ Stopped" in text_of(panel.state.value)
    assert panel.stop.disabled and not panel.start.disabled
    send_and_wait(explorer)
    assert explorer.last_result.error == "Network error"

    panel.status.value = 202  # a setting changed while stopped is kept across the restart
    panel.start.click()
    assert explorer.receiver is rx and rx.running and rx.port == port
    assert "● Listening" in text_of(panel.state.value)
    send_and_wait(explorer)
    assert explorer.last_result.http_status == 202 and explorer.last_result.delivered


def test_start_gives_an_explorer_without_a_receiver_one(sim, make_explorer):
    sim.create_webhook("Elsewhere", "https://hooks.example.com/t", [APP])
    explorer = make_explorer(sim)
    panel = panel_of(explorer)
    assert explorer.receiver is None and "○ Stopped" in text_of(panel.state.value)
    panel.start.click()
    assert explorer.receiver is not None and explorer.receiver.running
    assert [wh.name for wh in sim.list_webhooks()] == ["Elsewhere"]  # no webhook made behind the user's back


def test_the_watcher_thread_ends_when_the_explorer_closes(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = panel_of(explorer)
    assert panel._thread.is_alive()
    explorer.close()
    panel._thread.join(timeout=3)
    assert not panel._thread.is_alive()
