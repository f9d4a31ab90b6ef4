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
    "PAGE_CSS",
    "PANEL",
    "PANEL_CSS",
    "RED",
    "TEXT",
    "code_css",
    "strong",
]

def strong(variable: str, fallback: str, share: int = 70) -> str:
    """The theme colour ``variable``, mixed with ``100 - share`` % of the theme's strongest text
    colour (``--jp-ui-font-color0``: black in a light theme, white in a dark one). JupyterLab's
    status colours are made for icons and borders: as text on the page, or as the background of
    a badge's text, several stay under a 4.5:1 contrast (its success green on white 4.1:1, its
    warning orange 2.9:1, its muted grey on the code background 4.2:1); mixed this way they keep
    their hue and pass in both themes (checked in Chromium: tests/ui/test_browser_workbench.py)."""
    return f"color-mix(in srgb, var({variable}, {fallback}) {share}%, var(--jp-ui-font-color0, #000000))"


# status and verdict colours: 2xx / Delivered, 3xx, 4xx, 5xx / Failed, no status
GREEN: Final = strong("--jp-success-color1", STATUS_PALETTE["2xx"])
AMBER: Final = strong("--jp-warn-color1", STATUS_PALETTE["3xx"])
ORANGE: Final = strong("--jp-warn-color0", STATUS_PALETTE["4xx"])
RED: Final = strong("--jp-error-color1", STATUS_PALETTE["5xx"])
GREY: Final = strong("--jp-ui-font-color3", STATUS_PALETTE[NETWORK_ERROR])

# text and surfaces: panels set their own background so that text stays readable in any theme
TEXT: Final = "var(--jp-ui-font-color1, #24292f)"
MUTED: Final = strong("--jp-ui-font-color2", "#57606a", 80)
BORDER: Final = "var(--jp-border-color2, #d0d7de)"
PANEL: Final = "var(--jp-layout-color0, #ffffff)"
CODE_BG: Final = "var(--jp-cell-editor-background, #f6f8fa)"
ON_BADGE: Final = "var(--jp-ui-inverse-font-color0, #ffffff)"  # text on a status-coloured badge
#: The code font (JSON, headers, signatures): the editor's, in JupyterLab and in Voilà alike.
CODE_FONT: Final = "var(--jp-code-font-family, SFMono-Regular, Menlo, Consolas, monospace)"

#: JSON syntax colours, by token kind, from the editor's own: keys blue and strings red in
#: JupyterLab's light theme (light blue and salmon in the dark one), so the two never look alike;
#: numbers green, literals (true, false, null) violet, punctuation the text colour.
JSON_COLOURS: Final = {
    "key": strong("--jp-mirror-editor-property-color", "#0550ae", 85),
    "str": strong("--jp-mirror-editor-string-color", "#a40e26", 85),
    "num": strong("--jp-mirror-editor-number-color", "#116329", 75),
    "lit": strong("--jp-mirror-editor-operator-color", "#8250df", 60),
    "punct": TEXT,
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


#: The explorer's stylesheet, scoped to its root (``.simlib-explorer``), for what the widgets'
#: own CSS gets wrong: a widget laid out ``width: 100%`` keeps its margins and so overflows its
#: box (the workbench, the Explain and Import text areas): it is held to the box instead; HTML
#: widgets shrink with their column (their code blocks scroll inside them); checkbox descriptions
#: wrap instead of ending in "…"; tab and
#: accordion titles are set in the muted grey at 4.4:1 on their grey bar: in the text colour;
#: the warning button's white text on JupyterLab's orange (2.9:1): on the stronger orange.
PAGE_CSS: Final = (
    ".simlib-explorer .jupyter-widgets[style*='width: 100%']:not(.widget-box)"
    "{max-width:calc(100% - 2 * var(--jp-widgets-margin, 2px));box-sizing:border-box}"
    # an HTML widget's content does not shrink by default: a wide code block inside would push
    # its column past the explorer's edge (the preview, at 1280 px with Lab's file browser open)
    ".simlib-explorer .widget-html{max-width:100%;min-width:0}"
    ".simlib-explorer .widget-html-content{min-width:0;max-width:100%;flex:1 1 auto}"
    # a checkbox's long description is cut with an ellipsis by default: it wraps instead
    ".simlib-explorer .widget-checkbox{height:auto;max-width:100%}"
    ".simlib-explorer .widget-checkbox .widget-label-basic{white-space:normal;overflow:visible;text-overflow:clip;"
    "height:auto;line-height:1.4}"
    f".simlib-explorer .lm-TabBar-tab,.simlib-explorer .jupyter-widget-Collapse-header{{color:{TEXT} !important}}"
    f".simlib-explorer .jupyter-button.mod-warning{{background-color:{strong('--jp-warn-color1', '#bf8700', 60)}}}"
)


def code_css(max_height: str, *, wrap: bool = False) -> str:
    """A scrolling code block at most ``max_height`` high, in the code font; ``wrap`` breaks long
    lines (signatures, signed strings) instead of scrolling sideways."""
    white_space = "white-space:pre-wrap;overflow-wrap:anywhere" if wrap else "white-space:pre"
    return (
        f"background:{CODE_BG};color:{TEXT};border:1px solid {BORDER};border-radius:6px;"
        f"padding:8px;margin:4px 0;max-height:{max_height};overflow:auto;font-size:12px;"
        f"font-family:{CODE_FONT};line-height:1.35;{white_space}"
    )
