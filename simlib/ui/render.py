"""What the panels show, rendered: pure functions from a preview, a result or the history to
an HTML string (a burst's: :mod:`simlib.ui.burst_view`). No widgets and no state; built from :mod:`simlib.ui.blocks`."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from simlib import (
    DELIVERED,
    Preview,
    SimulationResult,
    request_sent,
)
from simlib.ui.blocks import (
    badge,
    code_block,
    header_cell,
    highlight_json,
    is_missing,
    muted,
    notice,
    panel,
    row,
    status_colour,
    status_text,
)
from simlib.ui.payload_view import PRETTY, RAW, payload_block, response_block
from simlib.ui.theme import GREEN, RED
from simlib.ui.wording import ERROR_MEANING, STORE_UNAVAILABLE, error_meaning, shown_detail

if TYPE_CHECKING:
    import pandas as pd


__all__ = [
    "ERROR_MEANING",
    "render_history",
    "render_nothing_sent",
    "render_preview",
    "render_preview_error",
    "render_result",
    "render_sending",
]

def render_preview(preview: Preview, view: str = PRETTY) -> str:
    """The request payload preview: what, where, and exactly ``preview.body`` (pretty-printed,
    or ``view="raw"``: compact, exactly as it will be signed)."""
    what = "exactly the bytes that will be signed and sent" if view == RAW else "indented for reading"
    info = f"<b>POST</b> <code>{html.escape(preview.url)}</code><br>" + muted(
        f"{preview.event_type} · {preview.size} bytes · seed {preview.seed} · {preview.event_id} · {what}"
    )
    if view == RAW:
        return f"<div>{info}</div>" + payload_block(preview.body.decode("utf-8", "replace"), RAW)
    return f"<div>{info}</div>" + code_block(highlight_json(preview.pretty))


def render_preview_error(message: str) -> str:
    return panel(
        '<div style="font-weight:600">Preview unavailable</div>'
        + notice(message)
        + muted("Fix the input above; Send is disabled until the payload can be built.")
    )


def render_result(result: SimulationResult, view: str = PRETTY) -> str:
    """The simulation result panel: status, latency, verdict, headers, payload, response. A
    request that never left (``request_sent``) shows its payload as "not sent" and no headers."""
    if result.http_status is not None:
        status_html = badge(status_text(result.http_status), status_colour(result.http_status))
    else:
        status_html = muted("none: no HTTP response from the endpoint")
    latency = f"{result.latency_ms:.1f} ms" if result.latency_ms is not None else "-"
    verdict = "✓ Delivered" if result.delivered else "✗ Failed"
    rows = [
        row("HTTP Status", status_html),
        row("Latency", html.escape(latency)),
        row("Result", f'<b style="color:{GREEN if result.delivered else RED}">{verdict}</b>'),
    ]
    if result.error:
        code = f" ({result.error_status})" if result.error_status is not None else ""
        meaning = error_meaning(result)
        rows.append(
            row(
                "Simulation error",
                f'<b style="color:{RED}">{html.escape(result.error + code)}</b> — {html.escape(shown_detail(result))}'
                + (f"<br>{muted(meaning)}" if meaning else ""),
            )
        )
    elif shown_detail(result):
        rows.append(row("Detail", html.escape(shown_detail(result))))
    if result.http_status == 429:  # issue 14: throttled, which says nothing about the signature
        ra = result.retry_after
        rows.append(row("Rate limited", html.escape(
            f"the endpoint throttled this request: Retry-After {ra}" if ra else "the endpoint throttled this request "
            "(no Retry-After)")))
    rows.append(row("Webhook", html.escape(f"{result.webhook_name} — {result.url}")))
    rows.append(row("Event", html.escape(f"{result.event_type} · {result.event_id}")))
    sent = request_sent(result.http_status, result.detail, result.request_headers)
    if sent:
        headers = "<br>".join(
            f"<code>{html.escape(name)}: {html.escape(result.request_headers.get(name, ''))}</code>"
            for name in ("x-webhook-signature", "x-webhook-timestamp")
        )
    else:
        headers = muted("not sent: the request never left (nothing went to the endpoint)")
    rows.append(row("Delivery Headers", headers))
    if not result.recorded:
        rows.append(row("History", notice(f"this attempt could not be recorded: {STORE_UNAVAILABLE}")))
    payload_title = "Sent Payload" if sent else "Payload (not sent)"
    payload_title += " · exact bytes" if view == RAW else ""
    payload_html = payload_block(result.payload, view, max_height="260px") if result.payload else muted("(no payload)")
    if result.http_status is not None:
        response_html = response_block(result.response_body)
        if result.response_truncated:
            response_html += muted("The response was longer than the capture limit and was cut.")
    else:
        response_html = muted("no response")
    return panel(
        '<div style="font-weight:600;margin-bottom:4px">Simulation Result</div>'
        f'<table style="border-collapse:collapse">{"".join(rows)}</table>'
        f"<details open><summary><b>{payload_title}</b></summary>{payload_html}</details>"
        f"<details open><summary><b>Endpoint Response</b></summary>{response_html}</details>"
    )


def render_nothing_sent() -> str:
    return panel('<div style="font-weight:600">Simulation Result</div>' + muted("Nothing sent yet: press Send Test Event."))


def render_sending(preview: Preview, *, elapsed: float = 0.0, cancelling: bool = False) -> str:
    """A send in flight: what goes where, for how long so far, and that Cancel ends it."""
    if cancelling:
        return panel(muted(f"Cancelling the send of {preview.event_type} to {preview.url} … {elapsed:.1f} s"))
    return panel(
        muted(f"Sending {preview.event_type} to {preview.url} … {elapsed:.1f} s")
        + "<br>" + muted("The page stays usable meanwhile; Cancel ends the attempt (it is recorded).")
    )


def _timestamp(value: Any) -> str:
    try:
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    except (AttributeError, ValueError):
        return "-"


def render_history(frame: pd.DataFrame, total: int | str | None = None) -> str:
    """The history as an HTML table, newest first, status coloured (``frame`` is oldest first);
    ``total`` is how many attempts there are (a number, or a capped count's text: "10,000+")."""
    if len(frame) == 0:
        return panel('<div style="font-weight:600">History</div>' + muted("No simulations sent yet."))
    head = "".join(
        header_cell(h) for h in ("#", "Sent at (UTC)", "Webhook", "Event type", "Result", "HTTP Status", "Latency")
    )
    body: list[str] = []
    newest_first: Iterable[Any] = frame.iloc[::-1].itertuples(index=False)
    for rec in newest_first:
        status = None if is_missing(rec.http_status) else int(rec.http_status)
        status_html = f'<b style="color:{status_colour(status)}">{status}</b>' if status is not None else muted("-")
        verdict = str(rec.result)
        if isinstance(rec.error, str) and rec.error:
            verdict += f" — {rec.error}"
        verdict_colour = GREEN if rec.result == DELIVERED else RED
        latency = "-" if is_missing(rec.latency_ms) else f"{float(rec.latency_ms):.1f} ms"
        cells = (
            html.escape(str(rec.id)),
            html.escape(_timestamp(rec.sent_at)),
            html.escape(str(rec.webhook_name)),
            html.escape(str(rec.event_type)),
            f'<span style="color:{verdict_colour}">{html.escape(verdict)}</span>',
            status_html,
            html.escape(latency),
        )
        body.append(
            '<tr class="simlib-history-row">'
            + "".join(f'<td style="padding:2px 10px 2px 0">{c}</td>' for c in cells)
            + "</tr>"
        )
    shown = len(frame)
    total = shown if total is None else total
    more = isinstance(total, str) or total > shown
    footer = f"Newest {shown} of {total} attempts" if more else f"{total} attempt{'s' * (total != 1)}"
    footer += "; open the History tab below to filter, page through and open every attempt."
    return panel(
        '<div style="font-weight:600;margin-bottom:4px">History</div>'
        f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        + muted(footer)
    )
