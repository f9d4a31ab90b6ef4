"""The shared store: PostgreSQL through SQLAlchemy Core (``postgresql+psycopg://...``).

The same tables as the SQLite store, rendered from the same definitions
(:mod:`~simlib.core.store.schema`: the history record's fields, :data:`WEBHOOK_COLUMNS`) as
SQLAlchemy ``Table`` objects (:func:`tables`); the same API as :class:`simlib.core.store.sqlite.Store`,
so the engine, the CLI and the explorer do not tell them apart. Imported only when a URL is
opened (SQLAlchemy and psycopg are not loaded by ``import simlib``).

- The schema version is the one row of ``simlib_schema``; creating or upgrading a database runs
  under a transaction-level advisory lock, so two people starting at once do it once. A database
  with tables named ``webhooks`` or ``history`` that simlib did not make is refused untouched; a
  newer version raises StoreVersionError.
- Webhook secrets are Fernet tokens (:mod:`~simlib.core.store.keys`): the key comes from
  ``$SIMLIB_SECRET_KEY`` (or ``$SIMLIB_SECRET_KEY_FILE``), never from the database.
- Nothing is sent that cannot be recorded: a send's row is INSERTed (reserved, "interrupted")
  in the transaction that reads its webhook, and completed by an UPDATE after it.
- Faults: connecting waits at most ``busy_timeout`` seconds (``connect_timeout``), a lock at most
  as long (``lock_timeout``), a dead connection is noticed by a ping when taken from the pool;
  every failure is a one-line StoreUnavailable that never holds the URL's password. One wait per
  operation: for ``busy_timeout`` seconds after the server could not be reached, the store's
  operations fail at once with the same reason (a send reads, then records its failure: it
  would wait twice), then the next one tries again -- the store recovers when the server is back.
- Derived values (``error_status``, ``signature``, ``payload`` ...) are computed when rows are
  read, by :meth:`simlib.records.Derived.compute` -- the reference the SQLite SQL agrees with.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from simlib.core.store.alchemy import PG_TYPES, apply_step, tables
from simlib.core.store.keys import Keyring
from simlib.core.store.location import StoreURL, scrub
from simlib.core.store.query import (
    DEFAULT_COUNT_CAP,
    DEFAULT_PAGE_ROWS,
    HISTORY_ORDERS,
    MAX_PAGE_ROWS,
    PAGE_COLUMNS,
    CappedCount,
    HistoryFilter,
    HistoryOrder,
    HistoryPage,
    PageCursor,
    id_runs,
)
from simlib.core.store.schema import (
    HISTORY_TABLE,
    KEY,
    SCHEMA_VERSION,
    VERSION_TABLE,
    WEBHOOK_COLUMNS,
    WEBHOOKS_TABLE,
    EncryptSecrets,
    Step,
    frame_columns,
    frame_dtypes,
    pending_migrations,
    stored_fields,
    time_columns,
)
from simlib.errors import ConflictError, NotFoundError, StoreError, StoreUnavailable, StoreVersionError, ValidationError
from simlib.records import INTERRUPTED, Attempt, Kind, ViewItem, Webhook, record_view

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SQL_TYPES", "SQLStore", "SQLTransaction", "tables"]

#: The SQLAlchemy type of each kind of record field (JSON is kept as its text, as in SQLite).
SQL_TYPES: Final[dict[Kind, Any]] = PG_TYPES
#: What the store's advisory lock is called (creating and upgrading the tables).
_LOCK_KEY: Final = 0x73696D6C6962  # "simlib"
#: The fields a completion writes (the pending row already holds the others as they stay).
_PENDING_FINAL: Final = frozenset(
    ("simulation_id", "webhook_id", "webhook_name", "url", "event_type", "event_id", "request_body", "replay_of", "user", "host")
)
# order -> (the sort key, with rows lacking a value placed last; descending?): query._ORDER_SQL
_ORDERS: Final[dict[str, tuple[str, float | None, bool]]] = {
    "newest": (KEY, None, True),
    "oldest": (KEY, None, False),
    "slowest": ("latency_ms", -1.0, True),
    "fastest": ("latency_ms", 1e308, False),
    "status_desc": ("http_status", -1, True),
    "status_asc": ("http_status", 1000, False),
}
# what the free-text filter searches (query._TEXT_COLUMNS), request_body as escaped text
_TEXT_COLUMNS: Final = (
    "simulation_id", "event_id", "webhook_id", "webhook_name", "url", "event_type", "detail", "error",
    "request_headers", "response_body",
)


_WEBHOOKS, _HISTORY, _VERSION = tables()
_FIELDS: Final = stored_fields()
_NAMES: Final = tuple(s.name for s in _FIELDS)
_JSON: Final = frozenset(s.name for s in _FIELDS if s.kind == "json")
_OUTCOME: Final = tuple(n for n in _NAMES if n not in _PENDING_FINAL)
_FRAME_COLUMNS: Final = list(frame_columns())
_FRAME_DTYPES: Final = frame_dtypes()
_TIME_COLUMNS: Final = time_columns()
_WH_COLS: Final = tuple(c.name for c in WEBHOOK_COLUMNS if c.name != "position")
_INSERT: Final = sa.insert(_HISTORY).returning(_HISTORY.c[KEY], sort_by_parameter_order=True)
_COMPLETE: Final = (
    sa.update(_HISTORY)
    .where(_HISTORY.c[KEY] == sa.bindparam("_hid"))
    .values({n: sa.bindparam(f"_v_{n}") for n in _OUTCOME})
)


def _values(row: Attempt, names: Sequence[str] = _NAMES) -> dict[str, Any]:
    out = {}
    for n in names:
        v = getattr(row, n)
        out[n] = json.dumps(v) if n in _JSON else v
    return out


def _decoded(item: ViewItem, stored: Mapping[str, Any]) -> Any:
    """The value of a view entry from a row's stored values (derived ones computed)."""
    value = stored[item.source]
    if item.derived is None:
        return value
    if value is not None and stored_kind(item.source) == "json":
        value = _json(value)
    if item.derived.how == "text" and value is not None:
        return bytes(value).decode("utf-8", "replace")
    return item.derived.compute(value)


