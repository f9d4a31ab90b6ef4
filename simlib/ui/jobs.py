"""Long actions of the workbench on a worker thread, so that the kernel (and every other panel)
stays responsive: the elapsed time ticks while it runs, and a cancel event asks it to stop.

Widget updates from the worker travel as comm messages, which any thread may send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Job"]

T = TypeVar("T")


class Job(Generic[T]):
    """One action at a time: ``start(work, tick=..., done=...)`` runs ``work(cancel)`` on a
    thread; ``tick()`` runs every ``tick_s`` seconds meanwhile, ``done(value, error)`` once at
    the end (after the last tick, on the worker thread). ``cancel()`` sets the event ``work``
    was given: the toolkit stops before its next request."""

    def __init__(self, name: str, *, tick_s: float = 0.25) -> None:
        self.name = name
        self.tick_s = tick_s
        self.cancel_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._active = False  # from start() until just before done() runs
        self._started = self._ended = 0.0

    @property
    def running(self) -> bool:
        return self._active

    @property
    def thread(self) -> threading.Thread | None:
        """The worker thread of the last action (None before the first)."""
        return self._thread

    @property
    def elapsed(self) -> float:
        """Seconds since the action started (until it ended)."""
        if not self._started:
            return 0.0
        return (self._ended or time.monotonic()) - self._started

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def start(
        self,
        work: Callable[[threading.Event], T],
        *,
        tick: Callable[[], None],
        done: Callable[[T | None, BaseException | None], None],
    ) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.cancel_event = cancel = threading.Event()
        self._started, self._ended = time.monotonic(), 0.0
        finished = threading.Event()
        self._active = True

        def ticker() -> None:
            while not finished.wait(self.tick_s):
                try:
                    tick()
                except Exception:  # noqa: BLE001 - a display refresh must not end the ticker's action
                    pass

        def run() -> None:
            value: T | None = None
            error: BaseException | None = None
            ticking = threading.Thread(target=ticker, name=f"{self.name}-tick", daemon=True)
            ticking.start()
            try:
                value = work(cancel)
            except Exception as exc:  # noqa: BLE001 - handed to done(), shown in the panel
                error = exc
            finally:
                self._ended = time.monotonic()
                finished.set()
                ticking.join()
                self._active = False
            done(value, error)

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the action (and its ``done``) to finish; True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True
