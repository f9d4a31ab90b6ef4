"""The embedded receiver the explorer offers: one it was given, or one it started itself; and the
webhooks made for it with "Use local receiver", found again after a kernel restart.

A webhook made with "Use local receiver" points at ``http://127.0.0.1:<port>/webhooks/trackpilots/local``:
the ``/local`` path is the marker (no schema change; the receiver answers every path alike). The
demo webhook (``demo``, ``demo-2`` … on the receiver's default path) counts as local too. After
a kernel restart such a webhook still names the old port; :meth:`LocalReceiver.stale` finds the
ones nothing listens at any more, and :meth:`LocalReceiver.repoint` aims them at the running one.
"""

from __future__ import annotations

import atexit
import re
import socket
from collections.abc import Callable, Iterable

import ipywidgets as w

from simlib import (
    DEMO_WEBHOOK_ID,
    Receiver,
    Simulator,
    Webhook,
    allow_receiver,
    local_webhook_secrets,
    release_demo_webhook,
)
from simlib.ui.base import Session, guarded, show
from simlib.ui.blocks import notice
from simlib.ui.theme import AMBER, GREEN

__all__ = ["LOCAL_SUFFIX", "LocalReceiver", "StaleNotice", "local_port"]

#: Appended to the receiver's URL for the webhooks "Use local receiver" makes: their marker.
LOCAL_SUFFIX = "/local"
_LOCAL = re.compile(r"^http://127\.0\.0\.1:(\d{1,5})(/webhooks/trackpilots(?:/local(?:[/?].*)?)?)$")


def local_port(wh: Webhook) -> int | None:
    """The port of the local receiver ``wh`` was made for, or None when it is not such a webhook."""
    m = _LOCAL.match(wh.url)
    if m is None:
        return None
    is_demo = wh.id == DEMO_WEBHOOK_ID or wh.id.startswith(DEMO_WEBHOOK_ID + "-")
    return int(m.group(1)) if (m.group(2) != "/webhooks/trackpilots" or is_demo) else None


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port`` (a refused port answers at once)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class LocalReceiver:
    """``receiver``: the local receiver the "Use local receiver" button reuses (None until one
    is given or started). One the explorer started is ``owned``: :meth:`stop` stops it, and it
    verifies every webhook aimed at it (the secrets are looked up on each request, so webhooks
    created, edited or rotated later are verified too, not only the demo webhook)."""

    def __init__(self, simulator: Simulator, receiver: Receiver | None = None) -> None:
        self.simulator = simulator
        self.receiver = receiver
        self.owned = False
        self._policy = simulator.delivery.address_policy  # before any allowance of ours
        #: The demo webhook claimed for the receiver (see :meth:`adopt`), None otherwise.
        self.demo_webhook: Webhook | None = None

    def adopt(self, receiver: Receiver, demo: Webhook | None = None) -> None:
        """Own ``receiver``: verify every webhook aimed at it, and let sends reach it (exactly
        its address and port) even under the strict address policy. ``demo`` is the demo webhook
        claimed for it: :meth:`stop` deletes it, and so does the kernel's exit (a closed Voilà
        page leaves no dead demo webhook in the other pages' lists)."""
        self.receiver, self.owned = receiver, True
        receiver.secrets = local_webhook_secrets(self.simulator, receiver)
        allow_receiver(self.simulator, receiver, self._policy)
        if demo is not None:
            self.demo_webhook = demo
            atexit.register(self.release_demo)

    def release_demo(self) -> None:
        """Delete the claimed demo webhook if it still points at this receiver (its history stays)."""
        wh, self.demo_webhook = self.demo_webhook, None
        if wh is not None:
            atexit.unregister(self.release_demo)
            release_demo_webhook(self.simulator, wh.id, wh.url)

    @property
    def running(self) -> bool:
        return self.receiver is not None and self.receiver.running

    def ensure(self) -> Receiver:
        """The running receiver: restarted on its port if it was stopped, else a new one. No
        webhook is created (the form or the demo does that)."""
        receiver = self.receiver
        if receiver is not None and not receiver.running:
            try:
                receiver.start()  # the same port, so that the webhooks aimed at it keep working
            except OSError:  # the port was taken meanwhile: a new receiver (repoint() follows it)
                receiver = None
        if receiver is None:
            receiver = Receiver().start()
            self.adopt(receiver)
        return receiver

    def webhook_url(self) -> str:
        """The URL "Use local receiver" fills in: the running receiver's, with the local marker."""
        return self.ensure().url + LOCAL_SUFFIX

    def aimed(self, webhooks: Iterable[Webhook]) -> list[Webhook]:
        """The webhooks that point at the running receiver."""
        if not self.running:
            return []
        assert self.receiver is not None
        base = self.receiver.base_url + "/"
        return [wh for wh in webhooks if wh.url.startswith(base)]

    def stale(self, webhooks: Iterable[Webhook]) -> list[Webhook]:
        """Local webhooks whose receiver is gone: nothing listens at their port any more (another
        page's live receiver is left alone)."""
        mine = self.receiver.port if self.running and self.receiver is not None else None
        ports: dict[int, bool] = {}
        out = []
        for wh in webhooks:
            port = local_port(wh)
            if port is None or port == mine:
                continue
            if port not in ports:
                ports[port] = listening(port)
            if not ports[port]:
                out.append(wh)
        return out

    def repoint(self, webhooks: Iterable[Webhook]) -> list[Webhook]:
        """Aim ``webhooks`` at the running receiver (started if needed), keeping their paths."""
        receiver = self.ensure()
        out = []
        for wh in webhooks:
            m = _LOCAL.match(wh.url)
            if m is not None:
                out.append(self.simulator.update_webhook(wh, url=receiver.base_url + m.group(2)))
        return out

    def stop(self) -> None:
        """Stop the receiver if this explorer started it (one it was given is left running), and
        release its demo webhook."""
        if self.owned and self.receiver is not None:
            self.receiver.stop()
        self.release_demo()


