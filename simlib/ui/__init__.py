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

The package is small panels composed by :class:`Explorer` (``explorer.py``):

=============  ==================================================================================
module         what it holds
=============  ==================================================================================
theme          every colour, as a JupyterLab ``--jp-*`` CSS variable with a fallback, and the CSS
blocks         pure HTML building blocks: panel, code block, badge, row, highlighted JSON
render         pure renderers: preview, result, history, burst (data in, HTML string out)
wording        how a result is worded: error meanings, the detail without store paths or repeats
base           the state panels share (notice line, last error, hold) and the handler guard
webhooks       the webhook dropdown, Edit / Delete / New / Refresh, delete confirmation, empty state
secret         the selected webhook's secret: reveal + copy on a click, rotate, send with the previous
form           the create / edit webhook form and the one-click local receiver
composer       event type, options, seed, overrides, the preview and the Send button
result         the simulation result panel
history        the history table (the newest attempts, a capped count); the History tab follows it
history_*      the History tab: ``history_workbench`` (grid, detail with links, export) composes
               ``history_grid`` (itables' widget fed one keyset page at a time, the pager),
               ``history_filters`` (the filter bar) and ``history_actions`` (Replay with its diff,
               copy as curl / httpx, the JSON fixture); ``history_views`` are its pure renderers
analysis       the Analysis tab over the History filter; ``plots`` draws its charts as PNG
burst          the Burst (load test) panel and its worker thread
receiver       the embedded receiver: given, or started by the explorer (and stopped on close);
               the "Use local receiver" webhooks a kernel restart left behind, and their fix
receiver_tab   the Local receiver tab: start / stop, answers, verification switches, live feed
feed           pure renderers of the Local receiver tab: its state line and the live feed
attributes     the explorer's flat public attributes over its panels (``explorer.send`` ...)
jobs           long workbench actions on a worker thread: elapsed time, cancel event
picker         the workbench tools' webhook dropdown (follows the explorer's, with Reload)
views          pure renderers of the tools: check and probe tables, explanation, import comparison
check          the Receiver check tab: conformance matrix + tolerance probe, count, Cancel
explain        the Explain tab: raw headers + body (or a history row) -> verdict and cause
importer       the Import tab: a pasted or uploaded capture, sent as captured and re-signed
=============  ==================================================================================

It uses only what :mod:`simlib` exports (the Simulator above all): no HTTP, SQL or HMAC here.
"""

from __future__ import annotations

from simlib.ui.base import in_voila
from simlib.ui.blocks import highlight_json, status_colour
from simlib.ui.burst_view import render_burst
from simlib.ui.composer import parse_overrides_text
from simlib.ui.explorer import Explorer
from simlib.ui.render import render_history, render_preview, render_result
from simlib.ui.theme import AMBER, GREEN, GREY, ORANGE, RED

__all__ = [
    "AMBER",
    "GREEN",
    "GREY",
    "ORANGE",
    "RED",
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
