"""Writing a history frame to CSV, JSON or Parquet.

The columns written are :data:`~simlib.core.store.schema.EXPORT_COLUMNS`, the columns of
``history()``, derived from the history record (:class:`simlib.records.Attempt`); datetimes
(the record's ``time_ms`` fields) are written as ISO 8601 UTC with milliseconds.

:func:`write_frames` streams (issue 12): the history arrives in frames of a few thousand rows and
each is written as it comes, so an export's memory does not grow with the row count. CSV and
JSON come out byte for byte as :func:`frame_bytes` writes the whole frame; Parquet is written one
row group per frame with a fixed schema (text columns as strings: a column with no value at all
reads back as NaN strings rather than ``None`` objects). The file appears under its name only
when complete (written to ``NAME.part``, then renamed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from simlib.core.progress import Progress, progress_hook
from simlib.core.store.schema import EXPORT_COLUMNS
from simlib.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "EXPORT_MIME",
    "ExportFormat",
    "Progress",
    "export_format",
    "export_frame",
    "frame_bytes",
    "progress_hook",
    "write_frames",
]

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


def _columns(frame: pd.DataFrame) -> pd.DataFrame:
    if list(frame.columns) != list(EXPORT_COLUMNS) and set(EXPORT_COLUMNS) <= set(frame.columns):
        return frame[list(EXPORT_COLUMNS)]
    return frame


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401 - only to give a clear message when it is missing
    except ImportError:
        raise ValidationError("format", "Parquet export needs pyarrow (pip install pyarrow)") from None


def write_frames(
    frames: Iterable[pd.DataFrame], out: Path, fmt: str, *, progress: Progress = False, total: int = 0
) -> int:
    """Write history frames, as they come, to ``out`` as csv / json / parquet (see the module
    docstring); ``progress`` hears of each frame written (``total``: the rows expected). The
    number of rows written."""
    chosen = export_format(fmt)
    if chosen == "parquet":
        _need_pyarrow()
    update = progress_hook(progress, total, desc=f"export {out.name}")
    part = out.with_name(out.name + ".part")
    rows = 0
    try:
        with open(part, "wb") as f:
            writer = _WRITERS[chosen](f)
            for frame in frames:
                writer.write(_columns(frame))
                rows += len(frame)
                update(len(frame), False)
            writer.close()
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        update(0, True)
    return rows


class _Csv:
    def __init__(self, f: BinaryIO) -> None:
        self.f, self.header = f, True

    def write(self, frame: pd.DataFrame) -> None:
        self.f.write(frame.to_csv(index=False, header=self.header, date_format=_CSV_DATES).encode("utf-8"))
        self.header = False

    def close(self) -> None:
        if self.header:  # no rows: the header line alone, as for an empty frame
            import pandas as pd

            self.f.write(pd.DataFrame(columns=list(EXPORT_COLUMNS)).to_csv(index=False).encode("utf-8"))


class _Json:
    """The records of each frame, joined as ``frame.to_json(orient="records", indent=2)`` of the
    whole would write them."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.first = f, True

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        text = frame.to_json(orient="records", date_format="iso", date_unit="ms", indent=2) or "[]"
        inner = text[2:-2]  # without "[\n" and "\n]"
        self.f.write((("[\n" if self.first else ",\n") + inner).encode("utf-8"))
        self.first = False

    def close(self) -> None:
        self.f.write(b"[\n\n]" if self.first else b"\n]")


class _Parquet:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.writer: Any = None
        self.schema: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            # A column with no value in the first chunk is null-typed there: text from then on
            # (an empty first frame is the only one: its schema is the empty frame's, as before).
            fields = [pa.field(fld.name, pa.large_string()) if pa.types.is_null(fld.type) and len(frame) else fld
                      for fld in table.schema]
            self.schema = pa.schema(fields, metadata=table.schema.metadata)
            self.writer = pq.ParquetWriter(self.f, self.schema)
        self.writer.write_table(pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False))

    def close(self) -> None:
        if self.writer is None:  # no rows: what to_parquet writes for the empty frame
            import pandas as pd

            pd.DataFrame(columns=list(EXPORT_COLUMNS)).to_parquet(self.f, index=False)
            return
        self.writer.close()


_CSV_DATES = "%Y-%m-%dT%H:%M:%S.%fZ"
_WRITERS: dict[ExportFormat, Callable[[BinaryIO], _Csv | _Json | _Parquet]] = {"csv": _Csv, "json": _Json, "parquet": _Parquet}


def frame_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The bytes :func:`export_frame` writes: a history frame as csv / json / parquet (a
    browser download, a test, or a file)."""
    import io

    chosen = export_format(fmt)
    frame = _columns(frame)
    if chosen == "csv":
        return frame.to_csv(index=False, date_format=_CSV_DATES).encode("utf-8")
    if chosen == "json":
        data = frame.to_json(orient="records", date_format="iso", date_unit="ms", indent=2)
        return (data or "[]").encode("utf-8")
    _need_pyarrow()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
