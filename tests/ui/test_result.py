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
from tests.ui.helpers import history_rows, text_of


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
    quick_sim: Simulator, lock: WriteLock, make_explorer: Callable[..., Explorer]
) -> None:
    # The lock is taken while the endpoint answers: the webhook was read, the request was sent
    # and answered, and only the history append fails.
    with Receiver(on_request=lambda _request: lock.take()) as rx:
        wh = quick_sim.create_webhook("Local", rx.url, [APP])
        explorer = make_explorer(quick_sim)
        explorer.select(wh)
        explorer.send.click()
        lock.release()

    result = explorer.last_result
    assert result is not None and result.delivered and not result.recorded
    assert rx.count == 1
    panel = text_of(explorer.result.value)
    assert "✓ Delivered" in panel and "200 OK" in panel
    assert table_row(explorer.result.value, "History") == "this attempt could not be recorded"
    assert "not recorded in history" in panel  # the reason, in the detail row
    assert history_rows(explorer) == 0 and len(quick_sim.history()) == 0

    explorer.send.click()  # the store is writable again: recorded, and no such row
    assert explorer.last_result is not None and explorer.last_result.recorded
    assert table_row(explorer.result.value, "History") is None
    assert history_rows(explorer) == 1


def test_a_store_locked_before_the_send_gives_service_unavailable_not_recorded(
    quick_sim: Simulator, lock: WriteLock, make_explorer: Callable[..., Explorer]
) -> None:
    with Receiver() as rx:
        wh = quick_sim.create_webhook("Local", rx.url, [APP])
        explorer = make_explorer(quick_sim)
        explorer.select(wh)
        lock.take()
        explorer.send.click()
        lock.release()

    result = explorer.last_result
    assert result is not None and result.error == "Service unavailable" and not result.recorded
    assert rx.count == 0  # nothing is sent when the attempt could not be recorded
    panel = text_of(explorer.result.value)
    assert "Service unavailable (503)" in panel and "✗ Failed" in panel
    assert table_row(explorer.result.value, "History") == "this attempt could not be recorded"
    assert history_rows(explorer) == 0 and len(quick_sim.history()) == 0
