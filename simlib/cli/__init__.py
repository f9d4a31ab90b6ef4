"""The ``simlib`` command line. Built only on what :mod:`simlib` exports (Simulator, Receiver,
start_demo, ...), one module per command group.

Exit codes: 0 success (for ``send``: Delivered); 1 ``send`` Failed (the endpoint answered non-2xx
or could not be reached); 2 a simulation error (Webhook not found, Event type not registered,
Service unavailable, Simulation failed) or bad input. Errors are one line on stderr; with
``--json`` stdout carries only JSON, and an error is also a JSON object there:
``{"error": "...", "field": "--limit" or null, "exit_code": 2}``. Ctrl-C exits 130. When the
reader of stdout goes away (``simlib history | head``) the rest of the output is dropped
silently: the command's own exit code if it had finished, else 1. Nothing from outside reaches
the terminal raw: control and bidi characters are escaped (:func:`simlib.cli.output.printable`).

The modules: :mod:`~simlib.cli.common` (the parser class, argument types, shared flags, exit codes,
the :class:`~simlib.cli.common.Context` handlers get) and :mod:`~simlib.cli.output` (JSON, tables,
a result's lines); then the groups, each declaring its commands next to their handlers --
:mod:`~simlib.cli.webhooks` (webhooks, events), :mod:`~simlib.cli.send` (preview, send, burst), :mod:`~simlib.cli.load` (load, on Locust),
:mod:`~simlib.cli.history`, :mod:`~simlib.cli.receive` (receive, demo),
:mod:`~simlib.cli.conformance` (check, probe), :mod:`~simlib.cli.support` (explain, replay,
import, curl, snippets) and :mod:`~simlib.cli.store` (info, rotate-key). Every command stores its handler with ``set_defaults(handler=...)``;
:func:`main` calls it: the one dispatch.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from simlib import PluginWarning, SimlibError, __version__
from simlib.cli import conformance, history, load, orgs, receive, send, store, support, webhooks
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
    json_requested,
    one_line,
    path,
)
from simlib.cli.output import json_line, printable_stream

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
    load.add_load,
    conformance.add_check,
    conformance.add_probe,
    support.add_explain,
    support.add_replay,
    support.add_import,
    support.add_curl,
    support.add_snippets,
    receive.add_demo,
    orgs.add_orgs,
    store.add_store,
)


def build_parser() -> Parser:
    p = Parser(prog="simlib", description="Send real, signed Trackpilots webhook simulations.")
    p.add_argument("--version", action="version", version=f"simlib {__version__}")
    p.add_argument("--store", type=path, metavar="PATH|URL",
                   help="store: a SQLite file, or a shared PostgreSQL store (postgresql+psycopg://user@host/db; "
                   "give the password in PGPASSWORD or ~/.pgpass, not here); default: $SIMLIB_STORE, "
                   "$SIMLIB_HOME or the per-user data dir")
    commands = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for add_command in COMMANDS:
        add_command(commands.add_parser)
    return p


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = printable_stream(stdout or sys.stdout)
    err = printable_stream(stderr or sys.stderr)
    argv, passed_on = load.split_locust_args(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if passed_on:
            args.locust_args = passed_on
    except SystemExit:  # an argument error (its line is on stderr), --help or --version
        refusal = parser.refusal_found()
        if refusal is not None and json_requested(argv):  # under --json, stdout says it too
            _json_error(*refusal, EXIT_ERROR, out)
        raise
    ctx = Context(args, out, err)
    code: int | None = None
    try:
        try:
            parser.refuse_undecodable(args)
            handler: Handler = args.handler
            with warnings.catch_warnings():  # a broken event-type plugin: one warning line
                warnings.simplefilter("always", PluginWarning)
                warnings.showwarning = _plugin_warnings_to(ctx, warnings.showwarning)
                code = handler(ctx)
        finally:
            ctx.close()
        out.flush()  # a reader that went away (``simlib ... | head``) shows here, not at exit
        return code
    except BrokenPipeError:
        _discard_output(out)
        return EXIT_FAILED if code is None else code
    except (SimlibError, OSError) as exc:  # CLIError is a SimlibError
        return _error(ctx, str(exc), getattr(exc, "field", None))
    except RecursionError:
        # The last resort for input nested too deeply for Python (JSON in --set, a capture, a
        # body): the library should have refused it with a ValidationError first.
        return _error(ctx, "the input is nested too deeply to process (Python's recursion limit was reached)", None)
    except KeyboardInterrupt:  # one line, as a burst says it (simlib.cli.send): never a silent 130
        ctx.err.write("simlib: interrupted (Ctrl-C): what was recorded stays in the history; an attempt that "
                      "was in flight reads 'interrupted'\n")
        ctx.err.flush()
        return EXIT_INTERRUPTED


def _plugin_warnings_to(ctx: Context, show: Callable[..., None]) -> Callable[..., None]:
    """``warnings.showwarning`` that prints a PluginWarning as ``simlib: warning: ...`` on stderr
    (any other warning as Python would)."""

    def showwarning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, PluginWarning):
            ctx.warn(str(message))
        else:
            show(message, category, *args, **kwargs)

    return showwarning


def _error(ctx: Context, message: str, field: str | None) -> int:
    """One line on stderr; under ``--json`` also a JSON object on stdout (stdout stays JSON)."""
    text = one_line(message)
    ctx.err.write(f"simlib: error: {text}\n")
    if ctx.json:
        try:
            _json_error(text, field, EXIT_ERROR, ctx.out)
        except BrokenPipeError:
            _discard_output(ctx.out)
    return EXIT_ERROR


def _json_error(message: str, field: str | None, code: int, out: TextIO) -> None:
    json_line({"error": message, "field": field, "exit_code": code}, out)


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
