"""History analysis: success rates, latency percentiles, the outcome mix, and the status palette.

    from simlib import latency_percentiles, outcome_mix, success_rates

    history = sim.history()
    success_rates(history, "webhook_name")          # attempts, delivered, success rate per webhook
    success_rates(history, "event_type")
    latency_percentiles(history, total="all endpoints")     # p50 / p95 / p99 per webhook, in ms
    outcome_mix(history)                             # 2xx / 4xx / 5xx / Network error counts
    outcome_colours(outcome_mix(history).columns)    # the matching colours, for a stacked bar chart

Every function takes the DataFrame of :meth:`Simulator.history` (or any filtered part of it)
and returns a new DataFrame; nothing is cached or stored. :class:`HandClock` drives a
Simulator's clock by hand, so generated history lands on the times you choose.

The status palette (:data:`STATUS_PALETTE`, :func:`status_colour`) is the one definition of the
colours simlib gives HTTP status classes and simulation errors (GitHub's light palette).
pandas is imported when a function runs, so importing this module (or the palette) is cheap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from simlib.records import DELIVERED, NETWORK_ERROR

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "OTHER_COLOUR",
    "STATUS_PALETTE",
    "HandClock",
    "answered_attempts",
    "latency_percentiles",
    "outcome_colours",
    "outcome_mix",
    "outcomes",
    "status_colour",
    "success_rates",
]

#: Outcome -> colour: the HTTP status classes (as :func:`outcomes` names them) and a network
#: error, i.e. no answer at all. Read-only.
STATUS_PALETTE: Final[Mapping[str, str]] = MappingProxyType(
    {
        "2xx": "#1a7f37",  # green
        "3xx": "#9a6700",  # amber
        "4xx": "#bc4c00",  # orange-red
        "5xx": "#cf222e",  # red
        NETWORK_ERROR: "#6e7781",  # grey: no answer
    }
)
#: The colour of any other outcome (another simulation error, a status outside 200-599).
OTHER_COLOUR: Final = "#8250df"

_STATUS_CLASS = re.compile(r"[1-9]xx")

#: The columns of a :func:`success_rates` table.
SUCCESS_COLUMNS: Final = ("attempts", "delivered", "success rate")


class HandClock:
    """Epoch milliseconds, set by hand: ``Simulator(path, clock=HandClock(start_ms))``.

    Every call returns :attr:`now_ms` until it is changed, so each simulation is stamped with
    the time chosen for it (the engine reads the clock several times per send; a clock that
    moved on every call would give one send several times).
    """

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def __repr__(self) -> str:
        return f"HandClock({self.now_ms})"

    def set(self, now_ms: int) -> None:
        """Move the clock to ``now_ms``."""
        self.now_ms = now_ms

    def advance(self, ms: int) -> int:
        """Move the clock on by ``ms`` milliseconds; returns the new time."""
        self.now_ms += ms
        return self.now_ms


def status_colour(status: int | None) -> str:
    """The colour of an HTTP status: 2xx green, 3xx amber, 4xx orange-red, 5xx (and anything
    else) red, no status at all grey."""
    if status is None:
        return STATUS_PALETTE[NETWORK_ERROR]
    if 200 <= status < 300:
        return STATUS_PALETTE["2xx"]
    if 300 <= status < 400:
        return STATUS_PALETTE["3xx"]
    if 400 <= status < 500:
        return STATUS_PALETTE["4xx"]
    return STATUS_PALETTE["5xx"]


def outcome_colours(outcomes: Iterable[str]) -> list[str]:
    """One colour per outcome name (a column of :func:`outcome_mix`), in order:
    :data:`STATUS_PALETTE`, else :data:`OTHER_COLOUR`."""
    return [STATUS_PALETTE.get(str(name), OTHER_COLOUR) for name in outcomes]


def _group_keys(history: pd.DataFrame, by: str | Sequence[str]) -> list[pd.Series]:
    return [history[by]] if isinstance(by, str) else [history[column] for column in by]


def success_rates(
    history: pd.DataFrame, by: str | Sequence[str] = "webhook_name", *, as_text: bool = False
) -> pd.DataFrame:
    """Attempts, deliveries and the success rate per value of ``by`` (a history column such as
    ``"webhook_name"`` or ``"event_type"``, or a list of columns), sorted by it.

    An attempt succeeded iff its result is "Delivered". ``success rate`` is delivered / attempts
    as a float from 0 to 1, or with ``as_text`` a whole percentage such as ``"69%"``.
    """
    import pandas as pd

    keys = _group_keys(history, by)
    grouped = history["result"].eq(DELIVERED).groupby(keys[0] if isinstance(by, str) else keys)
    attempts = grouped.size().astype("int64")
    delivered = grouped.sum().astype("int64")
    rate = (delivered / attempts).astype("float64")
    shown = rate.map("{:.0%}".format) if as_text else rate
    return pd.DataFrame(dict(zip(SUCCESS_COLUMNS, (attempts, delivered, shown), strict=True)))


def answered_attempts(history: pd.DataFrame) -> pd.DataFrame:
    """The attempts that have a latency, i.e. the endpoint answered (any status); attempts
    that never reached it (a network error, a refused simulation) have none."""
    return history[history["latency_ms"].notna()]


def _percentile_name(q: float) -> str:
    return f"p{q:g}"


def latency_percentiles(
    history: pd.DataFrame,
    by: str | None = "webhook_name",
    percentiles: Sequence[float] = (50, 95, 99),
    *,
    total: str | None = None,
) -> pd.DataFrame:
    """Latency percentiles in milliseconds over the :func:`answered_attempts`: one row per value
    of the column ``by`` (sorted), one column per percentile, named ``p50``, ``p95``, ``p99``,
    ``p99.9``... (linear interpolation, as :meth:`pandas.Series.quantile`).

    ``total`` appends a row of that name over all answered attempts; with ``by=None`` that row
    (named ``total`` or ``"all"``) is the whole table. A group with no answered attempt has no
    row, and a history with none gives a table with no rows.
    """
    import numpy as np
    import pandas as pd

    if not percentiles or any(not 0 <= q <= 100 for q in percentiles):
        raise ValueError(f"percentiles must be values from 0 to 100, not {percentiles!r}")
    columns = pd.Index([_percentile_name(q) for q in percentiles])
    fractions = np.asarray([q / 100 for q in percentiles], dtype="float64")
    rows = answered_attempts(history)
    latency = rows["latency_ms"].astype("float64")
    if by is not None:
        table = pd.DataFrame(latency.groupby(rows[by]).quantile(fractions).unstack(), dtype="float64")
        table = table.reindex(columns=fractions)
    else:
        table = pd.DataFrame(index=pd.Index([], dtype="object"), columns=fractions, dtype="float64")
        total = total or "all"
    table.columns = columns
    if total is not None and len(latency):
        overall = pd.DataFrame([latency.quantile(fractions).to_numpy()], index=pd.Index([total]), columns=columns)
        table = pd.concat([table, overall]) if len(table) else overall
    table.index.name = by
    return table


def outcomes(history: pd.DataFrame) -> pd.Series:
    """Each attempt's outcome: its HTTP status class (``"2xx"``, ``"4xx"``, ...) if the endpoint
    answered, else its simulation error (``"Network error"``, ...), else its result."""
    import pandas as pd

    status = history["http_status"].astype("Int64")
    classes = [f"{int(s) // 100}xx" if not pd.isna(s) else None for s in status]
    fallback = history["error"].where(history["error"].notna(), history["result"])
    named = [c if c is not None else str(f) for c, f in zip(classes, fallback, strict=True)]
    return pd.Series(named, index=history.index, name="outcome", dtype="object")


def outcome_mix(history: pd.DataFrame, by: str | Sequence[str] = "webhook_name") -> pd.DataFrame:
    """How many attempts had each outcome (see :func:`outcomes`), one row per value of ``by``
    (sorted) and one column per outcome seen: status classes in order, then errors by name."""
    import pandas as pd

    outcome = outcomes(history)
    counts = outcome.groupby([*_group_keys(history, by), outcome]).size()
    table = pd.DataFrame(counts.unstack(fill_value=0)) if len(counts) else pd.DataFrame()
    order = sorted(table.columns, key=lambda name: (_STATUS_CLASS.fullmatch(str(name)) is None, str(name)))
    table = table[order].astype("int64")
    table.columns = pd.Index(order, name="outcome")
    return table
