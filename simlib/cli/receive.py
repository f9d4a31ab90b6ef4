"""``simlib receive`` (the embedded verifying receiver in the foreground) and ``simlib demo``
(a local receiver, the demo webhook and one send per event type)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from simlib import Receiver, parse_rate_limit, read_organisation_secrets, serve_forever, start_demo, webhook_secrets
from simlib.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    YEAR_SECONDS,
    AddCommand,
    CLIError,
    Context,
    PositiveNumber,
    WholeNumber,
    http_status,
    library_default,
    milliseconds,
    path,
    port,
    read_secret_file,
    read_secrets,
    secret_flags,
)
from simlib.cli.output import dump, json_line, line, table

if TYPE_CHECKING:
    from simlib import ReceivedRequest

#: The port ``simlib receive`` listens on without ``--port`` (a Receiver's own default, 0, picks
#: a free one: right for tests and the explorer, not for a URL to paste into a webhook).
RECEIVE_PORT = 8787
#: Where ``simlib receive`` reads its secrets when no secret flag is given (one per line).
SECRETS_ENV = "SIMLIB_RECEIVER_SECRETS"
#: The largest --org-secrets file (a thousand organisations with two secrets each fit easily).
ORG_SECRETS_MAX_BYTES = 1024 * 1024
#: The longest --delay-ms: an hour (longer than any sender waits).
MAX_DELAY_MS = 3_600_000


def add_receive(add: AddCommand) -> None:
    tolerance = library_default(Receiver, "tolerance_ms")
    rc = add("receive", help="run the embedded receiver in the foreground")
    rc.add_argument("--host", default=library_default(Receiver, "host"))
    rc.add_argument("--port", type=port, default=RECEIVE_PORT)
    secret_flags(rc, several=True, what="verify with this secret",
                 fallback=f"With none of the three: the lines of ${SECRETS_ENV}.")
    rc.add_argument("--webhook", help="verify with this webhook's secrets")
    rc.add_argument("--status", type=http_status, default=library_default(Receiver, "status"))
    rc.add_argument("--delay-ms", type=WholeNumber(0, MAX_DELAY_MS), default=library_default(Receiver, "delay_ms"),
                    help=f"wait before answering (at most {MAX_DELAY_MS})")
    rc.add_argument("--body", help="response body (default: a JSON acknowledgement)")
    rc.add_argument("--no-verify", action="store_true", help="accept everything (a sloppy receiver)")
    rc.add_argument("--json", action="store_true",
                    help="JSON lines only: {\"listening\": URL} first, then one object per request")
    rc.add_argument("--quiet", action="store_true", help="print only the listening line")
    rc.add_argument("--tolerance-ms", type=milliseconds, default=tolerance,
                    help=f"timestamp window, both ways (default {tolerance})")
    rc.add_argument("--timestamp-unit", choices=["ms", "s"], default=library_default(Receiver, "timestamp_unit"),
                    help="'s' reads x-webhook-timestamp as seconds (a receiver bug, to rehearse it)")
    rc.add_argument("--accept-future", action="store_true",
                    help="one-sided window: refuse only too-old timestamps (a receiver bug, to rehearse it)")
    rc.add_argument("--replay-protection", action="store_true", help="answer 409 to an exact replay inside the window")
    # -- issue 14: the receivers real resellers run -------------------------------------------
    rc.add_argument("--reserialize", action="store_true",
                    help="verify JSON.stringify(JSON.parse(body)), not the raw bytes (a receiver bug, to rehearse it)")
    rc.add_argument("--flat-payload", action="store_true",
                    help="read organisationId/userId at the top level and answer 400 without them (a receiver bug)")
    orgs = rc.add_mutually_exclusive_group()
    orgs.add_argument("--org-secrets", type=path, metavar="FILE",
                      help='choose the secret by the payload\'s organisation id from FILE: {"org id": "secret" or '
                           '["secret", ...]} (keep it chmod 600); an unknown organisation gets 401')
    orgs.add_argument("--org-secrets-from-store", action="store_true",
                      help="the same, from the store's webhooks that carry an organisation id (read per request)")
    rc.add_argument("--rate-limit", type=rate_limit, metavar="N/WINDOW",
                    help="answer 429 {\"error\":\"Too many requests\"} past N requests per window per client, e.g. 120/60s")
    rc.add_argument("--retry-after", type=WholeNumber(0, 86_400), metavar="S",
                    help="with --rate-limit: send Retry-After: S with each 429")
    limit_flags(rc)
    rc.set_defaults(handler=receive)


def rate_limit(text: str) -> tuple[int, float]:
    """``--rate-limit 120/60s`` -> (120, 60.0); argparse turns a ValueError into one line."""
    try:
        value = parse_rate_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    assert value is not None
    return value


#: The receiver's limits, as ``(flag, Receiver parameter, type, help)``; a flag left out keeps
#: the library's default (the README's receiver section lists them). Timeouts are seconds.
LIMIT_FLAGS: tuple[tuple[str, str, Callable[[str], object], str], ...] = (
    ("--max-connections", "max_connections", WholeNumber(1, 1_000_000),
     "connections open at once (default 256, at most half the open-file limit)"),
    ("--header-timeout", "header_timeout", PositiveNumber(YEAR_SECONDS), "seconds for a whole request head"),
    ("--body-timeout", "body_timeout", PositiveNumber(YEAR_SECONDS), "seconds for a whole body"),
    ("--keepalive-timeout", "keepalive_timeout", PositiveNumber(YEAR_SECONDS), "seconds idle between requests"),
    ("--write-timeout", "write_timeout", PositiveNumber(YEAR_SECONDS), "seconds for a client to take an answer"),
    ("--max-header-bytes", "max_header_bytes", WholeNumber(1024, 2**31 - 1), "bytes of one request head (431 above)"),
    ("--max-headers", "max_headers", WholeNumber(1, 100_000), "header fields of one request (431 above)"),
    ("--max-body-bytes", "max_body_bytes", WholeNumber(0, 2**40), "bytes of one body (413 above)"),
    ("--max-pending-bytes", "max_pending_bytes", WholeNumber(0, 2**40),
     "bytes of bodies being received, all connections together (503 above)"),
    ("--keep", "keep", WholeNumber(0, 10_000_000), "requests kept in memory (oldest dropped first)"),
    ("--keep-bytes", "keep_bytes", WholeNumber(0, 2**40), "bytes of requests kept in memory (oldest dropped first)"),
)


def limit_flags(sp: Any) -> None:
    g = sp.add_argument_group("limits (what a hostile or broken client may cost)")
    for flag, param, kind, help_text in LIMIT_FLAGS:
        default = library_default(Receiver, param)
        g.add_argument(flag, dest=param, type=kind, metavar="S" if "timeout" in param else "N",
                       help=help_text if default is None else f"{help_text}; default {default}")


def receiver_limits(args: Any) -> dict[str, Any]:
    """The Receiver keyword arguments the limit flags set."""
    return {param: getattr(args, param) for _, param, _, _ in LIMIT_FLAGS if getattr(args, param, None) is not None}


def add_demo(add: AddCommand) -> None:
    dm = add("demo", help="local receiver + demo webhook + one send per event type")
    dm.add_argument("--json", action="store_true")
    dm.set_defaults(handler=demo)


def receive(ctx: Context) -> int:
    a, out = ctx.args, ctx.out
    fixed = read_secrets(ctx, env_default=SECRETS_ENV)
    secrets: list[str] | Callable[[], list[str]] = fixed
    if a.webhook:
        ctx.sim.get_webhook(a.webhook)  # an unknown id is an error now, not a silent "verify nothing"
        of_webhook = webhook_secrets(ctx.sim, a.webhook)

        def fixed_and_webhook() -> list[str]:  # read per request: a rotation is seen at once
            return fixed + of_webhook()

        secrets = fixed_and_webhook

    org_secrets: Mapping[str, Sequence[str]] | Callable[[], Mapping[str, Sequence[str]]] | None = None
    if a.org_secrets:
        org_secrets = read_organisation_secrets(read_secret_file(ctx, a.org_secrets, "--org-secrets", ORG_SECRETS_MAX_BYTES),
                                                source=a.org_secrets)
    elif a.org_secrets_from_store:
        org_secrets = ctx.sim.organisation_secrets()
    if a.retry_after is not None and a.rate_limit is None:
        raise CLIError("--retry-after goes with --rate-limit N/WINDOW")
    if not fixed and not a.webhook and not a.no_verify and org_secrets is None:
        raise CLIError(
            "give --secret-file FILE, --secret - or --secret-env VAR (or --webhook ID) to verify signatures, "
            "or --no-verify to accept everything"
        )

    def show(req: ReceivedRequest) -> None:
        v = req.verification
        if a.json:
            json_line(
                {
                    "index": req.index,
                    "method": req.method,
                    "path": req.path,
                    "event": req.event_type,
                    "bytes": len(req.body),
                    "verified": None if v is None else v.ok,
                    "reason": None if v is None else v.reason,
                    "status": req.status,
                },
                out,
            )
        else:  # the path, the event and the reason come from the client: escaped by line()
            verdict = "unverified" if v is None else ("verified" if v.ok else f"REJECTED: {v.reason}")
            if req.status == 429 and v is None:
                verdict = "rate limited"
            line(f"{req.method} {req.path} {req.event_type or '-'} {len(req.body)} bytes -> {req.status} ({verdict})", out)
            out.flush()

    rx = Receiver(
        secrets,
        host=a.host,
        port=a.port,
        status=a.status,
        delay_ms=a.delay_ms,
        body=a.body,
        verify_signatures=not a.no_verify,
        tolerance_ms=a.tolerance_ms,
        timestamp_unit=a.timestamp_unit,
        reject_future=not a.accept_future,
        replay_protection=a.replay_protection,
        reserialize=a.reserialize,
        flat_payload=a.flat_payload,
        org_secrets=org_secrets,
        rate_limit=a.rate_limit,
        retry_after=a.retry_after,
        on_request=None if a.quiet else show,
        **receiver_limits(a),
    )
    rx.start()
    if a.json:
        json_line({"listening": rx.url}, out)
    else:
        line(f"listening on {rx.url} (Ctrl-C to stop)", out)
        out.flush()
    serve_forever(rx)
    return EXIT_OK


def demo(ctx: Context) -> int:
    sim, out = ctx.sim, ctx.out
    receiver, wh = start_demo(sim)
    results = []
    try:
        for event in wh.events:
            results.append(sim.simulate(wh, event))
        receiver.wait_for(len([r for r in results if r.http_status is not None]), timeout=5)
        seen = {req.header("x-webhook-signature"): req for req in receiver.requests}
    finally:
        receiver.stop()
    if ctx.args.json:
        dump([r.to_dict() for r in results], out)
    else:
        line(f"embedded receiver: {receiver.url}  webhook: {wh.id} ({wh.name})", out)
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
        table(rows, ["EVENT", "RESULT", "STATUS", "MS", "SIGNATURE VERIFIED"], out)
        ok = sum(r.delivered for r in results)
        line(f"{ok} of {len(results)} delivered; see them with: simlib history", out)
    return EXIT_OK if all(r.delivered for r in results) else EXIT_FAILED
