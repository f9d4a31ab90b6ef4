"""Value objects: a masked secret, a webhook, a preview, the history record of one attempt
(:class:`Attempt`) and the result of one send (:class:`SimulationResult`, an Attempt plus where
it was recorded).

:class:`Attempt` is the one definition of the history record: the store's columns and SQL, the
dtypes of ``history()``, the CSV/JSON/Parquet exports, ``history_row()`` and
``SimulationResult.to_dict()`` (the CLI's ``--json``) are all derived from its fields and their
:func:`column` metadata (see :func:`record_fields` and :func:`record_view`).
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Final, Literal, NamedTuple, Self, Union, get_args, get_origin, get_type_hints

__all__ = [
    "ALL_VIEWS",
    "CANCELLED",
    "CANCELLED_BEFORE_CONNECT",
    "CANCELLED_BEFORE_SEND",
    "CANCELLED_CONNECTED",
    "DELIVERED",
    "ERROR_STATUS",
    "EVENT_NOT_REGISTERED",
    "FAILED",
    "INTERRUPTED",
    "NETWORK_ERROR",
    "SERVICE_UNAVAILABLE",
    "SIMULATION_FAILED",
    "WEBHOOK_NOT_FOUND",
    "Attempt",
    "Column",
    "Derivation",
    "Derived",
    "FieldSpec",
    "Kind",
    "Preview",
    "Result",
    "Secret",
    "SimulationError",
    "SimulationResult",
    "View",
    "ViewItem",
    "Webhook",
    "column",
    "mask_secret",
    "record_fields",
    "record_view",
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
#: The detail of a row reserved before its send and never completed: the process stopped (or the
#: store failed) between the send and recording its outcome. Such a row is Failed with
#: "Simulation failed" and no status -- never Delivered -- and the request may have gone out.
INTERRUPTED: Final = (
    "interrupted: recorded before sending, but the outcome never was (the process stopped or the "
    "store failed after the request may have gone out)"
)

#: The start of the detail of an attempt its user cancelled ("Simulation failed", never Delivered);
#: the rest says how far it got.
CANCELLED: Final = "Cancelled by the user"
CANCELLED_BEFORE_SEND: Final = f"{CANCELLED} before sending (nothing was sent)"
CANCELLED_BEFORE_CONNECT: Final = f"{CANCELLED} before the connection was made (nothing was sent)"
CANCELLED_CONNECTED: Final = (
    f"{CANCELLED} after connecting, before a complete response (the request may have reached the endpoint)"
)


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


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _iso(ms: int) -> str:
    """``2026-01-28T09:13:21.771Z``"""
    return _utc(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    #: The default of ``organisation.organisationId`` in this webhook's payloads (None: a fresh
    #: one per payload): one URL can serve many organisations' webhooks, each with its own secret.
    organisation_id: str | None = None

    @property
    def created_at(self) -> datetime:
        return _utc(self.created_ms)

    @property
    def updated_at(self) -> datetime:
        return _utc(self.updated_ms)

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
            "organisation_id": self.organisation_id,
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

    @classmethod
    def from_fields(cls, values: dict[str, Any]) -> Self:
        """The preview with exactly these field values (every field, by name), without the
        dataclass ``__init__`` (as :meth:`Attempt.from_fields`; every send builds one)."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "__dict__", values)
        return obj

    @property
    def payload(self) -> Any:
        """The body parsed back to Python objects (a fresh copy each time), usually a dict.

        Not the same type as :attr:`Attempt.payload` / ``SimulationResult.payload``, which is the
        exact body as *text* (what was sent and recorded); :attr:`text` is that text here.
        """
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


# -- the history record -------------------------------------------------------------------------------
# The metadata types are NamedTuples, not dataclasses: they are made at import, and a dataclass
# costs ~0.3 ms to create (bench_import.py).

