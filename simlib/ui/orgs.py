"""The Local receiver panel's "Many organisations, one URL" scenario (issue 14): N webhooks, each
with its own organisation id and secret, aimed at the embedded receiver, which then chooses the
secret by organisation, and one send from each -- on a worker thread (N sends, each up to the
delivery deadline), with the elapsed time shown.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as w

from simlib.ui.base import describe_error, guarded
from simlib.ui.blocks import muted, notice
from simlib.ui.jobs import Job
from simlib.ui.theme import AMBER, GREEN, LABEL_STYLE

__all__ = ["ManyOrganisations"]


class ManyOrganisations:
    """``count`` and ``button`` go into the receiver ``panel`` (its ``session``, ``local``,
    ``by_org``, ``apply``, ``message``, ``refresh`` and ``on_webhooks`` are used)."""

    def __init__(self, panel: Any, layout: w.Layout) -> None:
        self.panel = panel
        self.session = panel.session  # what @guarded reports through
        self.job: Job[Any] = Job("simlib-orgs")
        self.count = w.BoundedIntText(value=3, min=1, max=50, description="Organisations", style=LABEL_STYLE, layout=layout)
        self.button = w.Button(description="Many organisations, one URL", icon="sitemap", layout=w.Layout(width="auto"),
                               tooltip="create N webhooks (own organisation id and secret) aimed at this receiver, "
                                       "choose secrets by organisation, and send from each")
        self.button.on_click(self._on_click)

    @guarded("create many organisations")
    def _on_click(self, _button: w.Button | None = None) -> None:
        panel = self.panel
        if self.job.running:
            return
        rx = panel.local.ensure()
        panel.by_org.value = True  # applied through the observer: secrets chosen by organisation id
        panel.apply()
        sim, n, url = panel.session.simulator, int(self.count.value), rx.url
        self.button.disabled = True

        def tick() -> None:
            panel.message.value = muted(f"Sending from {n} organisations… {self.job.elapsed:.1f} s")

        def work(_cancel: threading.Event) -> Any:
            return sim.many_organisations(n, url)

        def done(run: Any, error: BaseException | None) -> None:
            try:
                if error is not None:
                    panel.session.last_error = error
                    panel.message.value = notice(f"Could not create the organisations: {describe_error(error)}")
                    return
                colour = GREEN if run.delivered == len(run.results) else AMBER
                panel.message.value = notice(
                    f"{len(run.webhooks)} organisations' webhooks aim at {url}, each with its own secret: "
                    f"{run.delivered} of {len(run.results)} delivered; they are in the webhook lists now.", colour)
                if panel.on_webhooks is not None:
                    panel.on_webhooks()
                panel.refresh(force=True)
            finally:
                self.button.disabled = False

        tick()
        self.job.start(work, tick=tick, done=done)
