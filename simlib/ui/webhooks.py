"""The webhooks: the dropdown ("name — URL"), Edit / Delete / New webhook / Refresh, the warning
for URLs Trackpilots would reject, the delete confirmation, the empty state, the selected
webhook's secret (:mod:`simlib.ui.secret`), the local webhooks left behind by a kernel restart
(:class:`~simlib.ui.receiver.StaleNotice`), and the create / edit form (:mod:`simlib.ui.form`).

When the selected webhook disappears from the store (deleted by the CLI, another user or tab),
the dropdown shows no selection and says so: Send stays disabled until the user picks one."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from simlib import DEMO_WEBHOOK_ID, Webhook
from simlib.ui.base import Session, guarded, show
from simlib.ui.blocks import muted, panel, url_warning
from simlib.ui.changes import moved
from simlib.ui.form import WebhookForm
from simlib.ui.receiver import StaleNotice
from simlib.ui.secret import SecretPanel
from simlib.ui.theme import AMBER, GREEN, LABEL_STYLE

if TYPE_CHECKING:
    from simlib import Preview
    from simlib.ui.receiver import LocalReceiver

__all__ = ["WebhooksPanel"]

EMPTY_HTML = panel(
    "<b>No webhooks yet?</b> You need at least one reseller webhook before running "
    "simulations. Create one below, or click <b>Use local receiver</b> for a test "
    "endpoint on this machine."
)


class WebhooksPanel:
    """The webhooks in the store, one of them selected, and the ``form`` to create or edit one.

    ``on_select(webhook)`` runs after the selection (or the list) changed; ``local`` is the
    explorer's local receiver (the form's "Use local receiver", the stale local webhooks);
    ``send_previous()`` sends the preview signed with the previous secret.
    ``parts`` are the panel's rows, in the order the explorer shows them.
    """

    def __init__(
        self,
        session: Session,
        *,
        on_select: Callable[[Webhook | None], None],
        local: LocalReceiver,
        send_previous: Callable[[], None],
    ) -> None:
        self.session = session
        self.on_select = on_select
        self.webhooks: dict[str, Webhook] = {}  # what the dropdown lists, by id, in its order
        self.lost: str | None = None  # the selected webhook that vanished, until the user picks another
        self.form = WebhookForm(session, on_change=self.refresh, has_webhooks=lambda: bool(self.webhooks), local=local)
        self.secret = SecretPanel(session, on_change=self.refresh, send_previous=send_previous)
        self.stale = StaleNotice(session, local, on_change=self.refresh)
        self.empty = w.HTML(value=EMPTY_HTML)
        self.webhook = w.Dropdown(description="Webhook", options=[], style=LABEL_STYLE, layout=w.Layout(width="620px"))
        self.new_webhook = w.Button(description="New webhook", icon="plus", layout=w.Layout(width="auto"))
        self.edit = w.Button(description="Edit", icon="pencil", layout=w.Layout(width="auto"))
        self.delete = w.Button(description="Delete", icon="trash", layout=w.Layout(width="auto"))
        self.reload = w.Button(description="Refresh", icon="refresh", layout=w.Layout(width="auto"),
                               tooltip="Reload the webhooks from the store (changes by the CLI or another user)")
        self.url_check = w.HTML(value="")
        self.delete_question = w.HTML(value="")
        self.delete_confirm = w.Button(description="Confirm delete", button_style="danger")
        self.delete_cancel = w.Button(description="Keep it")
        self.confirm_box = w.HBox([self.delete_question, self.delete_confirm, self.delete_cancel])
        show(self.confirm_box, False)
        self.parts = (
            self.empty,
            w.HBox([self.webhook, self.edit, self.delete, self.new_webhook, self.reload],
                   layout=w.Layout(flex_flow="row wrap")),
            *self.secret.parts,
            self.url_check,
            self.stale.box,
            self.confirm_box,
            self.form.box,
        )
        self.webhook.observe(self._on_webhook_change, names="value")
        self.new_webhook.on_click(self._on_new_click)
        self.edit.on_click(self._on_edit_click)
        self.delete.on_click(self._on_delete_click)
        self.delete_confirm.on_click(self._on_confirm_click)
        self.delete_cancel.on_click(self._on_cancel_click)
        self.reload.on_click(self._on_reload_click)

    @property
    def selected(self) -> Webhook | None:
        value = self.webhook.value
        return self.webhooks.get(value) if isinstance(value, str) else None

    def moved(self, preview: Preview) -> bool:
        """Whether someone else moved the previewed webhook to another URL (then nothing may be
        sent: the list and the preview are reloaded, the user told to press again)."""
        return moved(self.session, preview, self.refresh, lambda text: self.session.say(text, AMBER))

    def refresh(self, select: str | None = None, *, moving_on: bool = False) -> None:
        """Reload the webhooks from the store, keeping the selection (or selecting ``select``)
        if it still exists. If it vanished, select none and say so (``moving_on``: the user
        deleted it here, so select the next). With no selection yet: the demo webhook, else the first."""
        webhooks = self.session.webhooks()
        before, current = self.webhooks, self.webhook.value
        self.webhooks = {wh.id: wh for wh in webhooks}
        keep = select if select in self.webhooks else current
        if keep not in self.webhooks:
            keep = DEMO_WEBHOOK_ID if DEMO_WEBHOOK_ID in self.webhooks else (webhooks[0].id if webhooks else None)
            if isinstance(current, str) and not moving_on and current in before:
                self.lost = before[current].name
            if self.lost is not None and webhooks and not moving_on:
                keep = None  # the user picks the next webhook: never a silent switch
        if select in self.webhooks or moving_on:
            self.lost = None
        if self.lost is not None:
            then = "pick a webhook to go on" if webhooks else "create one to go on"
            self.session.say(f"The webhook '{self.lost}' no longer exists (deleted by the CLI or another user?): {then}.", AMBER)
        with self.session.hold():
            self.webhook.options = [(wh.label, wh.id) for wh in webhooks]
            self.webhook.value = keep
        self.stale.check(webhooks)  # on a reload only: it looks at their ports
        self.apply()

    def apply(self) -> None:
        """Everything that follows the selection: empty state, buttons, URL warning, form, and
        then the caller's ``on_select``."""
        wh = self.selected
        show(self.empty, not self.webhooks)
        self.edit.disabled = self.delete.disabled = wh is None
        self.form.follow(bool(self.webhooks))
        self.url_check.value = url_warning(wh.url) if wh else ""
        self.secret.follow(wh)
        self.on_select(wh)

    def cancel_delete(self) -> None:
        self.delete_question.value = ""
        show(self.confirm_box, False)

    # -- handlers ------------------------------------------------------------------------------

    @guarded("change the webhook")
    def _on_webhook_change(self, change: dict[str, Any]) -> None:
        if self.session.quiet:
            return
        if change["new"] is not None:
            self.lost = None
        self.cancel_delete()
        self.apply()

    @guarded("open the form")
    def _on_new_click(self, _button: w.Button | None = None) -> None:
        self.cancel_delete()
        self.form.open("create")

    @guarded("edit the webhook")
    def _on_edit_click(self, _button: w.Button | None = None) -> None:
        self.cancel_delete()
        wh = self.selected
        if wh is not None:
            self.form.open("edit", self.session.simulator.get_webhook(wh.id))

    @guarded("delete the webhook")
    def _on_delete_click(self, _button: w.Button | None = None) -> None:
        wh = self.selected
        if wh is None:
            return
        self.delete_question.value = (
            f"Delete webhook <b>{html.escape(wh.name)}</b> ({html.escape(wh.id)})? "
            + muted("Its past attempts stay in the history.")
        )
        show(self.confirm_box, True)

    @guarded("delete the webhook")
    def _on_confirm_click(self, _button: w.Button | None = None) -> None:
        wh = self.selected
        self.cancel_delete()
        if wh is None:
            return
        self.session.simulator.delete_webhook(wh.id)
        self.form.forget(wh.id)
        self.session.say(f"Deleted webhook {wh.name} ({wh.id}).", GREEN)
        self.refresh(moving_on=True)

    @guarded("cancel")
    def _on_cancel_click(self, _button: w.Button | None = None) -> None:
        self.cancel_delete()

    @guarded("reload the webhooks")
    def _on_reload_click(self, _button: w.Button | None = None) -> None:
        known = dict(self.webhooks)
        self.refresh()
        new = [wh.name for wid, wh in self.webhooks.items() if wid not in known]
        changed = [wh.name for wid, wh in self.webhooks.items() if wid in known and known[wid] != wh]
        gone = [wh.name for wid, wh in known.items() if wid not in self.webhooks]
        parts = [f"{label}: {', '.join(names)}" for label, names in (("new", new), ("changed", changed), ("gone", gone)) if names]
        if self.lost is None:
            self.session.say(f"Reloaded {len(self.webhooks)} webhooks from the store"
                             + (f" ({'; '.join(parts)})." if parts else "; nothing changed."), GREEN)
