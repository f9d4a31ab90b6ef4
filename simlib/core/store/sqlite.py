"""The embedded store: one SQLite file holding the webhooks and the history of attempts.

Location, first match wins: an explicit path; ``$SIMLIB_HOME/simlib.sqlite3``; the per-user
data directory (``platformdirs.user_data_dir("simlib")``). The file must be on a local disk
(WAL mode needs shared memory between processes).

Practice (PRACTICE.md §5): WAL, a busy timeout, ``BEGIN IMMEDIATE`` + one short transaction per
write, no network I/O inside a transaction, rows ordered by their integer id (insertion order),
times as integer epoch milliseconds. The file and its directory are created owner-only, because
the file holds webhook secrets -- encrypted (:mod:`~simlib.core.store.keys`), with the key in an
owner-only file beside it (``simlib.sqlite3.key``) unless ``$SIMLIB_SECRET_KEY`` gives one.

Through SQLAlchemy Core (issue 13; :mod:`~simlib.core.store.alchemy`, imported when a store is
first opened -- ``import simlib`` does not load SQLAlchemy). The file is opened by an engine of
the ``sqlite+pysqlite`` dialect (``create_engine("sqlite+pysqlite://", creator=...)``: the path is
given to ``sqlite3.connect`` as it is, never parsed as part of a URL): its ``connect`` hook turns pysqlite's own
transaction handling off and runs :meth:`Store._configure` (what the file is, read before
anything is written; owner-only; then ``journal_mode=WAL``, ``synchronous=NORMAL``, the busy
timeout, the autocheckpoint and the page cache), its ``begin`` hook emits ``BEGIN IMMEDIATE``.
The tables are created by ``MetaData.create_all`` from the Core tables both backends share
(SQLite's flavour: the column types every store has had), and migrated by the same steps
(:func:`~simlib.core.store.alchemy.apply_step`) in one Core transaction. The schema version is
the row of ``simlib_schema``, as in PostgreSQL, with ``PRAGMA user_version`` kept equal to it:
the previous release reads only that, so it refuses a store newer than it knows. A store of
the previous release (``user_version`` 1 to 4, no ``simlib_schema``) is upgraded in place (the
table is added); a store from a newer simlib, by either record, is refused untouched.

The hot paths -- the send's transaction (:class:`_Write`, :class:`StoreTransaction`), ``append``,
``reserve``, ``complete`` -- run their SQL on the DB-API connection SQLAlchemy opened and
configured, not through ``Connection.execute``: the INSERT and the completion's UPDATE are
compiled once from the Core table (:func:`history_sql`, :data:`HISTORY_SQL`). Measured by
``benchmarks/bench_store_core.py`` (2026-12-01, this machine): one append through Core (``with
conn.begin(): conn.execute(insert, values)``) takes 50 µs against 23 µs on the DB-API
connection, one completion 35 µs against 6 µs -- about 28 µs more per statement, so about 60 µs
more per send (two store transactions), some 8 % of a single send's 760 µs: more than the 5 %
the issue allows. Derived values are computed in the SELECT (``error_status`` by a CASE over
:data:`simlib.records.ERROR_STATUS`, ``signature`` by ``json_extract``, ``payload`` by a CAST),
built as Core expressions too. Opening a store from an older version runs the forward
migrations in one ``BEGIN IMMEDIATE`` transaction (``DROP COLUMN`` rewrites the table: seconds
for a million rows).

Any failure to use the file (locked past the timeout, unreadable, corrupt, read-only, full, another
application's database, readable by other users and not ours to tighten) raises
:class:`~simlib.errors.StoreUnavailable` with a readable reason; a file from a newer simlib raises
:class:`~simlib.errors.StoreVersionError`.

Opening never adopts or loosens anything: a file that is not a simlib store (another application's
SQLite database) is refused before anything is written to it; a store file, its directory (when
simlib chose it) and its ``-wal`` / ``-shm`` files that other users could read are made owner-only
when they are ours, and refused when they are not.

Nothing is sent that cannot be recorded (:meth:`Store.reserve`): before a send, its row is
inserted as *pending* ("interrupted" until completed) and the room for completing it is proved:
the WAL file gets the bytes the completion may need allocated in advance (``fallocate`` with
``KEEP_SIZE``: no change to the file SQLite sees), within the file size limit. The completion
(:meth:`Store.complete`) is then an UPDATE that writes into space that already exists. A process
that stops between the two leaves the pending row: Failed, "Simulation failed", *interrupted*.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from simlib.core.store.frames import CHUNK_ROWS, frame_from_cursor, iter_frames
from simlib.core.store.keys import Keyring
from simlib.core.store.location import sqlite_path
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
    BASE_VERSION,
    ENCRYPTED_SINCE,
    HISTORY_COLUMNS,
    HISTORY_TABLE,
    KEY,
    SCHEMA_VERSION,
    VERSION_TABLE,
    WEBHOOKS_TABLE,
    frame_columns,
    frame_dtypes,
    pending_migrations,
    stored_fields,
    time_columns,
)
from simlib.errors import ConflictError, NotFoundError, StoreError, StoreUnavailable, StoreVersionError, ValidationError
from simlib.records import INTERRUPTED, Attempt, Kind, Webhook, record_view

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HISTORY_COLUMNS",
    "NATIVE_DROP_COLUMN",
    "SCHEMA_VERSION",
    "HistorySQL",
    "Store",
    "StoreTransaction",
    "default_store_path",
    "fit_row",
    "history_sql",
    "row_bytes",
]

STORE_FILENAME = "simlib.sqlite3"
DEFAULT_BUSY_TIMEOUT = 5.0
#: WAL pages after which a commit checkpoints (SQLite's default is 1000).
WAL_AUTOCHECKPOINT_PAGES: Final = 2000
#: While a burst writes (:meth:`Store.checkpoints_aside`), how often a thread of the store's own
#: checkpoints the WAL instead of the burst's commits.
CHECKPOINT_EVERY_S: Final = 0.25
_CHECKPOINT_PASSES: Final = 16  # passes at most per turn (see _Checkpointer._run)
_RESTART_WAIT_S: Final = 0.005  # after a pass that found every frame copied, for the writer to start the WAL over
#: The connection's page cache in KiB (SQLite's default is 2000): enough for the pages of the
#: newest 10,000 rows a capped count reads (allocated as pages are read, not up front).
PAGE_CACHE_KIB: Final = 16 * 1024
#: ``ALTER TABLE ... DROP COLUMN`` exists from SQLite 3.35; older libraries rebuild the table.
NATIVE_DROP_COLUMN: Final = sqlite3.sqlite_version_info >= (3, 35, 0)

# No secondary indexes on history: each one doubles the cost of the append every send pays,
# while a filtered scan of 100k rows takes milliseconds (bench_history.py measures both).


class HistorySQL(NamedTuple):
    """The history table of a record class as SQLite SQL, compiled once from its SQLAlchemy Core
    table (:func:`history_sql`, :func:`simlib.core.store.alchemy.sqlite_statements`).

    ``params(row)`` are the INSERT's parameters for one record (JSON fields serialised; bytes go
    in as a BLOB), and ``update`` takes the same parameters plus the key (completing a pending row);
    ``row_decoders`` turn a selected row back into Python values; ``frame_items`` is the SELECT
    expression of each frame column.
    """

    create: str
    insert: str
    update: str
    complete: str
    select_frame: str
    select_row: str
    row_keys: tuple[str, ...]
    row_decoders: tuple[tuple[int, Callable[[Any], Any]], ...]
    params: Callable[[Attempt], Sequence[Any]]
    outcome_params: Callable[[Attempt], Sequence[Any]]
    frame_items: dict[str, str]


#: The fields a pending row (:meth:`Store.reserve`) already holds as they will stay: who and what
#: is sent. ``HistorySQL.complete`` sets every other field (a field added to the record is set
#: there too).
PENDING_FINAL: Final = ("simulation_id", "webhook_id", "webhook_name", "url", "event_type", "event_id", "request_body", "replay_of")


def _json_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Issue 12 (own work per send): json.dumps' exact text (ASCII, ", " and ": ", NaN allowed) from
# one C encoder made once -- JSONEncoder.encode makes a new one per call, half of its cost for a
# row's few headers. No circular check: a record's JSON fields are header dicts.
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_c_encode: Any = (
    None if _c_make_encoder is None
    else _c_make_encoder(None, _json_default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
)


def _json_text(value: Any) -> str:
    """``json.dumps(value)``; ``{}`` (a pending burst row's request headers) without the encoder."""
    if not value and type(value) is dict:
        return "{}"
    return "".join(_c_encode(value, 0)) if _c_encode is not None else json.dumps(value)


def _params_for(names: tuple[str, ...], json_at: tuple[int, ...]) -> Callable[[Attempt], Sequence[Any]]:
    # Issue 12: the fields from the record's __dict__ (a record is a frozen dataclass without
    # slots: every field is there), one C lookup each instead of an attribute lookup.
    get = itemgetter(names[0], *names[1:])
    dumps = _json_text

    def params(row: Attempt) -> Sequence[Any]:
        values = list(get(row.__dict__))
        for i in json_at:
            values[i] = dumps(values[i])
        return values

    return params


#: How history_row() turns a stored value of a kind back into Python (others are as stored).
_DECODERS: Final[dict[Kind, Callable[[Any], Any]]] = {"json": json.loads, "bytes": bytes, "bool": bool}
_HISTORY_SQL: dict[type[Attempt], HistorySQL] = {}


def _param_builders(record: type[Attempt]) -> tuple[Callable[[Attempt], Sequence[Any]], Callable[[Attempt], Sequence[Any]], tuple[str, ...]]:
    """The INSERT's and the completion's parameter builders (the record's field order) and the
    completion's fields: plain Python, no SQL, so sizing a row needs no database library."""
    specs = stored_fields(record)
    names = tuple(s.name for s in specs)
    outcome = tuple(n for n in names if n not in PENDING_FINAL)
    kinds = {spec.name: spec.kind for spec in specs}
    return (
        _params_for(names, tuple(i for i, s in enumerate(specs) if s.kind == "json")),
        _params_for(outcome, tuple(i for i, n in enumerate(outcome) if kinds[n] == "json")),
        outcome,
    )


def history_sql(record: type[Attempt] = Attempt) -> HistorySQL:
    """The SQLite table, INSERT and SELECTs of a history record class, compiled once per class
    from its Core table (this loads SQLAlchemy: a store being opened does it anyway)."""
    built = _HISTORY_SQL.get(record)
    if built is None:
        from simlib.core.store.alchemy import sqlite_statements

        params, outcome_params, outcome = _param_builders(record)
        sql = sqlite_statements(record, outcome=outcome)
        row_view = record_view(record, "row")
        built = _HISTORY_SQL[record] = HistorySQL(
            create=sql["create"],
            insert=sql["insert"],
            update=sql["update"],
            complete=sql["complete"],
            select_frame=sql["select_frame"],
            select_row=sql["select_row"],
            row_keys=(KEY, *(item.key for item in row_view)),
            row_decoders=tuple(
                (i, _DECODERS[item.kind]) for i, item in enumerate(row_view, start=1) if item.kind in _DECODERS
            ),
            params=params,
            outcome_params=outcome_params,
            frame_items=sql["frame_items"],
        )
    return built


def _compile_statements() -> None:
    """Fill in the statements the hot paths run (compiled when the first store opens)."""
    global _INSERT_HISTORY, _COMPLETE_HISTORY
    if not _INSERT_HISTORY:
        built = history_sql()
        _INSERT_HISTORY, _COMPLETE_HISTORY = built.insert, built.complete


def __getattr__(name: str) -> Any:
    """``HISTORY_SQL``: the history table of :class:`simlib.records.Attempt`, compiled on first use
    (so that ``import simlib`` does not load SQLAlchemy)."""
    if name == "HISTORY_SQL":
        return history_sql()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The INSERT and the completion's UPDATE of a history row, as compiled from the Core table
#: (empty until the first store opens: every statement runs on an open store).
_INSERT_HISTORY: str = ""
_COMPLETE_HISTORY: str = ""
_history_params, _outcome_params, _ = _param_builders(Attempt)
#: Issue 12: what a completion need not write again when the pending row already holds it as the
#: completed row has it (a single send signs before its reservation; a burst's rows only after).
_KEPT_IF_SAME: Final = ("sent_at_ms", "request_headers", "user", "host")
_kept: Final = attrgetter(*_KEPT_IF_SAME)


def _outcome_only_sql() -> tuple[str, Callable[[Attempt], Sequence[Any]]]:
    """The UPDATE of a completion that writes only the outcome (every field but PENDING_FINAL's
    and _KEPT_IF_SAME's; a field added to the record is written here too), and its parameters."""
    specs = [s for s in stored_fields(Attempt) if s.name not in PENDING_FINAL and s.name not in _KEPT_IF_SAME]
    names = tuple(s.name for s in specs)
    sql = f"UPDATE {HISTORY_TABLE} SET {', '.join(f'{n}=?' for n in names)} WHERE {KEY}=?"
    return sql, _params_for(names, tuple(i for i, s in enumerate(specs) if s.kind == "json"))


_COMPLETE_OUTCOME, _outcome_only_params = _outcome_only_sql()


def _kinds(names: Sequence[str]) -> tuple[Kind, ...]:
    kinds = {spec.name: spec.kind for spec in stored_fields(Attempt)}
    return tuple(kinds[name] for name in names)


#: _params_bytes of the INSERT's and of each completion's parameters (filled in below, once
#: _sizer_for is defined).
_SIZE_OF: dict[str, Callable[[Sequence[Any]], int]] = {}
_FRAME_COLUMNS: Final = list(frame_columns())
_FRAME_DTYPES: Final = frame_dtypes()
_TIME_COLUMNS: Final = time_columns()


def _history_query(filters: HistoryFilter | None, limit: int | None) -> tuple[str, list[Any]]:
    """The SELECT (and its parameters) of :meth:`Store.history_frame`, oldest first: the frame
    view, the filter's WHERE (:func:`~simlib.core.store.query.filter_sql`, the one pages and
    counts use), the newest ``limit``."""
    where, params = filter_sql(filters)
    sql = history_sql().select_frame + where
    if limit is not None:
        sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?) ORDER BY id"
        params.append(int(limit))
    else:
        sql += " ORDER BY id"
    return sql, params


