"""Pure renderers of the workbench tools (data in, an HTML string out): the receiver check and
the tolerance probe, the explanation of a signature, an imported capture's answers.

Tables wrap their text (fixed layout, long words broken) so that nothing overflows sideways
from 1024 px up; signatures, signed strings and bodies are set in the code font.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from simlib.ui.blocks import badge, code_block, is_missing, muted, notice, panel, status_colour
from simlib.ui.theme import AMBER, BORDER, CODE_FONT, GREEN, GREY, RED

if TYPE_CHECKING:
    from simlib import Explanation, ProbeResult

__all__ = ["VERDICT_COLOURS", "human_ms", "intro", "render_check", "render_explanation", "render_import", "table"]

#: PASS / FAIL / NOTE, and the signature verdicts, through the theme's status colours.
VERDICT_COLOURS = {"PASS": GREEN, "FAIL": RED, "NOTE": AMBER, "VALID": GREEN, "INVALID": RED}
_CELL = (
    "text-align:left;vertical-align:top;padding:3px 8px 3px 0;overflow-wrap:anywhere;white-space:normal;line-height:1.4"
)
_TABLE = "width:100%;max-width:100%;border-collapse:collapse;table-layout:fixed;margin:4px 0"
_CODE = f"font-family:{CODE_FONT};font-size:12px"


def intro(text: str) -> str:
    """A tool's explanatory paragraph (muted, normal line spacing)."""
    return f'<div style="line-height:1.45;margin:2px 0 6px">{muted(text)}</div>'


def title(text: str) -> str:
    return f'<div style="font-weight:600;margin:2px 0 4px">{html.escape(text)}</div>'


def table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], *, css_class: str = "") -> str:
    """``columns``: (label, width such as "20%"); ``rows``: cells as HTML. Text wraps in its cell."""
    cols = "".join(f'<col style="width:{width}">' for _, width in columns)
    head = "".join(
        f'<th style="{_CELL};border-bottom:1px solid {BORDER}">{html.escape(label)}</th>' for label, _ in columns
    )
    head_html = f"<thead><tr>{head}</tr></thead>" if any(label for label, _ in columns) else ""
    attr = f' class="{css_class}"' if css_class else ""
    body = "".join(
        f'<tr{attr} style="border-bottom:1px solid {BORDER}">' + "".join(f'<td style="{_CELL}">{c}</td>' for c in cells) + "</tr>"
        for cells in rows
    )
    return f'<table style="{_TABLE}"><colgroup>{cols}</colgroup>{head_html}<tbody>{body}</tbody></table>'


def code(text: str) -> str:
    return f'<span style="{_CODE}">{html.escape(text)}</span>'


def human_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 2 * 3_600_000:
        return f"{ms / 1000:g} s"
    if ms < 2 * 86_400_000:
        return f"{ms / 3_600_000:.3g} h"
    return f"{ms / 86_400_000:.3g} days"


# -- the receiver check ----------------------------------------------------------------------------

CHECK_COLUMNS = [("Variant", "15%"), ("Sent", "20%"), ("Expected", "13%"), ("Status", "7%"), ("Verdict", "8%"),
                 ("Explanation", "31%"), ("Row", "6%")]


def render_check(
    rows: Sequence[Mapping[str, Any]],
    *,
    target: str,
    requests: int,
    total: int,
    cancelled: bool,
    probe: ProbeResult | None = None,
    probe_note: str = "",
    stopped: str = "",
) -> str:
    """The conformance matrix as a coloured table, then the tolerance probe (when it ran)."""
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in ("PASS", "FAIL", "NOTE")}
    tally = " ".join(badge(f"{n} {v}", VERDICT_COLOURS[v]) for v, n in counts.items())
    parts = [title(f"Receiver check: {target}"), f'<div style="margin:2px 0 4px">{tally}</div>']
    if stopped:  # the toolkit stopped by itself (e.g. the store could not record), not the user
        parts.append(notice(f"Stopped after {requests} of {total} requests: {stopped}."))
    elif cancelled:
        parts.append(notice(f"Cancelled after {requests} of {total} requests: the rows below are the requests sent "
                            "before it stopped (each is in the history).", AMBER))
    cells = []
    for r in rows:
        status = None if is_missing(r["observed_status"]) else int(r["observed_status"])
        hid = "" if is_missing(r["history_id"]) else f"#{int(r['history_id'])}"
        cells.append([
            code(str(r["variant"])), html.escape(str(r["sent"])), html.escape(str(r["expected"])),
            f'<span style="color:{status_colour(status)};font-weight:600">{status if status is not None else "—"}</span>',
            badge(str(r["verdict"]), VERDICT_COLOURS.get(str(r["verdict"]), GREY)),
            html.escape(str(r["explanation"])), muted(hid),
        ])
    parts.append(table(CHECK_COLUMNS, cells, css_class="simlib-check-row") if cells else muted("No request was sent."))
    if probe is not None:
        parts.append(render_probe(probe))
    elif probe_note:
        parts.append(f"<div>{muted(probe_note)}</div>")
    return panel("".join(parts))


