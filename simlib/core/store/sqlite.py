"""The embedded store: one SQLite file holding the webhooks and the history of attempts.

Location, first match wins: an explicit path; ``$SIMLIB_HOME/simlib.sqlite3``; the per-user
data directory (``platformdirs.user_data_dir("simlib")``). The file must be on a local disk
(WAL mode needs shared memory between processes).

Practice (PRACTICE.md §5): WAL, a busy timeout, ``BEGIN IMMEDIATE`` + one short transaction per
write, no network I/O inside a transaction, rows ordered by their integer id (insertion order),
times as integer epoch milliseconds, ``PRAGMA user_version`` as the schema version. The file and
its directory are created owner-only, because the file holds webhook secrets.

Any failure to use the file (locked past the timeout, unreadable, corrupt, read-only) raises
:class:`~simlib.errors.StoreUnavailable` with a readable reason; a file from a newer simlib raises
:class:`~simlib.errors.StoreVersionError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simlib.errors import NotFoundError, StoreUnavailable, StoreVersionError, ValidationError
from simlib.records import Secret, Webhook

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HISTORY_COLUMNS", "HistoryRow", "Store", "default_store_path"]

SCHEMA_VERSION = 1
STORE_FILENAME = "simlib.sqlite3"
DEFAULT_BUSY_TIMEOUT = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
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
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    simulation_id TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    webhook_id TEXT NOT NULL,
    webhook_name TEXT NOT NULL,
    url TEXT NOT NULL,
    event_type TEXT NOT NULL,
    result TEXT NOT NULL,
    http_status INTEGER,
    latency_ms REAL,
    error TEXT,
    error_status INTEGER,
    detail TEXT NOT NULL,
    event_id TEXT NOT NULL,
    request_headers TEXT NOT NULL,
    request_body BLOB NOT NULL,
    response_headers TEXT NOT NULL,
    response_body TEXT NOT NULL,
    response_truncated INTEGER NOT NULL,
    replay_of INTEGER
);
"""
# No secondary indexes on history: each one doubles the cost of the append every send pays,
# while a filtered scan of 100k rows takes milliseconds (bench_history.py measures both).

#: Public column names of :meth:`Store.history_frame`, in order.
HISTORY_COLUMNS = [
    "id",
    "simulation_id",
    "sent_at",
    "webhook_id",
    "webhook_name",
    "url",
    "event_type",
    "result",
    "http_status",
    "latency_ms",
    "error",
    "error_status",
    "detail",
    "signature",
    "signature_timestamp",
    "event_id",
    "request_headers",
    "payload",
    "response_headers",
    "response_body",
    "response_truncated",
    "replay_of",
]


def default_store_path() -> Path:
    """``$SIMLIB_HOME/simlib.sqlite3`` if set, else the per-user data directory."""
    home = os.environ.get("SIMLIB_HOME")
    if home:
        return Path(home).expanduser() / STORE_FILENAME
    from platformdirs import user_data_dir

    return Path(user_data_dir("simlib", appauthor=False)) / STORE_FILENAME


@dataclass(frozen=True)
class HistoryRow:
    """One attempt as written to the history table."""

    simulation_id: str
    sent_at_ms: int
    webhook_id: str
    webhook_name: str
    url: str
    event_type: str
    result: str
    http_status: int | None
    latency_ms: float | None
    error: str | None
    error_status: int | None
    detail: str
    event_id: str
    request_headers: dict[str, str]
    request_body: bytes
    response_headers: dict[str, str]
    response_body: str
    response_truncated: bool
    replay_of: int | None = None

    def as_params(self) -> tuple[Any, ...]:
        return (
            self.simulation_id,
            self.sent_at_ms,
            self.webhook_id,
            self.webhook_name,
            self.url,
            self.event_type,
            self.result,
            self.http_status,
            self.latency_ms,
            self.error,
            self.error_status,
            self.detail,
            self.event_id,
            json.dumps(self.request_headers),
            sqlite3.Binary(self.request_body),
            json.dumps(self.response_headers),
            self.response_body,
            int(self.response_truncated),
            self.replay_of,
        )


_INSERT_HISTORY = (
    "INSERT INTO history (simulation_id, sent_at_ms, webhook_id, webhook_name, url, event_type, "
    "result, http_status, latency_ms, error, error_status, detail, event_id, request_headers, "
    "request_body, response_headers, response_body, response_truncated, replay_of) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)

_SELECT_HISTORY = (
    "SELECT id, simulation_id, sent_at_ms AS sent_at, webhook_id, webhook_name, url, event_type, "
    "result, http_status, latency_ms, error, error_status, detail, "
    "json_extract(request_headers, '$.\"x-webhook-signature\"') AS signature, "
    "json_extract(request_headers, '$.\"x-webhook-timestamp\"') AS signature_timestamp, "
    "event_id, request_headers, CAST(request_body AS TEXT) AS payload, response_headers, "
    "response_body, response_truncated, replay_of FROM history"
)


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
            if version > SCHEMA_VERSION:
                conn.close()
                raise StoreVersionError(
                    f"the store at {path} has schema version {version}, newer than this simlib "
                    f"understands ({SCHEMA_VERSION}); upgrade simlib or use another store"
                )
            if version < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
        except StoreVersionError:
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise StoreUnavailable(f"cannot use the store at {path}: {_reason(exc)}") from None
        self.journal_mode = mode
        return conn

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

    def append(self, row: HistoryRow) -> int:
        """Append one attempt; returns its history id. Committed before it returns."""
        with self._write() as conn:
            cur = conn.execute(_INSERT_HISTORY, row.as_params())
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def append_many(self, rows: Sequence[HistoryRow]) -> list[int]:
        """Append several attempts in one transaction (burst mode); returns their ids."""
        ids: list[int] = []
        with self._write() as conn:
            for row in rows:
                ids.append(int(conn.execute(_INSERT_HISTORY, row.as_params()).lastrowid))  # type: ignore[arg-type]
        return ids

    def history_count(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM history").fetchone()[0])

    def history_row(self, history_id: int) -> dict[str, Any]:
        """One history row as a dict, with the exact request body as bytes."""
        with self._connection() as conn:
            conn.row_factory = sqlite3.Row
            try:
                row = conn.execute("SELECT * FROM history WHERE id=?", (int(history_id),)).fetchone()
            finally:
                conn.row_factory = None
        if row is None:
            raise NotFoundError("history row", history_id)
        d = dict(row)
        d["request_headers"] = json.loads(d["request_headers"])
        d["response_headers"] = json.loads(d["response_headers"])
        d["request_body"] = bytes(d["request_body"])
        d["response_truncated"] = bool(d["response_truncated"])
        return d

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
        sql = _SELECT_HISTORY + (" WHERE " + " AND ".join(where) if where else "")
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?) ORDER BY id"
            params.append(int(limit))
        else:
            sql += " ORDER BY id"
        with self._connection() as conn:
            frame = pd.read_sql_query(
                sql,
                conn,
                params=params,
                dtype={
                    "id": "int64",
                    "http_status": "Int64",
                    "error_status": "Int64",
                    "replay_of": "Int64",
                    "latency_ms": "float64",
                    "response_truncated": "bool",
                },
            )
        frame["sent_at"] = pd.to_datetime(frame["sent_at"].astype("int64"), unit="ms", utc=True)
        return frame[HISTORY_COLUMNS]


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
