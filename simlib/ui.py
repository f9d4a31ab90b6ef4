"""The notebook explorer: the Trackpilots "Simulations" page as ipywidgets, built on the Simulator.

    from simlib.ui import Explorer
    explorer = Explorer.with_demo()   # local receiver + demo webhook: Send works at once
    explorer                          # display it (JupyterLab, Voilà)

Pick a webhook ("name — URL") and one of its subscribed event types, adjust the options (seed,
``workMode``, ``path=value`` overrides), review the exact JSON that will be POSTed, press
**Send Test Event**, read the result panel and the history table below it. Webhooks can be
created, edited and deleted from the explorer; with none configured it shows a create form and
a one-click local receiver.

Every widget is an attribute (``explorer.webhook``, ``explorer.event``, ``explorer.send`` ...)
so tests and scripts drive it like a user: set ``.value``, call ``.click()``. Handlers catch
their own errors and render them (``explorer.last_error``); nothing here raises into the kernel.
Panels are ``HTML`` widgets whose ``.value`` is set (never ``Output`` capture), so values
such as latencies and ports live in widget state, invisible to nbval.

This module talks to the :class:`~simlib.simulator.Simulator` only: no HTTP, SQL or HMAC here.
"""

from __future__ import annotations

import functools
import html
import json
import random
import re
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar

import ipywidgets as w

from simlib.core.events import EventOption, event_types, parse_override
from simlib.core.validation import production_check
from simlib.demo import DEMO_WEBHOOK_ID, local_webhook_secrets, start_demo
from simlib.errors import OverrideError, SimlibError
from simlib.records import (
    DELIVERED,
    EVENT_NOT_REGISTERED,
    NETWORK_ERROR,
    SERVICE_UNAVAILABLE,
    SIMULATION_FAILED,
    WEBHOOK_NOT_FOUND,
    Preview,
    SimulationResult,
    Webhook,
)
from simlib.simulator import Simulator

if TYPE_CHECKING:
    import pandas as pd

    from simlib.core.burst import BurstResult
    from simlib.receiver import Receiver

__all__ = [
    "Explorer",
    "highlight_json",
    "in_voila",
    "parse_overrides_text",
    "render_burst",
    "render_history",
    "render_preview",
    "render_result",
    "status_colour",
]

SEND_LABEL = "Send Test Event"
SENDING_LABEL = "Sending…"
DEFAULT_HISTORY_ROWS = 20

#: What each simulation error means, from the Trackpilots error reference.
ERROR_MEANING = {
    WEBHOOK_NOT_FOUND: "The webhook was deleted after selection.",
    EVENT_NOT_REGISTERED: "The selected event is not in this webhook's subscribed events.",
    SERVICE_UNAVAILABLE: "The simulation service is temporarily down: retry in a moment.",
    NETWORK_ERROR: "Your endpoint is unreachable.",
    SIMULATION_FAILED: "Unexpected error: check your endpoint logs.",
}

# Colours (GitHub's light palette); panels set their own background so dark themes stay readable.
GREEN, AMBER, ORANGE, RED, GREY = "#1a7f37", "#9a6700", "#bc4c00", "#cf222e", "#6e7781"
_TEXT, _MUTED, _BORDER, _PANEL, _CODE_BG = "#24292f", "#57606a", "#d0d7de", "#ffffff", "#f6f8fa"
_JSON_COLOURS = {"key": "#0550ae", "str": "#0a3069", "num": "#953800", "lit": "#8250df", "punct": "#57606a"}

# The first child of the displayed box, and so the start of its repr (nbval compares the first
# 110 characters of it): fixed text, long enough that no port or id can appear that early.
HEADER_HTML = (
    '<div style="font-size:1.2em;font-weight:600;margin:2px 0">Trackpilots webhook simulations</div>'
    f'<div style="color:{_MUTED}">Pick a webhook and an event type, review the exact payload, then '
    "press <b>Send Test Event</b>. Every attempt is signed for real and kept in the history below.</div>"
)


# --- pure rendering helpers --------------------------------------------------------------------

_JSON_TOKEN = re.compile(
    r'(?P<key>"(?:[^"\\]|\\.)*")(?=\s*:)'
    r'|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<lit>\btrue\b|\bfalse\b|\bnull\b)"
    r"|(?P<punct>[{}\[\],:])"
)


