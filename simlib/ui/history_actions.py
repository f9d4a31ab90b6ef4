"""What can be done with the attempt open in the History tab: Replay it (re-signed now, with its
original timestamp and signature, or with the payload edited first) and see the diff of the two
answers; copy it as curl or httpx (the secret a placeholder unless revealed by a click); download
it as a JSON fixture that Import reads back. The replay runs on a worker thread, with its
elapsed time and Cancel (which ends its send within a second; the attempt is recorded). The
Replay area is the open row's: opening another clears it, and a replay's progress and result
show only while its own row is open."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from simlib.ui.base import Session, describe_error, guarded, show
from simlib.ui.blocks import muted, notice, panel
from simlib.ui.history_views import copy_block, download_link, render_diff
from simlib.ui.jobs import Job

#: What Simulator.replay returns (simlib.toolkit.replay.ReplayResult, which simlib does not export).
ReplayResult = Any

__all__ = ["REPLAY_MODES", "RowActions"]

REPLAY_MODES = [("Re-signed now", "resigned"), ("Original timestamp and signature", "original"),
                ("Edit the payload first", "edit")]


def _row() -> w.Layout:
    return w.Layout(flex_flow="row wrap", align_items="center", width="100%")


class RowActions:
    """Actions on the attempt ``history_id`` (set by :meth:`set_row`). ``on_recorded(new_id)``
    runs after a replay was recorded; ``open_row(id)`` opens another attempt."""

    def __init__(self, session: Session, *, on_recorded: Callable[[int | None], None],
                 open_row: Callable[[int], None]) -> None:
        self.session = session
        self.on_recorded = on_recorded
        self.open_row = open_row
        self.history_id: int | None = None
        self.last_replay: ReplayResult | None = None
        self.mode = w.ToggleButtons(options=REPLAY_MODES, value="resigned", style={"button_width": "auto"})
        self.overrides = w.Textarea(placeholder="one path=value per line, e.g. data.0.tracking.app.name=Slack",
                                    layout=w.Layout(width="100%", max_width="720px", height="70px"))
        self.replay = w.Button(description="Replay", button_style="primary", layout=w.Layout(width="auto"))
        self.open_new = w.Button(description="Open the new row", layout=w.Layout(width="auto", display="none"))
        self.cancel = w.Button(description="Cancel", icon="stop", disabled=True, layout=w.Layout(width="auto"))
        self.replay_result = w.HTML(value="")
        self.lang = w.ToggleButtons(options=[("curl", "curl"), ("httpx", "httpx")], value="curl",
                                    style={"button_width": "auto"})
        self.copy_code = w.Button(description="Copy as code", layout=w.Layout(width="auto"))
        self.reveal = w.Button(description="Reveal the secret in the code", button_style="warning",
                               tooltip="Writes the webhook's secret into the snippet, until your next action",
                               layout=w.Layout(width="auto"))
        self.code = w.HTML(value="")
        self.fixture = w.Button(description="Download as JSON fixture", layout=w.Layout(width="auto"))
        self.fixture_link = w.HTML(value="")
        self.job: Job[ReplayResult] = Job("simlib-replay")
        self.widget = w.VBox([
            w.HTML(value="<b>Replay</b>"),
            w.HBox([self.mode, self.replay, self.cancel, self.open_new], layout=_row()),
            self.overrides, self.replay_result,
            w.HTML(value="<b>Copy as code</b>"),
            w.HBox([self.lang, self.copy_code, self.reveal], layout=_row()), self.code,
            w.HBox([self.fixture, self.fixture_link], layout=_row()),
        ], layout=w.Layout(width="100%"))
        show(self.overrides, False)
        self.mode.observe(self._on_mode, names="value")
        self.replay.on_click(self._on_replay_click)
        self.open_new.on_click(self._on_open_new_click)
        self.cancel.on_click(self._on_cancel_click)
        self.copy_code.on_click(self._on_copy_code_click)
        self.reveal.on_click(self._on_reveal_click)
        self.fixture.on_click(self._on_fixture_click)
        session.on_action.append(self._hide_secret)
        self._revealed = False
        self._new_id: int | None = None  # the row the replay shown recorded ("Open the new row")
        self._replaying: int | None = None  # the row a running replay replays
        self._lock = threading.RLock()  # set_row (kernel) and a replay's tick/done (worker) take turns

    def set_row(self, history_id: int | None) -> None:
        """Act on ``history_id`` from now on (what was shown for another row goes: the code,
        the fixture link, the replay's diff, "Open the new row" and the edit-first text)."""
        with self._lock:
            if history_id != self.history_id:
                self.history_id, self._new_id, self._revealed = history_id, None, False
                self.code.value = self.fixture_link.value = self.overrides.value = ""
                show(self.open_new, False)
                if self.mode.value == "edit":  # the edits were for the other row's payload
                    self.mode.value = "resigned"
                self.replay_result.value = self._progress()
        self._follow()

    def _progress(self) -> str:
        """What the Replay area says while a replay runs: its elapsed time under its own row,
        elsewhere that it still runs (Replay is disabled, Cancel stops it); "" when none runs."""
        hid = self._replaying
        if hid is None or not self.job.running:
            return ""
        if hid != self.history_id:
            return muted(f"A replay of #{hid} is still running (Cancel stops it); "
                         f"its result shows only under #{hid}, if it is open when the replay ends.")
        word = "Cancelling" if self.job.cancelled else "Replaying"
        return panel(muted(f"{word} #{hid} … {self.job.elapsed:.1f} s"))

    def wait(self, timeout: float | None = None) -> bool:
        return self.job.wait(timeout)

    def _follow(self) -> None:
        none = self.history_id is None
        for button in (self.copy_code, self.reveal, self.fixture):
            button.disabled = none
        self.replay.disabled = none or self.job.running
        self.replay.description = "Replaying…" if self.job.running else "Replay"
        self.cancel.disabled = not self.job.running

    def _hide_secret(self) -> None:
        if self._revealed:
            self._revealed = False
            self.code.value = muted("The code with the secret was hidden again; press Copy as code for it without.")

    @guarded("change the replay mode")
    def _on_mode(self, _change: dict[str, Any]) -> None:
        show(self.overrides, self.mode.value == "edit")

    @guarded("replay the attempt")
    def _on_replay_click(self, _button: w.Button | None = None) -> None:
        hid = self.history_id
        if hid is None or self.job.running:
            return
        mode = self.mode.value
        lines = [line for line in self.overrides.value.splitlines() if line.strip()] if mode == "edit" else []
        if mode == "edit" and not lines:
            self.replay_result.value = notice("Type at least one path=value to edit the payload, or pick another mode.")
            return
        sim = self.session.simulator
        self.replay_result.value = panel(muted(f"Replaying #{hid} …"))
        self._new_id = None
        show(self.open_new, False)

        def work(cancel: threading.Event) -> ReplayResult:
            return sim.replay(hid, original_timestamp=mode == "original", overrides=lines or None, cancel=cancel)

        def tick() -> None:
            with self._lock:
                self.replay_result.value = self._progress()

        def done(rr: ReplayResult | None, error: BaseException | None) -> None:
            try:
                with self._lock:
                    self._replaying = None
                    if rr is not None:
                        self.last_replay = rr
                    if error is not None:
                        self.session.last_error = error
                    if self.history_id != hid:  # another row is open: #hid's result is not its
                        self.replay_result.value = ""
                    elif rr is None:
                        self.replay_result.value = notice(f"Could not replay #{hid}: {describe_error(error or ValueError('no result'))}")
                    else:
                        self._new_id = rr.result.history_id
                        where = f"recorded as #{rr.result.history_id}" if rr.result.history_id is not None else "not recorded"
                        title = f"Replay of #{hid} ({rr.mode}{', edited' if rr.edited else ''}): {rr.result.result}, {where}"
                        self.replay_result.value = render_diff(rr.diff, title)
                        show(self.open_new, self._new_id is not None)
                if rr is not None:
                    self.on_recorded(rr.result.history_id)
            finally:
                self._follow()

        self._replaying = hid
        self.job.start(work, tick=tick, done=done)
        self._follow()

    @guarded("cancel the replay")
    def _on_cancel_click(self, _button: w.Button | None = None) -> None:
        if self.job.running:
            self.job.cancel()

    @guarded("open the new row")
    def _on_open_new_click(self, _button: w.Button | None = None) -> None:
        if self._new_id is not None:
            self.open_row(self._new_id)

    def _show_code(self, reveal: bool) -> None:
        if self.history_id is None:
            return
        sim, hid = self.session.simulator, self.history_id
        code = sim.as_curl(hid, reveal_secret=reveal) if self.lang.value == "curl" else sim.as_httpx(hid, reveal_secret=reveal)
        note = ("The secret is written in: hidden again on your next action; do not paste this where others see it."
                if reveal else "The secret is a placeholder ($WEBHOOK_SECRET); Reveal writes it in, on purpose.")
        self.code.value = copy_block(code, max_height="320px") + muted(note)
        self._revealed = reveal

    @guarded("copy the attempt as code")
    def _on_copy_code_click(self, _button: w.Button | None = None) -> None:
        self._show_code(reveal=False)

    @guarded("reveal the secret in the code")
    def _on_reveal_click(self, _button: w.Button | None = None) -> None:
        self._show_code(reveal=True)

    @guarded("build the JSON fixture")
    def _on_fixture_click(self, _button: w.Button | None = None) -> None:
        if self.history_id is not None:
            data = self.session.simulator.history_fixture(self.history_id)
            link = download_link(data, f"simlib-attempt-{self.history_id}.json", "application/json")
            self.fixture_link.value = link + " " + muted(html.escape("Import reads it back (paste or upload it there)."))
