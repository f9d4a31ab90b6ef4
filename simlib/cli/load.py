"""``simlib load ID``: load beyond one process, on Locust -- a thin wrapper over Locust's own
headless runner (``python -m locust -f <simlib's locustfile> --headless ...``), with
``--processes`` local workers. Locust is never imported here (it monkey-patches the process):
the run is a child process, its output Locust's own.

Exit codes: 0 the run ended with no failed request; 1 some requests failed (Locust's
``--exit-code-on-error``), or Locust stopped with an error of its own (its message is above);
2 bad input, an unknown webhook or Locust not installed (nothing was started); 130 Ctrl-C
(Locust stops its users and prints its statistics first).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
import signal
import subprocess

from simlib import LOCUSTFILE, ValidationError, plan_load
from simlib.cli.common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    AddCommand,
    CLIError,
    Context,
    PositiveNumber,
    WholeNumber,
    echo,
    nonneg_int,
    path,
    store_location,
)
from simlib.cli.output import line

#: What ``simlib load`` says when Locust is missing.
INSTALL_HINT = "Locust is not installed: pip install 'simlib[load]'"
MAX_USERS = 1_000_000
#: After Ctrl-C: how long Locust may take to stop on its own before it is sent SIGINT, and after.
STOP_GRACE_SECONDS = 3.0
STOP_TIMEOUT_SECONDS = 30.0
_RUN_TIME = re.compile(r"\d+|(?=\d)(\d+h)?(\d+m)?(\d+s)?")


def run_time(text: str) -> str:
    """Locust's ``--run-time``: ``90``, ``30s``, ``5m``, ``1h30m``."""
    if not _RUN_TIME.fullmatch(text.strip()) or not text.strip():
        raise argparse.ArgumentTypeError(f"expected a time such as 30s, 5m or 1h30m, not {echo(text)}")
    return text.strip()


def split_locust_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """``simlib [--store P] load ... -- LOCUST-ARGS`` -> (simlib's arguments, Locust's): what
    follows the first ``--`` of a ``load`` command goes to Locust as it is (argparse cannot
    take it once options stand between the id and the ``--``). Other commands: unchanged."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        i += 2 if argv[i] == "--store" else 1  # the top-level options: --store PATH, --version, -h
    if i < len(argv) and argv[i] == "load" and "--" in argv[i:]:
        cut = argv.index("--", i)
        return argv[:cut], argv[cut + 1 :]
    return argv, []


def add_load(add: AddCommand) -> None:
    ld = add(
        "load", help="load on Locust: many users (and processes) sending signed simulations to one webhook",
        description="Run Locust's headless runner with simlib's locustfile against webhook ID. Exit 0: no "
        "failed request; 1: some failed (or Locust stopped with an error); 2: bad input, unknown webhook, "
        "Locust not installed. Arguments after -- go to locust as they are "
        "(simlib load ID -u 50 -t 1m -- --html report.html).",
    )
    ld.add_argument("id", nargs="?", help="webhook id (its URL, secret and events come from the store)")
    ld.add_argument("-u", "--users", type=WholeNumber(1, MAX_USERS), default=10, metavar="N",
                    help="simulated users at once (default 10)")
    ld.add_argument("-r", "--spawn-rate", type=PositiveNumber(MAX_USERS, unit="users per second"), metavar="R",
                    help="users started per second (default: all at once)")
    ld.add_argument("-t", "--run-time", type=run_time, metavar="T", help="stop after T (30s, 5m, 1h30m; default: Ctrl-C)")
    ld.add_argument("-p", "--processes", type=WholeNumber(1, 1024), metavar="P",
                    help="P local worker processes and a master (Locust's --processes)")
    ld.add_argument("--csv", type=path, metavar="PREFIX", help="Locust's CSVs: PREFIX_stats.csv, PREFIX_failures.csv, ...")
    ld.add_argument("--events", metavar="EVENT[:WEIGHT],...", help="event types and weights (default: the subscribed ones)")
    ld.add_argument("--seed", type=nonneg_int, help="reproducible payloads per worker and user")
    ld.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a field of every payload")
    ld.add_argument("--record", choices=("sample", "all"),
                    help="also record attempts into the history (default: Locust's statistics are the record)")
    ld.add_argument("--record-every", type=WholeNumber(1, 1_000_000), default=100, metavar="N",
                    help="with --record sample: every N-th request of each process (default 100)")
    ld.add_argument("--print-locustfile", action="store_true", help="print the locustfile's path (for locust -f) and exit")
    ld.set_defaults(handler=load, locust_args=[])


def load(ctx: Context) -> int:
    a = ctx.args
    if a.print_locustfile:
        line(LOCUSTFILE, ctx.out)
        return EXIT_OK
    if a.id is None:
        raise ValidationError("id", "give the id of the webhook to load (simlib webhooks list)")
    if importlib.util.find_spec("locust") is None:
        raise CLIError(INSTALL_HINT)
    store = store_location(a.store)
    plan = plan_load(
        a.id, events=a.events, overrides=a.set or None, seed=a.seed, record=a.record or "none",
        record_every=a.record_every, store=store,
    )
    cmd = plan.command(
        users=a.users, spawn_rate=a.spawn_rate, run_time=a.run_time, processes=a.processes, csv=a.csv,
        extra=a.locust_args,
    )
    ctx.err.write(f"simlib: running {shlex.join(['locust', *cmd[3:]])}\n")
    ctx.err.flush()
    proc = subprocess.Popen(cmd, env={**os.environ, **plan.environment()})
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        stop(proc)
        return EXIT_INTERRUPTED
    if code in (EXIT_OK, EXIT_FAILED, EXIT_ERROR):
        return code
    return EXIT_INTERRUPTED if code == -signal.SIGINT else EXIT_FAILED


def stop(proc: subprocess.Popen[bytes]) -> None:
    """After Ctrl-C: Locust stops its users and prints its statistics. A Ctrl-C at a terminal
    reached it too; a SIGINT sent to simlib alone did not, so it is passed on if Locust is still
    running after a moment; a second Ctrl-C (or a Locust that does not stop) ends it at once."""
    try:
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
