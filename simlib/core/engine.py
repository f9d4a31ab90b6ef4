"""The engine: webhooks, preview, send, send_exact, send_many and history, over the stages.

    engine = Engine()                                   # the per-user store
    wh = engine.create_webhook("Staging", "https://example.com/hooks", ["desktop.app_tracking.captured"])
    p = engine.preview(wh, "desktop.app_tracking.captured", overrides={"data.0.tracking.app.name": "Slack"})
    r = engine.send(p)                                  # never raises for delivery; always recorded

Each stage lives in its own module and is called here in the order the bytes travel:
:mod:`~simlib.core.payload` (preview) -> :mod:`~simlib.core.signing` (sign) ->
:mod:`~simlib.core.delivery` (deliver) -> :mod:`~simlib.core.classify` (classify) ->
:mod:`~simlib.core.store` (record). :class:`simlib.Simulator` adds the toolkit verbs on top.
"""

from __future__ import annotations

import os
import secrets as _secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from simlib.core import identity, signing
from simlib.core.classify import make_history_row, outcome_bytes, pending_row, result_from_row
from simlib.core.delivery.cancel import deliver_cancellable
from simlib.core.delivery.http import DeliveryConfig, Outcome, Sender, deliver, make_sender, signed_headers
from simlib.core.events import EventType, check_event_name, event_types
from simlib.core.ids import new_uuid4
from simlib.core.payload import DEFAULT_MAX_PAYLOAD_BYTES, Overrides, build_preview, preview_series
from simlib.core.store.backends import AnyStore, open_store
from simlib.core.store.export import Progress, export_format, frame_bytes, write_frames
from simlib.core.store.frames import CHUNK_ROWS
from simlib.core.store.query import (
    DEFAULT_COUNT_CAP,
    DEFAULT_PAGE_ROWS,
    CappedCount,
    HistoryFilter,
    HistoryOrder,
    HistoryPage,
    PageCursor,
)
from simlib.core.validation import (
    check_text,
    generate_secret,
    new_webhook_id,
    validate_events,
    validate_name,
    validate_organisation_id,
    validate_secret,
    validate_url,
    validate_webhook_id,
)
from simlib.errors import ConflictError, NotFoundError, StoreError, ValidationError
from simlib.records import (
    CANCELLED_BEFORE_SEND,
    DELIVERED,
    ERROR_STATUS,
    EVENT_NOT_REGISTERED,
    FAILED,
    SERVICE_UNAVAILABLE,
    SIMULATION_FAILED,
    WEBHOOK_NOT_FOUND,
    Preview,
    Secret,
    SimulationError,
    SimulationResult,
    Webhook,
)

if TYPE_CHECKING:
    import pandas as pd

    from simlib.core.burst import BurstResult

__all__ = ["DEFAULT_ROTATION_GRACE_S", "Engine", "HeadersFor", "SignWith", "Target", "to_ms"]

DEFAULT_ROTATION_GRACE_S = 24 * 3600

#: Which of the webhook's secrets a send signs with.
SignWith = Literal["current", "previous"]
#: ``headers_for(webhook, now_ms) -> headers``: the exact headers of a :meth:`Engine.send_exact`.
HeadersFor = Callable[[Webhook, int], dict[str, str]]
#: The webhook re-read at send time, or the simulation error (and its detail) that stops the send.
Target = Webhook | tuple[SimulationError, str, Webhook | None]


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
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    raise ValidationError("time", f"not a time: {value!r}")


