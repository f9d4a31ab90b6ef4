"""What the panels of one explorer share, and the rule that no handler raises into the kernel.

A :class:`Session` holds the simulator, the notice line at the top of the explorer, the last
error and the *hold* that stops preview rebuilds while the explorer changes several widgets
itself. :func:`guarded` wraps every widget handler: an exception is kept in
``session.last_error`` and shown in the notice line, never raised (``Button.click`` would
swallow it anyway, and the guide wants a readable reason, not a traceback).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import ipywidgets as w

from simlib import SimlibError, Simulator, StoreError, Webhook, is_demo_webhook
from simlib.ui.blocks import notice
from simlib.ui.theme import RED

__all__ = ["Session", "describe_error", "guarded", "in_voila", "show", "walk"]

#: Where the UI puts what the page does not show (a store's path). A NullHandler, so that with no
#: logging configured nothing reaches the kernel's stderr (which is the page).
log = logging.getLogger("simlib.ui")
log.addHandler(logging.NullHandler())


class Session:
    """The state every panel of one explorer shares.

    Several pages on one server (one store): ``own_demo`` is the id of the demo webhook this
    page claimed (None: it has none), and :meth:`webhooks` then lists every webhook *but* the
    other pages' demo webhooks (the team's own webhooks stay visible to all). ``own_ids`` are the
    history ids of the attempts this page's simulator recorded since the page opened (sends,
    bursts, replays, imports, checks): the History tab's "This page's sends only" filter."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.own_demo: str | None = None
        #: Whether the History tab starts on "This page's sends only" (the explorer sets it).
        self.page_sends_only = False
        self._own_ids: set[int] = set()
        self._own_lock = threading.Lock()  # sends record on worker threads
        self.notice = w.HTML(value="")  # one line under the header: what a handler did or why it could not
        self.last_error: BaseException | None = None
        self.quiet = 0  # > 0 while the explorer itself changes several widgets at once
        #: Run before every handler (every user action): e.g. hide a revealed secret again.
        self.on_action: list[Callable[[], None]] = []

    def join_page(self, demo: Webhook | None, page_sends_only: bool | None) -> None:
        """Be one page among several on a store: ``demo`` is this page's demo webhook (None: it
        has none); ``page_sends_only`` the History box's default (None: on in Voilà); and from
        now on the simulator's record listeners tell this page its attempts."""
        self.own_demo = demo.id if demo is not None else None
        self.page_sends_only = in_voila() if page_sends_only is None else page_sends_only
        self.simulator.record_listeners.append(self.remember)

    def leave_page(self) -> None:
        if self.remember in self.simulator.record_listeners:
            self.simulator.record_listeners.remove(self.remember)

    def remember(self, ids: Sequence[int]) -> None:
        """A record listener: keep ``ids`` as this page's attempts."""
        with self._own_lock:
            self._own_ids.update(ids)

    @property
    def own_ids(self) -> frozenset[int]:
        with self._own_lock:
            return frozenset(self._own_ids)

    def webhooks(self) -> list[Webhook]:
        """The webhooks this page lists: all of the store's, except the demo webhooks of other
        pages when this page has a demo webhook of its own."""
        webhooks = self.simulator.list_webhooks()
        if self.own_demo is None:
            return webhooks
        return [wh for wh in webhooks if wh.id == self.own_demo or not is_demo_webhook(wh)]

    def acted(self) -> None:
        for hook in self.on_action:
            hook()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Suppress preview rebuilds while the explorer changes several widgets itself."""
        self.quiet += 1
        try:
            yield
        finally:
            self.quiet -= 1

    def say(self, message: str, colour: str = RED) -> None:
        self.notice.value = notice(message, colour)

    def report(self, action: str, exc: BaseException) -> None:
        """Keep ``exc`` as the last error and say what could not be done, and why."""
        self.last_error = exc
        try:
            self.say(f"Could not {action}: {describe_error(exc)}")
        except Exception:  # noqa: BLE001 - the last line of defence must not raise itself
            pass


def describe_error(exc: BaseException) -> str:
    """simlib's own errors say what to fix; anything else is named by its type. A store error
    is "the store is unavailable": its message names the server's file, which is not for the
    page (it stays in ``last_error`` and goes to the ``simlib.ui`` logger)."""
    if isinstance(exc, StoreError):
        log.warning("the store is unavailable: %s", exc)
        return "the store is unavailable; retry in a moment"
    if isinstance(exc, SimlibError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def show(widget: Any, visible: bool) -> None:
    widget.layout.display = "" if visible else "none"


def walk(widget: Any) -> Iterable[Any]:
    """``widget`` and every widget inside it."""
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from walk(child)


def in_voila() -> bool:
    """True inside a Voilà app's kernel (Voilà sets ``VOILA_KERNEL_ID``): notebook cells that
    act on the user's behalf, such as a scripted send, skip themselves there."""
    return bool(os.environ.get("VOILA_KERNEL_ID"))


class HasSession(Protocol):
    session: Session


S = TypeVar("S", bound=HasSession)
P = ParamSpec("P")


def guarded(action: str) -> Callable[[Callable[Concatenate[S, P], None]], Callable[Concatenate[S, P], None]]:
    """Run a handler so that no exception escapes: it is kept in ``last_error`` and shown."""

    def deco(method: Callable[Concatenate[S, P], None]) -> Callable[Concatenate[S, P], None]:
        @functools.wraps(method)
        def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> None:
            try:
                self.session.acted()
                method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the explorer shows errors, never tracebacks
                self.session.report(action, exc)

        return wrapper

    return deco
