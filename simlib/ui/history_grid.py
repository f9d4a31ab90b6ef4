"""The History tab's grid: one page of attempts at a time, read from the store by keyset (flat
cost at a million rows), shown in itables' DataTables widget (bundled, so it works offline, in
JupyterLab and in Voilà) with single-row selection, and a pager of our own.

DataTables gets only the page: its own paging, search and sorting are off (they would act on
those rows only); the filter bar and the Sort dropdown ask the store instead. While the filter
bar holds a time that is not one, the grid shows no rows and its count line says the filter is
not applied (rather than the unfiltered rows, which would look filtered).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from simlib import CappedCount, HistoryFilter, HistoryPage, PageCursor
from simlib.ui.base import Session, guarded
from simlib.ui.blocks import notice
from simlib.ui.history_filters import FilterBar
from simlib.ui.history_views import page_frame, render_count

__all__ = ["COUNT_CAP", "HistoryGrid", "make_table"]

#: The count line counts matching attempts up to this ("10,000+"), never the whole table.
COUNT_CAP = 10_000
_TABLE_OPTIONS: dict[str, Any] = {
    "select": {"style": "single"}, "paging": False, "ordering": False, "showIndex": False, "allow_html": True,
    "layout": {"topStart": None, "topEnd": None, "bottomStart": None, "bottomEnd": None},
    "classes": "display compact cell-border", "style": "width:100%;margin:0", "autoWidth": False,
}


def make_table(frame: Any) -> Any:
    """itables' widget over ``frame`` (one page), single selection, nothing of DataTables' own paging."""
    from itables.widget import ITable

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # itables warns about options it does not document
        return ITable(frame, selected_rows=[], **_TABLE_OPTIONS)


class HistoryGrid:
    """Filters, the page (``table``, an ``itables.widget.ITable``), the pager and the count line.

    ``page`` is the page shown; ``on_select(history_id)`` runs when a row is selected.
    """

    def __init__(self, session: Session, on_select: Callable[[int], None]) -> None:
        self.session = session
        self.on_select = on_select
        self.filters = FilterBar(session, on_change=self._on_filter_change)
        self.page = HistoryPage((), False, None, None)
        self.count = CappedCount(0, False)
        self.start = 1  # the position of the page's first row among the matches
        self._older = False  # rows exist past the page's last row
        self._newer = False  # rows exist before the page's first row
        self._anchor: tuple[str, PageCursor | None] = ("first", None)  # how the page shown was read
        self.table = make_table(page_frame(()))
        self.table.observe(self._on_selected, names="selected_rows")
        self.newest = w.Button(description="« Newest", tooltip="The first page", layout=w.Layout(width="auto"))
        self.newer = w.Button(description="← Previous", layout=w.Layout(width="auto"))
        self.older = w.Button(description="Next →", layout=w.Layout(width="auto"))
        self.status = w.HTML(value="")
        self.widget = w.VBox([
            self.filters.widget,
            w.Box([self.table], layout=w.Layout(width="100%", overflow="auto")),
            w.HBox([self.newest, self.newer, self.older, self.status],
                   layout=w.Layout(flex_flow="row wrap", align_items="center")),
        ], layout=w.Layout(width="100%"))
        self.newest.on_click(self._on_newest_click)
        self.newer.on_click(self._on_newer_click)
        self.older.on_click(self._on_older_click)

    @property
    def ids(self) -> list[int]:
        """The history ids of the page's rows, in the order shown."""
        return [int(r["id"]) for r in self.page.rows]

    def refresh(self) -> None:
        """Read the page shown again (after a send: on the first page the new row appears first)
        and the capped count; the selection stays when its row is still on the page."""
        how, cursor = self._anchor
        self._load(after=cursor if how == "after" else None, before=cursor if how == "before" else None, how=how)

    def first_page(self) -> None:
        self.start = 1
        self._load(how="first")

    def _load(self, *, how: str, after: PageCursor | None = None, before: PageCursor | None = None) -> None:
        sim = self.session.simulator
        flt, rows = self.filters.checked(), int(self.filters.page_rows.value)
        if flt is None:
            self._not_applied()
            return
        page = sim.history_page(flt, order=self.filters.order_value, after=after, before=before, limit=rows)
        if how == "before" and len(page.rows) < rows:  # fewer newer rows than a page: show the first page
            page, how, after, before = sim.history_page(flt, order=self.filters.order_value, limit=rows), "first", None, None
            self.start = 1
        self._anchor = (how, after if how == "after" else before)
        if how == "first":
            self._newer, self._older = False, page.has_more
        elif how == "after":
            self._newer, self._older = True, page.has_more
        else:
            self._newer, self._older = page.has_more, True
        self.count = sim.history_count_capped(flt, cap=COUNT_CAP)
        selected = self.selected_id
        self.page = page
        self.table.update(page_frame(page.rows), selected_rows=[], **_TABLE_OPTIONS)
        if selected in self.ids:
            self.table.selected_rows = [self.ids.index(selected)]
        self._follow(flt)

    def _not_applied(self) -> None:
        """No rows while the filter is not valid (the filter bar says why): the grid must not
        look filtered when it is not."""
        self.page, self.count, self.start = HistoryPage((), False, None, None), CappedCount(0, False), 1
        self._anchor, self._newer, self._older = ("first", None), False, False
        self.table.update(page_frame(()), selected_rows=[], **_TABLE_OPTIONS)
        self.newest.disabled = self.newer.disabled = self.older.disabled = True
        self.status.value = notice("Filter not applied (see the time above): no rows shown until it is fixed or cleared.")

    @property
    def selected_id(self) -> int | None:
        chosen = list(self.table.selected_rows or [])
        ids = self.ids
        return ids[chosen[0]] if chosen and 0 <= chosen[0] < len(ids) else None

    def _follow(self, flt: HistoryFilter) -> None:
        self.newest.disabled = self.newer.disabled = not self._newer
        self.older.disabled = not self._older
        self.status.value = render_count(self.count, self.start, len(self.page.rows), not flt.empty)

    @guarded("apply the filter")
    def _on_filter_change(self) -> None:
        self.first_page()

    @guarded("open the attempt")
    def _on_selected(self, change: dict[str, Any]) -> None:
        hid = self.selected_id
        if hid is not None:
            self.on_select(hid)

    @guarded("show the first page")
    def _on_newest_click(self, _button: w.Button | None = None) -> None:
        self.first_page()

    @guarded("show the next page")
    def _on_older_click(self, _button: w.Button | None = None) -> None:
        if self._older and self.page.last is not None:
            self.start += len(self.page.rows)
            self._load(how="after", after=self.page.last)

    @guarded("show the previous page")
    def _on_newer_click(self, _button: w.Button | None = None) -> None:
        if self._newer and self.page.first is not None:
            self.start = max(1, self.start - int(self.filters.page_rows.value))
            self._load(how="before", before=self.page.first)