def _history_filters(
    webhook: Webhook | str | Sequence[str] | None = None,
    event_type: str | Sequence[str] | None = None,
    result: str | Sequence[str] | None = None,
    since: datetime | str | int | None = None,
    until: datetime | str | int | None = None,
    limit: int | None = None,
    user: str | Sequence[str] | None = None,
    host: str | Sequence[str] | None = None,
) -> tuple[HistoryFilter, int | None]:
    """The filters of :meth:`Engine.history` checked and as the store takes them: one
    :class:`HistoryFilter`, and the limit."""
    if isinstance(webhook, Webhook):
        webhook = webhook.id
    for field, value in (("webhook", webhook), ("event_type", event_type), ("result", result), ("user", user),
                         ("host", host)):
        for text in [value] if isinstance(value, str) else value or ():
            if isinstance(text, str):
                check_text(field, text)  # a lone surrogate cannot even be looked up
    if result is not None:
        result = [_result_name(r) for r in ([result] if isinstance(result, str) else result)]
    return HistoryFilter(
        webhook=webhook, event_type=event_type, result=result, since_ms=to_ms(since), until_ms=to_ms(until),
        user=user, host=host,
    ), limit


#: What ``result=`` may name: a result or a Trackpilots simulation error, by its lower-case form.
_RESULT_NAMES: Final = {name.lower(): name for name in (DELIVERED, FAILED, *ERROR_STATUS)}


def _result_name(value: object) -> str:
    """A result filter's value as stored ("delivered" -> "Delivered"); a typo is refused in one
    line instead of matching nothing."""
    name = _RESULT_NAMES.get(value.strip().lower()) if isinstance(value, str) else None
    if name is None:
        raise ValidationError("result", f"{str(value)[:60]!r} is not a result: one of {', '.join(_RESULT_NAMES.values())}")
    return name


def check_sign_with(sign_with: object) -> None:
    """Refuse a ``sign_with`` other than "current" or "previous" (a ValidationError)."""
    if sign_with not in ("current", "previous"):
        raise ValidationError("sign_with", f"must be 'current' or 'previous', not {sign_with!r}")


def webhook_id_of(webhook: Webhook | str) -> str:
    """The id of a Webhook or of an id string; a ValidationError on ``webhook`` otherwise --
    also for a string that cannot be an id (checked before anything is looked up or recorded,
    so a 100 KB "id" never reaches a history row)."""
    if isinstance(webhook, Webhook):
        return webhook.id
    if not isinstance(webhook, str) or not webhook:
        shown = repr(webhook) if webhook is None or isinstance(webhook, (str, int, float, bool)) else type(webhook).__name__
        raise ValidationError("webhook", f"expected a webhook id, not {shown[:60]}")
    return validate_webhook_id(webhook, "webhook")


def target_problem(wh: Webhook, event_type: str) -> tuple[SimulationError, str, Webhook] | None:
    """The simulation error that stops a send to ``wh`` as it is now (the event no longer
    subscribed), or None."""
    if event_type not in wh.events:
        return (
            EVENT_NOT_REGISTERED,
            f"{event_type} is not among the events webhook {wh.id} subscribes to ({', '.join(wh.events)})",
            wh,
        )
    return None


