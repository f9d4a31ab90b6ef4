"""The Local receiver panel: start and stop the embedded receiver, choose how it answers (status,
delay, body), how it verifies (on or off, and the sloppy-receiver switches), and watch the live
feed of the requests it received with their verdicts, newest first.

Every setting applies to the running receiver at once (it reads them on each request). The feed
is refreshed by a watcher thread that only looks at the receiver's request count, so the kernel
is never blocked; widget updates travel as comm messages, which any thread may send (JupyterLab
and Voilà alike). The thread ends when the panel's widgets are closed (``Explorer.close()``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from simlib.ui.base import Session, guarded
from simlib.ui.blocks import muted, notice
from simlib.ui.feed import FEED_ROWS, render_feed, render_receiver_state
from simlib.ui.orgs import ManyOrganisations
from simlib.ui.receiver import LocalReceiver
from simlib.ui.theme import GREEN, LABEL_STYLE

__all__ = ["ReceiverPanel"]

UNITS = [("milliseconds (correct)", "ms"), ("seconds (bug: Stripe-style code)", "s")]


class ReceiverPanel:
    """The explorer's ``local`` receiver as a panel; ``widget`` is what the workbench shows.

    ``interval``: seconds between two looks at the receiver for new requests (the watcher).
    """

    def __init__(self, session: Session, local: LocalReceiver, *, interval: float = 0.5, rows: int = FEED_ROWS,
                 on_webhooks: Callable[[], None] | None = None) -> None:
        self.session, self.local, self.interval, self.rows = session, local, interval, rows
        self.on_webhooks = on_webhooks  # the store's webhooks changed here: the explorer reloads its lists
        self._lock = threading.Lock()
        self._seen: tuple[Any, ...] | None = None  # (receiver, running, count) last rendered
        self._synced: int | None = None  # id() of the receiver the inputs were read from
        self._closed = threading.Event()
        self._syncing = False  # the inputs are being set from the receiver (maybe on the watcher thread)
        self.state = w.HTML(value="")
        self.start = w.Button(description="Start", icon="play", button_style="success", layout=w.Layout(width="auto"))
        self.stop = w.Button(description="Stop", icon="stop", layout=w.Layout(width="auto"))
        self.clear = w.Button(description="Clear feed", icon="eraser", layout=w.Layout(width="auto"))
        narrow = w.Layout(width="240px")
        self.status = w.BoundedIntText(value=200, min=100, max=599, description="Answer status", style=LABEL_STYLE, layout=narrow)
        self.delay = w.BoundedIntText(value=0, min=0, max=120_000, description="Delay (ms)", style=LABEL_STYLE, layout=narrow)
        self.body = w.Textarea(
            description="Answer body", placeholder="empty: a small JSON acknowledgement", rows=2,
            style=LABEL_STYLE, layout=w.Layout(width="520px"),
        )
        self.verify = w.Checkbox(value=True, description="Verify signatures", indent=False)
        self.reject_invalid = w.Checkbox(value=True, description="Answer 401 when verification fails", indent=False)
        self.window = w.Checkbox(value=True, description="Check the timestamp window", indent=False)
        self.tolerance = w.BoundedIntText(value=300, min=0, max=7 * 86_400, description="Tolerance (s)", style=LABEL_STYLE, layout=narrow)
        self.unit = w.Dropdown(options=UNITS, value="ms", description="Timestamp in", style=LABEL_STYLE, layout=w.Layout(width="420px"))
        self.reject_future = w.Checkbox(value=True, description="Reject timestamps from the future", indent=False)
        self.replay = w.Checkbox(value=False, description="Refuse replays (409)", indent=False)
        # -- issue 14: the receivers real resellers run ------------------------------------------
        self.reserialize = w.Checkbox(value=False, indent=False,
                                      description="Verify JSON.stringify(JSON.parse(body)), not the raw bytes (bug)")
        self.flat = w.Checkbox(value=False, indent=False,
                               description="Read organisationId/userId at the top level: 400 without (bug)")
        self.by_org = w.Checkbox(value=False, indent=False,
                                 description="Choose the secret by the payload's organisation id (unknown: 401)")
        self.rate = w.BoundedIntText(value=0, min=0, max=100_000, description="Rate limit / 60 s", style=LABEL_STYLE,
                                     layout=narrow, tooltip="requests per client per minute; 0: no limit")
        self.retry_after = w.BoundedIntText(value=0, min=0, max=86_400, description="Retry-After (s)",
                                            style=LABEL_STYLE, layout=narrow, tooltip="sent with each 429; 0: none")
        self.message = w.HTML(value="")
        self.orgs = ManyOrganisations(self, narrow)  # issue 14's scenario, on a worker thread
        self.org_count, self.many_orgs, self.orgs_job = self.orgs.count, self.orgs.button, self.orgs.job
        self.feed = w.HTML(value="")
        self.settings = (self.status, self.delay, self.body, self.verify, self.reject_invalid, self.window,
                         self.tolerance, self.unit, self.reject_future, self.replay, self.reserialize, self.flat,
                         self.by_org, self.rate, self.retry_after)
        self.widget = w.VBox([
            w.HTML(value=muted("The embedded receiver on 127.0.0.1: a correct reseller endpoint, or a sloppy one "
                               "(untick a switch to reproduce a common receiver bug). Changes apply to the next request.")),
            self.state, w.HBox([self.start, self.stop, self.clear]), self.message,
            w.HBox([self.status, self.delay]), self.body,
            w.HBox([self.verify, self.reject_invalid, self.replay]),
            w.HBox([self.window, self.tolerance, self.reject_future]), self.unit,
            w.HBox([self.reserialize, self.flat]), w.HBox([self.rate, self.retry_after]),
            w.HBox([self.by_org, self.org_count, self.many_orgs]),
            self.feed,
        ])
        self.widget.add_class("simlib-receiver-panel")
        self.start.on_click(self._on_start_click)
        self.stop.on_click(self._on_stop_click)
        self.clear.on_click(self._on_clear_click)
        for widget in self.settings:
            widget.observe(self._on_setting_change, names="value")
        self.refresh(force=True)
        self._thread = threading.Thread(target=self._watch, name="simlib-explorer-feed", daemon=True)
        self._thread.start()

    # -- what the panel shows ------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Redraw the state and the feed if the receiver changed or got requests since last time."""
        with self._lock:
            rx = self.local.receiver
            key = (id(rx), rx.running, rx.count) if rx is not None else None
            if key == self._seen and not force:
                return
            self._seen = key
            if rx is not None and id(rx) != self._synced:
                self._sync_inputs()
            aimed = self.local.aimed(self.session.webhooks()) if self.local.running else []
            self.state.value = render_receiver_state(rx, aimed)
            self.start.disabled = self.local.running
            self.stop.disabled = not self.local.running
            self.feed.value = render_feed(rx.requests if rx is not None else [], rx.count if rx else 0, self.rows)

    def close(self) -> None:
        self._closed.set()

    def _watch(self) -> None:
        while not self._closed.wait(self.interval):
            if self.feed.comm is None:  # the widgets were closed: the panel is gone
                return
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 - a watcher thread has no one to raise to
                self.session.last_error = exc

    def _sync_inputs(self) -> None:
        """Show the receiver's own settings (one given to the explorer, or a new one)."""
        rx = self.local.receiver
        assert rx is not None
        self._synced = id(rx)
        self._syncing = True  # not session.hold(): that would pause the composer on the main thread
        try:
            self.status.value = rx.status if isinstance(rx.status, int) and 100 <= rx.status <= 599 else 200
            self.delay.value = int(rx.delay_ms)
            self.body.value = rx.body.decode("utf-8", "replace") if rx.body is not None else ""
            self.verify.value, self.reject_invalid.value = rx.verify_signatures, rx.reject_invalid
            self.window.value = rx.tolerance_ms is not None
            if rx.tolerance_ms is not None:
                self.tolerance.value = rx.tolerance_ms // 1000
            self.unit.value, self.reject_future.value = rx.timestamp_unit, rx.reject_future
            self.replay.value = rx.replay_protection
            self.reserialize.value, self.flat.value = rx.reserialize, rx.flat_payload
            self.by_org.value = rx.org_secrets is not None
            self.rate.value = int(rx.rate_limit[0] * 60 / rx.rate_limit[1]) if rx.rate_limit else 0
            self.retry_after.value = rx.retry_after or 0
        finally:
            self._syncing = False
        self._follow_window()

    def _follow_window(self) -> None:
        self.tolerance.disabled = self.reject_future.disabled = not self.window.value

    def apply(self) -> None:
        """Give the receiver the panel's settings (it reads them on each request)."""
        rx = self.local.receiver
        if rx is None:
            return
        body = self.body.value
        rx.status, rx.delay_ms = int(self.status.value), int(self.delay.value)
        rx.body = body.encode("utf-8") if body.strip() else None
        rx.verify_signatures, rx.reject_invalid = bool(self.verify.value), bool(self.reject_invalid.value)
        rx.tolerance_ms = int(self.tolerance.value) * 1000 if self.window.value else None
        rx.timestamp_unit, rx.reject_future = str(self.unit.value), bool(self.reject_future.value)
        rx.replay_protection = bool(self.replay.value)
        rx.reserialize, rx.flat_payload = bool(self.reserialize.value), bool(self.flat.value)
        rx.org_secrets = self.session.simulator.organisation_secrets(url=rx.url) if self.by_org.value else None
        rx.rate_limit = (int(self.rate.value), 60.0) if self.rate.value else None
        rx.retry_after = int(self.retry_after.value) or None

    # -- handlers ------------------------------------------------------------------------------

    @guarded("start the local receiver")
    def _on_start_click(self, _button: w.Button | None = None) -> None:
        rx = self.local.ensure()
        if id(rx) == self._synced:
            self.apply()  # restarted: keep the panel's settings
        self.message.value = notice(f"Listening at {rx.url}.", GREEN)
        self.refresh(force=True)

    @guarded("stop the local receiver")
    def _on_stop_click(self, _button: w.Button | None = None) -> None:
        if self.local.receiver is not None:
            self.local.receiver.stop()
        self.message.value = muted("Stopped: sends to it now fail with “Network error” until you start it again.")
        self.refresh(force=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a "Many organisations" run to finish (scripts and tests); True when it has."""
        return self.orgs.job.wait(timeout)

    @guarded("clear the feed")
    def _on_clear_click(self, _button: w.Button | None = None) -> None:
        if self.local.receiver is not None:
            self.local.receiver.clear()
        self.refresh(force=True)

    def _on_setting_change(self, change: dict[str, Any]) -> None:
        if not self._syncing:  # a user's change, not the panel showing a receiver's settings
            self._apply_setting()

    @guarded("change the receiver")
    def _apply_setting(self) -> None:
        self._follow_window()
        self.apply()
