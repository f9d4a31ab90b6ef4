"""Writing to stdout: JSON documents, aligned tables, and the lines of one result."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from simlib import SimulationResult

if TYPE_CHECKING:
    import pandas as pd


def dump(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def table(rows: list[list[str]], header: list[str], out: TextIO) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        out.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)).rstrip() + "\n")


def cell(value: Any) -> Any:
    """JSON-ready: pandas NA / NaN become None, numpy numbers plain ints."""
    if value is None or (isinstance(value, float) and value != value) or str(value) == "<NA>":
        return None
    return value.item() if hasattr(value, "item") else value


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): cell(v) for k, v in rec.items()} for rec in frame.to_dict(orient="records")]


def diff_table(frame: pd.DataFrame, out: TextIO) -> None:
    """A comparison frame (fields x answers) as a table; booleans as yes / no."""
    header = ["FIELD", *[str(c).upper() for c in frame.columns]]
    rows = [
        [str(field), *["yes" if v is True else "no" if v is False else str(v) for v in row]]
        for field, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]
    table(rows, header, out)


def print_result(r: SimulationResult, out: TextIO) -> None:
    """The outcome line, then the detail, webhook, event, signature headers and response; and
    a line saying so when the attempt could not be recorded."""
    status = r.http_status if r.http_status is not None else "-"
    latency = f"{r.latency_ms:.1f} ms" if r.latency_ms is not None else "-"
    head = f"{r.result}  status {status}  {latency}"
    if r.error:
        head += f"  [{r.error}" + (f" ({r.error_status})" if r.error_status else "") + "]"
    out.write(head + "\n")
    out.write(f"{'detail':<10} {r.detail}\n")
    out.write(f"{'webhook':<10} {' — '.join(x for x in (r.webhook_id, r.webhook_name, r.url) if x)}\n")
    out.write(f"{'event':<10} {r.event_type}\n")
    for k in ("x-webhook-signature", "x-webhook-timestamp"):
        if k in r.request_headers:
            out.write(f"{'header':<10} {k}: {r.request_headers[k]}\n")
    if r.response_body:
        body = r.response_body if len(r.response_body) <= 500 else r.response_body[:500] + " …"
        out.write(f"{'response':<10} {body}\n")
    if not r.recorded:
        out.write(f"{'history':<10} NOT recorded (store unavailable)\n")
