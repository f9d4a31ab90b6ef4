"""Load beyond one machine, on Locust: :class:`WebhookUser`, a Locust user that sends signed
Trackpilots simulations to one webhook.

Never imported by ``import simlib``: importing Locust monkey-patches the process through gevent.
Run it with Locust itself (``simlib load`` does exactly this)::

    SIMLIB_LOAD_WEBHOOK=wh_k3x9p2 locust -f "$(simlib load --print-locustfile)" \\
        --headless --users 50 --spawn-rate 10 --run-time 1m --processes 4 --csv run

or in a locustfile of your own: ``from simlib.locust import WebhookUser`` (subclass it to change
``wait_time``). Every request draws an event type by weight, builds a fresh payload (simlib's
payload builder, with the overrides; top-level ``"simulation": true``), signs it at that moment
with the webhook's secret, and is named by its event type in Locust's statistics.

Configuration (each ``--simlib-*`` argument also reads the environment variable next to it; a
master forwards its arguments to its workers):

- ``--simlib-webhook ID`` / ``SIMLIB_LOAD_WEBHOOK``: the webhook, read from the store
  (``--simlib-store PATH`` / ``SIMLIB_LOAD_STORE``, default the default store);
- or ``--simlib-url URL`` / ``SIMLIB_LOAD_URL`` with the secret in ``SIMLIB_LOAD_SECRET``
  (an environment variable only: a command line is readable by every local user);
- ``--simlib-events "EVENT:3,EVENT:1"`` / ``SIMLIB_LOAD_EVENTS``: event types and weights
  (default: every event the webhook subscribes to, equal weights);
- ``--simlib-set PATH=VALUE`` (repeat) / ``SIMLIB_LOAD_SET`` (one per line): payload overrides;
- ``--simlib-seed N`` / ``SIMLIB_LOAD_SEED``: reproducible payloads per worker and user;
- ``--simlib-record none|sample|all`` / ``SIMLIB_LOAD_RECORD`` and ``--simlib-record-every N``:
  also record attempts into the history (``sample``: every N-th request of each process).
  A recorded request has its history row reserved before it is sent, as every simlib send.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import sys
from http import HTTPStatus
from typing import Any

from locust import FastHttpUser, events, task
from locust.exception import StopUser
from locust.runners import WorkerRunner

from simlib.core.delivery.http import Outcome, signed_headers, status_detail
from simlib.core.engine import Engine
from simlib.core.ids import new_uuid4
from simlib.core.load import RECORD_MODES, LoadPlan, plan_load
from simlib.errors import SimlibError
from simlib.records import NETWORK_ERROR, SimulationResult, Webhook

__all__ = ["WebhookUser", "plan_from_options"]

log = logging.getLogger("simlib.locust")

#: argument -> (environment variable, type, help)
OPTIONS: dict[str, tuple[str, Any, str]] = {
    "--simlib-webhook": ("SIMLIB_LOAD_WEBHOOK", str, "webhook id, read from the store"),
    "--simlib-url": ("SIMLIB_LOAD_URL", str, "or a URL (the secret comes from $SIMLIB_LOAD_SECRET)"),
    "--simlib-store": ("SIMLIB_LOAD_STORE", str, "the store (default: the default store)"),
    "--simlib-events": ("SIMLIB_LOAD_EVENTS", str, "EVENT[:WEIGHT],... (default: the subscribed events)"),
    "--simlib-seed": ("SIMLIB_LOAD_SEED", int, "payload seed: reproducible payloads per worker and user"),
    "--simlib-record": ("SIMLIB_LOAD_RECORD", str, "also record attempts into the history: none, sample or all"),
    "--simlib-record-every": ("SIMLIB_LOAD_RECORD_EVERY", int, "with --simlib-record sample: every N-th request"),
}
SET_ENV = "SIMLIB_LOAD_SET"


def add_arguments(parser: Any) -> None:
    for flag, (env, kind, text) in OPTIONS.items():
        choices = RECORD_MODES if flag == "--simlib-record" else None
        parser.add_argument(flag, type=kind, env_var=env, default=None, choices=choices, help=text)
    parser.add_argument("--simlib-set", action="append", default=None, metavar="PATH=VALUE",
                        help=f"override a payload field (repeat; or ${SET_ENV}, one per line)")


_PLANS: dict[tuple[Any, ...], LoadPlan] = {}


def plan_from_options(options: Any, environ: Any = None) -> LoadPlan:
    """The :class:`~simlib.core.load.LoadPlan` the ``--simlib-*`` arguments (and environment
    variables) describe, made once per process; raises a SimlibError saying what is wrong."""
    env = os.environ if environ is None else environ

    def get(name: str) -> Any:
        return getattr(options, name, None) if options is not None else None

    sets = get("simlib_set") or [line for line in env.get(SET_ENV, "").splitlines() if line.strip()]
    key = (get("simlib_webhook"), get("simlib_url"), get("simlib_store"), get("simlib_events"),
           get("simlib_seed"), get("simlib_record"), get("simlib_record_every"), tuple(sets))
    plan = _PLANS.get(key)
    if plan is None:
        webhook, url = key[0], key[1]
        if webhook is None and url is None:
            webhook = env.get("SIMLIB_LOAD_WEBHOOK")  # options parsed without our arguments (a library run)
            url = None if webhook else env.get("SIMLIB_LOAD_URL")
        plan = _PLANS[key] = plan_load(
            webhook, url=url, events=key[3], overrides=list(sets) or None, seed=key[4],
            record=key[5] or "none", record_every=key[6] or 100, store=key[2],
        )
    return plan


def check_plan(environment: Any, **_: Any) -> None:
    """Refuse a run that cannot work before any user starts: one line, exit code 2. Workers
    started on their own (``--worker``) get their arguments from the master, later."""
    if environment.parsed_options is None or isinstance(environment.runner, WorkerRunner) and not _configured(
        environment.parsed_options
    ):
        return
    if not any(issubclass(cls, WebhookUser) for cls in environment.user_classes):
        return
    try:
        plan_from_options(environment.parsed_options)
    except SimlibError as exc:
        sys.stderr.write(f"simlib: error: {exc}\n")
        sys.exit(2)


events.init_command_line_parser.add_listener(add_arguments)  # type: ignore[no-untyped-call]  # Locust leaves it untyped
events.init.add_listener(check_plan)  # type: ignore[no-untyped-call]


def _configured(options: Any) -> bool:
    return bool(getattr(options, "simlib_webhook", None) or getattr(options, "simlib_url", None))


_USERS = itertools.count()
_REQUESTS = itertools.count(1)
_REPORTED: set[str] = set()


class WebhookUser(FastHttpUser):
    """Sends signed simulations to the configured webhook, one per task run (``wait_time`` is
    Locust's default, none: subclass to pace). TLS is verified and redirects are not followed,
    as in every simlib send."""

    max_redirects = 0
    insecure = False

    def __init__(self, environment: Any) -> None:
        self.problem: str | None = None
        plan: LoadPlan | None = None
        try:
            plan = plan_from_options(environment.parsed_options)
        except SimlibError as exc:
            self.problem = str(exc)
        if plan is not None:
            if self.host is None:
                self.host = plan.host
            self.insecure = not plan.delivery.verify_tls
            self.connection_timeout = plan.delivery.connect_timeout
            self.network_timeout = plan.delivery.read_timeout
        elif self.host is None:
            self.host = "http://127.0.0.1"  # never used: a user without a plan stops in on_start
        super().__init__(environment)
        self.loaded = plan
        self.rng = plan.rng(getattr(environment.runner, "worker_index", 0), next(_USERS)) if plan else random.Random()
        self.engine: Engine | None = None

    @property
    def plan(self) -> LoadPlan:
        assert self.loaded is not None, self.problem
        return self.loaded

    def on_start(self) -> None:
        if self.problem is not None:
            if self.problem not in _REPORTED:  # once per process, not once per user
                _REPORTED.add(self.problem)
                log.error("simlib: error: %s", self.problem)
            raise StopUser()
        if self.plan.record != "none":
            self.engine = Engine(self.plan.store, delivery=self.plan.delivery)

    def on_stop(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    @task
    def send_simulation(self) -> None:
        plan = self.plan
        if self.engine is not None and (plan.record == "all" or next(_REQUESTS) % plan.record_every == 0):
            self.send_recorded(self.engine)
            return
        event, body, headers = plan.request(self.rng)
        self.post(event, body, headers)

    def post(self, event: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """POST ``body`` to the webhook, named ``event`` in the statistics; a non-2xx answer or
        no answer is a failure. Returns what happened, as a history row would hold it."""
        # ``data`` is typed str or dict, but bytes are sent exactly as they are (what was signed)
        body_arg: Any = body
        with self.client.post(self.plan.url, data=body_arg, headers=headers, name=event, catch_response=True) as resp:
            status = resp.status_code or 0
            latency = (resp.request_meta or {}).get("response_time")
            if status == 0:
                error = resp.error or "no answer"
                resp.failure(f"no answer: {error}")
                return Outcome(latency_ms=latency, error=NETWORK_ERROR, detail=f"no answer: {error}")
            text = resp.text or ""
            outcome = Outcome(
                http_status=status, latency_ms=latency, response_body=text[: plan_max(self.plan)],
                response_truncated=len(text) > plan_max(self.plan), response_headers=dict(resp.headers or {}),
                detail=status_detail(status, _reason(status), dict(resp.headers or {}), False, self.plan.delivery),
            )
            if 200 <= status < 300:
                resp.success()
            else:
                resp.failure(f"HTTP {status}: {text[:200]}")
            return outcome

    def send_recorded(self, engine: Engine) -> None:
        """One request with its history row reserved before it is sent and completed after, as
        every simlib send: a store that cannot take it means the request is not sent (a failure
        in the statistics)."""
        plan = self.plan
        event = plan.draw(self.rng)
        preview = plan.preview(event, self.rng.getrandbits(48))
        sim_id = new_uuid4()

        def headers_for(wh: Webhook, ts: int) -> dict[str, str]:
            return signed_headers(wh.secret, preview.body, ts, plan.delivery)

        started = engine.start_send(preview, sim_id, headers_for)
        if isinstance(started, SimulationResult):  # not sent: webhook gone, store unavailable ...
            self.environment.events.request.fire(
                request_type="POST", name=event, response_time=0, response_length=0, response=None, context={},
                exception=SimlibError(f"not sent: {started.error}: {started.error_detail}"),
            )
            return
        wh, headers, ts, history_id = started
        outcome = self.post(event, preview.body, headers)
        engine.complete(preview, sim_id, wh, headers, ts, outcome, history_id)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def plan_max(plan: LoadPlan) -> int:
    return plan.delivery.max_response_bytes
