"""The fast path of ``jsjson.stringify`` (the C ``json`` encoder plus checks on its text) gives
exactly the bytes of ``stringify_reference`` (the rules written out), or the same error.

Values are generated with the cases where the C encoder's text differs from ``JSON.stringify``'s
mixed in on purpose: integer-like keys ("1", "01", "4294967295"), int/float/bool/None keys,
floats in exponent form or integral (1e16, 1e21, 1e-7, 5e-324, 1.0, -0.0), 0.1 + 0.2, integers
past 2**53, lone surrogates and surrogate pairs held as two code points, control characters,
U+2028, and strings that merely look like those (so that a check that fires too often is also
seen: the real event bodies must stay on the fast path).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import simlib.core.jsjson as jsjson
from simlib.core.events import MAX_NESTING, build_payload, event_names
from simlib.core.jsjson import stringify, stringify_bytes, stringify_bytes_and_brackets, stringify_reference
from simlib.core.payload import serialize
from simlib.errors import ValidationError

_CHARS = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00", "\x00", "\x08", "\x1f", "\x7f", "\u2028",
          "\u2029", "/", '"', "\\", ":", ",", "[", "]", "{", "}", ".", "e", "-", "+", "0", "1", "9", "é", "😀",
          "true", "false", "null", '":', ".0,", "e-05,", "1234567890123456"]
text = st.lists(st.one_of(st.characters(), st.sampled_from(_CHARS)), max_size=8).map("".join)
str_keys = st.one_of(
    text,
    st.integers(-(2**60), 2**60).map(str),
    st.sampled_from(["0", "1", "01", "-1", "1.5", "1e+16", "4294967294", "4294967295", "true", "false", "null",
                     "a1", "value", "user", "", " 1", "٣"]),
)
other_keys = st.one_of(st.integers(-(2**70), 2**70), st.booleans(), st.none(),
                       st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e16, 1.0, -0.0, 0.5]))
special_floats = [-0.0, 0.0, 1.0, 100.0, 1e15, 1e16, 1e20, 1e21, 1e22, 1e-4, 1e-5, 1e-6, 1e-7, 1.5e-7, 5e-324,
                  1.7976931348623157e308, 0.1 + 0.2, 1 / 3, 12.5, 123e-20, 2.0**53, -1e16]
numbers = st.one_of(
    st.integers(-(2**54), 2**54),
    st.integers(-(2**80), 2**80),
    st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 10**15, 10**16, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(special_floats),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)


def nested(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return (st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(str_keys, inner, max_size=5)
            | st.dictionaries(st.one_of(str_keys, other_keys), inner, max_size=3))


values = st.recursive(scalars, nested, max_leaves=30)


def outcome(fn, value):
    try:
        return "ok", fn(value)
    except (TypeError, ValueError, RecursionError) as exc:
        return "error", type(exc).__name__


def containers(value: object) -> int:
    if isinstance(value, dict):
        return 1 + sum(containers(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return 1 + sum(containers(v) for v in value)
    return 0


@pytest.fixture(params=["scan", "walk"])
def check(request, monkeypatch):
    """Both ways the fast path checks the C encoder's text: scanning it (bodies up to 16 KB)
    and walking the value (bigger bodies; forced here for every size)."""
    if request.param == "walk":
        monkeypatch.setattr(jsjson, "_SCAN_LIMIT", -1)
    return request.param


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
@example(value={"0": [], 0: None})  # keys that collide as JS sees them: the later one wins, [] is not written
def test_the_fast_path_gives_the_reference_bytes_or_the_same_error(check, value):
    expected = outcome(stringify_reference, value)
    assert outcome(stringify, value) == expected
    got = outcome(stringify_bytes, value)
    assert got == (expected if expected[0] == "error" else ("ok", expected[1].encode("utf-8")))
    if expected[0] == "ok":
        body, brackets = stringify_bytes_and_brackets(value)
        assert body == expected[1].encode("utf-8")
        # every container the body holds (as written: keys that collide as JS sees them keep
        # only the later value), and no more than its bracket characters
        assert containers(json.loads(body)) <= brackets <= body.count(b"{") + body.count(b"[")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=st.one_of(numbers, st.floats()))
def test_every_number_alone_and_in_each_position(check, x):
    for value in (x, [x], [0, x], {"k": x}, {"k": [x, 1]}):
        assert outcome(stringify, value) == outcome(stringify_reference, value)


@pytest.mark.parametrize("value", [
    {"b": 1, "2": 2, "1": 0}, {"4294967294": 1, "a": 2, "4294967295": 3}, {"01": 1, "1": 2}, {1: "a", "1": "b"},
    {True: 1}, {None: 1}, {1.5: 1}, {2**60: 1}, [1.0], [-0.0], 1e16, [1e21], {"x": 1e-7}, [5e-324], 2**64,
    -(2**53) - 1, "\ud800", "\ud83d\ude00", {"\udfff": 1}, "\x01\u2028\x7f/", float("nan"), [math.inf], {1, 2},
    object(), {(1, 2): 3},
])
def test_the_known_exceptions_by_hand(check, value):
    assert outcome(stringify, value) == outcome(stringify_reference, value)
    assert outcome(stringify_bytes, value)[0] == outcome(stringify_reference, value)[0]


class Tag(int):
    def __str__(self) -> str:
        return "tag"


def test_an_int_subclass_is_written_as_its_value_on_both_paths():
    assert stringify([Tag(3)]) == stringify_reference([Tag(3)]) == "[3]"
    assert stringify({Tag(3): 1}) == stringify_reference({Tag(3): 1}) == '{"3":1}'


def test_a_cycle_is_refused_on_both_paths():
    a: list[object] = []
    a.append(a)
    assert outcome(stringify, a) == outcome(stringify_reference, a) == ("error", "RecursionError")
    with pytest.raises(ValidationError, match="nested too deeply"):
        serialize({"a": a})


def test_nesting_is_refused_past_the_limit_even_when_the_fast_path_could_write_it():
    deep: object = 1
    for _ in range(MAX_NESTING):
        deep = [deep]
    assert serialize(deep) == b"[" * MAX_NESTING + b"1" + b"]" * MAX_NESTING
    with pytest.raises(ValidationError, match="nested too deeply"):
        serialize([deep])
    wide = [[i] for i in range(3 * MAX_NESTING)]  # many brackets, shallow: still accepted
    assert serialize(wide) == json.dumps(wide, separators=(",", ":")).encode()


def test_serialize_errors_are_the_same_as_before():
    with pytest.raises(ValidationError, match="Out of range float values"):
        serialize({"x": float("nan")})
    with pytest.raises(ValidationError, match="keys must be str or int, not bool"):
        serialize({True: 1})
    with pytest.raises(ValidationError, match="not JSON serializable"):
        serialize({"x": {1, 2}})


def test_a_big_body_is_checked_on_its_value():
    image = "QUJD+/9=" * 4_000  # base64-like: "+" and digits that the scans would have to read
    for value in ({"imageBuffer": image, "n": 1}, {"imageBuffer": image, "1": 1}, {"imageBuffer": image, "x": 1.0},
                  {"imageBuffer": image, "x": [2**60]}, {"imageBuffer": image, True: 1}):
        assert len(json.dumps(value)) > jsjson._SCAN_LIMIT
        assert outcome(stringify, value) == outcome(stringify_reference, value)


def test_every_real_event_body_takes_the_fast_path(monkeypatch):
    """The checks must not fire on simlib's own bodies, or the speed-up is lost: with the
    reference made to fail, every event still serialises (and to the reference's bytes)."""
    expected = {name: stringify_reference(build_payload(name, seed=0, now_ms=1769592774119)).encode()
                for name in event_names()}

    def refuse(*args, **kwargs):
        raise AssertionError("the reference path was taken")

    monkeypatch.setattr(jsjson, "stringify_reference", refuse)
    for seed in range(200):
        for name in event_names():
            payload = build_payload(name, seed=seed, now_ms=1769592774119 + seed)
            body = serialize(payload)
            if seed == 0:
                assert body == expected[name]
