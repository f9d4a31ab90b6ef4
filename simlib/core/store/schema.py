"""The store's tables and schema versions, derived from the one history record.

The history table is the key ``id`` (assigned on append, so rows keep insertion order) plus one
column per stored field of :class:`simlib.records.Attempt`, in the record's order, typed by each
field's kind; nothing derived is stored. What a reader sees is a view of the same record
(:func:`simlib.records.record_view`): ``history()`` and its exports show ``id`` and the ``frame``
view, ``history_row()`` ``id`` and the ``row`` view. This module says *what* the tables and views
are, independent of the database; ``alchemy.py`` renders them as SQLAlchemy Core ``Table``
objects (a PostgreSQL and an SQLite flavour) and runs the migration steps for both backends.

Versions (the row of :data:`VERSION_TABLE` in both backends; SQLite keeps ``PRAGMA user_version``
equal to it, which is all the releases before issue 13 read): a new store is created at :data:`SCHEMA_VERSION`
straight from the record; a store from :data:`BASE_VERSION` on (the first release that had a
version, 1) is upgraded in place by the :data:`MIGRATIONS` after its version, all in one write
transaction; a store from a newer simlib is refused. Adding a column is one field on the record
plus one :class:`Migration` with an :class:`AddColumn` step; a test checks that a store migrated
from the release fixture has exactly the table a new store gets.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from simlib.records import Attempt, FieldSpec, Kind, ViewItem, record_fields, record_view

__all__ = [
    "BASE_VERSION",
    "ENCRYPTED_SINCE",
    "VERSION_TABLE",
    "WEBHOOK_COLUMNS",
    "ColumnDef",
    "EncryptSecrets",
    "EXPORT_COLUMNS",
    "HISTORY_COLUMNS",
    "HISTORY_TABLE",
    "KEY",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "WEBHOOKS_TABLE",
    "AddColumn",
    "DropColumn",
    "Migration",
    "Step",
    "frame_columns",
    "frame_dtypes",
    "frame_view",
    "pending_migrations",
    "stored_fields",
    "time_columns",
]

HISTORY_TABLE: Final = "history"
WEBHOOKS_TABLE: Final = "webhooks"
#: The schema version of both backends: one row, one column ``version`` (an SQLite store of a
#: release before issue 13 has only ``PRAGMA user_version``; it gets the table when upgraded).
VERSION_TABLE: Final = "simlib_schema"
#: The history table's key: the attempt's history id (``SimulationResult.history_id``).
KEY: Final = "id"


class AddColumn(NamedTuple):
    """Add a column (NOT NULL needs a ``default``: the value existing rows get)."""

    table: str
    name: str
    kind: Kind
    nullable: bool = True
    default: str | int | float | None = None


class DropColumn(NamedTuple):
    """Drop a column (its values are lost: use it for values that are now derived)."""

    table: str
    name: str


class EncryptSecrets(NamedTuple):
    """Encrypt the secrets of a table in place (plain text -> Fernet tokens); the backend runs
    it with the store's key (a value that is already a token is left as it is)."""

    table: str
    columns: tuple[str, ...]


Step = AddColumn | DropColumn | EncryptSecrets


class ColumnDef(NamedTuple):
    """A column of a table not derived from the record (the webhooks)."""

    name: str
    kind: Kind
    nullable: bool = False
    primary_key: bool = False


#: The webhooks table, in column order (both backends render it).
WEBHOOK_COLUMNS: Final[tuple[ColumnDef, ...]] = (
    ColumnDef("id", "text", primary_key=True),
    ColumnDef("name", "text"),
    ColumnDef("url", "text"),
    ColumnDef("events", "json"),
    ColumnDef("secret", "text"),
    ColumnDef("previous_secret", "text", nullable=True),
    ColumnDef("previous_secret_expires_ms", "time_ms", nullable=True),
    ColumnDef("created_ms", "time_ms"),
    ColumnDef("updated_ms", "time_ms"),
    ColumnDef("position", "int"),
    ColumnDef("organisation_id", "text", nullable=True),  # schema version 3 (issue 14): last, where ADD COLUMN puts it
)


