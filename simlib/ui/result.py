"""The result panel: what the last Send did (status, latency, verdict, headers, payload, answer)."""

from __future__ import annotations

import ipywidgets as w

from simlib import Preview, SimulationResult
from simlib.ui.payload_view import PRETTY
from simlib.ui.render import render_nothing_sent, render_result, render_sending

__all__ = ["ResultPanel"]


class ResultPanel:
    """``html`` shows nothing sent yet, a send in flight, or the last result (``shown``)."""

    def __init__(self) -> None:
        self.html = w.HTML(value=render_nothing_sent())
        self.shown: SimulationResult | None = None
        self.view = PRETTY  # or RAW: the payload as the exact bytes sent

    def set_view(self, view: str) -> None:
        """Show the payload pretty or raw (the composer's toggle), re-rendering a shown result."""
        self.view = view
        if self.shown is not None:
            self.html.value = render_result(self.shown, view)

    def sending(self, preview: Preview, *, elapsed: float = 0.0, cancelling: bool = False) -> None:
        self.shown = None
        self.html.value = render_sending(preview, elapsed=elapsed, cancelling=cancelling)

    def show(self, result: SimulationResult) -> None:
        self.shown = result
        self.html.value = render_result(result, self.view)

    def clear(self) -> None:
        self.shown = None
        self.html.value = render_nothing_sent()

    def follow(self, webhook_id: str | None, any_webhooks: bool) -> None:
        """The selection changed: a result of another webhook, or with no webhook left, goes.
        (With no selection, e.g. after "Webhook not found", the result stays: it says why.)"""
        shown = self.shown
        if shown is not None and (not any_webhooks or (webhook_id is not None and webhook_id != shown.webhook_id)):
            self.clear()
