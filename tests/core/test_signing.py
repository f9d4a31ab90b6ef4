"""Signing and verification (spec §4, DESIGN.md signing contract, PRACTICE.md §4.4)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simlib.core.signing as signing
from simlib import ValidationError, compute_signature, sign, verify

# Spec §4.3, derived test vector.
VECTOR_SECRET = "test-secret"
VECTOR_TS = "1769592774119"
VECTOR_BODY = (
    b'{"event":"desktop.activity_tracking.captured","version":"v1","agent":"desktop-agent",'
    b'"timestamp":1769592774119,"data":{"organisation":{"organisationId":'
    b'"3c90c3cc-0d44-4b50-8888-8dd25736052a"},"team":{"teamId":"3c90c3cc-0d44-4b50-8888-8dd25736052a"},'
    b'"user":{"userId":"3c90c3cc-0d44-4b50-8888-8dd25736052a"},"activity":{"workMode":false}}}'
)
VECTOR_HEX = "f93d95ec5aca3df6fc43afc10db38ef8b3b225778adeb7297943ebf335af0273"
VECTOR_B64 = "+T2V7FrKPfb8Q6/BDbOO+LOyJXeK3rcpeUPr8zWvAnM="

NOW = 1_769_592_774_119
SECRET = "s3cret-for-verify-tests"
BODY = b'{"event":"x","data":[]}'


def signed(secret: str = SECRET, body: bytes = BODY, ts: int = NOW) -> dict[str, str]:
    return sign(secret, body, ts)


# -- known answers ------------------------------------------------------------------------


def test_vector_body_is_the_documented_337_bytes():
    assert len(VECTOR_BODY) == 337


def test_known_answer_hex_spec_vector():
    assert compute_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY) == VECTOR_HEX
    # The same value computed independently, with hmac directly.
    independent = hmac.new(b"test-secret", b"1769592774119." + VECTOR_BODY, hashlib.sha256).hexdigest()
    assert independent == VECTOR_HEX


def test_known_answer_base64_spec_vector():
    assert compute_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, encoding="base64") == VECTOR_B64
    assert base64.b64decode(VECTOR_B64).hex() == VECTOR_HEX


def test_sign_returns_the_three_delivery_headers():
    headers = sign(VECTOR_SECRET, VECTOR_BODY, int(VECTOR_TS))
    assert headers == {
        "content-type": "application/json",
        "x-webhook-signature": VECTOR_HEX,
        "x-webhook-timestamp": VECTOR_TS,
    }


def test_signature_is_lowercase_hex_of_64_characters():
    sig = sign("K" * 40, b"\xff\x00binary", NOW)["x-webhook-signature"]
    assert len(sig) == 64
    assert sig == sig.lower()
    int(sig, 16)


def test_whsec_prefixed_secret_is_used_as_utf8_not_decoded():
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    got = compute_signature(secret, NOW, BODY)
    as_text = hmac.new(secret.encode("utf-8"), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    decoded_key = base64.b64decode(secret.removeprefix("whsec_"))
    as_decoded = hmac.new(decoded_key, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert got == as_text
    assert got != as_decoded


def test_non_ascii_secret_is_encoded_as_utf8():
    secret = "clé-secrète-東京"
    expected = hmac.new(secret.encode("utf-8"), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(secret, NOW, BODY) == expected


def test_body_must_be_bytes():
    with pytest.raises(TypeError):
        signing.signed_message(NOW, "text body")  # type: ignore[arg-type]


# -- property ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=2048),
    secret=st.text(min_size=1, max_size=80),
    ts=st.integers(min_value=10**12, max_value=10**13 - 1),
    encoding=st.sampled_from(["hex", "base64"]),
)
def test_verify_of_sign_holds_for_any_body_secret_and_timestamp(body, secret, ts, encoding):
    headers = sign(secret, body, ts, encoding=encoding)
    assert headers["x-webhook-timestamp"] == str(ts)
    result = verify(headers, body, secret, now_ms=ts, encoding=encoding)
    assert result.ok, result.reason
    assert result.code == "ok"
    # One changed byte, and the same signature no longer verifies.
    tampered = body + b" " if not body else bytes([body[0] ^ 1]) + body[1:]
    assert not verify(headers, tampered, secret, now_ms=ts, encoding=encoding).ok


# -- verify: one test per reason ------------------------------------------------------------


def test_verify_ok():
    v = verify(signed(), BODY, SECRET, now_ms=NOW)
    assert v.ok and bool(v) and v.code == "ok"
    assert v.timestamp_ms == NOW and v.skew_ms == 0 and v.matched_secret == 0


def test_verify_missing_signature_header():
    headers = signed()
    del headers["x-webhook-signature"]
    v = verify(headers, BODY, SECRET, now_ms=NOW)
    assert not v.ok
    assert v.code == "missing_signature"
    assert "missing header x-webhook-signature" in v.reason


def test_verify_missing_timestamp_header():
    headers = signed()
    del headers["x-webhook-timestamp"]
    v = verify(headers, BODY, SECRET, now_ms=NOW)
    assert not v.ok
    assert v.code == "missing_timestamp"
    assert "x-webhook-timestamp" in v.reason


def test_verify_timestamp_not_a_number():
    headers = signed()
    headers["x-webhook-timestamp"] = "2026-01-28T09:00:00Z"
    v = verify(headers, BODY, SECRET, now_ms=NOW)
    assert not v.ok
    assert v.code == "bad_timestamp"
    assert "not a whole number" in v.reason


def test_verify_timestamp_that_looks_like_seconds():
    seconds = NOW // 1000
    headers = sign(SECRET, BODY, seconds)  # signed correctly, but with a seconds timestamp
    v = verify(headers, BODY, SECRET, now_ms=NOW)
    assert not v.ok
    assert v.code == "timestamp_in_seconds"
    assert "looks like seconds" in v.reason and "10 digits" in v.reason


def test_verify_timestamp_too_old():
    headers = sign(SECRET, BODY, NOW - 300_001)
    v = verify(headers, BODY, SECRET, now_ms=NOW)
    assert not v.ok
    assert v.code == "outside_tolerance"
    assert v.skew_ms == 300_001
    assert "old" in v.reason and "by 1 ms" in v.reason


def test_verify_timestamp_too_far_in_the_future():
    headers = sign(SECRET, BODY, NOW + 400_000)
    v = verify(headers, BODY, SECRET, now_ms=NOW)
    assert not v.ok
    assert v.code == "outside_tolerance"
    assert v.skew_ms == -400_000
    assert "in the future" in v.reason and "by 100000 ms" in v.reason


def test_verify_tolerance_edges_and_configuration():
    assert verify(sign(SECRET, BODY, NOW - 300_000), BODY, SECRET, now_ms=NOW).ok
    assert verify(sign(SECRET, BODY, NOW + 300_000), BODY, SECRET, now_ms=NOW).ok
    far = sign(SECRET, BODY, NOW - 10 * 86_400_000)
    assert not verify(far, BODY, SECRET, now_ms=NOW).ok
    assert verify(far, BODY, SECRET, now_ms=NOW, tolerance_ms=None).ok
    assert not verify(sign(SECRET, BODY, NOW - 1_001), BODY, SECRET, now_ms=NOW, tolerance_ms=1_000).ok


def test_verify_no_signature_matched():
    v = verify(signed(), BODY, "another-secret-entirely", now_ms=NOW)
    assert not v.ok
    assert v.code == "no_match"
    assert v.reason == "no signature matched"


def test_verify_body_changed_by_one_trailing_newline_does_not_match():
    v = verify(signed(), BODY + b"\n", SECRET, now_ms=NOW)
    assert v.code == "no_match"


def test_verify_several_candidate_secrets():
    headers = signed(secret="new-secret-after-rotation")
    v = verify(headers, BODY, ["old-secret-before-rotation", "new-secret-after-rotation"], now_ms=NOW)
    assert v.ok
    assert v.matched_secret == 1
    none = verify(headers, BODY, ["one-wrong-secret", "two-wrong-secret"], now_ms=NOW)
    assert not none.ok
    assert none.code == "no_match"
    assert "2 secrets tried" in none.reason
    assert verify(headers, BODY, [], now_ms=NOW).code == "no_secret"


def test_verify_header_names_are_case_insensitive():
    h = signed()
    upper = {k.upper(): v for k, v in h.items()}
    title = {"X-Webhook-Signature": h["x-webhook-signature"], "X-Webhook-Timestamp": h["x-webhook-timestamp"]}
    pairs = [("X-WEBHOOK-timestamp", h["x-webhook-timestamp"]), ("x-Webhook-Signature", h["x-webhook-signature"])]
    raw = [(k.encode(), v.encode()) for k, v in title.items()]
    for headers in (upper, title, pairs, raw):
        v = verify(headers, BODY, SECRET, now_ms=NOW)
        assert v.ok, (headers, v.reason)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Webhook-Signature": "abc", "content-type": "application/json"},
        [("content-type", "application/json"), ("X-WEBHOOK-SIGNATURE", "abc"), ("x-webhook-signature", "later")],
        [(b"x-Webhook-Signature", b"abc")],
        ((k, v) for k, v in [("X-Webhook-Signature", "abc")]),
    ],
    ids=["mapping", "pairs, first wins", "bytes", "iterator"],
)
def test_header_value_is_the_first_header_of_that_name_in_any_case(headers):
    assert signing.header_value(headers, "x-Webhook-signature") == "abc"


def test_header_value_of_a_missing_header_is_none():
    assert signing.header_value({"x-webhook-timestamp": "1"}, "x-webhook-signature") is None
    assert signing.header_value([], "x-webhook-signature") is None


def test_received_and_captured_requests_look_headers_up_with_header_value():
    from simlib.core.rawhttp import RawRequestView
    from simlib.receiver import ReceivedRequest
    from simlib.toolkit.capture import Capture

    assert issubclass(ReceivedRequest, RawRequestView) and issubclass(Capture, RawRequestView)
    view = RawRequestView()
    view.headers = (("Content-Type", "a"), ("X-Webhook-Timestamp", "1"), ("x-webhook-timestamp", "2"))
    assert view.header("x-WEBHOOK-timestamp") == signing.header_value(view.headers, "x-webhook-timestamp") == "1"


def test_verify_accepts_upper_case_hex_and_surrounding_space():
    h = signed()
    h["x-webhook-signature"] = "  " + h["x-webhook-signature"].upper() + " "
    assert verify(h, BODY, SECRET, now_ms=NOW).ok


def test_verify_rejects_a_signature_that_is_not_hex():
    h = signed()
    h["x-webhook-signature"] = "sha256=" + h["x-webhook-signature"]
    v = verify(h, BODY, SECRET, now_ms=NOW)
    assert not v.ok and v.code == "bad_signature_format"


def test_verify_base64_mode():
    h = sign(VECTOR_SECRET, VECTOR_BODY, int(VECTOR_TS), encoding="base64")
    assert h["x-webhook-signature"] == VECTOR_B64
    assert verify(h, VECTOR_BODY, VECTOR_SECRET, now_ms=int(VECTOR_TS), encoding="base64").ok
    assert not verify(h, VECTOR_BODY, VECTOR_SECRET, now_ms=int(VECTOR_TS)).ok  # hex mode


def test_verify_uses_hmac_compare_digest(monkeypatch):
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    h = signed()
    assert verify(h, BODY, ["wrong-secret-one", SECRET], now_ms=NOW).ok
    assert len(calls) == 2
    assert calls[-1][1] == h["x-webhook-signature"].encode()


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=300),
    secret=st.one_of(st.text(min_size=1, max_size=40), st.binary(min_size=1, max_size=40)),
    stamps=st.lists(st.integers(min_value=0, max_value=2**53), min_size=1, max_size=3),
    encoding=st.sampled_from(["hex", "base64"]),
    unit=st.sampled_from(["ms", "s"]),
)
def test_a_signer_signs_as_sign_does(body, secret, stamps, encoding, unit):
    """signing.signer (a burst's: the HMAC keyed once) gives sign()'s headers for every body and
    timestamp, then the extra headers -- and they verify."""
    headers_for = signing.signer(secret, encoding=encoding, timestamp_unit=unit, also={"user-agent": "ua/1"})
    for ts in stamps:
        got = headers_for(body, ts)
        assert got == {**sign(secret, body, ts, encoding=encoding, timestamp_unit=unit), "user-agent": "ua/1"}
        assert list(got) == ["content-type", "x-webhook-signature", "x-webhook-timestamp", "user-agent"]
    assert signing.signer(secret)(body, stamps[0]) == sign(secret, body, stamps[0])
    if unit == "ms":
        assert verify(headers_for(body, NOW), body, [secret], now_ms=NOW, encoding=encoding).ok


def test_a_signer_refuses_what_sign_refuses():
    with pytest.raises(ValueError, match="encoding must be 'hex' or 'base64', not 'b32'"):
        signing.signer(SECRET, encoding="b32")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timestamp_unit must be 'ms' or 's', not 'us'"):
        signing.signer(SECRET, timestamp_unit="us")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        signing.signer(SECRET)("not bytes", NOW)  # type: ignore[arg-type]
    assert signing.signer(SECRET)(BODY, NOW)["x-webhook-signature"] == compute_signature(SECRET, NOW, BODY)


def test_a_header_signer_gives_the_signed_headers_of_a_send():
    from simlib.core.delivery.http import DeliveryConfig, header_signer, signed_headers
    from simlib.records import Secret

    for config in (DeliveryConfig(), DeliveryConfig(signature_encoding="base64", timestamp_unit="s", user_agent="x/2")):
        assert header_signer(Secret(SECRET), config)(BODY, NOW) == signed_headers(Secret(SECRET), BODY, NOW, config)


def test_simlib_verify_refuses_arguments_that_cannot_be_a_request_in_one_line():
    headers = sign("s" * 32, b"{}", 1_769_592_774_119)
    cases = [
        ({"body": "{}"}, "body: must be the raw body as bytes, not str (encode the text exactly as it arrived, e.g. .encode())"),
        ({"body": None}, "body: must be the raw body as bytes, not NoneType"),
        ({"tolerance_ms": -1}, "tolerance_ms: must be a whole number of milliseconds >= 0, or None, not -1"),
        ({"tolerance_ms": 1.5}, "tolerance_ms: must be a whole number of milliseconds >= 0, or None, not 1.5"),
        ({"now_ms": "soon"}, "now_ms: must be Unix time in whole milliseconds, not 'soon'"),
    ]
    for change, said in cases:
        args = {"body": b"{}", "tolerance_ms": 300_000, "now_ms": 1_769_592_774_119, **change}
        with pytest.raises(ValidationError) as caught:
            verify(headers, args.pop("body"), "s" * 32, **args)
        assert str(caught.value) == said
    assert verify(headers, bytearray(b"{}"), "s" * 32, now_ms=1_769_592_774_119).ok  # a bytearray is bytes


@pytest.mark.parametrize("name", ["x-webhook-signature", "x-webhook-timestamp"])
def test_a_header_sent_twice_with_different_values_proves_nothing(name):
    secret, body, ts = "s" * 32, b'{"a":1}', 1_769_592_774_119
    good = list(sign(secret, body, ts).items())
    other = "deadbeef" if name == "x-webhook-signature" else str(ts + 1)
    for headers in (good + [(name.title(), other)], [(name, other)] + good):
        v = verify(headers, body, secret, now_ms=ts)
        assert (v.ok, v.code) == (False, "duplicate_header")
        assert v.reason == f"header {name} is sent 2 times with different values: receivers disagree on which one counts"
    same_twice = good + [(name, dict(good)[name])]  # the same value twice: no doubt which counts
    assert verify(same_twice, body, secret, now_ms=ts).ok
