"""The Import tab: paste or upload a captured request (raw HTTP, JSON, or a curl command), send
it to a webhook as captured and re-signed with the webhook's secret, and compare the answers.

The capture is read from what was pasted or uploaded only: a file it names (curl's ``@file``)
is never read from this machine.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w

from simlib.ui.base import Session, describe_error, guarded
from simlib.ui.blocks import muted, notice, panel
from simlib.ui.jobs import Job
from simlib.ui.picker import WebhookPicker
from simlib.ui.theme import LABEL_STYLE
from simlib.ui.views import intro, render_import

__all__ = ["ImportPanel"]

INTRO = (
    "Paste a request a customer captured (raw HTTP: request line, headers, blank line, body; a JSON record "
    "with headers and body; or a curl command), or upload it as a file. It is sent to the webhook you pick "
    "twice: as captured (its own timestamp and signature) and re-signed now with the webhook's secret."
)
RUN_LABEL, RUNNING_LABEL = "Import and send", "Sending…"


class ImportPanel:
    """``run`` imports ``capture`` (or the uploaded file) into the picked webhook on a worker
    thread; ``last_import`` is the last :meth:`Simulator.import_delivery` result."""

    def __init__(self, session: Session, *, follow: w.Dropdown | None = None) -> None:
        self.session = session
        self.last_import: Any = None  # an ImportResult (simlib does not export the class)
        self._uploaded: tuple[str, bytes] | None = None  # (the text shown, the exact bytes uploaded)
        self.capture = w.Textarea(description="Capture", rows=9, style=LABEL_STYLE, layout=w.Layout(width="100%"),
                                  placeholder="POST /hooks HTTP/1.1\nx-webhook-signature: …\n\n{\"event\":…}")
        self.upload = w.FileUpload(description="Upload capture", accept="", multiple=False, layout=w.Layout(width="auto"))
        self.picker = WebhookPicker(session, follow=follow, description="Send to")
        self.as_captured = w.Checkbox(value=True, indent=False, layout=w.Layout(width="auto"),
                                      description="Also send it as captured (its original timestamp and signature)")
        self.run = w.Button(description=RUN_LABEL, button_style="primary", layout=w.Layout(width="auto"))
        self.status = w.HTML(value="")
        self.result = w.HTML(value=panel(muted("Nothing imported yet.")))
        self.job: Job[Any] = Job("simlib-import")
        self.widget = w.VBox(
            [
                w.HTML(value=intro(INTRO)),
                self.capture,
                w.HBox([self.upload]),
                self.picker.widget,
                w.HBox([self.as_captured, self.run, self.status], layout=w.Layout(flex_flow="row wrap", align_items="center")),
                self.result,
            ],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("simlib-import")
        self.upload.observe(self._on_upload, names="value")
        self.run.on_click(self._on_run_click)

    @property
    def running(self) -> bool:
        return self.job.running

    def refresh(self) -> None:
        self.picker.refresh()

    def wait(self, timeout: float | None = None) -> bool:
        return self.job.wait(timeout)

    def source(self) -> bytes:
        """What will be imported: the uploaded bytes while the text shown is still theirs, else the text."""
        text = str(self.capture.value)
        if self._uploaded is not None and self._uploaded[0] == text:
            return self._uploaded[1]
        return text.encode("utf-8")

    # -- handlers ------------------------------------------------------------------------------

    @guarded("read the uploaded capture")
    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change.get("new") or ()
        if not files:
            return
        first = files[0]
        data = bytes(first["content"])
        text = data.decode("utf-8", "replace")
        self._uploaded = (text, data)
        self.capture.value = text
        self.upload.value = ()  # the bytes are kept above; the same file can be picked again
        self.result.value = panel(muted(f"Loaded {first['name']} ({len(data)} bytes). Pick a webhook and press "
                                        f"{RUN_LABEL}."))

    def _tick(self) -> None:
        self.status.value = muted(f"Sending… {self.job.elapsed:.1f} s")

    @guarded("import the capture")
    def _on_run_click(self, _button: w.Button | None = None) -> None:
        if self.job.running:
            return
        wid, source = self.picker.value, self.source()
        if wid is None:
            self.result.value = panel(notice("Pick a webhook to send to first (none is configured: create one above)."))
            return
        if not source.strip():
            self.result.value = panel(notice("Paste a captured request or upload one first."))
            return
        sim, as_captured = self.session.simulator, bool(self.as_captured.value)
        among = self.session.webhooks()  # this page's webhooks: never another page's demo webhook
        self.result.value = panel(muted(f"Sending the capture to {html.escape(self.picker.dropdown.label or wid)} …"))

        def work(_cancel: threading.Event) -> Any:
            return sim.import_delivery(source, wid, send_as_captured=as_captured, among=among)  # content, never a path

        def done(value: Any, error: BaseException | None) -> None:
            try:
                if error is not None:
                    self.session.last_error = error
                    self.result.value = panel(notice(f"Could not import the capture: {describe_error(error)}"))
                    self.status.value = ""
                else:
                    self.last_import = value
                    self.result.value = render_import(value)
                    self.status.value = muted(f"Done in {self.job.elapsed:.1f} s")
            finally:
                self._follow()

        self.job.start(work, tick=self._tick, done=done)
        self._follow()
        self._tick()

    def _follow(self) -> None:
        self.run.disabled = self.job.running
        self.run.description = RUNNING_LABEL if self.job.running else RUN_LABEL
