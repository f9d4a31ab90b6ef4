"""The Explain tab: raw headers and a raw body (pasted, or loaded from a history row), checked
with a webhook's secrets or a pasted one: the verdict, the most likely cause, the signed string,
expected vs received. Requests come from a real send to the embedded receiver on 127.0.0.1. A
pasted secret never stays in a widget and never appears in the page."""

from __future__ import annotations

import json

import pytest

from simlib import Simulator
from simlib.ui import GREEN, RED, Explorer
from simlib.ui.base import walk
from simlib.ui.explain import ANY, PASTED
from tests.helpers import ACT, APP
from tests.ui.helpers import send_and_wait, text_of, visible


@pytest.fixture
def sent(sim: Simulator, make_explorer):
    """An explorer with the demo webhook, after one real send: (explorer, panel, request as received)."""
    explorer = make_explorer(sim, demo=True)
    explorer.select("demo", ACT)
    send_and_wait(explorer)
    assert explorer.last_result.delivered
    return explorer, explorer.tools["Explain"], explorer.receiver.requests[-1]


def paste(panel, headers, body: bytes) -> None:
    panel.headers.value = "\n".join(f"{k}: {v}" for k, v in headers)
    panel.body.value = body.decode("utf-8")


def verdict(panel) -> str:
    return text_of(panel.result.value)


def test_a_request_as_received_is_valid_for_the_demo_webhook(sent):
    explorer, panel, req = sent
    assert panel.picker.value == "demo"
    paste(panel, req.headers, req.body)
    panel.explain.click()
    text = verdict(panel)
    assert "VALID" in text and "INVALID" not in text and "the signature is valid for webhook demo" in text
    assert f"background:{GREEN}" in panel.result.value
    sig = req.header("x-webhook-signature")
    assert text.count(sig) == 2  # expected and received, the same
    ts = req.header("x-webhook-timestamp")
    assert f"{ts}." in text  # the signed string: timestamp, a dot, the body


def test_a_re_serialised_body_is_named_as_the_cause(sent):
    _explorer, panel, req = sent
    tampered = json.dumps(json.loads(req.body), indent=2).encode()  # pretty-printed by a logger
    paste(panel, req.headers, tampered)
    panel.explain.click()
    ex = panel.last_explanation
    assert ex.cause == "body_reserialised"
    text = verdict(panel)
    assert "INVALID" in text and "body_reserialised" in text and "re-formatted after it was signed" in text
    assert "verify the raw request bytes" in text  # what now
    assert f"background:{RED}" in panel.result.value
    assert ex.expected_signature and ex.expected_signature != ex.received_signature
    assert ex.expected_signature in text and ex.received_signature in text


def test_checked_with_the_wrong_webhook_names_the_webhook_that_signed_it(sim, sent):
    _explorer, panel, req = sent
    other = sim.create_webhook("Customer", "http://127.0.0.1:9/hook", [ACT])
    panel.picker.reload.click()
    panel.picker.dropdown.value = other.id
    paste(panel, req.headers, req.body)
    panel.explain.click()
    assert panel.last_explanation.cause == "other_webhook_secret"
    text = verdict(panel)
    assert f"signed with the secret of webhook demo, not with webhook {other.id}'s secret" in text
    assert "Signed by" in text


def test_a_trailing_newline_is_named(sent):
    _explorer, panel, req = sent
    paste(panel, req.headers, req.body + b"\n")
    panel.explain.click()
    assert panel.last_explanation.cause == "body_whitespace" and "trailing newline" in verdict(panel)


def test_a_history_row_loads_its_headers_and_exact_body(sim, sent):
    explorer, panel, req = sent
    row_id = explorer.last_result.history_id
    panel.picker.dropdown.value = ANY
    panel.history_id.value = str(row_id)
    panel.load.click()
    assert "Loaded history row" in verdict(panel)
    assert panel.body.value.encode() == req.body
    assert req.header("x-webhook-signature") in panel.headers.value
    assert panel.picker.value == "demo"  # the row's webhook
    panel.explain.click()
    assert panel.last_explanation.valid