class StaleNotice:
    """Under the webhook list: the local webhooks whose receiver is gone (the kernel restarted),
    with a one-click fix that aims them at the running local receiver (started if needed).
    ``on_change(select)`` runs after the fix (the webhook list reloads)."""

    def __init__(self, session: Session, local: LocalReceiver, *, on_change: Callable[[str | None], None]) -> None:
        self.session, self.local, self.on_change = session, local, on_change
        self.stale: list[Webhook] = []
        self.html = w.HTML(value="")
        self.fix = w.Button(description="Point them at this page's local receiver", icon="plug",
                            button_style="warning", layout=w.Layout(width="auto"))
        self.box = w.HBox([self.html, self.fix], layout=w.Layout(align_items="center", flex_flow="row wrap"))
        show(self.box, False)
        self.fix.on_click(self._on_fix_click)

    def check(self, webhooks: list[Webhook]) -> None:
        self.stale = self.local.stale(webhooks)
        ports = sorted({port for wh in self.stale if (port := local_port(wh)) is not None})
        names = ", ".join(f"'{wh.name}'" for wh in self.stale)
        self.html.value = notice(
            f"{names} {'points' if len(self.stale) == 1 else 'point'} at a local receiver that is no longer running "
            f"(127.0.0.1:{', '.join(map(str, ports))}; the kernel was restarted?): sends to "
            f"{'it' if len(self.stale) == 1 else 'them'} fail with “Network error”.",
            AMBER,
        ) if self.stale else ""
        show(self.box, bool(self.stale))

    @guarded("re-point the local webhooks")
    def _on_fix_click(self, _button: w.Button | None = None) -> None:
        fixed = self.local.repoint(self.stale)
        if fixed:
            where = fixed[0].url.split("/webhooks/", 1)[0]
            self.session.say(f"Re-pointed {', '.join(wh.name for wh in fixed)} to the local receiver at {where}.", GREEN)
        self.on_change(fixed[0].id if len(fixed) == 1 else None)
