"""Property and fuzz tests (hypothesis)."""

from __future__ import annotations

import copy
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simlib import ValidationError
from simlib.core.events import apply_overrides, build_payload, parse_override
from simlib.core.signing import sign, verify
from simlib.core.validation import production_check, validate_url
from tests.helpers import ALL_EVENTS

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(
    body=st.binary(max_size=4096),
    secret=st.text(min_size=1, max_size=64),
    ts=st.integers(min_value=10**12, max_value=10**13 - 1),
)
def test_sign_verify_round_trip(body, secret, ts):
    try:
        secret.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates are not valid secrets (refused by validation)
    headers = sign(secret, body, ts)
    assert verify(headers, body, [secret], now_ms=ts).ok
    assert not verify(headers, body + b"x", [secret], now_ms=ts).ok
    assert not verify(headers, body, [secret + "x"], now_ms=ts).ok


@FAST
@given(path=st.text(max_size=60), value=st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)))
def test_overrides_only_ever_raise_the_documented_error(path, value):
    payload = build_payload(ALL_EVENTS[0], seed=1, now_ms=1769591645035)
    original = copy.deepcopy(payload)
    try:
        apply_overrides(payload, {path: value})
    except ValidationError as exc:
        assert str(exc).startswith("override:")
        assert payload == original  # a refused override changes nothing
    else:
        assert path.strip()


@FAST
@given(st.text(max_size=80))
def test_parse_override_only_raises_validation_error(text):
    try:
        path, _ = parse_override(text)
    except ValidationError:
        return
    assert path


@FAST
@given(st.one_of(st.text(max_size=200), st.from_regex(r"https?://[^\s]{0,60}", fullmatch=True)))
def test_url_validation_raises_nothing_but_validation_error(url):
    try:
        out = validate_url(url)
    except ValidationError as exc:
        assert exc.field == "url"
    else:
        assert out.startswith(("http://", "https://", "HTTP://", "HTTPS://")) or "://" in out
    production_check(url)  # never raises


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_receiver_never_crashes_on_arbitrary_bytes(receiver, data):
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=2) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(2)
            while s.recv(65536):
                pass
        except OSError:
            pass
    # Still serving: a well-formed request gets its answer.
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=2) as s:
        s.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ")
