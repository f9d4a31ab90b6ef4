"""The ``simlib`` command line. Built only on what :mod:`simlib` exports (Simulator, Receiver,
start_demo, ...), one module per command group.

Exit codes: 0 success (for ``send``: Delivered); 1 ``send`` Failed (the endpoint answered non-2xx
or could not be reached); 2 a simulation error (Webhook not found, Event type not registered,
Service unavailable, Simulation failed) or bad input. Errors are one line on stderr. Ctrl-C exits
130. When the reader of stdout goes away (``simlib history | head``) the rest of the output is
dropped silently: the command's own exit code if it had finished, else 1.

The modules: :mod:`~simlib.cli.common` (the parser class, argument types, shared flags, exit codes,
the :class:`~simlib.cli.common.Context` handlers get) and :mod:`~simlib.cli.output` (JSON, tables,
a result's lines); then the groups, each declaring its commands next to their handlers --
:mod:`~simlib.cli.webhooks` (webhooks, events), :mod:`~simlib.cli.send` (preview, send, burst),
:mod:`~simlib.cli.history`, :mod:`~simlib.cli.receive` (receive, demo),
:mod:`~simlib.cli.conformance` (check, probe) and :mod:`~simlib.cli.support` (explain, replay,
import, curl, snippets). Every command stores its handler with ``set_defaults(handler=...)``;
:func:`main` calls it: the one dispatch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from simlib import SimlibError, __version__
from simlib.cli import conformance, history, receive, send, support, webhooks
from simlib.cli.common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    AddCommand,
    CLIError,
    Context,
    Handler,
    Parser,
)

__all__ = ["EXIT_ERROR", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "CLIError", "build_parser", "main"]

#: Every command, in the order ``simlib --help`` lists them.
COMMANDS: tuple[Callable[[AddCommand], None], ...] = (
    webhooks.add_webhooks,
    webhooks.add_events,
    send.add_preview,
    send.add_send,
    history.add_history,
    receive.add_receive,
    send.add_burst,
    conformance.add_check,
    conformance.add_probe,
    support.add_explain,
    support.add_replay,
    support.add_import,
    support.add_curl,
    support.add_snippets,
    receive.add_demo,
)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="simlib", description="Send real, signed Trackpilots webhook simulations.")
    p.add_argument("--version", action="version", version=f"simlib {__version__}")
    p.add_argument("--store", metavar="PATH", help="store file (default: $SIMLIB_HOME or the per-user data dir)")
    commands = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for add_command in COMMANDS:
        add_command(commands.add_parser)
    return p


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    ctx = Context(args, out, err)
    code: int | None = None
    try:
        try:
            code = handler(ctx)
        finally:
            ctx.close()
        out.flush()  # a reader that went away (``simlib ... | head``) shows here, not at exit
        return code
    except BrokenPipeError:
        _discard_output(out)
        return EXIT_FAILED if code is None else code
    except (SimlibError, OSError) as exc:  # CLIError is a SimlibError
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
