"""``serialize`` skips its walk over every node when the JSON text has too few brackets to nest
too deeply (issue 12: the payload's share of a burst send), and still refuses what it must."""

from __future__ import annotations

import json

import pytest

from simlib import ValidationError
from simlib.core.events import MAX_NESTING
from simlib.core.payload import serialize


def _nested(depth: int):
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_many_brackets_but_shallow_is_sent():
    payload = {"data": [{"a": [1]} for _ in range(300)]}  # 601 brackets, 4 levels
    assert serialize(payload) == json.dumps(payload, separators=(",", ":")).encode()


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 500, 5000])
def test_too_deep_is_refused_with_the_nesting_words(depth):
    with pytest.raises(ValidationError) as info:
        serialize({"data": _nested(depth)})
    assert info.value.field == "payload" and "nested too deeply" in str(info.value)


def test_just_deep_enough_is_sent():
    assert serialize(_nested(MAX_NESTING)).startswith(b"[[[")


def test_a_cycle_is_refused_as_too_deep():
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValidationError, match="nested too deeply"):
        serialize({"data": loop})


def test_a_lone_surrogate_is_written_as_node_does():
    assert serialize({"name": "Zo\ud800"}) == b'{"name":"Zo\\ud800"}'  # well-formed JSON.stringify


def test_non_ascii_is_kept_and_nan_refused():
    assert serialize({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()
    with pytest.raises(ValidationError, match="cannot be sent as JSON"):
        serialize({"x": float("nan")})
