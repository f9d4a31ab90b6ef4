"""Value objects: a masked secret, a webhook, a preview, and the result of one send."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Final, Literal

__all__ = [
    "DELIVERED",
    "ERROR_STATUS",
    "EVENT_NOT_REGISTERED",
    "FAILED",
    "NETWORK_ERROR",
    "SERVICE_UNAVAILABLE",
    "SIMULATION_FAILED",
    "WEBHOOK_NOT_FOUND",
    "Preview",
    "Result",
    "Secret",
    "SimulationError",
    "SimulationResult",
    "Webhook",
    "mask_secret",
]

#: The result of an attempt: Delivered iff the endpoint answered 2xx.
Result = Literal["Delivered", "Failed"]
#: The Trackpilots simulation errors (spec §8.6).
SimulationError = Literal[
    "Webhook not found", "Event type not registered", "Service unavailable", "Network error", "Simulation failed"
]

WEBHOOK_NOT_FOUND: Final = "Webhook not found"
EVENT_NOT_REGISTERED: Final = "Event type not registered"
SERVICE_UNAVAILABLE: Final = "Service unavailable"
NETWORK_ERROR: Final = "Network error"
SIMULATION_FAILED: Final = "Simulation failed"
#: The Trackpilots simulation error table: error -> status of the simulation request (or None).
ERROR_STATUS: Final[dict[str, int | None]] = {
    WEBHOOK_NOT_FOUND: 404,
    EVENT_NOT_REGISTERED: 400,
    SERVICE_UNAVAILABLE: 503,
    NETWORK_ERROR: None,
    SIMULATION_FAILED: None,
}
DELIVERED: Final = "Delivered"
FAILED: Final = "Failed"


def mask_secret(value: str) -> str:
    """``********wXyZ``: enough to tell secrets apart, never enough to use one."""
    if len(value) >= 16:
        return "********" + value[-4:]
    return "********"


class Secret:
    """A webhook secret that does not leak: ``str``, ``repr`` and ``format`` are masked.

    Use :meth:`reveal` where the real value is needed (signing, ``--reveal-secret``).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def masked(self) -> str:
        return mask_secret(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:  # pickling would be a way out; refuse it
        raise TypeError("Secret cannot be pickled")


def _utc(ms: int | None) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _iso(ms: int) -> str:
    """``2026-01-28T09:13:21.771Z``"""
    return _utc(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")  # type: ignore[union-attr]


@dataclass(frozen=True)
class Webhook:
    """A reseller webhook a simulation targets. The secret is a :class:`Secret` (masked)."""

    id: str
    name: str
    url: str
    events: tuple[str, ...]
    secret: Secret = field(repr=True)
    created_ms: int
    updated_ms: int
    previous_secret: Secret | None = None
    previous_secret_expires_ms: int | None = None

    @property
    def created_at(self) -> datetime:
        return _utc(self.created_ms)  # type: ignore[return-value]

    @property
    def updated_at(self) -> datetime:
        return _utc(self.updated_ms)  # type: ignore[return-value]

    @property
    def label(self) -> str:
        """``name — URL``, as the webhook dropdown shows it."""
        return f"{self.name} — {self.url}"

    def to_dict(self, *, reveal_secret: bool = False) -> dict[str, Any]:
        """JSON-ready view; the secret is masked unless ``reveal_secret``."""
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "secret": self.secret.reveal() if reveal_secret else self.secret.masked,
            "created_at": _iso(self.created_ms),
            "updated_at": _iso(self.updated_ms),
        }
        if self.previous_secret is not None and self.previous_secret_expires_ms is not None:
            d["previous_secret_expires_at"] = _iso(self.previous_secret_expires_ms)
        return d


@dataclass(frozen=True)
class Preview:
    """A payload serialised once. ``body`` is exactly what Send will POST and sign.

    Holds no secret: the signature is computed at send time from the webhook as it is then.
    """

    webhook_id: str
    webhook_name: str
    url: str
    event_type: str
    body: bytes = field(repr=False)
    seed: int
    event_id: str
    options: tuple[tuple[str, Any], ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def payload(self) -> Any:
        """The body parsed back to Python objects (a fresh copy each time)."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body exactly, as text (it is UTF-8)."""
        return self.body.decode("utf-8")

    @property
    def pretty(self) -> str:
        """The same bytes pretty-printed for reading (non-ASCII shown as is)."""
        return json.dumps(self.payload, indent=2, ensure_ascii=False)

    @property
    def size(self) -> int:
        return len(self.body)

    def __repr__(self) -> str:
        return (
            f"Preview(webhook_id={self.webhook_id!r}, event_type={self.event_type!r}, "
            f"seed={self.seed}, bytes={len(self.body)})"
        )


@dataclass(frozen=True)
class SimulationResult:
    """What one Send did. Never raised, always returned (and recorded)."""

    simulation_id: str
    webhook_id: str
    webhook_name: str
    url: str
    event_type: str
    event_id: str
    result: str  # Delivered | Failed
    http_status: int | None
    latency_ms: float | None
    error: str | None  # one of the Trackpilots simulation errors, or None
    error_status: int | None  # 404 / 400 / 503 for simulation errors that have one
    detail: str  # one readable line: what happened
    request_headers: dict[str, str]
    payload: str  # the exact body sent, as text
    response_body: str
    response_truncated: bool
    response_headers: dict[str, str]
    sent_at_ms: int
    recorded: bool = True
    history_id: int | None = None

    @property
    def delivered(self) -> bool:
        return self.result == DELIVERED

    @property
    def error_detail(self) -> str | None:
        return self.detail if self.error else None

    @property
    def sent_at(self) -> datetime:
        return _utc(self.sent_at_ms)  # type: ignore[return-value]

    @property
    def signature(self) -> str | None:
        return self.request_headers.get("x-webhook-signature")

    @property
    def timestamp(self) -> str | None:
        return self.request_headers.get("x-webhook-timestamp")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the shape of ``simlib send --json``."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["error_detail"] = self.error_detail
        d["sent_at"] = _iso(self.sent_at_ms)
        return d

    def __repr__(self) -> str:
        status = self.http_status if self.http_status is not None else "-"
        err = f", error={self.error!r}" if self.error else ""
        lat = f"{self.latency_ms:.1f} ms" if self.latency_ms is not None else "-"
        return (
            f"SimulationResult({self.result}, status={status}, latency={lat}{err}, "
            f"event_type={self.event_type!r}, webhook_id={self.webhook_id!r})"
        )

