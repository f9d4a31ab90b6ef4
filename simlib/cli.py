"""The ``simlib`` command line. Built only on the public API (Simulator, Receiver, start_demo).

Exit codes: 0 success (for ``send``: Delivered); 1 ``send`` Failed (the endpoint answered non-2xx
or could not be reached); 2 a simulation error (Webhook not found, Event type not registered,
Service unavailable, Simulation failed) or bad input. Errors are one line on stderr. Ctrl-C exits
130. When the reader of stdout goes away (``simlib history | head``) the rest of the output is
dropped silently: the command's own exit code if it had finished, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from simlib._version import __version__
from simlib.core.delivery.http import DeliveryConfig
from simlib.core.validation import production_check
from simlib.errors import SimlibError
from simlib.records import NETWORK_ERROR, SimulationResult, Webhook

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # Ctrl-C


class CLIError(Exception):
    """A one-line error for stderr."""


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _port(text: str) -> int:
    value = _nonneg_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("a port is at most 65535")
    return value


def _status(text: str) -> int:
    value = _nonneg_int(text)
    if not 100 <= value <= 599:
        raise argparse.ArgumentTypeError("an HTTP status is between 100 and 599")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="simlib", description="Send real, signed Trackpilots webhook simulations.")
    p.add_argument("--version", action="version", version=f"simlib {__version__}")
    p.add_argument("--store", metavar="PATH", help="store file (default: $SIMLIB_HOME or the per-user data dir)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def delivery_flags(sp: argparse.ArgumentParser) -> None:
        g = sp.add_argument_group("delivery")
        g.add_argument("--connect-timeout", type=_positive_float, metavar="S")
        g.add_argument("--read-timeout", type=_positive_float, metavar="S")
        g.add_argument("--deadline", type=_positive_float, metavar="S", help="total time for one attempt")
        g.add_argument("--max-response-bytes", type=_nonneg_int, metavar="N")
        g.add_argument("--ca-bundle", metavar="PEM", help="extra CA certificates to trust")
        g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (recorded)")

    wh = sub.add_parser("webhooks", help="add, list, show, update and delete webhooks")
    whs = wh.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    whs.required = True
    add = whs.add_parser("add", help="create a webhook")
    add.add_argument("--name", required=True)
    add.add_argument("--url", required=True)
    add.add_argument("--event", action="append", required=True, metavar="EVENT", help="repeat for several")
    add.add_argument("--secret", help="use this secret (default: generate one)")
    add.add_argument("--id", help="choose the id (default: generated, e.g. wh_k3x9p2)")
    add.add_argument("--json", action="store_true")
    ls = whs.add_parser("list", help="list webhooks (secrets masked)")
    ls.add_argument("--json", action="store_true")
    show = whs.add_parser("show", help="show one webhook")
    show.add_argument("id")
    show.add_argument("--reveal-secret", action="store_true", help="print the secret itself")
    show.add_argument("--json", action="store_true")
    upd = whs.add_parser("update", help="change a webhook")
    upd.add_argument("id")
    upd.add_argument("--name")
    upd.add_argument("--url")
    upd.add_argument("--event", action="append", metavar="EVENT", help="replaces the subscribed events")
    upd.add_argument("--secret")
    upd.add_argument("--json", action="store_true")
    rot = whs.add_parser("rotate-secret", help="new secret; the old one stays valid for a grace period")
    rot.add_argument("id")
    rot.add_argument("--grace-seconds", type=_positive_float, default=24 * 3600)
    rot.add_argument("--json", action="store_true")
    rm = whs.add_parser("delete", help="delete a webhook")
    rm.add_argument("id")
    rm.add_argument("--json", action="store_true")

    ev = sub.add_parser("events", help="the event catalogue")
    ev.add_argument("--json", action="store_true")

    def payload_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("id", help="webhook id")
        sp.add_argument("event", help="event type")
        sp.add_argument("--seed", type=_nonneg_int, help="reproducible payload")
        sp.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a field")
        sp.add_argument("--work-mode", type=_bool, metavar="true|false", help="activity event: Work/Privacy Mode")

    pv = sub.add_parser("preview", help="print the exact body a send would POST")
    payload_flags(pv)
    pv.add_argument("--pretty", action="store_true", help="indent for reading (the sent body is compact)")
    pv.add_argument("--json", action="store_true", help="the preview as a JSON document")

    sd = sub.add_parser("send", help="send one simulation; exit 0 Delivered, 1 Failed, 2 simulation error")
    payload_flags(sd)
    sd.add_argument("--sign-with-previous", action="store_true", help="sign with the pre-rotation secret")
    sd.add_argument("--json", action="store_true")
    delivery_flags(sd)

    hi = sub.add_parser("history", help="past attempts")
    hi.add_argument("--format", choices=["table", "csv", "json"], default="table")
    hi.add_argument("--json", action="store_true", help="same as --format json")
    hi.add_argument("--limit", type=_nonneg_int, help="the newest N")
    hi.add_argument("--webhook")
    hi.add_argument("--event")
    hi.add_argument("--result", help="Delivered, Failed, or a simulation error")
    hi.add_argument("--since", help="ISO time")
    hi.add_argument("--until", help="ISO time")
    hi.add_argument("--output", "-o", metavar="FILE", help="write to FILE (format from --format or suffix)")

    rc = sub.add_parser("receive", help="run the embedded receiver in the foreground")
    rc.add_argument("--host", default="127.0.0.1")
    rc.add_argument("--port", type=_port, default=8787)
    rc.add_argument("--secret", action="append", default=[], help="verify with this secret (repeatable; or set SIMLIB_RECEIVER_SECRETS, one per line)")
    rc.add_argument("--webhook", help="verify with this webhook's secrets")
    rc.add_argument("--status", type=_status, default=200)
    rc.add_argument("--delay-ms", type=_nonneg_int, default=0)
    rc.add_argument("--body", help="response body (default: a JSON acknowledgement)")
    rc.add_argument("--no-verify", action="store_true", help="accept everything (a sloppy receiver)")
    rc.add_argument("--json", action="store_true", help="one JSON line per request")
    rc.add_argument("--quiet", action="store_true", help="print only the listening line")
    rc.add_argument("--tolerance-ms", type=_nonneg_int, default=300_000, help="timestamp window, both ways (default 300000)")
    rc.add_argument("--timestamp-unit", choices=["ms", "s"], default="ms",
                    help="'s' reads x-webhook-timestamp as seconds (a receiver bug, to rehearse it)")
    rc.add_argument("--accept-future", action="store_true",
                    help="one-sided window: refuse only too-old timestamps (a receiver bug, to rehearse it)")
    rc.add_argument("--replay-protection", action="store_true", help="answer 409 to an exact replay inside the window")

    bu = sub.add_parser("burst", help="many sends at a bounded concurrency/rate, all recorded")
    bu.add_argument("id", help="webhook id")
    bu.add_argument("event", help="event type")
    bu.add_argument("-n", type=int, default=100, metavar="N", help="number of sends (default 100)")
    bu.add_argument("-c", "--concurrency", type=int, default=10, metavar="C", help="at most C in flight (default 10)")
    bu.add_argument("--rate", type=_positive_float, metavar="R", help="at most R sends per second")
    bu.add_argument("--repeat-payload", action="store_true", help="send one payload N times (idempotency)")
    bu.add_argument("--seed", type=_nonneg_int)
    bu.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    bu.add_argument("--no-progress", action="store_true")
    bu.add_argument("--json", action="store_true")
    delivery_flags(bu)

    ck = sub.add_parser(
        "check", help="receiver conformance matrix; exit 1 if any variant FAILs",
        description="Send one valid simulation and every deliberately broken variant (wrong secret, tampered or "
        "re-serialised body, missing headers, timestamp in seconds / too old / in the future, a replay, ...) to the "
        "webhook's endpoint and say PASS, FAIL or NOTE for each. Every request is recorded in the history. "
        "Exit 0: nothing failed; 1: a variant FAILed; 2: error.",
    )
    ck.add_argument("id", help="webhook id")
    ck.add_argument("--event", help="event type (default: the activity event if subscribed, else the first)")
    ck.add_argument("--seed", type=_nonneg_int, help="reproducible payloads")
    ck.add_argument("--tolerance-ms", type=_nonneg_int, default=300_000,
                    help="the window the stale and future variants step out of, twice over (default 300000)")
    ck.add_argument("--json", action="store_true")
    delivery_flags(ck)

    pr = sub.add_parser(
        "probe", help="measure the receiver's timestamp window (past and future) by bisection",
        description="Find how old and how far ahead a correctly signed timestamp may be, with a bounded number of "
        "requests (all recorded), and flag one-sided windows and seconds/milliseconds mix-ups. "
        "Exit 0: measured; 1: the receiver refused even a fresh request.",
    )
    pr.add_argument("id", help="webhook id")
    pr.add_argument("--event", help="event type")
    pr.add_argument("--max-seconds", type=_positive_float, default=7 * 86400, help="farthest offset tried (default 7 days)")
    pr.add_argument("--resolution-ms", type=_nonneg_int, default=1000, help="precision of the edges (default 1000)")
    pr.add_argument("--max-requests", type=_nonneg_int, default=64, help="upper bound on requests (default 64)")
    pr.add_argument("--seed", type=_nonneg_int)
    pr.add_argument("--json", action="store_true")
    delivery_flags(pr)

    ex = sub.add_parser(
        "explain", help="does a captured signature verify? if not, the most likely cause",
        description="Check raw headers and a raw body (as copied from a receiver's logs) against a secret or a "
        "webhook's secrets, and name the most likely cause of a mismatch: wrong secret (every configured webhook's "
        "secret is tried, never printed), re-serialised body, white space or encoding, timestamp unit, stale "
        "timestamp. Exit 0: valid; 1: not valid; 2: error.",
    )
    ex.add_argument("--headers", required=True, metavar="FILE", help="'Name: value' lines, raw HTTP, or JSON")
    ex.add_argument("--body", required=True, metavar="FILE", help="the raw body, byte for byte")
    exg = ex.add_mutually_exclusive_group()
    exg.add_argument("--secret", help="the secret the receiver verifies with")
    exg.add_argument("--webhook", metavar="ID", help="use this webhook's secrets (neither: try every webhook)")
    ex.add_argument("--tolerance-ms", type=_nonneg_int, default=300_000, help="timestamp window (default 300000)")
    ex.add_argument("--json", action="store_true")

    rp = sub.add_parser(
        "replay", help="resend a history row (re-signed now, or with its original signature)",
        description="Resend history row ROW to its webhook: the exact bytes re-signed with a fresh timestamp "
        "(default), or with --original-timestamp the recorded timestamp and signature (to test replay protection); "
        "--set edits the payload first. The new row links to ROW; a diff compares the two answers. "
        "Exit codes as for send.",
    )
    rp.add_argument("row", type=_nonneg_int, help="history id (simlib history)")
    rp.add_argument("--original-timestamp", action="store_true", help="send the recorded timestamp and signature")
    rp.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="edit a field first (re-signed)")
    rp.add_argument("--json", action="store_true")
    delivery_flags(rp)

    im = sub.add_parser(
        "import", help="send a captured delivery (raw HTTP, JSON or curl) re-signed with a webhook's secret",
        description="Load a request a customer captured -- raw HTTP text, a JSON file with headers and body, or a "
        "curl command -- check its signature against the webhook's secrets, send it as captured and re-signed, and "
        "compare the answers. Exit codes as for send (of the re-signed request).",
    )
    im.add_argument("file", help="the capture ('-' reads stdin)")
    im.add_argument("--webhook", required=True, metavar="ID", help="send to this webhook, signed with its secret")
    im.add_argument("--resigned-only", action="store_true", help="do not also send it as captured")
    im.add_argument("--json", action="store_true")
    delivery_flags(im)

    cu = sub.add_parser(
        "curl", help="a runnable curl command (or --httpx snippet) for a history row or a preview",
        description="Print a bash script (curl + openssl) that reproduces history row ROW, or a preview "
        "(--preview ID EVENT). It is signed when it runs, with $WEBHOOK_SECRET; --reveal-secret writes the secret "
        "in; --exact sends the row's recorded headers (original timestamp and signature) instead.",
    )
    cu.add_argument("row", nargs="?", type=_nonneg_int, help="history id")
    cu.add_argument("--preview", nargs=2, metavar=("ID", "EVENT"), help="a fresh preview instead of a history row")
    cu.add_argument("--seed", type=_nonneg_int, help="with --preview")
    cu.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="with --preview")
    cu.add_argument("--httpx", action="store_true", help="a Python httpx snippet instead of curl")
    cu.add_argument("--exact", action="store_true", help="the recorded headers, not re-signed")
    cu.add_argument("--reveal-secret", action="store_true", help="write the secret into the command")

    sn = sub.add_parser(
        "snippets", help="minimal verified receivers to copy (Python, Node.js)",
        description="Print a minimal, correct Trackpilots receiver: raw body, millisecond timestamp window both ways, "
        "constant-time comparison, replay refusal. With --lang, only that source (redirect it to a file).",
    )
    sn.add_argument("--lang", choices=["python", "node"], help="only this one")

    dm = sub.add_parser("demo", help="local receiver + demo webhook + one send per event type")
    dm.add_argument("--json", action="store_true")
    return p


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    code: int | None = None
    try:
        code = _dispatch(args, out, err)
        out.flush()  # a reader that went away (``simlib ... | head``) shows here, not at exit
        return code
    except BrokenPipeError:
        _discard_output(out)
        return EXIT_FAILED if code is None else code
    except (SimlibError, CLIError, OSError) as exc:
        print(f"simlib: error: {exc}", file=err)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _discard_output(out: TextIO) -> None:
    """The reader of ``out`` closed the pipe: send what is still buffered (and the interpreter's
    flush at exit) to /dev/null instead of printing a BrokenPipeError (as the Python docs advise
    for SIGPIPE)."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a StringIO, say)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _simulator(args: argparse.Namespace) -> Any:
    from simlib.simulator import Simulator

    changes: dict[str, Any] = {}
    for flag, key in (
        ("connect_timeout", "connect_timeout"),
        ("read_timeout", "read_timeout"),
        ("deadline", "deadline"),
        ("max_response_bytes", "max_response_bytes"),
        ("ca_bundle", "ca_bundle"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            changes[key] = value
    if getattr(args, "insecure", False):
        changes["verify_tls"] = False
    return Simulator(args.store, delivery=DeliveryConfig(**changes))


def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    cmd = args.command
    if cmd == "receive":
        return _receive(args, out)
    if cmd == "snippets":
        return _snippets(args, out)
    sim = _simulator(args)
    try:
        if cmd == "webhooks":
            return _webhooks(sim, args, out, err)
        if cmd == "events":
            return _events(sim, args, out)
        if cmd == "preview":
            return _preview(sim, args, out)
        if cmd == "send":
            return _send(sim, args, out)
        if cmd == "history":
            return _history(sim, args, out)
        if cmd == "demo":
            return _demo(sim, args, out)
        if cmd == "burst":
            return _burst(sim, args, out, err)
        if cmd in _SUPPORT:
            return _SUPPORT[cmd](sim, args, out)
    finally:
        sim.close()
    raise CLIError(f"unknown command {cmd!r}")  # pragma: no cover - argparse refuses first


def _dump(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def _table(rows: list[list[str]], header: list[str], out: TextIO) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, *rows]:
        out.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")


def _webhook_lines(wh: Webhook, out: TextIO, *, reveal: bool = False) -> None:
    d = wh.to_dict(reveal_secret=reveal)
    for key in ("id", "name", "url", "events", "secret", "created_at", "updated_at"):
        value = ", ".join(d[key]) if key == "events" else d[key]
        out.write(f"{key:<11} {value}\n")
    if "previous_secret_expires_at" in d:
        out.write(f"{'previous':<11} previous secret valid until {d['previous_secret_expires_at']}\n")
    check = production_check(wh.url)
    if not check.ok:
        out.write(f"{'warning':<11} {check.message}\n")


def _webhooks(sim: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    action = args.action
    if action == "add":
        wh = sim.create_webhook(args.name, args.url, args.event, secret=args.secret, id=args.id)
    elif action == "update":
        wh = sim.update_webhook(args.id, name=args.name, url=args.url, events=args.event, secret=args.secret)
    elif action == "rotate-secret":
        wh = sim.rotate_secret(args.id, grace_seconds=args.grace_seconds)
    elif action == "show":
        wh = sim.get_webhook(args.id)
        if args.json:
            _dump(wh.to_dict(reveal_secret=args.reveal_secret), out)
        else:
            _webhook_lines(wh, out, reveal=args.reveal_secret)
        return EXIT_OK
    elif action == "delete":
        sim.delete_webhook(args.id)
        if args.json:
            _dump({"deleted": args.id}, out)
        else:
            out.write(f"deleted webhook {args.id}\n")
        return EXIT_OK
    else:  # list
        hooks = sim.list_webhooks()
        if args.json:
            _dump([w.to_dict() for w in hooks], out)
        elif not hooks:
            out.write("no webhooks yet: simlib webhooks add --name N --url U --event E\n")
        else:
            rows = [[w.id, w.name, w.url, str(len(w.events)), w.secret.masked] for w in hooks]
            _table(rows, ["ID", "NAME", "URL", "EVENTS", "SECRET"], out)
        return EXIT_OK
    if args.json:
        _dump(wh.to_dict(), out)
    else:
        _webhook_lines(wh, out)
    check = production_check(wh.url)
    if not check.ok and args.json:
        err.write(f"simlib: warning: {check.message}\n")
    return EXIT_OK


def _events(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    types = sim.events()
    if args.json:
        _dump(
            [
                {
                    "name": t.name,
                    "description": t.description,
                    "options": [{"name": o.name, "default": o.default, "help": o.help} for o in t.options],
                }
                for t in types
            ],
            out,
        )
    else:
        _table([[t.name, t.description] for t in types], ["EVENT", "DESCRIPTION"], out)
    return EXIT_OK


def _build_preview(sim: Any, args: argparse.Namespace) -> Any:
    options = {} if args.work_mode is None else {"work_mode": args.work_mode}
    return sim.preview(args.id, args.event, overrides=args.set, seed=args.seed, options=options)


def _preview(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    p = _build_preview(sim, args)
    if args.json:
        _dump(
            {
                "webhook_id": p.webhook_id,
                "event_type": p.event_type,
                "seed": p.seed,
                "event_id": p.event_id,
                "bytes": p.size,
                "payload": p.text,
            },
            out,
        )
    elif args.pretty:
        out.write(p.pretty + "\n")
    else:
        out.write(p.text + "\n")
    return EXIT_OK


def _exit_code(r: SimulationResult) -> int:
    if r.delivered:
        return EXIT_OK
    if r.error and r.error != NETWORK_ERROR:
        return EXIT_ERROR
    return EXIT_FAILED


def _send(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    from simlib.errors import NotFoundError, StoreError
    from simlib.records import SERVICE_UNAVAILABLE, WEBHOOK_NOT_FOUND

    try:
        p = _build_preview(sim, args)
    except NotFoundError:
        # Same answer as Trackpilots gives for a deleted webhook: a simulation error, recorded.
        r = sim.unsent_result(args.id, args.event, WEBHOOK_NOT_FOUND, f"no webhook with id {args.id!r}")
    except StoreError as exc:
        r = sim.unsent_result(args.id, args.event, SERVICE_UNAVAILABLE, str(exc))
    else:
        r = sim.send(p, sign_with="previous" if args.sign_with_previous else "current")
    if args.json:
        _dump(r.to_dict(), out)
    else:
        _print_result(r, out)
    return _exit_code(r)


def _print_result(r: SimulationResult, out: TextIO) -> None:
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


def _history(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    from simlib.core.store.export import export_frame

    fmt = "json" if args.json else args.format
    frame = sim.history(
        webhook=args.webhook, event_type=args.event, result=args.result, since=args.since, until=args.until, limit=args.limit
    )
    if args.output:
        from pathlib import Path

        path = Path(args.output)
        chosen = fmt if (args.json or args.format != "table") else (path.suffix.lstrip(".") or "csv")
        export_frame(frame, path, chosen)
        out.write(f"wrote {len(frame)} rows to {path}\n")
        return EXIT_OK
    if fmt == "csv":
        out.write(frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ"))
    elif fmt == "json":
        out.write(frame.to_json(orient="records", date_format="iso", date_unit="ms", indent=2) + "\n")
    else:
        if frame.empty:
            filtered = any(getattr(args, k) is not None for k in ("limit", "webhook", "event", "result", "since", "until"))
            out.write("no matching history rows\n" if filtered else "no history yet: simlib send ID EVENT, or simlib demo\n")
            return EXIT_OK
        rows = []
        for rec in frame.itertuples(index=False):
            status = "-" if rec.http_status is None or str(rec.http_status) == "<NA>" else str(rec.http_status)
            latency = "-" if rec.latency_ms != rec.latency_ms else f"{rec.latency_ms:.1f}"
            outcome = rec.result if not isinstance(rec.error, str) else f"{rec.result} ({rec.error})"
            rows.append(
                [str(rec.id), rec.sent_at.strftime("%Y-%m-%d %H:%M:%S"), rec.webhook_id, rec.event_type, outcome, status, latency]
            )
        _table(rows, ["ID", "SENT (UTC)", "WEBHOOK", "EVENT", "RESULT", "STATUS", "MS"], out)
    return EXIT_OK


def _receive(args: argparse.Namespace, out: TextIO) -> int:
    from simlib.receiver import Receiver, serve_forever

    fixed = list(args.secret)
    if not fixed and os.environ.get("SIMLIB_RECEIVER_SECRETS"):
        fixed = os.environ["SIMLIB_RECEIVER_SECRETS"].split("\n")
    secrets: Any = fixed
    if args.webhook:
        from simlib.demo import webhook_secrets

        sim = _simulator(args)
        sim.get_webhook(args.webhook)  # an unknown id is an error now, not a silent "verify nothing"
        of_webhook = webhook_secrets(sim, args.webhook)

        def secrets() -> list[str]:  # read per request: a rotation is seen at once
            return fixed + of_webhook()

    if not fixed and not args.webhook and not args.no_verify:
        raise CLIError("give --secret S (or --webhook ID) to verify signatures, or --no-verify to accept everything")

    def show(req: Any) -> None:
        v = req.verification
        if args.json:
            line = json.dumps(
                {
                    "index": req.index,
                    "method": req.method,
                    "path": req.path,
                    "event": req.event_type,
                    "bytes": len(req.body),
                    "verified": None if v is None else v.ok,
                    "reason": None if v is None else v.reason,
                    "status": req.status,
                }
            )
        else:
            verdict = "unverified" if v is None else ("verified" if v.ok else f"REJECTED: {v.reason}")
            line = f"{req.method} {req.path} {req.event_type or '-'} {len(req.body)} bytes -> {req.status} ({verdict})"
        out.write(line + "\n")
        out.flush()

    rx = Receiver(
        secrets,
        host=args.host,
        port=args.port,
        status=args.status,
        delay_ms=args.delay_ms,
        body=args.body,
        verify_signatures=not args.no_verify,
        tolerance_ms=args.tolerance_ms,
        timestamp_unit=args.timestamp_unit,
        reject_future=not args.accept_future,
        replay_protection=args.replay_protection,
        on_request=None if args.quiet else show,
    )
    rx.start()
    out.write(f"listening on {rx.url} (Ctrl-C to stop)\n")
    out.flush()
    serve_forever(rx)
    return EXIT_OK


def _burst(sim: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from simlib.errors import ValidationError

    if args.n < 1:
        raise ValidationError("n", "must be at least 1")
    if args.concurrency < 1:
        raise ValidationError("concurrency", "must be at least 1")
    progress = False if (args.no_progress or args.json) else True
    try:
        before: int | None = sim.store.history_count()
    except SimlibError:  # send_many reports an unusable store as a result per attempt
        before = None
    try:
        burst = sim.send_many(
            args.id, args.event, args.n, concurrency=args.concurrency, rate=args.rate,
            repeat_payload=args.repeat_payload, overrides=args.set, seed=args.seed, progress=progress,
        )
    except KeyboardInterrupt:
        # send_many flushes its pending batch on the way out: what is in history now is kept.
        try:
            recorded = f"{sim.store.history_count() - before} attempts" if before is not None else ""
        except SimlibError:
            recorded = ""
        recorded = recorded or "an unknown number of attempts (the store cannot be read)"
        err.write(f"simlib: interrupted: {recorded} recorded in history before the interruption\n")
        err.flush()
        return EXIT_INTERRUPTED
    summary = burst.summary.iloc[0].to_dict()
    if args.json:
        _dump({k: (None if isinstance(v, float) and v != v else v) for k, v in summary.items()}, out)
    else:
        for key, value in summary.items():
            text = f"{value:.1f}" if isinstance(value, float) else str(value)
            out.write(f"{key:<18} {text}\n")
    if summary["delivered"] == summary["count"]:
        return EXIT_OK
    errors = [r.error for r in burst.results if r.error and r.error != NETWORK_ERROR]
    return EXIT_ERROR if errors and len(errors) == len(burst.results) else EXIT_FAILED


def _demo(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    from simlib.demo import start_demo

    receiver, wh = start_demo(sim)
    results = []
    try:
        for event in wh.events:
            r = sim.simulate(wh, event)
            results.append(r)
        receiver.wait_for(len([r for r in results if r.http_status is not None]), timeout=5)
        seen = {req.header("x-webhook-signature"): req for req in receiver.requests}
    finally:
        receiver.stop()
    if args.json:
        _dump([r.to_dict() for r in results], out)
    else:
        out.write(f"embedded receiver: {receiver.url}  webhook: {wh.id} ({wh.name})\n")
        rows = []
        for r in results:
            req = seen.get(r.signature)
            verified = "-" if req is None or req.verification is None else ("yes" if req.verification.ok else "NO")
            rows.append(
                [
                    r.event_type,
                    r.result,
                    str(r.http_status) if r.http_status is not None else "-",
                    f"{r.latency_ms:.1f}" if r.latency_ms is not None else "-",
                    verified,
                ]
            )
        _table(rows, ["EVENT", "RESULT", "STATUS", "MS", "SIGNATURE VERIFIED"], out)
        ok = sum(r.delivered for r in results)
        out.write(f"{ok} of {len(results)} delivered; see them with: simlib history\n")
    return EXIT_OK if all(r.delivered for r in results) else EXIT_FAILED


# -- receiver conformance and support ------------------------------------------------------------


def _cell(value: Any) -> Any:
    """JSON-ready: pandas NA / NaN become None, numpy numbers plain ints."""
    if value is None or (isinstance(value, float) and value != value) or str(value) == "<NA>":
        return None
    return value.item() if hasattr(value, "item") else value


def _frame_rows(frame: Any) -> list[dict[str, Any]]:
    return [{k: _cell(v) for k, v in rec.items()} for rec in frame.to_dict(orient="records")]


def _check(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    frame = sim.check_receiver(args.id, event_type=args.event, seed=args.seed, tolerance_ms=args.tolerance_ms)
    failed = int((frame["verdict"] == "FAIL").sum())
    if args.json:
        _dump({"webhook_id": args.id, "failed": failed, "variants": _frame_rows(frame)}, out)
    else:
        rows = [[str(_cell(r["history_id"]) or "-"), r["variant"], r["expected"], str(_cell(r["observed_status"]) or "-"),
                 r["verdict"], r["explanation"]] for r in frame.to_dict(orient="records")]
        _table(rows, ["ROW", "VARIANT", "EXPECTED", "STATUS", "VERDICT", "EXPLANATION"], out)
        counts = frame["verdict"].value_counts()
        out.write(", ".join(f"{counts.get(v, 0)} {v}" for v in ("PASS", "FAIL", "NOTE")) + "\n")
    return EXIT_FAILED if failed else EXIT_OK


def _probe(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    res = sim.probe_tolerance(
        args.id, event_type=args.event, max_ms=int(args.max_seconds * 1000), resolution_ms=args.resolution_ms,
        max_requests=args.max_requests, seed=args.seed,
    )
    if args.json:
        _dump(
            {
                "webhook_id": args.id,
                "accepts_fresh": res.accepts_fresh,
                "fresh_status": res.fresh_status,
                "accepts_seconds": res.accepts_seconds,
                "past_ms": res.past_ms,
                "future_ms": res.future_ms,
                "past": {"accepted_up_to_ms": res.past[0], "refused_from_ms": res.past[1]},
                "future": {"accepted_up_to_ms": res.future[0], "refused_from_ms": res.future[1]},
                "flags": res.flags,
                "requests": res.requests,
            },
            out,
        )
    else:
        out.write(res.summary() + "\n")
    return EXIT_OK if res.accepts_fresh else EXIT_FAILED


def _explain(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from simlib.toolkit.capture import parse_headers

    headers = parse_headers(Path(args.headers).read_bytes())
    body = Path(args.body).read_bytes()
    ex = sim.explain_signature(headers, body, secret=args.secret, webhook=args.webhook, tolerance_ms=args.tolerance_ms)
    if args.json:
        _dump(ex.to_dict(), out)
    else:
        out.write(ex.to_text() + "\n")
    return EXIT_OK if ex.valid else EXIT_FAILED


def _diff_table(frame: Any, out: TextIO) -> None:
    header = ["FIELD", *[str(c).upper() for c in frame.columns]]
    rows = [[field, *["yes" if v is True else "no" if v is False else str(v) for v in row]]
            for field, row in zip(frame.index, frame.itertuples(index=False))]
    _table(rows, header, out)


def _replay(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    rr = sim.replay(args.row, original_timestamp=args.original_timestamp, overrides=args.set)
    if args.json:
        diff = {field: {k: _cell(v) for k, v in row.items()} for field, row in rr.diff.to_dict(orient="index").items()}
        _dump({"replay_of": rr.original_id, "mode": rr.mode, "edited": rr.edited, "result": rr.result.to_dict(),
               "diff": diff}, out)
    else:
        out.write(f"replay of row {rr.original_id} ({rr.mode}{', edited' if rr.edited else ''}) -> row "
                  f"{rr.result.history_id if rr.result.history_id is not None else '-'}\n")
        _print_result(rr.result, out)
        out.write("\n")
        _diff_table(rr.diff, out)
    return _exit_code(rr.result)


def _import(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    source: Any = sys.stdin.buffer.read() if args.file == "-" else Path(args.file)
    imp = sim.import_delivery(source, args.webhook, send_as_captured=not args.resigned_only)
    cap = imp.capture
    if args.json:
        compare = {f: {k: _cell(v) for k, v in row.items()} for f, row in imp.compare.to_dict(orient="index").items()}
        _dump(
            {
                "capture": {"source": cap.source, "method": cap.method, "url": cap.url, "event": cap.event_type,
                            "bytes": len(cap.body), "notes": list(cap.notes)},
                "explanation": imp.explanation.to_dict(),
                "as_captured": imp.as_captured.to_dict() if imp.as_captured is not None else None,
                "resigned": imp.resigned.to_dict(),
                "compare": compare,
            },
            out,
        )
    else:
        out.write(f"capture   {cap.source}: {cap.method} {cap.url or '-'}, {cap.event_type}, {len(cap.body)} bytes\n")
        for note in cap.notes:
            out.write(f"note      {note}\n")
        ex = imp.explanation
        out.write(f"signature {'VALID' if ex.valid else 'INVALID'} for webhook {imp.webhook_id} ({ex.cause}): "
                  f"{ex.summary}\n\n")
        _diff_table(imp.compare, out)
    return _exit_code(imp.resigned)


def _curl(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    if (args.row is None) == (args.preview is None):
        raise CLIError("give a history ROW or --preview ID EVENT (one of them)")
    if args.preview is not None:
        source = sim.preview(args.preview[0], args.preview[1], overrides=args.set, seed=args.seed)
    else:
        if args.set or args.seed is not None:
            raise CLIError("--seed and --set go with --preview")
        source = args.row
    render = sim.as_httpx if args.httpx else sim.as_curl
    out.write(render(source, reveal_secret=args.reveal_secret, exact=args.exact))
    return EXIT_OK


def _snippets(args: argparse.Namespace, out: TextIO) -> int:
    from simlib.toolkit.snippets import FILENAMES, LANGUAGES

    if args.lang:
        out.write(LANGUAGES[args.lang])
        return EXIT_OK
    for lang, source in LANGUAGES.items():
        out.write(f"===== {FILENAMES[lang]} (simlib snippets --lang {lang} > {FILENAMES[lang]}) =====\n{source}\n")
    return EXIT_OK


_SUPPORT = {"check": _check, "probe": _probe, "explain": _explain, "replay": _replay, "import": _import, "curl": _curl}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
