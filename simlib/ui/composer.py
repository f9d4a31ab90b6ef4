"""The composer: event type, its options, seed and overrides on the left; on the right the
preview, exactly the bytes Send will POST. The Send button sits under the inputs.

The preview is rebuilt on every change (the contract "preview = what is sent"); a bad override
or seed is shown in its place, naming the line, and Send stays disabled until it is fixed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from simlib import EventOption, OverrideError, Preview, Webhook, event_types, parse_override
from simlib.ui.base import Session, describe_error, guarded, show
from simlib.ui.blocks import muted, panel
from simlib.ui.payload_view import PAYLOAD_VIEWS, PRETTY
from simlib.ui.render import render_preview, render_preview_error
from simlib.ui.theme import LABEL_STYLE

__all__ = ["SENDING_LABEL", "SEND_LABEL", "Composer", "parse_overrides_text"]

SEND_LABEL = "Send Test Event"
SENDING_LABEL = "Sending…"


class Composer:
    """What to send to the selected webhook, previewed.

    ``seed`` fixes the first payload seed (random when None) and the sequence **New seed**
    draws from. ``on_change()`` runs after every rebuild of the preview (Send follows it).
    """

    def __init__(self, session: Session, *, seed: int | None = None, on_change: Callable[[], None]) -> None:
        self.session = session
        self.on_change = on_change
        self.webhook: Webhook | None = None  # the selected webhook, as the explorer last applied it
        self.current_preview: Preview | None = None
        self._seeds = random.Random(seed)
        self.event = w.Dropdown(description="Event type", options=[], style=LABEL_STYLE, layout=w.Layout(width="440px"))
        self.options: dict[str, Any] = {}  # every event option's widget, by option name
        self.option_rows: dict[str, w.Widget] = {}  # the option's widget and help; shown for its events only
        self.option_events: dict[str, list[str]] = {}
        self.defaults: dict[str, Any] = {}
        for et in event_types():
            for opt in et.options:
                if opt.name not in self.options:
                    self.options[opt.name] = option_widget(opt)
                    self.defaults[opt.name] = opt.default
                    self.option_rows[opt.name] = w.HBox(
                        [self.options[opt.name], w.HTML(value=muted(opt.help))], layout=w.Layout(align_items="center")
                    )
                self.option_events.setdefault(opt.name, []).append(et.name)
        self.work_mode = self.options.get("work_mode")
        first = seed if seed is not None else self._seeds.randrange(1_000_000)
        self.seed = w.IntText(value=first, description="Seed", style=LABEL_STYLE, layout=w.Layout(width="240px"))
        self.new_seed = w.Button(description="New seed", icon="random", layout=w.Layout(width="auto"))
        self.overrides = w.Textarea(
            description="Overrides",
            placeholder='one path=value per line, e.g.\ndata.0.tracking.app.name="Slack"',
            rows=4,
            style=LABEL_STYLE,
            layout=w.Layout(width="440px"),
        )
        self.send = w.Button(description=SEND_LABEL, button_style="primary", icon="paper-plane", disabled=True)
        self.preview = w.HTML(value="")
        # Send, and while a send runs its Cancel button and elapsed time (the explorer adds them).
        self.send_row = w.HBox([self.send], layout=w.Layout(flex_flow="row wrap", align_items="center"))
        inputs = w.VBox(
            [self.event, *self.option_rows.values(), w.HBox([self.seed, self.new_seed]), self.overrides, self.send_row],
            layout=w.Layout(width="460px", min_width="460px"),
        )
        # Pretty (indented) or Raw: the compact bytes exactly as signed; the result panel follows it.
        self.view = w.ToggleButtons(options=PAYLOAD_VIEWS, value=PRETTY, style={"button_width": "auto"})
        self.view.add_class("simlib-payload-view")
        head = w.HBox([w.HTML(value="<b>Request Payload Preview</b>"), self.view],
                      layout=w.Layout(flex_flow="row wrap", align_items="center", justify_content="space-between"))
        right = w.VBox(
            [head, self.preview],
            layout=w.Layout(flex="1 1 auto", min_width="320px"),
        )
        self.widget = w.HBox([inputs, right], layout=w.Layout(width="100%"))
        self.event.observe(self._on_event_change, names="value")
        for widget in (*self.options.values(), self.seed, self.overrides):
            widget.observe(self._on_input_change, names="value")
        self.new_seed.on_click(self._on_new_seed_click)
        self.view.observe(self._on_view_change, names="value")

    def set_webhook(self, wh: Webhook | None) -> None:
        """Offer ``wh``'s subscribed events (keeping the chosen one if it is among them)."""
        self.webhook = wh
        events = list(wh.events) if wh else []
        with self.session.hold():
            current = self.event.value
            self.event.options = events
            self.event.value = current if current in events else (events[0] if events else None)
        self.apply_event()

    def apply_event(self) -> None:
        for name, row in self.option_rows.items():
            show(row, self.event.value in self.option_events.get(name, ()))
        self.rebuild()

    def reset(self) -> None:
        """Options back to their defaults, no overrides (the caller holds and rebuilds)."""
        self.overrides.value = ""
        for name, widget in self.options.items():
            widget.value = self.defaults[name]

    def rebuild(self) -> None:
        """Build the preview from the inputs as they are, or show why it cannot be built."""
        if self.session.quiet:
            return
        self.current_preview = None
        wh, event = self.webhook, self.event.value
        if wh is None:
            self.preview.value = panel(muted("No webhook selected: pick one above, or create one."))
        elif not event:
            self.preview.value = panel(muted("This webhook subscribes to no event type."))
        else:
            lines: list[tuple[int, str, Any]] = []
            try:
                lines = parse_override_lines(self.overrides.value)
                options = {
                    name: widget.value for name, widget in self.options.items() if event in self.option_events[name]
                }
                self.current_preview = self.session.simulator.preview(
                    wh, event, overrides=[(path, value) for _, path, value in lines], seed=self.seed.value,
                    options=options,
                )
            except Exception as exc:  # noqa: BLE001 - shown inline: a bad override is normal input
                self.session.last_error = exc
                message = describe_error(exc)
                line = next((n for n, path, _ in lines if path == getattr(exc, "path", None)), None)
                if line is not None:
                    message = f"line {line}: {message}"
                self.preview.value = render_preview_error(message)
            else:
                self.session.last_error = None
                self.preview.value = render_preview(self.current_preview, self.view.value)
        self.on_change()

    # -- handlers ------------------------------------------------------------------------------

    @guarded("change the event type")
    def _on_event_change(self, change: dict[str, Any]) -> None:
        if self.session.quiet:
            return
        self.apply_event()

    @guarded("rebuild the preview")
    def _on_input_change(self, change: dict[str, Any]) -> None:
        self.rebuild()

    @guarded("switch the payload view")
    def _on_view_change(self, change: dict[str, Any]) -> None:
        if self.current_preview is not None:  # the same payload, shown the other way: not rebuilt
            self.preview.value = render_preview(self.current_preview, self.view.value)

    @guarded("draw a new seed")
    def _on_new_seed_click(self, _button: w.Button | None = None) -> None:
        self.seed.value = self._seeds.randrange(1_000_000)


