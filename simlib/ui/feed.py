"""What the Local receiver panel shows, rendered: its state line and the live feed of the
requests it received with their verdicts. Pure functions, data in, an HTML string out."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from simlib.ui.blocks import badge, header_cell, muted, panel, status_colour, status_text
from simlib.ui.theme import GREEN, GREY, RED

if TYPE_CHECKING:
    from simlib import ReceivedRequest, Receiver, Webhook

__all__ = ["FEED_ROWS", "render_feed", "render_receiver_state", "verdict_html"]

#: The newest requests the feed shows (the receiver keeps more; ``receiver.requests``).
FEED_ROWS = 50


def render_receiver_state(receiver: Receiver | None, aimed: Sequence[Webhook]) -> str:
    """``● Listening at …`` with the counters and the webhooks aimed at it, or ``○ Stopped``."""
    if receiver is None or not receiver.running:
        where = f" (it was on port {receiver.port})" if receiver is not None and receiver.port else ""
        return panel(
            f'<b style="color:{GREY}">○ Stopped</b>{html.escape(where)} '
            + muted("Start it to get a test endpoint on this machine that verifies signatures.")
        )
    stats = receiver.stats()
    answered = ", ".join(f"{n}× {code}" for code, n in stats["answered"].items()) or "none yet"
    names = ", ".join(wh.name for wh in aimed) or "none yet (use “Use local receiver” in the webhook form)"
    return panel(
        f'<b style="color:{GREEN}">● Listening</b> at <code>{html.escape(receiver.url)}</code><br>'
        + muted(f"{stats['requests']} requests, {stats['verified']} verified; answered: {answered}")
        + "<br>"
        + muted(f"Webhooks aimed at it: {names}")
    )


def verdict_html(request: ReceivedRequest) -> str:
    """✓ signature valid (green), ✗ and the reason (red), or "not verified" (grey)."""
    v = request.verification
    if v is None and request.status == 429:  # issue 14: refused by the rate limit before verification
        return f'<span style="color:{GREY}">rate limited (not verified)</span>'
    if v is None:
        return f'<span style="color:{GREY}">not verified</span>'
    if v.ok:
        return f'<b style="color:{GREEN}">✓ {html.escape(v.reason)}</b>'
    return f'<b style="color:{RED}">✗ {html.escape(v.reason)}</b>'


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M:%S.%f")[:-3]


def render_feed(requests: Sequence[ReceivedRequest], total: int, rows: int = FEED_ROWS) -> str:
    """The live feed: the newest ``rows`` of ``requests`` (oldest first), newest on top."""
    title = '<div style="font-weight:600;margin-bottom:4px">Live feed</div>'
    if not requests:
        return panel(title + muted("No request received yet: send one to a webhook aimed at this receiver."))
    shown = list(requests)[-rows:][::-1]
    head = "".join(header_cell(h) for h in ("#", "Time (UTC)", "Request", "Event", "Bytes", "Verdict", "Answered"))
    cell = 'style="padding:2px 10px 2px 0;vertical-align:top"'
    body = [
        f'<tr class="simlib-feed-row">'
        f"<td {cell}>{r.index + 1}</td><td {cell}>{_time(r.received_at_ms)}</td>"
        f"<td {cell}><code>{html.escape(r.method + ' ' + r.path)}</code></td>"
        f"<td {cell}>{html.escape(r.event_type or '-')}</td><td {cell}>{len(r.body)}</td>"
        f"<td {cell}>{verdict_html(r)}</td>"
        f"<td {cell}>{badge(status_text(r.status), status_colour(r.status))}</td></tr>"
        for r in shown
    ]
    footer = f"Newest {len(shown)} of {total} requests" if total > len(shown) else f"{total} request{'s' * (total != 1)}"
    return panel(
        title + '<div style="overflow-x:auto"><table style="border-collapse:collapse">'
        f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>' + muted(footer + ", newest first.")
    )
