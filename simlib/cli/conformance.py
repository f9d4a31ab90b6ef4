"""``simlib check`` (the receiver conformance matrix) and ``simlib probe`` (the receiver's
timestamp window, measured by bisection)."""

from __future__ import annotations

from simlib import check_receiver, probe_tolerance
from simlib.cli.common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    AddCommand,
    Context,
    WholeNumber,
    delivery_flags,
    library_default,
    milliseconds,
    nonneg_int,
    positive_float,
)
from simlib.cli.output import cell, dump, frame_rows, line, table, text_lines

DAY_MS = 86_400_000
#: The most requests one probe may send (each is a recorded send).
MAX_PROBE_REQUESTS = 10_000


def add_check(add: AddCommand) -> None:
    tolerance = library_default(check_receiver, "tolerance_ms")
    ck = add(
        "check", help="receiver conformance matrix; exit 1 if any variant FAILs",
        description="Send one valid simulation and every deliberately broken variant (wrong secret, tampered or "
        "re-serialised body, missing headers, timestamp in seconds / too old / in the future, a replay, ...) to the "
        "webhook's endpoint and say PASS, FAIL or NOTE for each. Every request is recorded in the history. "
        "Exit 0: nothing failed; 1: a variant FAILed; 2: error.",
    )
    ck.add_argument("id", help="webhook id")
    ck.add_argument("--event", help="event type (default: the activity event if subscribed, else the first)")
    ck.add_argument("--seed", type=nonneg_int, help="reproducible payloads")
    ck.add_argument("--tolerance-ms", type=milliseconds, default=tolerance,
                    help=f"the window the stale and future variants step out of, twice over (default {tolerance})")
    ck.add_argument("--rate-limit-wait", type=positive_float, metavar="S",
                    default=library_default(check_receiver, "rate_limit_wait_s"),
                    help="a 429 is sent again once after its Retry-After if that is at most S seconds "
                         "(else the variant is a NOTE: rate limited)")
    ck.add_argument("--json", action="store_true")
    delivery_flags(ck)
    ck.set_defaults(handler=check)


def add_probe(add: AddCommand) -> None:
    max_ms = library_default(probe_tolerance, "max_ms")
    resolution_ms = library_default(probe_tolerance, "resolution_ms")
    max_requests = library_default(probe_tolerance, "max_requests")
    pr = add(
        "probe", help="measure the receiver's timestamp window (past and future) by bisection",
        description="Find how old and how far ahead a correctly signed timestamp may be, with a bounded number of "
        "requests (all recorded), and flag one-sided windows and seconds/milliseconds mix-ups. "
        "Exit 0: measured; 1: the receiver refused even a fresh request.",
    )
    pr.add_argument("id", help="webhook id")
    pr.add_argument("--event", help="event type")
    pr.add_argument("--max-seconds", type=positive_float, default=max_ms / 1000,
                    help=f"farthest offset tried (default {max_ms / DAY_MS:g} days)")
    pr.add_argument("--resolution-ms", type=milliseconds, default=resolution_ms,
                    help=f"precision of the edges (default {resolution_ms})")
    pr.add_argument("--max-requests", type=WholeNumber(1, MAX_PROBE_REQUESTS), default=max_requests,
                    help=f"upper bound on requests (default {max_requests}, at most {MAX_PROBE_REQUESTS})")
    pr.add_argument("--seed", type=nonneg_int)
    pr.add_argument("--json", action="store_true")
    delivery_flags(pr)
    pr.set_defaults(handler=probe)


def check(ctx: Context) -> int:
    a, out = ctx.args, ctx.out
    frame = ctx.sim.check_receiver(a.id, event_type=a.event, seed=a.seed, tolerance_ms=a.tolerance_ms,
                                   rate_limit_wait_s=a.rate_limit_wait)
    failed = int((frame["verdict"] == "FAIL").sum())
    if a.json:
        dump({"webhook_id": a.id, "failed": failed, "stopped_early": frame.attrs.get("stopped_early"),
              "unrecorded": frame.attrs.get("unrecorded", 0), "variants": frame_rows(frame)}, out)
    else:
        rows = [[str(cell(r["history_id"]) or "-"), r["variant"], r["expected"], str(cell(r["observed_status"]) or "-"),
                 r["verdict"], r["explanation"]] for r in frame.to_dict(orient="records")]
        table(rows, ["ROW", "VARIANT", "EXPECTED", "STATUS", "VERDICT", "EXPLANATION"], out)
        counts = frame["verdict"].value_counts()
        line(", ".join(f"{counts.get(v, 0)} {v}" for v in ("PASS", "FAIL", "NOTE")), out)
        if frame.attrs.get("stopped_early"):
            line(f"stopped early: {frame.attrs['stopped_early']}", out)
    unrecorded = frame.attrs.get("unrecorded", 0)
    if unrecorded:
        line(f"simlib: {unrecorded} of {len(frame)} requests were not recorded in history", ctx.err)
    if unrecorded or frame.attrs.get("stopped_early"):
        return EXIT_ERROR
    return EXIT_FAILED if failed else EXIT_OK


def probe(ctx: Context) -> int:
    a = ctx.args
    res = ctx.sim.probe_tolerance(
        a.id, event_type=a.event, max_ms=int(a.max_seconds * 1000), resolution_ms=a.resolution_ms,
        max_requests=a.max_requests, seed=a.seed,
    )
    if a.json:
        dump(
            {
                "webhook_id": a.id,
                "accepts_fresh": res.accepts_fresh,
                "fresh_status": res.fresh_status,
                "accepts_seconds": res.accepts_seconds,
                "past_ms": res.past_ms,
                "future_ms": res.future_ms,
                "past": {"accepted_up_to_ms": res.past[0], "refused_from_ms": res.past[1]},
                "future": {"accepted_up_to_ms": res.future[0], "refused_from_ms": res.future[1]},
                "flags": res.flags,
                "requests": res.requests,
                "unrecorded": res.unrecorded,
            },
            ctx.out,
        )
    else:
        text_lines(res.summary(), ctx.out)
    if res.unrecorded:
        line(f"simlib: {res.unrecorded} of {res.requests} requests were not recorded in history", ctx.err)
        return EXIT_ERROR
    if res.store_stopped:
        return EXIT_ERROR
    return EXIT_OK if res.accepts_fresh else EXIT_FAILED
