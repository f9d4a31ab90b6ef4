"""Pure renderers of the History tab: the grid's page, the count line, one attempt's detail, the
replay diff, a copyable code block and a browser download. Data in, HTML (or a DataFrame of HTML
cells) out; every value escaped, every colour from :mod:`simlib.ui.theme`."""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from simlib import DELIVERED, CappedCount, request_sent
from simlib.ui.blocks import badge, code_block, highlight_json, muted, notice, panel, row, status_colour, status_text
from simlib.ui.theme import BORDER, CODE_FONT, GREEN, JSON_COLOURS, RED

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DOWNLOAD_CAP_BYTES",
    "GRID_COLUMNS",
    "copy_block",
    "download_link",
    "json_tree",
    "page_frame",
    "render_count",
    "render_detail",
    "render_diff",
    "sent_by",
    "utc_text",
]

GRID_COLUMNS: Final = ("#", "Sent at (UTC)", "Webhook", "Event type", "Result", "Status", "Latency", "Replay of", "By")
#: The largest download the page builds (a data: link travels through the kernel's websocket).
DOWNLOAD_CAP_BYTES: Final = 8 * 1024 * 1024
#: Bodies larger than this are shown cut (the fixture download has all of them).
SHOWN_BODY_BYTES: Final = 512 * 1024
_TREE_BYTES: Final = 128 * 1024
_TREE_DEPTH: Final = 40
#: The browser copies the text of the <pre> just before the button (Clipboard API; in a page that
#: is not a secure context, a selection and execCommand). Nothing passes through the kernel.
_COPY_JS: Final = (
    "var b=this,c=b.parentElement.querySelector('pre'),t=c.textContent;function ok(){b.textContent='Copied'}"
    "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t).then(ok)}"
    "else{var r=document.createRange();r.selectNodeContents(c);var s=window.getSelection();"
    "s.removeAllRanges();s.addRange(r);document.execCommand('copy');ok()}"
)


def utc_text(ms: Any) -> str:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    except (TypeError, ValueError, OverflowError):
        return "-"


def _verdict(rec: dict[str, Any]) -> str:
    text = str(rec["result"]) + (f" — {rec['error']}" if rec.get("error") else "")
    return f'<span style="color:{GREEN if rec["result"] == DELIVERED else RED}">{html.escape(text)}</span>'


def sent_by(user: str | None, host: str | None) -> str:
    """Who sent an attempt from where, as the grid's "By" shows it: ``user@host`` (issue 13; "-"
    for rows recorded before schema version 4)."""
    if not user:
        return f"@{host}" if host else "-"
    return f"{user}@{host}" if host else user


def page_frame(rows: tuple[dict[str, Any], ...]) -> pd.DataFrame:
    """The grid's page: one row per attempt, cells as escaped HTML (status and result coloured)."""
    import pandas as pd

    data = []
    for rec in rows:
        status = rec["http_status"]
        latency = rec["latency_ms"]
        data.append((
            int(rec["id"]),
            utc_text(rec["sent_at_ms"]),
            html.escape(str(rec["webhook_name"] or rec["webhook_id"])),
            html.escape(str(rec["event_type"])),
            _verdict(rec),
            f'<b style="color:{status_colour(status)}">{status}</b>' if status is not None else "-",
            f"{float(latency):.1f} ms" if latency is not None else "-",
            f"#{rec['replay_of']}" if rec.get("replay_of") is not None else "",
            html.escape(sent_by(rec.get("user"), rec.get("host"))),
        ))
    return pd.DataFrame(data, columns=list(GRID_COLUMNS))


def render_count(count: CappedCount, start: int, shown: int, filtered: bool) -> str:
    what = ("matching " if filtered else "") + ("attempt" if count == (1, False) else "attempts")
    if shown == 0:
        return muted("No attempts match this filter." if filtered else "The history is empty: send a simulation above.")
    return muted(f"Rows {start:,}–{start + shown - 1:,} of {count.text} {what}")


def copy_block(text: str, *, label: str = "Copy", max_height: str = "260px") -> str:
    """``text`` exactly, in a wrapping code block, with a button that copies it in the browser."""
    button = f'<button class="jupyter-button" title="Copy to the clipboard" onclick="{html.escape(_COPY_JS)}">{label}</button>'
    return f"<div>{code_block(html.escape(text), max_height=max_height, wrap=True)}{button}</div>"


def json_tree(value: Any, key: str | None = None, depth: int = 0) -> str:
    """A collapsible view of a parsed JSON value (objects and arrays as nested <details>)."""
    label = f'<span style="color:{JSON_COLOURS["key"]}">{html.escape(json.dumps(key, ensure_ascii=False))}</span>: ' if key is not None else ""
    if isinstance(value, (dict, list)) and value and depth < _TREE_DEPTH:
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        inner = "".join(f"<li>{json_tree(v, k if isinstance(value, dict) else None, depth + 1)}</li>" for k, v in items)
        brackets = "{…}" if isinstance(value, dict) else "[…]"
        size = f"{len(value)} {'key' if isinstance(value, dict) else 'item'}{'s' if len(value) != 1 else ''}"
        return (f'<details{" open" if depth < 3 else ""}><summary>{label}{brackets} {muted(size)}</summary>'
                f'<ul style="list-style:none;margin:0;padding-left:16px">{inner}</ul></details>')
    text = json.dumps(value, ensure_ascii=False)
    return label + highlight_json(text if len(text) <= 2000 else text[:2000] + "…")


