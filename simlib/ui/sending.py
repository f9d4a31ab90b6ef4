"""A single Send on a worker thread: the kernel stays responsive while it runs (the preview
follows every change at once), the elapsed time ticks next to the button, and Cancel ends the
attempt within a second -- recorded, as every attempt is ("Cancelled by the user ...").

The worker only sends; what it shows when the attempt ends travels as comm messages, which any
thread may send.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import ipywidgets as w

from simlib.ui.base import Session, guarded
from simlib.ui.blocks import muted
from simlib.ui.jobs import Job

if TYPE_CHECKING:
    from simlib import Preview, SimulationResult
    from simlib.ui.result import ResultPanel

__all__ = ["CANCEL_LABEL", "SendRunner"]

CANCEL_LABEL = "Cancel"


class SendRunner:
    """Runs one Send at a time. ``start(preview, sign_with)`` sends on a thread, showing the
    attempt in flight in ``result_panel`` and the elapsed time in ``status``; ``cancel`` (the
    button) asks it to stop. ``on_result(result)`` runs when it ended (on the worker thread);
    ``on_change()`` when it starts and when it ended (the Send button follows it)."""

    def __init__(
        self,
        session: Session,
        result_panel: ResultPanel,
        *,
        on_result: Callable[[SimulationResult], None],
        on_change: Callable[[], None],
    ) -> None:
        self.session = session
        self.result_panel = result_panel
        self.on_result, self.on_change = on_result, on_change
        self.job: Job[SimulationResult] = Job("simlib-send", tick_s=0.2)
        self.cancel = w.Button(description=CANCEL_LABEL, icon="stop", disabled=True, layout=w.Layout(width="auto"))
        self.cancel.add_class("simlib-send-cancel")
        self.status = w.HTML(value="")
        self.status.add_class("simlib-send-status")
        self.last_result: SimulationResult | None = None
        self._busy = False  # from start() until the result is shown (Job.running ends earlier)
        self._preview: Preview | None = None
        self.cancel.on_click(self._on_cancel_click)

    @property
    def running(self) -> bool:
        return self._busy

    def start(self, preview: Preview, *, sign_with: Literal["current", "previous"] = "current") -> None:
        sim = self.session.simulator
        self._busy, self._preview = True, preview
        self.cancel.disabled = False
        self.result_panel.sending(preview)
        self.status.value = muted("Sending… 0.0 s")

        def work(cancel: threading.Event) -> SimulationResult:
            return sim.send(preview, sign_with=sign_with, cancel=cancel)

        self.job.start(work, tick=self._tick, done=self._done)
        self.on_change()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the Send in flight (and what it shows) to finish; True when none runs.
        From the worker thread itself (a result callback) it returns at once."""
        if threading.current_thread() is self.job.thread:
            return not self._busy
        return self.job.wait(timeout)

    def _tick(self) -> None:
        preview = self._preview
        if preview is None:
            return
        cancelling = self.job.cancelled
        elapsed = self.job.elapsed
        word = "Cancelling…" if cancelling else "Sending…"
        self.status.value = muted(f"{word} {elapsed:.1f} s")
        self.result_panel.sending(preview, elapsed=elapsed, cancelling=cancelling)

    def _done(self, result: SimulationResult | None, error: BaseException | None) -> None:
        try:
            elapsed = self.job.elapsed
            if error is not None or result is None:
                self.session.report("send the simulation", error or RuntimeError("the send gave no result"))
                self.result_panel.clear()
                self.status.value = ""
            else:
                word = "Cancelled" if self.job.cancelled else "Done"
                self.status.value = muted(f"{word} in {elapsed:.1f} s")
                self.last_result = result
                self.on_result(result)
        except Exception as exc:  # noqa: BLE001 - a worker thread has no one to raise to
            self.session.report("show the result", exc)
        finally:
            self._busy, self._preview = False, None
            self.cancel.disabled = True
            try:
                self.on_change()
            except Exception as exc:  # noqa: BLE001 - as above
                self.session.report("show the result", exc)

    @guarded("cancel the send")
    def _on_cancel_click(self, _button: w.Button | None = None) -> None:
        if self._busy:
            self.job.cancel()
            self._tick()
