"""Reading the explorer's widgets the way a user sees them."""

from __future__ import annotations

import html
import re
from typing import Any

from simlib.ui import Explorer


def text_of(value: str) -> str:
    """The visible text of an HTML fragment."""
    return html.unescape(re.sub(r"<[^>]+>", "", value))


def visible(widget: Any) -> bool:
    return bool(widget.layout.display != "none")


def history_rows(explorer: Explorer) -> int:
    """How many attempts the history table shows."""
    return int(explorer.history_table.value.count('class="simlib-history-row"'))


def send_and_wait(explorer: Explorer) -> None:
    """Click Send Test Event and wait for the send (it runs on a worker thread) to show its result."""
    explorer.send.click()
    explorer.wait(60)
    assert not explorer.send_running, "the send did not finish within 60 s"
