"""The support workbench on the command line: ``explain`` (why a captured signature fails),
``replay`` and ``import`` (resend a history row or a captured delivery), ``curl`` (a row or a
preview as a runnable command) and ``snippets`` (verified receivers to copy)."""

from __future__ import annotations

import sys
from pathlib import Path

from simlib import SNIPPET_FILENAMES, Preview, Simulator, ValidationError, parse_headers, snippet
from simlib.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    AddCommand,
    CLIError,
    Context,
    delivery_flags,
    exit_code,
    library_default,
    milliseconds,
    nonneg_int,
    path,
    read_secret,
    secret_flags,
)
from simlib.cli.output import cell, diff_table, dump, is_printable, line, print_result, printable, text_lines


def add_explain(add: AddCommand) -> None:
    tolerance = library_default(Simulator.explain_signature, "tolerance_ms")
    ex = add(
        "explain", help="does a captured signature verify? if not, the most likely cause",
        description="Check raw headers and a raw body (as copied from a receiver's logs) against a secret or a "
        "webhook's secrets, and name the most likely cause of a mismatch: wrong secret (every configured webhook's "
        "secret is tried, never printed), re-serialised body, white space or encoding, timestamp unit, stale "
        "timestamp. Exit 0: valid; 1: not valid; 2: error.",
    )
    ex.add_argument("--headers", required=True, type=path, metavar="FILE", help="'Name: value' lines, raw HTTP, or JSON")
    ex.add_argument("--body", required=True, type=path, metavar="FILE", help="the raw body, byte for byte")
    exg = ex.add_mutually_exclusive_group()
    secret_flags(exg, what="the secret the receiver verifies with")
    exg.add_argument("--webhook", metavar="ID", help="use this webhook's secrets (no secret nor webhook: try every webhook)")
    ex.add_argument("--tolerance-ms", type=milliseconds, default=tolerance, help=f"timestamp window (default {tolerance})")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(handler=explain)


def add_replay(add: AddCommand) -> None:
    rp = add(
        "replay", help="resend a history row (re-signed now, or with its original signature)",
        description="Resend history row ROW to its webhook: the exact bytes re-signed with a fresh timestamp "
        "(default), or with --original-timestamp the recorded timestamp and signature (to test replay protection); "
        "--set edits the payload first. The new row links to ROW; a diff compares the two answers. "
        "Exit codes as for send.",
    )
    rp.add_argument("row", type=nonneg_int, help="history id (simlib history)")
    rp.add_argument("--original-timestamp", action="store_true", help="send the recorded timestamp and signature")
    rp.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="edit a field first (re-signed)")
    rp.add_argument("--json", action="store_true")
    delivery_flags(rp)
    rp.set_defaults(handler=replay)


def add_import(add: AddCommand) -> None:
    im = add(
        "import", help="send a captured delivery (raw HTTP, JSON or curl) re-signed with a webhook's secret",
        description="Load a request a customer captured -- raw HTTP text, a JSON file with headers and body, or a "
        "curl command -- check its signature against the webhook's secrets, send it as captured and re-signed, and "
        "compare the answers. Exit codes as for send (of the re-signed request).",
    )
    im.add_argument("file", type=path, help="the capture ('-' reads stdin)")
    im.add_argument("--webhook", required=True, metavar="ID", help="send to this webhook, signed with its secret")
    im.add_argument("--resigned-only", action="store_true", help="do not also send it as captured")
    im.add_argument("--json", action="store_true")
    delivery_flags(im)
    im.set_defaults(handler=import_capture)


def add_curl(add: AddCommand) -> None:
    cu = add(
        "curl", help="a runnable curl command (or --httpx snippet) for a history row or a preview",
        description="Print a bash script (curl + openssl) that reproduces history row ROW, or a preview "
        "(--preview ID EVENT). It is signed when it runs, with $WEBHOOK_SECRET; --reveal-secret writes the secret "
        "in; --exact sends the row's recorded headers (original timestamp and signature) instead.",
    )
    cu.add_argument("row", nargs="?", type=nonneg_int, help="history id")
    cu.add_argument("--preview", nargs=2, metavar=("ID", "EVENT"), help="a fresh preview instead of a history row")
    cu.add_argument("--seed", type=nonneg_int, help="with --preview")
    cu.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="with --preview")
    cu.add_argument("--httpx", action="store_true", help="a Python httpx snippet instead of curl")
    cu.add_argument("--exact", action="store_true", help="the recorded headers, not re-signed")
    cu.add_argument("--reveal-secret", action="store_true", help="write the secret into the command")
    cu.set_defaults(handler=curl)


