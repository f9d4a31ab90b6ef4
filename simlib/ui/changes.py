"""Someone else changed the webhook on this page's screen (another page, a notebook, the CLI):
how the edit form and Send say so. An edit is saved only over the version the form opened on
(``update_webhook(..., expected_updated_ms=...)``); a send goes only to the URL its preview
showed. Both refuse and say what changed; nothing typed is lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simlib import NotFoundError, SimlibError, Webhook

if TYPE_CHECKING:
    from simlib import Preview
    from simlib.ui.base import Session

__all__ = ["changed_fields", "lost_edit", "moved"]

ELSEWHERE = "another page, a notebook or the CLI"


def changed_fields(before: Webhook, now: Webhook) -> list[str]:
    """The webhook's fields (as the form names them) that differ between two versions of it;
    a secret only by whether it changed (never its value)."""
    pairs = [
        ("name", before.name, now.name), ("URL", before.url, now.url), ("events", before.events, now.events),
        ("secret", before.secret, now.secret), ("organisation id", before.organisation_id, now.organisation_id),
    ]
    return [label for label, a, b in pairs if a != b]


def lost_edit(session: Session, before: Webhook | None, editing: str | None, exc: SimlibError) -> str:
    """What the form says when the webhook being edited was changed or deleted by someone else
    since it opened: nothing was saved, what changed, and how to go on."""
    name = before.name if before is not None else str(editing)
    if isinstance(exc, NotFoundError):
        return (f"Nothing was saved: the webhook '{name}' was deleted by someone else ({ELSEWHERE}) "
                "since you opened it. Press Cancel, then Refresh.")
    try:
        now: Webhook | None = session.simulator.get_webhook(str(editing))
    except SimlibError:
        now = None
    changed = changed_fields(before, now) if before is not None and now is not None else []
    what = f" ({', '.join(changed)} changed)" if changed else ""
    return (f"Nothing was saved: the webhook '{name}' was changed by someone else{what} since you opened it. "
            "Press Cancel and Edit again to start from the current version (what you typed is still here).")


def moved(session: Session, preview: Preview, reload: Callable[[], None], say: Callable[[str], None]) -> bool:
    """Whether the webhook's URL changed in the store since ``preview`` was built. Then nothing
    may be sent: ``reload()`` shows the list and the preview as they are now and ``say`` tells
    the user to press again. A deleted webhook, or a store that cannot be read, is left to the
    send itself (it records what happened)."""
    try:
        now = session.simulator.get_webhook(preview.webhook_id)
    except SimlibError:
        return False
    if now.url == preview.url:
        return False
    reload()
    say(f"Nothing was sent: the webhook '{now.name}' was changed by someone else since its preview was built; "
        f"its URL is now {now.url} (it was {preview.url}). The preview shows it now: check it and press again.")
    return True