def default_store_path() -> Path:
    """``$SIMLIB_HOME/simlib.sqlite3`` if set, else the per-user data directory."""
    home = os.environ.get("SIMLIB_HOME")
    if home:
        return sqlite_path(home, source="SIMLIB_HOME") / STORE_FILENAME
    from platformdirs import user_data_dir

    return Path(user_data_dir("simlib", appauthor=False)) / STORE_FILENAME


class Store:
    """The SQLite store. One connection per Store, serialised by a lock; safe across threads
    and processes (WAL + busy timeout)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = sqlite_path(path) if path is not None else default_store_path()
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self.journal_mode: str | None = None
        #: simlib chose the directory (the per-user data directory or $SIMLIB_HOME): it is kept
        #: owner-only too. The directory of an explicit path is the caller's and keeps its mode.
        self._own_directory = path is None
        self._page_size = 4096
        self._size_limit: int | None = None
        #: Reserved rows not completed yet: history id -> the most bytes their completion may take.
        self._reserved: dict[int, int] = {}
        #: Issue 12: the pending rows of single sends not completed yet (what they already hold).
        self._pending: dict[int, Attempt] = {}
        #: Issue 12: the webhooks read in a send's transaction, by id: (the connection, its
        #: ``PRAGMA data_version`` then, the webhook). A send uses one again only while no other
        #: connection has committed anything and this one has written no webhook since.
        self._webhooks_read: dict[str, tuple[sqlite3.Connection, int, Webhook]] = {}
        #: The WAL file, open while the connection is (SQLite removes it only when the last
        #: connection closes; it holds no lock on it, so this descriptor can be closed freely).
        self._wal_fd: int | None = None
        #: The key of the secrets at rest (loaded when the store opens).
        self._keyring: Keyring | None = None
        #: The SQLAlchemy engine and Core connection ``_conn`` is the DB-API connection of.
        self._engine: Any = None
        self._core: Any = None
        #: checkpoints_aside(): its checkpoint thread and how many blocks are inside it.
        self._checkpointer: _Checkpointer | None = None
        self._finishing: list[_Checkpointer] = []  # stopped, their last checkpoint running on
        self._aside = 0

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def location(self) -> str:
        """Where the store is, as it may be shown: the file's path."""
        return str(self.path)

    @property
    def key_file(self) -> Path:
        """The key file beside the store (used unless ``$SIMLIB_SECRET_KEY`` gives the key)."""
        return Path(f"{self.path}.key")

    @property
    def keyring(self) -> Keyring:
        """The keys of the webhook secrets (the store is opened first)."""
        with self._connection():
            assert self._keyring is not None
            return self._keyring

    # -- connection -------------------------------------------------------------------------

    def _open(self, timeout: float | None = None) -> sqlite3.Connection:
        """A connection to the store, created or upgraded as needed; ``timeout`` overrides the
        busy timeout for this opening (0: do not wait for a lock).

        Opened by SQLAlchemy (:func:`simlib.core.store.alchemy.sqlite_engine`): its ``connect``
        hook runs :meth:`_configure` (the checks, then the PRAGMAs), its ``begin`` hook emits
        ``BEGIN IMMEDIATE``; the schema is created or upgraded through Core (:meth:`_upgrade`).
        What is returned is the DB-API connection SQLAlchemy opened and configured: the hot
        paths run their statements (compiled once from the Core table) on it directly."""
        path = self.path
        timeout = self.busy_timeout if timeout is None else timeout
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self._own_directory:
                _make_owner_only(path, [path.parent])
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
        except StoreUnavailable:
            raise
        except OSError as exc:
            raise StoreUnavailable(f"cannot open the store at {path}: {_reason(exc)}") from None
        from sqlalchemy import exc as sa_exc

        from simlib.core.store.alchemy import sqlite_engine

        _compile_statements()
        opened: dict[str, Any] = {}
        engine = sqlite_engine(str(path), timeout=timeout, configure=lambda conn: self._configure(conn, timeout, opened))
        try:
            core = engine.connect()
        except StoreError:
            engine.dispose()
            raise
        except sa_exc.DBAPIError as exc:
            engine.dispose()
            raise StoreUnavailable(f"cannot open the store at {path}: {_reason(exc.orig or exc)}") from None
        conn = core.connection.driver_connection
        assert isinstance(conn, sqlite3.Connection)
        try:
            if opened["version"] < SCHEMA_VERSION or not opened["table"]:
                self._upgrade(core)
            self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            self._size_limit = _file_size_limit()  # read when the store opens (ulimit -f of this process)
        except BaseException as exc:
            core.close()
            engine.dispose()
            if isinstance(exc, sa_exc.DBAPIError):
                raise StoreUnavailable(f"cannot use the store at {path}: {_reason(exc.orig or exc)}") from None
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailable(f"cannot use the store at {path}: {_reason(exc)}") from None
            raise
        self.journal_mode = opened["mode"]
        self._engine, self._core = engine, core
        return conn

    def _configure(self, conn: sqlite3.Connection, timeout: float, opened: dict[str, Any]) -> None:
        """The ``connect`` hook: what the file is, then the connection's PRAGMAs (into ``opened``:
        the version found and the journal mode)."""
        path = self.path
        try:
            conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            # Read what the file is before anything is written to it (journal_mode=WAL writes):
            # another application's database is refused as it is.
            opened["version"], opened["table"] = _store_version(path, conn)
            # A simlib store: owner-only before anything (a secret, the WAL) is written into it.
            _make_owner_only(path, [Path(f"{path}{suffix}") for suffix in (*_STORE_SUFFIXES, ".key")])
            if self._keyring is None:  # a key file is made for a new store and for plain-text secrets only
                self._keyring = Keyring.load(self.key_file, create=opened["version"] < ENCRYPTED_SINCE)
            opened["mode"] = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=NORMAL")
            # A send writes its row twice (reserved, then completed): checkpoint (and sync) after
            # as many sends as when it was written once, not twice as often.
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            # Issue 12 (history flat at 1M rows): the explorer's capped counts read up to 10,001
            # rows after every send; with SQLite's default 2 MB page cache they come from the
            # file each time (~5-10 ms at 1M rows), with this they stay cached (~1 ms).
            conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot use the store at {path}: {_reason(exc)}") from None

    def _upgrade(self, core: Any) -> None:
        """Create a new store at SCHEMA_VERSION, or migrate an older one forward, in one write
        transaction (``BEGIN IMMEDIATE``; the version is read again under the write lock: another
        process may have done it meanwhile), from the same Core tables and steps as PostgreSQL.
        The version is then the row of ``simlib_schema``, and ``PRAGMA user_version`` says the
        same (the previous release reads only that: it refuses a store newer than it knows)."""
        import sqlalchemy as sa
        from sqlalchemy import exc as sa_exc

        from simlib.core.store.alchemy import apply_step, tables

        webhooks, history, version_table = tables(sqlite=True)
        conn = core.connection.driver_connection
        with core.begin():
            version, has_table = _store_version(self.path, conn)
            if version == 0:  # a new file
                webhooks.metadata.create_all(core)
            else:
                for migration in pending_migrations(version):
                    try:
                        for step in migration.steps:
                            apply_step(core, step, self._keyring, native_drop=NATIVE_DROP_COLUMN)
                    except (sa_exc.SQLAlchemyError, sqlite3.Error, StoreError) as exc:
                        reason = _reason(getattr(exc, "orig", None) or exc)
                        raise StoreUnavailable(
                            f"cannot upgrade the store at {self.path} from schema version {version} to "
                            f"{migration.version}: {reason}"
                        ) from None
                if not has_table:  # a store of the previous release (PRAGMA user_version only)
                    version_table.create(core)
            if has_table:
                core.execute(sa.update(version_table).values(version=SCHEMA_VERSION))
            else:
                core.execute(sa.insert(version_table).values(version=SCHEMA_VERSION))
            core.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _connection(self, *, wait: bool = True) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                self._conn = self._open(None if wait else 0.0)
                if not wait:  # opened for one no-wait write: later operations wait as configured
                    self._conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _unavailable(self.path, self._conn, exc) from None

    def _write(self, *, wait: bool = True) -> _Write:
        """One short write transaction, taking the write lock up front (a context manager giving
        the connection). ``wait=False`` does not wait for the lock at all (the write after a
        wait that already failed: one bounded wait per operation)."""
        return _Write(self, wait)

    def transaction(self, *, wait: bool = True) -> StoreTransaction:
        """One write transaction for a send (a context manager): read its webhook, then append
        its row or reserve it (:class:`StoreTransaction`); committed when the block ends, rolled
        back if it raises. Nothing but reading and writing the store may happen inside (no
        network I/O)."""
        return StoreTransaction(self, wait)

    @contextmanager
    def checkpoints_aside(self) -> Iterator[None]:
        """While the block runs, this store's commits do not checkpoint the WAL (a checkpoint
        copies its pages into the database and syncs it: some 20 ms, half of it waiting for
        the disk, every 2,000 pages); a thread of the store's own does, every
        :data:`CHECKPOINT_EVERY_S`, on a connection of its own, PASSIVE (never waiting for a
        lock, never in a writer's way). For bursts (issue 12): the event loop that sends and
        records is not held up by the disk. Blocks may nest and overlap (threads); the
        autocheckpoint comes back when the last one ends. Nothing changes for what is durable:
        a checkpoint only moves committed pages from the WAL into the database file."""
        with self._lock:
            if self._aside == 0:
                try:
                    with self._connection() as conn:
                        if self.journal_mode == "wal":
                            conn.execute("PRAGMA wal_autocheckpoint=0")
                            self._checkpointer = _Checkpointer(self.path, CHECKPOINT_EVERY_S)
                except (StoreError, sqlite3.Error):
                    pass  # the commits checkpoint as before; the block's own writes say what is wrong
            self._aside += 1
        try:
            yield
        finally:
            with self._lock:
                self._aside -= 1
                checkpointer = self._checkpointer if self._aside == 0 else None
                if checkpointer is not None:
                    self._checkpointer = None
                    self._finishing = [c for c in self._finishing if c.running()] + [checkpointer]
                    if self._conn is not None:
                        try:
                            self._conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
                        except sqlite3.Error:
                            pass  # the connection's next use says what is wrong with the store
            if checkpointer is not None:
                checkpointer.stop(wait=False)  # its last checkpoint runs on, the caller goes on

    def close(self) -> None:
        with self._lock:
            checkpointers = [c for c in (self._checkpointer, *self._finishing) if c is not None]
            self._checkpointer, self._finishing, self._aside = None, [], 0
        for checkpointer in checkpointers:
            checkpointer.stop()  # not holding the lock: its thread may be waiting for it
        with self._lock:
            self._webhooks_read.clear()
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
            if self._conn is not None:
                self._conn = None
                core, engine, self._core, self._engine = self._core, self._engine, None, None
                if core is not None:
                    core.close()
                if engine is not None:
                    engine.dispose()  # closes the connection

    def check(self) -> None:
        """Open the store (creating it) or raise StoreUnavailable / StoreVersionError."""
        with self._connection():
            pass

    def insert_webhook(self, wh: Webhook) -> None:
        with self._write() as conn:
            self._webhooks_read.clear()  # under the store's lock, until this write commits
            if conn.execute("SELECT 1 FROM webhooks WHERE id=?", (wh.id,)).fetchone():
                raise ValidationError("id", f"a webhook with id {wh.id!r} already exists")
            pos = conn.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM webhooks").fetchone()[0]
            conn.execute(
                "INSERT INTO webhooks (id, name, url, events, secret, previous_secret, "
                "previous_secret_expires_ms, created_ms, updated_ms, organisation_id, position) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (*_webhook_params(wh, self._keyring), pos),
            )

    def replace_webhook(self, wh: Webhook, *, expected_updated_ms: int | None = None) -> None:
        """Write ``wh`` over the webhook of its id. ``expected_updated_ms``: only if the stored
        webhook still has that ``updated_ms`` (checked in the UPDATE itself), else
        ConflictError and nothing written."""
        sql = (
            "UPDATE webhooks SET name=?, url=?, events=?, secret=?, previous_secret=?, "
            "previous_secret_expires_ms=?, created_ms=?, updated_ms=?, organisation_id=? WHERE id=?"
        )
        params: tuple[Any, ...] = (*_webhook_params(wh, self._keyring)[1:], wh.id)
        if expected_updated_ms is not None:
            sql, params = sql + " AND updated_ms=?", (*params, int(expected_updated_ms))
        with self._write() as conn:
            self._webhooks_read.clear()  # under the store's lock, until this write commits
            if conn.execute(sql, params).rowcount == 0:
                if conn.execute("SELECT 1 FROM webhooks WHERE id=?", (wh.id,)).fetchone() is None:
                    raise NotFoundError("webhook", wh.id)
                raise ConflictError("webhook", wh.id, "changed since it was read; nothing was saved")

    def delete_webhook(self, webhook_id: str) -> None:
        with self._write() as conn:
            self._webhooks_read.clear()  # under the store's lock, until this write commits
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
        return _webhook_from_row(row, self._keyring)

    def reload_keys(self) -> None:
        """Read the key file again (after a key rotation)."""
        with self._lock:
            self._keyring = Keyring.load(self.key_file)
            self._webhooks_read.clear()

    def reencrypt_secrets(self, keyring: Keyring) -> int:
        """Re-encrypt every webhook secret with ``keyring``'s first key, in one transaction (a key
        rotation; SecretKeyError, and nothing changed, when a secret is not decrypted by any of
        its keys); how many webhooks."""
        with self._write() as conn:
            self._webhooks_read.clear()  # under the store's lock, until this write commits
            rows = conn.execute("SELECT id, secret, previous_secret FROM webhooks").fetchall()
            for ident, secret, previous in rows:
                conn.execute(
                    "UPDATE webhooks SET secret=?, previous_secret=? WHERE id=?",
                    (keyring.rotate(secret), keyring.rotate(previous) if previous is not None else None, ident),
                )
        return len(rows)

    def list_webhooks(self) -> list[Webhook]:
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {_WH_COLS} FROM webhooks ORDER BY position").fetchall()
        return [_webhook_from_row(r, self._keyring) for r in rows]

    # -- history ----------------------------------------------------------------------------

    def append(self, row: Attempt, *, wait: bool = True) -> int:
        """Append one attempt; returns its history id. Committed before it returns. ``wait=False``:
        fail at once if another process holds the write lock."""
        with self._write(wait=wait) as conn:
            cur = conn.execute(_INSERT_HISTORY, _history_params(row))
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def reserve(self, rows: Sequence[Attempt], *, outcome_bytes: int, wait: bool = True) -> list[int]:
        """Insert ``rows`` as pending rows, in one transaction, before their sends; returns their
        ids. See :meth:`StoreTransaction.reserve`."""
        with self._write(wait=wait) as conn:
            return self._reserve(conn, rows, outcome_bytes)

    def complete(self, history_id: int, row: Attempt, *, wait: bool = True) -> None:
        """Write the outcome of the reserved row ``history_id``: ``row`` (the same attempt, with
        its outcome) replaces what the pending row did not know yet (cut to the room that was
        reserved, see :func:`fit_row`)."""
        if not wait:
            self.complete_many(((history_id, row),), wait=wait)
            return
        # Issue 12 (single send <= 1.2x bare httpx): one UPDATE in autocommit mode, without the
        # BEGIN IMMEDIATE ... COMMIT around it -- the same one write transaction (SQLite wraps
        # the statement in it), waiting for the write lock the same way (a statement that only
        # writes takes its read and write locks in one step, retried by the busy handler), and
        # two calls into SQLite fewer. complete_many keeps the explicit transaction (many rows).
        lock = self._lock
        with lock:
            try:
                conn = self._conn
                if conn is None:  # closed since the reservation: opened again as any operation would
                    with self._connection() as conn:
                        conn.execute(*self._completion(history_id, row))
                else:  # what _connection() does around it, without a generator per send
                    try:
                        conn.execute(*self._completion(history_id, row))
                    except sqlite3.Error as exc:
                        raise _unavailable(self.path, conn, exc) from None
            finally:
                self._reserved.pop(history_id, None)
                self._pending.pop(history_id, None)

    def _completion(self, hid: int, row: Attempt) -> tuple[str, tuple[Any, ...]]:
        """The UPDATE completing the reserved row ``hid`` and its parameters: the room reserved
        for the whole row, less what the pending row already holds as it stays (mostly the
        request body; the few short fields left are within the per-row margin of _wal_bytes); a
        row over it is cut to it (:func:`fit_row`). Issue 12: when the pending row already holds
        this row's send time, request headers and sender (a single send's, signed before it was
        reserved), only the outcome is written (:data:`_COMPLETE_OUTCOME`): the same row, with
        less to encode and bind."""
        limit = self._reserved.get(hid)
        pending = self._pending.get(hid)
        if pending is not None and _kept(pending) == _kept(row):
            sql, params, size = _COMPLETE_OUTCOME, _outcome_only_params, _SIZE_OF["outcome_only"]
        else:
            sql, params, size = _COMPLETE_HISTORY, _outcome_params, _SIZE_OF["outcome"]
        values = params(row)
        if limit is not None and size(values) > limit - len(row.request_body):
            values = params(fit_row(row, limit - len(row.request_body), outcome_only=True))
        return sql, (*values, hid)

    def complete_many(self, items: Sequence[tuple[int, Attempt]], *, wait: bool = True) -> None:
        """Complete several reserved rows in one transaction (burst mode). A row whose
        completion fails stays pending (it reads "interrupted"); it is not retried."""
        completion, reserved, pending = self._completion, self._reserved, self._pending
        try:
            with self._lock:  # the parameters first (before the write lock is taken), grouped by UPDATE
                groups: list[tuple[str, list[tuple[Any, ...]]]] = []
                for hid, row in items:
                    sql, params = completion(hid, row)
                    if groups and groups[-1][0] == sql:
                        groups[-1][1].append(params)
                    else:
                        groups.append((sql, [params]))
            with self._write(wait=wait) as conn:
                for sql, many in groups:
                    conn.executemany(sql, many)  # one statement stepped per row, without a call per row
        finally:
            with self._lock:
                for hid, _ in items:
                    reserved.pop(hid, None)
                    pending.pop(hid, None)

    def abandon(self, history_ids: Sequence[int]) -> None:
        """Forget reserved rows that will not be completed (their send was interrupted): they stay
        in the history as interrupted, and no longer count against the room."""
        with self._lock:
            for hid in history_ids:
                self._reserved.pop(hid, None)
                self._pending.pop(hid, None)

    def release(self, history_ids: Sequence[int], *, wait: bool = True) -> None:
        """Delete reserved rows whose sends never started (a burst that stopped early)."""
        try:
            with self._write(wait=wait) as conn:
                conn.executemany(
                    f"DELETE FROM {HISTORY_TABLE} WHERE {KEY}=? AND detail=?",
                    [(int(hid), INTERRUPTED) for hid in history_ids],
                )
        finally:
            with self._lock:
                for hid in history_ids:
                    self._reserved.pop(hid, None)
                    self._pending.pop(hid, None)

    def _reserve(self, conn: sqlite3.Connection, rows: Sequence[Attempt], outcome_bytes: int) -> list[int]:
        """INSERT the pending rows, then prove the room for completing each of them with up to
        ``outcome_bytes`` more than its pending size; raises StoreUnavailable (and the
        transaction rolls back: nothing is reserved) when the room is not there."""
        values = [_history_params(row) for row in rows]
        if len(values) == 1:
            ids = [int(conn.execute(_INSERT_HISTORY, values[0]).lastrowid)]  # type: ignore[arg-type]
        else:
            ids = _insert_many(conn, values)
        size_of = _SIZE_OF["insert"]
        sizes = [size_of(v) for v in values]
        total = sum(sizes)
        with self._lock:
            # What this transaction writes, then what every completion still to come may write
            # (a completion rewrites its row: at most its pending size plus outcome_bytes).
            outstanding = sum(self._reserved.values())
            need = self._wal_bytes(total, len(rows)) + self._wal_bytes(
                outstanding + total + len(rows) * outcome_bytes, len(rows) + len(self._reserved)
            )
            self._prove_room(need)
            for hid, size in zip(ids, sizes, strict=True):
                self._reserved[hid] = size + outcome_bytes
            for hid, row in zip(ids, rows, strict=True):
                if row.request_headers:  # signed before its reservation (a single send's row)
                    self._pending[hid] = row
        return ids

    def _wal_bytes(self, payload: int, rows: int) -> int:
        """WAL bytes that writing ``rows`` rows of ``payload`` bytes in all may take, generously:
        their pages (overflow pages carry page_size - 4 bytes), plus per row the leaf, a
        rebalance and the free-list pages it may touch, plus page 1 and the tree's top."""
        page = self._page_size
        pages = payload // (page - 4) + 1 + _PAGES_PER_ROW * rows + _PAGES_PER_TRANSACTION
        return pages * (page + _WAL_FRAME_HEADER)

    def _prove_room(self, nbytes: int) -> None:
        """Make sure the WAL can grow by ``nbytes`` without the filesystem needing to find
        space: allocate it now (``fallocate`` ``KEEP_SIZE``: blocks past the end, the size SQLite
        sees unchanged), within the file size limit. Raises StoreUnavailable when the disk (or
        the limit) does not have the room. Where the journal is not a WAL, or the filesystem
        cannot allocate ahead, the pending row is still there: only the proof is skipped."""
        if self.journal_mode != "wal":
            return
        fd = self._wal_fd
        if fd is None:
            try:
                fd = self._wal_fd = os.open(f"{self.path}-wal", os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
            except FileNotFoundError:
                return
            except OSError as exc:
                raise StoreUnavailable(f"store {self.path}: cannot check the room for this attempt: {_reason(exc)}") from None
        st = os.fstat(fd)
        want = st.st_size + nbytes
        limit = self._size_limit
        if limit is not None and want > limit:
            raise StoreUnavailable(
                f"store {self.path}: no room to record this attempt: the file size limit (ulimit -f) "
                f"is {limit} bytes and the journal needs {want}"
            )
        if getattr(st, "st_blocks", 0) * 512 < want + _ROOM_MARGIN:
            _allocate_ahead(fd, st.st_size, nbytes, self.path)

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
        sql = history_sql()
        with self._connection() as conn:
            row = conn.execute(sql.select_row, (int(history_id),)).fetchone()
        if row is None:
            raise NotFoundError("history row", history_id)
        values = list(row)
        for i, decode in sql.row_decoders:
            if values[i] is not None:
                values[i] = decode(values[i])
        return dict(zip(sql.row_keys, values, strict=True))

    def history_frame(
        self,
        filters: HistoryFilter | None = None,
        *,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The attempts matching ``filters`` (all when None; the newest ``limit``) as a typed
        DataFrame, oldest first (insertion order)."""
        sql, params = _history_query(filters, limit)
        with self._connection() as conn:
            # Issue 12: built in chunks, text as Arrow strings (see .frames), not read_sql_query.
            return frame_from_cursor(conn.execute(sql, params), _FRAME_DTYPES, _TIME_COLUMNS)

    def history_frames(
        self,
        filters: HistoryFilter | None = None,
        *,
        limit: int | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> Iterator[pd.DataFrame]:
        """:meth:`history_frame` as frames of at most ``chunk_rows`` rows (streamed exports:
        memory independent of the row count), read in one snapshot on a connection of their
        own (issue 12), so sends and other reads go on meanwhile."""
        sql, params = _history_query(filters, limit)
        self.check()  # the store exists, is ours and is at this version
        from sqlalchemy import exc as sa_exc

        from simlib.core.store.alchemy import sqlite_engine

        # Read-only, through SQLAlchemy too (the same hook turns pysqlite's transactions off).
        engine = sqlite_engine(
            f"{self.path.absolute().as_uri()}?mode=ro", uri=True, timeout=self.busy_timeout, configure=lambda conn: None
        )
        try:
            try:
                conn = engine.raw_connection().driver_connection
            except sa_exc.DBAPIError as exc:
                raise StoreUnavailable(f"cannot open the store at {self.path}: {_reason(exc.orig or exc)}") from None
            assert isinstance(conn, sqlite3.Connection)
            conn.execute("BEGIN")  # one snapshot for every chunk
            yield from iter_frames(conn.execute(sql, params), _FRAME_DTYPES, _TIME_COLUMNS, chunk_rows=chunk_rows)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"store {self.path}: {_reason(exc)}") from None
        finally:
            engine.dispose()

    def history_frame_rows(
        self,
        filters: HistoryFilter | None = None,
        *,
        limit: int | None = None,
    ) -> int:
        """How many rows :meth:`history_frame` would give (a count over the whole history: for
        an export's progress bar, not for every send)."""
        sql, params = _history_query(filters, limit)
        with self._connection() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0])

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
        wanted = None if columns is None else {KEY, *columns}
        unknown = set() if wanted is None else wanted - set(_FRAME_COLUMNS)
        if unknown:
            raise ValidationError("columns", f"not history columns: {', '.join(sorted(unknown))}")
        keys = [c for c in _FRAME_COLUMNS if wanted is None or c in wanted]
        exprs = history_sql().frame_items
        select = [KEY, *(exprs[k] if exprs[k] == k else f"{exprs[k]} AS {k}" for k in keys if k != KEY)]
        where, params = filter_sql(filters)
        sql = f"SELECT {', '.join(select)} FROM {HISTORY_TABLE}{where}"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY {KEY} DESC LIMIT ?) ORDER BY {KEY}"
            params.append(int(limit))
        else:
            sql += f" ORDER BY {KEY}"
        dtypes = {k: v for k, v in _FRAME_DTYPES.items() if k in keys}
        with self._connection() as conn:
            frame = frame_from_cursor(conn.execute(sql, params), dtypes, _TIME_COLUMNS)  # see .frames
        return frame[keys]


