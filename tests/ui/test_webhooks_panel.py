"""The webhooks row, driven headlessly against real local receivers: Refresh, the secret (reveal,
copy, rotate, send with the previous one), the local webhooks a kernel restart leaves behind,
and the smaller defects of the row and the form."""

from __future__ import annotations

import json

import ipywidgets.widgets.widget as widget_module
import pytest

from simlib import Receiver, Simulator
from simlib.errors import StoreUnavailable
from simlib.ui import Explorer
from simlib.ui.base import describe_error
from simlib.ui.secret import SecretPanel
from tests.helpers import ACT, ALL_EVENTS, APP
from tests.ui.helpers import send_and_wait, text_of, visible


def page_state() -> str:
    """Everything every live widget would sync to the page (JupyterLab or Voilà), as text."""
    states = [wdg.get_state() for wdg in list(widget_module._instances.values())]
    return json.dumps(states, default=str)


def secret_panel(explorer: Explorer) -> SecretPanel:
    return explorer.webhooks_panel.secret


# --- Refresh ----------------------------------------------------------------------------------


def test_refresh_picks_up_webhooks_another_simulator_added_or_changed(sim, store_path, make_explorer):
    mine = sim.create_webhook("Mine", "https://mine.example.com/hooks", [APP])
    explorer = make_explorer(sim)
    assert [wh.name for wh in explorer.webhooks] == ["Mine"]

    with Simulator(store_path) as other:  # the CLI, another user's kernel, another tab
        theirs = other.create_webhook("Theirs", "https://theirs.example.com/hooks", [APP])
        other.update_webhook(mine.id, url="https://mine.example.com/v2")
    assert [wh.name for wh in explorer.webhooks] == ["Mine"]  # nothing changes by itself

    explorer.webhooks_panel.reload.click()

    assert [label for label, _ in explorer.webhook.options] == [
        "Mine — https://mine.example.com/v2", "Theirs — https://theirs.example.com/hooks"
    ]
    assert explorer.webhook.value == mine.id  # the selection is kept
    assert explorer.current_preview.url == "https://mine.example.com/v2"  # and the preview follows
    notice = text_of(explorer.notice.value)
    assert "Reloaded 2 webhooks" in notice and "new: Theirs" in notice and "changed: Mine" in notice
    explorer.select(theirs)
    assert not explorer.send.disabled


# --- two people on one webhook ------------------------------------------------------------------


def test_two_pages_editing_one_webhook_the_second_save_is_refused_and_undoes_nothing(sim, store_path, make_explorer):
    wh = sim.create_webhook("Slow", "https://example.com/slow", [APP])
    with Simulator(store_path) as other_sim:
        a, b = make_explorer(sim), make_explorer(other_sim)  # two pages of one server
        a.edit.click()
        b.edit.click()
        b.form_url.value = "https://example.com/ok"
        b.form_submit.click()
        assert "Saved webhook Slow" in text_of(b.notice.value)

        a.form_name.value = "Slow (renamed)"  # A's form still holds the URL it opened with
        a.form_submit.click()

        said = text_of(a.webhooks_panel.form.message.value)
        assert said.startswith("Nothing was saved: the webhook 'Slow' was changed by someone else (URL changed)")
        assert "Edit again" in said and "what you typed is still here" in said
        assert visible(a.form_box) and a.form_name.value == "Slow (renamed)"  # nothing typed is lost
        now = sim.get_webhook(wh.id)
        assert (now.name, now.url) == ("Slow", "https://example.com/ok")  # B's change stands

        a.form_cancel.click()  # then Edit again starts from the current version, and saves
        a.webhooks_panel.reload.click()
        a.edit.click()
        assert a.form_url.value == "https://example.com/ok"
        a.form_name.value = "Slow (renamed)"
        a.form_submit.click()
        assert (sim.get_webhook(wh.id).name, sim.get_webhook(wh.id).url) == ("Slow (renamed)", "https://example.com/ok")

        a.edit.click()  # a webhook deleted meanwhile: said so, with what to do
        other_sim.delete_webhook(wh.id)
        a.form_submit.click()
        assert text_of(a.webhooks_panel.form.message.value) == (
            "Nothing was saved: the webhook 'Slow (renamed)' was deleted by someone else (another page, a notebook "
            "or the CLI) since you opened it. Press Cancel, then Refresh."
        )
        a.form_cancel.click()
        b.webhooks_panel.reload.click()


