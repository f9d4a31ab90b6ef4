"""The embedded default: a local receiver plus a demo webhook pointing at it.

``start_demo(sim)`` is what ``simlib demo`` and the explorer use so that a new user can press
Send with no configuration at all.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one claim at a time is not enforced
    fcntl = None  # type: ignore[assignment]

from simlib.core.delivery.netpolicy import AddressPolicy, get_policy
from simlib.core.events import event_names
from simlib.errors import NotFoundError, SimlibError
from simlib.receiver import DEFAULT_PATH, Receiver
from simlib.records import Webhook
from simlib.simulator import Simulator

__all__ = [
    "DEMO_WEBHOOK_ID", "DEMO_WEBHOOK_NAME", "allow_receiver", "ensure_demo_webhook", "is_demo_webhook", "release_demo_webhook",
    "start_demo",
]

DEMO_WEBHOOK_ID = "demo"
DEMO_WEBHOOK_NAME = "Demo receiver (local)"


def is_demo_webhook(wh: Webhook) -> bool:
    """Whether ``wh`` is a demo webhook simlib made (its name, and a local receiver URL)."""
    return wh.name == DEMO_WEBHOOK_NAME and wh.url.startswith("http://127.0.0.1:") and wh.url.endswith(DEFAULT_PATH)


def ensure_demo_webhook(sim: Simulator, url: str) -> Webhook:
    """Create the demo webhook (id ``demo``, every event) or point the existing one at ``url``.

    A user's own webhook that happens to be called ``demo`` is never touched: the demo webhook
    then gets the id ``demo-2`` (or the next free one). Neither is a demo webhook that another
    live receiver uses (another Voilà page, a running ``simlib receive --demo``): each receiver
    gets a demo webhook of its own, so that every page sends to the URL its own preview shows.
    One whose receiver is gone (its port refuses) is reused. Processes sharing the store claim
    one at a time (a lock file next to a SQLite store), so that two pages opened at once never
    both take the same one.
    """
    with _claim_lock(sim):
        for n in range(1, 100):
            wid = DEMO_WEBHOOK_ID if n == 1 else f"{DEMO_WEBHOOK_ID}-{n}"
            try:
                wh = sim.get_webhook(wid)
            except NotFoundError:
                return sim.create_webhook(DEMO_WEBHOOK_NAME, url, event_names(), id=wid)
            if not is_demo_webhook(wh):
                continue
            if wh.url != url and _receiver_alive(wh.url):
                continue  # another live receiver's demo webhook
            if wh.url != url:
                wh = sim.update_webhook(wh, url=url)
            return wh
    raise SimlibError("no free id for the demo webhook (demo, demo-2 … demo-99 are all taken)")


def release_demo_webhook(sim: Simulator, webhook_id: str, url: str) -> bool:
    """Delete the demo webhook ``webhook_id`` if it still points at ``url`` (the receiver that
    claimed it is stopping: a closed Voilà page leaves no dead webhook in the others' lists).
    Its history rows stay. True when it was deleted; never raises for a store problem."""
    try:
        with _claim_lock(sim):
            wh = sim.get_webhook(webhook_id)
            if not is_demo_webhook(wh) or wh.url != url:
                return False
            sim.delete_webhook(wh)
            return True
    except (SimlibError, OSError):
        return False


def allow_receiver(sim: Simulator, receiver: Receiver, policy: str | AddressPolicy | None = None) -> None:
    """Let ``sim``'s sends reach ``receiver`` under an address policy that refuses its address
    (``strict``, for a shared server), and nothing beside it: exactly its address and port.
    ``policy`` is the policy to extend (default: the one ``sim`` uses now); pass the original
    one when the receiver changed, so that the previous receiver's allowance goes."""
    base = get_policy(sim.delivery.address_policy if policy is None else policy)
    if base.reason(receiver.host, receiver.port) is None:
        return  # reachable anyway (the local policy)
    allowed = base.allowing_endpoint(receiver.host, receiver.port)
    sim.delivery = sim.delivery.with_(address_policy=allowed)


def _receiver_alive(url: str) -> bool:
    """Whether something accepts connections at the demo URL's port on 127.0.0.1."""
    try:
        port = int(url.split("127.0.0.1:", 1)[1].split("/", 1)[0])
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except (ValueError, IndexError, OSError):
        return False


@contextlib.contextmanager
def _claim_lock(sim: Simulator) -> Iterator[None]:
    """An exclusive lock between the processes that share ``sim``'s store, held while a demo
    webhook is claimed or released (a lock file next to the store; none where there is no
    ``fcntl`` or the store is not a local file)."""
    path = getattr(sim.store, "path", None)
    if fcntl is None or path is None:
        yield
        return
    try:
        # The store opens lazily: its directory may not exist yet when two pages start on a fresh
        # home at once (made as the store makes it, owner-only), and both must take the lock.
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        fd = os.open(f"{path}.demo-lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError:  # a read-only directory: the store itself then says what is wrong
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
    """A ``Receiver.secrets`` provider: the valid secrets of the webhooks ``select`` picks. A
    store that cannot give them (gone, locked, its key rotated away) raises: the receiver then
    refuses the request (503) instead of accepting it unverified; none picked gives [] (401)."""

    def current() -> list[str]:
        return [s.reveal() for wh in sim.list_webhooks() if select(wh) for s in sim.valid_secrets(wh)]

    return current