class _Checkpointer:
    """:meth:`Store.checkpoints_aside`'s thread: a PASSIVE checkpoint of the store's WAL every
    ``every`` seconds, on a connection of its own, until stopped (then one more). A checkpoint
    that cannot run now (a lock, an error) is left to the next one: the WAL only grows until
    then, and every reservation proves the room for that. Should the WAL outgrow
    :data:`WAL_AUTOCHECKPOINT_PAGES` all the same (a writer committing faster than the passes
    catch up), the store's commits checkpoint again until it has started over: the store's
    connection takes that setting at its next write transaction (:attr:`wanted`)."""

    def __init__(self, path: Path, every: float) -> None:
        self.path = path
        self.every = every
        #: The wal_autocheckpoint the store's connection is to have (0, or the fallback's), set
        #: by this thread only; :attr:`applied` is what the connection has, set by the writer
        #: only (at its next write transaction). Each side writes its own: no change is lost.
        self.wanted = 0
        self.applied = 0  # checkpoints_aside turned the connection's autocheckpoint off
        self.runs = 0  # checkpoints run (tests)
        self.fallbacks = 0  # times the commits had to checkpoint again (tests)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simlib-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            while True:
                stopping = self._stop.wait(self.every)
                # A pass copies the frames there were when it began; the writer goes on adding
                # some meanwhile. Passes follow one another until one finds no new frame (every
                # frame is in the database), then wait a moment for the writer's next transaction,
                # which starts the WAL over from its beginning -- seen as fewer frames. Without
                # that the WAL of a writer that never pauses would only grow.
                last = frames = -1
                for _ in range(_CHECKPOINT_PASSES):
                    try:
                        _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    except sqlite3.Error:
                        break
                    self.runs += 1
                    if frames <= 0 or frames < last:  # empty, or started over
                        break
                    if frames == last:
                        self._stop.wait(_RESTART_WAIT_S)
                    last = frames
                if stopping:
                    return
                wanted = WAL_AUTOCHECKPOINT_PAGES if frames > WAL_AUTOCHECKPOINT_PAGES else 0
                if wanted != self.wanted:
                    self.fallbacks += wanted > 0
                    self.wanted = wanted
        finally:
            conn.close()

    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, *, wait: bool = True) -> None:
        """Stop after one more checkpoint; ``wait``: until it has run."""
        self._stop.set()
        if wait:
            self._thread.join(10)


