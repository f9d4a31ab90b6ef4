"""The embedded receiver the explorer offers: one it was given, or one it started itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simlib import Simulator, local_webhook_secrets, start_demo

if TYPE_CHECKING:
    from simlib import Receiver

__all__ = ["LocalReceiver"]


class LocalReceiver:
    """``receiver``: the local receiver the "Use local receiver" button reuses (None until one
    is given or started). One the explorer started is ``owned``: :meth:`stop` stops it, and it
    verifies every webhook aimed at it (the secrets are looked up on each request, so webhooks
    created, edited or rotated later are verified too, not only the demo webhook)."""

    def __init__(self, simulator: Simulator, receiver: Receiver | None = None) -> None:
        self.simulator = simulator
        self.receiver = receiver
        self.owned = False

    def adopt(self, receiver: Receiver) -> None:
        self.receiver, self.owned = receiver, True
        receiver.secrets = local_webhook_secrets(self.simulator, receiver)

    def ensure(self) -> Receiver:
        """The running receiver: started (with the demo webhook aimed at it) if there is none."""
        receiver = self.receiver
        if receiver is None or not receiver.running:
            receiver, _demo = start_demo(self.simulator)
            self.adopt(receiver)
        return receiver

    def stop(self) -> None:
        """Stop the receiver if this explorer started it (one it was given is left running)."""
        if self.owned and self.receiver is not None:
            self.receiver.stop()
