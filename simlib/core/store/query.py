"""Pages of the history: a filter, a sort order and a keyset cursor, rendered as SQLite SQL.

What the history workbench asks of a store, in terms a second backend could render as well:
:class:`HistoryFilter` (webhook, event, result, status class, time range, free text),
:data:`HistoryOrder` (newest first by default) and :class:`PageCursor` (the sort key and id of a
page's first or last row). A page is read by *keyset*, never by ``OFFSET``: the rows after (or
before) a cursor, ``limit + 1`` of them, so that reading page 1 or page 20,000 of a million rows
costs the same. In the default order (newest first) the key is the integer primary key, which
needs no index; the other orders scan the matching rows once per page (documented trade-off: an
index on them would slow every append). Counts are capped (:meth:`Store.history_count_capped
<simlib.core.store.sqlite.Store.history_count_capped>`): a count over a ``LIMIT``-ed subquery stops
after ``cap + 1`` matches, so "10,000+" costs the same at 10k rows as at 10M.

A free-text filter is a case-insensitive (ASCII) substring match over the ids, names, URL, event,
detail, error, the delivery headers and both bodies; a page with a rare text scans until it has a
page of matches (or the table ends): the price of searching bodies without a full-text index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, get_args

from simlib.core.store.schema import HISTORY_TABLE, KEY
from simlib.errors import ValidationError

__all__ = [
    "DEFAULT_COUNT_CAP",
    "DEFAULT_PAGE_ROWS",
    "HISTORY_ORDERS",
    "MAX_PAGE_ROWS",
    "PAGE_COLUMNS",
    "STATUS_CLASSES",
    "CappedCount",
    "HistoryFilter",
    "HistoryOrder",
    "HistoryPage",
    "PageCursor",
    "StatusClass",
    "filter_sql",
    "id_runs",
    "page_sql",
]

#: HTTP status classes a filter can ask for; ``none``: no HTTP status at all (nothing answered).
StatusClass = Literal["1xx", "2xx", "3xx", "4xx", "5xx", "none"]
STATUS_CLASSES: Final[tuple[StatusClass, ...]] = get_args(StatusClass)
#: The orders of a history page: newest / oldest first (by history id, the insertion order),
#: slowest / fastest first (no latency last), highest / lowest status first (no status last).
HistoryOrder = Literal["newest", "oldest", "slowest", "fastest", "status_desc", "status_asc"]
HISTORY_ORDERS: Final[tuple[HistoryOrder, ...]] = get_args(HistoryOrder)
DEFAULT_PAGE_ROWS: Final = 25
MAX_PAGE_ROWS: Final = 1000
DEFAULT_COUNT_CAP: Final = 10_000
#: The columns of a page row: what a grid shows, never the bodies or headers.
PAGE_COLUMNS: Final = (
    KEY, "sent_at_ms", "webhook_id", "webhook_name", "event_type", "result", "http_status", "latency_ms",
    "error", "detail", "replay_of", "user", "host",  # who sent it from where (issue 13): the grid's "By"
)

# order -> (the sort key as SQL, with the rows lacking a value placed last; descending?)
_ORDER_SQL: Final[dict[str, tuple[str, bool]]] = {
    "newest": (KEY, True),
    "oldest": (KEY, False),
    "slowest": ("COALESCE(latency_ms, -1.0)", True),
    "fastest": ("COALESCE(latency_ms, 1e308)", False),
    "status_desc": ("COALESCE(http_status, -1)", True),
    "status_asc": ("COALESCE(http_status, 1000)", False),
}
# what the free-text filter searches, as SQL expressions over a history row
_TEXT_COLUMNS: Final = (
    "simulation_id", "event_id", "webhook_id", "webhook_name", "url", "event_type", "detail", "error",
    "request_headers", "response_body", "CAST(request_body AS TEXT)",
)


def _strings(field: str, value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    values = (value,) if isinstance(value, str) else tuple(value)
    for v in values:
        if not isinstance(v, str) or not v:
            raise ValidationError(field, f"expected non-empty strings, not {v!r}")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(field, "is not valid text (a lone surrogate)") from None
    return values


def _ids(values: Iterable[int]) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)):
        raise ValidationError("history_ids", f"expected history ids (ints), not {values!r}")
    out = set()
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValidationError("history_ids", f"expected history ids (ints), not {v!r}")
        out.add(v)
    return tuple(sorted(out))


def id_runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted unique ``ids`` as ``(first, last)`` runs of consecutive ids."""
    runs: list[tuple[int, int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


@dataclass(frozen=True, init=False)
class HistoryFilter:
    """Which attempts a page, a count or an export covers; every criterion given must hold.

    ``webhook`` (ids), ``event_type``, ``result`` ("Delivered", "Failed" or a simulation error
    such as "Network error"), ``status_class`` ("2xx" ... "5xx", or "none" for no status),
    ``user`` and ``host`` (who sent it, from where) each take one value or several (any of them); ``since_ms`` / ``until_ms`` bound the send time
    (epoch ms, inclusive); ``text`` is a substring searched case-insensitively (see the module).
    ``history_ids``: only these attempts (e.g. the ones one explorer page made; an empty set
    matches nothing, None does not restrict). They are rendered as id ranges, so that a burst's
    consecutive rows cost one ``BETWEEN`` on the primary key, not one parameter each, within the
    bounds of the smallest and largest id: a page reads at most the rows recorded between this
    page's first and last attempt (everyone's, since it opened), never the older history.
    """

    webhook: tuple[str, ...]
    event_type: tuple[str, ...]
    result: tuple[str, ...]
    status_class: tuple[StatusClass, ...]
    since_ms: int | None
    until_ms: int | None
    text: str
    user: tuple[str, ...]
    host: tuple[str, ...]
    history_ids: tuple[int, ...] | None

    def __init__(
        self,
        *,
        webhook: str | Sequence[str] | None = None,
        event_type: str | Sequence[str] | None = None,
        result: str | Sequence[str] | None = None,
        status_class: str | Sequence[str] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        text: str = "",
        user: str | Sequence[str] | None = None,
        host: str | Sequence[str] | None = None,
        history_ids: Iterable[int] | None = None,
    ) -> None:
        classes = _strings("status_class", status_class)
        for c in classes:
            if c not in STATUS_CLASSES:
                raise ValidationError("status_class", f"must be one of {', '.join(STATUS_CLASSES)}, not {c!r}")
        for name, ms in (("since_ms", since_ms), ("until_ms", until_ms)):
            if ms is not None and (isinstance(ms, bool) or not isinstance(ms, int)):
                raise ValidationError(name, f"must be epoch milliseconds (an int), not {ms!r}")
        if not isinstance(text, str):
            raise ValidationError("text", f"must be a string, not {type(text).__name__}")
        set_ = object.__setattr__
        set_(self, "webhook", _strings("webhook", webhook))
        set_(self, "event_type", _strings("event_type", event_type))
        set_(self, "result", _strings("result", result))
        set_(self, "status_class", classes)
        set_(self, "since_ms", since_ms)
        set_(self, "until_ms", until_ms)
        set_(self, "text", _strings("text", text.strip())[0] if text.strip() else "")
        set_(self, "user", _strings("user", user))
        set_(self, "host", _strings("host", host))
        set_(self, "history_ids", None if history_ids is None else _ids(history_ids))

    @property
    def empty(self) -> bool:
        """True when the filter lets every attempt through."""
        return self == HistoryFilter()


class PageCursor(NamedTuple):
    """Where a page starts or ends: the sort key of a row (its id in the default order) and its id."""

    key: Any
    id: int


class HistoryPage(NamedTuple):
    """One page of history rows (:data:`PAGE_COLUMNS`, as dicts), in the order asked for.

    ``has_more``: there are rows past this page in the direction it was read (older ones, for
    the default order read forward; newer ones, read with ``before``). ``first`` / ``last``: the
    cursors of its first and last rows (None for an empty page), for the next page either way.
    """

    rows: tuple[dict[str, Any], ...]
    has_more: bool
    first: PageCursor | None
    last: PageCursor | None


class CappedCount(NamedTuple):
    """How many attempts match, counted up to a cap: ``value`` exactly, or the cap with ``capped``."""

    value: int
    capped: bool

    @property
    def text(self) -> str:
        """``"1,234"`` or ``"10,000+"``."""
        return f"{self.value:,}" + ("+" if self.capped else "")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def filter_sql(f: HistoryFilter | None) -> tuple[str, list[Any]]:
    """The WHERE clause (empty, or starting with `` WHERE``) and its parameters."""
    if f is None:
        return "", []
    where: list[str] = []
    params: list[Any] = []
    for column, values in (("webhook_id", f.webhook), ("event_type", f.event_type), ("user", f.user), ("host", f.host)):
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    if f.result:
        marks = ",".join("?" * len(f.result))
        where.append(f"(result IN ({marks}) OR error IN ({marks}))")
        params.extend([*f.result, *f.result])
    if f.status_class:
        parts = []
        for c in f.status_class:
            if c == "none":
                parts.append("http_status IS NULL")
            else:
                low = int(c[0]) * 100
                parts.append(f"(http_status >= {low} AND http_status < {low + 100})")
        where.append("(" + " OR ".join(parts) + ")")
    if f.since_ms is not None:
        where.append("sent_at_ms >= ?")
        params.append(f.since_ms)
    if f.until_ms is not None:
        where.append("sent_at_ms <= ?")
        params.append(f.until_ms)
    if f.text:
        pattern = _like(f.text)
        parts = [f"{expr} LIKE ? ESCAPE '\\'" for expr in _TEXT_COLUMNS]
        params.extend([pattern] * len(parts))
        if f.text.lstrip("#").isdigit() and len(f.text.lstrip("#")) < 19:
            parts.append(f"{KEY} = ?")
            params.append(int(f.text.lstrip("#")))
        where.append("(" + " OR ".join(parts) + ")")
    if f.history_ids is not None:
        runs = id_runs(f.history_ids)
        singles = [a for a, b in runs if a == b]
        # Inline: validated ints (no injection), and no limit on the number of SQL parameters.
        parts = [f"{KEY} IN ({','.join(map(str, singles))})"] if singles else []
        for a, b in runs:
            if a != b:
                parts.append(f"{KEY} BETWEEN ? AND ?")
        if parts:  # the bounds too: read past a cursor, the planner scans the key range between them, never the whole table
            where.append(f"{KEY} BETWEEN ? AND ?")
            params.extend([runs[0][0], runs[-1][1]])
        params.extend([v for a, b in runs if a != b for v in (a, b)])
        where.append("(" + " OR ".join(parts) + ")" if parts else "0 = 1")
    return (" WHERE " + " AND ".join(where) if where else ""), params


def order_key(order: HistoryOrder) -> str:
    """The SQL sort key of ``order`` (a ValidationError for an order there is not)."""
    if order not in _ORDER_SQL:
        raise ValidationError("order", f"must be one of {', '.join(HISTORY_ORDERS)}, not {order!r}")
    return _ORDER_SQL[order][0]


def page_sql(
    f: HistoryFilter | None,
    order: HistoryOrder,
    *,
    after: PageCursor | None,
    before: PageCursor | None,
    limit: int,
) -> tuple[str, list[Any], bool]:
    """The SELECT of one page (``limit + 1`` rows: the extra one says whether there are more),
    its parameters, and whether its rows come reversed (read ``before`` a cursor: the caller
    reverses them back into ``order``). The selected columns are :data:`PAGE_COLUMNS`, then
    the sort key."""
    key = order_key(order)
    descending = _ORDER_SQL[order][1]
    if after is not None and before is not None:
        raise ValidationError("before", "give after or before, not both")
    where, params = filter_sql(f)
    reverse = before is not None
    cursor = before if before is not None else after
    if cursor is not None:
        # Forward in a descending order means smaller keys; reading backwards flips it.
        op = "<" if descending != reverse else ">"
        test = f"{KEY} {op} ?" if key == KEY else f"({key}, {KEY}) {op} (?, ?)"
        where = f"{where} AND {test}" if where else f" WHERE {test}"
        params.extend([int(cursor.id)] if key == KEY else [cursor.key, int(cursor.id)])
    direction = "DESC" if descending != reverse else "ASC"
    order_by = f"{KEY} {direction}" if key == KEY else f"{key} {direction}, {KEY} {direction}"
    sql = f"SELECT {', '.join(PAGE_COLUMNS)}, {key} FROM {HISTORY_TABLE}{where} ORDER BY {order_by} LIMIT ?"
    params.append(int(limit) + 1)
    return sql, params, reverse


def count_sql(f: HistoryFilter | None, cap: int) -> tuple[str, list[Any]]:
    """COUNT over a subquery that stops after ``cap + 1`` matching rows."""
    where, params = filter_sql(f)
    return f"SELECT COUNT(*) FROM (SELECT 1 FROM {HISTORY_TABLE}{where} LIMIT ?)", [*params, int(cap) + 1]
