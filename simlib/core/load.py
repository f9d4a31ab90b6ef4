"""Load on Locust, without Locust: what a load run sends (:class:`LoadPlan`) and the Locust
command line that runs it.

Importing this module never imports Locust (Locust monkey-patches the whole process through
gevent when it is imported); :mod:`simlib.locust` holds the Locust ``User`` class and reads its
plan through :func:`plan_load`, so ``simlib load`` (which checks the plan before it starts
Locust) and a plain ``locust -f`` run refuse the same mistakes with the same one line.

A plan targets one webhook: by id, read from the store (URL, secret and subscribed events), or
by URL with the secret from the environment variable :data:`SECRET_ENV` -- never from a command
line, where every local user could read it.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from simlib.core import signing
from simlib.core.delivery.http import DeliveryConfig, signed_headers, targets
from simlib.core.engine import Engine
from simlib.core.events import build_payload, event_types, get_event_type
from simlib.core.jsjson import stringify_bytes
from simlib.core.payload import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    Overrides,
    build_preview,
    check_size,
    normalise_overrides,
    serialize,
)
from simlib.core.validation import validate_secret, validate_url
from simlib.errors import SimlibError, ValidationError
from simlib.records import Preview, Secret, Webhook

__all__ = [
    "LOCUSTFILE",
    "RECORD_MODES",
    "SECRET_ENV",
    "LoadPlan",
    "RecordMode",
    "parse_event_weights",
    "plan_load",
]

#: The locustfile ``simlib load`` runs (``locust -f`` it yourself for master/worker runs).
LOCUSTFILE = str(Path(__file__).resolve().parents[1] / "locustfiles" / "simlib_load.py")
#: Where a plan by URL reads its secret (the store gives it for a plan by webhook id).
SECRET_ENV = "SIMLIB_LOAD_SECRET"
RecordMode = Literal["none", "sample", "all"]
RECORD_MODES: tuple[RecordMode, ...] = ("none", "sample", "all")
#: The most event types one run draws from, and the largest weight one may have.
MAX_EVENTS = 100
MAX_WEIGHT = 1_000_000
_WEIGHTED = re.compile(r"\s*([^:\s]+)\s*(?::\s*(\S+)\s*)?")
#: The id a plan by URL gives its (never stored) webhook.
URL_TARGET_ID = "load_url"


def parse_event_weights(value: str | Sequence[str] | None) -> list[tuple[str, float]]:
    """``"app:3,activity:1"`` or ``["EVENT:3", "EVENT"]`` -> ``[(event, weight), ...]``; an event
    without a weight weighs 1. Unknown events and weights that are not finite numbers > 0 are
    refused with a ValidationError on ``events``."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out: list[tuple[str, float]] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationError("events", f"expected EVENT[:WEIGHT] text, not {type(item).__name__}")
        for part in item.split(","):
            if not part.strip():
                continue
            m = _WEIGHTED.fullmatch(part)
            if m is None:
                raise ValidationError("events", f"expected EVENT[:WEIGHT], not {part.strip()[:60]!r}")
            name, raw = m.group(1), m.group(2)
            get_event_type(name)  # unknown -> UnknownEventError (a ValidationError) naming the catalogue
            try:
                weight = 1.0 if raw is None else float(raw)
            except ValueError:
                raise ValidationError("events", f"the weight of {name} must be a number, not {raw[:40]!r}") from None
            if not (0 < weight <= MAX_WEIGHT):  # NaN fails this too
                raise ValidationError("events", f"the weight of {name} must be above 0 and at most {MAX_WEIGHT}, not {raw}")
            if any(name == known for known, _ in out):
                raise ValidationError("events", f"{name} is listed twice")
            out.append((name, weight))
    if len(out) > MAX_EVENTS:
        raise ValidationError("events", f"at most {MAX_EVENTS} event types, not {len(out)}")
    return out