class _Write:
    """:meth:`Store._write`: the store's lock, its connection (opened if needed), ``BEGIN
    IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception); an SQLite error becomes
    StoreUnavailable. A class rather than a generator: every send goes through it twice."""

    __slots__ = ("_conn", "_store", "_wait")

    def __init__(self, store: Store, wait: bool) -> None:
        self._store = store
        self._wait = wait
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        return self._begin(self._store)

    def _begin(self, store: Store) -> sqlite3.Connection:
        store._lock.acquire()
        try:
            conn = store._conn
            if conn is None:
                conn = store._conn = store._open(None if self._wait else 0.0)
                if not self._wait:  # opened for one no-wait write: later operations wait as configured
                    conn.execute(f"PRAGMA busy_timeout={int(store.busy_timeout * 1000)}")
            self._conn = conn
            if not self._wait:
                conn.execute("PRAGMA busy_timeout=0")
            checkpointer = store._checkpointer
            if checkpointer is not None and checkpointer.wanted != checkpointer.applied:  # checkpoints_aside's fallback
                pages = checkpointer.wanted
                conn.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
                checkpointer.applied = pages
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            self._finish()
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailable(f"store {store.path}: {_reason(exc)}") from None
            raise
        return conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        conn = self._conn
        assert conn is not None
        try:
            if kind is None:
                conn.execute("COMMIT")
                return
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error as error:
            raise _unavailable(self._store.path, conn, error) from None
        finally:
            self._finish()
        if isinstance(exc, sqlite3.Error):
            raise StoreUnavailable(f"store {self._store.path}: {_reason(exc)}") from None

    def _finish(self) -> None:
        self._release(self._store)

    def _release(self, store: Store) -> None:
        try:
            if not self._wait and self._conn is not None:
                self._conn.execute(f"PRAGMA busy_timeout={int(store.busy_timeout * 1000)}")
        except sqlite3.Error:
            pass
        finally:
            store._lock.release()