def _body_views(body: bytes) -> str:
    cut = len(body) > SHOWN_BODY_BYTES
    text = body[:SHOWN_BODY_BYTES].decode("utf-8", "replace")
    title = f"Sent bytes — exact, compact, as signed ({len(body):,} bytes)"
    exact = copy_block(text) if not cut else (
        code_block(html.escape(text), max_height="260px", wrap=True)
        + notice(f"Shown: the first {SHOWN_BODY_BYTES:,} bytes; download the fixture for all of them (no Copy: it would not be exact).")
    )
    tree = muted("Too large to show as a tree.")
    if len(body) <= _TREE_BYTES:
        try:
            tree = f'<div style="font-family:{CODE_FONT};font-size:12px">{json_tree(json.loads(body))}</div>'
        except (ValueError, RecursionError):
            tree = muted("Not JSON.")
    column = 'style="flex:1 1 380px;min-width:0"'
    return (f'<div style="display:flex;flex-wrap:wrap;gap:12px"><div {column}><b>{title}</b>{exact}</div>'
            f"<div {column}><b>Pretty (collapsible)</b>{tree}</div></div>")


def _headers(headers: dict[str, str] | None, empty: str) -> str:
    if not headers:
        return muted(empty)
    lines = "\n".join(f"{k}: {v}" for k, v in headers.items())
    return code_block(html.escape(lines), max_height="160px", wrap=True)


def render_detail(rec: dict[str, Any]) -> str:
    """One attempt (a ``history_row``): summary, the exact bytes sent and a tree of them, the
    delivery headers, the response (status, headers, body), timing, the error and its detail."""
    status = rec["http_status"]
    status_html = badge(status_text(status), status_colour(status)) if status is not None else muted("no HTTP status")
    latency = f"{float(rec['latency_ms']):.1f} ms" if rec["latency_ms"] is not None else "-"
    sent = request_sent(rec["http_status"], rec["detail"] or "", rec["request_headers"])
    rows = [
        row("Result", _verdict(rec) + " · " + status_html),
        row("Webhook", html.escape(f"{rec['webhook_name']} ({rec['webhook_id']}) — {rec['url']}")),
        row("Event", html.escape(f"{rec['event_type']} · {rec['event_id']}")),
        row("Timing", html.escape(f"sent {utc_text(rec['sent_at_ms'])} UTC · latency {latency}")),
        row("Simulation", html.escape(rec["simulation_id"])),
    ]
    if rec["error"]:
        rows.append(row("Error", f'<b style="color:{RED}">{html.escape(rec["error"])}</b> — {html.escape(rec["detail"])}'))
    elif rec["detail"]:
        rows.append(row("Detail", html.escape(rec["detail"])))
    body = rec["response_body"] or ""
    try:
        pretty = json.dumps(json.loads(body), indent=2, ensure_ascii=False) if body else None
    except (ValueError, RecursionError):
        pretty = None
    response = (code_block(highlight_json(pretty) if pretty is not None else html.escape(body) or muted("(empty body)"),
                           max_height="260px", wrap=pretty is None)
                + (muted("The response was longer than the capture limit and was cut.") if rec["response_truncated"] else ""))
    request = _body_views(rec["request_body"]) if sent else muted("Not sent: the simulation stopped before delivery.")
    return panel(
        f'<div style="font-weight:600;margin-bottom:4px">Attempt #{rec["id"]}</div>'
        f'<table style="border-collapse:collapse">{"".join(rows)}</table>'
        f"<details open><summary><b>Request{'' if sent else ' (not sent)'}</b></summary>{request}</details>"
        f"<details open><summary><b>Delivery headers</b></summary>"
        f"{_headers(rec['request_headers'] if sent else None, 'none: nothing was sent')}</details>"
        f"<details open><summary><b>Response</b> {status_html}</summary>"
        f"{_headers(rec['response_headers'], 'no response headers') if status is not None else ''}"
        f"{response if status is not None else muted('no response')}</details>"
    )


def render_diff(frame: pd.DataFrame, title: str) -> str:
    """A replay's diff (``ReplayResult.diff``): field, original, replay; differences marked."""
    head = "".join(f'<th style="text-align:left;padding:2px 8px;border-bottom:1px solid {BORDER}">{h}</th>'
                   for h in ("Field", *(html.escape(str(c)) for c in frame.columns if c != "same")))
    body = []
    for field, rec in frame.iterrows():
        mark = "" if rec["same"] else f'<b style="color:{RED}">≠</b> '
        cells = "".join(f'<td style="padding:2px 8px;overflow-wrap:anywhere;font-family:{CODE_FONT}">'
                        f"{html.escape(str(v))}</td>" for k, v in rec.items() if k != "same")
        body.append(f'<tr><td style="padding:2px 8px;white-space:nowrap">{mark}{html.escape(str(field))}</td>{cells}</tr>')
    return panel(f"<b>{html.escape(title)}</b>"
                 f'<table style="border-collapse:collapse;table-layout:fixed;width:100%"><thead><tr>{head}</tr></thead>'
                 f"<tbody>{''.join(body)}</tbody></table>")


def download_link(data: bytes, filename: str, mime: str, *, cap: int = DOWNLOAD_CAP_BYTES) -> str:
    """A link the browser saves as ``filename`` (a data: URL, so it works in Voilà and offline),
    or a readable line when ``data`` is larger than ``cap``."""
    if len(data) > cap:
        return notice(f"{filename} would be {len(data) / 1e6:.1f} MB, more than the {cap / 1e6:.0f} MB a page "
                      "download can carry: narrow the filter, or export from Python (sim.export_history) or the "
                      "CLI (simlib history --output FILE).")
    href = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return (f'<a download="{html.escape(filename)}" href="{href}" class="simlib-download">⬇ Download '
            f"{html.escape(filename)}</a> " + muted(f"({len(data):,} bytes)"))
