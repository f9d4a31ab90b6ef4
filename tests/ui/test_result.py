"""The result panel when the history cannot take the attempt: the result is still shown, with a
"could not be recorded" row, and nothing appears in the history table.

The store is made unwritable for real: another SQLite connection holds the write lock
(``BEGIN IMMEDIATE``) and the explorer's Simulator waits only 0.2 s for it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simlib import Simulator
from simlib.receiver import Receiver
from simlib.ui import Explorer
from tests.helpers import APP
from tests.ui.helpers import history_rows, send_and_wait, text_of


def table_row(panel_html: str, label: str) -> str | None:
    """The visible text of the result panel's row ``label``, or None when there is no such row."""
    m = re.search(rf"<th[^>]*>{re.escape(label)}</th><td[^>]*>(.*?)</td></tr>", panel_html, re.S)
    return text_of(m.group(1)) if m else None


class WriteLock:
    """A second connection to the store that can hold its write lock."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def take(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


@pytest.fixture
def lock(store_path: Path) -> Iterator[WriteLock]:
    held = WriteLock(store_path)
    yield held
    held.release()
    held.conn.close()


@pytest.fixture
def quick_sim(store_path: Path) -> Iterator[Simulator]:
    sim = Simulator(store_path, busy_timeout=0.2)
    yield sim
    sim.close()


def test_an_endpoint_answer_the_store_could_not_record_is_shown_as_not_recorded(
    quick_sim: Simulator, lock: WriteLock, make_explorer: Callable[..., Explorer], store_path: Path
) -> None:
    # The lock is taken while the endpoint answers: the webhook was read and the row reserved,
    # the request was sent and answered, and only writing its outcome fails.
    with Receiver(on_request=lambda _request: lock.take()) as rx:
        wh = quick_sim.create_webhook("Local", rx.url, [APP])
        explorer = make_explorer(quick_sim)
        explorer.select(wh)
        send_and_wait(explorer)
        lock.release()

    result = explorer.last_result
    assert result is not None and result.delivered and not result.recorded
    assert rx.count == 1
    panel = text_of(explorer.result.value)
    assert "✓ Delivered" in panel and "200 OK" in panel
    assert table_row(explorer.result.value, "History") == "this attempt could not be recorded: the store is unavailable"
    assert "not recorded in history" in result.detail  # the reason (with the store's path) for Python
    assert str(store_path) in result.detail and str(store_path) not in explorer.result.value  # no paths on the page
    # The row reserved before the send stays, and says what the history knows: interrupted, never
    # Delivered.
    frame = quick_sim.history()
    assert frame["result"].tolist() == ["Failed"] and frame["detail"].str.startswith("interrupted").all()
    assert history_rows(explorer) == 1

    send_and_wait(explorer)  # the store is writable again: recorded, and no such row
    assert explorer.last_result is not None and explorer.last_result.recorded
    assert table_row(explorer.result.value, "History") is None
    assert history_rows(explorer) == 2


def test_a_store_locked_before_the_send_gives_service_unavailable_not_recorded(
    quick_sim: Simulator, lock: WriteLock, make_explorer: Callable[..., Explorer], store_path: Path
) -> None:
    with Receiver() as rx:
        wh = quick_sim.create_webhook("Local", rx.url, [APP])
        explorer = make_explorer(quick_sim)
        explorer.select(wh)
        lock.take()
        send_and_wait(explorer)
        lock.release()

    result = explorer.last_result
    assert result is not None and result.error == "Service unavailable" and not result.recorded
    assert rx.count == 0  # nothing is sent when the attempt could not be recorded
    panel = text_of(explorer.result.value)
    assert "Service unavailable (503) — the store is unavailable" in panel and "✗ Failed" in panel
    assert table_row(explorer.result.value, "History") == "this attempt could not be recorded: the store is unavailable"
    # the store's file path is for Python (the detail) and the logs, never for whoever uses the page
    assert str(store_path) in result.detail and str(store_path) not in explorer.result.value
    assert history_rows(explorer) == 0 and len(quick_sim.history()) == 0


def test_a_delivered_result_does_not_repeat_its_status_as_a_detail(sim: Simulator, demo, make_explorer) -> None:
    rx, wh = demo
    explorer = make_explorer(sim, receiver=rx)
    send_and_wait(explorer)
    assert explorer.last_result is not None and explorer.last_result.detail.startswith("Delivered: 200 OK")
    assert table_row(explorer.result.value, "HTTP Status") == "200 OK"
    assert table_row(explorer.result.value, "Detail") is None  # "Delivered: 200 OK" said it twice
    assert "Delivered: 200 OK" not in text_of(explorer.result.value)


def test_a_read_timeout_is_worded_as_a_timeout_after_connecting(store_path: Path, make_explorer) -> None:
    from simlib import DeliveryConfig

    slow = Simulator(store_path, delivery=DeliveryConfig(read_timeout=0.3))
    try:
        with Receiver(delay_ms=1500) as rx:  # accepts the connection, answers too late
            wh = slow.create_webhook("Slow", rx.url, [APP])
            explorer = make_explorer(slow)
            explorer.select(wh)
            send_and_wait(explorer)
        result = explorer.last_result
        assert result is not None and result.error == "Network error", result
        row = table_row(explorer.result.value, "Simulation error") or ""
        assert "accepted the connection but did not answer in time" in row
        assert "unreachable" not in row
    finally:
        slow.close()


def test_a_refused_connection_is_still_unreachable(sim: Simulator, make_explorer) -> None:
    from tests.helpers import free_port

    wh = sim.create_webhook("Gone", f"http://127.0.0.1:{free_port()}/hooks", [APP])
    explorer = make_explorer(sim)
    explorer.select(wh)
    send_and_wait(explorer)
    row = table_row(explorer.result.value, "Simulation error") or ""
    assert "Your endpoint is unreachable" in row and "did not answer in time" not in row


@pytest.mark.parametrize(
    ("detail", "meaning"),
    [
        ("timeout: could not connect to 10.1.2.3:443 within 5 s", "Your endpoint is unreachable."),
        ("connection refused by 127.0.0.1:9 (nothing listens on that port)", "Your endpoint is unreachable."),
        ("timeout: connected, but no response within the read timeout of 15 s", "accepted the connection"),
        ("timeout: the total deadline of 30 s passed while reading the response", "accepted the connection"),
    ],
)
def test_network_errors_are_worded_by_where_they_stopped(sim: Simulator, detail: str, meaning: str) -> None:
    from simlib import NETWORK_ERROR
    from simlib.ui.wording import error_meaning

    wh = sim.create_webhook("Any", "https://hooks.example.com/t", [APP])
    result = sim.unsent_result(wh, APP, NETWORK_ERROR, detail)  # a real result with that detail
    assert meaning in error_meaning(result)


def test_a_deeply_nested_json_answer_is_shown_as_text(sim: Simulator, make_explorer) -> None:
    """Issue 11 item 10: 9,000 levels (18 KB) made json.loads raise RecursionError inside the
    panel, which stayed on "Sending…" although the attempt was delivered and recorded."""
    deep = "[" * 9000 + "]" * 9000
    with Receiver(body=deep) as rx:
        wh = sim.create_webhook("Deep", rx.url, [APP])
        explorer = make_explorer(sim)
        explorer.select(wh)
        send_and_wait(explorer)
    result = explorer.last_result
    assert result is not None and result.delivered and result.recorded
    shown = text_of(explorer.result.value)
    assert "Sending" not in shown and "200 OK" in shown
    assert "[[[[[[[[" in shown  # the body, as text
