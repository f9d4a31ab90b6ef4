"""The burst result, rendered: a table of the outcomes (by result and status), the throughput
and the latency percentiles, and a latency histogram. Pure: a :class:`~simlib.BurstResult` in,
an HTML string out.

The histogram is drawn by matplotlib as SVG, with stand-in colours that are then replaced by the
theme's variables (:mod:`simlib.ui.theme`): on a transparent background its text, axes and bars
follow JupyterLab's light or dark theme like the rest of the page.
"""

from __future__ import annotations

import html
import io
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from simlib import CANCELLED
from simlib.ui.blocks import header_cell, is_missing, muted, panel, row, status_colour, status_text
from simlib.ui.theme import AMBER, GREEN, MUTED, RED, TEXT

if TYPE_CHECKING:
    from simlib import BurstResult, SimulationResult

__all__ = ["burst_latencies", "latency_histogram_svg", "outcome_counts", "percentiles", "render_burst"]

#: The latency percentiles the table shows.
PERCENTILES = (50, 90, 99)
# Stand-in colours, as RGB fractions of 1..5 out of 255 (no theme uses them): matplotlib draws
# with them, then each is swapped for a theme variable in the SVG. Not colours of the page.
_INK, _BARS, _MARKS = ((1 / 255, 2 / 255, 3 / 255), (2 / 255, 3 / 255, 4 / 255), (3 / 255, 4 / 255, 5 / 255))
_SVG_START = re.compile(r"^.*?(?=<svg)", re.S)


def burst_latencies(burst: BurstResult) -> list[float]:
    """The latency of every attempt that got an answer, in ms."""
    return [float(r.latency_ms) for r in burst.results if r.latency_ms is not None and not is_missing(r.latency_ms)]


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of ``latencies`` (NaN when there are none)."""
    import numpy as np

    if not latencies:
        return {**{f"p{q}": float("nan") for q in PERCENTILES}, "max": float("nan")}
    values = np.asarray(latencies, dtype=float)
    out = {f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True)}
    out["max"] = float(values.max())
    return out


def _outcome(r: SimulationResult) -> tuple[str, int | None]:
    if r.delivered:
        return "Delivered", r.http_status
    if r.error and r.detail.startswith(CANCELLED):  # a send in flight when the burst was cancelled
        return f"{r.error} ({CANCELLED.lower()})", r.http_status
    if r.error:
        return r.error, r.http_status
    return "Failed", r.http_status


def outcome_counts(burst: BurstResult) -> list[tuple[str, int | None, int]]:
    """``(outcome, status, count)``, most frequent first: Delivered or the simulation error (for
    a send cancelled in flight: "Simulation failed (cancelled by the user)"), and the HTTP
    status (None: no answer)."""
    counts = Counter(_outcome(r) for r in burst.results)
    return [(outcome, status, n) for (outcome, status), n in counts.most_common()]


def latency_histogram_svg(latencies: list[float], *, bins: int = 30) -> str:
    """The latency histogram as inline SVG in the theme's colours, p50/p90/p99 marked; "" when
    no attempt was answered."""
    if not latencies:
        return ""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.colors import to_hex
    from matplotlib.figure import Figure

    marks = percentiles(latencies)
    with matplotlib.rc_context({"text.color": _INK, "axes.labelcolor": _INK, "xtick.color": _INK, "ytick.color": _INK,
                                "axes.edgecolor": _INK, "svg.fonttype": "path", "svg.hashsalt": "simlib-burst"}):
        figure = Figure(figsize=(6.0, 2.4), dpi=96, layout="constrained")  # no pyplot: thread-safe
        figure.patch.set_alpha(0.0)
        ax = figure.add_subplot()
        ax.set_facecolor("none")
        ax.hist(latencies, bins=bins, color=_BARS)
        for q, line in zip(PERCENTILES, ("-", "--", ":"), strict=True):
            ax.axvline(marks[f"p{q}"], color=_MARKS, linestyle=line, linewidth=1.2)
        ax.set_xlabel("latency (ms)  ·  lines: p50, p90 (dashed), p99 (dotted)")
        ax.set_ylabel("attempts")
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    svg = _SVG_START.sub("", buffer.getvalue(), count=1)
    for stand_in, colour in ((_INK, TEXT), (_BARS, GREEN), (_MARKS, AMBER)):
        svg = svg.replace(to_hex(stand_in), colour)
    return f'<div class="simlib-burst-histogram" style="max-width:100%;overflow-x:auto">{svg}</div>'


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.1f} ms"


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    cells = "".join(header_cell(h) for h in head)
    body = "".join(
        "<tr>" + "".join(f'<td style="padding:2px 12px 2px 0">{c}</td>' for c in r) + "</tr>" for r in rows
    )
    return f'<table class="simlib-burst-table" style="border-collapse:collapse;margin:4px 0"><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>'


def render_burst(burst: BurstResult, *, histogram: bool = True) -> str:
    """The burst result: outcomes by result and status, throughput, latency p50/p90/p99/max, and
    (``histogram``) the latency histogram."""
    total = len(burst.results)
    outcomes = []
    for outcome, status, n in outcome_counts(burst):
        colour = GREEN if outcome == "Delivered" else RED
        status_html = (f'<b style="color:{status_colour(status)}">{html.escape(status_text(status))}</b>'
                       if status is not None else muted("no answer"))
        share = f"{100 * n / total:.1f} %" if total else "-"
        outcomes.append((f'<b style="color:{colour}">{html.escape(outcome)}</b>', status_html, f"{n:,}", share))
    latencies = burst_latencies(burst)
    marks = percentiles(latencies)
    delivered = sum(r.delivered for r in burst.results)
    rate = total / burst.elapsed_s if burst.elapsed_s > 0 else float("nan")
    figures = [
        row("Sends", f"{total:,} · {delivered:,} delivered · {total - delivered:,} failed"),
        row("Throughput", html.escape(f"{rate:.1f} sends/s over {burst.elapsed_s:.2f} s")),
    ]
    latency_table = _table(("p50", "p90", "p99", "max"), [tuple(_ms(marks[k]) for k in ("p50", "p90", "p99", "max"))])
    parts = [
        '<div style="font-weight:600;margin-bottom:4px">Burst result</div>',
        f'<table style="border-collapse:collapse">{"".join(figures)}</table>',
        _table(("Outcome", "HTTP status", "Sends", "Share"), outcomes),
        # The label right above the table it describes (it stood above the outcomes before).
        f'<div style="margin-top:6px">{html.escape(f"Latency of the {len(latencies):,} answered attempts:")}</div>',
        latency_table,
    ]
    if burst.stopped_early:
        parts.append(f'<div style="color:{AMBER}">Stopped early: {html.escape(burst.stopped_early)}</div>')
    if histogram:
        parts.append(latency_histogram_svg(latencies) or f'<span style="color:{MUTED}">No answered attempt: no histogram.</span>')
    return panel("".join(parts))