class Engine:
    """Configure webhooks, preview and send simulations, and read the history.

    ``store``: a :class:`Store`, a file path, a PostgreSQL URL (``postgresql+psycopg://...``,
    a shared store), or None for ``$SIMLIB_STORE`` or else the default SQLite file.
    ``delivery``: a :class:`DeliveryConfig` (timeouts, TLS, response cap ...).
    ``clock``: a function returning epoch milliseconds (tests and notebooks inject one).
    """

    def __init__(
        self,
        store: AnyStore | str | os.PathLike[str] | None = None,
        *,
        delivery: DeliveryConfig | None = None,
        clock: Callable[[], int] | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        busy_timeout: float | None = None,
    ) -> None:
        identity.refresh()  # who records from here on: $SIMLIB_USER / $SIMLIB_HOST as they are now
        self.store: AnyStore
        if isinstance(store, (str, os.PathLike)) or store is None:
            self.store = open_store(store, busy_timeout=busy_timeout)
        else:
            self.store = store
        self.delivery = delivery or DeliveryConfig()
        self._clock = clock or signing.now_ms
        self.max_payload_bytes = max_payload_bytes
        self._clients: dict[tuple[Any, ...], Sender] = {}
        self._clients_lock = threading.Lock()
        #: Called with the history ids of the rows this simulator records (reserved or
        #: appended), on the thread that records them: e.g. an explorer page keeping the ids of
        #: its own sends. A listener must be quick and must not raise (what it raises is dropped).
        self.record_listeners: list[Callable[[Sequence[int]], None]] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store={self.store.location!r})"

    def __enter__(self) -> Engine:
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
        """The engine's clock (epoch milliseconds)."""
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
        organisation_id: str | None = None,
    ) -> Webhook:
        """Create a webhook; refuses bad input with a ValidationError naming the field.
        ``organisation_id``: the ``organisation.organisationId`` its payloads carry (default: a
        fresh one per payload)."""
        now = self._clock()
        wh = Webhook(
            id=validate_webhook_id(id) if id is not None else new_webhook_id(),
            name=validate_name(name),
            url=validate_url(url),
            events=validate_events(events),
            secret=Secret(validate_secret(secret) if secret is not None else generate_secret()),
            created_ms=now,
            updated_ms=now,
            organisation_id=validate_organisation_id(organisation_id) if organisation_id is not None else None,
        )
        self.store.insert_webhook(wh)
        return wh

    def list_webhooks(self) -> list[Webhook]:
        return self.store.list_webhooks()

    def get_webhook(self, webhook: Webhook | str) -> Webhook:
        return self.store.get_webhook(webhook_id_of(webhook))

    def update_webhook(
        self,
        webhook: Webhook | str,
        *,
        name: str | None = None,
        url: str | None = None,
        events: Sequence[str] | str | None = None,
        secret: str | None = None,
        organisation_id: str | None = None,
        expected_updated_ms: int | None = None,
    ) -> Webhook:
        """Change any of name, URL, events, secret, organisation id (``""`` removes it: a fresh
        id per payload again); validated like create.

        ``expected_updated_ms``: the ``updated_ms`` of the webhook as the caller read it (an edit
        form opened on it). If anyone changed the webhook since, nothing is written and a
        :class:`~simlib.ConflictError` says so -- checked in the write itself, so two people
        saving at once cannot undo each other's change. Every change moves ``updated_ms``
        forward (by at least 1 ms, whatever the clock says), so it identifies the version."""
        current = self.get_webhook(webhook)
        if expected_updated_ms is not None and current.updated_ms != expected_updated_ms:
            raise _changed_since(current)
        changes: dict[str, Any] = {"updated_ms": max(self._clock(), current.updated_ms + 1)}
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
        if organisation_id is not None:
            changes["organisation_id"] = validate_organisation_id(organisation_id) if organisation_id != "" else None
        if all(getattr(current, k) == v for k, v in changes.items() if k != "updated_ms"):
            return current  # nothing changes: no write, no new version (no one else's edit is refused for it)
        updated = replace(current, **changes)
        try:
            self.store.replace_webhook(updated, expected_updated_ms=current.updated_ms)
        except ConflictError:  # changed between the read above and the write
            raise _changed_since(self.get_webhook(current.id)) from None
        return updated

    def rotate_secret(
        self, webhook: Webhook | str, *, new_secret: str | None = None, grace_seconds: float = DEFAULT_ROTATION_GRACE_S
    ) -> Webhook:
        """Give the webhook a new secret; the old one stays valid for ``grace_seconds``."""
        if isinstance(grace_seconds, bool) or not isinstance(grace_seconds, (int, float)) or not grace_seconds >= 0:
            raise ValidationError("grace_seconds", f"must be a number of seconds >= 0, not {grace_seconds!r}")
        current = self.get_webhook(webhook)
        now = self._clock()
        updated = replace(
            current,
            secret=Secret(validate_secret(new_secret) if new_secret is not None else generate_secret()),
            previous_secret=current.secret,
            previous_secret_expires_ms=now + int(grace_seconds * 1000),
            updated_ms=max(now, current.updated_ms + 1),
        )
        try:  # the previous secret is the one read above: not another rotation's in between
            self.store.replace_webhook(updated, expected_updated_ms=current.updated_ms)
        except ConflictError:
            raise _changed_since(self.get_webhook(current.id)) from None
        return updated

    def delete_webhook(self, webhook: Webhook | str) -> None:
        self.store.delete_webhook(webhook_id_of(webhook))

    def rotate_store_key(self) -> tuple[int, str]:
        """Re-encrypt every webhook secret in the store with a new key; ``(webhooks, what to do
        next)``. Keys in a key file (the SQLite default, or ``$SIMLIB_SECRET_KEY_FILE``): a new
        key is made and written first in the file, the secrets re-encrypted, then the old keys
        dropped from the file. Keys in ``$SIMLIB_SECRET_KEY``: the secrets are re-encrypted with
        the first key given there (put the new one first, ``"NEW,OLD"``), and the old one can then
        be removed from the variable."""
        from simlib.core.store.keys import new_key, write_key_file

        ring = self.store.keyring
        path = ring.path
        if path is None:
            count = self.store.reencrypt_secrets(ring)
            return count, "every secret is now encrypted with the first key of $SIMLIB_SECRET_KEY: remove the others"
        key = new_key()
        staged = ring.with_first(key)
        write_key_file(path, staged.keys())  # a crash from here on: the file still opens every secret
        count = self.store.reencrypt_secrets(staged)
        write_key_file(path, [key])
        self.store.reload_keys()
        return count, f"a new key is in {path}; the old one no longer opens anything (give the new file to those sharing the store)"

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
        return build_preview(
            wh,
            event_type,
            organisation_id=wh.organisation_id,
            seed=_secrets.randbits(48) if seed is None else seed,
            now_ms=self._clock(),
            overrides=overrides,
            options=options,
            max_bytes=self.max_payload_bytes,
        )

    def preview_series(
        self,
        webhook: Webhook,
        event_type: str,
        *,
        overrides: Overrides = None,
        options: Mapping[str, Any] | None = None,
    ) -> Callable[[int], Preview]:
        """``make(seed)`` is ``preview(webhook, event_type, seed=seed, overrides=overrides,
        options=options)`` for one webhook (read already) and many seeds -- a burst's payloads --
        with the event type, options and template looked up once (issue 12)."""
        make = preview_series(webhook, event_type, overrides=overrides, options=options,
                              max_bytes=self.max_payload_bytes, organisation_id=webhook.organisation_id)
        clock = self._clock

        def one(seed: int) -> Preview:
            return make(seed, clock())

        return one

    def send(
        self, preview: Preview, *, sign_with: SignWith = "current", cancel: threading.Event | None = None
    ) -> SimulationResult:
        """Deliver exactly ``preview.body``, signed now. Never raises for anything the endpoint
        or the store does; the attempt is recorded.

        ``cancel`` (a :class:`threading.Event`, set from another thread) ends the attempt within
        a second in any phase; it is recorded as "Simulation failed" with a detail that starts
        "Cancelled by the user" and says how far it got (:mod:`simlib.core.delivery.cancel`).

        The webhook is read again first: deleted -> "Webhook not found" (404); the event no
        longer subscribed -> "Event type not registered" (400). ``sign_with="previous"`` signs
        with the webhook's previous secret (rehearse a rotation). Invalid arguments (not a
        Preview, an unknown ``sign_with``) raise a ValidationError and are not recorded.
        """
        if not isinstance(preview, Preview):
            raise ValidationError("preview", f"expected a Preview (from preview()), not {type(preview).__name__}")
        check_sign_with(sign_with)

        def headers_for(wh: Webhook, ts: int) -> dict[str, str]:
            secret = wh.secret if sign_with == "current" else wh.previous_secret
            assert secret is not None  # checked by requires_previous below
            return signed_headers(secret, preview.body, ts, self.delivery)

        return self.send_exact(preview, headers_for, requires_previous=sign_with == "previous", cancel=cancel)

    def simulate(
        self,
        webhook: Webhook | str,
        event_type: str,
        *,
        overrides: Overrides = None,
        seed: int | None = None,
        options: Mapping[str, Any] | None = None,
        sign_with: SignWith = "current",
    ) -> SimulationResult:
        """Preview and send in one call. A webhook that does not exist, or a store that cannot be
        used, gives the Trackpilots error as a result (not an exception), as :meth:`send` does."""
        check_sign_with(sign_with)  # a caller's mistake raises before anything is recorded
        try:
            preview = self.preview(webhook, event_type, overrides=overrides, seed=seed, options=options)
        except NotFoundError:
            return self.unsent_result(
                webhook, event_type, WEBHOOK_NOT_FOUND, f"no webhook with id {webhook_id_of(webhook)!r}"
            )
        except StoreError as exc:
            return self.unsent_result(webhook, event_type, SERVICE_UNAVAILABLE, str(exc))
        return self.send(preview, sign_with=sign_with)

    def unsent_result(
        self, webhook: Webhook | str, event_type: str, error: SimulationError, detail: str
    ) -> SimulationResult:
        """The result of a simulation that could not even be built (its webhook is gone, or the
        store cannot be read): the Trackpilots ``error``, nothing sent, recorded if the store can."""
        check_event_name(event_type)  # what is recorded must be an id and an event name, not any text
        stub = Preview(
            webhook_id=webhook_id_of(webhook),
            webhook_name=webhook.name if isinstance(webhook, Webhook) else "",
            url=webhook.url if isinstance(webhook, Webhook) else "",
            event_type=event_type,
            body=b"",
            seed=0,
            event_id="",
        )
        return self.record_failure(stub, error, detail)

    def check_target(self, webhook_id: str, event_type: str) -> Target:
        """The webhook as it is now, read inside a write transaction (a store that could not
        record the attempt answers "Service unavailable" before anything is sent), or the
        simulation error that stops the send: deleted, or the event no longer subscribed."""
        try:
            wh = self.store.get_webhook(webhook_id, writable=True)
        except NotFoundError:
            return (WEBHOOK_NOT_FOUND, "the webhook was deleted after it was selected", None)
        except StoreError as exc:
            return (SERVICE_UNAVAILABLE, str(exc), None)
        return target_problem(wh, event_type) or wh

    def send_exact(
        self,
        preview: Preview,
        headers_for: HeadersFor,
        *,
        replay_of: int | None = None,
        label: str = "",
        requires_previous: bool = False,
        cancel: threading.Event | None = None,
    ) -> SimulationResult:
        """POST exactly ``preview.body`` with exactly the headers ``headers_for(webhook, now_ms)``
        returns (conformance variants, replays, imported captures). The guarantees of :meth:`send`
        hold: the webhook is re-read, nothing raises, the attempt is recorded; ``replay_of`` links
        the row to an earlier one and ``label`` prefixes its detail. A webhook id or event type
        that cannot be one (a hand-made Preview, an imported capture) raises a ValidationError
        before anything is recorded. ``cancel`` as for :meth:`send`."""
        webhook_id_of(preview.webhook_id)
        check_event_name(preview.event_type)
        sim_id = new_uuid4()
        if cancel is not None and cancel.is_set():
            return self.record_failure(preview, SIMULATION_FAILED, CANCELLED_BEFORE_SEND, replay_of=replay_of, simulation_id=sim_id)
        try:
            started = self.start_send(
                preview, sim_id, headers_for, requires_previous=requires_previous, replay_of=replay_of
            )
        except Exception as exc:  # noqa: BLE001 - the contract: a result, never a traceback
            return self.record_failure(
                preview, SIMULATION_FAILED, f"unexpected error: {type(exc).__name__}: {exc}",
                replay_of=replay_of, simulation_id=sim_id,
            )
        if isinstance(started, SimulationResult):
            return started
        wh, headers, ts, history_id = started
        try:
            config = self.delivery
            client = self.client_for(config)
            if cancel is None:
                outcome = deliver(client, wh.url, preview.body, headers, config)
            else:
                outcome = deliver_cancellable(client, wh.url, preview.body, headers, config, cancel)
            if label:
                outcome.detail = f"{label}: {outcome.detail}"
        except Exception as exc:  # noqa: BLE001 - the contract: a result, never a traceback
            outcome = Outcome(error=SIMULATION_FAILED, detail=f"unexpected error: {type(exc).__name__}: {exc}")
        except BaseException:  # Ctrl-C mid-send: the reserved row stays, reading "interrupted"
            self.store.abandon([history_id])
            raise
        return self.complete(preview, sim_id, wh, headers, ts, outcome, history_id, replay_of=replay_of)

    def start_send(
        self,
        preview: Preview,
        sim_id: str,
        headers_for: HeadersFor,
        *,
        requires_previous: bool = False,
        replay_of: int | None = None,
    ) -> SimulationResult | tuple[Webhook, dict[str, str], int, int]:
        """Everything a send does before the request goes out, in one write transaction: re-read
        the webhook; a send that stops here (deleted, event not subscribed, no previous secret)
        is recorded with its Trackpilots error and returned as a result; one that goes ahead gets
        its headers and its row reserved -- with the room for its outcome proved (disk full: no
        send) -- and returns ``(webhook, headers, sent_at_ms, history_id)``. A store that cannot
        do this (locked past the busy timeout, full, unusable) answers "Service unavailable",
        recorded only if that takes no second wait."""
        try:
            with self.store.transaction() as tx:
                wh = tx.get_webhook(preview.webhook_id)
                problem: tuple[SimulationError, str, Webhook | None] | None = (
                    (WEBHOOK_NOT_FOUND, "the webhook was deleted after it was selected", None)
                    if wh is None
                    else target_problem(wh, preview.event_type)
                )
                if problem is None and requires_previous and wh is not None and wh.previous_secret is None:
                    problem = (SIMULATION_FAILED, "the webhook has no previous secret to sign with", wh)
                if problem is not None:
                    error, detail, known = problem
                    row = make_history_row(
                        preview, sim_id, known, {}, self._safe_now(), Outcome(error=error, detail=detail),
                        replay_of=replay_of,
                    )
                    appended = tx.append(row)
                    self.notify_recorded([appended])
                    return result_from_row(row, history_id=appended)
                assert wh is not None
                ts = self._clock()
                headers = headers_for(wh, ts)
                pending = pending_row(preview, sim_id, wh, headers, ts, replay_of=replay_of)
                (history_id,) = tx.reserve([pending], outcome_bytes=outcome_bytes(self.delivery))
                self.notify_recorded([history_id])
        except StoreError as exc:
            return self.record_failure(
                preview, SERVICE_UNAVAILABLE, f"{exc} (nothing was sent)", replay_of=replay_of, simulation_id=sim_id,
                wait=False,
            )
        return wh, headers, ts, history_id

    def complete(
        self,
        preview: Preview,
        sim_id: str,
        wh: Webhook,
        headers: dict[str, str],
        sent_at_ms: int,
        outcome: Outcome,
        history_id: int,
        *,
        replay_of: int | None = None,
    ) -> SimulationResult:
        """Write the outcome into the row :meth:`start_send` reserved, then return the result;
        when the store cannot take it the result says "not recorded" and the reserved row stays
        *interrupted* (in the history, never Delivered)."""
        row = make_history_row(preview, sim_id, wh, headers, sent_at_ms, outcome, replay_of=replay_of)
        try:
            self.store.complete(history_id, row)
        except StoreError as exc:
            return result_from_row(
                row, note=f" (not recorded in history: {exc}; its history row {history_id} says interrupted)"
            )
        return result_from_row(row, history_id=history_id)

    def _safe_now(self) -> int:
        try:
            return self._clock()
        except Exception:  # noqa: BLE001 - a broken injected clock must not escape either
            return signing.now_ms()

    def client_for(self, config: DeliveryConfig) -> Sender:
        """The reused synchronous sender for ``config``'s connection settings."""
        key = config.client_key
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = make_sender(config)
            return client

    def record(
        self,
        preview: Preview,
        sim_id: str,
        wh: Webhook | None,
        headers: dict[str, str],
        sent_at_ms: int,
        outcome: Outcome,
        *,
        replay_of: int | None = None,
        wait: bool = True,
    ) -> SimulationResult:
        """Append the attempt to history, then return its result (``recorded=False``, with the
        reason in its detail, when the store could not take it; ``wait=False``: without waiting
        for a lock another process holds)."""
        row = make_history_row(preview, sim_id, wh, headers, sent_at_ms, outcome, replay_of=replay_of)
        try:
            history_id = self.store.append(row, wait=wait)
        except StoreError as exc:
            note = "" if row.error == SERVICE_UNAVAILABLE else f": {exc}"
            return result_from_row(row, note=f" (not recorded in history{note})")
        self.notify_recorded([history_id])
        return result_from_row(row, history_id=history_id)

    def notify_recorded(self, ids: Sequence[int]) -> None:
        """Tell the :attr:`record_listeners` that this simulator recorded the rows ``ids``."""
        for listener in list(self.record_listeners):
            try:
                listener(ids)
            except Exception:  # noqa: BLE001 - a listener never breaks a send
                pass

    def record_failure(
        self,
        preview: Preview,
        error: SimulationError,
        detail: str,
        *,
        webhook: Webhook | None = None,
        replay_of: int | None = None,
        simulation_id: str | None = None,
        wait: bool = True,
    ) -> SimulationResult:
        """Record a simulation that ended in one of the Trackpilots errors (nothing was sent).
        ``wait=False`` after the store already failed (one bounded wait per operation)."""
        outcome = Outcome(error=error, detail=detail)
        return self.record(
            preview, simulation_id or new_uuid4(), webhook, {}, self._safe_now(), outcome, replay_of=replay_of,
            wait=wait,
        )

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
        respect_retry_after: bool = False,
        engine: str = "auto",
        cancel: threading.Event | None = None,
    ) -> BurstResult:
        """Send ``n`` simulations at most ``concurrency`` at a time (and at most ``rate`` per
        second); every attempt is recorded. ``respect_retry_after``: hold new sends while a
        429's Retry-After runs; ``engine``: "auto" (aiohttp, else httpx), "aiohttp" or "httpx";
        once ``cancel`` is set no further one starts. See :mod:`simlib.core.burst`."""
        from simlib.core.burst import send_many

        return send_many(
            self, webhook, event_type, n, concurrency=concurrency, rate=rate, repeat_payload=repeat_payload,
            overrides=overrides, options=options, seed=seed, progress=progress, preview=preview,
            respect_retry_after=respect_retry_after, engine=engine, cancel=cancel,
        )

    async def send_many_async(self, webhook: Webhook | str, event_type: str, n: int, **kwargs: Any) -> BurstResult:
        """:meth:`send_many` for code already running in an event loop (``await``)."""
        from simlib.core.burst import send_many_async

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
        user: str | Sequence[str] | None = None,
        host: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Every attempt, oldest first, as a typed DataFrame.

        Filters: ``webhook`` (id, Webhook or list of ids), ``event_type``, ``result``
        ("Delivered", "Failed", or a simulation error such as "Network error"), ``since`` /
        ``until`` (datetime, ISO string or epoch ms; inclusive), ``limit`` (the newest N),
        ``user`` / ``host`` (who sent it, from which machine: a shared store's team history).
        """
        filters, limit = _history_filters(webhook, event_type, result, since, until, limit, user, host)
        return self.store.history_frame(filters, limit=limit)

    def history_count(self) -> int:
        """How many attempts the history holds."""
        return self.store.history_count()

    def history_row(self, history_id: int) -> dict[str, Any]:
        """One attempt with its exact request body as bytes."""
        return self.store.history_row(history_id)

    # -- the history workbench: pages, capped counts, links, bounded reads ----------------------------

    def history_page(
        self,
        filters: HistoryFilter | None = None,
        *,
        order: HistoryOrder = "newest",
        after: PageCursor | None = None,
        before: PageCursor | None = None,
        limit: int = DEFAULT_PAGE_ROWS,
    ) -> HistoryPage:
        """One page of the attempts matching ``filters`` (a :class:`~simlib.HistoryFilter`), in
        ``order`` (newest first by default): the first, the one ``after`` the last row of a page,
        or the one ``before`` its first row. Rows are dicts without bodies (open one with
        :meth:`history_row`); the cost stays flat however long the history is."""
        return self.store.history_page(filters, order=order, after=after, before=before, limit=limit)

    def history_count_capped(self, filters: HistoryFilter | None = None, *, cap: int = DEFAULT_COUNT_CAP) -> CappedCount:
        """How many attempts match ``filters``, counted up to ``cap`` (``"10,000+"``)."""
        return self.store.history_count_capped(filters, cap=cap)

    def replays_of(self, history_id: int) -> list[int]:
        """The ids of the attempts that replay history row ``history_id``, oldest first."""
        return self.store.replays_of(int(history_id))

    def find_attempts(self, *, signature: str | None = None, timestamp: str | None = None, limit: int = 20) -> list[int]:
        """The ids of recorded attempts sent with this signature header (else this timestamp
        header), newest first: the way from a customer's pasted request back to what was sent."""
        return self.store.find_attempts(signature=signature, timestamp=timestamp, limit=limit)

    def history_matching(
        self, filters: HistoryFilter | None = None, *, limit: int | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The attempts matching ``filters`` as :meth:`history` gives them (oldest first): the
        newest ``limit`` of them, and only ``columns`` when given (e.g. for an analysis)."""
        return self.store.history_filtered(filters, limit=limit, columns=columns)

    def export_bytes(self, format: str, filters: HistoryFilter | None = None, *, limit: int | None = None) -> bytes:
        """The attempts matching ``filters`` (the newest ``limit``) as CSV, JSON or Parquet
        bytes: what :meth:`export_history` writes to a file, e.g. for a browser download."""
        return frame_bytes(self.history_matching(filters, limit=limit), format)

    def export_history(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        progress: Progress = False,
        chunk_rows: int = CHUNK_ROWS,
        **filters: Any,
    ) -> Path:
        """Write the (filtered) history to CSV, JSON or Parquet; the format follows the suffix.
        ``filters`` are those of :meth:`history`.

        Streamed (issue 12): ``chunk_rows`` rows at a time, so memory does not grow with the
        history; the file appears when complete. ``progress``: True shows a tqdm bar, a function
        is called as ``progress(rows_written, rows_in_all)`` after each chunk."""
        out = Path(path)
        fmt = export_format(format or out.suffix.lstrip("."))
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValidationError("chunk_rows", f"must be a whole number >= 1, not {chunk_rows!r}")
        unknown = set(filters) - {"webhook", "event_type", "result", "since", "until", "limit", "user", "host"}
        if unknown:
            raise TypeError(f"export_history() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        where, limit = _history_filters(**filters)
        total = self.store.history_frame_rows(where, limit=limit) if progress else 0
        write_frames(self.store.history_frames(where, limit=limit, chunk_rows=chunk_rows), out, fmt, progress=progress,
                     total=total)
        return out


def _changed_since(now: Webhook) -> ConflictError:
    """The refusal of a change to a webhook someone else changed since it was read."""
    return ConflictError(
        "webhook", now.id,
        f"'{now.name}' was changed by someone else (another page, a notebook or the CLI) since it was read; "
        "nothing was saved: read it again and redo the change",
    )
