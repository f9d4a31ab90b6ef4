"""The webhook picker of the workbench tools: a dropdown of the webhooks ("name — URL") with a
Reload button, following the explorer's own webhook selection."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as w

from simlib.ui.base import Session, guarded
from simlib.ui.theme import LABEL_STYLE

__all__ = ["WebhookPicker"]


class WebhookPicker:
    """``value`` is the picked webhook's id (or one of the ``extra`` values listed first, such
    as "paste a secret"); None when there is nothing to pick. ``follow`` is the explorer's
    webhook dropdown: picking a webhook there picks it here too."""

    def __init__(
        self,
        session: Session,
        *,
        follow: w.Dropdown | None = None,
        extra: Sequence[tuple[str, str]] = (),
        description: str = "Webhook",
    ) -> None:
        self.session = session
        self.follow = follow
        self.extra = list(extra)
        self.dropdown = w.Dropdown(
            description=description, options=[], style=LABEL_STYLE,
            layout=w.Layout(flex="0 1 620px", min_width="260px", width="auto"),
        )
        self.reload = w.Button(
            description="↻ Reload", tooltip="Reload the webhooks (changes made elsewhere, e.g. by the CLI)",
            layout=w.Layout(width="auto"),
        )
        self.widget = w.HBox([self.dropdown, self.reload], layout=w.Layout(flex_flow="row wrap", width="100%"))
        self.reload.on_click(self._on_reload_click)
        if follow is not None:
            follow.observe(self._on_follow, names="value")
        self.refresh()

    @property
    def value(self) -> str | None:
        value = self.dropdown.value
        return value if isinstance(value, str) else None

    @property
    def is_webhook(self) -> bool:
        """True when a webhook (not one of the ``extra`` choices) is picked."""
        return self.value is not None and self.value not in {v for _, v in self.extra}

    def refresh(self) -> None:
        """Reload the webhooks from the store, keeping the pick when it still exists."""
        keep = self.dropdown.value
        webhooks = self.session.webhooks()
        options = [*self.extra, *((f"{wh.name} — {wh.url}", wh.id) for wh in webhooks)]
        values = [v for _, v in options]
        followed = self.follow.value if self.follow is not None else None
        self.dropdown.options = options
        for candidate in (keep, followed):
            if candidate in values:
                self.dropdown.value = candidate
                return
        self.dropdown.value = values[0] if values else None

    @guarded("reload the webhooks")
    def _on_reload_click(self, _button: w.Button | None = None) -> None:
        self.refresh()

    @guarded("follow the selected webhook")
    def _on_follow(self, change: dict[str, object]) -> None:
        new = change.get("new")
        if not isinstance(new, str) or not new:
            return
        if new not in {v for _, v in self.dropdown.options}:
            self.refresh()
        if new in {v for _, v in self.dropdown.options}:
            self.dropdown.value = new
