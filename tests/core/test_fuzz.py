"""Property and fuzz tests (hypothesis)."""

from __future__ import annotations

import copy
import re
import socket
import unicodedata

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simlib import ValidationError
from simlib.core.events import MAX_NESTING, apply_overrides, build_payload, parse_override
from simlib.core.payload import serialize
from simlib.core.signing import sign, verify
from simlib.core.validation import production_check, validate_name, validate_secret, validate_url
from simlib.toolkit.capture import parse_capture
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


# -- hostile input, round 2 (issue 11): the classes stay closed ------------------------------------

#: Characters from every class that broke something: surrogates, format (bidi, zero-width, tags),
#: separators, controls, IDN letters, fullwidth digits and dots, and what a host must not hold.
HOSTILE = st.one_of(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.sampled_from(list("\u202e\u2066\u2069\u200b\u200c\u200d\u200e\u200f\u061c\ufeff\u00ad\u2028\u2029\u0085\u00a0\u3000")),
    st.characters(min_codepoint=0xE0000, max_codepoint=0xE007F),
    st.sampled_from(list("üßéÜ☃。．１２７０xX;%!*'()[]:@\\/.-_ ")),
    st.characters(max_codepoint=0x7F),
)
REFUSED_IN_URLS = {"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"}


@FAST
@given(st.text(HOSTILE, max_size=40))
def test_names_and_secrets_only_raise_validation_error_and_keep_nothing_unsendable(text):
    for validate in (validate_name, validate_secret):
        try:
            out = validate(text)
        except ValidationError:
            continue
        out.encode("utf-8")  # never a lone surrogate
        if validate is validate_name:
            assert not any(unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"} for c in out)
            assert not any(unicodedata.category(c) == "Cf" and c not in "\u200c\u200d" for c in out)


@FAST
@given(host=st.text(HOSTILE, min_size=1, max_size=30), tail=st.text(HOSTILE, max_size=10),
       port=st.one_of(st.none(), st.integers(1, 65535)))
def test_a_url_that_validates_can_be_sent(host, tail, port):
    url = f"http://{host}{'' if port is None else f':{port}'}/{tail}"
    try:
        out = validate_url(url)
    except ValidationError as exc:
        assert exc.field == "url" and "\n" not in str(exc)
        production_check(url)
        return
    out.encode("utf-8")
    assert not any(unicodedata.category(c) in REFUSED_IN_URLS for c in out)
    u = httpx.URL(out)  # what the delivery does with it: parses, and its host is ASCII
    assert u.raw_host.decode("ascii") and u.host is not None
    assert re.fullmatch(r"[a-z0-9._-]+\.?|[0-9a-f:.]+", u.raw_host.decode("ascii").lower()), out  # a DNS name or an address
    production_check(out)


def _nest(depth: int) -> str:
    return "[" * depth + "0" + "]" * depth


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(0, 20_000), wrap=st.sampled_from(["{}", '{{"a":{}}}', "[{}]"]))
def test_nesting_of_any_depth_is_an_override_error_or_sendable(depth, wrap):
    try:
        path, value = parse_override("data.0.tracking.app.name=" + wrap.format(_nest(depth)))
    except ValidationError as exc:
        assert str(exc).startswith("override:") and "nested too deeply" in str(exc)
        assert depth >= MAX_NESTING - 10
        return
    payload = build_payload(ALL_EVENTS[0], seed=1, now_ms=1769591645035)
    try:
        body = serialize(apply_overrides(payload, {path: value}))
    except ValidationError:
        assert depth >= MAX_NESTING - 10
        return
    assert body.startswith(b"{")


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(HOSTILE, max_size=8)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(HOSTILE, max_size=5), children, max_size=3)),
    max_leaves=30,
)


@FAST
@given(JSONISH)
def test_any_override_value_is_sent_or_refused_in_one_line(value):
    payload = build_payload(ALL_EVENTS[0], seed=1, now_ms=1769591645035)
    try:
        body = serialize(apply_overrides(payload, {"data.0.tracking.app.name": value}))
    except ValidationError as exc:
        assert exc.field in ("override", "payload") and "\n" not in str(exc)
        return
    body.decode("utf-8")


LEAK = "FUZZ-LEAK-5f4dcc3b5aa765d61d8327deb882cf99"


@FAST
@given(option=st.sampled_from(["-d", "--data", "--data-binary", "--data-ascii", "--json", "-H", "-T", "--upload-file",
                               "-K", "--config", "--data-urlencode", "-F", "--form", "-sSd", "-d@", "--data-raw",
                               "--variable", "-b", "--cacert", "-o"]),
       prefix=st.sampled_from(["@", "", "name@", "file=@", "<"]), relative=st.booleans())
def test_no_curl_option_makes_a_capture_read_a_file(tmp_path_factory, option, prefix, relative):
    secret = tmp_path_factory.getbasetemp() / "fuzz-secret.txt"
    secret.write_text(LEAK)
    where = f"../{secret.parent.name}/{secret.name}" if relative else str(secret)
    joined = option + prefix + where if option.endswith("@") else f"{option} {prefix}{where}"
    try:
        cap = parse_capture(f"curl https://h.example/ -H 'a: b' {joined}")
    except ValidationError as exc:
        assert LEAK not in str(exc)
        return
    assert LEAK.encode() not in cap.body and all(LEAK not in v for _, v in cap.headers)
