"""``simlib history``: past attempts as a table, CSV or JSON, on stdout or into a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from simlib.cli.common import EXIT_OK, AddCommand, Context, nonneg_int, path
from simlib.cli.output import json_line, line, table

FILTERS = ("limit", "webhook", "event", "result", "since", "until", "user", "host")


def add_history(add: AddCommand) -> None:
    hi = add("history", help="past attempts")
    hi.add_argument("--format", choices=["table", "csv", "json"], default="table")
    hi.add_argument("--json", action="store_true", help="same as --format json")
    hi.add_argument("--limit", type=nonneg_int, help="the newest N")
    hi.add_argument("--webhook")
    hi.add_argument("--event")
    hi.add_argument("--result", help="Delivered, Failed, or a simulation error")
    hi.add_argument("--since", help="ISO time")
    hi.add_argument("--until", help="ISO time")
    hi.add_argument("--user", help="only the attempts this user sent (a shared store: $SIMLIB_USER or the OS user)")
    hi.add_argument("--host", help="only the attempts sent from this host")
    hi.add_argument("--output", "-o", type=path, metavar="FILE",
                    help="write to FILE (format from --format or suffix), the values as recorded; on stdout, "
                    "control characters are shown escaped")
    hi.set_defaults(handler=history)


def history(ctx: Context) -> int:
    a, out = ctx.args, ctx.out
    fmt = "json" if a.json else a.format
    filters = {"webhook": a.webhook, "event_type": a.event, "result": a.result, "since": a.since, "until": a.until,
               "limit": a.limit, "user": a.user, "host": a.host}
    if a.output:
        target = Path(a.output)
        chosen = fmt if (a.json or a.format != "table") else (target.suffix.lstrip(".") or "csv")
        # Streamed in chunks (memory independent of the history's length), with a progress bar
        # on a terminal, as bursts have.
        bar = _ExportBar(show=not ctx.json and sys.stderr.isatty())
        try:
            ctx.sim.export_history(target, chosen, progress=bar, **filters)
        finally:
            bar.close()
        if ctx.json:
            json_line({"wrote": bar.done, "path": str(target), "format": chosen}, out)
        else:
            line(f"wrote {bar.done} rows to {target}", out)
        return EXIT_OK
    frame = ctx.sim.history(**filters)
    if fmt == "csv":
        out.write(frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ"))
    elif fmt == "json":
        out.write(frame.to_json(orient="records", date_format="iso", date_unit="ms", indent=2) + "\n")
    elif frame.empty:
        filtered = any(getattr(a, k) is not None for k in FILTERS)
        line("no matching history rows" if filtered else "no history yet: simlib send ID EVENT, or simlib demo", out)
    else:
        rows = []
        rec: Any  # one row of the history frame; its columns are typed by the frame, not here
        for rec in frame.itertuples(index=False):
            status = "-" if rec.http_status is None or str(rec.http_status) == "<NA>" else str(rec.http_status)
            latency = "-" if rec.latency_ms != rec.latency_ms else f"{rec.latency_ms:.1f}"
            outcome = rec.result if not isinstance(rec.error, str) else f"{rec.result} ({rec.error})"
            user, host = (v if isinstance(v, str) and v else None for v in (rec.user, rec.host))
            by = f"{user or ''}@{host}" if host else user or "-"  # user@host, as the explorer's "By"
            rows.append(
                [str(rec.id), rec.sent_at.strftime("%Y-%m-%d %H:%M:%S"), rec.webhook_id, rec.event_type, outcome, status,
                 latency, by]
            )
        table(rows, ["ID", "SENT (UTC)", "WEBHOOK", "EVENT", "RESULT", "STATUS", "MS", "BY"], out)
    return EXIT_OK


class _ExportBar:
    """An export's progress: the rows written so far, shown as a tqdm bar when ``show``."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.done = 0
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.show and self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc="export", unit="row", leave=True)
        if self._bar is not None:
            self._bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
