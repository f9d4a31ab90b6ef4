"""The Analysis tab's charts, drawn with matplotlib (Agg, no display) into PNG bytes: a latency
histogram, latency over time and the status mix. Pure: a history frame in, PNG bytes out.

The status colours are :data:`simlib.STATUS_PALETTE` (via :func:`simlib.outcome_colours`), the
palette of the explorer's theme fallbacks and of the history notebook; the charts are drawn on
matplotlib's light default background, so that they read the same in a light or a dark page.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from simlib import STATUS_PALETTE, answered_attempts, outcome_colours, outcome_mix

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["latency_histogram", "latency_over_time", "status_mix_chart"]

_SIZE = (6.4, 3.0)
_DPI = 96


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")  # no pyplot: no global state, thread-safe
    return figure, figure.add_subplot()


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def latency_histogram(history: pd.DataFrame, *, bins: int = 40) -> bytes:
    """How the latencies of the answered attempts are spread, with p50 / p95 / p99 marked."""
    figure, ax = _figure()
    latency = answered_attempts(history)["latency_ms"].astype("float64")
    if len(latency):
        ax.hist(latency, bins=bins, color=STATUS_PALETTE["2xx"], alpha=0.85)
        for q, style in ((0.5, "-"), (0.95, "--"), (0.99, ":")):
            value = float(latency.quantile(q))
            ax.axvline(value, color=STATUS_PALETTE["5xx"], linestyle=style, label=f"p{q * 100:g} {value:.1f} ms")
        ax.legend(loc="upper right", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no answered attempts", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("attempts")
    ax.set_title("Latency histogram", fontsize="medium")
    return _png(figure)


def latency_over_time(history: pd.DataFrame) -> bytes:
    """Each answered attempt's latency at its send time, coloured by its status class."""
    figure, ax = _figure()
    answered = answered_attempts(history)
    if len(answered):
        classes = (answered["http_status"].astype("Int64") // 100).astype("string")
        for cls, part in answered.groupby(classes, sort=True):
            name = f"{cls}xx"
            ax.scatter(part["sent_at"], part["latency_ms"], s=6, label=name, color=outcome_colours([name])[0])
        ax.legend(loc="upper left", fontsize="small", markerscale=2)
        import matplotlib.dates as mdates

        # Clock times, not matplotlib's sub-minute default ("34:36.500000"): the date only when
        # the attempts span more than a day.
        span = answered["sent_at"].max() - answered["sent_at"].min()
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M" if span.days >= 1 else "%H:%M:%S"))  # type: ignore[no-untyped-call]
        figure.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "no answered attempts", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency over time (UTC)", fontsize="medium")
    return _png(figure)


def status_mix_chart(history: pd.DataFrame, by: str = "webhook_name") -> bytes:
    """Attempts per outcome (status class or simulation error), one stacked bar per ``by``."""
    figure, ax = _figure()
    mix = outcome_mix(history, by) if len(history) else None
    if mix is not None and len(mix):
        left = None
        colours = outcome_colours(mix.columns)
        labels = [str(i) for i in mix.index]
        for column, colour in zip(mix.columns, colours, strict=True):
            values = mix[column].to_numpy()
            ax.barh(labels, values, left=left, color=colour, label=str(column))
            left = values if left is None else left + values
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.02), ncols=min(len(mix.columns), 6), fontsize="small",
                  frameon=False)
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "no attempts", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("attempts")
    return _png(figure)
