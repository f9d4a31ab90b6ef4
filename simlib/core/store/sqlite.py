"""The embedded store: one SQLite file holding the webhooks and the history of attempts.

Location, first match wins: an explicit path; ``$SIMLIB_HOME/simlib.sqlite3``; the per-user
data directory (``platformdirs.user_data_dir("simlib")``). The file must be on a local disk
(WAL mode needs shared memory between processes).

Practice (PRACTICE.md §5): WAL, a busy timeout, ``BEGIN IMMEDIATE`` + one short transaction per
write, no network I/O inside a transaction, rows ordered by their integer id (insertion order),
times as integer epoch milliseconds, ``PRAGMA user_version`` as the schema version. The file and
its directory are created owner-only, because the file holds webhook secrets.

The history table, its INSERT and SELECTs are rendered once, at import, from the history record
(:class:`simlib.records.Attempt`, via :mod:`~simlib.core.store.schema`): :data:`HISTORY_SQL`.
Derived values are computed in the SELECT (``error_status`` by a CASE over
:data:`simlib.records.ERROR_STATUS`, ``signature`` by ``json_extract``, ``payload`` by a CAST).
Opening a store from an older version runs the schema's forward migrations in one
``BEGIN IMMEDIATE`` transaction (``DROP COLUMN`` rewrites the table: seconds for a million rows).

Any failure to use the file (locked past the timeout, unreadable, corrupt, read-only) raises
:class:`~simlib.errors.StoreUnavailable` with a readable reason; a file from a newer simlib raises
:class:`~simlib.errors.StoreVersionError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from simlib.core.store.query import (
    DEFAULT_COUNT_CAP,
    DEFAULT_PAGE_ROWS,
    MAX_PAGE_ROWS,
    PAGE_COLUMNS,
    CappedCount,
    HistoryFilter,
    HistoryOrder,
    HistoryPage,
    PageCursor,
    count_sql,
    filter_sql,
    page_sql,
)
from simlib.core.store.schema import (
    HISTORY_COLUMNS,
    HISTORY_TABLE,
    KEY,
    SCHEMA_VERSION,
    WEBHOOKS_TABLE,
    AddColumn,
    DropColumn,
    Step,
    frame_columns,
    frame_dtypes,
    pending_migrations,
    stored_fields,
    time_columns,
)
from simlib.errors import NotFoundError, StoreUnavailable, StoreVersionError, ValidationError
from simlib.records import Attempt, Derived, Kind, Secret, View, Webhook, record_view

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HISTORY_COLUMNS",
    "HISTORY_SQL",
    "NATIVE_DROP_COLUMN",
    "SCHEMA_VERSION",
    "SQLITE_TYPES",
    "HistorySQL",
    "Store",
    "apply_step",
    "default_store_path",
    "history_sql",
]

STORE_FILENAME = "simlib.sqlite3"
DEFAULT_BUSY_TIMEOUT = 5.0
#: ``ALTER TABLE ... DROP COLUMN`` exists from SQLite 3.35; older libraries rebuild the table.
NATIVE_DROP_COLUMN: Final = sqlite3.sqlite_version_info >= (3, 35, 0)

# Not derived from the history record: the webhooks table (the configuration, not attempts).
_WEBHOOKS_DDL = f"""
CREATE TABLE IF NOT EXISTS {WEBHOOKS_TABLE} (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_ms INTEGER,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    position INTEGER NOT NULL
)"""
# No secondary indexes on history: each one doubles the cost of the append every send pays,
# while a filtered scan of 100k rows takes milliseconds (bench_history.py measures both).

#: SQLite column type of each kind of record field.
SQLITE_TYPES: Final[dict[Kind, str]] = {
    "text": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "bool": "INTEGER",
    "json": "TEXT",
    "bytes": "BLOB",
    "time_ms": "INTEGER",
}


def _literal(value: str | int | float | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(int(value) if isinstance(value, bool) else value)


def _derived_sql(d: Derived, source: str) -> str:
    """SQL computing a derived value from its source column (agrees with ``Derived.compute``)."""
    if d.how == "lookup":
        whens = " ".join(f"WHEN {_literal(k)} THEN {_literal(v)}" for k, v in (d.table or {}).items() if v is not None)
        return f"CASE {source} {whens} END" if whens else "NULL"
    if d.how == "header":
        return f"json_extract({source}, '$.\"{d.header}\"')"
    return f"CAST({source} AS TEXT)"


def _column_ddl(name: str, kind: Kind, nullable: bool, default: str | int | float | None = None) -> str:
    ddl = f"{name} {SQLITE_TYPES[kind]}" + ("" if nullable else " NOT NULL")
    return ddl + (f" DEFAULT {_literal(default)}" if default is not None else "")


class HistorySQL(NamedTuple):
    """The history table of a record class rendered as SQLite SQL, built once (:func:`history_sql`).

    ``params(row)`` are the INSERT's parameters for one record (JSON fields serialised; bytes go
    in as a BLOB); ``row_decoders`` turn a selected row back into Python values.
    """

    create: str
    insert: str
    select_frame: str
    select_row: str
    row_keys: tuple[str, ...]
    row_decoders: tuple[tuple[int, Callable[[Any], Any]], ...]
    params: Callable[[Attempt], Sequence[Any]]


def _params_for(names: tuple[str, ...], json_at: tuple[int, ...]) -> Callable[[Attempt], Sequence[Any]]:
    get = attrgetter(names[0], *names[1:])
    dumps = json.JSONEncoder().encode  # json.dumps' output, without its per-call argument handling

    def params(row: Attempt) -> Sequence[Any]:
        values = list(get(row))
        for i in json_at:
            values[i] = dumps(values[i])
        return values

    return params


def _select_items(record: type[Attempt], view: View) -> list[str]:
    """The SELECT list of a view after the key: stored columns, derived values computed."""
    out = []
    for item in record_view(record, view):
        expr = item.source if item.derived is None else _derived_sql(item.derived, item.source)
        out.append(expr if expr == item.key else f"{expr} AS {item.key}")
    return out


#: How history_row() turns a stored value of a kind back into Python (others are as stored).
_DECODERS: Final[dict[Kind, Callable[[Any], Any]]] = {"json": json.loads, "bytes": bytes, "bool": bool}
_HISTORY_SQL: dict[type[Attempt], HistorySQL] = {}


def history_sql(record: type[Attempt] = Attempt) -> HistorySQL:
    """The SQLite table, INSERT and SELECTs of a history record class (built once per class)."""
    built = _HISTORY_SQL.get(record)
    if built is None:
        built = _HISTORY_SQL[record] = _render(record)
    return built


def _render(record: type[Attempt]) -> HistorySQL:
    specs = stored_fields(record)
    names = tuple(s.name for s in specs)
    columns = ",\n    ".join([f"{KEY} INTEGER PRIMARY KEY", *(_column_ddl(s.name, s.kind, s.nullable) for s in specs)])
    row_view = record_view(record, "row")
    row_keys = (KEY, *(item.key for item in row_view))
    return HistorySQL(
        create=f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (\n    {columns}\n)",
        insert=f"INSERT INTO {HISTORY_TABLE} ({', '.join(names)}) VALUES ({','.join('?' * len(names))})",
        select_frame=f"SELECT {', '.join([KEY, *_select_items(record, 'frame')])} FROM {HISTORY_TABLE}",
        select_row=f"SELECT {', '.join([KEY, *_select_items(record, 'row')])} FROM {HISTORY_TABLE} WHERE {KEY}=?",
        row_keys=row_keys,
        row_decoders=tuple(
            (i, _DECODERS[item.kind]) for i, item in enumerate(row_view, start=1) if item.kind in _DECODERS
        ),
        params=_params_for(names, tuple(i for i, s in enumerate(specs) if s.kind == "json")),
    )


#: The history table of :class:`simlib.records.Attempt`, as used by :class:`Store`.
HISTORY_SQL: Final = history_sql()
_INSERT_HISTORY: Final = HISTORY_SQL.insert
_history_params: Final = HISTORY_SQL.params
_FRAME_COLUMNS: Final = list(frame_columns())
_FRAME_DTYPES: Final = frame_dtypes()
_TIME_COLUMNS: Final = time_columns()


def _table_info(conn: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    """(cid, name, type, notnull, dflt_value, pk) of each column."""
    return conn.execute(f"PRAGMA table_info({table})").fetchall()


def apply_step(conn: sqlite3.Connection, step: Step) -> None:
    """Run one migration step inside the caller's transaction; a step already applied (the
    column is there / gone) does nothing."""
    present = {row[1] for row in _table_info(conn, step.table)}
    if isinstance(step, AddColumn):
        if step.name not in present:
            ddl = _column_ddl(step.name, step.kind, step.nullable, step.default)
            conn.execute(f"ALTER TABLE {step.table} ADD COLUMN {ddl}")
    elif isinstance(step, DropColumn):
        if step.name in present:
            if NATIVE_DROP_COLUMN:
                conn.execute(f"ALTER TABLE {step.table} DROP COLUMN {step.name}")
            else:
                _rebuild_without(conn, step.table, step.name)


def _rebuild_without(conn: sqlite3.Connection, table: str, column: str) -> None:
    """DROP COLUMN for SQLite < 3.35: copy the table without the column (the history table has
    no indexes, triggers or views that would need re-creating)."""
    info = [row for row in _table_info(conn, table) if row[1] != column]
    if sum(1 for row in info if row[5]) > 1:
        raise sqlite3.OperationalError(f"cannot rebuild {table}: composite primary key")
    defs = ", ".join(
        f"{name} {ctype}" + (" PRIMARY KEY" if pk else "") + (" NOT NULL" if notnull and not pk else "")
        + (f" DEFAULT {dflt}" if dflt is not None else "")
        for _, name, ctype, notnull, dflt, pk in info
    )
    names = ", ".join(row[1] for row in info)
    conn.execute(f"CREATE TABLE {table}__new ({defs})")
    conn.execute(f"INSERT INTO {table}__new ({names}) SELECT {names} FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {table}__new RENAME TO {table}")


def default_store_path() -> Path:
    """``$SIMLIB_HOME/simlib.sqlite3`` if set, else the per-user data directory."""
    home = os.environ.get("SIMLIB_HOME")
    if home:
        return Path(home).expanduser() / STORE_FILENAME
    from platformdirs import user_data_dir

    return Path(user_data_dir("simlib", appauthor=False)) / STORE_FILENAME


class Store:
    """The SQLite store. One connection per Store, serialised by a lock; safe across threads
    and processes (WAL + busy timeout)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self.journal_mode: str | None = None

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connection -------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            conn = sqlite3.connect(
                path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the store at {path}: {_reason(exc)}") from None
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            _refuse_newer(path, version)
            if version < SCHEMA_VERSION:
                self._upgrade(conn)
        except (StoreVersionError, StoreUnavailable):
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise StoreUnavailable(f"cannot use the store at {path}: {_reason(exc)}") from None
        self.journal_mode = mode
        return conn

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        """Create a new store at SCHEMA_VERSION, or migrate an older one forward, in one write
        transaction (the version is read again under the write lock: another process may have
        done it meanwhile)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            _refuse_newer(self.path, version)
            if version == 0:  # a new file
                conn.execute(_WEBHOOKS_DDL)
                conn.execute(HISTORY_SQL.create)
            else:
                for migration in pending_migrations(version):
                    try:
                        for step in migration.steps:
                            apply_step(conn, step)
                    except sqlite3.Error as exc:
                        raise StoreUnavailable(
                            f"cannot upgrade the store at {self.path} from schema version {version} to "
                            f"{migration.version}: {_reason(exc)}"
                        ) from None
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            try:
                yield self._conn
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    try:
                        self._conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise StoreUnavailable(f"store {self.path}: {_reason(exc)}") from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taking the write lock up front."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def check(self) -> None:
        """Open the store (creating it) or raise StoreUnavailable / StoreVersionError."""
        with self._connection():
            pass

    def insert_webhook(self, wh: Webhook) -> None:
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM webhooks WHERE id=?", (wh.id,)).fetchone():
                raise ValidationError("id", f"a webhook with id {wh.id!r} already exists")
            pos = conn.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM webhooks").fetchone()[0]
            conn.execute(
                "INSERT INTO webhooks (id, name, url, events, secret, previous_secret, "
                "previous_secret_expires_ms, created_ms, updated_ms, position) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (*_webhook_params(wh), pos),
            )

    def replace_webhook(self, wh: Webhook) -> None:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE webhooks SET name=?, url=?, events=?, secret=?, previous_secret=?, "
                "previous_secret_expires_ms=?, created_ms=?, updated_ms=? WHERE id=?",
                (*_webhook_params(wh)[1:], wh.id),
            )
            if cur.rowcount == 0:
                raise NotFoundError("webhook", wh.id)

    def delete_webhook(self, webhook_id: str) -> None:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM webhooks WHERE id=?", (webhook_id,))
            if cur.rowcount == 0:
                raise NotFoundError("webhook", webhook_id)

    def get_webhook(self, webhook_id: str, *, writable: bool = False) -> Webhook:
        """The webhook with that id. ``writable=True`` reads it inside a write transaction, so a
        store that could not record the attempt fails here, before anything is sent."""
        if writable:
            with self._write() as conn:
                row = conn.execute(f"SELECT {_WH_COLS} FROM webhooks WHERE id=?", (webhook_id,)).fetchone()
        else:
            with self._connection() as conn:
                row = conn.execute(f"SELECT {_WH_COLS} FROM webhooks WHERE id=?", (webhook_id,)).fetchone()
        if row is None:
            raise NotFoundError("webhook", webhook_id)
        return _webhook_from_row(row)

    def list_webhooks(self) -> list[Webhook]:
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {_WH_COLS} FROM webhooks ORDER BY position").fetchall()
        return [_webhook_from_row(r) for r in rows]

    # -- history ----------------------------------------------------------------------------

    def append(self, row: Attempt) -> int:
        """Append one attempt; returns its history id. Committed before it returns."""
        with self._write() as conn:
            cur = conn.execute(_INSERT_HISTORY, _history_params(row))
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def append_many(self, rows: Sequence[Attempt]) -> list[int]:
        """Append several attempts in one transaction (burst mode); returns their ids."""
        ids: list[int] = []
        insert, params = _INSERT_HISTORY, _history_params
        with self._write() as conn:
            execute = conn.execute
            for row in rows:
                ids.append(int(execute(insert, params(row)).lastrowid))  # type: ignore[arg-type]
        return ids

    def history_count(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM history").fetchone()[0])

    def history_row(self, history_id: int) -> dict[str, Any]:
        """One history row as a dict (the key, then the record's ``row`` view: stored values and
        ``error_status``), with the exact request body as bytes."""
        with self._connection() as conn:
            row = conn.execute(HISTORY_SQL.select_row, (int(history_id),)).fetchone()
        if row is None:
            raise NotFoundError("history row", history_id)
        values = list(row)
        for i, decode in HISTORY_SQL.row_decoders:
            if values[i] is not None:
                values[i] = decode(values[i])
        return dict(zip(HISTORY_SQL.row_keys, values, strict=True))

    def history_frame(
        self,
        *,
        webhook: str | Sequence[str] | None = None,
        event_type: str | Sequence[str] | None = None,
        result: str | Sequence[str] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """History as a typed DataFrame, oldest first (insertion order)."""
        import pandas as pd

        where: list[str] = []
        params: list[Any] = []
        for column, value in (("webhook_id", webhook), ("event_type", event_type)):
            if value is not None:
                values = [value] if isinstance(value, str) else list(value)
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if result is not None:
            values = [result] if isinstance(result, str) else list(result)
            where.append(
                f"(result IN ({','.join('?' * len(values))}) OR error IN ({','.join('?' * len(values))}))"
            )
            params.extend(values + values)
        if since_ms is not None:
            where.append("sent_at_ms >= ?")
            params.append(int(since_ms))
        if until_ms is not None:
            where.append("sent_at_ms <= ?")
            params.append(int(until_ms))
        sql = HISTORY_SQL.select_frame + (" WHERE " + " AND ".join(where) if where else "")
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?) ORDER BY id"
            params.append(int(limit))
        else:
            sql += " ORDER BY id"
        with self._connection() as conn:
            frame = pd.read_sql_query(sql, conn, params=params, dtype=dict(_FRAME_DTYPES))
        for name in _TIME_COLUMNS:
            frame[name] = pd.to_datetime(frame[name].astype("int64"), unit="ms", utc=True)
        return frame[_FRAME_COLUMNS]


    # -- the history workbench: pages, capped counts, links (simlib.core.store.query) ----------------

    def history_page(
        self,
        filters: HistoryFilter | None = None,
        *,
        order: HistoryOrder = "newest",
        after: PageCursor | None = None,
        before: PageCursor | None = None,
        limit: int = DEFAULT_PAGE_ROWS,
    ) -> HistoryPage:
        """One page of the attempts matching ``filters``, in ``order``: the first page, the one
        ``after`` a cursor (the next) or ``before`` it (the previous); at most ``limit`` rows of
        :data:`~simlib.core.store.query.PAGE_COLUMNS` (no bodies). Read by keyset: the cost of a
        page does not grow with the rows before it (see :mod:`simlib.core.store.query`)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_ROWS:
            raise ValidationError("limit", f"must be a whole number from 1 to {MAX_PAGE_ROWS}, not {limit!r}")
        sql, params, reverse = page_sql(filters, order, after=after, before=before, limit=limit)
        with self._connection() as conn:
            fetched = conn.execute(sql, params).fetchall()
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
        """How many attempts match ``filters``, counted up to ``cap`` (then ``capped``): the
        count stops after ``cap + 1`` matches instead of reading the whole table."""
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValidationError("cap", f"must be a whole number >= 1, not {cap!r}")
        sql, params = count_sql(filters, cap)
        with self._connection() as conn:
            n = int(conn.execute(sql, params).fetchone()[0])
        return CappedCount(min(n, cap), n > cap)

    def replays_of(self, history_id: int, *, limit: int = 100) -> list[int]:
        """The ids of the rows that replay ``history_id`` (``replay_of`` = it), oldest first, at
        most ``limit``. Only rows after it are read (a replay always comes later): no index."""
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {KEY} FROM {HISTORY_TABLE} WHERE {KEY} > ? AND replay_of = ? ORDER BY {KEY} LIMIT ?",
                (int(history_id), int(history_id), int(limit)),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def find_attempts(
        self, *, signature: str | None = None, timestamp: str | None = None, limit: int = 20
    ) -> list[int]:
        """The ids of the attempts sent with this signature header (or, without one, this
        timestamp header), newest first, at most ``limit``. A substring test on the stored
        headers comes before the JSON lookup, so a scan of a million rows stays well under a
        second; the exact header value decides."""
        header, value = ("x-webhook-signature", signature) if signature else ("x-webhook-timestamp", timestamp)
        if not value or not value.isascii() or '"' in value or "\\" in value:
            return []
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {KEY} FROM {HISTORY_TABLE} WHERE instr(request_headers, ?) > 0 "
                f"AND json_extract(request_headers, '$.\"{header}\"') = ? ORDER BY {KEY} DESC LIMIT ?",
                (value, value, int(limit)),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def history_filtered(
        self, filters: HistoryFilter | None = None, *, limit: int | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The attempts matching ``filters`` as a typed DataFrame, oldest first, as
        :meth:`history_frame` gives it: the newest ``limit`` of them (all when None), with only
        ``columns`` of the frame (all, in order, when None; the key is always there)."""
        import pandas as pd

        wanted = None if columns is None else {KEY, *columns}
        unknown = set() if wanted is None else wanted - set(_FRAME_COLUMNS)
        if unknown:
            raise ValidationError("columns", f"not history columns: {', '.join(sorted(unknown))}")
        keys = [c for c in _FRAME_COLUMNS if wanted is None or c in wanted]
        items = [i for i in record_view(Attempt, "frame") if i.key in keys]
        exprs = [(i.source if i.derived is None else _derived_sql(i.derived, i.source), i.key) for i in items]
        select = [KEY, *(e if e == k else f"{e} AS {k}" for e, k in exprs)]
        where, params = filter_sql(filters)
        sql = f"SELECT {', '.join(select)} FROM {HISTORY_TABLE}{where}"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY {KEY} DESC LIMIT ?) ORDER BY {KEY}"
            params.append(int(limit))
        else:
            sql += f" ORDER BY {KEY}"
        dtypes = {k: v for k, v in _FRAME_DTYPES.items() if k in keys}
        with self._connection() as conn:
            frame = pd.read_sql_query(sql, conn, params=params, dtype=dtypes)
        for name in _TIME_COLUMNS:
            if name in keys:
                frame[name] = pd.to_datetime(frame[name].astype("int64"), unit="ms", utc=True)
        return frame[keys]


def _refuse_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"the store at {path} has schema version {version}, newer than this simlib "
            f"understands ({SCHEMA_VERSION}); upgrade simlib or use another store"
        )


_WH_COLS = (
    "id, name, url, events, secret, previous_secret, previous_secret_expires_ms, created_ms, updated_ms"
)


def _webhook_params(wh: Webhook) -> tuple[Any, ...]:
    return (
        wh.id,
        wh.name,
        wh.url,
        json.dumps(list(wh.events)),
        wh.secret.reveal(),
        wh.previous_secret.reveal() if wh.previous_secret is not None else None,
        wh.previous_secret_expires_ms,
        wh.created_ms,
        wh.updated_ms,
    )


def _webhook_from_row(row: Sequence[Any]) -> Webhook:
    return Webhook(
        id=row[0],
        name=row[1],
        url=row[2],
        events=tuple(json.loads(row[3])),
        secret=Secret(row[4]),
        previous_secret=Secret(row[5]) if row[5] is not None else None,
        previous_secret_expires_ms=row[6],
        created_ms=row[7],
        updated_ms=row[8],
    )


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return "the store is locked by another process (busy timeout exceeded); retry shortly"
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return "the file is not a simlib store (corrupt or another format)"
    if "readonly" in text.replace(" ", "") or isinstance(exc, PermissionError):
        return f"read-only or not permitted ({text})"
    return text
