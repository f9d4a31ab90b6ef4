"""``simlib store``: where the store is, and the key of the webhook secrets encrypted in it."""

from __future__ import annotations

from simlib.cli.common import EXIT_OK, AddCommand, Context, Parser
from simlib.cli.output import json_line, line


def add_store(add: AddCommand) -> None:
    st = add("store", help="the store: where it is (info), its secrets' key (rotate-key)")
    sub = st.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    sub.required = True
    info = sub.add_parser("info", help="where the store is and how many webhooks and attempts it holds")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=store_info)
    rotate = sub.add_parser(
        "rotate-key",
        help="re-encrypt every webhook secret with a new key",
        description="Key file (the SQLite default or $SIMLIB_SECRET_KEY_FILE): a new key replaces the old one "
        "in the file. $SIMLIB_SECRET_KEY: put the new key first (NEW,OLD), run this, then drop OLD.",
    )
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(handler=rotate_key)


def store_info(ctx: Context) -> int:
    sim = ctx.sim
    doc = {
        "store": sim.store.location,
        "webhooks": len(sim.list_webhooks()),
        "attempts": sim.history_count(),
    }
    if ctx.json:
        json_line(doc, ctx.out)
    else:
        for key, value in doc.items():
            line(f"{key:<9} {value}", ctx.out)
    return EXIT_OK


def rotate_key(ctx: Context) -> int:
    count, next_step = ctx.sim.rotate_store_key()
    if ctx.json:
        json_line({"reencrypted": count, "next": next_step}, ctx.out)
    else:
        line(f"re-encrypted the secrets of {count} webhook{'s' if count != 1 else ''}; {next_step}", ctx.out)
    return EXIT_OK