class StoreTransaction:
    """The write transaction of :meth:`Store.transaction`: what a send does in the store before
    it sends (read the webhook; append the row of a send that stops here, or reserve the row of a
    send that goes ahead)."""

    __slots__ = ("_conn", "_store", "_write")

    def __init__(self, store: Store, wait: bool) -> None:
        self._store = store
        self._write = _Write(store, wait)

    def __enter__(self) -> StoreTransaction:
        self._conn = self._write.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._write.__exit__(kind, exc, tb)

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        """The webhook as it is now, in this transaction. Issue 12: read again only when the file
        may have changed since this connection last read it -- another connection committed
        (``PRAGMA data_version`` moved) or this store wrote a webhook (which clears what it read);
        else the webhook read then, which is what the SELECT would give."""
        return self._read_webhook(self._store, webhook_id)

    def _read_webhook(self, store: Store, webhook_id: str) -> Webhook | None:
        conn = self._conn
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        read = store._webhooks_read
        known = read.get(webhook_id)
        if known is not None and known[0] is conn and known[1] == version:
            return known[2]
        row = conn.execute(_SELECT_WEBHOOK, (webhook_id,)).fetchone()
        if row is None:
            read.pop(webhook_id, None)
            return None
        wh = self._webhook_in(store, row)
        if len(read) >= _WEBHOOKS_READ_MAX:
            read.clear()
        read[webhook_id] = (conn, version, wh)
        return wh

    def _webhook_in(self, store: Store, row: Sequence[Any]) -> Webhook:
        return _webhook_from_row(row, store._keyring)

    def append(self, row: Attempt) -> int:
        """Append a finished attempt (one that sends nothing); its history id."""
        return int(self._conn.execute(_INSERT_HISTORY, _history_params(row)).lastrowid)  # type: ignore[arg-type]

    def reserve(self, rows: Sequence[Attempt], *, outcome_bytes: int) -> list[int]:
        """Insert ``rows`` as pending rows (see :func:`simlib.core.classify.pending_row`) and
        prove there is room to complete each with up to ``outcome_bytes`` more than its pending
        size (the response body, headers and detail to come); their history ids. No room:
        StoreUnavailable, and the transaction rolls back (nothing reserved, nothing to send)."""
        return self._reserve_in(self._store, rows, outcome_bytes)

    def _reserve_in(self, store: Store, rows: Sequence[Attempt], outcome_bytes: int) -> list[int]:
        return store._reserve(self._conn, rows, outcome_bytes)


