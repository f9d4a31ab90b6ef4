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

__all__ = ["EXPORT_COLUMNS", "EXPORT_FORMATS", "EXPORT_MIME", "ExportFormat", "export_format", "export_frame", "frame_bytes"]

ExportFormat = Literal["csv", "json", "parquet"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "json", "parquet")
#: The media type of each export format (a browser download names it).
EXPORT_MIME: dict[ExportFormat, str] = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


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
    out.write_bytes(frame_bytes(frame, fmt))
    return out


def frame_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The bytes :func:`export_frame` writes: a history frame as csv / json / parquet (a
    browser download, a test, or a file)."""
    import io

    chosen = export_format(fmt)
    if list(frame.columns) != list(EXPORT_COLUMNS) and set(EXPORT_COLUMNS) <= set(frame.columns):
        frame = frame[list(EXPORT_COLUMNS)]
    if chosen == "csv":
        return frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ").encode("utf-8")
    if chosen == "json":
        data = frame.to_json(orient="records", date_format="iso", date_unit="ms", indent=2)
        return (data or "[]").encode("utf-8")
    try:
        import pyarrow  # noqa: F401 - only to give a clear message when it is missing
    except ImportError:
        raise ValidationError("format", "Parquet export needs pyarrow (pip install pyarrow)") from None
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
