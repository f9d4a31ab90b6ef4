"""``simlib preview``, ``simlib send`` and ``simlib burst``: build the exact body, send it once,
or send it many times at a bounded concurrency."""

from __future__ import annotations

from simlib import NETWORK_ERROR, SimlibError, Simulator
from simlib.cli.common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    AddCommand,
    Context,
    PositiveNumber,
    WholeNumber,
    delivery_flags,
    event_options,
    exit_code,
    library_default,
    nonneg_int,
    payload_flags,
)
from simlib.cli.output import dump, line, print_result

#: How many sends ``simlib burst`` makes without ``-n`` (the library's send_many has no default).
BURST_SENDS = 100
#: The most one burst sends: every result is held in memory until the summary.
BURST_MAX_SENDS = 100_000
#: The most sends in flight: each holds a connection (a file descriptor).
BURST_MAX_CONCURRENCY = 1_000
#: The fastest --rate: a million sends per second is no limit at all.
BURST_MAX_RATE = 1_000_000
#: The engines a burst can send with (the library refuses any other with a field error).
BURST_ENGINES = ("auto", "curl", "aiohttp", "httpx")


def add_preview(add: AddCommand) -> None:
    pv = add("preview", help="print the exact body a send would POST")
    payload_flags(pv)
    pv.add_argument("--pretty", action="store_true", help="indent for reading (the sent body is compact)")
    pv.add_argument("--json", action="store_true", help="the preview as a JSON document")
    pv.set_defaults(handler=preview)


def add_send(add: AddCommand) -> None:
    sd = add("send", help="send one simulation; exit 0 Delivered, 1 Failed, 2 simulation error or not recorded")
    payload_flags(sd)
    sd.add_argument("--sign-with-previous", action="store_true", help="sign with the pre-rotation secret")
    sd.add_argument("--json", action="store_true")
    delivery_flags(sd)
    sd.set_defaults(handler=send)


def add_burst(add: AddCommand) -> None:
    concurrency = library_default(Simulator.send_many, "concurrency")
    bu = add("burst", help="many sends at a bounded concurrency/rate, all recorded")
    bu.add_argument("id", help="webhook id")
    bu.add_argument("event", help="event type")
    bu.add_argument("-n", type=WholeNumber(1, BURST_MAX_SENDS), default=BURST_SENDS, metavar="N",
                    help=f"number of sends (default {BURST_SENDS}, at most {BURST_MAX_SENDS})")
    bu.add_argument("-c", "--concurrency", type=WholeNumber(1, BURST_MAX_CONCURRENCY), default=concurrency, metavar="C",
                    help=f"at most C in flight (default {concurrency}, at most {BURST_MAX_CONCURRENCY})")
    bu.add_argument("--rate", type=PositiveNumber(BURST_MAX_RATE, unit="sends per second"), metavar="R",
                    help="send at a fixed R sends per second (latency from each send's intended time; "
                    "late sends counted); from 0.001 to 1,000,000")
    bu.add_argument("--respect-retry-after", action="store_true",
                    help="after a 429 with Retry-After, start no send until it has passed (at most a minute each)")
    bu.add_argument("--engine", choices=BURST_ENGINES, default="auto",
                    help="HTTP engine: auto (curl; aiohttp where pycurl cannot be imported; httpx where neither "
                         "can send: a proxy), curl, aiohttp or httpx")
    bu.add_argument("--repeat-payload", action="store_true", help="send one payload N times (idempotency)")
    bu.add_argument("--seed", type=nonneg_int)
    bu.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    bu.add_argument("--no-progress", action="store_true")
    bu.add_argument("--json", action="store_true")
    delivery_flags(bu)
    bu.set_defaults(handler=burst)


def preview(ctx: Context) -> int:
    a = ctx.args
    p = ctx.sim.preview(a.id, a.event, overrides=a.set, seed=a.seed, options=event_options(a))
    if a.json:
        dump(
            {
                "webhook_id": p.webhook_id,
                "event_type": p.event_type,
                "seed": p.seed,
                "event_id": p.event_id,
                "bytes": p.size,
                "payload": p.text,
            },
            ctx.out,
        )
    elif a.pretty:
        ctx.out.write(p.pretty + "\n")
    else:
        ctx.out.write(p.text + "\n")
    return EXIT_OK


def send(ctx: Context) -> int:
    """A deleted webhook or an unusable store is a simulation error in the result (recorded),
    as Trackpilots answers it; bad input (an unknown event, a bad override) is an error."""
    a = ctx.args
    r = ctx.sim.simulate(
        a.id, a.event, overrides=a.set, seed=a.seed, options=event_options(a),
        sign_with="previous" if a.sign_with_previous else "current",
    )
    if a.json:
        dump(r.to_dict(), ctx.out)
    else:
        print_result(r, ctx.out)
    return exit_code(r)


def burst(ctx: Context) -> int:
    a, sim = ctx.args, ctx.sim
    progress = False if (a.no_progress or a.json) else True
    try:
        before: int | None = sim.history_count()
    except SimlibError:  # send_many reports an unusable store as a result per attempt
        before = None
    try:
        result = sim.send_many(
            a.id, a.event, a.n, concurrency=a.concurrency, rate=a.rate,
            repeat_payload=a.repeat_payload, overrides=a.set, seed=a.seed, progress=progress,
            respect_retry_after=a.respect_retry_after, engine=a.engine,
        )
    except KeyboardInterrupt:
        # send_many flushes its pending batch on the way out: what is in history now is kept.
        try:
            recorded = f"{sim.history_count() - before} attempts" if before is not None else ""
        except SimlibError:
            recorded = ""
        recorded = recorded or "an unknown number of attempts (the store cannot be read)"
        ctx.err.write(f"simlib: interrupted: {recorded} recorded in history before the interruption\n")
        ctx.err.flush()
        return EXIT_INTERRUPTED
    summary = result.summary.iloc[0].to_dict()
    if a.json:
        dump({k: (None if isinstance(v, float) and v != v else v) for k, v in summary.items()}, ctx.out)
    else:
        for key, value in summary.items():
            text = f"{value:.1f}" if isinstance(value, float) else str(value)
            line(f"{key:<18} {text}", ctx.out)
    if result.engine_note and not a.json:
        line(f"simlib: {result.engine_note}", ctx.err)
    unrecorded = sum(not r.recorded for r in result.results)
    if unrecorded:
        line(f"simlib: {unrecorded} of {len(result.results)} attempts were not recorded in history", ctx.err)
    if result.stopped_early:
        line(f"simlib: the burst stopped early: {result.stopped_early}", ctx.err)
    if unrecorded or result.stopped_early:
        return EXIT_ERROR
    if summary["delivered"] == summary["count"]:
        return EXIT_OK
    errors = [r.error for r in result.results if r.error and r.error != NETWORK_ERROR]
    return EXIT_ERROR if errors and len(errors) == len(result.results) else EXIT_FAILED