def _insert_many(conn: sqlite3.Connection, values: list[Sequence[Any]]) -> list[int]:
    """INSERT history rows with one ``executemany`` (issue 12: no call per row) inside the
    caller's write transaction; their ids. A table without AUTOINCREMENT gives each new row the
    largest id plus one, so under the write lock the ids are the last one and those just before
    it -- checked: ids out of that order (only past the largest id SQLite gives in order,
    2**63 - 1) raise StoreUnavailable, and the transaction rolls back."""
    conn.executemany(_INSERT_HISTORY, values)
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    first = last - len(values) + 1
    if conn.execute(_COUNT_IDS, (first, last)).fetchone()[0] != len(values):  # pragma: no cover
        raise StoreUnavailable("the history's row ids are not in order; nothing was reserved")
    return list(range(first, last + 1))


_COUNT_IDS: Final = f"SELECT count(*) FROM {HISTORY_TABLE} WHERE {KEY} BETWEEN ? AND ?"


def _store_version(path: Path, conn: sqlite3.Connection) -> tuple[int, bool]:
    """The schema version of the simlib store ``conn`` is open on (0: an empty file, to be
    created) and whether it has its version table (``simlib_schema``; a store of the previous
    release has ``PRAGMA user_version`` only), read without writing anything. Another
    application's SQLite database -- tables that are not simlib's, or simlib's missing where a
    version says they are there -- raises StoreUnavailable; a newer simlib's store (by either
    record of the version) StoreVersionError."""
    user_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    names = {
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
    }
    ours = {WEBHOOKS_TABLE, HISTORY_TABLE} <= names
    has_table = VERSION_TABLE in names
    version = user_version
    if has_table and ours:
        try:
            rows = conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchall()
        except sqlite3.Error:
            rows = []
        if len(rows) != 1 or not isinstance(rows[0][0], int):
            raise StoreUnavailable(
                f"the store at {path} has a {VERSION_TABLE} table without its one version row; it was left "
                "untouched: give the path of a simlib store or of a new file"
            )
        version = max(int(rows[0][0]), user_version)
    if version > SCHEMA_VERSION and (ours or not names):
        _refuse_newer(path, version)
    if version == 0 and not names:
        return 0, False
    if ours and BASE_VERSION <= version <= SCHEMA_VERSION:
        return version, has_table
    what = f"{len(names)} table{'s' if len(names) != 1 else ''} or index{'es' if len(names) != 1 else ''}" if names else "no tables"
    raise StoreUnavailable(
        f"the file at {path} is an SQLite database but not a simlib store (user_version {user_version}, "
        f"{what} that simlib did not create); it was left untouched: give the path of a simlib store "
        "or of a new file"
    )