def highlight_json(text: str) -> str:
    """JSON text as HTML with inline colours (keys, strings, numbers, literals); all escaped."""
    out: list[str] = []
    pos = 0
    for m in _JSON_TOKEN.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        kind = m.lastgroup or "punct"
        out.append(f'<span style="color:{_JSON_COLOURS[kind]}">{html.escape(m.group())}</span>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _code_block(inner_html: str, *, max_height: str = "420px") -> str:
    return (
        f'<pre style="background:{_CODE_BG};color:{_TEXT};border:1px solid {_BORDER};border-radius:6px;'
        f"padding:8px;margin:4px 0;max-height:{max_height};overflow:auto;font-size:12px;"
        f'line-height:1.35;white-space:pre">{inner_html}</pre>'
    )


def _panel(inner_html: str) -> str:
    return (
        f'<div style="background:{_PANEL};color:{_TEXT};border:1px solid {_BORDER};border-radius:6px;'
        f'padding:8px 12px;margin:4px 0">{inner_html}</div>'
    )


def _notice(message: str, colour: str = RED) -> str:
    return f'<div style="color:{colour};margin:2px 0">{html.escape(message)}</div>'


def _muted(message: str) -> str:
    return f'<span style="color:{_MUTED}">{html.escape(message)}</span>'


def status_colour(status: int | None) -> str:
    """2xx green, 3xx amber, 4xx orange-red, 5xx red, no status grey."""
    if status is None:
        return GREY
    if 200 <= status < 300:
        return GREEN
    if 300 <= status < 400:
        return AMBER
    if 400 <= status < 500:
        return ORANGE
    return RED


def _status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _badge(text: str, colour: str) -> str:
    return (
        f'<span style="background:{colour};color:#ffffff;border-radius:10px;padding:1px 8px;'
        f'font-weight:600">{html.escape(text)}</span>'
    )


def _pretty_response(body: str) -> tuple[str, bool]:
    """The response body pretty-printed when it is JSON; (text, is_json)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body, False
    return json.dumps(parsed, indent=2, ensure_ascii=False), True


def render_preview(preview: Preview) -> str:
    """The request payload preview: what, where, and exactly ``preview.body`` pretty-printed."""
    info = (
        f"<b>POST</b> <code>{html.escape(preview.url)}</code><br>"
        + _muted(f"{preview.event_type} · {preview.size} bytes · seed {preview.seed} · {preview.event_id}")
    )
    return f"<div>{info}</div>" + _code_block(highlight_json(preview.pretty))


def render_preview_error(message: str) -> str:
    return _panel(
        '<div style="font-weight:600">Preview unavailable</div>'
        + _notice(message)
        + _muted("Fix the input above; Send is disabled until the payload can be built.")
    )


def _row(label: str, value_html: str) -> str:
    return (
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0;vertical-align:top;white-space:nowrap">'
        f'{html.escape(label)}</th><td style="text-align:left;padding:2px 0">{value_html}</td></tr>'
    )


def render_result(result: SimulationResult) -> str:
    """The simulation result panel: status, latency, verdict, headers, payload, response."""
    rows: list[str] = []
    if result.http_status is not None:
        status_html = _badge(_status_text(result.http_status), status_colour(result.http_status))
    else:
        status_html = _muted("none: no HTTP response from the endpoint")
    rows.append(_row("HTTP Status", status_html))
    latency = f"{result.latency_ms:.1f} ms" if result.latency_ms is not None else "-"
    rows.append(_row("Latency", html.escape(latency)))
    verdict_colour = GREEN if result.delivered else RED
    verdict = "✓ Delivered" if result.delivered else "✗ Failed"
    rows.append(_row("Result", f'<b style="color:{verdict_colour}">{verdict}</b>'))
    if result.error:
        code = f" ({result.error_status})" if result.error_status is not None else ""
        meaning = ERROR_MEANING.get(result.error, "")
        rows.append(
            _row(
                "Simulation error",
                f'<b style="color:{RED}">{html.escape(result.error + code)}</b> — {html.escape(result.detail)}'
                + (f"<br>{_muted(meaning)}" if meaning else ""),
            )
        )
    elif result.detail:
        rows.append(_row("Detail", html.escape(result.detail)))
    rows.append(_row("Webhook", html.escape(f"{result.webhook_name} — {result.url}")))
    rows.append(_row("Event", html.escape(f"{result.event_type} · {result.event_id}")))
    if result.request_headers:
        headers = "<br>".join(
            f"<code>{html.escape(name)}: {html.escape(result.request_headers.get(name, ''))}</code>"
            for name in ("x-webhook-signature", "x-webhook-timestamp")
        )
    else:
        headers = _muted("not sent: the simulation stopped before delivery")
    rows.append(_row("Delivery Headers", headers))
    if not result.recorded:
        rows.append(_row("History", _notice("this attempt could not be recorded")))
    payload_title = "Sent Payload" if result.request_headers else "Payload (not sent)"
    try:
        payload_html = highlight_json(json.dumps(json.loads(result.payload), indent=2, ensure_ascii=False))
    except ValueError:
        payload_html = html.escape(result.payload)
    if result.http_status is not None:
        text, is_json = _pretty_response(result.response_body)
        response_html = _code_block(highlight_json(text) if is_json else html.escape(text) or _muted("(empty body)"))
        if result.response_truncated:
            response_html += _muted("The response was longer than the capture limit and was cut.")
    else:
        response_html = _muted("no response")
    return _panel(
        '<div style="font-weight:600;margin-bottom:4px">Simulation Result</div>'
        f'<table style="border-collapse:collapse">{"".join(rows)}</table>'
        f"<details open><summary><b>{payload_title}</b></summary>{_code_block(payload_html, max_height='260px')}</details>"
        f"<details open><summary><b>Endpoint Response</b></summary>{response_html}</details>"
    )


def render_nothing_sent() -> str:
    return _panel('<div style="font-weight:600">Simulation Result</div>' + _muted("Nothing sent yet: press Send Test Event."))


def render_sending(preview: Preview) -> str:
    return _panel(_muted(f"Sending {preview.event_type} to {preview.url} …"))


def _ts(value: Any) -> str:
    try:
        return value.strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[no-any-return]
    except (AttributeError, ValueError):
        return "-"


def render_history(frame: pd.DataFrame, total: int | None = None) -> str:
    """The history as an HTML table, newest first, status coloured (``frame`` is oldest first)."""
    if len(frame) == 0:
        return _panel('<div style="font-weight:600">History</div>' + _muted("No simulations sent yet."))
    head = "".join(
        f'<th style="text-align:left;padding:2px 10px 2px 0;border-bottom:1px solid {_BORDER}">{h}</th>'
        for h in ("#", "Sent at (UTC)", "Webhook", "Event type", "Result", "HTTP Status", "Latency")
    )
    body: list[str] = []
    for rec in frame.iloc[::-1].itertuples(index=False):
        status = None if _isna(rec.http_status) else int(rec.http_status)
        status_html = (
            f'<b style="color:{status_colour(status)}">{status}</b>' if status is not None else _muted("-")
        )
        verdict = str(rec.result)
        if isinstance(rec.error, str) and rec.error:
            verdict += f" — {rec.error}"
        verdict_colour = GREEN if rec.result == DELIVERED else RED
        latency = "-" if _isna(rec.latency_ms) else f"{float(rec.latency_ms):.1f} ms"
        cells = (
            html.escape(str(rec.id)),
            html.escape(_ts(rec.sent_at)),
            html.escape(str(rec.webhook_name)),
            html.escape(str(rec.event_type)),
            f'<span style="color:{verdict_colour}">{html.escape(verdict)}</span>',
            status_html,
            html.escape(latency),
        )
        body.append(
            '<tr class="simlib-history-row">'
            + "".join(f'<td style="padding:2px 10px 2px 0">{c}</td>' for c in cells)
            + "</tr>"
        )
    shown = len(frame)
    total = shown if total is None else total
    footer = f"Newest {shown} of {total} attempts" if total > shown else f"{total} attempt{'s' * (total != 1)}"
    footer += "; the full history is explorer.history (a DataFrame)."
    return _panel(
        '<div style="font-weight:600;margin-bottom:4px">History</div>'
        f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        + _muted(footer)
    )


def render_burst(burst: BurstResult) -> str:
    """The burst summary: counts, failures by reason, throughput, latency percentiles."""
    row = burst.summary.iloc[0]

    def ms(key: str) -> str:
        value = row[key]
        return "-" if _isna(value) else f"{float(value):.1f} ms"

    failed = int(row["failed"])
    reasons = html.escape(str(row["failed_by_reason"])) if failed else ""
    colour = GREEN if failed == 0 else (RED if int(row["delivered"]) == 0 else AMBER)
    lines = [
        _row("Sends", f'{int(row["count"])} · <b style="color:{colour}">{int(row["delivered"])} delivered</b>'
             + (f" · {failed} failed ({reasons})" if failed else "")),
        _row("Throughput", f'{float(row["throughput_per_s"]):.1f} sends/s over {float(row["elapsed_s"]):.2f} s'),
        _row("Latency", f'p50 {ms("latency_p50_ms")} · p95 {ms("latency_p95_ms")} · p99 {ms("latency_p99_ms")} · max {ms("latency_max_ms")}'),
    ]
    if burst.stopped_early:
        lines.append(_row("Stopped", html.escape(burst.stopped_early)))
    return _panel('<div style="font-weight:600;margin-bottom:4px">Burst result</div>' + "".join(lines))


def _isna(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value) in ("<NA>", "NaT", "nan")


def parse_overrides_text(text: str) -> list[tuple[str, Any]]:
    """One ``path=value`` per line; blank lines and ``#`` comments are skipped.

    Raises :class:`OverrideError` naming the line of the first bad entry.
    """
    return [(path, value) for _, path, value in _parse_override_lines(text)]


def _parse_override_lines(text: str) -> list[tuple[int, str, Any]]:
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


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, SimlibError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


F = TypeVar("F", bound=Callable[..., Any])


def _guarded(action: str) -> Callable[[F], F]:
    """Run a handler so that no exception escapes: it is kept in ``last_error`` and shown."""

    def deco(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: Explorer, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the explorer shows errors, never tracebacks
                self._report(action, exc)
                return None

        return wrapper  # type: ignore[return-value]

    return deco


# --- the explorer ---------------------------------------------------------------------------------


class Explorer:
    """The simulations page as widgets over a :class:`Simulator`.

    ``Explorer(sim)`` shows the webhooks in ``sim``'s store; :meth:`with_demo` also starts the
    embedded receiver and the demo webhook. ``seed`` fixes the first payload seed (a random one
    when None); ``receiver`` is a running :class:`~simlib.receiver.Receiver` the "Use local
    receiver" button reuses. Display the explorer (or ``explorer.widget``) in a notebook.

    ==================  ============================================================
    attribute           what it is
    ==================  ============================================================
    webhook, event      Dropdowns ("name — URL"; the webhook's subscribed events)
    work_mode, seed     the activity event's ``workMode`` (Checkbox), the seed (IntText)
    options             every event option's widget by name (``option_rows``: shown/hidden)
    overrides           Textarea, one ``path=value`` per line
    preview             HTML: the payload exactly as it will be sent, highlighted
    send                the Send Test Event button
    result              HTML: the simulation result panel
    history_table       HTML: the newest attempts (``history`` is the full DataFrame)
    burst_*             the Burst panel: count, concurrency, rate, repeat, ``burst_run``,
                        ``burst_progress``, ``burst_result``; ``last_burst``, ``wait_for_burst()``
    form_*              the create/edit webhook form; ``use_local`` starts a receiver
    edit, delete        edit / delete the selected webhook (``delete_confirm`` confirms)
    ==================  ============================================================
    """

    def __init__(
        self,
        simulator: Simulator | None = None,
        *,
        seed: int | None = None,
        receiver: Receiver | None = None,
        clock: Callable[[], int] | None = None,
        history_rows: int = DEFAULT_HISTORY_ROWS,
    ) -> None:
        self.simulator = simulator if simulator is not None else Simulator(clock=clock)
        self.receiver = receiver
        self._owns_receiver = False
        self._seeds = random.Random(seed)
        self.history_rows = history_rows
        self.last_result: SimulationResult | None = None
        self.last_error: BaseException | None = None
        self.current_preview: Preview | None = None
        self._webhooks: dict[str, Webhook] = {}
        self._callbacks: list[Callable[[SimulationResult], None]] = []
        self._quiet = 0  # > 0 while the explorer itself changes several widgets at once
        self._in_flight = False
        self._form_mode: str | None = None  # None, "create" or "edit"
        self._editing: str | None = None
        self._build(seed if seed is not None else self._seeds.randrange(1_000_000))
        self._wire()
        self.refresh()

    @classmethod
    def with_demo(
        cls,
        simulator: Simulator | None = None,
        *,
        seed: int | None = None,
        port: int = 0,
        clock: Callable[[], int] | None = None,
        history_rows: int = DEFAULT_HISTORY_ROWS,
    ) -> Explorer:
        """The embedded default: a local receiver on 127.0.0.1 and the demo webhook, selected.

        With no configuration at all this is everything a first Send needs. The receiver stops
        with :meth:`close` (or when the kernel exits).
        """
        sim = simulator if simulator is not None else Simulator(clock=clock)
        receiver, wh = start_demo(sim, port=port)
        explorer = cls(sim, seed=seed, receiver=receiver, history_rows=history_rows)
        explorer._owns_receiver = True
        explorer._verify_all_local_webhooks()
        explorer.select(wh.id)
        return explorer

    # -- building ------------------------------------------------------------------------------

    def _build(self, seed: int) -> None:
        label = {"description_width": "110px"}
        self.header = w.HTML(value=HEADER_HTML)
        self.notice = w.HTML(value="")
        self.empty = w.HTML(
            value=_panel(
                "<b>No webhooks yet?</b> You need at least one reseller webhook before running "
                "simulations. Create one below, or click <b>Use local receiver</b> for a test "
                "endpoint on this machine."
            )
        )
        self.webhook = w.Dropdown(description="Webhook", options=[], style=label, layout=w.Layout(width="620px"))
        self.new_webhook = w.Button(description="New webhook", icon="plus", layout=w.Layout(width="auto"))
        self.edit = w.Button(description="Edit", icon="pencil", layout=w.Layout(width="auto"))
        self.delete = w.Button(description="Delete", icon="trash", layout=w.Layout(width="auto"))
        self.url_check = w.HTML(value="")
        self.delete_question = w.HTML(value="")
        self.delete_confirm = w.Button(description="Confirm delete", button_style="danger")
        self.delete_cancel = w.Button(description="Keep it")
        self.confirm_box = w.HBox([self.delete_question, self.delete_confirm, self.delete_cancel])

        # create / edit form
        self.form_title = w.HTML(value="")
        self.form_name = w.Text(description="Name", placeholder="e.g. Staging receiver", style=label)
        self.form_url = w.Text(
            description="URL", placeholder="https://example.com/webhooks/trackpilots", style=label,
            layout=w.Layout(width="520px"),
        )
        self.use_local = w.Button(description="Use local receiver", icon="plug", layout=w.Layout(width="auto"))
        self.form_url_check = w.HTML(value="")
        self.form_events = {
            et.name: w.Checkbox(value=True, description=et.name, indent=False, layout=w.Layout(width="auto"))
            for et in event_types()
        }
        self.form_secret = w.Password(
            description="Secret", placeholder="optional: leave empty to generate one", style=label,
            layout=w.Layout(width="520px"),
        )
        self.form_submit = w.Button(description="Create webhook", button_style="success")
        self.form_cancel = w.Button(description="Cancel")
        self.form_message = w.HTML(value="")
        self.form_box = w.VBox(
            [
                self.form_title,
                self.form_name,
                w.HBox([self.form_url, self.use_local]),
                self.form_url_check,
                w.HBox([w.Label("Events", layout=w.Layout(width="110px")), w.VBox(list(self.form_events.values()))]),
                self.form_secret,
                w.HBox([self.form_submit, self.form_cancel]),
                self.form_message,
            ],
            layout=w.Layout(border=f"1px solid {_BORDER}", padding="6px", margin="4px 0"),
        )

        # simulation inputs
        self.event = w.Dropdown(description="Event type", options=[], style=label, layout=w.Layout(width="440px"))
        self.options: dict[str, w.ValueWidget] = {}
        self.option_rows: dict[str, w.Widget] = {}
        self._option_events: dict[str, list[str]] = {}
        for et in event_types():
            for opt in et.options:
                if opt.name not in self.options:
                    self.options[opt.name] = self._option_widget(opt, label)
                    self.option_rows[opt.name] = w.HBox(
                        [self.options[opt.name], w.HTML(value=_muted(opt.help))],
                        layout=w.Layout(align_items="center"),
                    )
                self._option_events.setdefault(opt.name, []).append(et.name)
        self.work_mode = self.options.get("work_mode")
        self.seed = w.IntText(value=seed, description="Seed", style=label, layout=w.Layout(width="240px"))
        self.new_seed = w.Button(description="New seed", icon="random", layout=w.Layout(width="auto"))
        self.overrides = w.Textarea(
            description="Overrides",
            placeholder='one path=value per line, e.g.\ndata.0.tracking.app.name="Slack"',
            rows=4,
            style=label,
            layout=w.Layout(width="440px"),
        )
        self.send = w.Button(description=SEND_LABEL, button_style="primary", icon="paper-plane", disabled=True)
        self.preview = w.HTML(value="")
        self.result = w.HTML(value=render_nothing_sent())
        self.history_table = w.HTML(value="")

        # burst (load test): the selected webhook and event, the current options and overrides
        self.burst_count = w.BoundedIntText(value=100, min=1, max=1_000_000, description="Sends", style=label, layout=w.Layout(width="240px"))
        self.burst_concurrency = w.BoundedIntText(value=10, min=1, max=1000, description="Concurrency", style=label, layout=w.Layout(width="240px"))
        self.burst_rate = w.BoundedFloatText(value=0.0, min=0.0, max=100_000.0, description="Rate /s", style=label, layout=w.Layout(width="240px"))
        self.burst_repeat = w.Checkbox(value=False, description="Repeat one payload (idempotency test)", indent=False)
        self.burst_run = w.Button(description="Run burst", icon="bolt", button_style="warning", disabled=True)
        self.burst_progress = w.IntProgress(value=0, min=0, max=1, description="Progress", style=label)
        self.burst_result = w.HTML(value="")
        self.burst_box = w.VBox(
            [
                w.HTML(value=_muted("Many sends of the selected event at a bounded concurrency (rate 0 = as fast as "
                                    "possible), each with a fresh payload unless repeated; every attempt is recorded.")),
                w.HBox([self.burst_count, self.burst_concurrency, self.burst_rate]),
                w.HBox([self.burst_repeat, self.burst_run]),
                self.burst_progress,
                self.burst_result,
            ]
        )
        self.burst_panel = w.Accordion(children=[self.burst_box], titles=("Burst (load test)",), selected_index=None)
        self.last_burst: BurstResult | None = None
        self._burst_thread: threading.Thread | None = None

        inputs = w.VBox(
            [self.event, *self.option_rows.values(), w.HBox([self.seed, self.new_seed]), self.overrides, self.send],
            layout=w.Layout(width="460px", min_width="460px"),
        )
        right = w.VBox(
            [w.HTML(value="<b>Request Payload Preview</b>"), self.preview],
            layout=w.Layout(flex="1 1 auto", min_width="320px"),
        )
        self.widget = w.VBox(
            [
                self.header,
                self.notice,
                self.empty,
                w.HBox([self.webhook, self.edit, self.delete, self.new_webhook]),
                self.url_check,
                self.confirm_box,
                self.form_box,
                w.HBox([inputs, right], layout=w.Layout(width="100%")),
                self.result,
                self.burst_panel,
                self.history_table,
            ],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("simlib-explorer")
        _show(self.confirm_box, False)

    @staticmethod
    def _option_widget(opt: EventOption, style: dict[str, str]) -> w.ValueWidget:
        desc = _camel(opt.name)
        if opt.type is bool:
            return w.Checkbox(
                value=bool(opt.default), description=desc, indent=True, style=style, layout=w.Layout(width="auto")
            )
        if opt.type is int:
            return w.IntText(value=int(opt.default), description=desc, style=style)
        return w.Text(value="" if opt.default is None else str(opt.default), description=desc, style=style)

    def _wire(self) -> None:
        self.webhook.observe(self._on_webhook_change, names="value")
        self.event.observe(self._on_event_change, names="value")
        for widget in (*self.options.values(), self.seed, self.overrides):
            widget.observe(self._on_input_change, names="value")
        self.form_url.observe(self._on_form_url_change, names="value")
        self.send.on_click(self._on_send_click)
        self.new_seed.on_click(self._on_new_seed_click)
        self.new_webhook.on_click(self._on_new_webhook_click)
        self.edit.on_click(self._on_edit_click)
        self.delete.on_click(self._on_delete_click)
        self.delete_confirm.on_click(self._on_delete_confirm_click)
        self.delete_cancel.on_click(self._on_delete_cancel_click)
        self.form_submit.on_click(self._on_form_submit_click)
        self.form_cancel.on_click(self._on_form_cancel_click)
        self.use_local.on_click(self._on_use_local_click)
        self.burst_run.on_click(self._on_burst_click)

    # -- display -------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        selected = self.webhook.value or "none"
        return f"Explorer(webhooks={len(self._webhooks)}, selected={selected!r}, event={self.event.value!r})"

    # -- public API ----------------------------------------------------------------------------

    @property
    def history(self) -> pd.DataFrame:
        """Every attempt, oldest first: the same DataFrame as ``simulator.history()``."""
        return self.simulator.history()

    @property
    def webhooks(self) -> list[Webhook]:
        """The webhooks the dropdown lists, in its order."""
        return list(self._webhooks.values())

    def select(self, webhook: Webhook | str, event: str | None = None) -> None:
        """Select a webhook (and optionally one of its events), as a user would."""
        wid = webhook.id if isinstance(webhook, Webhook) else webhook
        if wid not in self._webhooks:
            self.refresh()
        self.webhook.value = wid
        if event is not None:
            self.event.value = event

    def register_callback(self, callback: Callable[[SimulationResult], None]) -> None:
        """Call ``callback(result)`` after every send from the explorer."""
        self._callbacks.append(callback)

    def refresh(self) -> None:
        """Reload the webhooks from the store (keeping the selection if it still exists)."""
        self._refresh_webhooks()
        self._refresh_history()

    def reset(self) -> None:
        """Clear the options, overrides, result and errors; keep the webhook selection."""
        with self._hold():
            self.overrides.value = ""
            for name, widget in self.options.items():
                widget.value = self._option_default(name)
            self.notice.value = ""
            self.last_error = None
            self.last_result = None
        self.result.value = render_nothing_sent()
        self._rebuild_preview()

    def close(self) -> None:
        """Stop the receiver this explorer started and close its widgets."""
        if self._owns_receiver and self.receiver is not None:
            self.receiver.stop()
        for widget in _walk(self.widget):
            widget.close()

    # -- internals -----------------------------------------------------------------------------

    def _hold(self) -> _Hold:
        return _Hold(self)

    def _report(self, action: str, exc: BaseException) -> None:
        self.last_error = exc
        try:
            self.notice.value = _notice(f"Could not {action}: {_describe_error(exc)}")
        except Exception:  # noqa: BLE001 - the last line of defence must not raise itself
            pass

    def _option_default(self, name: str) -> Any:
        for et in event_types():
            for opt in et.options:
                if opt.name == name:
                    return opt.default
        return None

    def _refresh_webhooks(self, select: str | None = None) -> None:
        webhooks = self.simulator.list_webhooks()
        self._webhooks = {wh.id: wh for wh in webhooks}
        keep = select if select in self._webhooks else self.webhook.value
        if keep not in self._webhooks:
            keep = DEMO_WEBHOOK_ID if DEMO_WEBHOOK_ID in self._webhooks else (webhooks[0].id if webhooks else None)
        with self._hold():
            self.webhook.options = [(wh.label, wh.id) for wh in webhooks]
            self.webhook.value = keep
        self._apply_webhook()

    def _apply_webhook(self) -> None:
        """Everything that follows from the selected webhook: events, URL check, buttons, preview."""
        wh = self._selected()
        has_any = bool(self._webhooks)
        _show(self.empty, not has_any)
        self.edit.disabled = self.delete.disabled = wh is None
        if self._form_mode is None and not has_any:
            self._open_form("create")
        _show(self.form_box, self._form_mode is not None)
        _show(self.form_cancel, has_any)
        self.url_check.value = _url_warning(wh.url) if wh else ""
        events = list(wh.events) if wh else []
        with self._hold():
            current = self.event.value
            self.event.options = events
            self.event.value = current if current in events else (events[0] if events else None)
        self._apply_event()

    def _apply_event(self) -> None:
        for name, row in self.option_rows.items():
            _show(row, self.event.value in self._option_events.get(name, ()))
        self._rebuild_preview()

    def _selected(self) -> Webhook | None:
        value = self.webhook.value
        return self._webhooks.get(value) if isinstance(value, str) else None

    def _rebuild_preview(self) -> None:
        if self._quiet:
            return
        self.current_preview = None
        wh = self._selected()
        if wh is None:
            self.preview.value = _panel(_muted("No webhook selected: create one (see the form above)."))
        elif not self.event.value:
            self.preview.value = _panel(_muted("This webhook subscribes to no event type."))
        else:
            lines: list[tuple[int, str, Any]] = []
            try:
                lines = _parse_override_lines(self.overrides.value)
                overrides = [(path, value) for _, path, value in lines]
                options = {
                    name: widget.value
                    for name, widget in self.options.items()
                    if self.event.value in self._option_events.get(name, ())
                }
                seed = self.seed.value
                self.current_preview = self.simulator.preview(
                    wh, self.event.value, overrides=overrides, seed=seed, options=options
                )
            except Exception as exc:  # noqa: BLE001 - shown inline: a bad override is normal input
                self.last_error = exc
                message = _describe_error(exc)
                line = next((n for n, path, _ in lines if path == getattr(exc, "path", None)), None)
                if line is not None:
                    message = f"line {line}: {message}"
                self.preview.value = render_preview_error(message)
            else:
                self.last_error = None
                self.preview.value = render_preview(self.current_preview)
        self._update_send_state()

    def _update_send_state(self) -> None:
        bursting = self.burst_running
        self.send.disabled = self._in_flight or bursting or self.current_preview is None
        self.send.description = SENDING_LABEL if self._in_flight else SEND_LABEL
        self.burst_run.disabled = self._in_flight or bursting or self.current_preview is None
        self.burst_run.description = "Running…" if bursting else "Run burst"

    @property
    def burst_running(self) -> bool:
        thread = getattr(self, "_burst_thread", None)
        return thread is not None and thread.is_alive()

    def wait_for_burst(self, timeout: float | None = None) -> BurstResult | None:
        """Wait for a burst started with the Run burst button; returns it (None if none ran)."""
        thread = self._burst_thread
        if thread is not None:
            thread.join(timeout)
        return self.last_burst

    def _refresh_history(self) -> None:
        frame = self.simulator.history(limit=self.history_rows)
        total = self.simulator.store.history_count() if len(frame) >= self.history_rows else len(frame)
        self.history_table.value = render_history(frame, total)

    def _open_form(self, mode: str, wh: Webhook | None = None) -> None:
        self._form_mode = mode
        self._editing = wh.id if wh else None
        with self._hold():
            self.form_name.value = wh.name if wh else ""
            self.form_url.value = wh.url if wh else ""
            self.form_secret.value = ""
            for name, box in self.form_events.items():
                box.value = (name in wh.events) if wh else True
        if mode == "edit" and wh is not None:
            self.form_title.value = f"<b>Edit webhook</b> {html.escape(wh.name)} " + _muted(f"({wh.id})")
            self.form_submit.description = "Save changes"
            self.form_secret.placeholder = "leave empty to keep the current secret"
        else:
            self.form_title.value = "<b>Create a reseller webhook</b>"
            self.form_submit.description = "Create webhook"
            self.form_secret.placeholder = "optional: leave empty to generate one"
        self.form_message.value = ""
        self.form_url_check.value = _url_warning(self.form_url.value) if self.form_url.value else ""
        _show(self.form_box, True)

    def _close_form(self) -> None:
        self._form_mode = None
        self._editing = None
        self.form_message.value = ""
        self.form_secret.value = ""  # never leave a secret in widget state (it syncs to the page)
        _show(self.form_box, False)
        if not self._webhooks:  # the empty state always offers the form
            self._open_form("create")

    def _verify_all_local_webhooks(self) -> None:
        """Let the receiver this explorer started verify every webhook aimed at it.

        The secrets are looked up on each request, so webhooks created, edited or rotated later
        (from the form, say) are verified too, not only the demo webhook.
        """
        if self.receiver is not None:
            self.receiver.secrets = local_webhook_secrets(self.simulator, self.receiver)

    # -- handlers ------------------------------------------------------------------------------

    @_guarded("change the webhook")
    def _on_webhook_change(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        self._cancel_delete()
        self._apply_webhook()

    @_guarded("change the event type")
    def _on_event_change(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        self._apply_event()

    @_guarded("rebuild the preview")
    def _on_input_change(self, change: dict[str, Any]) -> None:
        self._rebuild_preview()

    @_guarded("draw a new seed")
    def _on_new_seed_click(self, _button: w.Button | None = None) -> None:
        self.seed.value = self._seeds.randrange(1_000_000)

    @_guarded("send the simulation")
    def _on_send_click(self, _button: w.Button | None = None) -> None:
        preview = self.current_preview
        if preview is None or self._in_flight or self.burst_running:
            return
        self.notice.value = ""
        self._in_flight = True
        self._update_send_state()
        self.result.value = render_sending(preview)
        try:
            # Simulator.send never raises and is bounded by the delivery deadline.
            result = self.simulator.send(preview)
        finally:
            self._in_flight = False
            self._update_send_state()
        self.last_result = result
        self.result.value = render_result(result)
        self._refresh_history()
        if result.error in (WEBHOOK_NOT_FOUND, EVENT_NOT_REGISTERED):
            # The store changed under the selection: show the webhooks as they are now.
            self._refresh_webhooks()
        for callback in self._callbacks:
            callback(result)

    @_guarded("run the burst")
    def _on_burst_click(self, _button: w.Button | None = None) -> None:
        preview, wh = self.current_preview, self._selected()
        if preview is None or wh is None or self.burst_running or self._in_flight:
            return
        n = int(self.burst_count.value)
        concurrency = int(self.burst_concurrency.value)
        rate = float(self.burst_rate.value) or None
        self.notice.value = ""
        self.burst_result.value = _panel(_muted(f"Sending {n} × {preview.event_type} to {wh.url} …"))
        self.burst_progress.max = n
        self.burst_progress.value = 0

        def progress(done: int, total: int) -> None:
            self.burst_progress.value = done

        def work() -> None:
            # Runs on its own thread so the kernel stays responsive; widget updates travel as
            # comm messages, which any thread may send.
            try:
                burst = self.simulator.send_many(
                    wh.id, preview.event_type, n, concurrency=concurrency, rate=rate,
                    repeat_payload=bool(self.burst_repeat.value), preview=preview, progress=progress,
                )
                self.last_burst = burst
                self.burst_result.value = render_burst(burst)
            except Exception as exc:  # noqa: BLE001 - shown in the panel, never raised into the kernel
                self.last_error = exc
                self.burst_result.value = _panel(_notice(f"Could not run the burst: {_describe_error(exc)}"))
            finally:
                self._burst_thread = None
                try:
                    self._update_send_state()
                    self._refresh_history()
                except Exception as exc:  # noqa: BLE001
                    self.last_error = exc

        self._burst_thread = threading.Thread(target=work, name="simlib-explorer-burst", daemon=True)
        self._burst_thread.start()
        self._update_send_state()

    @_guarded("open the form")
    def _on_new_webhook_click(self, _button: w.Button | None = None) -> None:
        self._cancel_delete()
        self._open_form("create")

    @_guarded("edit the webhook")
    def _on_edit_click(self, _button: w.Button | None = None) -> None:
        self._cancel_delete()
        wh = self._selected()
        if wh is not None:
            self._open_form("edit", self.simulator.get_webhook(wh.id))

    @_guarded("delete the webhook")
    def _on_delete_click(self, _button: w.Button | None = None) -> None:
        wh = self._selected()
        if wh is None:
            return
        self.delete_question.value = (
            f"Delete webhook <b>{html.escape(wh.name)}</b> ({html.escape(wh.id)})? "
            + _muted("Its past attempts stay in the history.")
        )
        _show(self.confirm_box, True)

    @_guarded("delete the webhook")
    def _on_delete_confirm_click(self, _button: w.Button | None = None) -> None:
        wh = self._selected()
        self._cancel_delete()
        if wh is None:
            return
        self.simulator.delete_webhook(wh.id)
        if self._editing == wh.id:
            self._form_mode = self._editing = None
        self.notice.value = _notice(f"Deleted webhook {wh.name} ({wh.id}).", GREEN)
        self._refresh_webhooks()

    @_guarded("cancel")
    def _on_delete_cancel_click(self, _button: w.Button | None = None) -> None:
        self._cancel_delete()

    def _cancel_delete(self) -> None:
        self.delete_question.value = ""
        _show(self.confirm_box, False)

    @_guarded("check the URL")
    def _on_form_url_change(self, change: dict[str, Any]) -> None:
        url = self.form_url.value
        self.form_url_check.value = _url_warning(url) if url.strip() else ""

    @_guarded("save the webhook")
    def _on_form_submit_click(self, _button: w.Button | None = None) -> None:
        events = [name for name, box in self.form_events.items() if box.value]
        secret = self.form_secret.value or None
        try:
            if self._form_mode == "edit" and self._editing is not None:
                wh = self.simulator.update_webhook(
                    self._editing, name=self.form_name.value, url=self.form_url.value, events=events, secret=secret
                )
                done = f"Saved webhook {wh.name}."
            else:
                wh = self.simulator.create_webhook(self.form_name.value, self.form_url.value, events, secret=secret)
                done = f"Created webhook {wh.name} ({wh.id})."
        except SimlibError as exc:  # bad input: say what to fix, next to the form
            self.last_error = exc
            self.form_message.value = _notice(_describe_error(exc))
            return
        self.last_error = None
        self._form_mode = self._editing = None
        self.form_message.value = ""
        self.form_secret.value = ""  # never leave a secret in widget state (it syncs to the page)
        self.notice.value = _notice(done, GREEN)
        self._refresh_webhooks(select=wh.id)

    @_guarded("close the form")
    def _on_form_cancel_click(self, _button: w.Button | None = None) -> None:
        self._close_form()

    @_guarded("start the local receiver")
    def _on_use_local_click(self, _button: w.Button | None = None) -> None:
        form_mode = self._form_mode or "create"
        if self.receiver is None or not self.receiver.running:
            self.receiver, _demo = start_demo(self.simulator)
            self._owns_receiver = True
            self._verify_all_local_webhooks()
        self._form_mode = form_mode
        self.form_url.value = self.receiver.url
        if not self.form_name.value.strip():
            self.form_name.value = "Local receiver"
        self.form_message.value = _notice(
            f"Local receiver listening at {self.receiver.base_url}; it verifies signatures. The webhook "
            "'Demo receiver (local)' points at it too.",
            GREEN,
        )
        self._refresh_webhooks()


class _Hold:
    """Suppress preview rebuilds while the explorer changes several widgets itself."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    def __enter__(self) -> None:
        self.explorer._quiet += 1

    def __exit__(self, *exc: object) -> None:
        self.explorer._quiet -= 1


def _show(widget: w.Widget, visible: bool) -> None:
    widget.layout.display = "" if visible else "none"


def _url_warning(url: str) -> str:
    check = production_check(url)
    if check.ok:
        return ""
    return (
        f'<div style="color:{AMBER};margin:2px 0 2px 114px">⚠ {html.escape(check.message)}. '
        "Fine for local testing; production needs a public HTTPS URL.</div>"
    )


def in_voila() -> bool:
    """True inside a Voilà app's kernel (Voilà sets ``VOILA_KERNEL_ID``): notebook cells that
    act on the user's behalf, such as a scripted send, skip themselves there."""
    import os

    return bool(os.environ.get("VOILA_KERNEL_ID"))


def _walk(widget: w.Widget) -> Iterable[w.Widget]:
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from _walk(child)
