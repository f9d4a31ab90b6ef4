"""The History tab's filter bar: webhook, event type, result, status class, time range, free text,
who sent it and from which host (a shared store), "This page's sends only" (several pages on one
server), sort order and page size, read as one :class:`simlib.HistoryFilter`.

A From/To that is not a time is said on the line right under those fields (the field marked, what
was typed kept), not at the top of the page: :meth:`FilterBar.checked` is then None, and the grid
shows that the filter is not applied until the field is fixed or cleared."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ipywidgets as w

from simlib import (
    DELIVERED,
    EVENT_NOT_REGISTERED,
    FAILED,
    HISTORY_ORDERS,
    NETWORK_ERROR,
    SERVICE_UNAVAILABLE,
    SIMULATION_FAILED,
    WEBHOOK_NOT_FOUND,
    HistoryFilter,
    HistoryOrder,
    ValidationError,
    event_types,
)
from simlib.ui.base import Session, describe_error, guarded, show
from simlib.ui.blocks import notice
from simlib.ui.theme import RED

__all__ = ["ORDER_LABELS", "FilterBar"]

ORDER_LABELS: dict[str, str] = {
    "newest": "Newest first", "oldest": "Oldest first", "slowest": "Slowest first", "fastest": "Fastest first",
    "status_desc": "Status: highest first", "status_asc": "Status: lowest first",
}
_RESULTS = [DELIVERED, FAILED, NETWORK_ERROR, WEBHOOK_NOT_FOUND, EVENT_NOT_REGISTERED, SERVICE_UNAVAILABLE, SIMULATION_FAILED]
_CLASSES = [("2xx", "2xx"), ("3xx", "3xx"), ("4xx", "4xx"), ("5xx", "5xx"), ("no status (not answered)", "none")]
_RANGES = [("Any time", 0), ("Last 15 minutes", 15 * 60_000), ("Last hour", 3_600_000), ("Last 24 hours", 86_400_000),
           ("Last 7 days", 7 * 86_400_000), ("Between…", -1)]


def _small() -> w.Layout:
    return w.Layout(width="auto", flex="0 1 220px", min_width="150px")


def _parse_utc(field: str, text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, f"not a time: {text[:40]!r} (e.g. 2026-01-28 09:00, in UTC)") from None
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)


class FilterBar:
    """The filter widgets; ``on_change()`` runs after any of them changes. :meth:`current` is
    the filter they say now (relative time ranges end at the simulator's clock)."""

    def __init__(self, session: Session, on_change: Callable[[], None]) -> None:
        self.session = session
        self.on_change = on_change
        self.webhook = w.Dropdown(description="Webhook", options=[("All", "")], layout=_small())
        self.event = w.Dropdown(description="Event", options=[("All", ""), *((e.name, e.name) for e in event_types())],
                                layout=_small())
        self.result = w.Dropdown(description="Result", options=[("All", ""), *((r, r) for r in _RESULTS)], layout=_small())
        self.status = w.Dropdown(description="Status", options=[("All", ""), *_CLASSES], layout=_small())
        self.time_range = w.Dropdown(description="Time", options=_RANGES, value=0, layout=_small())
        self.since = w.Text(description="From", placeholder="2026-01-28 09:00 (UTC)", continuous_update=False, layout=_small())
        self.until = w.Text(description="To", placeholder="2026-01-28 18:00 (UTC)", continuous_update=False, layout=_small())
        self.text = w.Text(description="Search", placeholder="id, text in a body, a detail, a header …",
                           continuous_update=False, layout=w.Layout(width="auto", flex="1 1 300px", min_width="200px"))
        self.user = w.Text(description="Sent by", placeholder="user (all)", continuous_update=False, layout=_small())
        self.host = w.Text(description="Host", placeholder="host (all)", continuous_update=False, layout=_small())
        self.order = w.Dropdown(description="Sort", options=[(ORDER_LABELS[o], o) for o in HISTORY_ORDERS],
                                value="newest", layout=_small())
        self.page_rows = w.Dropdown(description="Rows", options=[10, 25, 50, 100], value=25,
                                    layout=w.Layout(width="auto", flex="0 1 130px"))
        self.mine = w.Checkbox(
            value=session.page_sends_only, description="This page's sends only", indent=False,
            tooltip="Only the attempts this page made (sends, bursts, replays, imports, checks), not other users' sends "
                    "to the same store", layout=w.Layout(width="auto", flex="0 0 auto"),
        )
        self.clear = w.Button(description="Clear filters", layout=w.Layout(width="auto"))
        #: Why the filter is not applied (a From/To that is not a time), right under those fields.
        self.error = w.HTML(value="")
        self.error.add_class("simlib-history-filter-error")
        self.problem: str | None = None
        for widget in (self.webhook, self.event, self.result, self.status, self.time_range, self.since, self.until,
                       self.text, self.user, self.host, self.order, self.page_rows):
            widget.style.description_width = "72px"  # "Webhook" whole, in Lab and in Voilà
        box = w.Layout(flex_flow="row wrap", width="100%", align_items="center")
        self.widget = w.VBox([
            w.HBox([self.webhook, self.event, self.result, self.status], layout=box),
            w.HBox([self.time_range, self.since, self.until, self.order, self.page_rows], layout=box),
            self.error,
            w.HBox([self.text, self.user, self.host, self.mine, self.clear], layout=box),
        ], layout=w.Layout(width="100%"))
        self._quiet = False
        for widget in (self.webhook, self.event, self.result, self.status, self.since, self.until, self.text,
                       self.user, self.host, self.mine, self.order, self.page_rows):
            widget.observe(self._changed, names="value")
        self.time_range.observe(self._range_changed, names="value")
        self.clear.on_click(self._on_clear_click)
        self._show_between()
        self.refresh_webhooks()

    def refresh_webhooks(self) -> None:
        """Reload the webhook choices (keeping the choice when it still exists)."""
        keep = self.webhook.value
        options = [("All", ""), *((f"{wh.name} ({wh.id})", wh.id) for wh in self.session.webhooks())]
        self._quiet = True
        try:
            self.webhook.options = options
            self.webhook.value = keep if keep in {v for _, v in options} else ""
        finally:
            self._quiet = False

    def current(self) -> HistoryFilter:
        """The filter the widgets say (a ValidationError for a time that is not one)."""
        span = int(self.time_range.value)
        since = until = None
        if span > 0:
            since = self.session.simulator.now_ms() - span
        elif span < 0:
            since, until = _parse_utc("From", self.since.value), _parse_utc("To", self.until.value)
        return HistoryFilter(
            webhook=self.webhook.value or None, event_type=self.event.value or None, result=self.result.value or None,
            status_class=self.status.value or None, since_ms=since, until_ms=until, text=self.text.value,
            user=self.user.value.strip() or None, host=self.host.value.strip() or None,
            history_ids=self.session.own_ids if self.mine.value else None,
        )

    def checked(self) -> HistoryFilter | None:
        """:meth:`current`, or None when a field is not valid: then the line under From/To says
        why and that the filter is not applied, and the field is marked; a valid filter clears
        both."""
        errors: list[str] = []
        bad: set[str] = set()
        if int(self.time_range.value) < 0:
            for field, box in (("From", self.since), ("To", self.until)):
                try:
                    _parse_utc(field, box.value)
                except ValidationError as exc:
                    errors.append(describe_error(exc))
                    bad.add(field)
        flt = None
        if not errors:
            try:
                flt = self.current()
            except ValidationError as exc:  # not one of the times (no widget can say one now)
                errors.append(describe_error(exc))
        for field, box in (("From", self.since), ("To", self.until)):
            box.layout.border = f"1px solid {RED}" if field in bad else None
        self.problem = "; ".join(errors) or None
        self.error.value = "" if self.problem is None else notice(
            f"{self.problem} — filter not applied: no rows are shown until you fix or clear it.")
        return flt

    @property
    def order_value(self) -> HistoryOrder:
        value: HistoryOrder = self.order.value
        return value

    def _show_between(self) -> None:
        between = self.time_range.value == -1
        show(self.since, between)
        show(self.until, between)

    def _changed(self, _change: dict[str, Any] | None = None) -> None:
        if not self._quiet:
            self.on_change()

    @guarded("change the time range")
    def _range_changed(self, _change: dict[str, Any]) -> None:
        self._show_between()
        self._changed()

    @guarded("clear the filters")
    def _on_clear_click(self, _button: w.Button | None = None) -> None:
        self._quiet = True
        try:
            for widget in (self.webhook, self.event, self.result, self.status, self.text, self.since, self.until,
                           self.user, self.host):
                widget.value = ""
            self.time_range.value = 0
            self.mine.value = self.session.page_sends_only  # back to how the page opened
        finally:
            self._quiet = False
        self._show_between()
        self.on_change()
