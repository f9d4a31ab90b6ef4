"""The explorer's one theme: every colour it uses, and the CSS of its building blocks.

Each colour is a JupyterLab theme variable with a fallback, ``var(--jp-…, #hex)``: inside
JupyterLab or Voilà the explorer follows the active theme (light or dark, text and panels
alike); anywhere the variable is not defined (an exported HTML page, a plain browser) the
fallback applies: GitHub's light palette, the explorer's colours before it used the variables.
The status colours fall back to :data:`simlib.STATUS_PALETTE`, the palette the history
notebook's charts use too. No other module of :mod:`simlib.ui` spells a colour.
"""

from __future__ import annotations

from typing import Final

from simlib import NETWORK_ERROR, STATUS_PALETTE

__all__ = [
    "AMBER",
    "BADGE_CSS",
    "BORDER",
    "CODE_BG",
    "CODE_FONT",
    "GREEN",
    "GREY",
    "INPUT_INDENT",
    "JSON_COLOURS",
    "LABEL_STYLE",
    "LABEL_WIDTH",
    "MUTED",
    "ON_BADGE",
    "ORANGE",
    "PANEL",
    "PANEL_CSS",
    "RED",
    "TEXT",
    "code_css",
]

# status and verdict colours: 2xx / Delivered, 3xx, 4xx, 5xx / Failed, no status
GREEN: Final = f"var(--jp-success-color1, {STATUS_PALETTE['2xx']})"
AMBER: Final = f"var(--jp-warn-color1, {STATUS_PALETTE['3xx']})"
ORANGE: Final = f"var(--jp-warn-color0, {STATUS_PALETTE['4xx']})"
RED: Final = f"var(--jp-error-color1, {STATUS_PALETTE['5xx']})"
GREY: Final = f"var(--jp-ui-font-color3, {STATUS_PALETTE[NETWORK_ERROR]})"

# text and surfaces: panels set their own background so that text stays readable in any theme
TEXT: Final = "var(--jp-ui-font-color1, #24292f)"
MUTED: Final = "var(--jp-ui-font-color2, #57606a)"
BORDER: Final = "var(--jp-border-color2, #d0d7de)"
PANEL: Final = "var(--jp-layout-color0, #ffffff)"
CODE_BG: Final = "var(--jp-cell-editor-background, #f6f8fa)"
ON_BADGE: Final = "var(--jp-ui-inverse-font-color0, #ffffff)"  # text on a status-coloured badge
#: The code font (JSON, headers, signatures): the editor's, in JupyterLab and in Voilà alike.
CODE_FONT: Final = "var(--jp-code-font-family, SFMono-Regular, Menlo, Consolas, monospace)"

#: JSON syntax colours, by token kind: the editor's own colours for properties, strings ...
JSON_COLOURS: Final = {
    "key": "var(--jp-mirror-editor-property-color, #0550ae)",
    "str": "var(--jp-mirror-editor-string-color, #0a3069)",
    "num": "var(--jp-mirror-editor-number-color, #953800)",
    "lit": "var(--jp-mirror-editor-atom-color, #8250df)",
    "punct": "var(--jp-mirror-editor-punctuation-color, #57606a)",
}

# --- the CSS of the building blocks (see simlib.ui.render) ----------------------------------------

LABEL_WIDTH: Final = "110px"
#: Where an input starts (the description column plus the widget margin): hints line up with it.
INPUT_INDENT: Final = "114px"
#: The ``style`` of every labelled input: one column of descriptions.
LABEL_STYLE: Final = {"description_width": LABEL_WIDTH}

PANEL_CSS: Final = (
    f"background:{PANEL};color:{TEXT};border:1px solid {BORDER};border-radius:6px;padding:8px 12px;margin:4px 0"
)
BADGE_CSS: Final = f"color:{ON_BADGE};border-radius:10px;padding:1px 8px;font-weight:600"


def code_css(max_height: str, *, wrap: bool = False) -> str:
    """A scrolling code block at most ``max_height`` high, in the code font; ``wrap`` breaks long
    lines (signatures, signed strings) instead of scrolling sideways."""
    white_space = "white-space:pre-wrap;overflow-wrap:anywhere" if wrap else "white-space:pre"
    return (
        f"background:{CODE_BG};color:{TEXT};border:1px solid {BORDER};border-radius:6px;"
        f"padding:8px;margin:4px 0;max-height:{max_height};overflow:auto;font-size:12px;"
        f"font-family:{CODE_FONT};line-height:1.35;{white_space}"
    )