def option_widget(opt: EventOption) -> Any:
    """The input for one event option: a Checkbox, an IntText or a Text, labelled in camelCase."""
    head, *rest = opt.name.split("_")
    desc = head + "".join(p.title() for p in rest)
    if opt.type is bool:
        return w.Checkbox(
            value=bool(opt.default), description=desc, indent=True, style=LABEL_STYLE, layout=w.Layout(width="auto")
        )
    if opt.type is int:
        return w.IntText(value=int(opt.default), description=desc, style=LABEL_STYLE)
    return w.Text(value="" if opt.default is None else str(opt.default), description=desc, style=LABEL_STYLE)


def parse_overrides_text(text: str) -> list[tuple[str, Any]]:
    """One ``path=value`` per line; blank lines and ``#`` comments are skipped.

    Raises :class:`~simlib.OverrideError` naming the line of the first bad entry.
    """
    return [(path, value) for _, path, value in parse_override_lines(text)]


def parse_override_lines(text: str) -> list[tuple[int, str, Any]]:
    """``(line number, path, value)`` for each override in ``text``."""
    out: list[tuple[int, str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            path, value = parse_override(stripped)
        except OverrideError as exc:
            raise OverrideError(exc.path, f"line {number}: {exc.message}") from None
        out.append((number, path, value))
    return out
