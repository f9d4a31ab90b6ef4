"""The history table: the newest attempts, newest first, status coloured."""

from __future__ import annotations

import ipywidgets as w

from simlib import Simulator
from simlib.ui.render import render_history

__all__ = ["DEFAULT_HISTORY_ROWS", "HistoryPanel"]

DEFAULT_HISTORY_ROWS = 20


class HistoryPanel:
    """``table`` shows the newest ``rows`` attempts of ``simulator``'s history (and how many
    there are in all); the full history is ``simulator.history()``."""

    def __init__(self, simulator: Simulator, rows: int = DEFAULT_HISTORY_ROWS) -> None:
        self.simulator = simulator
        self.rows = rows
        self.table = w.HTML(value="")

    def refresh(self) -> None:
        frame = self.simulator.history(limit=self.rows)
        total = self.simulator.history_count() if len(frame) >= self.rows else len(frame)
        self.table.value = render_history(frame, total)
