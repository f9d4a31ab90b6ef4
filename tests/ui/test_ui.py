"""The explorer, driven headlessly like a user: set ``.value``, call ``.click()``, read ``HTML.value``.

The fixtures (``make_explorer``, and the autouse check that no widget callback raised) are in
``conftest.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import ipywidgets
import pytest

import simlib
from simlib import Simulator, verify
from simlib.errors import OverrideError, ValidationError
from simlib.receiver import Receiver
from simlib.ui import (
    AMBER,
    GREEN,
    GREY,
    ORANGE,
    RED,
    Explorer,
    highlight_json,
    parse_overrides_text,
    status_colour,
    theme,
)
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT, free_port
from tests.ui.helpers import history_rows, send_and_wait, text_of, visible

UI_PACKAGE = Path(simlib.__file__).resolve().parent / "ui"


# --- selection and preview -----------------------------------------------------------------------


def test_webhook_dropdown_lists_name_and_url_and_event_dropdown_follows_it(sim, make_explorer):
    everything = sim.create_webhook("Everything", "https://a.example.com/hooks", ALL_EVENTS)
    shots = sim.create_webhook("Shots only", "https://b.example.com/hooks", [SHOT])
    explorer = make_explorer(sim)

    assert explorer.webhook.options == (
        ("Everything — https://a.example.com/hooks", everything.id),
        ("Shots only — https://b.example.com/hooks", shots.id),
    )
    assert explorer.webhook.value == everything.id
    assert explorer.event.options == tuple(ALL_EVENTS)

    explorer.webhook.value = shots.id
    assert explorer.event.options == (SHOT,)
    assert explorer.event.value == SHOT
    assert explorer.current_preview.webhook_id == shots.id

    explorer.webhook.value = everything.id
    assert explorer.event.options == tuple(ALL_EVENTS)
    assert explorer.event.value == SHOT  # still subscribed: the choice is kept


def test_preview_shows_exactly_the_bytes_that_will_be_sent(sim, make_explorer):
    sim.create_webhook("Hooks", "https://a.example.com/hooks", ALL_EVENTS)
    explorer = make_explorer(sim)
    preview = explorer.current_preview
    shown = text_of(explorer.preview.value)
    assert preview.pretty in shown
    assert '"simulation": true' in shown
    assert "https://a.example.com/hooks" in shown
    assert not explorer.send.disabled


def test_every_input_changes_the_preview(sim, make_explorer):
    sim.create_webhook("One", "https://a.example.com/hooks", ALL_EVENTS)
    two = sim.create_webhook("Two", "https://b.example.com/hooks", ALL_EVENTS)
    explorer = make_explorer(sim)
    seen = [(explorer.preview.value, explorer.current_preview)]

    def changed() -> None:
        value, preview = explorer.preview.value, explorer.current_preview
        assert value != seen[-1][0], "the preview panel did not change"
        assert preview is not None and preview != seen[-1][1]
        assert preview.pretty in text_of(value)
        seen.append((value, preview))

    explorer.webhook.value = two.id
    changed()
    assert explorer.current_preview.url == "https://b.example.com/hooks"
    explorer.event.value = ACT
    changed()
    assert visible(explorer.option_rows["work_mode"])
    explorer.work_mode.value = False
    changed()
    assert explorer.current_preview.payload["data"]["activity"]["workMode"] is False
    explorer.seed.value = 12345
    changed()
    assert explorer.current_preview.seed == 12345
    explorer.overrides.value = "data.activity.workMode=true"
    changed()
    assert explorer.current_preview.payload["data"]["activity"]["workMode"] is True
    explorer.new_seed.click()
    changed()
    explorer.overrides.value = ""
    changed()
    explorer.event.value = APP
    changed()
    assert not visible(explorer.option_rows["work_mode"])


def test_the_same_inputs_give_the_same_preview(store_path, make_explorer):
    sim = Simulator(store_path, clock=lambda: 1_769_591_601_771)  # payloads carry the clock's time
    sim.create_webhook("One", "https://a.example.com/hooks", ALL_EVENTS)
    explorer = make_explorer(sim)
    first = explorer.current_preview
    explorer.seed.value = first.seed + 1
    explorer.seed.value = first.seed
    assert explorer.current_preview.body == first.body


def test_overrides_are_applied_and_bad_ones_are_shown_inline(sim, make_explorer):
    sim.create_webhook("One", "https://a.example.com/hooks", [APP])
    explorer = make_explorer(sim)

    explorer.overrides.value = '# a comment\ndata.0.tracking.app.name="Slack"\n\ndata.0.tracking.trackingMode=offline'
    tracking = explorer.current_preview.payload["data"][0]["tracking"]
    assert (tracking["app"]["name"], tracking["trackingMode"]) == ("Slack", "offline")
    assert explorer.last_error is None

    explorer.overrides.value = 'data.0.tracking.app.name="Slack"\ndata.0.tracking.nope=1'
    assert explorer.current_preview is None
    assert explorer.send.disabled
    assert isinstance(explorer.last_error, OverrideError)
    shown = text_of(explorer.preview.value)
    assert "line 2" in shown and "no field 'nope'" in shown

    explorer.overrides.value = "data.0.tracking.app={oops"
    assert "not valid JSON" in text_of(explorer.preview.value)
    assert explorer.send.disabled

    explorer.overrides.value = "no equals sign"
    assert "expected path=value" in text_of(explorer.preview.value)

    explorer.overrides.value = ""
    assert explorer.current_preview is not None
    assert not explorer.send.disabled
    assert explorer.last_error is None


def test_a_bad_seed_is_an_inline_error(sim, make_explorer):
    sim.create_webhook("One", "https://a.example.com/hooks", [APP])
    explorer = make_explorer(sim)
    explorer.seed.value = -1
    assert isinstance(explorer.last_error, ValidationError)
    assert "seed" in text_of(explorer.preview.value)
    assert explorer.send.disabled


def test_parse_overrides_text_names_the_line():
    assert parse_overrides_text('a.b=1\n  \n# x\nc="d"') == [("a.b", 1), ("c", "d")]
    with pytest.raises(OverrideError, match="line 3"):
        parse_overrides_text("a=1\nb=2\n=3")


# --- sending --------------------------------------------------------------------------------------


def test_send_delivers_exactly_the_previewed_bytes_and_records_them(sim, demo, make_explorer):
    rx, wh = demo
    explorer = make_explorer(sim, receiver=rx)
    explorer.select(wh, SHOT)
    preview = explorer.current_preview
    assert history_rows(explorer) == 0

    send_and_wait(explorer)

    request = rx.wait_for(1)[-1]
    assert request.body == explorer.current_preview.body == preview.body
    verdict = verify(request.headers, request.body, sim.get_webhook(wh.id).secret.reveal())
    assert verdict.ok, verdict.reason
    assert request.verified

    result = explorer.last_result
    assert result is not None and result.delivered and result.http_status == 200
    panel = text_of(explorer.result.value)
    for text in ("Simulation Result", "200 OK", "✓ Delivered", "Latency", " ms", "Sent Payload", "Endpoint Response"):
        assert text in panel
    assert f"x-webhook-signature: {request.header('x-webhook-signature')}" in panel
    assert f"x-webhook-timestamp: {request.header('x-webhook-timestamp')}" in panel
    assert preview.pretty in panel
    assert '"verified": true' in panel  # the endpoint's JSON response, pretty-printed
    assert GREEN in explorer.result.value

    assert history_rows(explorer) == 1
    frame = explorer.history
    assert len(frame) == 1 and frame.loc[0, "result"] == "Delivered"
    assert frame.loc[0, "payload"] == preview.text
    assert frame.equals(sim.history())
    assert not explorer.send.disabled


def test_send_is_disabled_while_in_flight(sim, make_explorer):
    seen: list[tuple[bool, str]] = []
    holder: list[Explorer] = []
    rx = Receiver(on_request=lambda r: seen.append((holder[0].send.disabled, holder[0].send.description)))
    rx.start()
    try:
        wh = sim.create_webhook("Local", rx.url, [APP])
        explorer = make_explorer(sim)
        holder.append(explorer)
        explorer.select(wh)
        send_and_wait(explorer)
        assert seen == [(True, "Sending…")]
        assert not explorer.send.disabled
        assert explorer.send.description == "Send Test Event"
    finally:
        rx.stop()


def test_deleted_webhook_shows_webhook_not_found(sim, demo, make_explorer):
    rx, wh = demo
    other = sim.create_webhook("Other", "https://other.example.com/hooks", [APP])
    explorer = make_explorer(sim, receiver=rx)
    explorer.select(other)
    sim.delete_webhook(other.id)  # deleted after it was selected (another tab, the CLI ...)

    send_and_wait(explorer)

    assert explorer.last_result.error == "Webhook not found"
    panel = text_of(explorer.result.value)
    assert "Webhook not found (404) — the webhook was deleted after it was selected" in panel
    assert "✗ Failed" in panel
    assert other.id not in [value for _, value in explorer.webhook.options]  # the list is refreshed
    assert history_rows(explorer) == 1
    assert rx.count == 0


def test_unsubscribed_event_shows_event_type_not_registered(sim, demo, make_explorer):
    rx, wh = demo
    explorer = make_explorer(sim, receiver=rx)
    explorer.select(wh, SHOT)
    sim.update_webhook(wh, events=[APP])

    send_and_wait(explorer)

    assert explorer.last_result.error == "Event type not registered"
    panel = text_of(explorer.result.value)
    assert "Event type not registered (400)" in panel
    assert "not in this webhook's subscribed events" in panel
    assert explorer.event.options == (APP,)
    assert rx.count == 0


def test_unreachable_url_shows_network_error(sim, make_explorer):
    wh = sim.create_webhook("Gone", f"http://127.0.0.1:{free_port()}/hooks", [APP])
    explorer = make_explorer(sim)
    explorer.select(wh)

    send_and_wait(explorer)

    result = explorer.last_result
    assert result.error == "Network error" and result.http_status is None
    panel = text_of(explorer.result.value)
    assert "Network error" in panel and "Your endpoint is unreachable" in panel
    assert "✗ Failed" in panel and "no HTTP response" in panel
    # refused: the request never left, so its payload is "not sent" and no header shows as sent
    assert "Payload (not sent)" in panel and "Sent Payload" not in panel
    assert "x-webhook-signature" not in panel and result.request_headers  # signed, but never sent
    assert "Network error" in text_of(explorer.history_table.value)


def test_endpoint_500_is_failed_in_red(sim, make_explorer):
    with Receiver(status=500) as rx:
        wh = sim.create_webhook("Broken", rx.url, [APP])
        explorer = make_explorer(sim)
        explorer.select(wh)
        send_and_wait(explorer)

    result = explorer.last_result
    assert result.http_status == 500 and not result.delivered and result.error is None
    panel = text_of(explorer.result.value)
    assert "500 Internal Server Error" in panel and "✗ Failed" in panel
    assert "Simulation error" not in panel  # an endpoint answer, not a simulation error
    assert f"background:{RED}" in explorer.result.value
    assert f'<b style="color:{RED}">500</b>' in explorer.history_table.value


def test_history_table_is_newest_first_with_status_colours(sim, make_explorer):
    with Receiver(status=200) as ok, Receiver(status=404) as missing:
        first = sim.create_webhook("Fine", ok.url, [APP])
        second = sim.create_webhook("Wrong path", missing.url, [APP])
        explorer = make_explorer(sim)
        explorer.select(first)
        send_and_wait(explorer)
        explorer.select(second)
        send_and_wait(explorer)
    rows = re.findall(r'<tr class="simlib-history-row">(.*?)</tr>', explorer.history_table.value)
    assert len(rows) == 2
    assert "Wrong path" in rows[0] and f'color:{ORANGE}">404' in rows[0]
    assert "Fine" in rows[1] and f'color:{GREEN}">200' in rows[1]
    assert list(explorer.history.webhook_name) == ["Fine", "Wrong path"]  # the DataFrame: oldest first


def test_history_table_shows_the_newest_rows_only(sim, make_explorer):
    with Receiver() as rx:
        wh = sim.create_webhook("Local", rx.url, [APP])
        explorer = make_explorer(sim, history_rows=2)
        explorer.select(wh)
        for _ in range(3):
            send_and_wait(explorer)
    assert history_rows(explorer) == 2
    assert "Newest 2 of 3 attempts" in text_of(explorer.history_table.value)
    assert len(explorer.history) == 3


def test_endpoint_response_is_escaped(sim, make_explorer):
    with Receiver(body="<img src=x onerror=alert(1)>", content_type="text/html") as rx:
        wh = sim.create_webhook("Hostile", rx.url, [APP])
        explorer = make_explorer(sim)
        explorer.select(wh)
        send_and_wait(explorer)
    assert "<img" not in explorer.result.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in explorer.result.value


def test_callbacks_get_every_result(sim, demo, make_explorer):
    rx, wh = demo
    explorer = make_explorer(sim, receiver=rx)
    got = []
    explorer.register_callback(got.append)
    send_and_wait(explorer)
    assert got == [explorer.last_result]


def test_a_failing_handler_is_shown_not_raised(sim, demo, make_explorer, monkeypatch):
    rx, wh = demo
    explorer = make_explorer(sim, receiver=rx)

    def boom(preview, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(explorer.simulator, "send", boom)
    send_and_wait(explorer)

    assert isinstance(explorer.last_error, RuntimeError)
    assert "Could not send the simulation: RuntimeError: boom" in text_of(explorer.notice.value)
    assert not explorer.send.disabled  # the in-flight state was reset
    explorer.notice.value = ""  # expected here; the fixture would flag it otherwise


def test_click_hides_handler_exceptions_which_is_why_the_fixture_exists(caplog):
    button = ipywidgets.Button()

    def crash(_):
        raise ValueError("hidden")

    button.on_click(crash)
    button.click()  # does not raise
    assert any("Exception in callback" in r.getMessage() for r in caplog.records)
    caplog.clear()


# --- embedded default, empty state, managing webhooks -------------------------------------------


def test_with_demo_is_ready_to_send(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    assert explorer.webhook.value == "demo"
    assert explorer.receiver is not None and explorer.receiver.running
    assert not explorer.send.disabled
    assert not visible(explorer.empty) and not visible(explorer.form_box)
    assert "Trackpilots would reject this URL" in text_of(explorer.url_check.value)
    send_and_wait(explorer)
    assert explorer.last_result.delivered
    assert explorer.receiver.requests[-1].verified


def test_explorer_repr_prefix_is_deterministic(tmp_path, make_explorer):
    bundles = []
    for name in ("a", "b"):
        sim = Simulator(tmp_path / f"{name}.sqlite3")
        explorer = make_explorer(sim, demo=True, seed=None)
        bundles.append(explorer._repr_mimebundle_())
        assert explorer.widget._repr_mimebundle_()["text/plain"] == bundles[-1]["text/plain"]
        sim.close()
    first, second = (b["text/plain"] for b in bundles)
    assert first == second
    assert len(first) == 111 and first.endswith("…")
    assert "127.0.0.1" not in first and "demo" not in first
    assert "application/vnd.jupyter.widget-view+json" in bundles[0]


def test_empty_state_offers_a_form_and_creates_a_webhook(sim, make_explorer):
    explorer = make_explorer(sim)
    assert explorer.webhook.options == ()
    assert visible(explorer.empty) and visible(explorer.form_box)
    assert not visible(explorer.form_cancel)
    assert explorer.send.disabled and explorer.current_preview is None
    assert "No webhooks yet?" in text_of(explorer.empty.value)

    explorer.form_name.value = "Staging"
    explorer.form_url.value = "https://staging.example.com/hooks"
    assert explorer.form_url_check.value == ""
    explorer.form_events[ACT].value = False
    explorer.form_secret.value = "a-chosen-secret-123"
    explorer.form_submit.click()

    (wh,) = sim.list_webhooks()
    assert (wh.name, wh.url, wh.events) == ("Staging", "https://staging.example.com/hooks", (APP, SHOT))
    assert wh.secret.reveal() == "a-chosen-secret-123"
    assert explorer.webhook.value == wh.id
    assert explorer.event.options == (APP, SHOT)
    assert not visible(explorer.empty) and not visible(explorer.form_box)
    assert not explorer.send.disabled
    assert "Created webhook Staging" in text_of(explorer.notice.value)


def test_form_shows_production_warning_for_urls_trackpilots_rejects(sim, make_explorer):
    explorer = make_explorer(sim)
    explorer.form_url.value = "http://192.168.1.20:8080/hooks"
    warning = text_of(explorer.form_url_check.value)
    assert "Trackpilots would reject this URL" in warning
    assert "not HTTPS" in warning and "private address" in warning
    explorer.form_url.value = "https://hooks.example.com/trackpilots"
    assert explorer.form_url_check.value == ""


def test_form_errors_are_shown_next_to_the_form(sim, make_explorer):
    explorer = make_explorer(sim)
    explorer.form_name.value = "Bad"
    explorer.form_url.value = "ftp://example.com/hooks"
    explorer.form_submit.click()
    assert "scheme must be http or https" in text_of(explorer.form_message.value)
    assert isinstance(explorer.last_error, ValidationError)
    assert sim.list_webhooks() == []

    explorer.form_url.value = "https://example.com/hooks"
    for box in explorer.form_events.values():
        box.value = False
    explorer.form_submit.click()
    assert "at least one event" in text_of(explorer.form_message.value)
    assert sim.list_webhooks() == []


def test_use_local_receiver_gives_a_working_endpoint(sim, make_explorer):
    explorer = make_explorer(sim)
    explorer.use_local.click()

    rx = explorer.receiver
    assert rx is not None and rx.running
    assert explorer.form_url.value == rx.url + "/local"  # the marker of a "Use local receiver" webhook
    assert visible(explorer.form_box)  # still open: the user can create their own webhook
    assert "Local receiver listening" in text_of(explorer.form_message.value)
    assert sim.list_webhooks() == []  # nothing created behind the user's back
    assert "Trackpilots would reject this URL" in text_of(explorer.form_url_check.value)

    explorer.form_name.value = "My local test"
    explorer.form_submit.click()
    mine = [wh for wh in sim.list_webhooks() if wh.name == "My local test"]
    assert len(mine) == 1 and explorer.webhook.value == mine[0].id

    send_and_wait(explorer)
    assert explorer.last_result.delivered, explorer.last_result.detail
    assert rx.requests[-1].verified  # the receiver also trusts the new webhook's secret


def test_edit_a_webhook_from_the_explorer(sim, make_explorer):
    wh = sim.create_webhook("Old name", "https://a.example.com/hooks", ALL_EVENTS)
    explorer = make_explorer(sim)
    explorer.event.value = ACT
    explorer.edit.click()
    assert visible(explorer.form_box)
    assert explorer.form_submit.description == "Save changes"
    assert (explorer.form_name.value, explorer.form_url.value) == ("Old name", "https://a.example.com/hooks")
    assert all(box.value for box in explorer.form_events.values())

    explorer.form_name.value = "New name"
    explorer.form_url.value = "https://b.example.com/hooks"
    explorer.form_events[ACT].value = False
    explorer.form_submit.click()

    updated = sim.get_webhook(wh.id)
    assert (updated.name, updated.url, updated.events) == ("New name", "https://b.example.com/hooks", (APP, SHOT))
    assert updated.secret == wh.secret  # left empty: kept
    assert explorer.webhook.options == (("New name — https://b.example.com/hooks", wh.id),)
    assert explorer.event.options == (APP, SHOT)
    assert explorer.current_preview.url == "https://b.example.com/hooks"
    assert not visible(explorer.form_box)


def test_delete_a_webhook_after_confirmation(sim, make_explorer):
    a = sim.create_webhook("A", "https://a.example.com/hooks", [APP])
    b = sim.create_webhook("B", "https://b.example.com/hooks", [APP])
    explorer = make_explorer(sim)
    explorer.select(a)

    explorer.delete.click()
    assert visible(explorer.confirm_box) and "Delete webhook A" in text_of(explorer.delete_question.value)
    explorer.delete_cancel.click()
    assert not visible(explorer.confirm_box)
    assert len(sim.list_webhooks()) == 2

    explorer.delete.click()
    explorer.delete_confirm.click()
    assert [wh.id for wh in sim.list_webhooks()] == [b.id]
    assert explorer.webhook.value == b.id

    explorer.delete.click()
    explorer.delete_confirm.click()
    assert sim.list_webhooks() == []
    assert visible(explorer.empty) and visible(explorer.form_box)
    assert explorer.send.disabled


# --- pure helpers and module rules ------------------------------------------------------------


def test_highlight_json_escapes_and_colours():
    out = highlight_json('{\n  "k": "<b>x</b>",\n  "n": -1.5,\n  "t": true\n}')
    assert "<b>" not in out and "&lt;b&gt;x&lt;/b&gt;" in out
    assert text_of(out) == '{\n  "k": "<b>x</b>",\n  "n": -1.5,\n  "t": true\n}'
    assert out.count("<span") == 13


def test_status_colour_by_class():
    assert [status_colour(s) for s in (200, 204, 302, 404, 429, 500, 503, None)] == [
        GREEN, GREEN, AMBER, ORANGE, ORANGE, RED, RED, GREY
    ]
    assert len({GREEN, AMBER, ORANGE, RED, GREY}) == 5


def test_every_colour_is_a_jupyterlab_variable_defined_in_the_theme():
    colours = {name: value for name, value in vars(theme).items() if name.isupper() and isinstance(value, str)}
    colours.update({f"JSON_COLOURS[{k}]": v for k, v in theme.JSON_COLOURS.items()})
    for name in ("GREEN", "AMBER", "ORANGE", "RED", "GREY", "TEXT", "MUTED", "BORDER", "PANEL", "CODE_BG"):
        assert re.fullmatch(r"var\(--jp-[a-z0-9-]+, #[0-9a-f]{6}\)", colours[name]), (name, colours[name])
    for kind, value in theme.JSON_COLOURS.items():
        assert value.startswith("var(--jp-mirror-editor-"), kind
    # the fallbacks are the status palette the history notebook's charts use
    assert GREEN.endswith(f"{simlib.STATUS_PALETTE['2xx']})") and RED.endswith(f"{simlib.STATUS_PALETTE['5xx']})")
    # no other module of the package spells a colour
    for path in sorted(UI_PACKAGE.glob("*.py")):
        if path.name != "theme.py":
            source = path.read_text(encoding="utf-8")
            assert not re.search(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|var\(--", source), path.name


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import in ``path``, at any depth (inside functions and
    ``if TYPE_CHECKING`` blocks too); relative imports resolved against simlib.ui."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(["simlib", "ui"][: 3 - node.level] + ([module] if module else []))
            found.append((module, [alias.name for alias in node.names]))
    return found


def test_ui_package_uses_only_what_simlib_exports():
    """Rule 3 for simlib/ui: httpx, sqlite3 and hmac never; from simlib only exported names;
    no simlib submodule outside simlib.ui itself."""
    files = sorted(UI_PACKAGE.glob("*.py"))
    assert {p.name for p in files} >= {"__init__.py", "explorer.py", "theme.py", "render.py"}
    for path in files:
        for module, names in _imports(path):
            top = module.split(".")[0]
            assert top not in ("httpx", "sqlite3", "hmac"), f"{path.name} imports {module}"
            if module == "simlib":
                unexported = sorted(set(names) - set(simlib.__all__))
                assert not unexported, f"{path.name} imports {unexported} which simlib does not export"
            elif top == "simlib":
                assert module.startswith("simlib.ui."), f"{path.name} imports the submodule {module}"
    # no Output capture (always empty headless): panels are HTML widgets whose value is set
    for path in files:
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"with\s+(self\.)?\w*out\w*\s*:", source), path.name
        assert ".capture(" not in source and "Output(" not in source, path.name
        assert ".store" not in source, f"{path.name} reaches past the Simulator into its store"


def test_panels_stay_small():
    """Rule 7: small panels; the explorer composes them. About 200 lines a class or module."""
    for path in sorted(UI_PACKAGE.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert source.count("\n") <= 220, f"{path.name} has {source.count(chr(10))} lines"
        for node in ast.parse(source).body:
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 200, f"{path.name}: class {node.name} has {length} lines"


def test_reset_clears_inputs_and_result_but_keeps_the_selection(sim, demo, make_explorer):
    rx, wh = demo
    explorer = make_explorer(sim, receiver=rx)
    explorer.select(wh, ACT)
    explorer.work_mode.value = False
    explorer.overrides.value = "data.nope=1"
    explorer.overrides.value = ""
    send_and_wait(explorer)
    explorer.overrides.value = "data.nope=1"

    explorer.reset()

    assert (explorer.webhook.value, explorer.event.value) == (wh.id, ACT)
    assert explorer.overrides.value == "" and explorer.work_mode.value is True
    assert explorer.last_result is None and explorer.last_error is None
    assert "Nothing sent yet" in text_of(explorer.result.value)
    assert explorer.current_preview.payload["data"]["activity"]["workMode"] is True
    assert history_rows(explorer) == 1  # the history is never cleared


def test_the_explorers_receiver_follows_secret_changes(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    sim.rotate_secret("demo")
    send_and_wait(explorer)
    assert explorer.last_result.delivered and explorer.receiver.requests[-1].verified

    explorer.edit.click()
    explorer.form_secret.value = "a-brand-new-secret-42"
    explorer.form_submit.click()
    send_and_wait(explorer)
    assert explorer.last_result.delivered, explorer.last_result.detail
    assert explorer.receiver.requests[-1].verification.matched_secret == 0
