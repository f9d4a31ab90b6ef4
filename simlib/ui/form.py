"""The create / edit webhook form, and the one-click local receiver.

The secret field is emptied as soon as the form is saved or closed: widget state syncs to the
page, and a secret must not stay there.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as w

from simlib import ConflictError, NotFoundError, SimlibError, ValidationError, Webhook, event_types
from simlib.ui.base import Session, describe_error, guarded, show
from simlib.ui.blocks import muted, notice, url_warning
from simlib.ui.changes import lost_edit
from simlib.ui.theme import AMBER, BORDER, GREEN, LABEL_STYLE, LABEL_WIDTH

if TYPE_CHECKING:
    from simlib.ui.receiver import LocalReceiver

__all__ = ["FormMode", "WebhookForm"]

FormMode = Literal["create", "edit"]


class WebhookForm:
    """Create a webhook, or edit one (``mode``; ``editing`` is its id).

    ``on_change(select)`` runs when the store's webhooks changed (``select``: the id to
    select, or None); ``has_webhooks()`` says whether any exists (then the form may close);
    ``local`` is the explorer's local receiver ("Use local receiver" starts it if needed and
    fills in its URL; it creates no webhook: **Create webhook** does).
    """

    def __init__(
        self,
        session: Session,
        *,
        on_change: Callable[[str | None], None],
        has_webhooks: Callable[[], bool],
        local: LocalReceiver,
    ) -> None:
        self.session = session
        self.on_change, self.has_webhooks, self.local = on_change, has_webhooks, local
        self.url_error = False  # the message is about the URL (then the amber warning steps aside)
        self.duplicate_ok: str | None = None  # a URL another webhook has, confirmed by a second click
        self.mode: FormMode | None = None  # None: closed
        self.editing: str | None = None
        self.opened: Webhook | None = None  # the webhook as it was when Edit opened (its version)
        self.title = w.HTML(value="")
        self.name = w.Text(description="Name", placeholder="e.g. Staging receiver", style=LABEL_STYLE)
        self.url = w.Text(
            description="URL", placeholder="https://example.com/webhooks/trackpilots", style=LABEL_STYLE,
            layout=w.Layout(width="520px"),
        )
        self.use_local = w.Button(description="Use local receiver", icon="plug", layout=w.Layout(width="auto"))
        self.url_check = w.HTML(value="")
        self.events = {
            et.name: w.Checkbox(value=True, description=et.name, indent=False, layout=w.Layout(width="auto"))
            for et in event_types()
        }
        self.secret = w.Password(
            description="Secret", placeholder="optional: leave empty to generate one", style=LABEL_STYLE,
            layout=w.Layout(width="520px"),
        )
        self.organisation = w.Text(  # issue 14: one URL, many organisations
            description="Organisation id", placeholder="optional: the organisation.organisationId its payloads carry",
            style=LABEL_STYLE, layout=w.Layout(width="520px"),
        )
        self.submit = w.Button(description="Create webhook", button_style="success")
        self.cancel = w.Button(description="Cancel")
        self.message = w.HTML(value="")
        self.box = w.VBox(
            [
                self.title,
                self.name,
                w.HBox([self.url, self.use_local]),
                self.url_check,
                w.HBox([w.Label("Events", layout=w.Layout(width=LABEL_WIDTH)), w.VBox(list(self.events.values()))]),
                self.secret,
                self.organisation,
                w.HBox([self.submit, self.cancel]),
                self.message,
            ],
            layout=w.Layout(border=f"1px solid {BORDER}", padding="6px", margin="4px 0"),
        )
        self.url.observe(self._on_url_change, names="value")
        self.submit.on_click(self._on_submit_click)
        self.cancel.on_click(self._on_cancel_click)
        self.use_local.on_click(self._on_use_local_click)

    def open(self, mode: FormMode, wh: Webhook | None = None) -> None:
        """Show the form empty (``create``) or filled with ``wh`` (``edit``)."""
        self.mode = mode
        self.editing = wh.id if wh else None
        self.opened = wh if mode == "edit" else None
        with self.session.hold():
            self.name.value = wh.name if wh else ""
            self.url.value = wh.url if wh else ""
            self.secret.value = ""
            self.organisation.value = (wh.organisation_id or "") if wh else ""
            for name, box in self.events.items():
                box.value = (name in wh.events) if wh else True
        if mode == "edit" and wh is not None:
            self.title.value = f"<b>Edit webhook</b> {html.escape(wh.name)} " + muted(f"({wh.id})")
            self.submit.description = "Save changes"
            self.secret.placeholder = "leave empty to keep the current secret"
        else:
            self.title.value = "<b>Create a reseller webhook</b>"
            self.submit.description = "Create webhook"
            self.secret.placeholder = "optional: leave empty to generate one"
        self.message.value, self.url_error, self.duplicate_ok = "", False, None
        self.url_check.value = url_warning(self.url.value) if self.url.value else ""
        show(self.box, True)

    def close(self) -> None:
        self.mode = None
        self.editing = self.opened = None
        self.message.value = ""
        self.secret.value = ""  # never leave a secret in widget state (it syncs to the page)
        show(self.box, False)
        if not self.has_webhooks():  # the empty state always offers the form
            self.open("create")

    def follow(self, has_webhooks: bool) -> None:
        """Open, shown or hidden as the webhook list requires: with none, the form is the way in."""
        if self.mode is None and not has_webhooks:
            self.open("create")
        show(self.box, self.mode is not None)
        show(self.cancel, has_webhooks)

    def forget(self, webhook_id: str) -> None:
        """The webhook is gone: stop editing it."""
        if self.editing == webhook_id:
            self.mode = self.editing = self.opened = None

    # -- handlers ------------------------------------------------------------------------------

    @guarded("check the URL")
    def _on_url_change(self, change: dict[str, Any]) -> None:
        if self.url_error:  # the red line was about the URL as it was: it no longer applies
            self.message.value, self.url_error = "", False
        self.url_check.value = url_warning(self.url.value) if self.url.value.strip() else ""

    @guarded("save the webhook")
    def _on_submit_click(self, _button: w.Button | None = None) -> None:
        events = [name for name, box in self.events.items() if box.value]
        secret = self.secret.value or None
        simulator = self.session.simulator
        if self.mode != "edit" and self._duplicate(self.url.value.strip()):
            return
        try:
            if self.mode == "edit" and self.editing is not None:
                # Only over the version this form opened on: someone else's save in between is
                # not undone (another page, a notebook, the CLI), it is refused here.
                wh = simulator.update_webhook(
                    self.editing, name=self.name.value, url=self.url.value, events=events, secret=secret,
                    organisation_id=self.organisation.value.strip(),
                    expected_updated_ms=self.opened.updated_ms if self.opened is not None else None,
                )
                done = f"Saved webhook {wh.name}."
            else:
                wh = simulator.create_webhook(self.name.value, self.url.value, events, secret=secret,
                                              organisation_id=self.organisation.value.strip() or None)
                done = f"Created webhook {wh.name} ({wh.id})."
        except (ConflictError, NotFoundError) as exc:  # changed or deleted by someone else meanwhile
            self.session.last_error = exc
            self.message.value = notice(lost_edit(self.session, self.opened, self.editing, exc))
            return
        except SimlibError as exc:  # bad input: say what to fix, next to the form
            self.session.last_error = exc
            self.url_error = isinstance(exc, ValidationError) and exc.field == "url"
            if self.url_error:  # one line, the red one: no "fine for local testing" beside it
                self.url_check.value = ""
            self.message.value = notice(describe_error(exc))
            return
        self.session.last_error = None
        self.mode = self.editing = None
        self.message.value = ""
        self.secret.value = ""  # never leave a secret in widget state (it syncs to the page)
        self.session.say(done, GREEN)
        self.on_change(wh.id)

    @guarded("close the form")
    def _on_cancel_click(self, _button: w.Button | None = None) -> None:
        self.close()

    def _duplicate(self, url: str) -> bool:
        """Whether another webhook already has ``url`` and the user has not confirmed yet."""
        same = [wh.name for wh in self.session.webhooks() if wh.url == url]
        if not same or self.duplicate_ok == url:
            return False
        self.duplicate_ok = url
        self.message.value = notice(
            f"The webhook '{same[0]}' already uses this URL. Press {self.submit.description} again "
            "to add another webhook for it anyway.",
            AMBER,
        )
        return True

    @guarded("start the local receiver")
    def _on_use_local_click(self, _button: w.Button | None = None) -> None:
        mode = self.mode or "create"
        url = self.local.webhook_url()  # starts (or restarts) the receiver; creates no webhook
        self.mode = mode
        self.url.value = url
        if not self.name.value.strip():
            self.name.value = "Local receiver"
        base = url.split("/webhooks/", 1)[0]
        aimed = [wh.name for wh in self.local.aimed(self.session.webhooks())]
        text = f"Local receiver listening at {base}; it verifies the signatures of every webhook aimed at it."
        if aimed:
            text += " Already aimed at it: " + ", ".join(f"'{name}'" for name in aimed) + "."
        self.message.value = notice(text, GREEN)
        self.on_change(None)

