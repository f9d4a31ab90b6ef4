"""Many organisations, one URL: N organisations' webhooks, each with its own secret, aimed at one
endpoint that picks the secret by the payload's organisation id (as reseller receivers do).

    run = sim.many_organisations(3, rx.url)         # 3 webhooks, 3 organisation ids, 3 secrets, 3 sends
    run.frame()                                      # webhook_id, organisation_id, result, http_status ...
    rx.org_secrets = sim.organisation_secrets(url=rx.url)   # the table such a receiver holds (read live)

From the command line: ``simlib orgs N URL [--secrets-out FILE]`` and
``simlib receive --org-secrets FILE`` (or ``--org-secrets-from-store``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simlib.core.events import event_names
from simlib.core.ids import new_uuid4
from simlib.errors import ValidationError
from simlib.records import SimulationResult, Webhook

if TYPE_CHECKING:
    import pandas as pd

    from simlib.core.engine import Engine

__all__ = ["MAX_ORGANISATIONS", "ORGS_COLUMNS", "OrgsRun", "many_organisations", "organisation_secrets",
           "read_organisation_secrets", "write_organisation_secrets"]

#: The most organisations one run creates.
MAX_ORGANISATIONS = 1000
ORGS_COLUMNS = ["webhook_id", "name", "organisation_id", "event_type", "result", "http_status", "detail", "history_id"]
ACTIVITY = "desktop.activity_tracking.captured"


@dataclass(frozen=True)
class OrgsRun:
    """What :func:`many_organisations` made and sent: the webhooks (secrets masked) and one
    result per webhook (none when ``send=False``)."""

    url: str
    webhooks: tuple[Webhook, ...]
    results: tuple[SimulationResult, ...]

    @property
    def delivered(self) -> int:
        return sum(r.delivered for r in self.results)

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        by_id = {r.webhook_id: r for r in self.results}
        rows = []
        for wh in self.webhooks:
            r = by_id.get(wh.id)
            rows.append([wh.id, wh.name, wh.organisation_id, r.event_type if r else None, r.result if r else None,
                         r.http_status if r else None, r.detail if r else None, r.history_id if r else None])
        frame = pd.DataFrame(rows, columns=ORGS_COLUMNS)
        frame["http_status"] = frame["http_status"].astype("Int64")
        frame["history_id"] = frame["history_id"].astype("Int64")
        return frame

    def __repr__(self) -> str:
        sent = f", {self.delivered} of {len(self.results)} delivered" if self.results else ", nothing sent"
        return f"OrgsRun({len(self.webhooks)} organisations -> {self.url}{sent})"


def many_organisations(
    sim: Engine,
    n: int,
    url: str,
    *,
    event_type: str = ACTIVITY,
    events: Sequence[str] | None = None,
    name_prefix: str = "Organisation",
    send: bool = True,
    seed: int | None = None,
) -> OrgsRun:
    """Create ``n`` webhooks aimed at ``url``, each with a fresh organisation id (a UUID) and
    its own generated secret, subscribed to ``events`` (default: every event type); then send
    one ``event_type`` simulation from each (``send=False``: only create them). Every send is
    recorded; nothing raises for what the endpoint does."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ORGANISATIONS:
        raise ValidationError("n", f"must be a whole number from 1 to {MAX_ORGANISATIONS}, not {n!r}")
    subscribed = list(events) if events is not None else event_names()
    if event_type not in subscribed:
        raise ValidationError("event_type", f"{event_type} is not among the events the webhooks subscribe to")
    hooks = [
        sim.create_webhook(f"{name_prefix} {i + 1}", url, subscribed, organisation_id=new_uuid4())
        for i in range(n)
    ]
    results: list[SimulationResult] = []
    if send:
        for i, wh in enumerate(hooks):
            results.append(sim.simulate(wh, event_type, seed=None if seed is None else seed + i))
    return OrgsRun(hooks[0].url, tuple(hooks), tuple(results))


def organisation_secrets(sim: Engine, *, url: str | None = None) -> Callable[[], dict[str, list[str]]]:
    """The table a receiver that picks its secret by organisation holds: organisation id ->
    the valid secrets of the webhooks carrying it (aimed at ``url``, if given), read from the
    store on every call (a rotation or a new organisation is seen at once). Give it to
    ``Receiver(org_secrets=...)``; the secrets are never returned as part of anything shown."""

    def table() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for wh in sim.list_webhooks():
            if wh.organisation_id and (url is None or wh.url == url):
                out.setdefault(wh.organisation_id, []).extend(s.reveal() for s in sim.valid_secrets(wh))
        return out

    return table


def write_organisation_secrets(sim: Engine, path: str | os.PathLike[str], *, url: str | None = None) -> Path:
    """Write :func:`organisation_secrets` as a JSON file (``{"org id": ["secret", ...]}``) only
    its owner can read (mode 0600), for ``simlib receive --org-secrets FILE`` or a reseller's
    own receiver. Returns the path."""
    table = organisation_secrets(sim, url=url)()
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        json.dump(table, f, indent=2)
        f.write("\n")
    return target


def read_organisation_secrets(text: str | bytes, *, source: str = "the file") -> dict[str, list[str]]:
    """Parse an organisation-secrets table (``{"org": "secret"}`` or ``{"org": ["s1", "s2"]}``);
    a ValidationError on ``org_secrets`` names what is wrong (never a secret)."""
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        raise ValidationError("org_secrets", f"{source} is not JSON: give {{\"organisation id\": \"secret\", ...}}") from None
    if not isinstance(data, dict) or not data:
        raise ValidationError("org_secrets", f"{source} must be a non-empty JSON object of organisation id -> secret(s)")
    out: dict[str, list[str]] = {}
    for org, value in data.items():
        secrets = [value] if isinstance(value, str) else value
        if not isinstance(secrets, list) or not secrets or not all(isinstance(s, str) and s for s in secrets):
            raise ValidationError("org_secrets", f"{source}: the secret(s) of organisation {org[:60]!r} must be a "
                                                 "non-empty string or list of strings")
        out[org] = list(secrets)
    return out
