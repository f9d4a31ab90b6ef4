"""The Explain tab: paste a request's raw headers and raw body (or load a history row), pick a
webhook or paste a secret, and read the verdict: the most likely cause of a mismatch, the signed
string, the expected and the received signature.

A pasted secret never stays in a widget: it is taken out of the password box as soon as it
arrives (the box empties and says a secret is kept), held by the panel only, and never rendered.

Several pages on one server (the History tab's "This page's sends only" scope, on by default in a
Voila app): "Load row" loads only this page's own attempts, and the secrets tried are only those
of the webhooks this page lists. In a notebook (no page scope) every row loads.
"""

from __future__ import annotations

import ipywidgets as w

from simlib import Explanation, parse_headers
from simlib.ui.base import Session, describe_error, guarded, show
from simlib.ui.blocks import muted, notice, panel
from simlib.ui.picker import WebhookPicker
from simlib.ui.theme import LABEL_STYLE
from simlib.ui.views import intro, render_explanation

__all__ = ["ExplainPanel"]

ANY, PASTED = " any", " pasted"  # picker choices besides the webhooks (ids never start with a space)
INTRO = (
    "A customer says the signature does not verify? Paste the request as their receiver logged it: the headers "
    "(one 'Name: value' a line, or JSON) and the raw body, exactly as received. Or load an attempt from the history."
)
SECRET_EMPTY = "paste the secret the receiver verifies with"
SECRET_KEPT = "a pasted secret is kept for this page (not shown); paste another to replace it"
NOTHING_PASTED = "Paste the headers and the raw body (or load a row) first."


class ExplainPanel:
    """``explain`` checks ``headers`` + ``body`` with the picked webhook's secrets, every
    configured webhook's, or a pasted ``secret``; ``last_explanation`` is the last verdict."""

    def __init__(self, session: Session, *, follow: w.Dropdown | None = None) -> None:
        self.session = session
        self.scope_box: w.Checkbox | None = None  # the History tab's "This page's sends only"
        self._secret: str | None = None
        self.last_explanation: Explanation | None = None
        self.history_id = w.Text(description="History row", placeholder="id, e.g. 42", style=LABEL_STYLE,
                                 layout=w.Layout(width="240px"))
        self.load = w.Button(description="Load row", layout=w.Layout(width="auto"))
        self.headers = w.Textarea(description="Headers", placeholder="x-webhook-signature: …\nx-webhook-timestamp: …",
                                  rows=5, style=LABEL_STYLE, layout=w.Layout(width="100%"))
        self.body = w.Textarea(description="Raw body", placeholder='{"event":"…","timestamp":…}', rows=6,
                               style=LABEL_STYLE, layout=w.Layout(width="100%"))
        self.picker = WebhookPicker(session, follow=follow, description="Check with",
                                    extra=[("every configured webhook", ANY), ("a secret I paste…", PASTED)])
        self.secret = w.Password(description="Secret", placeholder=SECRET_EMPTY, continuous_update=False,
                                 style=LABEL_STYLE, layout=w.Layout(width="auto", flex="0 1 620px"))
        self.explain = w.Button(description="Explain", button_style="primary", layout=w.Layout(width="auto"))
        self.result = w.HTML(value=panel(muted("Nothing explained yet.")))
        self.widget = w.VBox(
            [
                w.HTML(value=intro(INTRO)),
                w.HBox([self.history_id, self.load], layout=w.Layout(flex_flow="row wrap", align_items="center")),
                self.headers,
                self.body,
                self.picker.widget,
                self.secret,
                w.HBox([self.explain]),
                self.result,
            ],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("simlib-explain")
        self.secret.observe(self._on_secret, names="value")
        self.picker.dropdown.observe(self._on_pick, names="value")
        self.load.on_click(self._on_load_click)
        self.explain.on_click(self._on_explain_click)
        self._on_pick()

    def refresh(self) -> None:
        self.picker.refresh()

    @property
    def has_secret(self) -> bool:
        return bool(self._secret)

    def page_scope(self) -> frozenset[int] | None:
        """The history ids this page may load: its own attempts while the History tab's "This
        page's sends only" box (:attr:`scope_box`, once the explorer links it) is ticked -- or,
        without that box, while the page is one among several -- None (every row) otherwise."""
        mine = self.scope_box.value if self.scope_box is not None else self.session.page_sends_only
        return self.session.own_ids if mine else None

    # -- handlers ------------------------------------------------------------------------------

    @guarded("keep the secret")
    def _on_secret(self, change: dict[str, object]) -> None:
        value = change.get("new")
        if isinstance(value, str) and value:
            self._secret = value
            self.secret.value = ""  # out of the widget state at once: never saved, never sent back
            self.secret.placeholder = SECRET_KEPT

    @guarded("pick what to check with")
    def _on_pick(self, _change: object = None) -> None:
        show(self.secret, self.picker.value == PASTED)

    @guarded("load the history row")
    def _on_load_click(self, _button: w.Button | None = None) -> None:
        text = self.history_id.value.strip().lstrip("#")
        if not text.isdigit():
            self.result.value = panel(notice("A history row id is a whole number, such as 42."))
            return
        scope = self.page_scope()
        if scope is not None and int(text) not in scope:  # another page's (or no) attempt: nothing loaded
            self.result.value = panel(notice(f"Attempt #{int(text)} is not one of this page's attempts."))
            return
        try:
            row = self.session.simulator.history_row(int(text))
        except Exception as exc:  # noqa: BLE001 - one readable line in the panel
            self.result.value = panel(notice(f"Could not load history row {text}: {describe_error(exc)}"))
            return
        headers = row.get("request_headers") or {}
        self.headers.value = "\n".join(f"{k}: {v}" for k, v in headers.items())
        self.body.value = bytes(row.get("request_body") or b"").decode("utf-8", "replace")
        if row.get("webhook_id") in {v for _, v in self.picker.dropdown.options}:
            self.picker.dropdown.value = row["webhook_id"]
        self.result.value = panel(muted(f"Loaded history row {text}: the headers and the exact body it sent. "
                                        "Press Explain (edit either first to see what a change does)."))

    @guarded("explain the signature")
    def _on_explain_click(self, _button: w.Button | None = None) -> None:
        sim, pick = self.session.simulator, self.picker.value
        among = self.session.webhooks()  # the secrets tried: this page's webhooks, never another page's
        if not self.headers.value.strip() and not self.body.value.strip():
            self.last_explanation = None
            self.result.value = panel(notice(NOTHING_PASTED))
            return
        try:
            headers = parse_headers(self.headers.value) if self.headers.value.strip() else []
            body = self.body.value.encode("utf-8")
            if pick == PASTED:
                if not self._secret:
                    self.result.value = panel(notice("Paste the secret first (or check with a webhook)."))
                    return
                ex, label = sim.explain_signature(headers, body, secret=self._secret, among=among), "the secret you pasted"
            elif pick is None or pick == ANY:
                ex, label = sim.explain_signature(headers, body, among=among), "every configured webhook's secrets"
            else:
                ex, label = sim.explain_signature(headers, body, webhook=pick, among=among), f"webhook {pick}'s secrets"
        except Exception as exc:  # noqa: BLE001 - one readable line in the panel
            self.session.last_error = exc
            self.result.value = panel(notice(f"Could not explain the signature: {describe_error(exc)}"))
            return
        self.last_explanation = ex
        self.result.value = render_explanation(ex, checked_with=label)