def test_a_send_after_someone_else_moved_the_webhook_goes_nowhere_until_the_preview_shows_it(sim, store_path, make_explorer):
    with Receiver() as old, Receiver() as new:
        wh = sim.create_webhook("Moved", old.url, [APP])
        explorer = make_explorer(sim)
        assert explorer.current_preview.url == old.url
        with Simulator(store_path) as other:  # another page saves a new URL
            other.update_webhook(wh.id, url=new.url)

        explorer.send.click()
        explorer.wait(60)

        assert explorer.last_result is None and old.requests == [] and new.requests == []  # nothing sent
        assert len(sim.history()) == 0
        said = text_of(explorer.notice.value)
        assert said.startswith("Nothing was sent: the webhook 'Moved' was changed by someone else")
        assert f"its URL is now {new.url} (it was {old.url})" in said
        assert explorer.current_preview.url == new.url  # the preview and the list show it now
        assert explorer.webhook.options == ((f"Moved — {new.url}", wh.id),)
        with Simulator(store_path) as other:  # moved back: a burst is refused the same way
            other.update_webhook(wh.id, url=old.url)
        explorer.burst_run.click()
        assert explorer.last_burst is None and not explorer.burst_running
        assert old.requests == [] and new.requests == [] and len(sim.history()) == 0
        assert f"its URL is now {old.url} (it was {new.url})" in text_of(explorer.notice.value)
        assert explorer.current_preview.url == old.url

        send_and_wait(explorer)  # the preview shows where it goes: it goes
        assert explorer.last_result.delivered and len(old.requests) == 1 and new.requests == []


# --- the secret --------------------------------------------------------------------------------


def test_the_secret_is_on_the_page_only_after_reveal_and_until_the_next_action(sim, make_explorer):
    wh = sim.create_webhook("Mine", "https://mine.example.com/hooks", ALL_EVENTS, secret="a-very-secret-value-123456")
    explorer = make_explorer(sim)
    panel = secret_panel(explorer)
    assert "********3456" in text_of(panel.line.value)  # masked
    assert "a-very-secret-value-123456" not in page_state()  # nothing before the click

    panel.reveal.click()

    assert "a-very-secret-value-123456" in text_of(panel.revealed.value)
    assert 'class="simlib-secret"' in panel.revealed.value and "user-select:all" in panel.revealed.value
    copy = panel.revealed.value.split("<button", 1)[1]
    assert "navigator.clipboard" in copy and "Copy" in copy
    assert "a-very-secret-value-123456" not in copy  # the button copies from the page, the secret is not in its script
    assert wh.secret.reveal() in page_state()

    explorer.event.value = ACT  # the next action, whatever it is, takes it off the page again
    assert panel.revealed.value == ""
    assert "a-very-secret-value-123456" not in page_state()