#: How a field of the history record is stored and shown. Inferred from the field's annotation
#: (``str`` or a ``Literal`` of strings -> text, ``int``, ``float``, ``bool``, ``dict`` -> json,
#: ``bytes``) unless :func:`column` names one: ``time_ms`` is epoch milliseconds, stored as an
#: integer and shown by ``history()`` as a UTC datetime. ``| None`` makes a field nullable.
Kind = Literal["text", "int", "float", "bool", "json", "bytes", "time_ms"]
#: Where the values of the record are shown: ``frame`` = ``history()`` and its CSV/JSON/Parquet
#: exports; ``json`` = ``SimulationResult.to_dict()`` (the CLI's ``--json``); ``row`` =
#: ``history_row()`` (the stored values, the request body as bytes).
View = Literal["frame", "json", "row"]
ALL_VIEWS: Final[frozenset[View]] = frozenset(("frame", "json", "row"))
#: How a derived value is computed, on read, from its source field: ``lookup`` in a table (an
#: error -> its status), a ``header`` of a header object, the UTF-8 ``text`` of bytes.
Derivation = Literal["lookup", "header", "text"]
_COLUMN_KEY: Final = "simlib.column"


class Derived(NamedTuple):
    """A value computed from a stored field when the record is read; never stored.

    The store renders ``how`` as SQL (so ``history()`` computes it in the query), the record has it
    as a property (``attr``, default ``name``), and :meth:`compute` is the reference both agree with.
    Shown right after its source field unless ``frame_after`` / ``json_after`` name another entry.
    """

    name: str
    kind: Kind
    how: Derivation
    nullable: bool = True
    table: Mapping[str, int | None] | None = None
    header: str | None = None
    attr: str | None = None
    views: frozenset[View] = ALL_VIEWS
    frame_after: str | None = None
    json_after: str | None = None

    def compute(self, value: Any) -> Any:
        """The derived value for the source field's ``value``."""
        if value is None:
            return None
        if self.how == "lookup":
            return (self.table or {}).get(value)
        if self.how == "header":
            return value.get(self.header)
        return bytes(value).decode("utf-8")


class Column(NamedTuple):
    """The per-field metadata of the history record (set with :func:`column`)."""

    kind: Kind | None = None
    frame_name: str | None = None
    views: frozenset[View] = ALL_VIEWS
    frame_after: str | None = None
    json_after: str | None = None
    derived: tuple[Derived, ...] = ()


def column(
    *,
    kind: Kind | None = None,
    frame_name: str | None = None,
    views: frozenset[View] = ALL_VIEWS,
    frame_after: str | None = None,
    json_after: str | None = None,
    derived: tuple[Derived, ...] = (),
) -> dict[str, Column]:
    """Metadata for a field of the record: ``field(metadata=column(...))``.

    ``kind``: when the annotation does not say it (``time_ms``); ``frame_name``: its name in
    ``history()`` when it differs; ``views``: where it is shown (default everywhere);
    ``frame_after`` / ``json_after``: the entry it follows there, when not the record's order;
    ``derived``: values computed from it on read.
    """
    return {_COLUMN_KEY: Column(kind, frame_name, views, frame_after, json_after, derived)}


class FieldSpec(NamedTuple):
    """One stored field of the record, resolved: its name (the attribute and the storage column),
    its kind, whether it may be None, and its metadata."""

    name: str
    kind: Kind
    nullable: bool
    column: Column


class ViewItem(NamedTuple):
    """One entry of a view: its ``key`` there, the record attribute ``attr`` that holds it, its kind,
    the stored field it comes from, and the derivation when it is derived."""

    key: str
    attr: str
    kind: Kind
    nullable: bool
    source: str
    derived: Derived | None = None


_KINDS: Final[dict[type, Kind]] = {bool: "bool", int: "int", float: "float", str: "text", bytes: "bytes", dict: "json"}


def _kind_of(name: str, hint: Any) -> tuple[Kind, bool]:
    nullable = False
    if get_origin(hint) in (Union, types.UnionType):
        rest = [a for a in get_args(hint) if a is not type(None)]
        nullable = len(rest) < len(get_args(hint))
        if len(rest) != 1:
            raise TypeError(f"history record field {name!r}: one type or 'T | None', not {hint!r}")
        hint = rest[0]
    origin = get_origin(hint)
    if origin is Literal and all(isinstance(a, str) for a in get_args(hint)):
        return "text", nullable
    base = origin if origin is not None else hint
    if base in _KINDS:
        return _KINDS[base], nullable
    raise TypeError(f"history record field {name!r}: no column kind for {hint!r}; give column(kind=...)")


