"""Stage 1 of a send: build the payload, serialise it once, check its size -> :class:`Preview`.

The bytes made here are the bytes that are previewed, signed, sent and recorded (the
"Preview = what is sent" contract). Pure: the clock and the seed come in as arguments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from simlib.core.events import MAX_NESTING, build_payload, get_event_type, nesting_problem, parse_override
from simlib.core.jsjson import stringify
from simlib.errors import OverrideError, ValidationError
from simlib.records import Preview, Webhook

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "Overrides",
    "build_preview",
    "check_size",
    "event_id_for",
    "normalise_overrides",
    "serialize",
]

#: The largest body a preview may have (bytes); ``Simulator(max_payload_bytes=...)`` changes it.
DEFAULT_MAX_PAYLOAD_BYTES = 5_000_000

#: Overrides as callers give them: a mapping, ``"path=value"`` strings, or (path, value) pairs.
Overrides = Mapping[str, Any] | Iterable[str] | Iterable[tuple[str, Any]] | None


def serialize(payload: Any) -> bytes:
    """The payload as Node's ``JSON.stringify`` sends it, UTF-8 (:mod:`simlib.core.jsjson`):
    compact, keys in order (array-index keys first, as in any JavaScript object), non-ASCII as
    is, control characters and lone surrogates as ``\\u`` escapes, numbers as JavaScript writes
    its doubles (``1`` not ``1.0``, ``-0`` as ``0``, ``1e+21``, an integer past 2**53 rounded).

    Refused with a ValidationError on ``payload``: values JSON has no form for (NaN, an
    infinity, an integer too large for a double, a set, an object), nesting deeper than
    ``MAX_NESTING``."""
    # Issue 12: the serialiser runs first; the walk that names a problem runs only when it
    # failed, or when the text has more brackets than MAX_NESTING -- the most levels it could
    # nest (a bracket inside a string only makes the walk run for nothing). Saves ~14 us a send.
    text = _c_stringify(payload)
    if text is None:
        return _serialize_slow(payload)
    if text.count("[") + text.count("{") > MAX_NESTING:
        problem = nesting_problem(payload, MAX_NESTING, surrogates=False)
        if problem:
            raise ValidationError("payload", problem)
    return text.encode("utf-8")


#: The C encoder in the form that writes what JSON.stringify writes for the values below.
_C_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
#: A JSON string (escapes included), to blank the strings out before looking at the rest.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
#: An integer of 16 digits or more, outside the strings (past 2**53 JavaScript rounds it).
_LONG_INT = re.compile(r"\d{16}")
#: A key (or, harmlessly, a string in a list) that JSON.stringify orders or refuses differently:
#: one that starts like a number (array-index keys come first in JavaScript; int and float keys),
#: or true / false / null / NaN / Infinity (the C encoder's text for such keys, which stringify
#: refuses). Two patterns, each starting with a literal, which the regex engine searches fast.
_ODD_KEYS = tuple(re.compile(opening + r'"(?:-?\d|(?:true|false|null|NaN|-?Infinity)":)') for opening in (",", r"\{"))
#: Larger texts go straight to stringify (the checks below would cost more than they save).
_FAST_MAX_CHARS = 256 * 1024


def _c_stringify(payload: Any) -> str | None:
    """``stringify(payload)`` computed by the C encoder when that provably gives the same text
    (issue 12: ~8 us instead of ~30 us for an event's payload), else None. For JSON's types (str,
    int, float, bool, None, list, tuple, dict) the C encoder agrees with JSON.stringify on
    strings (the same escapes, non-ASCII as is), true/false/null, arrays, objects with string
    keys in insertion order, and integers within 2**53; the text is refused here when it holds
    anything else: a float (Python writes ``1.0``, ``1e-07``: a ``.`` or an ``e`` that is not in
    true/false) or a 16-digit integer outside the strings, a key that starts like a number or is
    a constant, a lone surrogate (no UTF-8 form: stringify escapes it), or when the encoder
    itself failed (the slow path names the problem)."""
    try:
        text = _C_DUMPS(payload)
        text.encode("utf-8")  # a lone surrogate: stringify writes an escape
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        return None
    if len(text) > _FAST_MAX_CHARS or any(p.search(text) for p in _ODD_KEYS):
        return None
    # Outside the strings: with no backslash there is no escaped quote, so every other piece
    # between quotes is outside; else the strings are blanked by a pattern that knows escapes.
    outside = "".join(text.split('"')[0::2]) if "\\" not in text else _STRING.sub('""', text)
    if "." in outside or outside.count("e") != outside.count("true") + outside.count("false") or _LONG_INT.search(outside):
        return None
    return text


def _serialize_slow(payload: Any) -> bytes:
    try:
        text = stringify(payload)
    except (ValueError, TypeError, RecursionError) as exc:
        problem = nesting_problem(payload, MAX_NESTING, surrogates=False)  # a cycle, or too deep
        if problem:
            raise ValidationError("payload", problem) from None
        if isinstance(exc, ValueError):
            raise ValidationError("payload", "cannot be sent as JSON: Out of range float values are not JSON compliant "
                                  "(JavaScript would send null)") from None
        raise ValidationError("payload", f"cannot be sent as JSON: {exc}") from None
    if text.count("[") + text.count("{") > MAX_NESTING:
        problem = nesting_problem(payload, MAX_NESTING, surrogates=False)
        if problem:
            raise ValidationError("payload", problem)
    return text.encode("utf-8")


def event_id_for(body: bytes) -> str:
    """The event id of a body: ``evt_`` + 20 hex digits of its SHA-256 (stable for equal bytes)."""
    return "evt_" + hashlib.sha256(body).hexdigest()[:20]


def check_size(body: bytes, max_bytes: int) -> None:
    """Refuse a body over ``max_bytes`` with a ValidationError on ``payload``."""
    if len(body) > max_bytes:
        raise ValidationError("payload", f"{len(body)} bytes is over the limit of {max_bytes} bytes")


def normalise_overrides(overrides: Overrides) -> tuple[tuple[str, Any], ...]:
    """Overrides in any accepted form -> a tuple of (dotted path, value) pairs."""
    if not overrides:
        return ()
    if isinstance(overrides, Mapping):
        return tuple((str(k), v) for k, v in overrides.items())
    out: list[tuple[str, Any]] = []
    for item in overrides:
        if isinstance(item, str):
            out.append(parse_override(item))
        elif isinstance(item, tuple) and len(item) == 2:
            out.append((str(item[0]), item[1]))
        else:
            raise OverrideError(str(item), "expected 'path=value' or a (path, value) pair")
    return tuple(out)


def build_preview(
    webhook: Webhook,
    event_type: str,
    *,
    seed: int,
    now_ms: int,
    overrides: Overrides = None,
    options: Mapping[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    organisation_id: str | None = None,
) -> Preview:
    """The payload of ``event_type`` for ``webhook``, built from ``seed`` at ``now_ms``,
    serialised once and size-checked. ``organisation_id`` (the webhook's) is put in every
    record's ``organisation.organisationId`` before the overrides (which may still change it)."""
    get_event_type(event_type)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError("seed", f"must be a whole number >= 0, not {seed!r}")
    ov = normalise_overrides(overrides)
    opts = dict(options or {})
    payload = build_payload(event_type, seed=seed, now_ms=now_ms, options=opts, organisation_id=organisation_id,
                            overrides=ov)
    body = serialize(payload)
    check_size(body, max_bytes)
    return Preview(
        webhook_id=webhook.id,
        webhook_name=webhook.name,
        url=webhook.url,
        event_type=event_type,
        body=body,
        seed=seed,
        event_id=event_id_for(body),
        options=tuple(sorted(opts.items())),
        overrides=ov,
    )
