"""The Burst panel (load test): many sends of the selected event at a bounded concurrency, with
the current options and overrides, on a worker thread so the kernel stays responsive; a count
("312 / 1000") and the elapsed time while it runs, Cancel (no new send starts, those in flight
are cancelled and recorded as such: the burst ends within a second), and the result
as a table with a latency histogram."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import ipywidgets as w

from simlib import Preview, Webhook
from simlib.ui.base import Session, describe_error, guarded
from simlib.ui.blocks import muted, notice, panel
from simlib.ui.burst_view import render_burst
from simlib.ui.jobs import Job
from simlib.ui.theme import LABEL_STYLE

if TYPE_CHECKING:
    from simlib import BurstResult

__all__ = ["BurstPanel"]

RUN_LABEL = "Run burst"
RUNNING_LABEL = "Running…"


class BurstPanel:
    """``count`` sends at ``concurrency`` (and at most ``rate`` per second; 0 = as fast as
    possible), each with a fresh payload unless ``repeat`` is ticked; every attempt is recorded.

    ``target()`` gives what to send, ``(preview, webhook)``, or None when a burst may not start
    (nothing to send, or a Send in flight). ``on_change()`` runs when a burst starts or ends,
    ``on_done()`` after it ended (on the worker thread).
    """

    def __init__(
        self,
        session: Session,
        *,
        target: Callable[[], tuple[Preview, Webhook] | None],
        on_change: Callable[[], None],
        on_done: Callable[[], None],
    ) -> None:
        self.session = session
        self.target, self.on_change, self.on_done = target, on_change, on_done
        self.last_burst: BurstResult | None = None
        self.job: Job[BurstResult] = Job("simlib-explorer-burst", tick_s=0.25)
        self._busy = False  # from Run until the result is shown
        width = w.Layout(width="240px")
        # Not Bounded*Text: those snap a 0 to 1 in the page without a word, and a burst would send
        # what was not asked for; a value out of range is refused with one line (_limits).
        self.count = w.IntText(value=100, description="Sends", style=LABEL_STYLE, layout=width)
        self.concurrency = w.IntText(value=10, description="Concurrency", style=LABEL_STYLE, layout=width)
        self.rate = w.FloatText(value=0.0, description="Rate /s", style=LABEL_STYLE, layout=width)
        self.repeat = w.Checkbox(value=False, description="Repeat one payload (idempotency test)", indent=False)
        self.run = w.Button(description=RUN_LABEL, icon="bolt", button_style="warning", disabled=True)
        self.cancel = w.Button(description="Cancel", icon="stop", disabled=True, layout=w.Layout(width="auto"))
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Progress", style=LABEL_STYLE)
        self.count_text = w.HTML(value="")  # "312 / 1000 · 2.4 s"
        self.count_text.add_class("simlib-burst-count")
        self.result = w.HTML(value="")
        self.box = w.VBox(
            [
                w.HTML(value=muted("Many sends of the selected event at a bounded concurrency (rate 0 = as fast as "
                                   "possible), each with a fresh payload unless repeated; every attempt is recorded.")),
                w.HBox([self.count, self.concurrency, self.rate], layout=w.Layout(flex_flow="row wrap")),
                w.HBox([self.repeat, self.run, self.cancel], layout=w.Layout(flex_flow="row wrap", align_items="center")),
                w.HBox([self.progress, self.count_text], layout=w.Layout(flex_flow="row wrap", align_items="center")),
                self.result,
            ]
        )
        self.widget = w.Accordion(children=[self.box], titles=("Burst (load test)",), selected_index=None)
        self.run.on_click(self._on_run_click)
        self.cancel.on_click(self._on_cancel_click)

    @property
    def running(self) -> bool:
        return self._busy

    def wait(self, timeout: float | None = None) -> BurstResult | None:
        """Wait for the running burst, if any; the last burst's result (None if none ran)."""
        self.job.wait(timeout)
        return self.last_burst

    def follow(self, *, can_start: bool) -> None:
        """The Run button: disabled while a burst runs or when it ``can_start`` no burst."""
        self.run.disabled = not can_start or self.running
        self.run.description = RUNNING_LABEL if self.running else RUN_LABEL
        self.cancel.disabled = not self.running

    def _show_count(self) -> None:
        done, total = self.progress.value, self.progress.max
        stopping = " · cancelling: no new send starts, those in flight are stopped" if self.job.cancelled and self._busy else ""
        self.count_text.value = muted(f"{done:,} / {total:,} · {self.job.elapsed:.1f} s{stopping}")

    @guarded("run the burst")
    def _on_run_click(self, _button: w.Button | None = None) -> None:
        picked = self.target()
        if picked is None or self.running:
            return
        preview, wh = picked
        wrong = _limits(self.count.value, self.concurrency.value, self.rate.value)
        if wrong:
            self.result.value = panel(notice(f"Nothing was sent: {wrong}."))
            return
        n = int(self.count.value)
        concurrency = int(self.concurrency.value)
        rate = float(self.rate.value) or None
        repeat = bool(self.repeat.value)
        sim = self.session.simulator
        self.session.notice.value = ""
        self.result.value = panel(muted(f"Sending {n} × {preview.event_type} to {wh.url} …"))
        self.progress.max = n
        self.progress.value = 0

        step = max(1, n // 100)

        def progress(done: int, total: int) -> None:
            self.progress.value = done
            if done % step == 0 or done == total:  # the count follows without a message per send
                self._show_count()

        def work(cancel: threading.Event) -> BurstResult:
            # On a worker thread, so the kernel stays responsive; widget updates travel as comm
            # messages, which any thread may send.
            return sim.send_many(wh.id, preview.event_type, n, concurrency=concurrency, rate=rate,
                                 repeat_payload=repeat, preview=preview, progress=progress, cancel=cancel)

        def done(burst: BurstResult | None, error: BaseException | None) -> None:
            try:
                if error is not None or burst is None:
                    self.session.last_error = error
                    why = describe_error(error) if error is not None else "it gave no result"
                    self.result.value = panel(notice(f"Could not run the burst: {why}"))
                else:
                    self.last_burst = burst
                    self.result.value = render_burst(burst)
                self._show_count()
            finally:
                self._busy = False
                try:
                    self.on_done()
                    self.on_change()
                except Exception as exc:  # noqa: BLE001 - a worker thread has no one to raise to
                    self.session.last_error = exc

        self._busy = True
        self.job.start(work, tick=self._show_count, done=done)
        self._show_count()
        self.on_change()

    @guarded("cancel the burst")
    def _on_cancel_click(self, _button: w.Button | None = None) -> None:
        if self.running:
            self.job.cancel()
            self._show_count()


#: The burst form's ranges: send_many's own (simlib.core.burst: MAX_SENDS, MAX_CONCURRENCY,
#: MIN_RATE, MAX_RATE; a test keeps them equal), rate 0 meaning as fast as possible.
MAX_SENDS: Final = 100_000
MAX_CONCURRENCY: Final = 1000
MIN_RATE: Final = 0.001
MAX_RATE: Final = 1_000_000.0


def _limits(count: float, concurrency: float, rate: float) -> str:
    """What is wrong with the burst form's numbers, in one line, or ""."""
    if not 1 <= count <= MAX_SENDS:
        return f"Sends must be from 1 to {MAX_SENDS:,}, not {count:,}"
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        return f"Concurrency must be from 1 to {MAX_CONCURRENCY:,}, not {concurrency:,}"
    if not (rate == 0 or MIN_RATE <= rate <= MAX_RATE):  # NaN too
        return f"Rate /s must be 0 (as fast as possible) or from {MIN_RATE:g} to {MAX_RATE:,.0f}, not {rate:g}"
    return ""
