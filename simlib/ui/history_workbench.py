"""The History tab: the grid over the whole history (filtered, sorted, paged in the store), the
detail of the selected attempt with its links and actions, and the export of the filtered rows
as a browser download (CSV, JSON, Parquet).

It follows the explorer's short history list (:class:`~simlib.ui.history.HistoryPanel`): every
refresh of that list (after a send, a burst, a Refresh) refreshes the grid, at a cost that does
not grow with the history (one keyset page and a capped count).
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as w

from simlib import EXPORT_FORMATS, HistoryFilter, NotFoundError
from simlib.ui.base import Session, describe_error, guarded
from simlib.ui.blocks import muted, notice, panel
from simlib.ui.history import HistoryPanel
from simlib.ui.history_actions import RowActions
from simlib.ui.history_grid import HistoryGrid
from simlib.ui.history_views import download_link, render_detail
from simlib.ui.jobs import Job

__all__ = ["EXPORT_ROWS", "HistoryWorkbench"]

#: An export covers at most the newest this many matching rows (said next to the button).
EXPORT_ROWS = 100_000
_MIME = {"csv": "text/csv", "json": "application/json", "parquet": "application/vnd.apache.parquet"}


def _row() -> w.Layout:
    return w.Layout(flex_flow="row wrap", align_items="center", width="100%")


class HistoryWorkbench:
    """``grid`` (filters, page, pager), ``detail`` (the open attempt) with ``links`` to the row
    it replays and the rows replaying it, ``actions`` on it, and the export of the filter.
    ``open(history_id)`` opens any attempt; ``current_filter`` is what the filter bar says."""

    def __init__(self, session: Session, follow: HistoryPanel | None = None) -> None:
        self.session = session
        self.history_id: int | None = None
        self.grid = HistoryGrid(session, on_select=self.open)
        self.detail = w.HTML(value=panel(muted("Select a row to open it: the exact bytes sent, the answer, replay …")))
        self.links = w.HBox([], layout=_row())
        self.actions = RowActions(session, on_recorded=self._after_replay, open_row=self.open)
        self.export_format = w.Dropdown(description="Export", options=list(EXPORT_FORMATS), value="csv",
                                        layout=w.Layout(width="auto", flex="0 1 200px"))
        self.export = w.Button(description="Prepare download", layout=w.Layout(width="auto"))
        self.export_link = w.HTML(value=muted(f"The rows of the current filter (the newest {EXPORT_ROWS:,} at most)."))
        self.export_job: Job[bytes] = Job("simlib-export")
        self.last_export: bytes | None = None
        self.body = w.VBox([self.links, self.detail, self.actions.widget], layout=w.Layout(width="100%"))
        self.widget = w.VBox([
            self.grid.widget,
            w.HBox([self.export_format, self.export, self.export_link], layout=_row()),
            self.body,
        ], layout=w.Layout(width="100%"))
        self.widget.add_class("simlib-history-workbench")
        self.export.on_click(self._on_export_click)
        self.actions.set_row(None)
        if follow is not None:
            follow.listeners.append(self.refresh)
        self.refresh()

    @property
    def current_filter(self) -> HistoryFilter:
        return self.grid.filters.current()

    @guarded("refresh the history")
    def refresh(self) -> None:
        """Re-read the page shown and the webhook choices (a send, a burst, another user's change)."""
        self.grid.filters.refresh_webhooks()
        self.grid.refresh()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a replay or an export in progress; True when none runs any more."""
        return self.actions.wait(timeout) and self.export_job.wait(timeout)

    @guarded("open the attempt")
    def open(self, history_id: int) -> None:
        """Show attempt ``history_id``: its detail, its links, the actions on it."""
        sim = self.session.simulator
        try:
            rec = sim.history_row(history_id)
        except NotFoundError:
            self.detail.value = panel(notice(f"There is no attempt #{history_id} in the history."))
            return
        self.history_id = history_id
        self.detail.value = render_detail(rec)
        self._show_links(rec, sim.replays_of(history_id))
        self.actions.set_row(history_id)
        if self.grid.selected_id != history_id and history_id in self.grid.ids:
            self.grid.table.selected_rows = [self.grid.ids.index(history_id)]

    def _show_links(self, rec: dict[str, Any], replays: list[int]) -> None:
        buttons: list[w.Widget] = []
        if rec.get("replay_of") is not None:
            buttons.append(self._link(f"↩ Replays #{rec['replay_of']}", int(rec["replay_of"])))
        if replays:
            buttons.append(w.HTML(value=muted("Replayed by")))
            buttons.extend(self._link(f"#{hid}", hid) for hid in replays)
        self.links.children = tuple(buttons)

    def _link(self, label: str, target: int) -> w.Button:
        button = w.Button(description=label, tooltip=f"Open attempt #{target}", layout=w.Layout(width="auto"))
        button.on_click(lambda _b: self.open(target))
        return button

    def _after_replay(self, new_id: int | None) -> None:
        self.grid.refresh()
        if self.history_id is not None:  # the open row now has one more replay
            self.open(self.history_id)

    @guarded("export the history")
    def _on_export_click(self, _button: w.Button | None = None) -> None:
        if self.export_job.running:
            return
        fmt, flt, sim = str(self.export_format.value), self.grid.filters.checked(), self.session.simulator
        if flt is None:  # said by the filter bar too; never an export of rows it does not say
            self.export_link.value = notice(f"Not exported: the filter is not applied — {self.grid.filters.problem}")
            return
        self.export.disabled = True
        self.export_link.value = muted(f"Preparing {fmt.upper()} …")

        def work(_cancel: threading.Event) -> bytes:
            return sim.export_bytes(fmt, flt, limit=EXPORT_ROWS)

        def done(data: bytes | None, error: BaseException | None) -> None:
            self.export.disabled = False
            if data is None:
                self.session.last_error = error
                self.export_link.value = notice(f"Could not export: {describe_error(error or ValueError('no data'))}")
                return
            self.last_export = data
            self.export_link.value = download_link(data, f"simlib-history.{fmt}", _MIME[fmt])

        self.export_job.start(work, tick=lambda: None, done=done)
