"""The building blocks of the explorer's HTML: pure functions, data in, an HTML string out.

Panel, code block, badge, table row, highlighted JSON, status colour: every value escaped, every
colour and style from :mod:`simlib.ui.theme`. :mod:`simlib.ui.render` builds what the panels
show from these.
"""

from __future__ import annotations

import html
import json
import re
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from simlib import production_check
from simlib.ui.theme import (
    AMBER,
    BADGE_CSS,
    BORDER,
    GREEN,
    GREY,
    INPUT_INDENT,
    JSON_COLOURS,
    MUTED,
    ORANGE,
    PANEL_CSS,
    RED,
    code_css,
)

__all__ = [
    "badge",
    "code_block",
    "decode_escapes",
    "header_cell",
    "highlight_json",
    "is_missing",
    "json_for_display",
    "layout_json",
    "muted",
    "notice",
    "panel",
    "plausible_url",
    "pretty_json",
    "row",
    "status_colour",
    "status_text",
    "url_warning",
]

_JSON_TOKEN = re.compile(
    r'(?P<key>"(?:[^"\\]|\\.)*")(?=\s*:)'
    r'|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<lit>\btrue\b|\bfalse\b|\bnull\b)"
    r"|(?P<punct>[{}\[\],:])"
)


def highlight_json(text: str) -> str:
    """JSON text as HTML with inline colours (keys, strings, numbers, literals); all escaped."""
    out: list[str] = []
    pos = 0
    for m in _JSON_TOKEN.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        kind = m.lastgroup or "punct"
        out.append(f'<span style="color:{JSON_COLOURS[kind]}">{html.escape(m.group())}</span>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def code_block(inner_html: str, *, max_height: str = "420px", wrap: bool = False) -> str:
    return f'<pre style="{code_css(max_height, wrap=wrap)}">{inner_html}</pre>'


def panel(inner_html: str) -> str:
    return f'<div style="{PANEL_CSS}">{inner_html}</div>'


def notice(message: str, colour: str = RED) -> str:
    return f'<div style="color:{colour};margin:2px 0">{html.escape(message)}</div>'


def muted(message: str) -> str:
    return f'<span style="color:{MUTED}">{html.escape(message)}</span>'


def badge(text: str, colour: str) -> str:
    return f'<span style="background:{colour};{BADGE_CSS}">{html.escape(text)}</span>'


def row(label: str, value_html: str) -> str:
    return (
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0;vertical-align:top;white-space:nowrap">'
        f'{html.escape(label)}</th><td style="text-align:left;padding:2px 0">{value_html}</td></tr>'
    )


def header_cell(label: str) -> str:
    return f'<th style="text-align:left;padding:2px 10px 2px 0;border-bottom:1px solid {BORDER}">{label}</th>'


def status_colour(status: int | None) -> str:
    """2xx green, 3xx amber, 4xx orange-red, 5xx red, no status grey."""
    if status is None:
        return GREY
    if 200 <= status < 300:
        return GREEN
    if 300 <= status < 400:
        return AMBER
    if 400 <= status < 500:
        return ORANGE
    return RED


def status_text(status: int) -> str:
    """``404 Not Found``; the bare number for a status Python has no phrase for."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def is_missing(value: Any) -> bool:
    """None, NaN, ``pd.NA`` or ``NaT``: a cell of the history with no value."""
    return value is None or (isinstance(value, float) and value != value) or str(value) in ("<NA>", "NaT", "nan")


def plausible_url(url: str) -> bool:
    """Whether ``url`` could be sent to at all: http(s), a host, no spaces (the Simulator's
    validation has the last word when the webhook is saved)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and not re.search(r"\s", text)
    except ValueError:
        return False


def url_warning(url: str) -> str:
    """The warning under a URL Trackpilots itself would reject (empty when it would accept it)."""
    check = production_check(url)
    if check.ok:
        return ""
    if not plausible_url(url) or "not a valid URL" in check.reasons:  # no "fine for local testing" then
        return f'<div style="color:{RED};margin:2px 0 2px {INPUT_INDENT}">✗ This is not a valid URL: it needs http:// or https:// and a host.</div>'
    return (
        f'<div style="color:{AMBER};margin:2px 0 2px {INPUT_INDENT}">⚠ {html.escape(check.message)}. '
        "Fine for local testing; production needs a public HTTPS URL.</div>"
    )


def pretty_json(text: str) -> str | None:
    """``text`` pretty-printed when it is JSON (escapes decoded), else None -- also when it is
    nested too deeply to parse or lay out (see :func:`json_for_display`)."""
    return layout_json(text)[0]


TOO_DEEP = "Nested too deeply to lay out: shown as received."
ESCAPES_DECODED = "JSON escapes (\\uXXXX) are shown as the characters they stand for."
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def layout_json(text: str) -> tuple[str | None, str]:
    """``(pretty text, "")`` when ``text`` is JSON; ``(None, TOO_DEEP)`` when it is nested too
    deeply for the parser or the layout (a 9,000-level answer); ``(None, "")`` otherwise."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False), ""
    except RecursionError:
        return None, TOO_DEEP
    except ValueError:
        return None, ""


def decode_escapes(text: str) -> str:
    """``\\u00b1`` as ``±`` for display (surrogates and control characters stay escaped)."""

    def one(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char.isprintable() and not 0xD800 <= ord(char) <= 0xDFFF else m.group(0)

    return _ESCAPE.sub(one, text)


def json_for_display(text: str) -> tuple[str, bool, str]:
    """``(text to show, is it laid-out JSON, note)``: pretty JSON when it parses; otherwise the
    text as received, its JSON escapes decoded (with a note saying so, or that it was too deep)."""
    pretty, note = layout_json(text)
    if pretty is not None:
        return pretty, True, ""
    decoded = decode_escapes(text)
    if decoded != text:
        note = f"{note} {ESCAPES_DECODED}".strip()
    return decoded, False, note
