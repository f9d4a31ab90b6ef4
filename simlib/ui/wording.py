"""How the result panel words an attempt: what its simulation error means, and the detail line
without what the page must not show or would only repeat. Pure functions.

- A read timeout is a timeout *after connecting*, not an unreachable endpoint.
- A cancelled attempt is the user's doing, not "an unexpected error" of the endpoint.
- "Service unavailable" is the store: the page says so without the server's file path (which
  stays in ``result.detail`` for Python, and in ``explorer.last_result``).
- A delivered attempt's detail repeats its status ("Delivered: 200 OK"): only what it adds
  (a decoding note, TLS verification off) is shown.
"""

from __future__ import annotations

from simlib import (
    CANCELLED,
    EVENT_NOT_REGISTERED,
    NETWORK_ERROR,
    SERVICE_UNAVAILABLE,
    SIMULATION_FAILED,
    WEBHOOK_NOT_FOUND,
    SimulationResult,
)

__all__ = ["ERROR_MEANING", "STORE_UNAVAILABLE", "error_meaning", "shown_detail"]

#: What each simulation error means, from the Trackpilots error reference.
ERROR_MEANING = {
    WEBHOOK_NOT_FOUND: "The webhook was deleted after selection.",
    EVENT_NOT_REGISTERED: "The selected event is not in this webhook's subscribed events.",
    SERVICE_UNAVAILABLE: "The simulation service is temporarily down: retry in a moment.",
    NETWORK_ERROR: "Your endpoint is unreachable.",
    SIMULATION_FAILED: "Unexpected error: check your endpoint logs.",
}
TIMED_OUT = "Your endpoint accepted the connection but did not answer in time (a timeout after connecting)."
STORE_UNAVAILABLE = "the store is unavailable"
CANCELLED_MEANING = "You cancelled this attempt: it is kept in the history as failed, with how far it got."
# What the engine appends to the detail of an attempt the store could not take; the result
# panel's History row says it instead, without the store's path.
_NOT_RECORDED = " (not recorded in history"


def connected_timeout(result: SimulationResult) -> bool:
    """A network error that is a timeout once connected (reading the answer, or the deadline
    while waiting for it), as opposed to no connection at all."""
    detail = result.detail
    return (
        result.error == NETWORK_ERROR
        and detail.startswith("timeout:")
        and ("connected" in detail or "response" in detail)  # not "could not connect to …"
    )


def error_meaning(result: SimulationResult) -> str:
    """The one line under the simulation error."""
    if connected_timeout(result):
        return TIMED_OUT
    if result.detail.startswith(CANCELLED):
        return CANCELLED_MEANING
    return ERROR_MEANING.get(result.error or "", "")


def shown_detail(result: SimulationResult) -> str:
    """The detail as the page shows it: no store path, no repeated status."""
    if result.error == SERVICE_UNAVAILABLE:
        return STORE_UNAVAILABLE
    detail = result.detail
    if not result.recorded:
        detail = detail.split(_NOT_RECORDED, 1)[0]
    if result.delivered and detail.startswith("Delivered: "):
        _status, _sep, rest = detail.partition("; ")
        detail = rest
    return detail