@cache
def stored_kind(name: str) -> Kind:
    return next(s.kind for s in _FIELDS if s.name == name)


@lru_cache(maxsize=4096)
def _json(text: str) -> Any:
    return json.loads(text)


def _reason(error: BaseException, url: StoreURL) -> str:
    """One line saying what went wrong, without the password."""
    if isinstance(error, sa_exc.TimeoutError):
        return "every connection to the database is busy (pool timeout); retry shortly"
    orig = getattr(error, "orig", None) or error
    text = " ".join(str(orig).split()) or type(orig).__name__
    name = type(orig).__name__
    if "lock timeout" in text or name == "LockNotAvailable":
        text = f"the store is locked by another session (lock timeout exceeded); retry shortly ({text})"
    elif isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError) or name in ("OperationalError", "InterfaceError"):
        text = f"the database server is unavailable or unreachable ({text})"
    return scrub(text, url)


class SQLStore:
    """The store in a PostgreSQL database (``url``: a :class:`StoreURL`). Safe across threads
    (a pool of connections) and processes (the database's own transactions)."""

    def __init__(self, url: StoreURL, *, busy_timeout: float = 5.0) -> None:
        self.url = url
        self.busy_timeout = busy_timeout
        self.journal_mode: str | None = None
        self._engine: sa.Engine | None = None
        self._ready = False
        self._lock = threading.Lock()
        self._keyring: Keyring | None = None
        #: When the server last could not be reached (monotonic seconds), and the message said.
        self._down: tuple[float, str] | None = None

    def __repr__(self) -> str:
        return f"SQLStore({self.url.shown!r})"

    @property
    def location(self) -> str:
        """Where the store is, as it may be shown: the URL without its password."""
        return self.url.shown

    @property
    def path(self) -> str:
        """The URL without its password (what a SQLite store's ``path`` is for messages)."""
        return self.url.shown

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            self._keyring = Keyring.load(None)
        return self._keyring

    # -- connection -------------------------------------------------------------------------

    def _make_engine(self) -> sa.Engine:
        timeout = max(1.0, float(self.busy_timeout))
        return sa.create_engine(
            self.url.secret_text(),
            connect_args={
                "connect_timeout": max(2, round(timeout)),
                "options": f"-c lock_timeout={int(timeout * 1000)}",
                "tcp_user_timeout": int(timeout * 2000),
                "keepalives": 1,
                "keepalives_idle": 10,
                "application_name": "simlib",
            },
            pool_pre_ping=True,
            pool_size=4,
            max_overflow=8,
            pool_timeout=timeout,
            hide_parameters=True,
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        down = self._down
        if down is not None:
            if time.monotonic() - down[0] < self.busy_timeout:
                raise StoreUnavailable(down[1])
            self._down = None
        try:
            yield
        except (StoreError, NotFoundError, ValidationError):
            raise
        except sa_exc.IntegrityError as error:
            raise StoreUnavailable(f"store {self.url.shown}: {_reason(error, self.url)}") from None
        except (sa_exc.SQLAlchemyError, OSError) as error:
            message = f"store {self.url.shown}: {_reason(error, self.url)}"
            if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError | OSError):
                self._down = (time.monotonic(), message)
            raise StoreUnavailable(message) from None

    def _ensure(self) -> sa.Engine:
        """The engine, with the tables created or upgraded (once per store, retried after a
        failure: the server may come back)."""
        if self._ready and self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is None:
                with self._errors():
                    self._engine = self._make_engine()
            if not self._ready:
                with self._errors(), self._engine.begin() as conn:
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
                    self._prepare(conn)
                self.keyring  # noqa: B018 - a malformed key is refused when the store opens
                self._ready = True
        return self._engine

    def _prepare(self, conn: sa.Connection) -> None:
        names = set(sa.inspect(conn).get_table_names())
        if VERSION_TABLE in names:
            version = conn.execute(sa.select(_VERSION.c.version)).scalar()
            if version is None or not {WEBHOOKS_TABLE, HISTORY_TABLE} <= names:
                raise StoreUnavailable(
                    f"the database at {self.url.shown} has a {VERSION_TABLE} table but not simlib's tables; "
                    "it was left untouched"
                )
            if version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"the store at {self.url.shown} has schema version {version}, newer than this simlib "
                    f"understands ({SCHEMA_VERSION}); upgrade simlib or use another store"
                )
            for migration in pending_migrations(version):
                try:
                    with conn.begin_nested():
                        for step in migration.steps:
                            self._apply(conn, step)
                except (sa_exc.SQLAlchemyError, StoreError) as error:
                    raise StoreUnavailable(
                        f"cannot upgrade the store at {self.url.shown} from schema version {version} to "
                        f"{migration.version}: {_reason(error, self.url)}"
                    ) from None
            if version < SCHEMA_VERSION:
                conn.execute(sa.update(_VERSION).values(version=SCHEMA_VERSION))
            return
        clash = names & {WEBHOOKS_TABLE, HISTORY_TABLE}
        if clash:
            raise StoreUnavailable(
                f"the database at {self.url.shown} has tables named {', '.join(sorted(clash))} that simlib did not "
                "create (no simlib_schema table); it was left untouched: use another database or schema"
            )
        _WEBHOOKS.metadata.create_all(conn)
        conn.execute(sa.insert(_VERSION).values(version=SCHEMA_VERSION))

    def _apply(self, conn: sa.Connection, step: Step) -> None:
        """One migration step (a step already applied does nothing): the steps both backends run."""
        apply_step(conn, step, self.keyring if isinstance(step, EncryptSecrets) else None)

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        engine = self._ensure()
        with self._errors(), engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        engine = self._ensure()
        with self._errors(), engine.begin() as conn:
            yield conn

    def transaction(self, *, wait: bool = True) -> SQLTransaction:
        """One write transaction for a send (see :meth:`simlib.core.store.sqlite.Store.transaction`)."""
        return SQLTransaction(self)

    def checkpoints_aside(self) -> contextlib.AbstractContextManager[None]:
        """What :meth:`simlib.core.store.sqlite.Store.checkpoints_aside` is for SQLite: nothing
        to do here (the server checkpoints its own write-ahead log)."""
        return contextlib.nullcontext()

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            self._ready = False

    def check(self) -> None:
        """Connect (creating the tables) or raise StoreUnavailable / StoreVersionError."""
        with self._read():
            pass

    # -- webhooks ---------------------------------------------------------------------------

    def _webhook_values(self, wh: Webhook) -> dict[str, Any]:
        keyring = self.keyring
        return {
            "id": wh.id,
            "name": wh.name,
            "url": wh.url,
            "events": json.dumps(list(wh.events)),
            "secret": keyring.seal(wh.secret),
            "previous_secret": keyring.seal(wh.previous_secret) if wh.previous_secret is not None else None,
            "previous_secret_expires_ms": wh.previous_secret_expires_ms,
            "created_ms": wh.created_ms,
            "updated_ms": wh.updated_ms,
            "organisation_id": wh.organisation_id,  # issue 14 (schema version 3)
        }

    def _webhook(self, row: Sequence[Any]) -> Webhook:
        keyring = self.keyring
        return Webhook(
            id=row[0],
            name=row[1],
            url=row[2],
            events=tuple(_json(row[3])),
            secret=keyring.open(row[4]),
            previous_secret=keyring.open(row[5]) if row[5] is not None else None,
            previous_secret_expires_ms=row[6],
            created_ms=row[7],
            updated_ms=row[8],
            organisation_id=row[9],  # issue 14 (schema version 3)
        )

    def insert_webhook(self, wh: Webhook) -> None:
        values = self._webhook_values(wh)  # SecretKeyError before anything is written
        try:
            with self._write() as conn:
                if conn.execute(sa.select(_WEBHOOKS.c.id).where(_WEBHOOKS.c.id == wh.id)).first():
                    raise ValidationError("id", f"a webhook with id {wh.id!r} already exists")
                pos = conn.execute(sa.select(sa.func.coalesce(sa.func.max(_WEBHOOKS.c.position), 0) + 1)).scalar()
                conn.execute(sa.insert(_WEBHOOKS).values(**values, position=pos))
        except StoreUnavailable as error:
            if "duplicate key" in str(error):  # another user created the same id a moment earlier
                raise ValidationError("id", f"a webhook with id {wh.id!r} already exists") from None
            raise

    def replace_webhook(self, wh: Webhook, *, expected_updated_ms: int | None = None) -> None:
        """As :meth:`simlib.core.store.sqlite.Store.replace_webhook`."""
        values = self._webhook_values(wh)
        values.pop("id")
        where = _WEBHOOKS.c.id == wh.id
        if expected_updated_ms is not None:
            where = sa.and_(where, _WEBHOOKS.c.updated_ms == int(expected_updated_ms))
        with self._write() as conn:
            done = conn.execute(sa.update(_WEBHOOKS).where(where).values(**values))
            if done.rowcount == 0:
                if self._select_webhook(conn, wh.id) is None:
                    raise NotFoundError("webhook", wh.id)
                raise ConflictError("webhook", wh.id, "changed since it was read; nothing was saved")

    def delete_webhook(self, webhook_id: str) -> None:
        with self._write() as conn:
            if conn.execute(sa.delete(_WEBHOOKS).where(_WEBHOOKS.c.id == webhook_id)).rowcount == 0:
                raise NotFoundError("webhook", webhook_id)

    def _select_webhook(self, conn: sa.Connection, webhook_id: str) -> Webhook | None:
        row = conn.execute(sa.select(*(_WEBHOOKS.c[n] for n in _WH_COLS)).where(_WEBHOOKS.c.id == webhook_id)).first()
        return None if row is None else self._webhook(row)

    def get_webhook(self, webhook_id: str, *, writable: bool = False) -> Webhook:
        with self._write() if writable else self._read() as conn:
            wh = self._select_webhook(conn, webhook_id)
        if wh is None:
            raise NotFoundError("webhook", webhook_id)
        return wh

    def list_webhooks(self) -> list[Webhook]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(*(_WEBHOOKS.c[n] for n in _WH_COLS)).order_by(_WEBHOOKS.c.position, _WEBHOOKS.c.id)
            ).all()
        return [self._webhook(r) for r in rows]

    def reload_keys(self) -> None:
        """Read the keys again (after a key rotation)."""
        self._keyring = Keyring.load(None)

    def reencrypt_secrets(self, keyring: Keyring) -> int:
        """Re-encrypt every webhook secret with ``keyring``'s first key, in one transaction (a key
        rotation); how many webhooks."""
        ring = keyring
        n = 0
        with self._write() as conn:
            for row in conn.execute(sa.select(_WEBHOOKS.c.id, _WEBHOOKS.c.secret, _WEBHOOKS.c.previous_secret)).all():
                values = {"secret": ring.rotate(row[1])}
                if row[2] is not None:
                    values["previous_secret"] = ring.rotate(row[2])
                conn.execute(sa.update(_WEBHOOKS).where(_WEBHOOKS.c.id == row[0]).values(**values))
                n += 1
        return n

    # -- history ----------------------------------------------------------------------------

    def append(self, row: Attempt, *, wait: bool = True) -> int:
        with self._write() as conn:
            return _insert(conn, [row])[0]

    def append_many(self, rows: Sequence[Attempt]) -> list[int]:
        with self._write() as conn:
            return _insert(conn, rows)

    def reserve(self, rows: Sequence[Attempt], *, outcome_bytes: int, wait: bool = True) -> list[int]:
        """Insert ``rows`` as pending rows before their sends; their ids."""
        with self._write() as conn:
            return _insert(conn, rows)

    def complete(self, history_id: int, row: Attempt, *, wait: bool = True) -> None:
        self.complete_many(((history_id, row),), wait=wait)

    def complete_many(self, items: Sequence[tuple[int, Attempt]], *, wait: bool = True) -> None:
        if not items:
            return
        params = [{"_hid": int(hid), **{f"_v_{k}": v for k, v in _values(row, _OUTCOME).items()}} for hid, row in items]
        with self._write() as conn:
            conn.execute(_COMPLETE, params)

    def abandon(self, history_ids: Sequence[int]) -> None:
        """Nothing to forget: the server keeps no room for reserved rows."""

    def release(self, history_ids: Sequence[int], *, wait: bool = True) -> None:
        if not history_ids:
            return
        with self._write() as conn:
            conn.execute(
                sa.delete(_HISTORY).where(_HISTORY.c[KEY].in_([int(h) for h in history_ids]), _HISTORY.c.detail == INTERRUPTED)
            )

    def history_count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(_HISTORY)).scalar_one())

    def history_row(self, history_id: int) -> dict[str, Any]:
        with self._read() as conn:
            row = conn.execute(sa.select(_HISTORY).where(_HISTORY.c[KEY] == int(history_id))).mappings().first()
        if row is None:
            raise NotFoundError("history row", history_id)
        stored = dict(row)
        out: dict[str, Any] = {KEY: stored[KEY]}
        for item in record_view(Attempt, "row"):
            value = _decoded(item, stored)
            if value is not None and item.derived is None:
                if item.kind == "json":
                    value = json.loads(value)
                elif item.kind == "bytes":
                    value = bytes(value)
                elif item.kind == "bool":
                    value = bool(value)
            out[item.key] = value
        return out

    def history_frame(
        self,
        filters: HistoryFilter | None = None,
        *,
        limit: int | None = None,
    ) -> pd.DataFrame:
        return self.history_filtered(filters, limit=limit)

    def history_frames(
        self,
        filters: HistoryFilter | None = None,
        *,
        limit: int | None = None,
        chunk_rows: int = 20_000,
    ) -> Iterator[pd.DataFrame]:
        """:meth:`history_frame` in frames of at most ``chunk_rows`` rows, oldest first, read by
        key ranges (``id > last``), so a streamed export's memory does not grow with the history.
        With ``limit`` (the newest N) the chunks start at the first of those N."""
        after: int | None = None
        left = None if limit is None else int(limit)
        if left is not None:
            newest = self.history_filtered(filters, limit=left, columns=[KEY])
            if not len(newest):
                yield self.history_filtered(filters, limit=0)
                return
            after = int(newest[KEY].iloc[0]) - 1
        first = True
        while True:
            take = chunk_rows if left is None else min(chunk_rows, left)
            frame = self.history_filtered(filters, first_rows=take, after_id=after)
            if len(frame) or first:
                yield frame
            first = False
            if len(frame) < take or take == 0:
                return
            after = int(frame[KEY].iloc[-1])
            if left is not None:
                left -= len(frame)
                if left <= 0:
                    return

    def history_frame_rows(self, filters: HistoryFilter | None = None, *, limit: int | None = None) -> int:
        """How many rows :meth:`history_frame` would give (for an export's progress bar)."""
        f = filters or HistoryFilter()
        with self._read() as conn:
            n = int(conn.execute(sa.select(sa.func.count()).select_from(_HISTORY).where(*_where(f))).scalar() or 0)
        return n if limit is None else min(n, int(limit))

    def history_filtered(
        self,
        filters: HistoryFilter | None = None,
        *,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        first_rows: int | None = None,
        after_id: int | None = None,
    ) -> pd.DataFrame:
        import pandas as pd

        wanted = None if columns is None else {KEY, *columns}
        unknown = set() if wanted is None else wanted - set(_FRAME_COLUMNS)
        if unknown:
            raise ValidationError("columns", f"not history columns: {', '.join(sorted(unknown))}")
        keys = [c for c in _FRAME_COLUMNS if wanted is None or c in wanted]
        items = [i for i in record_view(Attempt, "frame") if i.key in keys]
        sources = sorted({i.source for i in items}, key=_NAMES.index)
        h = _HISTORY
        query = sa.select(h.c[KEY], *(h.c[s] for s in sources)).where(*_where(filters))
        if after_id is not None:
            query = query.where(h.c[KEY] > int(after_id))
        if first_rows is not None:  # the oldest ``first_rows`` (after ``after_id``): an export's chunk
            query = query.order_by(h.c[KEY]).limit(int(first_rows))
        elif limit is not None:
            query = query.order_by(h.c[KEY].desc()).limit(int(limit))
        else:
            query = query.order_by(h.c[KEY])
        with self._read() as conn:
            fetched: list[Mapping[str, Any]] = [dict(r) for r in conn.execute(query).mappings()]
        if limit is not None:
            fetched = list(reversed(fetched))
        data: dict[str, list[Any]] = {KEY: [r[KEY] for r in fetched]}
        for item in items:
            data[item.key] = [_decoded(item, r) for r in fetched]
        frame = pd.DataFrame(data, columns=keys)
        dtypes = {k: v for k, v in _FRAME_DTYPES.items() if k in keys}
        frame = frame.astype(dtypes) if len(frame) or dtypes else frame
        for name in _TIME_COLUMNS:
            if name in keys:
                frame[name] = pd.to_datetime(frame[name].astype("int64"), unit="ms", utc=True)
        return frame[keys]

    def history_page(
        self,
        filters: HistoryFilter | None = None,
        *,
        order: HistoryOrder = "newest",
        after: PageCursor | None = None,
        before: PageCursor | None = None,
        limit: int = DEFAULT_PAGE_ROWS,
    ) -> HistoryPage:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_ROWS:
            raise ValidationError("limit", f"must be a whole number from 1 to {MAX_PAGE_ROWS}, not {limit!r}")
        if order not in _ORDERS:
            raise ValidationError("order", f"must be one of {', '.join(HISTORY_ORDERS)}, not {order!r}")
        if after is not None and before is not None:
            raise ValidationError("before", "give after or before, not both")
        h = _HISTORY
        column, fill, descending = _ORDERS[order]
        key = h.c[KEY] if fill is None else sa.func.coalesce(h.c[column], fill)
        conds = _where(filters)
        reverse = before is not None
        cursor = before if before is not None else after
        forward_smaller = descending != reverse
        if cursor is not None:
            if fill is None:
                conds.append(h.c[KEY] < int(cursor.id) if forward_smaller else h.c[KEY] > int(cursor.id))
            else:
                pair, at = sa.tuple_(key, h.c[KEY]), sa.tuple_(sa.literal(cursor.key), sa.literal(int(cursor.id)))
                conds.append(pair < at if forward_smaller else pair > at)
        direction: Callable[[Any], Any] = (lambda c: c.desc()) if forward_smaller else (lambda c: c.asc())
        order_by = [direction(h.c[KEY])] if fill is None else [direction(key), direction(h.c[KEY])]
        query = sa.select(*(h.c[c] for c in PAGE_COLUMNS), key.label("_key")).where(*conds).order_by(*order_by).limit(limit + 1)
        with self._read() as conn:
            fetched = [tuple(r) for r in conn.execute(query).all()]
        has_more = len(fetched) > limit
        fetched = fetched[:limit]
        if reverse:
            fetched.reverse()
        n = len(PAGE_COLUMNS)
        rows = tuple(dict(zip(PAGE_COLUMNS, r[:n], strict=True)) for r in fetched)
        first = PageCursor(fetched[0][n], int(fetched[0][0])) if fetched else None
        last = PageCursor(fetched[-1][n], int(fetched[-1][0])) if fetched else None
        return HistoryPage(rows, has_more, first, last)

    def history_count_capped(self, filters: HistoryFilter | None = None, *, cap: int = DEFAULT_COUNT_CAP) -> CappedCount:
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValidationError("cap", f"must be a whole number >= 1, not {cap!r}")
        sub = sa.select(sa.literal(1)).select_from(_HISTORY).where(*_where(filters)).limit(cap + 1).subquery()
        with self._read() as conn:
            n = int(conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one())
        return CappedCount(min(n, cap), n > cap)

    def replays_of(self, history_id: int, *, limit: int = 100) -> list[int]:
        h = _HISTORY
        with self._read() as conn:
            rows = conn.execute(
                sa.select(h.c[KEY])
                .where(h.c[KEY] > int(history_id), h.c.replay_of == int(history_id))
                .order_by(h.c[KEY])
                .limit(int(limit))
            ).all()
        return [int(r[0]) for r in rows]

    def find_attempts(self, *, signature: str | None = None, timestamp: str | None = None, limit: int = 20) -> list[int]:
        header, value = ("x-webhook-signature", signature) if signature else ("x-webhook-timestamp", timestamp)
        if not value or not value.isascii() or '"' in value or "\\" in value:
            return []
        h = _HISTORY
        headers = h.c.request_headers
        with self._read() as conn:
            rows = conn.execute(
                sa.select(h.c[KEY])
                .where(
                    sa.func.strpos(headers, value) > 0,
                    sa.cast(headers, JSONB)[header].astext == value,
                )
                .order_by(h.c[KEY].desc())
                .limit(int(limit))
            ).all()
        return [int(r[0]) for r in rows]