def test_rotate_then_send_signed_with_the_previous_secret_is_accepted_within_the_grace_period(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel = secret_panel(explorer)
    before = sim.get_webhook("demo")
    assert panel.send_previous.disabled  # no previous secret yet

    panel.rotate.click()
    assert visible(panel.rotate_box)
    panel.grace.value = 1.0
    panel.rotate_confirm.click()

    after = sim.get_webhook("demo")
    assert after.secret != before.secret and after.previous_secret == before.secret
    assert 3_599_000 <= after.previous_secret_expires_ms - sim.now_ms() <= 3_600_000
    assert "Rotated the secret of Demo receiver (local)" in text_of(explorer.notice.value)
    assert "previous secret still valid until" in text_of(panel.line.value)
    assert not panel.send_previous.disabled and not visible(panel.rotate_box)
    explorer.notice.value = ""

    panel.send_previous.click()
    result = explorer.last_result
    assert result.delivered, result.detail
    received = explorer.receiver.requests[-1]
    assert received.verified and received.verification.matched_secret == 1  # the receiver knows both; the old one matched
    assert received.header("x-webhook-signature") == result.request_headers["x-webhook-signature"]

    panel.reveal.click()  # during the grace period both are shown
    shown = text_of(panel.revealed.value)
    assert after.secret.reveal() in shown and before.secret.reveal() in shown

    # with no grace at all, the previous secret is refused by a correct receiver
    panel.rotate.click()
    panel.grace.value = 0.0
    panel.rotate_confirm.click()
    explorer.notice.value = ""
    panel.send_previous.click()
    assert explorer.last_result.http_status == 401
    assert "previous secret expired" in text_of(panel.line.value)


def test_send_previous_without_a_previous_secret_is_disabled(sim, make_explorer):
    sim.create_webhook("Mine", "https://mine.example.com/hooks", [APP])
    explorer = make_explorer(sim)
    assert secret_panel(explorer).send_previous.disabled


# --- local webhooks after a kernel restart ----------------------------------------------------


def test_a_local_webhook_survives_a_kernel_restart_with_a_one_click_fix(store_path, make_explorer):
    first = Simulator(store_path)
    explorer = make_explorer(first)
    explorer.use_local.click()
    explorer.form_name.value = "My local test"
    explorer.form_submit.click()
    send_and_wait(explorer)
    assert explorer.last_result.delivered
    old_port = explorer.receiver.port
    explorer.close()  # the kernel ends: its receiver goes with it
    first.close()

    second = Simulator(store_path)  # the restarted kernel: a new explorer, a new receiver
    try:
        explorer = make_explorer(second, demo=True)
        stale = explorer.webhooks_panel.stale
        assert visible(stale.box)
        warning = text_of(stale.html.value)
        assert "'My local test' points at a local receiver that is no longer running" in warning
        assert f"127.0.0.1:{old_port}" in warning
        assert "Demo receiver" not in warning  # the demo webhook was re-pointed by with_demo

        mine = next(wh for wh in explorer.webhooks if wh.name == "My local test")
        explorer.select(mine)
        send_and_wait(explorer)
        assert explorer.last_result.error == "Network error"
        explorer.notice.value = ""

        stale.fix.click()

        fixed = second.get_webhook(mine.id)
        assert fixed.url == explorer.receiver.url + "/local"
        assert not visible(stale.box)
        assert "Re-pointed My local test" in text_of(explorer.notice.value)
        assert explorer.webhook.value == mine.id and explorer.current_preview.url == fixed.url
        send_and_wait(explorer)
        assert explorer.last_result.delivered and explorer.receiver.requests[-1].verified
    finally:
        second.close()


def test_a_local_webhook_of_another_live_receiver_is_not_stale(sim, make_explorer):
    with Receiver() as other_page:  # another Voilà page's receiver, alive
        sim.create_webhook("Theirs", other_page.url + "/local", [APP])
        explorer = make_explorer(sim, demo=True)
        assert not visible(explorer.webhooks_panel.stale.box)


# --- "Use local receiver" ----------------------------------------------------------------------


def test_use_local_receiver_in_a_fresh_store_creates_nothing_and_claims_nothing(sim, make_explorer):
    explorer = make_explorer(sim)
    explorer.use_local.click()
    assert sim.list_webhooks() == []
    message = text_of(explorer.form_message.value)
    assert "Local receiver listening at" in message
    assert "Demo receiver" not in message and "Already aimed" not in message  # no webhook points at it yet

    explorer.form_submit.click()
    (wh,) = sim.list_webhooks()
    assert wh.url == explorer.receiver.url + "/local"

    explorer.new_webhook.click()  # the same again: the form asks before a second webhook with that URL
    explorer.use_local.click()
    explorer.form_submit.click()
    assert len(sim.list_webhooks()) == 1
    assert "already uses this URL" in text_of(explorer.form_message.value)
    explorer.form_submit.click()
    assert len(sim.list_webhooks()) == 2


def test_use_local_receiver_names_the_webhooks_already_aimed_at_it(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    explorer.new_webhook.click()
    explorer.use_local.click()
    assert "Already aimed at it: 'Demo receiver (local)'" in text_of(explorer.form_message.value)
    assert len(sim.list_webhooks()) == 1


# --- the smaller defects -------------------------------------------------------------------------


def test_an_invalid_url_gets_one_red_line_not_an_amber_one_beside_it(sim, make_explorer):
    explorer = make_explorer(sim)
    explorer.form_name.value = "Bad"
    explorer.form_url.value = "not a url"
    check = text_of(explorer.form_url_check.value)
    assert "not a valid URL" in check and "Fine for local testing" not in check

    explorer.form_url.value = "ftp://example.com/hooks"
    explorer.form_submit.click()
    assert "url: scheme must be http or https" in text_of(explorer.form_message.value)
    assert explorer.form_url_check.value == ""  # no amber "fine for local testing" beside the red line

    explorer.form_url.value = "http://127.0.0.1:9/hooks"  # edited: the red line no longer applies
    assert explorer.form_message.value == ""
    assert "Fine for local testing" in text_of(explorer.form_url_check.value)


def test_after_webhook_not_found_nothing_is_selected_and_send_waits_for_a_pick(sim, demo, make_explorer):
    rx, wh = demo
    other = sim.create_webhook("Other", "https://other.example.com/hooks", [APP])
    explorer = make_explorer(sim, receiver=rx)
    explorer.select(other)
    sim.delete_webhook(other.id)  # by the CLI or another user

    send_and_wait(explorer)

    assert explorer.last_result.error == "Webhook not found"
    assert explorer.webhook.value is None  # no silent switch to another webhook
    assert explorer.send.disabled and explorer.current_preview is None
    assert "The webhook 'Other' no longer exists" in text_of(explorer.notice.value)
    assert "Webhook not found" in text_of(explorer.result.value)  # the result says what happened

    explorer.webhooks_panel.reload.click()  # a refresh does not pick either
    assert explorer.webhook.value is None and explorer.send.disabled

    explorer.webhook.value = wh.id  # the user picks
    assert not explorer.send.disabled
    assert "Nothing sent yet" in text_of(explorer.result.value)  # the other webhook's result went


def test_the_last_result_goes_when_switching_webhooks_or_deleting_them_all(sim, demo, make_explorer):
    rx, demo_wh = demo
    other = sim.create_webhook("Other", rx.url, [APP])
    explorer = make_explorer(sim, receiver=rx)
    explorer.select(demo_wh)
    send_and_wait(explorer)
    assert "Simulation Result" in text_of(explorer.result.value) and "✓ Delivered" in text_of(explorer.result.value)
    explorer.event.value = ACT  # same webhook: the result stays
    assert "✓ Delivered" in text_of(explorer.result.value)

    explorer.select(other)
    assert "Nothing sent yet" in text_of(explorer.result.value)

    send_and_wait(explorer)
    for _ in range(2):
        explorer.delete.click()
        explorer.delete_confirm.click()
    assert sim.list_webhooks() == []
    assert "Nothing sent yet" in text_of(explorer.result.value)


@pytest.mark.parametrize("path", ["/srv/simlib/store.sqlite3", "C:\\Users\\x\\store.sqlite3"])
def test_a_store_error_is_described_without_its_path(path):
    said = describe_error(StoreUnavailable(f"store {path}: database is locked"))
    assert said.startswith("the store is unavailable") and "store.sqlite3" not in said
