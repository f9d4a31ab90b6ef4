"""The embedded default: a local receiver plus a demo webhook pointing at it.

``start_demo(sim)`` is what ``simlib demo`` and the explorer use so that a new user can press
Send with no configuration at all.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import NotFoundError, SimlibError
from .events import event_names
from .receiver import Receiver
from .records import Webhook
from .simulator import Simulator

__all__ = ["DEMO_WEBHOOK_ID", "DEMO_WEBHOOK_NAME", "ensure_demo_webhook", "start_demo"]

DEMO_WEBHOOK_ID = "demo"
DEMO_WEBHOOK_NAME = "Demo receiver (local)"


def ensure_demo_webhook(sim: Simulator, url: str) -> Webhook:
    """Create the demo webhook (id ``demo``, every event) or point the existing one at ``url``."""
    try:
        wh = sim.get_webhook(DEMO_WEBHOOK_ID)
    except NotFoundError:
        return sim.create_webhook(DEMO_WEBHOOK_NAME, url, event_names(), id=DEMO_WEBHOOK_ID)
    if wh.url != url:
        wh = sim.update_webhook(wh, url=url)
    return wh


def start_demo(sim: Simulator, *, port: int = 0, **receiver_options: object) -> tuple[Receiver, Webhook]:
    """Start an embedded receiver on 127.0.0.1 and make the demo webhook target it.

    The receiver verifies with the demo webhook's secrets (current, and previous during a
    rotation grace period). Stop it with ``receiver.stop()``.
    """
    receiver = Receiver(port=port, **receiver_options).start()  # type: ignore[arg-type]
    wh = ensure_demo_webhook(sim, receiver.url)
    receiver.secrets = demo_secrets(sim)
    return receiver, wh


def demo_secrets(sim: Simulator) -> Callable[[], list[str]]:
    """The demo webhook's valid secrets, read at each request: after ``rotate_secret`` the
    receiver accepts the new secret and, during the grace period, the previous one."""

    def current() -> list[str]:
        try:
            return [s.reveal() for s in sim.valid_secrets(DEMO_WEBHOOK_ID)]
        except SimlibError:
            return []

    return current
