"""JSON text exactly as Node's ``JSON.stringify`` writes it, from Python values.

Trackpilots is a Node.js service, so the bytes a receiver gets are ``JSON.stringify`` output.
:func:`stringify` gives the same bytes for the same value, and :func:`parse` reads JSON text the
way ``JSON.parse`` does (numbers are IEEE doubles), so ``stringify(parse(body))`` is what a
receiver that verifies ``JSON.stringify(req.body)`` instead of the raw bytes signs. The rules
(ECMA-262 ``JSON.stringify`` / ``Number::toString``; Node 12+ "well-formed" stringify):

- object keys in insertion order, except that array-index keys (``"0"`` .. ``"4294967294"``
  written canonically) come first, in ascending numeric order, as in every JavaScript object;
- no white space (``indent`` gives ``JSON.stringify(v, null, indent)``'s layout instead);
- strings: ``"`` and ``\\`` escaped, ``\\b \\f \\n \\r \\t`` as such, other control characters as
  ``\\u00XX`` (lower-case hex), everything else as is (non-ASCII, emoji, ``/``, U+2028, DEL); a
  lone surrogate as a ``\\udXXX`` escape; a surrogate pair held as two code points is one
  character;
- numbers are doubles: ``-0`` is ``0``, an integer beyond 2**53 is rounded to the nearest double
  (``2**64`` -> ``18446744073709552000``), floats in JavaScript's shortest form (``1`` not
  ``1.0``, ``10000000000000000`` not ``1e+16``, ``1e+21``, ``1.5e-7``); NaN and infinities (and
  integers too large for a double) are ``null`` in JavaScript -- :func:`stringify` refuses them
  unless ``non_finite="null"``.

Standard library only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["js_number", "parse", "stringify", "stringify_bytes"]

_encode_basestring = json.encoder.encode_basestring
_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_LONE = re.compile("[\ud800-\udfff]")
_MAX_INDEX = 2**32 - 2
_SAFE = 2**53
NonFinite = Literal["error", "null"]


def _join_pair(m: re.Match[str]) -> str:
    pair = m.group()
    hi, lo = pair[0], pair[1]
    return chr(0x10000 + ((ord(hi) - 0xD800) << 10) + (ord(lo) - 0xDC00))


def _quote(s: str) -> str:
    if _LONE.search(s) is None:
        return str(_encode_basestring(s))
    s = _PAIR.sub(_join_pair, s)
    return _LONE.sub(lambda m: f"\\u{ord(m.group()):04x}", _encode_basestring(s))


def js_number(x: float | int, *, non_finite: NonFinite = "error") -> str:
    """``String(x)`` for a JavaScript number (an int is first made a double, as JS would)."""
    if isinstance(x, int) and not isinstance(x, bool):
        if -_SAFE <= x <= _SAFE:
            return str(x)
        try:
            x = float(x)
        except OverflowError:
            x = math.inf
    x = float(x)
    if not math.isfinite(x):
        if non_finite == "null":
            return "null"
        raise ValueError(f"{x!r} has no JSON form (JavaScript writes null)")
    if x == 0:
        return "0"  # and -0
    if x < 0:
        return "-" + js_number(-x)
    mantissa, _, exp_text = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    if frac == "0":
        frac = ""
    digits = whole + frac
    stripped = digits.lstrip("0")
    n = len(whole) + (int(exp_text) if exp_text else 0) - (len(digits) - len(stripped))
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    return (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + sign + str(abs(e))


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, int) and not isinstance(k, bool):
        return js_number(k)
    raise TypeError(f"keys must be str or int, not {type(k).__name__}")


def _is_index(k: str) -> bool:
    return k.isascii() and k.isdigit() and (k == "0" or k[0] != "0") and int(k) <= _MAX_INDEX


def _ordered(obj: dict[Any, Any]) -> list[tuple[str, Any]]:
    items: dict[str, Any] = {}
    for k, v in obj.items():
        items[_key(k)] = v
    if not any(_is_index(k) for k in items):
        return list(items.items())
    index = sorted((k for k in items if _is_index(k)), key=int)
    return [(k, items[k]) for k in index] + [(k, v) for k, v in items.items() if not _is_index(k)]


def stringify(value: Any, *, indent: int | str | None = None, non_finite: NonFinite = "error") -> str:
    """``JSON.stringify(value)`` (``indent``: ``JSON.stringify(value, null, indent)``).

    Raises TypeError for a value JSON has no form for (a set, an object) and ValueError for NaN
    and infinities unless ``non_finite="null"``; RecursionError for absurdly deep values."""
    gap = " " * min(int(indent), 10) if isinstance(indent, int) else (indent or "")[:10]
    out: list[str] = []
    write = out.append

    def emit(v: Any, level: str) -> None:
        if isinstance(v, str):
            write(_quote(v))
        elif v is True:
            write("true")
        elif v is False:
            write("false")
        elif v is None:
            write("null")
        elif isinstance(v, (int, float)):
            write(js_number(v, non_finite=non_finite))
        elif isinstance(v, dict):
            items = _ordered(v)
            if not items:
                write("{}")
                return
            inner = level + gap
            write("{")
            for i, (k, item) in enumerate(items):
                if i:
                    write(",")
                if gap:
                    write("\n" + inner)
                write(_quote(k))
                write(": " if gap else ":")
                emit(item, inner)
            if gap:
                write("\n" + level)
            write("}")
        elif isinstance(v, (list, tuple)):
            if not v:
                write("[]")
                return
            inner = level + gap
            write("[")
            for i, item in enumerate(v):
                if i:
                    write(",")
                if gap:
                    write("\n" + inner)
                emit(item, inner)
            if gap:
                write("\n" + level)
            write("]")
        else:
            raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")

    emit(value, "")
    return "".join(out)


def stringify_bytes(value: Any, **kwargs: Any) -> bytes:
    """:func:`stringify` as the UTF-8 bytes Node sends (always encodable: lone surrogates are escaped)."""
    return stringify(value, **kwargs).encode("utf-8")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(body: bytes | str) -> Any:
    """``JSON.parse(body.toString("utf8"))``: invalid UTF-8 read as U+FFFD, a leading BOM is an
    error as in Node, ``NaN``/``Infinity`` refused; numbers are Python ints and floats (which
    :func:`stringify` writes as the doubles JavaScript would hold). ValueError if not JSON."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    hook: Callable[[str], Any] = _refuse_constant
    return json.loads(text, parse_constant=hook)
