"""Explain checked with one webhook's secret: when it does not match, the other configured
webhooks are tried with every change the chosen one is tried with (signature format, body white
space and encoding, re-serialisation, timestamp unit), so the diagnosis is the one "every
configured webhook" gives, and the webhook that signed it is named (never its secret)."""

from __future__ import annotations

import json

import pytest

from simlib import explain_signature, sign

SLOW, VERY_SLOW = "slow-secret-0123456789abcdef", "very-slow-secret-0123456789"
KNOWN = {"slow": [SLOW], "very-slow": [VERY_SLOW]}
NOW = 1_790_000_000_000
BODY = json.dumps({"event": "desktop.app_tracking.captured", "timestamp": NOW - 5, "data": [{"n": "é"}]},
                  separators=(",", ":"), ensure_ascii=False).encode()


def signed(body: bytes = BODY, ts: int = NOW) -> list[tuple[str, str]]:
    return list(sign(SLOW, body, ts).items())  # signed by webhook "slow"


@pytest.mark.parametrize(
    ("headers", "body", "cause"),
    [
        (signed(), json.dumps(json.loads(BODY), indent=2).encode(), "body_reserialised"),  # pretty-printed in a log
        (signed(), BODY + b"\n", "body_whitespace"),
        (signed(), BODY.decode().encode("latin-1"), "body_encoding"),
        ([(k, v[:-3] if k == "x-webhook-timestamp" else v) for k, v in signed()], BODY, "timestamp_unit"),
        ([(k, f"sha256={v}" if k == "x-webhook-signature" else v) for k, v in signed()], BODY, "signature_format"),
    ],
)
def test_another_webhooks_signature_is_tried_on_every_variant(headers, body, cause):
    anyone = explain_signature(headers, body, known=KNOWN, now_ms=NOW)  # "every configured webhook"
    assert anyone.cause == cause, anyone.to_text()
    ex = explain_signature(headers, body, [VERY_SLOW], known=KNOWN, given_label="webhook very-slow's secret", now_ms=NOW)
    assert ex.cause == cause and ex.matched_webhook == "slow", ex.to_text()
    assert "not with webhook very-slow's secret" in ex.summary and "check with webhook slow's secret" in ex.hint
    assert ("secret is most likely wrong" not in ex.summary) and ("match: webhook slow" in dict(ex.checks).values())
    dumped = ex.to_text() + json.dumps(ex.to_dict())
    assert SLOW not in dumped and VERY_SLOW not in dumped


def test_a_request_no_webhook_signed_in_any_form_is_still_the_wrong_secret():
    headers = list(sign("nobody-configured-this-0123456", BODY, NOW).items())
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    ex = explain_signature(headers, pretty, [VERY_SLOW], known=KNOWN, given_label="webhook very-slow's secret", now_ms=NOW)
    assert ex.cause == "wrong_secret" and ex.matched_webhook is None
    checks = dict(ex.checks)
    assert checks["other configured webhooks"] == "no match with any of 1"
    assert any(check.startswith("body as") and result == "no match, nor with the 1 other webhook"
               for check, result in ex.checks), ex.checks
