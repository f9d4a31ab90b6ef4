"""The Simulator: the one API the explorer, the CLI and users' code call.

    sim = Simulator()                                   # the per-user store
    wh = sim.create_webhook("Staging", "https://example.com/hooks", ["desktop.app_tracking.captured"])
    p = sim.preview(wh, "desktop.app_tracking.captured", overrides={"data.0.tracking.app.name": "Slack"})
    print(p.pretty)                                     # exactly the bytes Send will POST
    r = sim.send(p)                                     # never raises; always recorded
    sim.history()                                       # pandas DataFrame, one row per attempt
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as _secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import signing
from ._ids import new_uuid4
from .delivery import DeliveryConfig, Outcome, Sender, deliver, make_client, request_headers
from .errors import NotFoundError, OverrideError, StoreError, ValidationError
from .events import EventType, build_payload, event_types, get_event_type, parse_override
from .records import (
    DELIVERED,
    ERROR_STATUS,
    EVENT_NOT_REGISTERED,
    FAILED,
    SERVICE_UNAVAILABLE,
    SIMULATION_FAILED,
    WEBHOOK_NOT_FOUND,
    Preview,
    Secret,
    SimulationResult,
    Webhook,
)
from .store import HistoryRow, Store
from .validation import (
    generate_secret,
    new_webhook_id,
    validate_events,
    validate_name,
    validate_secret,
    validate_url,
    validate_webhook_id,
)

if TYPE_CHECKING:
    import pandas as pd

    from .burst import BurstResult
    from .conformance import ProbeResult
    from .explain import Explanation
    from .replay import ImportResult, ReplayResult

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "Simulator"]

DEFAULT_MAX_PAYLOAD_BYTES = 5_000_000
DEFAULT_ROTATION_GRACE_S = 24 * 3600

Overrides = Mapping[str, Any] | Iterable[str] | Iterable[tuple[str, Any]] | None


def serialize(payload: Any) -> bytes:
    """Compact JSON, UTF-8, non-ASCII kept as is (as Node's ``JSON.stringify`` sends it)."""
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise ValidationError("payload", f"cannot be sent as JSON: {exc}") from None
    return text.encode("utf-8")


def _normalise_overrides(overrides: Overrides) -> tuple[tuple[str, Any], ...]:
    if not overrides:
        return ()
    if isinstance(overrides, Mapping):
        return tuple((str(k), v) for k, v in overrides.items())
    out: list[tuple[str, Any]] = []
    for item in overrides:
        if isinstance(item, str):
            out.append(parse_override(item))
        elif isinstance(item, tuple) and len(item) == 2:
            out.append((str(item[0]), item[1]))
        else:
            raise OverrideError(str(item), "expected 'path=value' or a (path, value) pair")
    return tuple(out)


def to_ms(value: datetime | str | int | float | Any | None) -> int | None:
    """Epoch ms from a datetime (naive = UTC), an ISO string, a pandas Timestamp or a number."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError("time", f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("time", f"not an ISO 8601 time: {value!r}") from None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp() * 1000)
    raise ValidationError("time", f"not a time: {value!r}")


class Simulator:
    """Configure webhooks, preview and send simulations, and read the history.

    ``store``: a :class:`Store`, a file path, or None for the default location.
    ``delivery``: a :class:`DeliveryConfig` (timeouts, TLS, response cap ...).
    ``clock``: a function returning epoch milliseconds (tests and notebooks inject one).
    """

    def __init__(
        self,
        store: Store | str | os.PathLike[str] | None = None,
        *,
        delivery: DeliveryConfig | None = None,
        clock: Callable[[], int] | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        busy_timeout: float | None = None,
    ) -> None:
        if isinstance(store, Store):
            self.store = store
        else:
            kwargs = {} if busy_timeout is None else {"busy_timeout": busy_timeout}
            self.store = Store(store, **kwargs)
        self.delivery = delivery or DeliveryConfig()
        self._clock = clock or signing.now_ms
        self.max_payload_bytes = max_payload_bytes
        self._clients: dict[tuple[Any, ...], Sender] = {}
        self._clients_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Simulator(store={str(self.store.path)!r})"

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        self.store.close()

    def now_ms(self) -> int:
        return self._clock()

    # -- webhooks -----------------------------------------------------------------------------

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[str] | str,
        *,
        secret: str | None = None,
        id: str | None = None,
    ) -> Webhook:
        """Create a webhook; refuses bad input with a ValidationError naming the field."""
        now = self._clock()
        wh = Webhook(
            id=validate_webhook_id(id) if id is not None else new_webhook_id(),
            name=validate_name(name),
            url=validate_url(url),
            events=validate_events(events),
            secret=Secret(validate_secret(secret) if secret is not None else generate_secret()),
            created_ms=now,
            updated_ms=now,
        )
        self.store.insert_webhook(wh)
        return wh

    def list_webhooks(self) -> list[Webhook]:
        return self.store.list_webhooks()

    def get_webhook(self, webhook: Webhook | str) -> Webhook:
        return self.store.get_webhook(_wid(webhook))

    def update_webhook(
        self,
        webhook: Webhook | str,
        *,
        name: str | None = None,
        url: str | None = None,
        events: Sequence[str] | str | None = None,
        secret: str | None = None,
    ) -> Webhook:
        """Change any of name, URL, events, secret; validated like create."""
        current = self.get_webhook(webhook)
        changes: dict[str, Any] = {"updated_ms": self._clock()}
        if name is not None:
            changes["name"] = validate_name(name)
        if url is not None:
            changes["url"] = validate_url(url)
        if events is not None:
            changes["events"] = validate_events(events)
        if secret is not None:
            changes["secret"] = Secret(validate_secret(secret))
            changes["previous_secret"] = None
            changes["previous_secret_expires_ms"] = None
        updated = _replace(current, **changes)
        self.store.replace_webhook(updated)
        return updated

    def rotate_secret(
        self, webhook: Webhook | str, *, new_secret: str | None = None, grace_seconds: float = DEFAULT_ROTATION_GRACE_S
    ) -> Webhook:
        """Give the webhook a new secret; the old one stays valid for ``grace_seconds``."""
        current = self.get_webhook(webhook)
        now = self._clock()
        updated = _replace(
            current,
            secret=Secret(validate_secret(new_secret) if new_secret is not None else generate_secret()),
            previous_secret=current.secret,
            previous_secret_expires_ms=now + int(grace_seconds * 1000),
            updated_ms=now,
        )
        self.store.replace_webhook(updated)
        return updated

    def delete_webhook(self, webhook: Webhook | str) -> None:
        self.store.delete_webhook(_wid(webhook))

    def valid_secrets(self, webhook: Webhook | str) -> list[Secret]:
        """The secrets a receiver should accept now: current, and previous within its grace period."""
        wh = webhook if isinstance(webhook, Webhook) else self.get_webhook(webhook)
        out = [wh.secret]
        if wh.previous_secret is not None and (wh.previous_secret_expires_ms or 0) > self._clock():
            out.append(wh.previous_secret)
        return out

    # -- events ------------------------------------------------------------------------------

    @staticmethod
    def events() -> list[EventType]:
        return event_types()

    # -- preview and send ---------------------------------------------------------------------

    def preview(
        self,
        webhook: Webhook | str,
        event_type: str,
        *,
        overrides: Overrides = None,
        seed: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Preview:
        """Build and serialise the payload once. ``Preview.body`` is what :meth:`send` POSTs.

        ``seed`` makes the payload reproducible (one is drawn and kept when left out);
        ``overrides`` set existing fields by dotted path; ``options`` are the event type's
        knobs (e.g. ``{"work_mode": False}``).
        """
        wh = webhook if isinstance(webhook, Webhook) else self.get_webhook(webhook)
        get_event_type(event_type)
        if seed is None:
            seed = _secrets.randbits(48)
        elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValidationError("seed", f"must be a whole number >= 0, not {seed!r}")
        ov = _normalise_overrides(overrides)
        opts = dict(options or {})
        payload = build_payload(event_type, seed=seed, now_ms=self._clock(), options=opts, overrides=ov)
        body = serialize(payload)
        if len(body) > self.max_payload_bytes:
            raise ValidationError(
                "payload", f"{len(body)} bytes is over the limit of {self.max_payload_bytes} bytes"
            )
        return Preview(
            webhook_id=wh.id,
            webhook_name=wh.name,
            url=wh.url,
            event_type=event_type,
            body=body,
            seed=seed,
            created_ms=self._clock(),
            event_id="evt_" + hashlib.sha256(body).hexdigest()[:20],
            options=tuple(sorted(opts.items())),
            overrides=ov,
        )

    def send(self, preview: Preview, *, sign_with: str = "current") -> SimulationResult:
        """Deliver exactly ``preview.body``, signed now. Never raises; the attempt is recorded.

        The webhook is read again first: deleted -> "Webhook not found" (404); the event no
        longer subscribed -> "Event type not registered" (400). ``sign_with="previous"`` signs
        with the webhook's previous secret (rehearse a rotation).
        """
        sim_id = new_uuid4()
        try:
            return self._send(preview, sim_id, sign_with)
        except Exception as exc:  # noqa: BLE001 - the contract: a result, never a traceback
            return self._error_result(preview, sim_id, SIMULATION_FAILED, f"unexpected error: {type(exc).__name__}: {exc}")

    def simulate(
        self,
        webhook: Webhook | str,
        event_type: str,
        *,
        overrides: Overrides = None,
        seed: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SimulationResult:
        """Preview and send in one call. A webhook that does not exist, or a store that cannot be
        used, gives the Trackpilots error as a result (not an exception), as :meth:`send` does."""
        try:
            preview = self.preview(webhook, event_type, overrides=overrides, seed=seed, options=options)
        except NotFoundError:
            return self.unsent_result(webhook, event_type, WEBHOOK_NOT_FOUND, f"no webhook with id {_wid(webhook)!r}")
        except StoreError as exc:
            return self.unsent_result(webhook, event_type, SERVICE_UNAVAILABLE, str(exc))
        return self.send(preview)

    def unsent_result(self, webhook: Webhook | str, event_type: str, error: str, detail: str) -> SimulationResult:
        """The result of a simulation that could not even be built (its webhook is gone, or the
        store cannot be read): the Trackpilots ``error``, nothing sent, recorded if the store can."""
        wid = _wid(webhook)
        stub = Preview(
            webhook_id=wid,
            webhook_name=webhook.name if isinstance(webhook, Webhook) else "",
            url=webhook.url if isinstance(webhook, Webhook) else "",
            event_type=event_type,
            body=b"",
            seed=0,
            created_ms=signing.now_ms(),
            event_id="",
        )
        return self._error_result(stub, new_uuid4(), error, detail)

    def _target(self, preview: Preview, sim_id: str, replay_of: int | None = None) -> Webhook | SimulationResult:
        """The webhook re-read at send time, or the recorded error result when it cannot be used."""
        try:
            # Read inside a write transaction: a store that cannot record the attempt answers
            # "Service unavailable" before anything is sent.
            wh = self.store.get_webhook(preview.webhook_id, writable=True)
        except NotFoundError:
            return self._error_result(
                preview, sim_id, WEBHOOK_NOT_FOUND, "the webhook was deleted after it was selected", replay_of=replay_of
            )
        except StoreError as exc:
            return self._error_result(preview, sim_id, SERVICE_UNAVAILABLE, f"{exc}", replay_of=replay_of)
        if preview.event_type not in wh.events:
            return self._error_result(
                preview,
                sim_id,
                EVENT_NOT_REGISTERED,
                f"{preview.event_type} is not among the events webhook {wh.id} subscribes to "
                f"({', '.join(wh.events)})",
                webhook=wh,
                replay_of=replay_of,
            )
        return wh

    def _send(self, preview: Preview, sim_id: str, sign_with: str) -> SimulationResult:
        wh = self._target(preview, sim_id)
        if isinstance(wh, SimulationResult):
            return wh
        if sign_with == "current":
            secret = wh.secret
        elif sign_with == "previous":
            if wh.previous_secret is None:
                return self._error_result(
                    preview, sim_id, SIMULATION_FAILED, "the webhook has no previous secret to sign with", webhook=wh
                )
            secret = wh.previous_secret
        else:
            raise ValueError("sign_with must be 'current' or 'previous'")

        config = self.delivery
        ts = self._clock()
        headers = signed_headers(secret, preview.body, ts, config)
        outcome = deliver(self._client(config), wh.url, preview.body, headers, config)
        return self._record(preview, sim_id, wh, headers, ts, outcome)

    def _send_exact(
        self,
        preview: Preview,
        headers_for: Callable[[Webhook, int], dict[str, str]],
        *,
        replay_of: int | None = None,
        label: str = "",
    ) -> SimulationResult:
        """POST exactly ``preview.body`` with exactly the headers ``headers_for(webhook, now_ms)``
        returns (conformance variants, replays, imported captures). The guarantees of :meth:`send`
        hold: the webhook is re-read, nothing raises, the attempt is recorded; ``replay_of`` links
        the row to an earlier one and ``label`` prefixes its detail."""
        sim_id = new_uuid4()
        try:
            wh = self._target(preview, sim_id, replay_of)
            if isinstance(wh, SimulationResult):
                return wh
            config = self.delivery
            ts = self._clock()
            headers = headers_for(wh, ts)
            outcome = deliver(self._client(config), wh.url, preview.body, headers, config)
            if label:
                outcome.detail = f"{label}: {outcome.detail}"
            return self._record(preview, sim_id, wh, headers, ts, outcome, replay_of=replay_of)
        except Exception as exc:  # noqa: BLE001 - the contract: a result, never a traceback
            return self._error_result(
                preview, sim_id, SIMULATION_FAILED, f"unexpected error: {type(exc).__name__}: {exc}", replay_of=replay_of
            )

    def _client(self, config: DeliveryConfig) -> Sender:
        key = config.client_key
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = make_client(config)
            return client

    def _record(
        self,
        preview: Preview,
        sim_id: str,
        wh: Webhook | None,
        headers: dict[str, str],
        sent_at_ms: int,
        outcome: Outcome,
        *,
        replay_of: int | None = None,
    ) -> SimulationResult:
        """Append the attempt to history, then return its result."""
        row = make_history_row(preview, sim_id, wh, headers, sent_at_ms, outcome, replay_of=replay_of)
        try:
            history_id = self.store.append(row)
        except StoreError as exc:
            note = "" if row.error == SERVICE_UNAVAILABLE else f": {exc}"
            return result_from_row(row, preview, recorded=False, note=f" (not recorded in history{note})")
        return result_from_row(row, preview, history_id=history_id)

    def _error_result(
        self,
        preview: Preview,
        sim_id: str,
        error: str,
        detail: str,
        *,
        webhook: Webhook | None = None,
        replay_of: int | None = None,
    ) -> SimulationResult:
        try:
            now = self._clock()
        except Exception:  # noqa: BLE001 - a broken injected clock must not escape either
            now = signing.now_ms()
        outcome = Outcome(error=error, detail=detail)
        return self._record(preview, sim_id, webhook, {}, now, outcome, replay_of=replay_of)

    # -- burst mode ---------------------------------------------------------------------------

    def send_many(
        self,
        webhook: Webhook | str,
        event_type: str,
        n: int,
        *,
        concurrency: int = 10,
        rate: float | None = None,
        repeat_payload: bool = False,
        overrides: Overrides = None,
        options: Mapping[str, Any] | None = None,
        seed: int | None = None,
        progress: Any = True,
        preview: Preview | None = None,
    ) -> BurstResult:
        """Send ``n`` simulations at most ``concurrency`` at a time (and at most ``rate`` per
        second); every attempt is recorded. See :mod:`simlib.burst`."""
        from .burst import send_many

        return send_many(
            self, webhook, event_type, n, concurrency=concurrency, rate=rate, repeat_payload=repeat_payload,
            overrides=overrides, options=options, seed=seed, progress=progress, preview=preview,
        )

    async def send_many_async(self, webhook: Webhook | str, event_type: str, n: int, **kwargs: Any) -> BurstResult:
        """:meth:`send_many` for code already running in an event loop (``await``)."""
        from .burst import send_many_async

        return await send_many_async(self, webhook, event_type, n, **kwargs)

    # -- history ------------------------------------------------------------------------------

    def history(
        self,
        *,
        webhook: Webhook | str | Sequence[str] | None = None,
        event_type: str | Sequence[str] | None = None,
        result: str | Sequence[str] | None = None,
        since: datetime | str | int | None = None,
        until: datetime | str | int | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Every attempt, oldest first, as a typed DataFrame.

        Filters: ``webhook`` (id, Webhook or list of ids), ``event_type``, ``result``
        ("Delivered", "Failed", or a simulation error such as "Network error"), ``since`` /
        ``until`` (datetime, ISO string or epoch ms; inclusive), ``limit`` (the newest N).
        """
        if isinstance(webhook, Webhook):
            webhook = webhook.id
        return self.store.history_frame(
            webhook=webhook,
            event_type=event_type,
            result=result,
            since_ms=to_ms(since),
            until_ms=to_ms(until),
            limit=limit,
        )

    def history_row(self, history_id: int) -> dict[str, Any]:
        """One attempt with its exact request body as bytes."""
        return self.store.history_row(history_id)

    def export_history(self, path: str | os.PathLike[str], format: str | None = None, **filters: Any) -> Path:
        """Write the (filtered) history to CSV, JSON or Parquet; the format follows the suffix."""
        out = Path(path)
        fmt = (format or out.suffix.lstrip(".")).lower()
        frame = self.history(**filters)
        return export_frame(frame, out, fmt)

    # -- receiver conformance and support (simlib.conformance, .explain, .replay, .capture) -----

    def check_receiver(self, webhook: Webhook | str, **options: Any) -> pd.DataFrame:
        """The negative-test matrix against the webhook's endpoint: one valid simulation and
        every deliberately broken variant, each judged PASS / FAIL / NOTE and recorded.
        See :func:`simlib.conformance.check_receiver`."""
        from .conformance import check_receiver

        return check_receiver(self, webhook, **options)

    def probe_tolerance(self, webhook: Webhook | str, **options: Any) -> ProbeResult:
        """How old and how far ahead a timestamp may be, found by bisection; every request is
        recorded. See :func:`simlib.conformance.probe_tolerance`."""
        from .conformance import probe_tolerance

        return probe_tolerance(self, webhook, **options)

    def explain_signature(
        self,
        headers: Any,
        body: bytes,
        *,
        secret: str | None = None,
        webhook: Webhook | str | None = None,
        tolerance_ms: int | None = signing.DEFAULT_TOLERANCE_MS,
    ) -> Explanation:
        """Valid, or the most likely cause of a mismatch, for raw ``headers`` and ``body``,
        checked with ``secret`` or with ``webhook``'s secrets (neither: every webhook's). The
        configured webhooks' secrets are tried too, but never shown. See :mod:`simlib.explain`."""
        from .explain import explain_signature

        known = {wh.id: [s.reveal() for s in self.valid_secrets(wh)] for wh in self.list_webhooks()}
        given: list[str] = []
        label = "the secret you gave"
        if webhook is not None:
            wh = self.get_webhook(webhook)
            given, label = [s.reveal() for s in self.valid_secrets(wh)], f"webhook {wh.id}'s secret"
        elif secret is not None:
            given = [secret]
        return explain_signature(
            headers, body, given, known=known, given_label=label, now_ms=self._clock(), tolerance_ms=tolerance_ms
        )

    def replay(self, history_id: int, *, original_timestamp: bool = False, overrides: Overrides = None) -> ReplayResult:
        """Resend a history row: its exact bytes re-signed now (default), or with its original
        timestamp and signature; ``overrides`` edit the payload first. The new row links to the
        original (``replay_of``); ``.diff`` compares the answers. See :mod:`simlib.replay`."""
        from .replay import replay

        return replay(self, history_id, original_timestamp=original_timestamp, overrides=overrides)

    def import_delivery(self, source: Any, webhook: Webhook | str, *, send_as_captured: bool = True) -> ImportResult:
        """Send a captured request (raw HTTP, JSON or curl; a path or the content) to
        ``webhook`` as captured and re-signed with its secret, and compare the answers."""
        from .replay import import_delivery

        return import_delivery(self, source, webhook, send_as_captured=send_as_captured)

    def as_curl(self, source: int | Preview, *, reveal_secret: bool = False, exact: bool = False) -> str:
        """A runnable curl command (bash + openssl) reproducing history row ``source`` (an id)
        or a preview: signed when run with ``$WEBHOOK_SECRET`` (``reveal_secret=True`` writes
        the secret in), or with ``exact=True`` the row's recorded headers as they were."""
        return self._as_code("curl", source, reveal_secret, exact)

    def as_httpx(self, source: int | Preview, *, reveal_secret: bool = False, exact: bool = False) -> str:
        """The request :meth:`as_curl` reproduces, as a Python snippet using httpx."""
        return self._as_code("httpx", source, reveal_secret, exact)

    def _as_code(self, lang: str, source: int | Preview, reveal_secret: bool, exact: bool) -> str:
        from .capture import to_curl, to_httpx

        headers: dict[str, str] | None = None
        if isinstance(source, Preview):
            if exact:
                raise ValidationError("exact", "a preview has no recorded headers: it is signed when sent")
            url, body, wid = source.url, source.body, source.webhook_id
            what = f"preview of {source.event_type} for webhook {wid}"
        else:
            row = self.history_row(source)
            url, body, wid = row["url"], row["request_body"], row["webhook_id"]
            what = f"history row {source}: {row['event_type']} to webhook {wid}"
            if exact:
                headers = row["request_headers"]
                if not headers:
                    raise ValidationError("exact", f"history row {source} has no recorded headers (nothing was sent)")
        secret = self.get_webhook(wid).secret.reveal() if reveal_secret and not exact else None
        if exact:
            how = "sent with its recorded headers (original timestamp and signature)"
        elif secret is None:
            how = f"signed when it runs with $WEBHOOK_SECRET: export WEBHOOK_SECRET=<webhook {wid}'s secret>"
        else:
            how = "signed when it runs, with the secret written below"
        needs = "bash, curl and openssl" if lang == "curl" else "Python and httpx"
        comment = f"simlib: {what}\n{how}\nneeds {needs}"
        render = to_curl if lang == "curl" else to_httpx
        return render(
            url,
            body,
            headers=headers,
            secret=secret,
            encoding=self.delivery.signature_encoding,
            timestamp_unit=self.delivery.timestamp_unit,
            user_agent=self.delivery.user_agent,
            comment=comment,
        )


def signed_headers(secret: Secret, body: bytes, ts_ms: int, config: DeliveryConfig) -> dict[str, str]:
    """The headers of one attempt, signed now with ``secret``."""
    return request_headers(
        signing.sign(
            secret.reveal(),
            body,
            ts_ms,
            encoding=config.signature_encoding,  # type: ignore[arg-type]
            timestamp_unit=config.timestamp_unit,  # type: ignore[arg-type]
        ),
        config,
    )


def make_history_row(
    preview: Preview,
    sim_id: str,
    wh: Webhook | None,
    headers: dict[str, str],
    sent_at_ms: int,
    outcome: Outcome,
    *,
    replay_of: int | None = None,
) -> HistoryRow:
    """The history row of one attempt: Delivered iff the endpoint answered 2xx."""
    delivered = outcome.error is None and outcome.http_status is not None and 200 <= outcome.http_status < 300
    error = outcome.error
    return HistoryRow(
        simulation_id=sim_id,
        sent_at_ms=sent_at_ms,
        webhook_id=wh.id if wh else preview.webhook_id,
        webhook_name=wh.name if wh else preview.webhook_name,
        url=wh.url if wh else preview.url,
        event_type=preview.event_type,
        result=DELIVERED if delivered else FAILED,
        http_status=outcome.http_status,
        latency_ms=outcome.latency_ms,
        error=error,
        error_status=ERROR_STATUS.get(error) if error else None,
        detail=outcome.detail,
        event_id=preview.event_id,
        request_headers=headers,
        request_body=preview.body,
        response_headers=outcome.response_headers,
        response_body=outcome.response_body,
        response_truncated=outcome.response_truncated,
        replay_of=replay_of,
    )


def result_from_row(
    row: HistoryRow, preview: Preview, *, history_id: int | None = None, recorded: bool = True, note: str = ""
) -> SimulationResult:
    return SimulationResult(
        simulation_id=row.simulation_id,
        webhook_id=row.webhook_id,
        webhook_name=row.webhook_name,
        url=row.url,
        event_type=row.event_type,
        event_id=row.event_id,
        result=row.result,
        http_status=row.http_status,
        latency_ms=row.latency_ms,
        error=row.error,
        error_status=row.error_status,
        detail=row.detail + note,
        request_headers=row.request_headers,
        payload=preview.text,
        response_body=row.response_body,
        response_truncated=row.response_truncated,
        response_headers=row.response_headers,
        sent_at_ms=row.sent_at_ms,
        recorded=recorded,
        history_id=history_id,
    )


def export_frame(frame: pd.DataFrame, out: Path, fmt: str) -> Path:
    """Write a history frame as csv / json / parquet."""
    if fmt == "csv":
        frame.to_csv(out, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    elif fmt == "json":
        data = frame.to_json(orient="records", date_format="iso", date_unit="ms", indent=2)
        out.write_text(data, encoding="utf-8")
    elif fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValidationError("format", "Parquet export needs pyarrow (pip install pyarrow)") from None
        frame.to_parquet(out, index=False)
    else:
        raise ValidationError("format", f"unknown export format {fmt!r}: use csv, json or parquet")
    return out


def _wid(webhook: Webhook | str) -> str:
    if isinstance(webhook, Webhook):
        return webhook.id
    if not isinstance(webhook, str) or not webhook:
        raise ValidationError("webhook", f"expected a webhook id, not {webhook!r}")
    return webhook


def _replace(wh: Webhook, **changes: Any) -> Webhook:
    from dataclasses import replace

    return replace(wh, **changes)
