"""Opening the store a location names: the SQLite file (the embedded default) or a PostgreSQL
database (a URL; :mod:`~simlib.core.store.sql`, loaded only then).

The location, first match wins: the one given (a path, a URL, or a store object); ``$SIMLIB_STORE``
(a path or a URL); ``$SIMLIB_HOME/simlib.sqlite3``; the per-user data directory.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeAlias

from simlib.core.store.location import STORE_ENV, StoreURL, parse_location
from simlib.core.store.sqlite import DEFAULT_BUSY_TIMEOUT, Store

if TYPE_CHECKING:
    from simlib.core.store.sql import SQLStore

__all__ = ["AnyStore", "open_store"]

#: Either store: the same methods, the engine does not tell them apart.
AnyStore: TypeAlias = "Store | SQLStore"


def open_store(location: str | os.PathLike[str] | None = None, *, busy_timeout: float | None = None) -> AnyStore:
    """The store ``location`` names (None: ``$SIMLIB_STORE``, else the default SQLite file).
    Nothing is connected to or created until it is first used."""
    source = "store"
    if location is None and os.environ.get(STORE_ENV, "").strip():
        location, source = os.environ[STORE_ENV].strip(), STORE_ENV
    timeout = DEFAULT_BUSY_TIMEOUT if busy_timeout is None else busy_timeout
    if location is None:
        return Store(busy_timeout=timeout)
    where = parse_location(location, source=source)
    if isinstance(where, StoreURL):
        from simlib.core.store.sql import SQLStore

        return SQLStore(where, busy_timeout=timeout)
    return Store(where, busy_timeout=timeout)