def render_probe(probe: ProbeResult) -> str:
    rows = []
    for direction, (acc, ref), edge in (("past (too old)", probe.past, probe.past_ms),
                                        ("future (ahead)", probe.future, probe.future_ms)):
        if acc is None and ref is None:
            found = muted("not measured")
        elif edge is None:
            found = html.escape(f"no limit found (accepted {human_ms(acc)})")
        else:
            found = f"<b>≈ {html.escape(human_ms(edge))}</b>"
        rows.append([html.escape(direction), html.escape(human_ms(acc)), html.escape(human_ms(ref)), found])
    word = "NOTE" if probe.flags else "PASS"
    verdict = badge(word, VERDICT_COLOURS[word])
    flags = "".join(f'<li style="color:{AMBER}">{html.escape(f)}</li>' for f in probe.flags)
    return (
        title("Timestamp tolerance") + f"<div>{verdict} {muted(f'{probe.requests} requests')}</div>"
        + table([("Direction", "22%"), ("Accepted up to", "22%"), ("Refused from", "22%"), ("Edge", "34%")], rows)
        + (f'<ul style="margin:4px 0;padding-left:18px">{flags}</ul>' if flags else muted("Nothing looks wrong."))
    )


# -- explain a signature ---------------------------------------------------------------------------


def render_explanation(ex: Explanation, *, checked_with: str) -> str:
    """Verdict, most likely cause, what to do, the signed string, expected vs received."""
    verdict = "VALID" if ex.valid else "INVALID"
    same = ex.expected_signature is not None and ex.expected_signature == (ex.received_signature or "").strip().lower()
    fields = [
        ("Verdict", f"{badge(verdict, VERDICT_COLOURS[verdict])} {code(ex.cause)}"),
        ("Most likely cause", html.escape(ex.summary)),
        ("What now", html.escape(ex.hint) if ex.hint else muted("-")),
        ("Checked with", html.escape(checked_with)),
        ("Signed string", code_block(html.escape(ex.signed_string), max_height="160px", wrap=True)),
        ("Expected", code_block(html.escape(ex.expected_signature or "-"), max_height="80px", wrap=True)),
        ("Received", code_block(html.escape(ex.received_signature or "-"), max_height="80px", wrap=True)
         + (muted("the same as expected") if same else "")),
    ]
    if ex.matched_webhook:
        fields.append(("Signed by", html.escape(f"webhook {ex.matched_webhook}")))
    history_id = ex.history_id
    if history_id is not None:  # the request belongs to a recorded attempt: compared with its bytes sent
        first = ex.first_difference
        where = "the body is the bytes it sent" if first is None else f"the body first differs at byte {first}"
        fields.append(("History", html.escape(f"attempt #{history_id}: {where}")))
    if ex.skew_ms is not None:
        where = "old" if ex.skew_ms >= 0 else "ahead"
        fields.append(("Timestamp", html.escape(f"{ex.timestamp_ms} ({human_ms(abs(ex.skew_ms))} {where})")))
    checks = [[html.escape(c), f'<span style="color:{GREEN if r.startswith("match") else GREY}">{html.escape(r)}</span>']
              for c, r in ex.checks]
    return panel(
        title("Signature explained")
        + table([("", "18%"), ("", "82%")], [[f"<b>{html.escape(k)}</b>", v] for k, v in fields])
        + (f"<details><summary>What was tried ({len(checks)})</summary>"
           + table([("Check", "60%"), ("Result", "40%")], checks) + "</details>" if checks else "")
    )


# -- import a captured request ---------------------------------------------------------------------


def render_import(imp: Any) -> str:
    """An :class:`ImportResult`: the capture, whether its signature was valid for the webhook,
    and the answers side by side (``compare``), differences marked."""
    cap, ex = imp.capture, imp.explanation
    verdict = "VALID" if ex.valid else "INVALID"
    request = f"{cap.method} {cap.url}" if cap.url else cap.method
    about = f"{cap.source} capture, {request}, {len(cap.headers)} headers, {len(cap.body)} bytes"
    sent = [("as captured", imp.as_captured), ("re-signed", imp.resigned)]
    ids = ", ".join(f"{label} #{r.history_id}" for label, r in sent if r is not None and r.history_id is not None)
    frame = imp.compare
    labels = [c for c in frame.columns if c != "same"]
    several = len(labels) > 1  # "same" says something only across two answers or more
    width = f"{(76 if several else 84) // max(len(labels), 1)}%"
    rows = []
    for field, values in frame.iterrows():
        mark = [muted("same") if values["same"] else f'<b style="color:{AMBER}">differs</b>'] if several else []
        rows.append([code(str(field)), *(code(str(values[c])) for c in labels), *mark])
    signed = cap.header("x-webhook-signature") and cap.header("x-webhook-timestamp")
    skipped = "you chose not to send it as captured" if signed else "the capture has no signature and timestamp"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in cap.notes)
    return panel(
        title("Imported capture") + f"<div>{html.escape(about)}</div>"
        + (f'<ul style="margin:2px 0;padding-left:18px">{notes}</ul>' if notes else "")
        + f"<div>Captured signature for webhook {html.escape(imp.webhook_id)}: "
        f"{badge(verdict, VERDICT_COLOURS[verdict])} {html.escape(ex.summary)}</div>"
        + (f"<div>{muted(f'Not sent as captured: {skipped}.')}</div>" if imp.as_captured is None else "")
        + table([("Field", "16%"), *((str(c), width) for c in labels), *([("", "8%")] if several else [])], rows,
                css_class="simlib-compare-row")
        + (muted(f"Recorded in the history: {ids}.") if ids else "")
    )