def test_a_pasted_secret_is_used_but_never_kept_in_a_widget_or_shown(sim, sent):
    explorer, panel, req = sent
    secret = sim.get_webhook("demo").secret.reveal()
    paste(panel, req.headers, req.body)
    assert not visible(panel.secret)
    panel.picker.dropdown.value = PASTED
    assert visible(panel.secret)
    panel.secret.value = secret
    assert panel.secret.value == "" and panel.has_secret  # taken out of the widget at once
    assert "kept" in panel.secret.placeholder
    panel.explain.click()
    assert panel.last_explanation.valid and "the secret you pasted" in verdict(panel)
    for widget in walk(explorer.widget):
        for name in ("value", "placeholder", "description", "tooltip"):
            value = getattr(widget, name, None)
            assert not (isinstance(value, str) and secret in value), (type(widget).__name__, name)

    panel.secret.value = "not-the-right-secret-at-all"
    panel.explain.click()
    assert panel.last_explanation.cause in ("wrong_secret", "other_webhook_secret")
    assert "not-the-right-secret-at-all" not in panel.result.value


def test_pasted_secret_missing_says_so(sent):
    _explorer, panel, req = sent
    paste(panel, req.headers, req.body)
    panel.picker.dropdown.value = PASTED
    panel.explain.click()
    assert "Paste the secret first" in verdict(panel)


def test_bad_input_is_one_readable_line(sim, sent):
    _explorer, panel, req = sent
    panel.headers.value = "this is not a header line"
    panel.body.value = "{}"
    panel.explain.click()
    text = verdict(panel)
    assert text.startswith("Could not explain the signature:") and "Name: value" in text and "Traceback" not in text
    panel.history_id.value = "9999"
    panel.load.click()
    assert verdict(panel).startswith("Could not load history row 9999:")
    panel.history_id.value = "abc"
    panel.load.click()
    assert "whole number" in verdict(panel)


def test_missing_headers_are_explained_not_raised(sim: Simulator):
    sim.create_webhook("One", "http://127.0.0.1:9/hook", [APP])
    explorer = Explorer(sim)
    try:
        panel = explorer.tools["Explain"]
        panel.body.value = '{"event":"x"}'
        panel.explain.click()
        assert panel.last_explanation.cause == "missing_signature"
        assert "no x-webhook-signature header" in verdict(panel)
    finally:
        explorer.close()


def test_a_one_byte_change_with_the_right_secret_is_named_against_the_bytes_sent(sent):
    explorer, panel, req = sent
    pos = req.body.index(b'"timestamp":') + len(b'"timestamp":')
    changed = req.body[:pos] + bytes([req.body[pos] ^ 1]) + req.body[pos + 1 :]  # one digit altered on the way
    paste(panel, req.headers, changed)
    panel.explain.click()
    ex = panel.last_explanation
    assert ex.cause == "body_changed" and ex.first_difference == pos
    text = verdict(panel)
    assert "the secret is most likely wrong" not in text and "the body was changed after signing" in text
    assert f"attempt #{explorer.last_result.history_id}: the body first differs at byte {pos}" in text


def test_another_pages_demo_webhook_is_neither_tried_nor_named(sim: Simulator, sent):
    """Several pages on one store: Explain tries only the secrets of the webhooks this page
    lists, so a request signed by another page's demo webhook is not attributed to it (its id
    would tell this page about the other's webhook). The Python API, unrestricted, does name it:
    the restriction is what hides it."""
    from simlib import sign
    from simlib.demo import DEMO_WEBHOOK_NAME
    from simlib.receiver import DEFAULT_PATH

    _explorer, panel, req = sent
    other = sim.create_webhook(DEMO_WEBHOOK_NAME, f"http://127.0.0.1:1{DEFAULT_PATH}", [ACT],
                               id="demo-other-page", secret="another-pages-secret-0123456789")
    headers = sign("another-pages-secret-0123456789", req.body, sim.now_ms())
    unrestricted = sim.explain_signature(list(headers.items()), req.body)
    assert unrestricted.valid and other.id in json.dumps([list(c) for c in unrestricted.checks])
    panel.picker.dropdown.value = ANY
    paste(panel, list(headers.items()), req.body)
    panel.explain.click()
    text = verdict(panel)
    assert "INVALID" in text and other.id not in text, text
    assert other.id not in json.dumps([list(c) for c in panel.last_explanation.checks])


