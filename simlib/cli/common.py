"""What every command group shares: the parser class and argument types, the delivery, payload
and secret flags, the exit codes, the store check, and the :class:`Context` a handler is called
with."""

from __future__ import annotations

import argparse
import getpass
import inspect
import math
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from simlib import NETWORK_ERROR, DeliveryConfig, SimlibError, SimulationResult, Simulator, ValidationError
from simlib.cli.output import printable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # Ctrl-C

#: ``add(name, help=..., description=...)`` -> the new command's parser (``add_parser`` of the
#: top-level subparsers); each group module's ``add_<command>`` functions take it.
AddCommand = Callable[..., argparse.ArgumentParser]
#: What ``set_defaults(handler=...)`` stores on every command: the one way a command runs.
Handler = Callable[["Context"], int]


class CLIError(SimlibError):
    """A one-line error for stderr (exit 2): a combination of flags that cannot work."""


class Parser(argparse.ArgumentParser):
    """An argument error is one line on stderr and exit 2; the parser keeps it (:attr:`refusal`)
    so that ``main`` can repeat it as JSON under ``--json``."""

    #: The message and the argument named by this parser's error, once it has refused.
    refusal: tuple[str, str | None] | None = None

    def error(self, message: str) -> NoReturn:
        text = one_line(message)
        named = re.match(r"argument ([^:]+): |the following arguments are required: (\S+)$", message)
        self.refusal = (text, (named.group(1) or named.group(2)).split("/")[-1] if named else None)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {text}\n")

    def refusal_found(self) -> tuple[str, str | None] | None:
        """The refusal of this parser or of one of its commands' parsers."""
        if self.refusal is not None:
            return self.refusal
        for action in self._actions:
            if isinstance(action.choices, dict):
                for child in action.choices.values():
                    found = child.refusal_found() if isinstance(child, Parser) else None
                    if found is not None:
                        return found
        return None

    def refuse_undecodable(self, args: argparse.Namespace) -> None:
        """Raise a ValidationError naming the first argument (of this command and the command
        chosen below it) that is not text: a byte that is not UTF-8 in argv (Python keeps it
        as a lone surrogate) or a lone surrogate. File paths (type :func:`path`) may hold any
        byte the file system allows."""
        for action in self._actions:
            value = getattr(args, action.dest, None)
            if isinstance(action.choices, dict) and isinstance(value, str) and value in action.choices:
                child = action.choices[value]  # a command's subparsers: check the chosen one
                if isinstance(child, Parser):
                    child.refuse_undecodable(args)
                continue
            if action.type is path:
                continue
            for item in _strings(value):
                problem = undecodable(item)
                if problem:
                    name = max(action.option_strings, key=len) if action.option_strings else action.dest
                    raise ValidationError(name, problem)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings(item)]
    return []


def undecodable(text: str) -> str | None:
    """Why ``text`` cannot be UTF-8 text (its first lone surrogate), or None."""
    m = re.search("[\ud800-\udfff]", text)
    if m is None:
        return None
    code = ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte that did not decode
        return f"is not valid UTF-8 text (byte 0x{code - 0xDC00:02x} at character {m.start() + 1})"
    return f"is not valid UTF-8 text (a lone surrogate U+{code:04X} at character {m.start() + 1})"


#: The longest error line the CLI prints: an error that echoes a 100 KB argument is cut here.
MAX_ERROR_CHARS = 1000


def one_line(message: object) -> str:
    """An error message as one printable line of at most :data:`MAX_ERROR_CHARS` characters."""
    text = printable(message)
    if len(text) > MAX_ERROR_CHARS:
        text = f"{text[:MAX_ERROR_CHARS]}… ({len(text):,} characters)"
    return text