_FIELDS: dict[type[Attempt], tuple[FieldSpec, ...]] = {}
_VIEWS: dict[tuple[type[Attempt], View], tuple[ViewItem, ...]] = {}


def record_fields(record: type[Attempt]) -> tuple[FieldSpec, ...]:
    """The stored fields of a history record class, in order (computed once per class)."""
    specs = _FIELDS.get(record)
    if specs is None:
        specs = _FIELDS[record] = _resolve_fields(record)
    return specs


def _resolve_fields(record: type[Attempt]) -> tuple[FieldSpec, ...]:
    hints = get_type_hints(record)
    specs: list[FieldSpec] = []
    for f in fields(record):
        col = f.metadata.get(_COLUMN_KEY, Column())
        inferred, nullable = _kind_of(f.name, hints[f.name])
        specs.append(FieldSpec(f.name, col.kind or inferred, nullable, col))
    return tuple(specs)


def record_view(record: type[Attempt], view: View) -> tuple[ViewItem, ...]:
    """The entries ``view`` shows of a history record class, in order (computed once per class):
    each stored field shown there, each derived value right after its source, then moved after
    the entry named by ``frame_after`` / ``json_after``."""
    items = _VIEWS.get((record, view))
    if items is None:
        items = _VIEWS[record, view] = _arrange_view(record, view)
    return items


def _arrange_view(record: type[Attempt], view: View) -> tuple[ViewItem, ...]:
    items: list[ViewItem] = []
    after: dict[str, str] = {}

    def place(item: ViewItem, frame_after: str | None, json_after: str | None) -> None:
        items.append(item)
        anchor = frame_after if view == "frame" else json_after if view == "json" else None
        if anchor is not None:
            after[item.key] = anchor

    for spec in record_fields(record):
        col = spec.column
        if view in col.views:
            key = col.frame_name if view == "frame" and col.frame_name else spec.name
            place(ViewItem(key, spec.name, spec.kind, spec.nullable, spec.name), col.frame_after, col.json_after)
        for d in col.derived:
            if view in d.views:
                place(ViewItem(d.name, d.attr or d.name, d.kind, d.nullable, spec.name, d), d.frame_after, d.json_after)
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        raise TypeError(f"history record {record.__name__}: duplicate {view} keys in {keys}")
    ordered = [item for item in items if item.key not in after]
    pending = [item for item in items if item.key in after]
    while pending:
        placed = [item for item in pending if any(o.key == after[item.key] for o in ordered)]
        if not placed:
            raise TypeError(f"history record {record.__name__}: {view} anchors {after} name no entry")
        for item in placed:
            anchor = next(i for i, o in enumerate(ordered) if o.key == after[item.key])
            ordered.insert(anchor + 1, item)
            pending.remove(item)
    return tuple(ordered)


