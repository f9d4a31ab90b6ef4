"""The embedded default: a local receiver plus a demo webhook pointing at it.

``start_demo(sim)`` is what ``simlib demo`` and the explorer use so that a new user can press
Send with no configuration at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simlib.core.events import event_names
from simlib.errors import NotFoundError, SimlibError
from simlib.receiver import DEFAULT_PATH, Receiver
from simlib.records import Webhook
from simlib.simulator import Simulator

__all__ = ["DEMO_WEBHOOK_ID", "DEMO_WEBHOOK_NAME", "ensure_demo_webhook", "start_demo"]

DEMO_WEBHOOK_ID = "demo"
DEMO_WEBHOOK_NAME = "Demo receiver (local)"


def is_demo_webhook(wh: Webhook) -> bool:
    """Whether ``wh`` is a demo webhook simlib made (its name, and a local receiver URL)."""
    return wh.name == DEMO_WEBHOOK_NAME and wh.url.startswith("http://127.0.0.1:") and wh.url.endswith(DEFAULT_PATH)


def ensure_demo_webhook(sim: Simulator, url: str) -> Webhook:
    """Create the demo webhook (id ``demo``, every event) or point the existing one at ``url``.

    A user's own webhook that happens to be called ``demo`` is never touched: the demo webhook
    then gets the id ``demo-2`` (or the next free one).
    """
    for n in range(1, 100):
        wid = DEMO_WEBHOOK_ID if n == 1 else f"{DEMO_WEBHOOK_ID}-{n}"
        try:
            wh = sim.get_webhook(wid)
        except NotFoundError:
            return sim.create_webhook(DEMO_WEBHOOK_NAME, url, event_names(), id=wid)
        if not is_demo_webhook(wh):
            continue
        if wh.url != url:
            wh = sim.update_webhook(wh, url=url)
        return wh
    raise SimlibError("no free id for the demo webhook (demo, demo-2 … demo-99 are all taken)")


def start_demo(sim: Simulator, *, port: int = 0, **receiver_options: Any) -> tuple[Receiver, Webhook]:
    """Start an embedded receiver on 127.0.0.1 and make the demo webhook target it.

    The receiver verifies with the demo webhook's secrets (current, and previous during a
    rotation grace period). Stop it with ``receiver.stop()``.
    """
    receiver = Receiver(port=port, **receiver_options).start()  # options as Receiver() takes them
    wh = ensure_demo_webhook(sim, receiver.url)
    receiver.secrets = webhook_secrets(sim, wh.id)
    return receiver, wh


def webhook_secrets(sim: Simulator, webhook_id: str = DEMO_WEBHOOK_ID) -> Callable[[], list[str]]:
    """A webhook's valid secrets, read at each request: after ``rotate_secret`` the receiver
    accepts the new secret and, during the grace period, the previous one."""
    return receiver_secrets(sim, lambda wh: wh.id == webhook_id)


def local_webhook_secrets(sim: Simulator, receiver: Receiver) -> Callable[[], list[str]]:
    """The valid secrets of every webhook aimed at ``receiver``, read at each request (webhooks
    created, edited or rotated later are verified too)."""
    base = receiver.base_url + "/"
    return receiver_secrets(sim, lambda wh: wh.url.startswith(base))


def receiver_secrets(sim: Simulator, select: Callable[[Webhook], bool]) -> Callable[[], list[str]]:
    """A ``Receiver.secrets`` provider: the valid secrets of the webhooks ``select`` picks."""

    def current() -> list[str]:
        try:
            return [s.reveal() for wh in sim.list_webhooks() if select(wh) for s in sim.valid_secrets(wh)]
        except SimlibError:
            return []

    return current
