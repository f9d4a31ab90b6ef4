"""The Analysis tab: success rate per webhook and per event type, latency p50 / p95 / p99, a
latency histogram, latency over time and the status mix, over the History tab's current filter
(the newest :data:`ANALYSIS_ROWS` matching attempts, as the panel says). It reads and draws on a
worker thread; the tables come from :mod:`simlib`'s analysis functions, the charts from
:mod:`simlib.ui.plots`."""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from simlib import HistoryFilter, ValidationError, latency_percentiles, success_rates
from simlib.ui.base import Session, describe_error, guarded, show
from simlib.ui.blocks import header_cell, muted, notice, panel
from simlib.ui.jobs import Job
from simlib.ui.plots import latency_histogram, latency_over_time, status_mix_chart

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ANALYSIS_COLUMNS", "ANALYSIS_ROWS", "AnalysisPanel", "render_table"]

#: At most this many attempts are analysed: the newest that match the filter.
ANALYSIS_ROWS = 50_000
ANALYSIS_COLUMNS = ("sent_at", "webhook_name", "event_type", "result", "http_status", "latency_ms", "error")


def _chart() -> w.Layout:
    return w.Layout(width="auto", max_width="100%", flex="1 1 480px", object_fit="contain")


def render_table(frame: pd.DataFrame, title: str, *, percent: tuple[str, ...] = (), ms: bool = False) -> str:
    """A small table (index and columns), rates as percentages, latencies in ms."""
    head = header_cell(html.escape(str(frame.index.name or ""))) + "".join(header_cell(html.escape(str(c))) for c in frame.columns)
    rows = []
    for index, rec in frame.iterrows():
        cells = []
        for column, value in rec.items():
            whole = isinstance(value, float) and value.is_integer()  # counts read back as floats
            text = f"{float(value):.0%}" if column in percent else f"{float(value):.1f} ms" if ms else f"{int(value) if whole else value}"
            cells.append(f'<td style="padding:2px 10px 2px 0">{html.escape(text)}</td>')
        rows.append(f'<tr><td style="padding:2px 10px 2px 0">{html.escape(str(index))}</td>{"".join(cells)}</tr>')
    body = "".join(rows) or f'<tr><td colspan="{len(frame.columns) + 1}">{muted("no attempts")}</td></tr>'
    return (f'<div style="flex:0 1 auto;max-width:100%;overflow-x:auto"><b>{html.escape(title)}</b>'
            f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')


def _describe(flt: HistoryFilter) -> str:
    parts = [f"{name} {', '.join(values)}" for name, values in (
        ("webhook", flt.webhook), ("event", flt.event_type), ("result", flt.result), ("status", flt.status_class)) if values]
    if flt.since_ms is not None or flt.until_ms is not None:
        parts.append("a time range")
    if flt.text:
        parts.append(f"text “{flt.text}”")
    if flt.history_ids is not None:
        parts.append("this page's sends only")
    return ", ".join(parts) if parts else "no filter (every attempt)"


class AnalysisPanel:
    """``analyse`` reads the newest :data:`ANALYSIS_ROWS` attempts matching ``source``'s filter
    (the History tab) and shows the tables (``tables``) and the charts (``histogram``,
    ``over_time``, ``mix``, PNG ``Image`` widgets). ``last_frame`` is what was analysed."""

    def __init__(self, session: Session, source: Any) -> None:
        self.session = session
        self.source = source
        self.analyse = w.Button(description="Analyse the current filter", button_style="primary",
                                layout=w.Layout(width="auto"))
        self.status = w.HTML(value=muted(f"Uses the History tab's filter; at most the newest {ANALYSIS_ROWS:,} "
                                         "matching attempts are analysed."))
        self.tables = w.HTML(value="")
        self.histogram = w.Image(format="png", layout=_chart())
        self.over_time = w.Image(format="png", layout=_chart())
        self.mix = w.Image(format="png", layout=_chart())
        self.last_frame: pd.DataFrame | None = None
        self.job: Job[dict[str, Any]] = Job("simlib-analysis")
        charts = self.charts = w.Box([self.histogram, self.over_time, self.mix], layout=w.Layout(flex_flow="row wrap", width="100%"))
        show(charts, False)  # until drawn: empty Image widgets show as broken images
        self.widget = w.VBox([
            w.HBox([self.analyse, self.status], layout=w.Layout(flex_flow="row wrap", align_items="center")),
            self.tables, charts,
        ], layout=w.Layout(width="100%"))
        self.widget.add_class("simlib-analysis")
        self.analyse.on_click(self._on_analyse_click)

    def wait(self, timeout: float | None = None) -> bool:
        return self.job.wait(timeout)

    @guarded("analyse the history")
    def _on_analyse_click(self, _button: w.Button | None = None) -> None:
        if self.job.running:
            return
        try:
            flt: HistoryFilter = self.source.current_filter
        except ValidationError as exc:  # a From/To that is not a time: said here, not at the top of the page
            self.session.last_error = exc
            self.status.value = notice(f"Not analysed: the History tab's filter is not applied — {describe_error(exc)}")
            return
        sim = self.session.simulator
        self.analyse.disabled = True
        self.status.value = muted(f"Analysing ({_describe(flt)}) …")

        def work(_cancel: threading.Event) -> dict[str, Any]:
            frame = sim.history_matching(flt, limit=ANALYSIS_ROWS, columns=ANALYSIS_COLUMNS)
            return {
                "frame": frame,
                "tables": "".join((
                    render_table(success_rates(frame, "webhook_name"), "Success rate per webhook", percent=("success rate",)),
                    render_table(success_rates(frame, "event_type"), "Success rate per event type", percent=("success rate",)),
                    render_table(latency_percentiles(frame, "webhook_name", total="all"), "Latency per webhook", ms=True),
                )),
                "histogram": latency_histogram(frame), "over_time": latency_over_time(frame), "mix": status_mix_chart(frame),
            }

        def done(out: dict[str, Any] | None, error: BaseException | None) -> None:
            self.analyse.disabled = False
            if out is None:
                self.session.last_error = error
                self.status.value = notice(f"Could not analyse: {describe_error(error or ValueError('no result'))}")
                return
            frame = self.last_frame = out["frame"]
            bound = f"the newest {ANALYSIS_ROWS:,} matching attempts" if len(frame) >= ANALYSIS_ROWS else f"{len(frame):,} attempts"
            self.status.value = muted(f"Analysed {bound} · filter: {_describe(flt)} · {self.job.elapsed:.1f} s")
            self.tables.value = panel(f'<div style="display:flex;flex-wrap:wrap;gap:16px">{out["tables"]}</div>')
            self.histogram.value, self.over_time.value, self.mix.value = out["histogram"], out["over_time"], out["mix"]
            show(self.charts, True)

        self.job.start(work, tick=lambda: None, done=done)
