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

Speed: for compact output, :func:`stringify` first lets the C ``json`` encoder write the value
(keys in insertion order, ``ensure_ascii=False``, no NaN), which is already ``JSON.stringify``'s
text whenever none of the exceptions above occurs, and then looks for the exceptions in that text
with a few C-level scans (a lone surrogate fails the UTF-8 encoding; a key ending in a digit or
spelled ``true``/``false``/``null``; a number written as ``1.0``, ``1e-05`` or with 16 or more
digits; a body over 16 KB, which is mostly long strings, is checked on the value instead). Only a
value with one of those goes through :func:`stringify_reference`, the plain
implementation of the rules; the two are proved equal by a property test. (At depths near the
interpreter's recursion limit the C encoder may still succeed where the reference would raise
RecursionError; Node writes such values too.)

Standard library only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["js_number", "parse", "stringify", "stringify_bytes", "stringify_bytes_and_brackets", "stringify_fast",
           "stringify_reference"]

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
            return int.__repr__(x)  # the value, as the C encoder writes it, even for an int enum
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


def stringify_reference(value: Any, *, indent: int | str | None = None, non_finite: NonFinite = "error") -> str:
    """:func:`stringify` written out rule by rule in Python, with no fast path: the definition
    the fast path is tested against (and what it falls back to).

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


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The C encoder's text differs from JSON.stringify's only where one of these shows. Each is
# looked for in ``shape``, the bytes translated so that one needle finds a whole family: digits
# as 0, "]" and "}" as ",", "[" as "{", "+" and "." as "-", t f n a as T and r u l s e as u (so
# that the keys true, false and null all end in 'Tuuu":'). A hit there (rare in real payloads)
# is confirmed on the bytes themselves before the fast path is given up.
_SHAPE = bytes.maketrans(b"123456789]}[+.tfnaruels", b"000000000,,{--TTTTuuuuu")
#: a key ending in a digit (an array index comes first in JavaScript; an int or float key):
_DIGIT_KEY = b'0":'
_NUMBER_KEY = re.compile(rb'"-?[0-9][-+.0-9e]*":')
#: keys the C encoder writes for True, False and None (the reference refuses them):
_CONST_SHAPE = b'Tuuu":'
_CONST_KEYS = (b'"true":', b'"false":', b'"null":')
#: an integer of 16 or more digits (past 2**53 JavaScript rounds it):
_LONG_DIGITS = b"0" * 16
_LONG_NUMBERS = (re.compile(rb"^-?[0-9]{16}"), re.compile(rb":-?[0-9]{16}"), re.compile(rb",-?[0-9]{16}"),
                 re.compile(rb"\[-?[0-9]{16}"))
#: a float written 1.0 or -0.0 (JavaScript: 1, 0) or 1e-05, 1e+16 (JavaScript: 0.00001,
#: 10000000000000000); in the shape both end "-0," to "-000," (as do a few other numbers):
_FLOAT_SHAPE = re.compile(rb"-0{1,3}(?:,|\Z)")
_FLOAT_FORMS = re.compile(rb"(?:\.0|e[-+][0-9]{2,3})(?:[,\]}]|\Z)")

_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_c_encode: Any = None
if _c_make_encoder is not None:
    # No circular-reference markers: the encoder keeps no state between calls (a cycle ends in
    # RecursionError, and the reference path then gives the real answer).
    _c_encode = _c_make_encoder(None, _refuse, _encode_basestring, None, ":", ",", False, False, False)

    def _c_dumps(value: Any) -> str:
        return "".join(_c_encode(value, 0))  # a list of chunks

    _dumps: Callable[[Any], str] = _c_dumps
else:  # pragma: no cover - CPython always has the C encoder
    _dumps = json.JSONEncoder(check_circular=False, ensure_ascii=False, separators=(",", ":"),
                              allow_nan=False, default=_refuse).encode


#: Bodies up to this many bytes are checked by scanning them; bigger ones by walking the value.
_SCAN_LIMIT = 16_384


def _plain(value: Any) -> int | None:
    """For a value the C encoder has written: the number of arrays and objects in it when it has
    no key or number that ``JSON.stringify`` writes otherwise (a key that is not a string or is
    an array index; a float whose repr has an exponent or ends in ``.0``; an integer past
    2**53), else None."""
    containers = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str) or v is None or v is True or v is False:
            continue
        if isinstance(v, dict):
            containers += 1
            for k in v:
                if not isinstance(k, str) or _is_index(k):
                    return None
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            containers += 1
            stack.extend(v)
        elif isinstance(v, int):
            if not -_SAFE <= v <= _SAFE:
                return None
        elif isinstance(v, float):
            r = float.__repr__(v)
            if "e" in r or r.endswith(".0"):
                return None
    return containers


def _fast(value: Any) -> tuple[str, bytes, int] | None:
    """The C encoder's text and UTF-8 bytes for ``value`` when they are ``JSON.stringify``'s
    (and the number of "[" and "{" in them), else None."""
    try:
        text = "".join(_c_encode(value, 0)) if _c_encode is not None else _dumps(value)
        body = text.encode("utf-8")  # a lone surrogate fails here (UnicodeEncodeError)
    except (ValueError, TypeError, RecursionError):
        return None
    if len(body) > _SCAN_LIMIT:  # a big body is big strings: looking at the values is cheaper
        containers = _plain(value)
        return None if containers is None else (text, body, containers)
    shape = body.translate(_SHAPE)
    if (
        (_DIGIT_KEY in shape and _NUMBER_KEY.search(body))
        or (_CONST_SHAPE in shape and (_CONST_KEYS[0] in body or _CONST_KEYS[1] in body or _CONST_KEYS[2] in body))
        or (_LONG_DIGITS in shape and any(p.search(body) for p in _LONG_NUMBERS))
        or (_FLOAT_SHAPE.search(shape) and _FLOAT_FORMS.search(body))
    ):
        return None
    return text, body, shape.count(b"{")


def stringify(value: Any, *, indent: int | str | None = None, non_finite: NonFinite = "error") -> str:
    """``JSON.stringify(value)`` (``indent``: ``JSON.stringify(value, null, indent)``).

    Raises TypeError for a value JSON has no form for (a set, an object) and ValueError for NaN
    and infinities unless ``non_finite="null"``; RecursionError for absurdly deep values."""
    if not indent:
        fast = _fast(value)
        if fast is not None:
            return fast[0]
    return stringify_reference(value, indent=indent, non_finite=non_finite)


def stringify_bytes(value: Any, *, indent: int | str | None = None, non_finite: NonFinite = "error") -> bytes:
    """:func:`stringify` as the UTF-8 bytes Node sends (always encodable: lone surrogates are escaped)."""
    if not indent:
        fast = _fast(value)
        if fast is not None:
            return fast[1]
    return stringify_reference(value, indent=indent, non_finite=non_finite).encode("utf-8")


def stringify_fast(value: Any) -> str | None:
    """:func:`stringify`'s compact text when the C encoder's fast path gives it, else None (the
    value then needs :func:`stringify_reference`, or is refused by it)."""
    fast = _fast(value)
    return None if fast is None else fast[0]


def stringify_bytes_and_brackets(value: Any) -> tuple[bytes, int]:
    """``stringify_bytes(value)`` and a bound on how deeply ``value`` nests: how many "[" and "{"
    bytes the body holds (strings' included), or for a big body the number of arrays and objects."""
    fast = _fast(value)
    if fast is not None:
        return fast[1], fast[2]
    body = stringify_reference(value).encode("utf-8")
    return body, body.count(b"{") + body.count(b"[")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(body: bytes | str) -> Any:
    """``JSON.parse(body.toString("utf8"))``: invalid UTF-8 read as U+FFFD, a leading BOM is an
    error as in Node, ``NaN``/``Infinity`` refused; numbers are Python ints and floats (which
    :func:`stringify` writes as the doubles JavaScript would hold). ValueError if not JSON."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    hook: Callable[[str], Any] = _refuse_constant
    return json.loads(text, parse_constant=hook)