def test_the_composers_webhook_falls_back_to_the_others_on_every_body_variant(sim: Simulator, sent):
    """The default "Check with" is the composer's webhook: a request signed by another
    configured webhook whose body was pretty-printed by a logger gets the diagnosis "every
    configured webhook" gives (re-serialised), not "the secret is most likely wrong": the other
    webhooks are tried on the same body variants as the chosen one."""
    explorer, panel, req = sent
    very_slow = sim.create_webhook("VerySlow", "http://127.0.0.1:9/very-slow", [ACT])
    explorer.refresh()
    explorer.select(very_slow.id)
    assert panel.picker.value == very_slow.id  # the default: the composer's webhook
    pretty = json.dumps(json.loads(req.body), indent=2).encode()
    paste(panel, req.headers, pretty)
    panel.explain.click()
    ex, text = panel.last_explanation, verdict(panel)
    assert ex.cause == "body_reserialised", text
    assert "verify the raw request bytes before parsing" in text and "secret is most likely wrong" not in text
    assert ex.matched_webhook == "demo" and f"not with webhook {very_slow.id}'s secret" in text
    assert any(result == "match: webhook demo" for _, result in ex.checks), ex.checks
    panel.picker.dropdown.value = ANY  # the same diagnosis as every configured webhook by hand
    panel.explain.click()
    assert panel.last_explanation.cause == "body_reserialised"
    assert "verify the raw request bytes before parsing" in verdict(panel)


def test_with_nothing_pasted_explain_asks_for_the_request_and_gives_no_verdict(sent):
    _explorer, panel, _req = sent
    panel.headers.value, panel.body.value = "  \n", ""
    panel.explain.click()
    text = verdict(panel)
    assert text.strip() == "Paste the headers and the raw body (or load a row) first.", text
    assert "INVALID" not in text and "Signed string" not in text and panel.last_explanation is None


def test_a_page_loads_only_its_own_attempts_and_never_blames_the_secret_of_a_webhook_it_cannot_see(
    store_path, make_explorer
) -> None:
    """Several pages on one store (the History tab's "This page's sends only" scope): Load row
    refuses another page's attempt, loading nothing; that page's request pasted by hand is said
    to be signed by a webhook this page cannot see, not "wrongly signed", and the other page's
    webhook is not named. A notebook's explorer (no page scope) still loads every row."""
    with Simulator(store_path) as sim_a, Simulator(store_path) as sim_b:
        a = make_explorer(sim_a, demo=True, page_sends_only=True)
        b = make_explorer(sim_b, demo=True, page_sends_only=True)
        for page in (a, b):
            page.select(page.webhook.value, ACT)
            send_and_wait(page)
            assert page.last_result.delivered
        own, others = a.last_result.history_id, b.last_result.history_id
        panel = a.tools["Explain"]
        panel.history_id.value = f"#{others}"
        panel.load.click()
        assert verdict(panel).strip() == f"Attempt #{others} is not one of this page's attempts.", verdict(panel)
        assert panel.headers.value == "" and panel.body.value == ""  # nothing loaded
        panel.history_id.value = str(own)
        panel.load.click()
        assert "Loaded history row" in verdict(panel)
        panel.explain.click()
        assert panel.last_explanation.valid

        req = b.receiver.requests[-1]  # the other page's correctly signed request, pasted by hand
        changed = req.body.replace(b'"event"', b'"Event"', 1)  # and with one byte changed on the way
        for pick, body in ((a.webhook.value, req.body), (ANY, req.body), (ANY, changed)):
            panel.picker.dropdown.value = pick
            paste(panel, req.headers, body)
            panel.explain.click()
            ex, text = panel.last_explanation, verdict(panel)
            assert ex.cause == "unknown_webhook" and "wrong" not in text, text
            assert "a webhook this page cannot see" in text, text
            assert ("exactly the bytes it sent" in text) == (body == req.body), text
            assert b.webhook.value not in text and b.webhook.value not in json.dumps([list(c) for c in ex.checks])

        a.tools["History"].grid.filters.mine.value = False  # History shows everyone's sends: so does Load row
        panel.history_id.value = str(others)
        panel.load.click()
        assert "Loaded history row" in verdict(panel) and panel.body.value.encode() == req.body
        a.tools["History"].grid.filters.mine.value = True
        panel.load.click()
        assert verdict(panel).strip() == f"Attempt #{others} is not one of this page's attempts."

        notebook = make_explorer(sim_a)  # a notebook's Explorer(sim): no page scope, every row loads
        loose = notebook.tools["Explain"]
        loose.history_id.value = str(others)
        loose.load.click()
        assert "Loaded history row" in verdict(loose) and loose.body.value.encode() == req.body