@dataclass(frozen=True)
class LoadPlan:
    """What every simulated user of a load run sends: ``webhook`` (its URL and secret), the event
    types with their weights, the overrides applied to every payload, and the payload seed.

    :meth:`request` builds one fresh payload and signs it at that moment; :meth:`locust_args`
    and :meth:`command` give the Locust command line that runs the plan. The secret is a
    :class:`~simlib.records.Secret` (masked in every repr) and never appears in either.
    """

    webhook: Webhook
    events: tuple[str, ...]
    weights: tuple[float, ...]
    overrides: tuple[tuple[str, Any], ...] = ()
    seed: int | None = None
    record: RecordMode = "none"
    record_every: int = 100
    store: str | None = None
    from_store: bool = True
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)

    @property
    def url(self) -> str:
        return self.webhook.url

    @property
    def host(self) -> str:
        """``scheme://host:port`` of the webhook's URL (Locust's ``--host``)."""
        parts = urlsplit(self.webhook.url)
        return f"{parts.scheme}://{parts.netloc}"

    def rng(self, *stream: object) -> random.Random:
        """The random source of one simulated user: with a seed, reproducible for each
        ``stream`` (the worker and user numbers); without one, from the OS."""
        if self.seed is None:
            return random.Random()
        return random.Random(":".join(map(str, (self.seed, *stream))))

    def draw(self, rng: random.Random) -> str:
        """One event type, drawn by weight."""
        return rng.choices(self.events, self.weights)[0]

    def preview(self, event_type: str, seed: int, now_ms: int | None = None) -> Preview:
        """A fresh payload of ``event_type`` (built from ``seed``), with the overrides, as bytes."""
        return build_preview(
            self.webhook, event_type, seed=seed, now_ms=signing.now_ms() if now_ms is None else now_ms,
            overrides=self.overrides, max_bytes=DEFAULT_MAX_PAYLOAD_BYTES,
            organisation_id=self.webhook.organisation_id,
        )

    def body(self, event_type: str, seed: int, now_ms: int | None = None) -> bytes:
        """The bytes :meth:`preview` would give (same builder, overrides and JSON form), without
        the parts a load request has no use for: its event id, and the walk over the whole
        payload that looks for nesting JSON cannot carry -- :func:`plan_load` built every event
        type once with the full checks and overrides are checked as they are applied. What still
        fails here (a plugin's builder) goes through :func:`serialize`: the same ValidationError."""
        payload = build_payload(
            event_type, seed=seed, now_ms=signing.now_ms() if now_ms is None else now_ms, overrides=self.overrides,
            organisation_id=self.webhook.organisation_id,
        )
        try:
            body = stringify_bytes(payload)
        except (ValueError, TypeError, RecursionError):
            body = serialize(payload)  # raises the ValidationError a preview would
        check_size(body, DEFAULT_MAX_PAYLOAD_BYTES)
        return body

    def headers(self, body: bytes, ts_ms: int | None = None) -> dict[str, str]:
        """The headers of ``body`` signed now (or at ``ts_ms``) with the webhook's secret."""
        return signed_headers(self.webhook.secret, body, signing.now_ms() if ts_ms is None else ts_ms, self.delivery)

    def request(self, rng: random.Random) -> tuple[str, bytes, dict[str, str]]:
        """``(event type, body, headers)`` of one request: drawn, built and signed now."""
        event = self.draw(rng)
        body = self.body(event, rng.getrandbits(48))
        return event, body, self.headers(body)

    def locust_args(self) -> list[str]:
        """The ``--simlib-*`` arguments that make the locustfile build this plan again (in the
        master and in every worker); never the secret, and never the store (a store URL may hold
        a password): that goes in :meth:`environment`."""
        args = ["--simlib-events", ",".join(f"{e}:{w:g}" for e, w in zip(self.events, self.weights, strict=True))]
        args = (["--simlib-webhook", self.webhook.id] if self.from_store else ["--simlib-url", self.webhook.url]) + args
        for path, value in self.overrides:
            args += ["--simlib-set", f"{path}={json.dumps(value, ensure_ascii=False)}"]
        if self.seed is not None:
            args += ["--simlib-seed", str(self.seed)]
        if self.record != "none":
            args += ["--simlib-record", self.record, "--simlib-record-every", str(self.record_every)]
        return args

    def environment(self) -> dict[str, str]:
        """What the Locust process needs in its environment besides :meth:`command`: the store
        (``SIMLIB_LOAD_STORE``), kept off the command line, which every local user can read."""
        return {} if self.store is None else {"SIMLIB_LOAD_STORE": self.store}

    def command(
        self,
        *,
        users: int = 10,
        spawn_rate: float | None = None,
        run_time: str | None = None,
        processes: int | None = None,
        csv: str | None = None,
        extra: Sequence[str] = (),
        python: str = sys.executable,
    ) -> list[str]:
        """``python -m locust -f LOCUSTFILE --headless ...``: Locust's own headless runner, with
        ``processes`` local workers (``--processes``; a master and its workers) and its CSVs."""
        cmd = [python, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--host", self.host,
               "--users", str(users), "--spawn-rate", f"{spawn_rate if spawn_rate is not None else users:g}"]
        if run_time is not None:
            cmd += ["--run-time", run_time]
        if processes:
            cmd += ["--processes", str(processes)]
        if csv is not None:
            cmd += ["--csv", csv]
        return cmd + self.locust_args() + list(extra)


