"""The explorer's public attributes: every panel's widgets under one flat name, and the state
scripts, tests and notebooks read (``explorer.send.click()``, ``explorer.last_result`` ...).

The widgets belong to the panels (``explorer.form_name`` *is* ``explorer.form_panel.name``);
these names are the explorer's stable surface, whichever panel a widget lives in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simlib import Simulator, Webhook
from simlib.ui.base import Session
from simlib.ui.burst import BurstPanel
from simlib.ui.composer import Composer
from simlib.ui.form import WebhookForm
from simlib.ui.history import HistoryPanel
from simlib.ui.receiver import LocalReceiver
from simlib.ui.result import ResultPanel
from simlib.ui.sending import SendRunner
from simlib.ui.webhooks import WebhooksPanel

if TYPE_CHECKING:
    import pandas as pd

    from simlib import BurstResult, Preview, Receiver, SimulationResult

__all__ = ["ExplorerAttributes"]


class ExplorerAttributes:
    """What an :class:`~simlib.ui.Explorer` exposes over its panels.

    ==================  ============================================================
    attribute           what it is
    ==================  ============================================================
    webhook, event      Dropdowns ("name — URL"; the webhook's subscribed events)
    work_mode, seed     the activity event's ``workMode`` (Checkbox), the seed (IntText)
    options             every event option's widget by name (``option_rows``: shown/hidden)
    overrides           Textarea, one ``path=value`` per line
    preview             HTML: the payload exactly as it will be sent, highlighted
    send                the Send Test Event button (it sends on a worker thread: ``wait()``)
    send_cancel         Cancel for the send in flight; ``send_status`` its elapsed time
    result              HTML: the simulation result panel
    history_table       HTML: the newest attempts (``history`` is the full DataFrame)
    burst_*             the Burst panel: count, concurrency, rate, repeat, ``burst_run``,
                        ``burst_progress`` (``burst_count_text``: "312 / 1000"), ``burst_cancel``,
                        ``burst_result``; ``last_burst``, ``wait_for_burst()``
    form_*              the create/edit webhook form; ``use_local`` starts a receiver
    edit, delete        edit / delete the selected webhook (``delete_confirm`` confirms)
    notice              HTML: what the last action did, or why it could not
    ==================  ============================================================
    """

    simulator: Simulator
    session: Session
    local: LocalReceiver
    webhooks_panel: WebhooksPanel
    form_panel: WebhookForm
    composer: Composer
    result_panel: ResultPanel
    history_panel: HistoryPanel
    burst_panel: BurstPanel
    sending: SendRunner

    def _expose_widgets(self) -> None:
        """Give every panel's widgets their flat names (the panels exist by now)."""
        p = self.webhooks_panel
        self.notice: Any = self.session.notice
        self.empty, self.webhook, self.url_check, self.confirm_box = p.empty, p.webhook, p.url_check, p.confirm_box
        self.new_webhook, self.edit, self.delete = p.new_webhook, p.edit, p.delete
        self.delete_question, self.delete_confirm, self.delete_cancel = p.delete_question, p.delete_confirm, p.delete_cancel
        f = self.form_panel
        self.form_box, self.form_title, self.form_name, self.form_url = f.box, f.title, f.name, f.url
        self.use_local, self.form_url_check, self.form_events, self.form_secret = f.use_local, f.url_check, f.events, f.secret
        self.form_submit, self.form_cancel, self.form_message = f.submit, f.cancel, f.message
        c = self.composer
        self.event, self.options, self.option_rows, self.work_mode = c.event, c.options, c.option_rows, c.work_mode
        self.seed, self.new_seed, self.overrides, self.send, self.preview = c.seed, c.new_seed, c.overrides, c.send, c.preview
        self.result, self.history_table = self.result_panel.html, self.history_panel.table
        self.send_cancel, self.send_status = self.sending.cancel, self.sending.status
        b = self.burst_panel
        self.burst_count, self.burst_concurrency, self.burst_rate, self.burst_repeat = b.count, b.concurrency, b.rate, b.repeat
        self.burst_run, self.burst_progress, self.burst_result = b.run, b.progress, b.result
        self.burst_cancel, self.burst_count_text = b.cancel, b.count_text

    @property
    def history(self) -> pd.DataFrame:
        """Every attempt, oldest first: the same DataFrame as ``simulator.history()``."""
        return self.simulator.history()

    @property
    def receiver(self) -> Receiver | None:
        """The local receiver the explorer sends to (given, or started by it), or None."""
        return self.local.receiver

    @property
    def webhooks(self) -> list[Webhook]:
        """The webhooks the dropdown lists, in its order."""
        return list(self.webhooks_panel.webhooks.values())

    @property
    def current_preview(self) -> Preview | None:
        """What Send will POST, or None while the inputs cannot build a payload."""
        return self.composer.current_preview

    @property
    def last_error(self) -> BaseException | None:
        """The error the last action ran into (shown in the explorer), or None."""
        return self.session.last_error

    @last_error.setter
    def last_error(self, value: BaseException | None) -> None:
        self.session.last_error = value

    @property
    def history_rows(self) -> int:
        """How many of the newest attempts the history table shows."""
        return self.history_panel.rows

    @history_rows.setter
    def history_rows(self, rows: int) -> None:
        self.history_panel.rows = rows

    @property
    def last_result(self) -> SimulationResult | None:
        """The last send's result. While a send is in flight (it runs on a worker thread) this
        waits for it, at most the delivery deadline and a margin: a script's
        ``explorer.send.click()`` then ``explorer.last_result`` reads the result of that click."""
        self.wait()
        return self.sending.last_result

    @last_result.setter
    def last_result(self, value: SimulationResult | None) -> None:
        self.sending.last_result = value

    @property
    def send_running(self) -> bool:
        """Whether a Send is in flight (``send_cancel`` is enabled meanwhile)."""
        return self.sending.running

    def wait(self, timeout: float | None = None) -> SimulationResult | None:
        """Wait for the Send in flight, if any (by default at most the delivery deadline and
        5 s); returns the last result."""
        self.sending.wait(self.simulator.delivery.deadline + 5.0 if timeout is None else timeout)
        return self.sending.last_result

    @property
    def last_burst(self) -> BurstResult | None:
        """The last burst's result (None until one ran)."""
        return self.burst_panel.last_burst

    @property
    def burst_running(self) -> bool:
        return self.burst_panel.running

    def __repr__(self) -> str:
        selected = self.webhook.value or "none"
        return f"Explorer(webhooks={len(self.webhooks)}, selected={selected!r}, event={self.event.value!r})"

    def wait_for_burst(self, timeout: float | None = None) -> BurstResult | None:
        """Wait for a burst started with the Run burst button; returns it (None if none ran)."""
        return self.burst_panel.wait(timeout)