class Migration(NamedTuple):
    """The steps from ``version - 1`` to ``version``, and why (for the reader of the history)."""

    version: int
    why: str
    steps: tuple[Step, ...]


#: The oldest version that upgrades in place: release 0.x, the first with a schema version.
BASE_VERSION: Final = 1
#: Forward migrations, oldest first; each step is frozen once released (never edit one, add one).
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        2,
        "error_status is derived on read from the error (records.ERROR_STATUS), no longer stored",
        (DropColumn(HISTORY_TABLE, "error_status"),),
    ),
    # -- issue 14 (many organisations, one URL): the webhook's default organisation id --------
    Migration(
        3,
        "a webhook can carry an organisation id, the default of organisation.organisationId in its payloads",
        (AddColumn(WEBHOOKS_TABLE, "organisation_id", "text"),),
    ),
    # -- end issue 14 ---------------------------------------------------------------------------
    # -- issue 13 (a shared store) -----------------------------------------------------------------
    Migration(
        4,
        "a shared store: who sent each attempt and from which host; webhook secrets encrypted at rest",
        (
            AddColumn(HISTORY_TABLE, "user", "text"),
            AddColumn(HISTORY_TABLE, "host", "text"),
            EncryptSecrets(WEBHOOKS_TABLE, ("secret", "previous_secret")),
        ),
    ),
)
SCHEMA_VERSION: Final = MIGRATIONS[-1].version if MIGRATIONS else BASE_VERSION
#: The first version whose webhook secrets are Fernet tokens (a store from before holds them in
#: plain text until it is upgraded).
ENCRYPTED_SINCE: Final = next(
    m.version for m in MIGRATIONS if any(isinstance(step, EncryptSecrets) for step in m.steps)
)


def pending_migrations(version: int) -> tuple[Migration, ...]:
    """The migrations a store at ``version`` needs, in order."""
    return tuple(m for m in MIGRATIONS if m.version > version)


def stored_fields(record: type[Attempt] = Attempt) -> tuple[FieldSpec, ...]:
    """The history table's columns after the key: the record's fields."""
    return record_fields(record)


def frame_view(record: type[Attempt] = Attempt) -> tuple[ViewItem, ...]:
    return record_view(record, "frame")


def frame_columns(record: type[Attempt] = Attempt) -> tuple[str, ...]:
    """The columns of ``history()`` and of its exports, in order: the key, then the frame view."""
    return (KEY, *(item.key for item in frame_view(record)))


#: pandas dtype of a frame column by kind (and nullability); text and JSON stay Python objects.
_DTYPES: Final[dict[tuple[Kind, bool], str]] = {
    ("int", False): "int64",
    ("int", True): "Int64",
    ("time_ms", False): "int64",
    ("time_ms", True): "Int64",
    ("float", False): "float64",
    ("float", True): "float64",
    ("bool", False): "bool",
    ("bool", True): "boolean",
}


def frame_dtypes(record: type[Attempt] = Attempt) -> dict[str, str]:
    """The dtypes ``history()`` reads its columns as (``time_ms`` columns are then made UTC
    datetimes: :func:`time_columns`)."""
    dtypes = {KEY: "int64"}
    for item in frame_view(record):
        dtype = _DTYPES.get((item.kind, item.nullable))
        if dtype is not None:
            dtypes[item.key] = dtype
    return dtypes


def time_columns(record: type[Attempt] = Attempt) -> tuple[str, ...]:
    """The frame columns holding epoch milliseconds, shown as UTC datetimes."""
    return tuple(item.key for item in frame_view(record) if item.kind == "time_ms")


#: Public column names of ``history()``, in order.
HISTORY_COLUMNS: Final[list[str]] = list(frame_columns())
#: The columns of a CSV / JSON / Parquet export: the same as ``history()``.
EXPORT_COLUMNS: Final[tuple[str, ...]] = frame_columns()