@dataclass(frozen=True)
class Attempt:
    """The history record of one attempt, exactly as it is stored: **the one definition**.

    The store's table (columns, types, NOT NULL), its INSERT and SELECT, the columns and dtypes of
    ``history()`` and the exports, ``history_row()`` and ``SimulationResult.to_dict()`` all derive
    from these fields (:func:`record_fields`, :func:`record_view`). To add a column, add a field
    here (with a default, last) and one step to ``simlib.core.store.schema.MIGRATIONS``.

    Derived values are not stored: ``error_status`` comes from :data:`ERROR_STATUS`, ``payload``
    is the text of ``request_body``, ``signature`` / ``timestamp`` are the delivery headers.
    ``request_body`` holds the exact bytes that were signed and sent.
    """

    simulation_id: str
    sent_at_ms: int = field(metadata=column(kind="time_ms", frame_name="sent_at", json_after="response_headers"))
    webhook_id: str
    webhook_name: str
    url: str
    event_type: str
    result: Result
    http_status: int | None
    latency_ms: float | None
    error: SimulationError | None = field(
        metadata=column(derived=(Derived("error_status", "int", "lookup", table=ERROR_STATUS),))
    )
    detail: str  # one readable line: what happened
    event_id: str = field(metadata=column(json_after="event_type"))
    request_headers: dict[str, str] = field(
        metadata=column(
            derived=(
                Derived("signature", "text", "header", header="x-webhook-signature", views=frozenset(("frame",)),
                        frame_after="detail"),
                Derived("signature_timestamp", "text", "header", header="x-webhook-timestamp", attr="timestamp",
                        views=frozenset(("frame",)), frame_after="signature"),
            )
        )
    )
    request_body: bytes = field(
        repr=False,
        metadata=column(
            views=frozenset(("row",)),
            derived=(Derived("payload", "text", "text", nullable=False, views=frozenset(("frame", "json"))),),
        ),
    )
    response_headers: dict[str, str] = field(metadata=column(json_after="response_truncated"))
    response_body: str
    response_truncated: bool
    replay_of: int | None = field(default=None, metadata=column(views=frozenset(("frame", "row"))))
    #: Who sent it (``$SIMLIB_USER``, else the OS user) and from which host: in a shared store,
    #: the history of a team (schema version 4; None in rows recorded before it).
    user: str | None = None
    host: str | None = None

    @classmethod
    def from_fields(cls, values: dict[str, Any]) -> Self:
        """The record with exactly these field values (``values``: every field of the record,
        by name, nothing else), without the dataclass ``__init__``: issue 12's own work per
        send builds two records and a result per send, and a frozen dataclass sets each of its
        20-odd fields through ``object.__setattr__``. The record is the same (the class has no
        ``__post_init__`` and no field made by a factory); ``values`` becomes its ``__dict__``."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "__dict__", values)
        return obj

    @property
    def error_status(self) -> int | None:
        """The status of the simulation request for ``error`` (Trackpilots error table), or None."""
        return ERROR_STATUS.get(self.error) if self.error is not None else None

    @property
    def payload(self) -> str:
        """The exact body sent, as text (it is UTF-8). :attr:`Preview.payload` is the parsed
        dict instead; ``request_body`` is these bytes."""
        return self.request_body.decode("utf-8")

    @property
    def delivered(self) -> bool:
        return self.result == DELIVERED

    @property
    def sent_at(self) -> datetime:
        return _utc(self.sent_at_ms)

    @property
    def signature(self) -> str | None:
        return self.request_headers.get("x-webhook-signature")

    @property
    def timestamp(self) -> str | None:
        return self.request_headers.get("x-webhook-timestamp")

    @property
    def retry_after(self) -> str | None:
        """The ``Retry-After`` the endpoint answered with (a 429 or 503 says how long to wait), as sent."""
        return self.response_headers.get("retry-after")


@dataclass(frozen=True)
class SimulationResult(Attempt):
    """What one Send did: its :class:`Attempt` (every field of the history record) plus
    ``history_id``, the row it was recorded as (None when the store could not take it; the
    reason is then appended to ``detail``). Never raised, always returned (and recorded).

    ``payload`` is the exact body sent, as text; ``request_body`` the same bytes.
    """

    history_id: int | None = None

    @classmethod
    def of(cls, attempt: Attempt, *, history_id: int | None = None, note: str = "") -> SimulationResult:
        """The result of ``attempt``, recorded as ``history_id``; ``note`` is appended to the detail."""
        values = dict(attempt.__dict__) if type(attempt) is Attempt else dict(zip(_ATTEMPT_NAMES, _attempt_values(attempt), strict=True))
        if note:
            values["detail"] += note
        values["history_id"] = history_id  # the one field SimulationResult adds to the record's
        return cls.from_fields(values)

    @property
    def recorded(self) -> bool:
        """Whether the attempt is in the history (derived: it has a history id)."""
        return self.history_id is not None

    @property
    def error_detail(self) -> str | None:
        return self.detail if self.error else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the shape of ``simlib send --json``: the record's ``json`` view, then
        ``recorded``, ``history_id``, ``error_detail`` and ``sent_at`` (ISO 8601)."""
        d = {key: getattr(self, attr) for key, attr in _JSON_KEYS}
        d["recorded"] = self.history_id is not None
        d["history_id"] = self.history_id
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


_ATTEMPT_NAMES: Final = tuple(f.name for f in record_fields(Attempt))
_attempt_values: Final = attrgetter(_ATTEMPT_NAMES[0], *_ATTEMPT_NAMES[1:])
_JSON_KEYS: Final = tuple((item.key, item.attr) for item in record_view(Attempt, "json"))
