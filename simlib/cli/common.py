"""What every command group shares: the parser class and argument types, the delivery and
payload flags, the exit codes, and the :class:`Context` a handler is called with."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

from simlib import NETWORK_ERROR, DeliveryConfig, SimlibError, SimulationResult, Simulator

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
    """An argument error is one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


class Context:
    """What a handler gets: the parsed ``args``, ``out`` and ``err``, and :attr:`sim`, the
    Simulator for ``--store`` and the delivery flags, built on first use and closed by ``main``."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self._sim: Simulator | None = None

    @property
    def sim(self) -> Simulator:
        if self._sim is None:
            self._sim = Simulator(self.args.store, delivery=delivery_config(self.args))
        return self._sim

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


# -- argument types ---------------------------------------------------------------------------


def boolean(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def port(text: str) -> int:
    value = nonneg_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("a port is at most 65535")
    return value


def http_status(text: str) -> int:
    value = nonneg_int(text)
    if not 100 <= value <= 599:
        raise argparse.ArgumentTypeError("an HTTP status is between 100 and 599")
    return value


# -- flags several commands share -------------------------------------------------------------

#: The delivery flags, named as the DeliveryConfig fields they set; a flag left out keeps the
#: field's default.
DELIVERY_FIELDS = ("connect_timeout", "read_timeout", "deadline", "max_response_bytes", "ca_bundle")


def delivery_flags(sp: argparse.ArgumentParser) -> None:
    g = sp.add_argument_group("delivery")
    g.add_argument("--connect-timeout", type=positive_float, metavar="S")
    g.add_argument("--read-timeout", type=positive_float, metavar="S")
    g.add_argument("--deadline", type=positive_float, metavar="S", help="total time for one attempt")
    g.add_argument("--max-response-bytes", type=nonneg_int, metavar="N")
    g.add_argument("--ca-bundle", metavar="PEM", help="extra CA certificates to trust")
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


def exit_code(r: SimulationResult) -> int:
    """0 Delivered; 1 Failed (a non-2xx answer, or a network error); 2 a simulation error."""
    if r.delivered:
        return EXIT_OK
    if r.error and r.error != NETWORK_ERROR:
        return EXIT_ERROR
    return EXIT_FAILED
