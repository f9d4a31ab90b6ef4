"""Writing a history frame to CSV, JSON or Parquet.

The columns written are :data:`~simlib.core.store.schema.EXPORT_COLUMNS`, the columns of
``history()``, derived from the history record (:class:`simlib.records.Attempt`); datetimes
(the record's ``time_ms`` fields) are written as ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from simlib.core.store.schema import EXPORT_COLUMNS
from simlib.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXPORT_COLUMNS", "EXPORT_FORMATS", "ExportFormat", "export_format", "export_frame"]

ExportFormat = Literal["csv", "json", "parquet"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "json", "parquet")


def export_format(value: str) -> ExportFormat:
    """``value`` as an export format, or a ValidationError on ``format``."""
    fmt = value.lower().lstrip(".")
    for known in EXPORT_FORMATS:
        if fmt == known:
            return known
    raise ValidationError("format", f"unknown export format {fmt!r}: use csv, json or parquet")


def export_frame(frame: pd.DataFrame, out: Path, fmt: str) -> Path:
    """Write a history frame as csv / json / parquet: the export columns, in their order (a
    frame without them, e.g. a summary, is written as it is)."""
    chosen = export_format(fmt)
    if list(frame.columns) != list(EXPORT_COLUMNS) and set(EXPORT_COLUMNS) <= set(frame.columns):
        frame = frame[list(EXPORT_COLUMNS)]
    if chosen == "csv":
        frame.to_csv(out, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    elif chosen == "json":
        data = frame.to_json(orient="records", date_format="iso", date_unit="ms", indent=2)
        out.write_text(data or "[]", encoding="utf-8")
    else:
        try:
            import pyarrow  # noqa: F401 - only to give a clear message when it is missing
        except ImportError:
            raise ValidationError("format", "Parquet export needs pyarrow (pip install pyarrow)") from None
        frame.to_parquet(out, index=False)
    return out
