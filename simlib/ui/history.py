"""The history table: the newest attempts, newest first, status coloured."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from simlib import HistoryFilter, Simulator
from simlib.ui.base import Session
from simlib.ui.render import render_history

__all__ = ["COUNT_CAP", "DEFAULT_HISTORY_ROWS", "HistoryPanel"]

DEFAULT_HISTORY_ROWS = 20
#: The footer counts the attempts up to this ("Newest 20 of 10,000+"): never a full COUNT(*).
COUNT_CAP = 10_000


class HistoryPanel:
    """``table`` shows the newest ``rows`` attempts of ``simulator``'s history (and how many
    there are, counted up to :data:`COUNT_CAP`); the History tab holds all of them. Each
    ``listeners`` callable runs after every refresh (the History tab follows the sends).
    ``scope()``, when set, is the filter the table shows (None: every attempt), e.g. this
    page's sends only (the History tab's checkbox)."""

    def __init__(self, simulator: Simulator, rows: int = DEFAULT_HISTORY_ROWS) -> None:
        self.simulator = simulator
        self.rows = rows
        self.table = w.HTML(value="")
        self.listeners: list[Callable[[], None]] = []
        self.scope: Callable[[], HistoryFilter | None] | None = None

    def follow_box(self, box: w.Checkbox, session: Session) -> None:
        """Show this page's attempts only while ``box`` ("This page's sends only") is ticked."""
        self.scope = lambda: HistoryFilter(history_ids=session.own_ids) if box.value else None
        box.observe(lambda _change: self.refresh(), names="value")

    def refresh(self) -> None:
        flt = self.scope() if self.scope is not None else None
        sim = self.simulator
        frame = sim.history(limit=self.rows) if flt is None else sim.history_matching(flt, limit=self.rows)
        total: int | str = len(frame)
        if len(frame) >= self.rows:
            count = sim.history_count_capped(flt, cap=COUNT_CAP)
            total = count.text if count.capped else count.value
        self.table.value = render_history(frame, total)
        for listener in self.listeners:
            listener()
