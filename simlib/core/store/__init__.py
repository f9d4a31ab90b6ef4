"""The store: the webhooks and the history of attempts (SQLite, the embedded default; PostgreSQL
for a shared store).

``schema``: the tables and schema versions, derived from the one history record
(:class:`simlib.records.Attempt`), and the forward migrations; ``alchemy``: them as SQLAlchemy
Core tables and migration steps, for both backends (imported only when a store is opened);
``sqlite``: the SQLite store, opened through SQLAlchemy's pysqlite engine; ``sql``: the
PostgreSQL store (SQLAlchemy Core), imported only when a URL is opened; ``location`` / ``backends``: what a location names and
``open_store``; ``keys``: webhook secrets encrypted at rest; ``export``: CSV / JSON / Parquet
files of the history.
"""

from simlib.core.store.sqlite import Store as Store
from simlib.core.store.sqlite import default_store_path as default_store_path

__all__ = ["Store", "default_store_path"]
