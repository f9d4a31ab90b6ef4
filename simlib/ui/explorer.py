"""The Explorer: the panels of :mod:`simlib.ui` composed into the Trackpilots Simulations page."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as w

from simlib import EVENT_NOT_REGISTERED, WEBHOOK_NOT_FOUND, Simulator, Webhook, start_demo
from simlib.ui.analysis import AnalysisPanel
from simlib.ui.attributes import ExplorerAttributes
from simlib.ui.base import Session, guarded, walk
from simlib.ui.burst import BurstPanel
from simlib.ui.check import CheckPanel
from simlib.ui.composer import SEND_LABEL, SENDING_LABEL, Composer
from simlib.ui.explain import ExplainPanel
from simlib.ui.history import DEFAULT_HISTORY_ROWS, HistoryPanel
from simlib.ui.history_workbench import HistoryWorkbench
from simlib.ui.importer import ImportPanel
from simlib.ui.receiver import LocalReceiver
from simlib.ui.receiver_tab import ReceiverPanel
from simlib.ui.result import ResultPanel
from simlib.ui.sending import SendRunner
from simlib.ui.theme import MUTED, PAGE_CSS
from simlib.ui.webhooks import WebhooksPanel

if TYPE_CHECKING:
    from simlib import Preview, Receiver, SimulationResult

__all__ = ["HEADER_HTML", "PLAIN_TEXT", "Explorer"]

#: The explorer as plain text (a notebook viewer, the committed text output): not ``VBox(...)``.
PLAIN_TEXT = "Trackpilots webhook simulations explorer (widgets: run this notebook in JupyterLab, or serve it with Voilà)"

# The first child of the displayed box, and so the start of its repr (nbval compares the first
# 110 characters of it): fixed text, long enough that no port or id can appear that early.
HEADER_HTML = (
    '<div style="font-size:1.2em;font-weight:600;margin:2px 0">Trackpilots webhook simulations</div>'
    f'<div style="color:{MUTED}">Pick a webhook and an event type, review the exact payload, then '
    "press <b>Send Test Event</b>. Every attempt is signed for real and kept in the history below.</div>"
)


class Explorer(ExplorerAttributes):
    """The simulations page as widgets over a :class:`~simlib.Simulator`.

    ``Explorer(sim)`` shows the webhooks in ``sim``'s store; :meth:`with_demo` also starts the
    embedded receiver and the demo webhook. ``seed`` fixes the first payload seed (a random one
    when None); ``receiver`` is a running :class:`~simlib.Receiver` the "Use local receiver"
    button reuses. Display the explorer (or ``explorer.widget``) in a notebook. ``demo``: the
    demo webhook claimed for ``receiver`` (other pages' demo webhooks are then not listed);
    ``page_sends_only``: the History tab starts on "This page's sends only" (None: in Voilà).

    The panels are ``webhooks_panel`` (with its ``form_panel``), ``composer``, ``result_panel``,
    ``history_panel`` and ``burst_panel``; they share one ``session``. Their widgets are also
    attributes of the explorer (see :class:`~simlib.ui.attributes.ExplorerAttributes`).
    """

    def __init__(
        self,
        simulator: Simulator | None = None,
        *,
        seed: int | None = None,
        receiver: Receiver | None = None,
        clock: Callable[[], int] | None = None,
        history_rows: int = DEFAULT_HISTORY_ROWS,
        demo: Webhook | None = None, page_sends_only: bool | None = None,
    ) -> None:
        self.simulator = simulator if simulator is not None else Simulator(clock=clock)
        self.local = LocalReceiver(self.simulator, receiver)
        self._callbacks: list[Callable[[SimulationResult], None]] = []
        self._send_state = threading.Lock()  # the worker and the kernel both update the Send button
        self.session = s = Session(self.simulator)
        s.join_page(demo, page_sends_only)  # several pages on one store: see Session
        self.composer = Composer(s, seed=seed, on_change=self._update_send_state)
        self.result_panel = ResultPanel()
        self.sending = SendRunner(s, self.result_panel, on_result=self._after_send, on_change=self._update_send_state)
        self.composer.send_row.children = (*self.composer.send_row.children, self.sending.cancel, self.sending.status)
        self.composer.view.observe(lambda change: self.result_panel.set_view(change["new"]), names="value")
        self.webhooks_panel = WebhooksPanel(
            s, on_select=self._on_select, local=self.local, send_previous=lambda: self._on_send_click(sign_with="previous")
        )
        self.form_panel = self.webhooks_panel.form
        self.history_panel = HistoryPanel(self.simulator, history_rows)
        self.burst_panel = BurstPanel(
            s, target=self._burst_target, on_change=self._update_send_state, on_done=self.history_panel.refresh
        )
        self.header = w.HTML(value=f"<style>{PAGE_CSS}</style>{HEADER_HTML}")
        self._expose_widgets()
        # The workbench: one tab per tool panel (history, analysis, receiver check, explain, ...).
        self.tools: dict[str, Any] = {}
        self.workbench = w.Tab(layout=w.Layout(width="100%", display="none"))
        self.workbench.add_class("simlib-workbench")
        self._add_tools()
        self.history_panel.follow_box(self.tools["History"].grid.filters.mine, s)
        self.tools["Explain"].scope_box = self.tools["History"].grid.filters.mine  # Load row follows it too
        p, c, b = self.webhooks_panel, self.composer, self.burst_panel
        self.widget = w.VBox(
            [self.header, self.notice, *p.parts, c.widget, self.result, b.widget, self.history_table, self.workbench],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("simlib-explorer")
        self.send.on_click(self._on_send_click)
        self.refresh()

    @classmethod
    def with_demo(
        cls,
        simulator: Simulator | None = None,
        *,
        seed: int | None = None,
        port: int = 0,
        clock: Callable[[], int] | None = None,
        history_rows: int = DEFAULT_HISTORY_ROWS, page_sends_only: bool | None = None,
    ) -> Explorer:
        """The embedded default, all a first Send needs: a receiver on 127.0.0.1, a demo webhook of its own."""
        sim = simulator if simulator is not None else Simulator(clock=clock)
        receiver, wh = start_demo(sim, port=port)  # a demo webhook of this receiver's own
        explorer = cls(sim, seed=seed, receiver=receiver, history_rows=history_rows, demo=wh, page_sends_only=page_sends_only)
        explorer.local.adopt(receiver, demo=wh)
        explorer.select(wh.id)
        return explorer

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        return {**bundle, "text/plain": PLAIN_TEXT} if isinstance(bundle, dict) else bundle

    # -- public API ----------------------------------------------------------------------------

    def select(self, webhook: Webhook | str, event: str | None = None) -> None:
        """Select a webhook (and optionally one of its events), as a user would."""
        wid = webhook.id if isinstance(webhook, Webhook) else webhook
        if wid not in self.webhooks_panel.webhooks:
            self.refresh()
        self.webhook.value = wid
        if event is not None:
            self.event.value = event

    def register_callback(self, callback: Callable[[SimulationResult], None]) -> None:
        """Call ``callback(result)`` after every send from the explorer."""
        self._callbacks.append(callback)

    def refresh(self) -> None:
        """Reload the webhooks from the store (keeping the selection if it still exists)."""
        self.webhooks_panel.refresh()
        self.history_panel.refresh()

    def reset(self) -> None:
        """Clear the options, overrides, result and errors; keep the webhook selection."""
        with self.session.hold():
            self.composer.reset()
            self.notice.value = ""
            self.session.last_error = None
            self.sending.last_result = None
        self.result_panel.clear()
        self.composer.rebuild()

    def close(self) -> None:
        """Cancel a send in flight, stop the receiver this explorer started, close its widgets."""
        self.sending.job.cancel()
        self.session.leave_page()
        self.local.stop()
        for widget in walk(self.widget):
            widget.close()

    # -- the workbench -------------------------------------------------------------------------

    def _add_tools(self) -> None:
        """Build the workbench's tool panels, one line each, in tab order."""
        self.add_tool("History", HistoryWorkbench(self.session, self.history_panel))
        self.add_tool("Analysis", AnalysisPanel(self.session, self.tools["History"]))
        self.add_tool("Receiver check", CheckPanel(self.session, follow=self.webhook))
        self.add_tool("Explain", ExplainPanel(self.session, follow=self.webhook))
        self.add_tool("Import", ImportPanel(self.session, follow=self.webhook))
        self.add_tool("Local receiver", ReceiverPanel(self.session, self.local, on_webhooks=self.refresh))

    def add_tool(self, title: str, panel: Any) -> None:
        """Add ``panel`` (an object with a ``widget``) as the workbench tab ``title``."""
        self.tools[title] = panel
        self.workbench.children = (*self.workbench.children, panel.widget)
        self.workbench.set_title(len(self.workbench.children) - 1, title)
        self.workbench.layout.display = None

    # -- between the panels --------------------------------------------------------------------

    def _update_send_state(self) -> None:
        with self._send_state:
            ready = self.composer.current_preview is not None
            in_flight = self.sending.running
            self.send.disabled = in_flight or self.burst_panel.running or not ready
            self.send.description = SENDING_LABEL if in_flight else SEND_LABEL
            self.burst_panel.follow(can_start=ready and not in_flight)

    def _on_select(self, wh: Webhook | None) -> None:
        self.composer.set_webhook(wh)  # and a result of another webhook (or of none left) goes
        self.result_panel.follow(wh.id if wh else None, bool(self.webhooks_panel.webhooks))

    def _burst_target(self) -> tuple[Preview, Webhook] | None:
        preview, wh = self.composer.current_preview, self.webhooks_panel.selected
        return None if preview is None or wh is None or self.sending.running or self.webhooks_panel.moved(preview) else (preview, wh)

    @guarded("send the simulation")
    def _on_send_click(self, _button: w.Button | None = None, *, sign_with: Literal["current", "previous"] = "current") -> None:
        preview = self.composer.current_preview
        if preview is None or self.sending.running or self.burst_panel.running or self.webhooks_panel.moved(preview):
            return
        self.notice.value = ""
        self.sending.start(preview, sign_with=sign_with)  # on a worker thread; never raises, bounded by the deadline

    def _after_send(self, result: SimulationResult) -> None:
        """What a finished send shows (on the send's worker thread)."""
        self.result_panel.show(result)
        self.history_panel.refresh()
        if result.error in (WEBHOOK_NOT_FOUND, EVENT_NOT_REGISTERED):
            self.webhooks_panel.refresh()  # the store changed under the selection: show it as it is now
        for callback in self._callbacks:
            callback(result)