def _insert(conn: sa.Connection, rows: Sequence[Attempt]) -> list[int]:
    """INSERT history rows (one statement for one row, insertmanyvalues for more); their ids."""
    if not rows:
        return []
    if len(rows) == 1:
        return [int(conn.execute(_INSERT, _values(rows[0])).scalar_one())]
    return [int(i) for i in conn.execute(_INSERT, [_values(r) for r in rows]).scalars().all()]


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _where(f: HistoryFilter | None) -> list[Any]:
    """The conditions of a filter (query.filter_sql, as SQLAlchemy expressions)."""
    if f is None:
        return []
    h = _HISTORY
    conds: list[Any] = []
    for column, values in (("webhook_id", f.webhook), ("event_type", f.event_type), ("user", f.user), ("host", f.host)):
        if values:
            conds.append(h.c[column].in_(values))
    if f.result:
        conds.append(sa.or_(h.c.result.in_(f.result), h.c.error.in_(f.result)))
    if f.status_class:
        parts: list[Any] = []
        for c in f.status_class:
            if c == "none":
                parts.append(h.c.http_status.is_(None))
            else:
                low = int(c[0]) * 100
                parts.append(sa.and_(h.c.http_status >= low, h.c.http_status < low + 100))
        conds.append(sa.or_(*parts))
    if f.since_ms is not None:
        conds.append(h.c.sent_at_ms >= f.since_ms)
    if f.until_ms is not None:
        conds.append(h.c.sent_at_ms <= f.until_ms)
    if f.text:
        pattern = _like(f.text)
        exprs: list[Any] = [h.c[n] for n in _TEXT_COLUMNS]
        exprs.append(sa.func.encode(h.c.request_body, "escape"))
        parts = [e.ilike(pattern, escape="\\") for e in exprs]
        digits = f.text.lstrip("#")
        if digits.isdigit() and len(digits) < 19:
            parts.append(h.c[KEY] == int(digits))
        conds.append(sa.or_(*parts))
    if f.history_ids is not None:
        runs = id_runs(f.history_ids)
        singles = [a for a, b in runs if a == b]
        # One array parameter, not one per id (psycopg allows 65,535 parameters).
        array = sa.bindparam("history_ids", singles, type_=ARRAY(sa.BigInteger), unique=True)
        id_parts: list[Any] = [h.c[KEY] == sa.any_(array)] if singles else []
        id_parts.extend(h.c[KEY].between(a, b) for a, b in runs if a != b)
        if id_parts:  # the bounds too (see query.filter_sql)
            conds.append(h.c[KEY].between(runs[0][0], runs[-1][1]))
        conds.append(sa.or_(*id_parts) if id_parts else sa.false())
    return conds


class SQLTransaction:
    """:meth:`SQLStore.transaction`: read a send's webhook, append or reserve its row, in one
    database transaction (committed when the block ends, rolled back if it raises)."""

    def __init__(self, store: SQLStore) -> None:
        self._store = store
        self._cm: Any = None
        self._conn: sa.Connection | None = None

    def __enter__(self) -> SQLTransaction:
        self._cm = self._begin(self._store)
        self._conn = self._cm.__enter__()
        return self

    def _begin(self, store: SQLStore) -> Any:
        return store._write()

    def _select_in(self, store: SQLStore, conn: sa.Connection, webhook_id: str) -> Webhook | None:
        return store._select_webhook(conn, webhook_id)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._cm.__exit__(kind, exc, tb)

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        assert self._conn is not None
        return self._select_in(self._store, self._conn, webhook_id)

    def append(self, row: Attempt) -> int:
        assert self._conn is not None
        return _insert(self._conn, [row])[0]

    def reserve(self, rows: Sequence[Attempt], *, outcome_bytes: int) -> list[int]:
        assert self._conn is not None
        return _insert(self._conn, rows)
