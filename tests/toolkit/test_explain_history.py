"""Explain compares a pasted request with the bytes the history recorded as sent: a body changed
or re-encoded on the way is named as such (with the first differing byte), not blamed on the
secret. Against a real send to the embedded receiver."""

from __future__ import annotations

import json

import pytest

from simlib import Simulator
from simlib.toolkit.explain import compare_bodies, first_difference
from tests.helpers import APP


@pytest.fixture
def sent(sim: Simulator, demo):
    """A real send: the request exactly as the receiver got it, and the result."""
    rx, wh = demo
    result = sim.simulate(wh, APP, seed=5)
    assert result.delivered and result.history_id is not None
    (request,) = rx.wait_for(1)
    return wh, request, result


def test_one_byte_changed_with_the_right_secret_is_a_changed_body(sim, sent):
    wh, request, result = sent
    body = bytearray(request.body)
    offset = body.index(b'"event"') + 2
    body[offset] ^= 0x20  # "event" -> "Event": one byte
    ex = sim.explain_signature(list(request.headers), bytes(body), secret=wh.secret.reveal())
    assert ex.cause == "body_changed", ex.to_text()
    assert "secret is most likely wrong" not in ex.summary
    assert ex.history_id == result.history_id and ex.first_difference == offset
    assert f"byte {offset}" in ex.summary and f"#{result.history_id}" in ex.summary
    assert "the secret is right" in ex.hint
    assert any(check.startswith("body against attempt") for check, _ in ex.checks)
    assert ex.to_dict()["first_difference"] == offset


def test_a_webhook_instead_of_a_secret_and_no_secret_at_all(sim, sent):
    wh, request, result = sent
    body = request.body.replace(b'"', b"'", 1)
    by_webhook = sim.explain_signature(list(request.headers), body, webhook=wh.id)
    assert by_webhook.cause == "body_changed" and by_webhook.first_difference == 1  # after the "{"
    anyone = sim.explain_signature(list(request.headers), body)  # every configured webhook's secret
    assert anyone.cause == "body_changed" and anyone.history_id == result.history_id


def test_a_re_encoded_body_is_named_as_re_encoded(sim, sent):
    wh, request, _ = sent
    pretty = json.dumps(json.loads(request.body), indent=1, sort_keys=True).encode()  # no form explain tries
    ex = sim.explain_signature(list(request.headers), pretty, secret=wh.secret.reveal())
    assert ex.cause == "body_reserialised" and "the same JSON" in ex.summary, ex.to_text()


def test_a_changed_timestamp_header_is_named(sim, sent):
    wh, request, result = sent
    headers = [(k, str(int(v) + 7) if k.lower() == "x-webhook-timestamp" else v) for k, v in request.headers]
    ex = sim.explain_signature(headers, request.body, secret=wh.secret.reveal())
    assert ex.cause == "timestamp_changed" and ex.history_id == result.history_id, ex.to_text()


def test_the_wrong_secret_is_still_the_wrong_secret(sim, sent):
    wh, request, result = sent
    other = sim.explain_signature(list(request.headers), request.body, secret="not-the-secret-at-all-0123")
    assert other.cause == "other_webhook_secret" and other.matched_webhook == wh.id  # named, as before
    assert other.history_id == result.history_id
    sim.update_webhook(wh, secret="a-brand-new-secret-0123456789")  # no configured secret signed it now
    ex = sim.explain_signature(list(request.headers), request.body, secret="a-brand-new-secret-0123456789")
    assert ex.cause == "wrong_secret" and ex.history_id == result.history_id and ex.first_difference is None
    assert "exactly the bytes sent" in ex.summary  # the body is not to blame: confirmed by the history
    changed = sim.explain_signature(list(request.headers), request.body + b"x", secret="a-brand-new-secret-0123456789")
    assert changed.cause == "wrong_secret" and "besides, the body differs" in changed.summary


