"""The store's tables as SQLAlchemy Core objects, shared by both backends (issue 13).

One set of definitions (:mod:`~simlib.core.store.schema`: the history record's fields and
:data:`~simlib.core.store.schema.WEBHOOK_COLUMNS`) rendered as ``Table`` objects (:func:`tables`),
in two flavours: PostgreSQL's (``BIGINT`` identity key, ``BOOLEAN``, ``DOUBLE PRECISION``) and
SQLite's (the column types SQLite stores have always had: ``INTEGER`` rowid key, ``INTEGER``,
``REAL``, ``TEXT``, ``BLOB``), so a store made by an older release and upgraded in place has exactly
the tables a new one gets. Both backends create their tables with ``MetaData.create_all`` and run
the same migration steps (:func:`apply_step`) on a Core connection.

The SQLite store opens its file through :func:`sqlite_engine` (``sqlite+pysqlite``): the
``connect`` hook turns pysqlite's own transaction handling off and configures the connection
(its caller's checks, then WAL, ``synchronous=NORMAL``, the busy timeout ...), the ``begin`` hook
emits ``BEGIN IMMEDIATE`` -- SQLAlchemy's documented recipe for pysqlite's transactions. Its hot
statements are compiled once from the Core tables for that dialect (:func:`sqlite_statements`).

Imported only when a store is opened: ``import simlib`` does not load SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sa_sqlite

from simlib.core.store.keys import Keyring
from simlib.core.store.schema import (
    HISTORY_TABLE,
    KEY,
    VERSION_TABLE,
    WEBHOOK_COLUMNS,
    WEBHOOKS_TABLE,
    AddColumn,
    DropColumn,
    EncryptSecrets,
    Step,
    stored_fields,
)
from simlib.errors import StoreUnavailable
from simlib.records import Attempt, Derived, Kind, View, record_view

__all__ = [
    "PG_TYPES",
    "SQLITE_DIALECT",
    "SQLITE_TYPES",
    "apply_step",
    "sqlite_engine",
    "sqlite_statements",
    "tables",
]

#: PostgreSQL's type of each kind of record field (JSON is kept as its text, as in SQLite).
PG_TYPES: Final[dict[Kind, Any]] = {
    "text": sa.Text,
    "int": sa.BigInteger,
    "float": sa.Double,
    "bool": sa.Boolean,
    "json": sa.Text,
    "bytes": sa.LargeBinary,
    "time_ms": sa.BigInteger,
}
#: SQLite's type of each kind (the declared types of every store since the first release).
SQLITE_TYPES: Final[dict[Kind, Any]] = {
    "text": sa.TEXT,
    "int": sa.INTEGER,
    "float": sa.REAL,
    "bool": sa.INTEGER,
    "json": sa.TEXT,
    "bytes": sa.BLOB,
    "time_ms": sa.INTEGER,
}
SQLITE_DIALECT: Final = sa_sqlite.dialect()


def tables(
    metadata: sa.MetaData | None = None, *, record: type[Attempt] = Attempt, sqlite: bool = False
) -> tuple[sa.Table, sa.Table, sa.Table]:
    """The webhooks, history and version tables of ``record``, rendered from the schema's
    definitions (``sqlite``: SQLite's flavour, see the module docstring)."""
    md = metadata if metadata is not None else sa.MetaData()
    types = SQLITE_TYPES if sqlite else PG_TYPES
    webhooks = sa.Table(
        WEBHOOKS_TABLE,
        md,
        *(
            # SQLite's key columns were declared without NOT NULL ("id TEXT PRIMARY KEY").
            sa.Column(c.name, types[c.kind], primary_key=c.primary_key,
                      nullable=c.nullable or (c.primary_key and sqlite))
            for c in WEBHOOK_COLUMNS
        ),
    )
    if sqlite:  # "id INTEGER PRIMARY KEY": the rowid, assigned in insertion order
        key = sa.Column(KEY, sa.INTEGER, primary_key=True, nullable=True)
    else:
        key = sa.Column(KEY, sa.BigInteger, sa.Identity(), primary_key=True)
    history = sa.Table(
        HISTORY_TABLE, md, key, *(sa.Column(s.name, types[s.kind], nullable=s.nullable) for s in stored_fields(record))
    )
    version = sa.Table(VERSION_TABLE, md, sa.Column("version", types["int"], nullable=False))
    return webhooks, history, version


def _derived(d: Derived, source: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """SQL computing a derived value from its source column (agrees with ``Derived.compute``)."""
    if d.how == "lookup":
        whens = {k: v for k, v in (d.table or {}).items() if v is not None}
        return sa.case(whens, value=source) if whens else sa.null()
    if d.how == "header":
        return sa.func.json_extract(source, f'$."{d.header}"')
    return sa.cast(source, sa.TEXT)


def _unqualified(table: sa.Table) -> dict[str, sa.ColumnClause[Any]]:
    """The table's columns as bare names (the SELECTs read one table: ``error``, not ``history.error``)."""
    return {c.name: sa.column(c.name, c.type) for c in table.c}


def _items(history: sa.Table, record: type[Attempt], view: View) -> list[sa.ColumnElement[Any]]:
    columns = _unqualified(history)
    out: list[sa.ColumnElement[Any]] = []
    for item in record_view(record, view):
        col = columns[item.source]
        expr = col if item.derived is None else _derived(item.derived, col)
        out.append(expr if expr is col and item.key == item.source else expr.label(item.key))
    return out


def _sql(statement: sa.ClauseElement, *, literal: bool = False) -> str:
    kwargs = {"literal_binds": True} if literal else {}
    return str(statement.compile(dialect=SQLITE_DIALECT, compile_kwargs=kwargs)).strip()


def sqlite_statements(record: type[Attempt] = Attempt, *, outcome: tuple[str, ...]) -> dict[str, Any]:
    """The SQLite SQL of ``record``'s history table, compiled once from its Core table:
    ``create`` (its DDL), ``insert`` (every stored field, in the record's order), ``update`` (the
    same plus the key), ``complete`` (the ``outcome`` fields plus the key), ``select_frame`` /
    ``select_row`` (the ``frame`` / ``row`` views, derived values computed) and ``frame_items``
    (the SELECT expression of each frame column). Parameters are positional (``?``), in the
    order their names are given."""
    _, history, _ = tables(record=record, sqlite=True)
    names = [s.name for s in stored_fields(record)]
    key = history.c[KEY]

    def update(columns: list[str]) -> str:
        stmt = sa.update(history).where(key == sa.bindparam("_key")).values({n: sa.bindparam(n) for n in columns})
        compiled = stmt.compile(dialect=SQLITE_DIALECT)
        assert list(compiled.positiontup or ()) == [*columns, "_key"], "parameters out of the record's order"
        return str(compiled)

    insert = sa.insert(history).values({n: sa.bindparam(n) for n in names}).compile(dialect=SQLITE_DIALECT)
    assert list(insert.positiontup or ()) == names, "parameters out of the record's order"
    frame = _items(history, record, "frame")
    row = _items(history, record, "row")
    bare_key = _unqualified(history)[KEY]
    placeholder: sa.ColumnClause[Any] = sa.literal_column("?")  # the key a row is read by (the rest is literal)
    return {
        "create": _sql(sa.schema.CreateTable(history, if_not_exists=True)),
        "insert": str(insert),
        "update": update(names),
        "complete": update(list(outcome)),
        "select_frame": _sql(sa.select(bare_key, *frame).select_from(history), literal=True),
        "select_row": _sql(sa.select(bare_key, *row).select_from(history).where(bare_key == placeholder), literal=True),
        "frame_items": {
            item.key: _sql(expr.element if isinstance(expr, sa.Label) else expr, literal=True)
            for item, expr in zip(record_view(record, "frame"), frame, strict=True)
        },
    }


def apply_step(conn: sa.Connection, step: Step, keyring: Keyring | None, *, native_drop: bool = True) -> None:
    """Run one migration step inside the caller's transaction (either backend); a step already
    applied (the column is there / gone, the secrets are tokens) does nothing. ``EncryptSecrets``
    needs the store's ``keyring``; ``native_drop=False`` drops a column by copying the table
    (SQLite before 3.35 has no ``DROP COLUMN``)."""
    table = sa.Table(step.table, sa.MetaData(), autoload_with=conn)
    present = set(table.c.keys())
    prep = conn.dialect.identifier_preparer
    sqlite = conn.dialect.name == "sqlite"
    if isinstance(step, EncryptSecrets):
        if keyring is None:
            raise StoreUnavailable("encrypting the webhook secrets needs the store's key")
        for name in step.columns:
            col = table.c[name]
            for ident, value in conn.execute(sa.select(table.c.id, col).where(col.is_not(None))).all():
                token = keyring.encrypt_plain(value)
                if token != value:
                    conn.execute(sa.update(table).where(table.c.id == ident).values({name: token}))
    elif isinstance(step, AddColumn):
        if step.name not in present:
            kind = (SQLITE_TYPES if sqlite else PG_TYPES)[step.kind]().compile(dialect=conn.dialect)
            ddl = f"ALTER TABLE {prep.quote(step.table)} ADD COLUMN {prep.quote(step.name)} {kind}"
            if not step.nullable:
                ddl += " NOT NULL"
            if step.default is not None:
                literal = sa.literal(step.default).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                ddl += f" DEFAULT {literal}"
            conn.execute(sa.text(ddl))
    elif isinstance(step, DropColumn):
        if step.name in present:
            if native_drop or not sqlite:
                conn.execute(sa.text(f"ALTER TABLE {prep.quote(step.table)} DROP COLUMN {prep.quote(step.name)}"))
            else:
                _rebuild_without(conn, table, step.name)


def _rebuild_without(conn: sa.Connection, table: sa.Table, column: str) -> None:
    """DROP COLUMN for SQLite < 3.35: copy the table without the column (the history table has
    no indexes, triggers or views that would need re-creating)."""
    keep = [c for c in table.c if c.name != column]
    if sum(1 for c in keep if c.primary_key) > 1:
        raise StoreUnavailable(f"cannot rebuild {table.name}: composite primary key")
    new = sa.Table(
        f"{table.name}__new",
        sa.MetaData(),
        *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable or c.primary_key,
                    server_default=c.server_default) for c in keep),
    )
    new.create(conn)
    names = [c.name for c in keep]
    conn.execute(sa.insert(new).from_select(names, sa.select(*(table.c[n] for n in names))))
    table.drop(conn)
    conn.execute(sa.text(f"ALTER TABLE {new.name} RENAME TO {table.name}"))


def sqlite_engine(
    database: str, *, timeout: float, configure: Callable[[Any], None], uri: bool = False
) -> sa.Engine:
    """An engine on one SQLite file holding one connection (the store serialises its use):
    pysqlite's own transaction handling off, ``configure(dbapi connection)`` run on it when it
    opens (checks and PRAGMAs), ``BEGIN IMMEDIATE`` at the start of every Core transaction (the
    write lock up front, waited for as the busy timeout says).

    ``database`` is the path (or, with ``uri``, an SQLite ``file:`` URI) as ``sqlite3.connect``
    takes it: the engine's URL is only ``sqlite+pysqlite://`` and the connection is made by
    ``creator``, because a path inside an SQLAlchemy URL is parsed as one (``%20`` decoded, ``?``
    starting a query): a store at ``/data/a?b/simlib.sqlite3`` would open another file."""

    def connect() -> Any:
        return sqlite3.connect(database, timeout=timeout, check_same_thread=False, uri=uri)

    engine = sa.create_engine("sqlite+pysqlite://", creator=connect, poolclass=sa.pool.StaticPool, hide_parameters=True)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's recipe: we say when transactions begin
        try:
            configure(dbapi_conn)
        except BaseException:
            dbapi_conn.close()
            raise

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
