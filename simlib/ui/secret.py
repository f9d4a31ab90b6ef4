"""The selected webhook's secret: masked, revealed (and copied) only on an explicit click, rotated
with a grace period, and a send signed with the previous secret on purpose.

The secret reaches widget state, and so the page, only when **Reveal secret** is clicked, and it
is emptied again on the next action in the explorer (every guarded handler runs
``session.acted()`` first). The Copy button next to it copies with the browser's own JavaScript
from the page, so the secret never needs a second trip through the kernel.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime

import ipywidgets as w

from simlib import Secret, Webhook
from simlib.ui.base import Session, guarded, show
from simlib.ui.blocks import muted
from simlib.ui.theme import AMBER, GREEN, LABEL_STYLE, MUTED

__all__ = ["SecretPanel", "render_revealed", "render_secret_line"]

#: The browser copies the text of the <code> just before the button (Clipboard API; in a page
#: that is not a secure context, a selection and execCommand).
COPY_JS = (
    "var b=this,c=b.previousElementSibling,t=c.textContent;function ok(){b.textContent='Copied'}"
    "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t).then(ok)}"
    "else{var r=document.createRange();r.selectNodeContents(c);var s=window.getSelection();"
    "s.removeAllRanges();s.addRange(r);document.execCommand('copy');ok()}"
)


def _until(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_secret_line(wh: Webhook | None, now_ms: int) -> str:
    """``Secret ********abcd`` and the previous secret's state; never the secret itself."""
    if wh is None:
        return ""
    line = f"Secret <code>{html.escape(wh.secret.masked)}</code>"
    expires = wh.previous_secret_expires_ms
    if wh.previous_secret is not None and expires is not None:
        if expires > now_ms:
            line += f' · <span style="color:{AMBER}">previous secret still valid until {_until(expires)}</span>'
        else:
            line += " · " + muted("previous secret expired: a correct receiver rejects it")
    return f'<span style="color:{MUTED}">{line}</span>'


def _secret_html(label: str, secret: Secret) -> str:
    return (
        f"<div>{html.escape(label)} <code class=\"simlib-secret\" style=\"user-select:all\">"
        f"{html.escape(secret.reveal())}</code> "
        f'<button class="jupyter-button" title="Copy to the clipboard" onclick="{html.escape(COPY_JS)}">Copy</button></div>'
    )


def render_revealed(wh: Webhook, valid: list[Secret]) -> str:
    """The secret (and, during a grace period, the previous one) as selectable text, with Copy."""
    parts = [_secret_html("Secret of " + wh.name + ":", wh.secret)]
    if len(valid) > 1:
        parts.append(_secret_html("Previous secret (still valid):", valid[1]))
    note = "Shown until your next action in the explorer; configure your receiver with it."
    return f'<div style="margin:2px 0">{"".join(parts)}{muted(note)}</div>'


class SecretPanel:
    """The secret row under the webhook dropdown; ``follow(wh)`` shows the selected webhook.

    ``on_change(select)`` runs after a rotation (the webhook list reloads); ``send_previous()``
    sends the current preview signed with the previous secret (the explorer's Send).
    """

    def __init__(
        self, session: Session, *, on_change: Callable[[str | None], None], send_previous: Callable[[], None]
    ) -> None:
        self.session, self.on_change, self._send_previous = session, on_change, send_previous
        self.webhook: Webhook | None = None
        self.line = w.HTML(value="")
        self.reveal = w.Button(description="Reveal secret", icon="eye", layout=w.Layout(width="auto"))
        self.rotate = w.Button(description="Rotate secret", icon="key", layout=w.Layout(width="auto"))
        self.send_previous = w.Button(
            description="Send signed with previous secret", icon="history", layout=w.Layout(width="auto"),
            tooltip="Rehearse a rotation: a receiver that knows both secrets accepts it within the grace period",
        )
        self.revealed = w.HTML(value="")  # the secret, only between a Reveal click and the next action
        self.grace = w.BoundedFloatText(value=24.0, min=0.0, max=720.0, step=0.25, description="Grace (hours)",
                                        style=LABEL_STYLE, layout=w.Layout(width="240px"))
        self.rotate_confirm = w.Button(description="Rotate now", button_style="warning")
        self.rotate_cancel = w.Button(description="Keep the secret")
        self.rotate_box = w.HBox([self.grace, self.rotate_confirm, self.rotate_cancel])
        show(self.rotate_box, False)
        self.row = w.HBox([self.line, self.reveal, self.rotate, self.send_previous],
                          layout=w.Layout(align_items="center", flex_flow="row wrap"))
        self.parts = (self.row, self.revealed, self.rotate_box)
        session.on_action.append(self.hide)
        self.reveal.on_click(self._on_reveal_click)
        self.rotate.on_click(self._on_rotate_click)
        self.rotate_confirm.on_click(self._on_rotate_confirm_click)
        self.rotate_cancel.on_click(self._on_rotate_cancel_click)
        self.send_previous.on_click(self._on_send_previous_click)

    def follow(self, wh: Webhook | None) -> None:
        self.webhook = wh
        self.line.value = render_secret_line(wh, self.session.simulator.now_ms())
        self.reveal.disabled = self.rotate.disabled = wh is None
        self.send_previous.disabled = wh is None or wh.previous_secret is None
        show(self.row, wh is not None)
        if wh is None:
            show(self.rotate_box, False)

    def hide(self) -> None:
        """Take the revealed secret off the page again."""
        if self.revealed.value:
            self.revealed.value = ""

    # -- handlers ------------------------------------------------------------------------------

    @guarded("reveal the secret")
    def _on_reveal_click(self, _button: w.Button | None = None) -> None:
        if self.webhook is None:
            return
        sim = self.session.simulator
        wh = sim.get_webhook(self.webhook.id)  # as it is now (rotated elsewhere, perhaps)
        self.revealed.value = render_revealed(wh, sim.valid_secrets(wh))

    @guarded("rotate the secret")
    def _on_rotate_click(self, _button: w.Button | None = None) -> None:
        show(self.rotate_box, self.webhook is not None)

    @guarded("rotate the secret")
    def _on_rotate_confirm_click(self, _button: w.Button | None = None) -> None:
        show(self.rotate_box, False)
        if self.webhook is None:
            return
        hours = float(self.grace.value)
        wh = self.session.simulator.rotate_secret(self.webhook.id, grace_seconds=hours * 3600)
        expires = wh.previous_secret_expires_ms or 0
        self.session.say(
            f"Rotated the secret of {wh.name}: the previous one stays valid until {_until(expires)} "
            f"({hours:g} h). Reveal the new one to update your receiver.",
            GREEN,
        )
        self.on_change(wh.id)

    @guarded("cancel")
    def _on_rotate_cancel_click(self, _button: w.Button | None = None) -> None:
        show(self.rotate_box, False)

    @guarded("send signed with the previous secret")
    def _on_send_previous_click(self, _button: w.Button | None = None) -> None:
        self._send_previous()
