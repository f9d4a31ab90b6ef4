"""Byte fidelity with Node's ``JSON.stringify``: simlib's serialiser against a real ``node``.

A generated corpus (strings with non-ASCII, emoji, lone surrogates and control characters,
integer-like keys, integers past 2**53, floats of every magnitude, -0) is handed to one
long-lived ``node -e`` process as JSON text; it answers ``JSON.stringify(JSON.parse(line))``
(and the ``indent=2`` layout). simlib's ``serialize`` must give exactly those bytes. Skipped
only when no ``node`` binary is installed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simlib.core.events import build_payload, event_names
from simlib.core.jsjson import js_number, parse, stringify
from simlib.core.payload import serialize

NODE = shutil.which("node") or ("/usr/bin/node" if os.path.exists("/usr/bin/node") else None)
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: nothing to compare with")

_SCRIPT = r"""
const rl = require('readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let out;
  try {
    const v = JSON.parse(line);
    out = Buffer.from(JSON.stringify(v), 'utf8').toString('base64') + ' ' +
          Buffer.from(JSON.stringify(v, null, 2), 'utf8').toString('base64');
  } catch (e) { out = '! ' + e.message; }
  process.stdout.write(out + '\n');
});
"""


class Node:
    def __init__(self) -> None:
        assert NODE is not None
        self.proc = subprocess.Popen([NODE, "-e", _SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def stringify(self, value: object) -> tuple[bytes, bytes]:
        """(compact, indent=2) bytes of ``JSON.stringify`` for ``value`` (sent as ASCII JSON text)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(value, ensure_ascii=True) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert not answer.startswith("!"), answer
        compact, pretty = answer.split(" ")
        return base64.b64decode(compact), base64.b64decode(pretty)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    n = Node()
    yield n
    n.close()


_SPECIAL_CHARS = ["\ud800", "\udbff", "\udc00", "\udfff", "\x00", "\x08", "\x1f", "\x7f", "\u2028", "\u2029",
                  "/", '"', "\\", "é", "ß", "中", "😀", "\U0010ffff", "\ufeff", "\t", "\n"]
text = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(_SPECIAL_CHARS)), max_size=12)
keys = st.one_of(
    text,
    st.integers(0, 2**33).map(str),
    st.sampled_from(["0", "01", "-1", "1.5", "4294967294", "4294967295", "__proto__", "constructor"]),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-(2**1000), 2**1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 0.0, 1e16, 1e21, 1e20, 1e-6, 1e-7, 1.5e-7, 123e-20, 2.0**53, 2**53 + 1, 5e-324,
                     1.7976931348623157e308, 0.1, 1 / 3, 100.0, 12345678901234567890]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=25
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_serialize_gives_the_bytes_node_json_stringify_gives(node, value):
    compact, pretty = node.stringify(value)
    assert serialize(value) == compact
    assert stringify(value, indent=2).encode("utf-8") == pretty


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(numbers)
def test_numbers_are_written_as_javascript_writes_its_doubles(node, x):
    compact, _ = node.stringify(x)
    assert js_number(x).encode() == compact


def test_every_event_body_is_already_what_node_would_send(node):
    """A receiver that re-serialises with JSON.stringify gets simlib's own bytes back for the
    bodies simlib builds (only the other-bytes conformance variants differ)."""
    for name in event_names():
        body = serialize(build_payload(name, seed=7, now_ms=1769592774119))
        assert node.stringify(json.loads(body))[0] == body
        assert stringify(parse(body)).encode() == body


def test_the_known_corner_cases_by_hand(node):
    cases = [{"b": 1, "2": 2, "1": 0}, [1.0, -0.0, 2**64, 1e21, 1e-7], "\ud800\ud83d\ude00\x01/é"]
    for value in cases:
        assert serialize(value) == node.stringify(value)[0]
    assert serialize({"b": 1, "2": 2, "1": 0}) == b'{"1":0,"2":2,"b":1}'
    assert serialize([1.0, -0.0, 2**64, 1e16]) == b"[1,0,18446744073709552000,10000000000000000]"
