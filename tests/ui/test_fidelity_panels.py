"""Issue 14 in the explorer, against the real embedded receiver: the receiver panel's new
switches (re-serialising, flat payload, secrets by organisation, rate limit), the "many
organisations, one URL" button, the organisation id in the webhook form, and a 429 with its
Retry-After in the result panel."""

from __future__ import annotations

import json

import httpx

from simlib import sign
from simlib.ui.receiver_tab import ReceiverPanel
from tests.helpers import ACT, APP
from tests.ui.helpers import send_and_wait, text_of


def panel_of(explorer) -> ReceiverPanel:
    panel = explorer.tools["Local receiver"]
    assert isinstance(panel, ReceiverPanel)
    return panel


def test_the_reserialising_and_flat_payload_switches(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel, rx = panel_of(explorer), explorer.receiver
    secret = sim.get_webhook("demo").secret.reveal()
    escaped = b'{"name":"Caf\\u00e9"}'
    assert httpx.post(rx.url, content=escaped, headers=sign(secret, escaped, sim.now_ms())).status_code == 200
    panel.reserialize.value = True
    assert rx.reserialize
    assert httpx.post(rx.url, content=escaped, headers=sign(secret, escaped, sim.now_ms())).status_code == 401
    send_and_wait(explorer)  # simlib's own bytes are what JSON.stringify writes: still accepted
    assert explorer.last_result.http_status == 200
    panel.reserialize.value = False
    panel.flat.value = True
    send_and_wait(explorer)
    assert explorer.last_result.http_status == 400 and "organisationId" in explorer.last_result.response_body


def test_rate_limit_shows_429_and_its_retry_after_in_the_result_panel(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel, rx = panel_of(explorer), explorer.receiver
    panel.retry_after.value = 42
    panel.rate.value = 1
    assert rx.rate_limit == (1, 60.0) and rx.retry_after == 42
    send_and_wait(explorer)
    send_and_wait(explorer)
    r = explorer.last_result
    assert r.http_status == 429 and r.retry_after == "42"
    shown = text_of(explorer.result_panel.html.value)
    assert "Rate limited" in shown and "Retry-After 42" in shown
    panel.refresh(force=True)
    assert "rate limited (not verified)" in text_of(panel.feed.value)
    panel.rate.value = 0
    assert rx.rate_limit is None


def test_many_organisations_button_and_secrets_chosen_by_organisation(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    panel, rx = panel_of(explorer), explorer.receiver
    panel.org_count.value = 3
    panel.many_orgs.click()  # on a worker thread: the click returns at once
    assert panel.wait(30) and not panel.many_orgs.disabled
    assert panel.by_org.value and rx.org_secrets is not None
    orgs = [wh for wh in sim.list_webhooks() if wh.organisation_id]
    assert len(orgs) == 3 and all(wh.url == rx.url for wh in orgs)
    assert "3 of 3 delivered" in text_of(panel.message.value)
    listed = {value for _, value in explorer.webhooks_panel.webhook.options}
    assert {wh.id for wh in orgs} <= listed  # the dropdown shows them without a manual Refresh
    got = [json.loads(r.body) for r in rx.requests[-3:]]
    assert [g["data"]["organisation"]["organisationId"] for g in got] == [wh.organisation_id for wh in orgs]
    assert all(wh.secret.reveal() not in panel.message.value for wh in orgs)
    # the demo webhook carries no organisation id: an organisation-aware receiver refuses it
    send_and_wait(explorer)
    assert explorer.last_result.http_status == 401
    panel.by_org.value = False
    send_and_wait(explorer)
    assert explorer.last_result.http_status == 200


def test_the_webhook_form_sets_and_clears_the_organisation_id(sim, make_explorer):
    explorer = make_explorer(sim, demo=True)
    form = explorer.form_panel
    form.open("create")
    form.name.value, form.url.value = "Org A", "http://127.0.0.1:9/hooks"
    for name, box in form.events.items():
        box.value = name in (ACT, APP)
    form.organisation.value = "org-a"
    form.submit.click()
    wh = next(w for w in sim.list_webhooks() if w.name == "Org A")
    assert wh.organisation_id == "org-a"
    form.open("edit", wh)
    assert form.organisation.value == "org-a"
    form.organisation.value = ""
    form.submit.click()
    assert sim.get_webhook(wh.id).organisation_id is None
    form.open("create")
    form.name.value, form.url.value, form.organisation.value = "Bad", "http://127.0.0.1:9/h2", "no spaces"
    form.submit.click()
    assert "organisation_id" in text_of(form.message.value)
    assert not any(w.name == "Bad" for w in sim.list_webhooks())


def test_many_organisations_runs_off_the_main_thread(sim, make_explorer):
    """Issue 10: every long action runs on a worker thread; N sends to a slow receiver are one."""
    import time

    explorer = make_explorer(sim, demo=True)
    panel, rx = panel_of(explorer), explorer.receiver
    panel.delay.value = 1500  # the receiver answers each send after 1.5 s
    assert rx.delay_ms == 1500
    panel.org_count.value = 2
    t0 = time.monotonic()
    panel.many_orgs.click()
    returned = time.monotonic() - t0
    assert panel.orgs_job.running and panel.many_orgs.disabled  # still sending ...
    assert returned < 1.4  # ... while the kernel is free for the next event (below the 1.5 s of one send)
    assert "Sending from 2 organisations" in text_of(panel.message.value)
    assert panel.wait(30) and time.monotonic() - t0 >= 1.5  # the sends did wait for the slow receiver
    assert "2 of 2 delivered" in text_of(panel.message.value) and not panel.many_orgs.disabled
