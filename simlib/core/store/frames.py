"""History frames built from a DB-API cursor in chunks: ``history()`` at a million rows.

``pandas.read_sql_query`` fetches every row as a tuple of Python objects, then makes a 2-D object
array of them, then the columns: at its peak it holds all three. Here rows are fetched
:data:`CHUNK_ROWS` at a time and each chunk's text columns go straight into Arrow string arrays
(pandas' ``str`` dtype, which is Arrow-backed when pyarrow is installed), so the Python objects of
only one chunk exist at a time; numbers are kept as Python values and converted once at the end.

The frame is the one ``read_sql_query(sql, conn, dtype=dtypes)`` gives, dtype for dtype and value
for value (a test compares them): text as pandas' inferred ``str`` dtype (missing values NaN), a
text column with no value at all as ``object`` (None), the given ``dtypes`` for the others, and the
``time_ms`` columns then made UTC datetimes as ``history()`` always did. :func:`iter_frames` gives
the same in frames of at most ``chunk_rows`` rows (streamed exports): memory independent of the
row count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHUNK_ROWS", "frame_from_cursor", "iter_frames"]

#: Rows fetched (and turned into column arrays) at a time.
CHUNK_ROWS = 20_000


def _arrow() -> bool:
    """pyarrow is there (pandas then keeps ``str`` columns in Arrow arrays too)."""
    if not _ARROW:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            _ARROW.append(False)
        else:
            _ARROW.append(True)
    return _ARROW[0]


_ARROW: list[bool] = []


class _Column:
    """One column being built: Arrow chunks while every value is text or None, else (or for a
    column with a dtype) the Python values, converted at the end."""

    __slots__ = ("chunks", "dtype", "has_text", "values")

    def __init__(self, dtype: str | None) -> None:
        self.dtype = dtype
        self.chunks: list[Any] | None = [] if dtype is None and _arrow() else None
        self.values: list[Any] = []
        self.has_text = False

    def add(self, values: Sequence[Any]) -> None:
        if self.chunks is not None:
            import pyarrow as pa

            try:
                chunk = pa.array(values, type=pa.large_string(), from_pandas=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # not only text: let pandas infer
                self.values = [v for c in self.chunks for v in c.to_pylist()]
                self.chunks = None
            else:
                self.chunks.append(chunk)
                self.has_text = self.has_text or chunk.null_count < len(chunk)
                return
        self.values.extend(values)

    def series(self, name: str) -> pd.Series:
        import numpy as np
        import pandas as pd

        if self.chunks is not None:
            if self.has_text:
                import pyarrow as pa

                return pd.Series(pa.chunked_array(self.chunks, type=pa.large_string()), name=name, dtype="str")
            return pd.Series(np.full(sum(len(c) for c in self.chunks), None, dtype=object), name=name, dtype=object)
        if self.dtype is None:
            out = np.empty(len(self.values), dtype=object)
            out[:] = self.values
            return pd.Series(out, name=name).infer_objects()
        if self.dtype in ("int64", "float64", "bool"):
            return pd.Series(np.array(self.values, dtype=self.dtype), name=name)
        return pd.Series(self.values, dtype=self.dtype, name=name)  # the nullable Int64 / boolean


def _frame(keys: Sequence[str], columns: Sequence[_Column], time_columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({key: col.series(key) for key, col in zip(keys, columns, strict=True)}, copy=False)
    for name in time_columns:
        if name in frame.columns:
            frame[name] = pd.to_datetime(frame[name].astype("int64"), unit="ms", utc=True)
    return frame


def frame_from_cursor(
    cursor: Any, dtypes: dict[str, str], time_columns: Sequence[str] = (), *, chunk_rows: int = CHUNK_ROWS
) -> pd.DataFrame:
    """Every row ``cursor`` (an executed DB-API cursor) has left, as one typed frame."""
    keys = [d[0] for d in cursor.description]
    columns = [_Column(dtypes.get(k)) for k in keys]
    while True:
        rows = cursor.fetchmany(chunk_rows)
        if not rows:
            break
        for col, values in zip(columns, zip(*rows, strict=True), strict=True):
            col.add(values)
        del rows
    return _frame(keys, columns, time_columns)


def iter_frames(
    cursor: Any, dtypes: dict[str, str], time_columns: Sequence[str] = (), *, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """The rows of ``cursor`` as frames of at most ``chunk_rows`` rows (one empty frame when it
    has none), each typed as :func:`frame_from_cursor` types a whole result."""
    keys = [d[0] for d in cursor.description]
    first = True
    while True:
        rows = cursor.fetchmany(chunk_rows)
        if not rows:
            if first:  # no rows: one empty frame, typed, so a writer still knows the columns
                yield _frame(keys, [_Column(dtypes.get(k)) for k in keys], time_columns)
            return
        first = False
        columns = [_Column(dtypes.get(k)) for k in keys]
        for col, values in zip(columns, zip(*rows, strict=True), strict=True):
            col.add(values)
        del rows
        yield _frame(keys, columns, time_columns)
