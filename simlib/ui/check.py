"""The Receiver check tab: the conformance matrix and the tolerance probe against a webhook's
endpoint, on a worker thread, with a request count, the elapsed time and Cancel."""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from simlib.ui.base import Session, describe_error, guarded
from simlib.ui.blocks import muted, notice, panel
from simlib.ui.jobs import Job
from simlib.ui.picker import WebhookPicker
from simlib.ui.views import intro, render_check

if TYPE_CHECKING:
    import pandas as pd

    from simlib import ProbeResult

__all__ = ["CheckPanel"]

INTRO = (
    "Sends one correctly signed simulation and every deliberately broken variant (wrong secret, changed body, "
    "stale timestamp, replay …) to the webhook's endpoint and judges each answer as a correct receiver must "
    "give it; the probe then measures how old and how far ahead a timestamp may be. Every request is a real, "
    "recorded simulation."
)
RUN_LABEL, RUNNING_LABEL = "Run check", "Checking…"


class CheckPanel:
    """``run`` starts the check of the picked webhook (``picker``); ``cancel`` stops it before
    its next request. ``last_check`` (a DataFrame) and ``last_probe`` hold the last results."""

    def __init__(self, session: Session, *, follow: w.Dropdown | None = None) -> None:
        self.session = session
        self.picker = WebhookPicker(session, follow=follow)
        self.with_probe = w.Checkbox(value=True, description="Also probe the timestamp tolerance (≤ 44 more requests)",
                                     indent=False, layout=w.Layout(width="auto"))
        self.run = w.Button(description=RUN_LABEL, button_style="primary", layout=w.Layout(width="auto"))
        self.cancel = w.Button(description="Cancel", disabled=True, layout=w.Layout(width="auto"))
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="auto", flex="0 1 320px"))
        self.status = w.HTML(value="")
        self.result = w.HTML(value=panel(muted("No check run yet: pick a webhook and press Run check.")))
        self.last_check: pd.DataFrame | None = None
        self.last_probe: ProbeResult | None = None
        self.job: Job[tuple[Any, Any]] = Job("simlib-receiver-check")
        self._phase, self._done, self._total = "", 0, 0
        self.widget = w.VBox(
            [
                w.HTML(value=intro(INTRO)),
                self.picker.widget,
                w.HBox([self.with_probe, self.run, self.cancel], layout=w.Layout(flex_flow="row wrap", align_items="center")),
                w.HBox([self.progress, self.status], layout=w.Layout(flex_flow="row wrap", align_items="center")),
                self.result,
            ],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("simlib-check")
        self.run.on_click(self._on_run_click)
        self.cancel.on_click(self._on_cancel_click)

    @property
    def running(self) -> bool:
        return self.job.running

    def refresh(self) -> None:
        self.picker.refresh()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running check; True when none runs any more."""
        return self.job.wait(timeout)

    # -- the run ---------------------------------------------------------------------------------

    def _show_status(self) -> None:
        phase, done, total = self._phase, self._done, self._total
        count = f"{done} / {total} requests" if total else "starting"
        stopping = " · cancelling after the request in flight" if self.job.cancelled and self.job.running else ""
        self.status.value = muted(f"{phase}: {count} · {self.job.elapsed:.1f} s{stopping}")

    def _progress(self, phase: str) -> Any:
        def report(done: int, total: int) -> None:
            self._phase, self._done, self._total = phase, done, total
            self.progress.max = max(total, 1)
            self.progress.value = min(done, total)
            self._show_status()

        return report

    @guarded("run the receiver check")
    def _on_run_click(self, _button: w.Button | None = None) -> None:
        if self.job.running:
            return
        wid = self.picker.value
        if wid is None:
            self.result.value = panel(notice("Pick a webhook first (none is configured: create one above)."))
            return
        probe = bool(self.with_probe.value)
        sim = self.session.simulator
        target = html.escape(self.picker.dropdown.label or wid)
        self._phase, self._done, self._total = "Conformance matrix", 0, 0
        self.progress.value, self.progress.max = 0, 1
        self.result.value = panel(muted(f"Checking {target} …"))

        def work(cancel: threading.Event) -> tuple[Any, Any]:
            frame = sim.check_receiver(wid, progress=self._progress("Conformance matrix"), cancel=cancel)
            self.last_check, self.last_probe = frame, None
            result = None
            if probe and not cancel.is_set():
                self._phase, self._done, self._total = "Tolerance probe", 0, 0
                result = sim.probe_tolerance(wid, progress=self._progress("Tolerance probe"), cancel=cancel)
                self.last_probe = result
            return frame, result

        def done(value: tuple[Any, Any] | None, error: BaseException | None) -> None:
            try:
                if error is not None or value is None:
                    self.session.last_error = error
                    why = describe_error(error) if error is not None else "it gave no result"
                    self.result.value = panel(notice(f"Could not run the receiver check: {why}"))
                    self.status.value = ""
                else:
                    self._show_result(*value, target=self.picker.dropdown.label or wid, probe_wanted=probe)
            finally:
                self._follow()

        self.job.start(work, tick=self._show_status, done=done)
        self._follow()

    def _show_result(self, frame: Any, probe: ProbeResult | None, *, target: str, probe_wanted: bool) -> None:
        cancelled = bool(frame.attrs.get("cancelled")) or bool(probe is not None and probe.cancelled)
        stopped = str(frame.attrs.get("stopped_early") or "")
        requests = int(frame.attrs.get("requests", len(frame))) + (probe.requests if probe is not None else 0)
        self.result.value = render_check(
            frame.to_dict("records"), target=target, requests=int(frame.attrs.get("requests", len(frame))),
            total=int(frame.attrs.get("total", len(frame))), cancelled=bool(frame.attrs.get("cancelled")),
            probe=probe, probe_note="Tolerance probe: not run (cancelled)." if probe_wanted and probe is None else "",
            stopped=stopped,
        )
        word = "Stopped" if stopped else "Cancelled" if cancelled else "Done"
        self.status.value = muted(f"{word}: {requests} requests in {self.job.elapsed:.1f} s")

    def _follow(self) -> None:
        running = self.job.running
        self.run.disabled = running
        self.run.description = RUNNING_LABEL if running else RUN_LABEL
        self.cancel.disabled = not running
        self.with_probe.disabled = running

    @guarded("cancel the receiver check")
    def _on_cancel_click(self, _button: w.Button | None = None) -> None:
        if self.job.running:
            self.job.cancel()
            self._show_status()
