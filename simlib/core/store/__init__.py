"""The store: the webhooks and the history of attempts (SQLite, the embedded default)."""

from simlib.core.store.sqlite import Store as Store
from simlib.core.store.sqlite import default_store_path as default_store_path

__all__ = ["Store", "default_store_path"]
