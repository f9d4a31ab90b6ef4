"""``simlib orgs N URL``: many organisations, one URL -- N webhooks, each with its own
organisation id and secret, aimed at one endpoint, and one send from each."""

from __future__ import annotations

from simlib.cli.common import EXIT_FAILED, EXIT_OK, AddCommand, Context, WholeNumber, path
from simlib.cli.output import dump, line, table

#: The most organisations one run creates (``simlib.toolkit.orgs.MAX_ORGANISATIONS``).
MAX_ORGS = 1000


def add_orgs(add: AddCommand) -> None:
    og = add("orgs", help="N organisations' webhooks (own organisation id and secret) on one URL; one send from each")
    og.add_argument("n", type=WholeNumber(1, MAX_ORGS), metavar="N", help=f"how many organisations (1 to {MAX_ORGS})")
    og.add_argument("url", metavar="URL", help="the one endpoint they all point at")
    og.add_argument("--event", default="desktop.activity_tracking.captured", help="the event each one sends")
    og.add_argument("--name-prefix", default="Organisation", help="webhook names: PREFIX 1, PREFIX 2, ...")
    og.add_argument("--no-send", action="store_true", help="only create the webhooks")
    og.add_argument("--secrets-out", type=path, metavar="FILE",
                    help="write the organisation id -> secrets table (mode 0600) for simlib receive --org-secrets FILE")
    og.add_argument("--json", action="store_true")
    og.set_defaults(handler=orgs)


def orgs(ctx: Context) -> int:
    a, sim, out = ctx.args, ctx.sim, ctx.out
    if a.secrets_out:  # written before anything is sent: the receiver may need it first
        run = sim.many_organisations(a.n, a.url, event_type=a.event, name_prefix=a.name_prefix, send=False)
        sim.write_organisation_secrets(a.secrets_out, url=run.url)
        results = [] if a.no_send else [sim.simulate(wh, a.event) for wh in run.webhooks]
    else:
        run = sim.many_organisations(a.n, a.url, event_type=a.event, name_prefix=a.name_prefix, send=not a.no_send)
        results = list(run.results)
    by_id = {r.webhook_id: r for r in results}
    if a.json:
        dump([
            {"webhook": wh.to_dict(), "result": by_id[wh.id].to_dict() if wh.id in by_id else None}
            for wh in run.webhooks
        ], out)
    else:
        rows = []
        for wh in run.webhooks:
            r = by_id.get(wh.id)
            status = "-" if r is None or r.http_status is None else str(r.http_status)
            rows.append([wh.id, wh.organisation_id or "-", "-" if r is None else r.result, status,
                         "" if r is None else r.detail])
        table(rows, ["WEBHOOK", "ORGANISATION", "RESULT", "STATUS", "DETAIL"], out)
        if a.secrets_out:
            line(f"organisation secrets written to {a.secrets_out} (mode 0600): simlib receive --org-secrets "
                 f"{a.secrets_out}", out)
        if results:
            line(f"{sum(r.delivered for r in results)} of {len(results)} delivered", out)
    return EXIT_OK if all(r.delivered for r in results) else EXIT_FAILED
