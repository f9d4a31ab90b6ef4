"""The result panel: what the last Send did (status, latency, verdict, headers, payload, answer)."""

from __future__ import annotations

import ipywidgets as w

from simlib import Preview, SimulationResult
from simlib.ui.render import render_nothing_sent, render_result, render_sending

__all__ = ["ResultPanel"]


class ResultPanel:
    """``html`` shows nothing sent yet, a send in flight, or the last result."""

    def __init__(self) -> None:
        self.html = w.HTML(value=render_nothing_sent())

    def sending(self, preview: Preview) -> None:
        self.html.value = render_sending(preview)

    def show(self, result: SimulationResult) -> None:
        self.html.value = render_result(result)

    def clear(self) -> None:
        self.html.value = render_nothing_sent()