def add_snippets(add: AddCommand) -> None:
    sn = add(
        "snippets", help="minimal verified receivers to copy (Python, Node.js)",
        description="Print a minimal, correct Trackpilots receiver: raw body, millisecond timestamp window both ways, "
        "constant-time comparison, replay refusal. With --lang, only that source (redirect it to a file).",
    )
    sn.add_argument("--lang", choices=list(SNIPPET_FILENAMES), help="only this one")
    sn.set_defaults(handler=snippets)


def explain(ctx: Context) -> int:
    a = ctx.args
    secret = read_secret(ctx)  # a bad secret flag first: before any file is read
    headers = parse_headers(_flag_file("--headers", a.headers))
    body = _flag_file("--body", a.body)
    ex = ctx.sim.explain_signature(headers, body, secret=secret, webhook=a.webhook, tolerance_ms=a.tolerance_ms)
    if a.json:
        dump(ex.to_dict(), ctx.out)
    else:
        text_lines(ex.to_text(), ctx.out)
    return EXIT_OK if ex.valid else EXIT_FAILED


def _flag_file(flag: str, name: str) -> bytes:
    """The bytes of the file a flag names; one line naming the flag when it cannot be read."""
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise ValidationError(flag, f"cannot read {name!r}: {exc.strerror or exc}") from None


def replay(ctx: Context) -> int:
    a, out = ctx.args, ctx.out
    rr = ctx.sim.replay(a.row, original_timestamp=a.original_timestamp, overrides=a.set)
    if a.json:
        diff = {field: {k: cell(v) for k, v in row.items()} for field, row in rr.diff.to_dict(orient="index").items()}
        dump({"replay_of": rr.original_id, "mode": rr.mode, "edited": rr.edited, "result": rr.result.to_dict(),
              "diff": diff}, out)
    else:
        line(f"replay of row {rr.original_id} ({rr.mode}{', edited' if rr.edited else ''}) -> row "
             f"{rr.result.history_id if rr.result.history_id is not None else '-'}", out)
        print_result(rr.result, out)
        out.write("\n")
        diff_table(rr.diff, out)
    return exit_code(rr.result)


def import_capture(ctx: Context) -> int:
    a, out = ctx.args, ctx.out
    source: bytes | Path = sys.stdin.buffer.read() if a.file == "-" else Path(a.file)
    imp = ctx.sim.import_delivery(source, a.webhook, send_as_captured=not a.resigned_only)
    cap = imp.capture
    if a.json:
        compare = {f: {k: cell(v) for k, v in row.items()} for f, row in imp.compare.to_dict(orient="index").items()}
        dump(
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
        line(f"capture   {cap.source}: {cap.method} {cap.url or '-'}, {cap.event_type}, {len(cap.body)} bytes", out)
        for note in cap.notes:
            line(f"note      {note}", out)
        ex = imp.explanation
        line(f"signature {'VALID' if ex.valid else 'INVALID'} for webhook {imp.webhook_id} ({ex.cause}): {ex.summary}", out)
        out.write("\n")
        diff_table(imp.compare, out)
        for what, r in (("as captured", imp.as_captured), ("re-signed", imp.resigned)):
            if r is not None and not r.recorded:
                line(f"history   the {what} send was NOT recorded (store unavailable)", out)
    return exit_code(imp.resigned, imp.as_captured)


def curl(ctx: Context) -> int:
    a, sim = ctx.args, ctx.sim
    if (a.row is None) == (a.preview is None):
        raise CLIError("give a history ROW or --preview ID EVENT (one of them)")
    if a.preview is not None:
        source: int | Preview = sim.preview(a.preview[0], a.preview[1], overrides=a.set, seed=a.seed)
    else:
        if a.set or a.seed is not None:
            raise CLIError("--seed and --set go with --preview")
        source = a.row
    render = sim.as_httpx if a.httpx else sim.as_curl
    code = render(source, reveal_secret=a.reveal_secret, exact=a.exact)
    if not is_printable(code, keep="\n\t"):
        # Escaped, the script would send other bytes; raw, the terminal would act on them.
        unsafe = sorted({printable(ch) for ch in code if not is_printable(ch, keep="\n\t")})
        raise CLIError(
            f"the {'snippet' if a.httpx else 'script'} would carry control or bidi characters ({', '.join(unsafe[:5])}) "
            "that a terminal acts on" + ("" if a.httpx else "; simlib curl --httpx writes them as escapes")
        )
    ctx.out.write(code)
    return EXIT_OK


def snippets(ctx: Context) -> int:
    if ctx.args.lang:
        ctx.out.write(snippet(ctx.args.lang))
        return EXIT_OK
    for lang, filename in SNIPPET_FILENAMES.items():
        ctx.out.write(f"===== {filename} (simlib snippets --lang {lang} > {filename}) =====\n{snippet(lang)}\n")
    return EXIT_OK