def _refuse_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"the store at {path} has schema version {version}, newer than this simlib "
            f"understands ({SCHEMA_VERSION}); upgrade simlib or use another store"
        )


#: The files that hold the store's data (and so its secrets): the database, its WAL, the WAL's
#: index and a rollback journal.
_STORE_SUFFIXES: Final = ("", "-wal", "-shm", "-journal")


def _make_owner_only(path: Path, targets: Sequence[Path]) -> None:
    """Take group and other permissions off the store's ``targets`` (its files, or its directory
    when simlib chose it) when this user owns them; refuse (StoreUnavailable) one that others can
    use and this user cannot tighten. By path only: opening a database file here and closing it
    would drop the locks SQLite holds on it in this process."""
    if os.name != "posix":
        return
    me = os.geteuid()
    for target in targets:
        try:
            st = os.stat(target)
        except FileNotFoundError:
            continue
        kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
        mode = stat.S_IMODE(st.st_mode)
        if not mode & 0o077:
            continue
        reason = f"it belongs to user id {st.st_uid}"
        if st.st_uid == me:
            try:
                os.chmod(target, mode & 0o700)
                continue
            except OSError as exc:
                if exc.errno == errno.EROFS:
                    continue  # a read-only filesystem: no secret can be written into it either
                reason = exc.strerror or str(exc)
        raise StoreUnavailable(
            f"cannot open the store at {path}: its {kind} {target} can be used by other users (mode "
            f"{mode:04o}) and would hold webhook secrets; simlib could not make it owner-only ({reason}): "
            f"run 'chmod go= {target}' as its owner, or use another store"
        )


#: Estimating the WAL bytes of a write (:meth:`Store._wal_bytes`): pages a row's write may touch
#: besides its own content (its leaf, a rebalance of its neighbours, free-list pages), pages each
#: transaction may touch (page 1, the tree's interior), and the header of each WAL frame.
_PAGES_PER_ROW: Final = 6
_PAGES_PER_TRANSACTION: Final = 8
_WAL_FRAME_HEADER: Final = 24
#: st_blocks counts a little more than the data (extent blocks): room counts only past this.
_ROOM_MARGIN: Final = 64 * 1024
#: Allocated ahead in one go, so most sends find their room already there (no system call).
_ROOM_CHUNK: Final = 1024 * 1024
#: A stored row's bytes besides its values (record header, cell and key).
_RECORD_OVERHEAD: Final = 64
_NO_ROOM_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_fallocate_fn: list[Callable[[int, int, int], int] | None] = []


def _params_bytes(values: Sequence[Any]) -> int:
    """The bytes a row with these INSERT parameters takes in the database (an upper bound: 9
    per value for its type and any number, plus the text and blobs)."""
    total = _RECORD_OVERHEAD + 9 * len(values)
    for value in values:
        kind = type(value)
        if kind is str:
            total += len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
        elif kind is bytes:
            total += len(value)
    return total


