"""``simlib webhooks add|list|show|update|rotate-secret|delete`` and ``simlib events``: what a
simulation is sent to, and what it can send."""

from __future__ import annotations

from typing import TextIO

from simlib import Simulator, Webhook, production_check
from simlib.cli.common import (
    EXIT_OK,
    YEAR_SECONDS,
    AddCommand,
    Context,
    Parser,
    library_default,
    positive_float,
    read_secret,
    secret_flags,
)
from simlib.cli.output import dump, line, table


def add_webhooks(add: AddCommand) -> None:
    wh = add("webhooks", help="add, list, show, update and delete webhooks")
    actions = wh.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True

    new = actions.add_parser("add", help="create a webhook")
    new.add_argument("--name", required=True)
    new.add_argument("--url", required=True)
    new.add_argument("--event", action="append", required=True, metavar="EVENT", help="repeat for several")
    secret_flags(new.add_mutually_exclusive_group(), what="the secret to use (default: generate one)")
    new.add_argument("--id", help="choose the id (default: generated, e.g. wh_k3x9p2)")
    new.add_argument("--organisation-id", metavar="ORG",
                     help="the organisation.organisationId its payloads carry (default: a fresh one per payload)")
    new.add_argument("--json", action="store_true")
    new.set_defaults(handler=create)

    ls = actions.add_parser("list", help="list webhooks (secrets masked)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_all)

    show = actions.add_parser("show", help="show one webhook")
    show.add_argument("id")
    show.add_argument("--reveal-secret", action="store_true", help="print the secret itself")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_one)

    upd = actions.add_parser("update", help="change a webhook")
    upd.add_argument("id")
    upd.add_argument("--name")
    upd.add_argument("--url")
    upd.add_argument("--event", action="append", metavar="EVENT", help="replaces the subscribed events")
    upd.add_argument("--organisation-id", metavar="ORG", help="the organisation id its payloads carry ('' removes it)")
    secret_flags(upd.add_mutually_exclusive_group(), what="the new secret (at once; rotate-secret keeps the old one valid)")
    upd.add_argument("--json", action="store_true")
    upd.set_defaults(handler=update)

    rot = actions.add_parser("rotate-secret", help="new secret; the old one stays valid for a grace period")
    rot.add_argument("id")
    rot.add_argument(
        "--grace-seconds", type=positive_float, default=library_default(Simulator.rotate_secret, "grace_seconds"),
        help=f"how long the old secret stays valid (at most {YEAR_SECONDS // 86_400} days)",
    )
    rot.add_argument("--json", action="store_true")
    rot.set_defaults(handler=rotate)

    rm = actions.add_parser("delete", help="delete a webhook")
    rm.add_argument("id")
    rm.add_argument("--json", action="store_true")
    rm.set_defaults(handler=delete)


def add_events(add: AddCommand) -> None:
    ev = add("events", help="the event catalogue")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(handler=events)


def create(ctx: Context) -> int:
    a = ctx.args
    return changed(ctx, ctx.sim.create_webhook(a.name, a.url, a.event, secret=read_secret(ctx), id=a.id,
                                               organisation_id=a.organisation_id))


def update(ctx: Context) -> int:
    a = ctx.args
    secret = read_secret(ctx)
    return changed(ctx, ctx.sim.update_webhook(a.id, name=a.name, url=a.url, events=a.event, secret=secret,
                                               organisation_id=a.organisation_id))


def rotate(ctx: Context) -> int:
    return changed(ctx, ctx.sim.rotate_secret(ctx.args.id, grace_seconds=ctx.args.grace_seconds))


def changed(ctx: Context, wh: Webhook) -> int:
    """Print a created or changed webhook; with ``--json`` a production warning goes to stderr
    (stdout stays one JSON document)."""
    if ctx.args.json:
        dump(wh.to_dict(), ctx.out)
    else:
        webhook_lines(wh, ctx.out)
    check = production_check(wh.url)
    if not check.ok and ctx.args.json:
        ctx.warn(check.message)
    return EXIT_OK


def show_one(ctx: Context) -> int:
    wh = ctx.sim.get_webhook(ctx.args.id)
    if ctx.args.json:
        dump(wh.to_dict(reveal_secret=ctx.args.reveal_secret), ctx.out)
    else:
        webhook_lines(wh, ctx.out, reveal=ctx.args.reveal_secret)
    return EXIT_OK


def delete(ctx: Context) -> int:
    ctx.sim.delete_webhook(ctx.args.id)
    if ctx.args.json:
        dump({"deleted": ctx.args.id}, ctx.out)
    else:
        line(f"deleted webhook {ctx.args.id}", ctx.out)
    return EXIT_OK


def list_all(ctx: Context) -> int:
    hooks = ctx.sim.list_webhooks()
    if ctx.args.json:
        dump([w.to_dict() for w in hooks], ctx.out)
    elif not hooks:
        line("no webhooks yet: simlib webhooks add --name N --url U --event E", ctx.out)
    else:
        rows = [[w.id, w.name, w.url, str(len(w.events)), w.secret.masked] for w in hooks]
        table(rows, ["ID", "NAME", "URL", "EVENTS", "SECRET"], ctx.out)
    return EXIT_OK


def webhook_lines(wh: Webhook, out: TextIO, *, reveal: bool = False) -> None:
    d = wh.to_dict(reveal_secret=reveal)
    for key in ("id", "name", "url", "events", "secret", "created_at", "updated_at"):
        value = ", ".join(d[key]) if key == "events" else d[key]
        line(f"{key:<11} {value}", out)
    if d.get("organisation_id"):
        line(f"{'org':<11} {d['organisation_id']} (organisation.organisationId of its payloads)", out)
    if "previous_secret_expires_at" in d:
        line(f"{'previous':<11} previous secret valid until {d['previous_secret_expires_at']}", out)
    check = production_check(wh.url)
    if not check.ok:
        line(f"{'warning':<11} {check.message}", out)


def events(ctx: Context) -> int:
    types = ctx.sim.events()
    if ctx.args.json:
        dump(
            [
                {
                    "name": t.name,
                    "description": t.description,
                    "options": [{"name": o.name, "default": o.default, "help": o.help} for o in t.options],
                }
                for t in types
            ],
            ctx.out,
        )
    else:
        table([[t.name, t.description] for t in types], ["EVENT", "DESCRIPTION"], ctx.out)
    return EXIT_OK
