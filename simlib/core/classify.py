"""Stage 4 of a send: what the endpoint did -> the history record (:class:`~simlib.records.Attempt`)
and the result.

One rule decides the result everywhere: **Delivered iff the endpoint answered 2xx** (and the
simulation itself did not fail). Simulation errors come from the Trackpilots error table
(:data:`simlib.records.ERROR_STATUS`). Pure: no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Final

from simlib.core.delivery.http import DeliveryConfig, Outcome
from simlib.core.identity import sender
from simlib.records import (
    DELIVERED,
    FAILED,
    INTERRUPTED,
    SIMULATION_FAILED,
    Attempt,
    Preview,
    SimulationResult,
    Webhook,
)

__all__ = [
    "OUTCOME_ROOM",
    "REQUEST_HEADERS_ROOM",
    "is_delivered",
    "is_rate_limited",
    "make_history_row",
    "outcome_bytes",
    "pending_row",
    "request_sent",
    "result_from_row",
    "retry_after_seconds",
]

#: Room reserved for what an outcome adds to its row besides the response body: the response
#: headers (stored up to this; more is cut, with a note), the detail, the status and latency.
OUTCOME_ROOM = 32 * 1024
#: The request headers of a burst's send, signed only when it goes out (after its reservation).
REQUEST_HEADERS_ROOM = 8 * 1024


def is_delivered(outcome: Outcome) -> bool:
    """Delivered iff there was no simulation error and the endpoint answered 2xx."""
    return outcome.error is None and outcome.http_status is not None and 200 <= outcome.http_status < 300


#: How the details of attempts whose request never left begin (after a conformance or import
#: label, if any): the delivery layer's words for a failed DNS lookup, a refused, blocked or
#: timed-out connection and a failed TLS handshake. Any detail with "nothing was sent" too.
NOT_SENT_STARTS = (
    "DNS:",
    "timeout: the DNS lookup of",
    "connection refused by",
    "timeout: could not connect to",
    "could not connect to",
    "TLS:",
)


def request_sent(http_status: int | None, detail: str, request_headers: Mapping[str, str] | None) -> bool:
    """Whether an attempt's request may have left this machine: False when it certainly did not
    (stopped before delivery, DNS, refused, blocked, store unavailable, cancelled before the
    connection was made), so that its payload is "not sent" and no header was sent."""
    if http_status is not None:
        return True
    if not request_headers or "nothing was sent" in detail:
        return False
    return not any(detail.startswith(mark) or f": {mark}" in detail for mark in NOT_SENT_STARTS)


def is_rate_limited(status: int | None) -> bool:
    """Whether the endpoint answered 429 Too Many Requests: throttled, which says nothing about
    the request itself (its signature may be fine). Failed all the same (not 2xx)."""
    return status == 429


#: The longest Retry-After simlib reads as such (a day); a larger one is capped to it.
MAX_RETRY_AFTER_S = 86_400.0


def retry_after_seconds(headers: Mapping[str, str] | None, *, now_ms: int | None = None) -> float | None:
    """How long a ``Retry-After`` response header asks to wait, in seconds (RFC 9110: whole
    seconds, or an HTTP date, then relative to ``now_ms`` or the clock), at most a day; None when
    the header is absent or unreadable. ``headers`` as recorded: names in lower case."""
    raw = (headers or {}).get("retry-after")
    if raw is None:
        return None
    text = raw.strip()
    if text.isascii() and text.isdigit():
        return min(float(int(text[:12])), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    now = (time.time() * 1000 if now_ms is None else now_ms) / 1000
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER_S)


def make_history_row(
    preview: Preview,
    sim_id: str,
    wh: Webhook | None,
    headers: dict[str, str],
    sent_at_ms: int,
    outcome: Outcome,
    *,
    replay_of: int | None = None,
) -> Attempt:
    """The history record of one attempt (what is stored; nothing derived), with who sent it
    from where (:func:`simlib.core.identity.sender`)."""
    user, host = sender()
    # Every field of the record, by name (Attempt.from_fields: no dataclass __init__ per send;
    # tests/core/test_record.py checks these are exactly the record's fields).
    return Attempt.from_fields({
        "simulation_id": sim_id,
        "sent_at_ms": sent_at_ms,
        "webhook_id": wh.id if wh else preview.webhook_id,
        "webhook_name": wh.name if wh else preview.webhook_name,
        "url": wh.url if wh else preview.url,
        "event_type": preview.event_type,
        "result": DELIVERED if is_delivered(outcome) else FAILED,
        "http_status": outcome.http_status,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
        "detail": outcome.detail,
        "event_id": preview.event_id,
        "request_headers": headers,
        "request_body": preview.body,
        "response_headers": outcome.response_headers,
        "response_body": outcome.response_body,
        "response_truncated": outcome.response_truncated,
        "replay_of": replay_of,
        "user": user,
        "host": host,
    })


def pending_row(
    preview: Preview,
    sim_id: str,
    wh: Webhook | None,
    headers: dict[str, str],
    sent_at_ms: int,
    *,
    replay_of: int | None = None,
) -> Attempt:
    """The row reserved before a send (``Store.reserve``): what is known before the request goes
    out, marked :data:`~simlib.records.INTERRUPTED` (Failed, "Simulation failed", no status) until
    the outcome replaces it -- what the history keeps if the process stops in between."""
    row = make_history_row(preview, sim_id, wh, headers, sent_at_ms, _PENDING, replay_of=replay_of)
    row.__dict__["response_headers"] = {}  # its own dict, as a fresh Outcome's (issue 12: no Outcome per row)
    return row


#: The outcome of every pending row (never changed; each row gets its own response headers).
_PENDING: Final = Outcome(error=SIMULATION_FAILED, detail=INTERRUPTED)


def outcome_bytes(config: DeliveryConfig, *, headers_known: bool = True) -> int:
    """The most an outcome may add to a pending row: the response body (up to
    ``max_response_bytes`` read, which decodes to at most three times as many UTF-8 bytes, as
    replacement characters), plus :data:`OUTCOME_ROOM`, plus the request headers when they are
    only signed at send time (bursts)."""
    return 3 * config.max_response_bytes + OUTCOME_ROOM + (0 if headers_known else REQUEST_HEADERS_ROOM)


def result_from_row(row: Attempt, *, history_id: int | None = None, note: str = "") -> SimulationResult:
    """The result a caller sees for a history record: recorded as ``history_id`` (None: not
    recorded), ``note`` appended to the detail."""
    return SimulationResult.of(row, history_id=history_id, note=note)
