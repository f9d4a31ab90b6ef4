"""The store: the webhooks and the history of attempts (SQLite, the embedded default).

``schema``: the tables and schema versions, derived from the one history record
(:class:`simlib.records.Attempt`), and the forward migrations; ``sqlite``: the SQLite store that
renders them; ``export``: CSV / JSON / Parquet files of the history.
"""

from simlib.core.store.sqlite import Store as Store
from simlib.core.store.sqlite import default_store_path as default_store_path

__all__ = ["Store", "default_store_path"]