def plan_load(
    webhook: str | None = None,
    *,
    url: str | None = None,
    secret: str | None = None,
    events: str | Sequence[str] | None = None,
    overrides: Overrides = None,
    seed: int | None = None,
    record: str = "none",
    record_every: int = 100,
    store: str | None = None,
    delivery: DeliveryConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadPlan:
    """Check a load run and return its plan, or raise one clear error (nothing is sent).

    ``webhook``: a webhook id, read from ``store`` (default: the default store): its URL, secret
    and subscribed events. Or ``url``, with ``secret`` or else ``$SIMLIB_LOAD_SECRET``
    (``environ``, default ``os.environ``). ``events``: ``EVENT[:WEIGHT]`` items (default: every
    subscribed event, or for a URL every event type, weight 1). Every event type is built once
    with the overrides here, so a path that one of them does not have is refused before the run.
    ``record``: ``"none"`` (Locust's statistics and CSVs are the record), ``"sample"`` (every
    ``record_every``-th request of each process) or ``"all"``, into the store's history.
    The webhook's address is checked against the delivery's address policy.
    """
    env = os.environ if environ is None else environ
    if record not in RECORD_MODES:
        raise ValidationError("record", f"must be one of {', '.join(RECORD_MODES)}, not {record!r}")
    if isinstance(record_every, bool) or not isinstance(record_every, int) or not 1 <= record_every <= 1_000_000:
        raise ValidationError("record_every", f"must be a whole number from 1 to 1000000, not {record_every!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise ValidationError("seed", f"must be a whole number >= 0, not {seed!r}")
    config = delivery or DeliveryConfig()
    if (webhook is None) == (url is None):
        raise ValidationError("webhook", "give a webhook id (from the store) or a URL (with $SIMLIB_LOAD_SECRET), not "
                              + ("both" if webhook is not None else "neither"))
    if webhook is not None:
        wh = _stored_webhook(webhook, store, config)
        from_store = True
    else:
        if record != "none":
            raise ValidationError("record", "recording into the history needs a webhook from the store (an id, not a URL)")
        raw = secret if secret is not None else env.get(SECRET_ENV)
        if not raw:
            raise ValidationError("secret", f"a load run by URL signs with the secret in ${SECRET_ENV}, which is not set")
        wh = Webhook(
            id=URL_TARGET_ID, name="load target", url=validate_url(url), events=(), secret=Secret(validate_secret(raw)),
            created_ms=0, updated_ms=0,
        )
        from_store = False
    weighted = parse_event_weights(events)
    if not weighted:
        names = wh.events if from_store else tuple(t.name for t in event_types())
        weighted = [(name, 1.0) for name in names]
    if not weighted:
        raise ValidationError("events", "no event type to send")
    if from_store:
        missing = [name for name, _ in weighted if name not in wh.events]
        if missing:
            raise ValidationError(
                "events", f"webhook {wh.id} is not subscribed to {', '.join(missing)} (it is to {', '.join(wh.events)})"
            )
    plan = LoadPlan(
        webhook=wh if from_store else replace(wh, events=tuple(n for n, _ in weighted)),
        events=tuple(n for n, _ in weighted),
        weights=tuple(w for _, w in weighted),
        overrides=normalise_overrides(overrides),
        seed=seed,
        record=record,  # checked against RECORD_MODES above
        record_every=record_every,
        store=store,
        from_store=from_store,
        delivery=config,
    )
    for name in plan.events:  # a path one event type does not have: refused now, not per request
        if plan.preview(name, 0, 0).body != plan.body(name, 0, 0):  # the fast path makes the same bytes
            raise ValidationError("events", f"{name}: the load path would not send what a preview shows")
    try:
        targets(plan.url, config)  # resolve once and check the address policy (nothing is sent)
    except SimlibError as exc:
        raise ValidationError("url", str(exc)) from None
    return plan


def _stored_webhook(webhook_id: str, store: str | None, config: DeliveryConfig) -> Webhook:
    with Engine(store, delivery=config) as engine:
        return engine.get_webhook(webhook_id)
