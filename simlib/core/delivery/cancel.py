"""A send its caller can cancel in any phase: resolving, connecting, TLS, waiting, reading.

:func:`deliver_cancellable` runs :func:`~simlib.core.delivery.http.deliver` on a thread of its
own, with the cancel event on its deadline: once the event is set, the deadline's watchdog shuts
down the connection in use (TLS, waiting for the answer, reading it), which ends the request
within its poll interval, and the outcome says how far it had got. A request still resolving
or connecting has no connection to shut down; it is left to end by itself on its thread (its
deadline bounds it, and a connection made after the cancel is shut down before anything is
written on it), and the caller gets the outcome "cancelled before the connection was made
(nothing was sent)" once :data:`CANCEL_GRACE_S` has passed. Which of the two it is comes from
the request's own trace (a connection made, or a request head started on a reused one), not
from the clock: a request that was connected is waited for even past the grace (a stalled
machine can hold the watchdog longer), so a send that may have gone out is never said to be
unsent. Costs one thread per send; only sends given a cancel event use it.
"""

from __future__ import annotations

import threading
from typing import Any

from simlib.core.delivery.http import DeliveryConfig, Outcome, Sender, SendPhase, deliver
from simlib.records import CANCELLED_BEFORE_CONNECT, SIMULATION_FAILED

__all__ = ["CANCEL_GRACE_S", "deliver_cancellable"]

#: How long a cancelled request may take to end by itself (the watchdog polls every 0.1 s)
#: before it counts as stuck before connecting.
CANCEL_GRACE_S = 0.5
_POLL_S = 0.02


def deliver_cancellable(
    client: Sender, url: str, body: bytes, headers: dict[str, str], config: DeliveryConfig, cancel: threading.Event
) -> Outcome:
    """:func:`deliver`, ended within a second of ``cancel`` being set, whatever its phase."""
    box: dict[str, Any] = {}
    done = threading.Event()
    phase = SendPhase()

    def run() -> None:
        try:
            box["outcome"] = deliver(client, url, body, headers, config, cancel=cancel, phase=phase)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="simlib-send", daemon=True).start()
    while not done.wait(_POLL_S):
        if cancel.is_set():
            if not done.wait(CANCEL_GRACE_S):
                if not phase.connected:
                    # Still resolving or connecting: nothing was written (a connection made from
                    # now on is shut down before anything is); the thread ends on its own.
                    return Outcome(error=SIMULATION_FAILED, detail=CANCELLED_BEFORE_CONNECT)
                # Connected: its connection is being shut down; its own outcome says how far it
                # got (its deadline bounds the wait).
                if not done.wait(config.deadline + CANCEL_GRACE_S):  # pragma: no cover - the watchdog ends it
                    return phase.cancelled()
            break
    if "error" in box:
        raise box["error"]
    outcome: Outcome = box["outcome"]
    return outcome