def test_a_request_the_history_does_not_know_is_explained_as_before(sim, sent):
    wh, request, _ = sent
    headers = [(k, "f" * 64 if k.lower() == "x-webhook-signature" else "1700000000000" if k.lower() ==
                "x-webhook-timestamp" else v) for k, v in request.headers]
    ex = sim.explain_signature(headers, request.body, secret=wh.secret.reveal())
    assert ex.cause == "wrong_secret" and ex.history_id is None and ex.first_difference is None


def test_the_cli_gets_it_too(sim, sent, tmp_path, capsys):
    from simlib.cli import main

    wh, request, _ = sent
    headers = tmp_path / "headers.txt"
    headers.write_text("\n".join(f"{k}: {v}" for k, v in request.headers))
    body = tmp_path / "body.json"
    body.write_bytes(request.body.replace(b"{", b"[", 1))
    code = main(["--store", str(sim.store.path), "explain", "--headers", str(headers), "--body", str(body),
                 "--webhook", wh.id])
    out = capsys.readouterr().out
    assert "body_changed" in out and "byte 0" in out, out
    assert code != 0


def test_first_difference_and_compare_bodies():
    assert first_difference(b"abc", b"abc") is None
    assert first_difference(b"abc", b"abd") == 2 and first_difference(b"ab", b"abc") == 2
    assert compare_bodies(b'{"a":1}', b'{"a": 1}')[0] == "body_reserialised"
    assert compare_bodies('{"n":"\u00e9"}'.encode(), '{"n":"e\u0301"}'.encode())[0] == "body_encoding"  # NFD
    cause, words = compare_bodies(b'{"a":1}', b'{"a":2}')
    assert cause == "body_changed" and "first at byte 5" in words


def test_of_several_attempts_with_the_signature_the_one_it_signs_is_compared(sim, sent):
    """A conformance variant or a replay sends a signature again with other bytes: the attempt
    compared is the one the signature was made for, not the newest."""
    from simlib import Preview

    wh, request, result = sent
    tampered = request.body.replace(b'"event"', b'"Event"', 1)
    preview = Preview(wh.id, wh.name, wh.url, APP, tampered, seed=0, event_id="evt-tampered")
    again = sim.send_exact(preview, lambda _wh, _ts: dict(result.request_headers))
    assert again.history_id is not None and again.signature == result.signature
    ex = sim.explain_signature(list(request.headers), tampered, secret=wh.secret.reveal())
    assert ex.cause == "body_changed" and ex.history_id == result.history_id, ex.to_text()


def test_an_attempt_of_a_webhook_whose_secret_cannot_be_checked_is_not_blamed_on_the_secret(sim, sent):
    """The request is exactly an attempt the history recorded, sent by a webhook not among those
    the caller can check (another Voila page's: ``among``) or no longer configured: its secret
    is not to be had, so the verdict says so, and a hidden webhook is neither named nor used."""
    wh, request, result = sent
    team = sim.create_webhook("Team", "http://127.0.0.1:9/team", [APP])
    for kwargs in ({"webhook": team.id}, {}):  # the page's webhook picked, or every one it lists
        ex = sim.explain_signature(list(request.headers), request.body, among=[team], **kwargs)
        assert ex.cause == "unknown_webhook" and not ex.valid, ex.to_text()
        assert ex.history_id == result.history_id and ex.first_difference is None
        assert "a webhook this page cannot see" in ex.summary and "exactly the bytes it sent" in ex.summary
        assert "wrong" not in ex.summary + ex.hint and wh.id not in json.dumps(ex.to_dict())
    changed = request.body.replace(b'"event"', b'"Event"', 1)  # a hidden webhook's secret confirms nothing either
    ex = sim.explain_signature(list(request.headers), changed, among=[team])
    assert ex.cause == "unknown_webhook" and "the body differs" in ex.summary and wh.id not in json.dumps(ex.to_dict())
    assert sim.explain_signature(list(request.headers), changed).cause == "body_changed"  # unrestricted: as before
    sim.delete_webhook(wh)  # from Python, unrestricted: the webhook that sent it is gone, and named
    gone = sim.explain_signature(list(request.headers), request.body, webhook=team.id)
    assert gone.cause == "unknown_webhook" and f"webhook {wh.id}, which is not configured any more" in gone.summary