def echo(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message, cut after ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def json_requested(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (``--json``, an abbreviation of it, or
    ``--format json``): read before parsing, so that an argument error can be JSON too."""
    for i, token in enumerate(argv):
        if token == "--":
            break
        if (len(token) >= 3 and "--json".startswith(token)) or token == "--format=json":
            return True
        if token == "--format" and argv[i + 1 : i + 2] == ["json"]:
            return True
    return False


class Context:
    """What a handler gets: the parsed ``args``, ``out`` and ``err``, and :attr:`sim`, the
    Simulator for ``--store`` and the delivery flags, built on first use and closed by ``main``."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self._sim: Simulator | None = None

    @property
    def json(self) -> bool:
        """``--json`` (or ``history --format json``): stdout carries only JSON, errors included."""
        return bool(getattr(self.args, "json", False)) or getattr(self.args, "format", None) == "json"

    @property
    def sim(self) -> Simulator:
        if self._sim is None:
            self._sim = Simulator(store_location(self.args.store), delivery=delivery_config(self.args))
        return self._sim

    def warn(self, message: str) -> None:
        self.err.write(f"simlib: warning: {one_line(message)}\n")

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()


def library_default(func: Callable[..., object], param: str) -> Any:
    """The default of ``param`` in the library function (or class) a flag feeds, so that the
    CLI never retypes one (``--tolerance-ms`` is ``check_receiver``'s ``tolerance_ms``)."""
    default = inspect.signature(func).parameters[param].default
    if default is inspect.Parameter.empty:
        raise TypeError(f"{func.__qualname__}() has no default for {param!r}")
    return default


# -- the store -----------------------------------------------------------------------------------

def store_location(store: str | None) -> str | None:
    """The store ``--store`` names (a SQLite file or a PostgreSQL URL), else None: the library
    then takes ``$SIMLIB_STORE``, else ``$SIMLIB_HOME``, else the per-user file. The library
    decides what a location is (``simlib.core.store.location``): a URL of an unknown scheme, or a
    URL in ``$SIMLIB_HOME``, is refused there, naming the scheme and host only (the rest may hold
    a password); nothing is created under ``./mysql:/u:pw@host/``. A file whose directory does
    not exist is refused (a mistyped path must not become a new, empty store); the library, given
    a path, makes the directories."""
    if store is not None and "://" not in store:  # a file (a URL is the library's to judge)
        where = Path(store)
        if not where.parent.is_dir():
            raise ValidationError("store", f"the directory {where.parent} does not exist (create it first, or give "
                                  "another --store): nothing was created")
    return store


# -- argument types ---------------------------------------------------------------------------

#: The largest INTEGER SQLite stores: history ids, limits and seeds end there.
INT64_MAX = 2**63 - 1
#: The longest span a time flag takes (a tolerance, a grace period, a probe's range): a year.
YEAR_SECONDS = 365 * 86_400
YEAR_MS = YEAR_SECONDS * 1000


def path(text: str) -> str:
    """A file path: any bytes the file system allows (so exempt from the UTF-8 check)."""
    return text


def boolean(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {echo(text)}")


class WholeNumber:
    """An integer argument from ``low`` to ``high``: a huge number is a one-line error, not an
    overflow deep in SQLite or asyncio. ``what`` names it in the message (``a port``)."""

    def __init__(self, low: int, high: int, *, what: str = "") -> None:
        self.low, self.high, self.what = low, high, what
        self.__name__ = f"whole number from {low} to {high}"  # argparse names a type by it

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            if not re.fullmatch(r"\s*[+-]?[0-9][0-9_]*\s*", text):
                raise argparse.ArgumentTypeError(f"expected a whole number, not {echo(text)}") from None
            value = self.low - 1 if text.strip().startswith("-") else self.high + 1  # over Python's 4300 digits
        if value < self.low:
            raise argparse.ArgumentTypeError("must be 0 or more" if self.low == 0 else f"must be at least {self.low}")
        if value > self.high:
            raise argparse.ArgumentTypeError(f"{self.what} is at most {self.high}" if self.what else f"must be at most {self.high}")
        return value


class PositiveNumber:
    """A finite number greater than 0 and at most ``high`` (NaN, infinity and 1e999 refused)."""

    def __init__(self, high: float, *, unit: str = "seconds") -> None:
        self.low, self.high, self.unit = 0, high, unit
        self.__name__ = f"number of {unit}"

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of {self.unit}, not {echo(text)}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number of {self.unit}, not {echo(text)}")
        if value <= 0:
            raise argparse.ArgumentTypeError("must be greater than 0")
        if value > self.high:
            raise argparse.ArgumentTypeError(f"must be at most {self.high:.15g} {self.unit}")
        return value


#: Seconds: finite and > 0; the library refuses what is over its own limit (DeliveryConfig: an
#: hour), a year is where a CLI number stops being a mistake.
positive_float = PositiveNumber(YEAR_SECONDS)
#: Whole numbers that SQLite can store: seeds, history ids, --limit, --max-response-bytes (the
#: library has its own, smaller limit for that one).
nonneg_int = WholeNumber(0, INT64_MAX)
#: Milliseconds of a timestamp window: up to a year.
milliseconds = WholeNumber(0, YEAR_MS)
port = WholeNumber(0, 65535, what="a port")
http_status = WholeNumber(100, 599, what="an HTTP status")


# -- flags several commands share -------------------------------------------------------------

#: The delivery flags, named as the DeliveryConfig fields they set; a flag left out keeps the
#: field's default.
DELIVERY_FIELDS = ("connect_timeout", "read_timeout", "deadline", "max_response_bytes", "ca_bundle")


#: The delivery timeouts: the library's own limit (DeliveryConfig: an hour), so a value over it is
#: refused in the same words whatever its size.
delivery_seconds = PositiveNumber(DeliveryConfig.max_seconds)


def delivery_flags(sp: argparse.ArgumentParser) -> None:
    g = sp.add_argument_group("delivery")
    at_most = f"(over 0, at most {DeliveryConfig.max_seconds:g} s)"
    g.add_argument("--connect-timeout", type=delivery_seconds, metavar="S", help=f"to connect {at_most}")
    g.add_argument("--read-timeout", type=delivery_seconds, metavar="S", help=f"between bytes of the answer {at_most}")
    g.add_argument("--deadline", type=delivery_seconds, metavar="S", help=f"total time for one attempt {at_most}")
    g.add_argument("--max-response-bytes", type=nonneg_int, metavar="N")
    g.add_argument("--ca-bundle", type=path, metavar="PEM", help="extra CA certificates to trust")
    g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (recorded)")


def delivery_config(args: argparse.Namespace) -> DeliveryConfig:
    """The DeliveryConfig the delivery flags ask for (a command without them: the defaults)."""
    changes: dict[str, Any] = {}
    for name in DELIVERY_FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    if getattr(args, "insecure", False):
        changes["verify_tls"] = False
    return DeliveryConfig(**changes)


def payload_flags(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("id", help="webhook id")
    sp.add_argument("event", help="event type")
    sp.add_argument("--seed", type=nonneg_int, help="reproducible payload")
    sp.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a field")
    sp.add_argument("--work-mode", type=boolean, metavar="true|false", help="activity event: Work/Privacy Mode")


def event_options(args: argparse.Namespace) -> dict[str, Any]:
    """The event type's options the payload flags set (``--work-mode``)."""
    return {} if args.work_mode is None else {"work_mode": args.work_mode}


def exit_code(r: SimulationResult, *also: SimulationResult | None) -> int:
    """0 Delivered; 1 Failed (a non-2xx answer, or a network error); 2 a simulation error, or
    an attempt (``r`` or one of ``also``, the command's other sends) the history could not take:
    an unrecorded attempt is never a success, even when it was delivered."""
    if not all(x.recorded for x in (r, *also) if x is not None):
        return EXIT_ERROR
    if r.delivered:
        return EXIT_OK
    if r.error and r.error != NETWORK_ERROR:
        return EXIT_ERROR
    return EXIT_FAILED


# -- secrets -------------------------------------------------------------------------------------

#: The most a secret file (or stdin) may hold: a secret is 43 characters; this is a wrong file.
SECRET_FILE_MAX_BYTES = 64 * 1024
#: Said next to every ``--secret VALUE``: where the value can be read.
SECRET_VISIBLE = "visible to every local user in the process list (/proc/PID/cmdline)"


def secret_flags(sp: argparse.ArgumentParser | Any, *, what: str, several: bool = False, fallback: str = "") -> None:
    """``--secret VALUE`` (``-``: read stdin), ``--secret-file FILE`` and ``--secret-env VAR``.

    ``sp`` is a parser or a mutually exclusive group (one secret: at most one of the three);
    ``several``: each flag may be repeated, and a file, stdin or variable holds one secret per
    line (``simlib receive``). ``fallback`` says where secrets come from when none is given.
    Read them with :func:`read_secret` / :func:`read_secrets`.
    """
    visible = f"A value given here is {SECRET_VISIBLE}: prefer '-', --secret-file or --secret-env."
    if several:
        sp.add_argument("--secret", action="append", default=[], metavar="S",
                        help=f"{what} (repeatable), or '-' to read them from stdin, one per line. {visible} {fallback}".rstrip())
        sp.add_argument("--secret-file", action="append", default=[], type=path, metavar="FILE",
                        help="read them from FILE, one per line (repeatable; keep the file chmod 600)")
        sp.add_argument("--secret-env", action="append", default=[], metavar="VAR",
                        help="read them from the environment variable VAR, one per line (repeatable)")
    else:
        sp.add_argument("--secret", metavar="S", help=f"{what}, or '-' to read it from stdin. {visible} {fallback}".rstrip())
        sp.add_argument("--secret-file", type=path, metavar="FILE",
                        help="read it from FILE (one trailing newline is dropped; keep the file chmod 600)")
        sp.add_argument("--secret-env", metavar="VAR", help="read it from the environment variable VAR (e.g. SIMLIB_SECRET)")


def read_secret(ctx: Context) -> str | None:
    """The one secret the secret flags give (None: none given). A file, stdin or variable must
    hold exactly one line; the library validates the secret itself."""
    a = ctx.args
    for flag, value in (("--secret", a.secret), ("--secret-file", a.secret_file), ("--secret-env", a.secret_env)):
        if value is None:
            continue
        if flag == "--secret" and value != "-":
            return str(value)
        text = _secret_text(ctx, flag, value)
        if "\n" in text:
            raise ValidationError(flag, f"{_source(flag, value)} holds {text.count(chr(10)) + 1} lines: give one secret")
        return text
    return None


def read_secrets(ctx: Context, *, env_default: str | None = None) -> list[str]:
    """Every secret the (repeatable) secret flags give, in order; a file, stdin or variable
    holds one per line (empty lines skipped). Without any flag: the lines of ``env_default``."""
    a = ctx.args
    found: list[str] = []
    given = [("--secret", v) for v in a.secret] + [("--secret-file", v) for v in a.secret_file]
    given += [("--secret-env", v) for v in a.secret_env]
    if not given and env_default and os.environ.get(env_default):
        given = [("env", env_default)]
    if sum(1 for flag, v in given if flag == "--secret" and v == "-") > 1:
        raise CLIError("--secret - reads stdin, which can be read once: give it once (one secret per line)")
    for flag, value in given:
        if flag == "--secret" and value != "-":
            found.append(value)
            continue
        lines = [s.removesuffix("\r") for s in _secret_text(ctx, flag, value).split("\n")]
        secrets = [s for s in lines if s]
        if not secrets:
            raise ValidationError(_field(flag, value), f"{_source(flag, value)} holds no secret")
        found += secrets
    return found


def _field(flag: str, value: str) -> str:
    return value if flag == "env" else flag


def _source(flag: str, value: str) -> str:
    if flag == "--secret":
        return "stdin"
    if flag == "--secret-file":
        return printable(value)
    return f"${printable(value)}"


def _secret_text(ctx: Context, flag: str, value: str) -> str:
    """The text of a secret source (stdin, a file, an environment variable), one trailing line
    break dropped."""
    field = _field(flag, value)
    if flag == "--secret":
        data = _read_stdin(field)
    elif flag == "--secret-file":
        data = _read_secret_file(ctx, value)
    else:
        if not value:
            raise ValidationError(flag, "give the name of an environment variable")
        if value not in os.environ:
            raise ValidationError(field, f"the environment variable {printable(value)} is not set")
        data = os.environ[value].encode("utf-8", "surrogateescape")  # the variable's bytes
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(field, f"{_source(flag, value)} is not valid UTF-8 text (byte {exc.start + 1})") from None
    return text.removesuffix("\n").removesuffix("\r")


def _read_stdin(field: str) -> bytes:
    stdin = sys.stdin
    if stdin is None or stdin.closed:
        raise ValidationError(field, "'-' reads the secret from stdin, but there is no stdin")
    if stdin.isatty():  # typed at the terminal: not echoed
        return getpass.getpass("secret: ").encode("utf-8", "surrogateescape")
    data = stdin.buffer.read(SECRET_FILE_MAX_BYTES + 1)
    if len(data) > SECRET_FILE_MAX_BYTES:
        raise ValidationError(field, f"stdin holds more than {SECRET_FILE_MAX_BYTES} bytes: not a secret")
    return data


def read_secret_file(ctx: Context, name: str, flag: str = "--secret-file", max_bytes: int = SECRET_FILE_MAX_BYTES) -> bytes:
    """The bytes of a file holding secrets (at most ``max_bytes``); a warning when others can read it."""
    return _read_secret_file(ctx, name, flag, max_bytes)


def _read_secret_file(
    ctx: Context, name: str, flag: str = "--secret-file", max_bytes: int = SECRET_FILE_MAX_BYTES
) -> bytes:
    shown = printable(name)
    try:
        with open(name, "rb") as f:
            info = os.fstat(f.fileno())
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ValidationError(flag, f"cannot read {shown}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ValidationError(flag, f"{shown} is larger than {max_bytes} bytes: not a secret file")
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        # A warning, not a refusal: secrets mounted by Kubernetes or Docker are often 0644 in a
        # directory only the owner can enter.
        ctx.warn(f"{shown} can be read by other users (mode {stat.S_IMODE(info.st_mode):04o}): chmod 600 {shown}")
    return data
