"""Stage 1 of a send: build the payload, serialise it once, check its size -> :class:`Preview`.

The bytes made here are the bytes that are previewed, signed, sent and recorded (the
"Preview = what is sent" contract). Pure: the clock and the seed come in as arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from simlib.core.events import MAX_NESTING, build_payload, get_event_type, nesting_problem, parse_override
from simlib.core.jsjson import stringify_bytes_and_brackets
from simlib.core.templates import template_body, template_for
from simlib.errors import OverrideError, ValidationError
from simlib.records import Preview, Webhook

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "Overrides",
    "build_preview",
    "check_size",
    "event_id_for",
    "normalise_overrides",
    "preview_series",
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
    try:
        body, brackets = stringify_bytes_and_brackets(payload)
    except (ValueError, TypeError, RecursionError) as exc:
        _refuse_nesting(payload)  # too deep (or a cycle) is the first thing to say
        if isinstance(exc, ValueError):
            raise ValidationError("payload", "cannot be sent as JSON: Out of range float values are not JSON "
                                  "compliant (JavaScript would send null)") from None
        raise ValidationError("payload", f"cannot be sent as JSON: {exc}") from None
    if brackets > MAX_NESTING:  # else it cannot nest that deep
        _refuse_nesting(payload)
    return body


def _refuse_nesting(payload: Any) -> None:
    problem = nesting_problem(payload, MAX_NESTING, surrogates=False)
    if problem:
        raise ValidationError("payload", problem)


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
    et = get_event_type(event_type)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError("seed", f"must be a whole number >= 0, not {seed!r}")
    ov = normalise_overrides(overrides)
    opts = dict(options or {})
    body: bytes | None = None
    if not ov and type(now_ms) is int:
        for name in opts:
            et.option(name)  # unknown option -> ValidationError, as build_payload says it
        # Issue 12: a built-in event's body straight from its template (the same bytes).
        body = template_body(event_type, et.builder, seed=seed, now_ms=now_ms, options=opts,
                             organisation_id=organisation_id)
    if body is None:
        payload = build_payload(event_type, seed=seed, now_ms=now_ms, options=opts, organisation_id=organisation_id,
                                overrides=ov)
        body = serialize(payload)
    check_size(body, max_bytes)
    return _preview(webhook.id, webhook.name, webhook.url, event_type, body, seed,
                    tuple(sorted(opts.items())) if opts else (), ov)


def _preview(
    webhook_id: str, webhook_name: str, url: str, event_type: str, body: bytes, seed: int,
    options: tuple[tuple[str, Any], ...], overrides: tuple[tuple[str, Any], ...],
) -> Preview:
    """The Preview of these fields, its event id from the body, without the dataclass
    ``__init__`` (every send makes one; tests/core/test_templates.py checks every field is set,
    in order)."""
    return Preview.from_fields({
        "webhook_id": webhook_id,
        "webhook_name": webhook_name,
        "url": url,
        "event_type": event_type,
        "body": body,
        "seed": seed,
        "event_id": event_id_for(body),
        "options": options,
        "overrides": overrides,
    })


def preview_series(
    webhook: Webhook,
    event_type: str,
    *,
    overrides: Overrides = None,
    options: Mapping[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    organisation_id: str | None = None,
) -> Callable[[int, int], Preview]:
    """:func:`build_preview` for one webhook, event type, overrides and options and many seeds (a
    burst: issue 12, own work per send): ``make(seed, now_ms)`` is ``build_preview(webhook,
    event_type, seed=seed, now_ms=now_ms, ...)`` -- the same preview, or the same error -- with
    the event type, options and template looked up once instead of for every payload."""

    def built(seed: int, now_ms: int) -> Preview:
        return build_preview(webhook, event_type, seed=seed, now_ms=now_ms, overrides=overrides, options=options,
                             max_bytes=max_bytes, organisation_id=organisation_id)

    et = get_event_type(event_type)
    opts = dict(options or {})
    if normalise_overrides(overrides):
        return built
    for name in opts:
        et.option(name)  # unknown option -> ValidationError, as build_preview says it
    body_for = template_for(event_type, et.builder, options=opts, organisation_id=organisation_id)
    if body_for is None:
        return built
    wid, wname, url = webhook.id, webhook.name, webhook.url
    chosen = tuple(sorted(opts.items())) if opts else ()

    def make(seed: int, now_ms: int) -> Preview:
        if type(seed) is not int or seed < 0 or type(now_ms) is not int:
            return built(seed, now_ms)  # refused, or built, as build_preview does
        body = body_for(seed, now_ms)
        if body is None:
            return built(seed, now_ms)
        check_size(body, max_bytes)
        return _preview(wid, wname, url, event_type, body, seed, chosen, ())

    return make