def _sizer_for(kinds: Sequence[Kind]) -> Callable[[Sequence[Any]], int]:
    """``_params_bytes`` for parameters of these kinds, in this order (issue 12: every send sizes
    two rows): the texts joined and measured at once, the blobs by position. Parameters of
    other types than their kinds say (text that is not a ``str``, a blob that is not
    ``bytes``, text where a number belongs) are sized by ``_params_bytes`` itself."""
    texts = tuple(i for i, k in enumerate(kinds) if k in ("text", "json"))
    blobs = tuple(i for i, k in enumerate(kinds) if k == "bytes")
    others = tuple(i for i, k in enumerate(kinds) if k not in ("text", "json", "bytes"))
    base = _RECORD_OVERHEAD + 9 * len(kinds)
    get_texts = itemgetter(*texts) if len(texts) > 1 else (lambda v: (v[texts[0]],)) if texts else (lambda v: ())
    get_others = itemgetter(*others) if len(others) > 1 else (lambda v: (v[others[0]],)) if others else (lambda v: ())
    sized = {str, bytes, bytearray, memoryview}

    def size(values: Sequence[Any]) -> int:
        if len(values) != len(kinds) or not sized.isdisjoint(map(type, get_others(values))):
            return _params_bytes(values)  # text or a blob where a number belongs
        try:
            text = "".join(filter(None, get_texts(values)))
        except TypeError:  # a text that is not a str (or None)
            return _params_bytes(values)
        total = base + (len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass")))
        for i in blobs:
            blob = values[i]
            if type(blob) is bytes:
                total += len(blob)
            elif blob is not None:
                return _params_bytes(values)
        return total

    return size


_SIZE_OF.update(
    insert=_sizer_for(_kinds([spec.name for spec in stored_fields(Attempt)])),
    outcome=_sizer_for(_kinds(_param_builders(Attempt)[2])),
    outcome_only=_sizer_for(_kinds(
        [s.name for s in stored_fields(Attempt) if s.name not in PENDING_FINAL and s.name not in _KEPT_IF_SAME]
    )),
)


def row_bytes(row: Attempt) -> int:
    """The bytes the history row of ``row`` takes in the database (an upper bound)."""
    return _params_bytes(_history_params(row))


def _outcome_bytes(row: Attempt) -> int:
    return _params_bytes(_outcome_params(row))


def fit_row(row: Attempt, limit: int, *, outcome_only: bool = False) -> Attempt:
    """``row`` cut to at most ``limit`` stored bytes (``outcome_only``: counting only what a
    completion writes), each cut said in the detail: response headers dropped from the last,
    then the detail and the response body shortened. A completion never takes more room than
    was reserved for it; only an endpoint answering far more than the response cap (hundreds of
    KB of headers) meets this."""
    from dataclasses import replace

    size_of = _outcome_bytes if outcome_only else row_bytes
    if size_of(row) <= limit:
        return row
    note = "; not all of it is recorded (larger than the room reserved in history)"
    headers = dict(row.response_headers)
    fitted = replace(row, detail=row.detail + note)
    while headers and size_of(fitted) > limit:
        headers.pop(next(reversed(headers)))
        fitted = replace(fitted, response_headers=dict(headers))
    over = size_of(fitted) - limit
    if over > 0 and len(fitted.detail) > 200:
        keep = max(200, len(fitted.detail) - over - len(note))
        fitted = replace(fitted, detail=fitted.detail[:keep] + "…" + note)
        over = size_of(fitted) - limit
    if over > 0:
        body = fitted.response_body.encode("utf-8", "surrogatepass")
        keep = max(0, len(body) - over)
        fitted = replace(
            fitted, response_body=body[:keep].decode("utf-8", "ignore"), response_truncated=True
        )
    return fitted


def _file_size_limit() -> int | None:
    """This process's file size limit (``ulimit -f``) in bytes, or None when there is none."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _fallocate() -> Callable[[int, int, int], int] | None:
    """Linux ``fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length)``, or None elsewhere."""
    if not _fallocate_fn:
        fn: Callable[[int, int, int], int] | None = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                native = getattr(libc, "fallocate64", None) or libc.fallocate
                native.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
                native.restype = ctypes.c_int

                def fn(fd: int, offset: int, length: int) -> int:
                    return 0 if native(fd, 1, offset, length) == 0 else ctypes.get_errno() or errno.EIO

            except (OSError, AttributeError):
                fn = None
        _fallocate_fn.append(fn)
    return _fallocate_fn[0]


def _allocate_ahead(fd: int, offset: int, nbytes: int, path: Path) -> None:
    """Allocate ``nbytes`` (plus a chunk, when there is room for it) past ``offset`` of the WAL;
    StoreUnavailable when the disk has no room for ``nbytes``."""
    fallocate = _fallocate()
    if fallocate is None:
        return
    err = fallocate(fd, offset, nbytes + _ROOM_CHUNK)
    if err in _NO_ROOM_ERRNOS:
        err = fallocate(fd, offset, nbytes)
    if err == 0:
        return
    if err in _NO_ROOM_ERRNOS:
        raise StoreUnavailable(
            f"store {path}: no room to record this attempt: the disk holding the store is full "
            f"({os.strerror(err)})"
        )
    if err in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENODEV):
        _fallocate_fn[0] = None  # this filesystem cannot allocate ahead: the pending row only
        return
    raise StoreUnavailable(f"store {path}: cannot make room for this attempt ({os.strerror(err)})")


_WH_COLS = (
    "id, name, url, events, secret, previous_secret, previous_secret_expires_ms, created_ms, updated_ms, "
    "organisation_id"  # issue 14 (schema version 3)
)
_SELECT_WEBHOOK: Final = f"SELECT {_WH_COLS} FROM webhooks WHERE id=?"
#: The most webhooks a store remembers having read in sends (Store._webhooks_read).
_WEBHOOKS_READ_MAX: Final = 256


def _webhook_params(wh: Webhook, keyring: Keyring | None) -> tuple[Any, ...]:
    """The stored values of a webhook: its secrets as tokens (SecretKeyError without a key)."""
    assert keyring is not None  # loaded when the store opened
    return (
        wh.id,
        wh.name,
        wh.url,
        json.dumps(list(wh.events)),
        keyring.seal(wh.secret),
        keyring.seal(wh.previous_secret) if wh.previous_secret is not None else None,
        wh.previous_secret_expires_ms,
        wh.created_ms,
        wh.updated_ms,
        wh.organisation_id,  # issue 14 (schema version 3)
    )


@lru_cache(maxsize=1024)
def _events(text: str) -> tuple[str, ...]:
    """The events of a webhook row (parsed once per distinct list: every send reads them)."""
    return tuple(json.loads(text))


def _webhook_from_row(row: Sequence[Any], keyring: Keyring | None) -> Webhook:
    assert keyring is not None  # loaded when the store opened
    return Webhook(
        id=row[0],
        name=row[1],
        url=row[2],
        events=_events(row[3]),
        secret=keyring.open(row[4]),
        previous_secret=keyring.open(row[5]) if row[5] is not None else None,
        previous_secret_expires_ms=row[6],
        created_ms=row[7],
        updated_ms=row[8],
        organisation_id=row[9],  # issue 14 (schema version 3)
    )


def _unavailable(path: object, conn: sqlite3.Connection, exc: BaseException) -> StoreUnavailable:
    """The error for a failed store operation, once its transaction (if any) is rolled back
    (quietly: the connection may be past saving)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
    return StoreUnavailable(f"store {path}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return "the store is locked by another process (busy timeout exceeded); retry shortly"
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
        return "the disk holding the store is full (database or disk is full)"
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorname", "").startswith("SQLITE_IOERR"):
        return f"{text}: the disk may be full or the file size limit (ulimit -f) reached"
    if isinstance(exc, OSError) and exc.errno in _NO_ROOM_ERRNOS:
        return f"the disk holding the store is full or the file size limit is reached ({exc.strerror})"
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return "the file is not a simlib store (corrupt or another format)"
    if "readonly" in text.replace(" ", "") or isinstance(exc, PermissionError):
        return f"read-only or not permitted ({text})"
    return text
