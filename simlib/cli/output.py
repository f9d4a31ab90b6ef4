"""Writing to stdout: JSON documents and lines, aligned tables, and the lines of one result.

Everything the CLI prints may hold text from outside -- request paths, headers and bodies seen by
``simlib receive``, response bodies, webhook names and URLs from the store, input echoed in an
error -- so nothing reaches the terminal raw: :func:`printable` is the one escape. Fields inside
a line go through it whole (a line break in a path cannot forge a second line); ``main`` also
wraps stdout and stderr in :class:`PrintableStream`, which escapes what every other write might
carry (keeping the line breaks and tabs of the CLI's own multi-line output, CSV and code).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, TextIO, cast

from simlib import SimulationResult

if TYPE_CHECKING:
    import pandas as pd

#: What a terminal acts on or shows misleadingly: C0 controls (ESC starts an escape sequence,
#: CR and backspace overwrite), DEL, C1 controls (U+009B is a one-character CSI), the Arabic
#: letter mark and the other bidi marks, embeddings, overrides and isolates (U+200E, U+200F,
#: U+202A-U+202E, U+2066-U+2069: they reorder what is shown), the line and paragraph separators,
#: and lone surrogates (what a byte that is not UTF-8 becomes; they cannot be written as UTF-8).
#: Zero-width joiners stay: emoji and several scripts need them.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    return _SHORT.get(ch) or f"\\u{ord(ch):04x}"


def printable(text: object, *, keep: str = "") -> str:
    """``text`` with every character of :data:`UNSAFE` (except those in ``keep``) written as an
    escape: ``\\n``, ``\\r``, ``\\t``, else ``\\uXXXX`` -- forms that are also valid inside a JSON
    string, so escaping JSON text keeps it JSON. A backslash itself is left as it is."""
    s = text if isinstance(text, str) else str(text)
    if keep:
        return UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m), s)
    return UNSAFE.sub(_escape, s)


def is_printable(text: str, *, keep: str = "") -> bool:
    """True when :func:`printable` would leave ``text`` as it is."""
    return printable(text, keep=keep) == text


class PrintableStream:
    """A text stream that writes through :func:`printable`, keeping line breaks and tabs: the
    last line of defence for stdout and stderr (``main`` wraps both)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, s: str) -> int:
        self.stream.write(printable(s, keep="\n\t"))
        return len(s)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, ...
        return getattr(self.stream, name)


def printable_stream(stream: TextIO) -> TextIO:
    return stream if isinstance(stream, PrintableStream) else cast(TextIO, PrintableStream(stream))


def dump(obj: Any, out: TextIO) -> None:
    """One JSON document (indented)."""
    out.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def json_line(obj: Any, out: TextIO) -> None:
    """One compact JSON document on one line, flushed: an item of a JSON-lines stream."""
    out.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    out.flush()


def line(text: str, out: TextIO) -> None:
    """One line of output: ``text`` escaped whole (a line break inside it is shown as ``\\n``)."""
    out.write(printable(text) + "\n")


def table(rows: list[list[str]], header: list[str], out: TextIO) -> None:
    cells = [[printable(v) for v in row] for row in [header, *rows]]
    widths = [max(len(x) for x in col) for col in zip(*cells, strict=False)]
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip() + "\n")


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


def text_lines(text: str, out: TextIO) -> None:
    """A multi-line text of the library (an explanation, a probe summary), each line escaped."""
    for part in text.split("\n"):
        line(part, out)


def print_result(r: SimulationResult, out: TextIO) -> None:
    """The outcome line, then the detail, webhook, event, signature headers and response; and
    a line saying so when the attempt could not be recorded."""
    status = r.http_status if r.http_status is not None else "-"
    latency = f"{r.latency_ms:.1f} ms" if r.latency_ms is not None else "-"
    head = f"{r.result}  status {status}  {latency}"
    if r.error:
        head += f"  [{r.error}" + (f" ({r.error_status})" if r.error_status else "") + "]"
    line(head, out)
    line(f"{'detail':<10} {r.detail}", out)
    line(f"{'webhook':<10} {' — '.join(x for x in (r.webhook_id, r.webhook_name, r.url) if x)}", out)
    line(f"{'event':<10} {r.event_type}", out)
    for k in ("x-webhook-signature", "x-webhook-timestamp"):
        if k in r.request_headers:
            line(f"{'header':<10} {k}: {r.request_headers[k]}", out)
    if r.response_body:
        body = r.response_body if len(r.response_body) <= 500 else r.response_body[:500] + " …"
        line(f"{'response':<10} {body}", out)
    if not r.recorded:
        line(f"{'history':<10} NOT recorded (store unavailable)", out)
