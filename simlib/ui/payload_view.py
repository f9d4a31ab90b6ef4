"""How a payload and an answer are shown: the payload **Pretty** (indented) or **Raw** (the
compact bytes exactly as signed), and an endpoint's answer laid out when it is JSON, else as
text with a note (nested too deeply to lay out; JSON escapes decoded). Pure functions."""

from __future__ import annotations

import html

from simlib.ui.blocks import code_block, highlight_json, json_for_display, layout_json, muted

__all__ = ["PAYLOAD_VIEWS", "PRETTY", "RAW", "payload_block", "response_block"]

#: The payload views: the indented JSON, or the compact bytes exactly as signed and sent.
PRETTY, RAW = "pretty", "raw"
PAYLOAD_VIEWS = (("Pretty", PRETTY), ("Raw (exact bytes)", RAW))


def payload_block(body: str, view: str, *, max_height: str = "420px") -> str:
    """A payload as ``view`` shows it: ``raw``, exactly ``body`` (the bytes that are signed, one
    line, wrapped only by the page); ``pretty``, indented (text that is not JSON as it is)."""
    if view == RAW:
        return code_block(highlight_json(body), max_height=max_height, wrap=True)
    pretty, note = layout_json(body)
    if pretty is None:
        return code_block(html.escape(body), max_height=max_height, wrap=True) + (muted(note) if note else "")
    return code_block(highlight_json(pretty), max_height=max_height)


def response_block(text: str) -> str:
    """An endpoint's answer: laid-out JSON (escapes decoded), or the text with a note."""
    shown, is_json, note = json_for_display(text)
    if not shown:
        return code_block(muted("(empty body)"))
    inner = highlight_json(shown) if is_json else html.escape(shown)
    return code_block(inner, wrap=not is_json) + (muted(note) if note else "")
