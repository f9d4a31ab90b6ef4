"""What the two burst engines (:mod:`.curl`, :mod:`.fast`) share: the outcome of an answered
attempt and of one that ran out of time, worded exactly as a single send words them, the header
text decoding, and the limits both fast engines have. Imports neither pycurl nor aiohttp."""

from __future__ import annotations

from simlib.core.delivery.body import BodyReader, decode_text
from simlib.core.delivery.http import DeliveryConfig, Outcome, status_detail
from simlib.records import NETWORK_ERROR

__all__ = ["answered_outcome", "deadline_outcome", "fast_engine_problem", "header_text"]


def fast_engine_problem(config: DeliveryConfig) -> str | None:
    """Why a fast burst engine (curl or aiohttp) cannot send with ``config`` (then bursts use
    httpx), or None."""
    if config.proxy:
        return "a proxy is configured"
    if config.trust_env:
        return "trust_env=True (environment proxies and CA files)"
    return None


def header_text(raw: bytes) -> str:
    """A header's bytes as text: UTF-8, else Latin-1 (as the single send reads them)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def answered_outcome(
    status: int, reason: str, headers: dict[str, str], reader: BodyReader, latency: float, config: DeliveryConfig
) -> Outcome:
    """The outcome of an answered attempt, exactly as the single send words it."""
    reader.finish()
    truncated = reader.truncated
    body, note = decode_text(reader.body, headers.get("content-type"), truncated=truncated)
    if reader.note:
        note = f"{reader.note}; {note}" if note else reader.note
        if not body:
            body = f"<{reader.note}>"
    reason = reason.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    detail = status_detail(status, reason, headers, truncated, config)
    return Outcome(
        http_status=status,
        latency_ms=latency,
        response_body=body,
        response_truncated=truncated,
        response_headers=headers,
        detail=f"{detail}; {note}" if note else detail,
    )


def deadline_outcome(status: int | None, headers: dict[str, str] | None, config: DeliveryConfig) -> Outcome:
    """The total deadline passed: while reading the body of an answer whose ``status`` had
    arrived, or before any complete answer."""
    if status is not None:
        return Outcome(
            http_status=status,
            response_headers=headers or {},
            error=NETWORK_ERROR,
            detail=(
                f"timeout: the total deadline of {config.deadline:g} s passed while reading the response "
                f"body (status {status} had arrived)"
            ),
        )
    return Outcome(
        error=NETWORK_ERROR,
        detail=f"timeout: no complete response within the total deadline of {config.deadline:g} s",
    )
