"""Receiver conformance: a negative-test matrix and a timestamp-tolerance probe.

    sim.check_receiver("wh_1")      # DataFrame: variant, sent, expected, observed_status, verdict, ...
    sim.probe_tolerance("wh_1")     # ProbeResult: past_ms, future_ms, flags, frame

Every request is a real simulation (``"simulation": true`` body, a fresh payload per request)
sent through :meth:`Engine.send_exact <simlib.core.engine.Engine.send_exact>`, so each one is recorded in the history with a detail
that names it (``check wrong-secret: 401 Unauthorized ...``). The matrix always signs the way
Trackpilots documents it (lowercase hex, milliseconds), whatever the DeliveryConfig says.

Both take ``progress(done, total)``, called after every request (``total`` is an upper bound for
the probe, whose bisection may stop early), and ``cancel``, a :class:`threading.Event`: once it
is set, no further request starts; the one in flight finishes (and is recorded) and what was
measured so far is returned, marked cancelled (``frame.attrs["cancelled"]``,
``ProbeResult.cancelled``). The explorer's Receiver check panel runs them on a worker thread.
"""

from __future__ import annotations

import json
import re
import secrets as _secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from simlib.core.classify import is_rate_limited, retry_after_seconds
from simlib.core.delivery.http import request_headers
from simlib.core.events import check_event_name, set_organisation_id
from simlib.core.ids import new_uuid4
from simlib.core.jsjson import parse as js_parse
from simlib.core.jsjson import stringify
from simlib.core.payload import serialize
from simlib.core.signing import DEFAULT_TOLERANCE_MS, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from simlib.errors import ValidationError
from simlib.records import SERVICE_UNAVAILABLE, Preview, SimulationResult, Webhook

if TYPE_CHECKING:
    import pandas as pd

    from simlib.core.engine import Engine

__all__ = [
    "CHECK_COLUMNS",
    "DEFAULT_RATE_LIMIT_WAIT_S",
    "RESERIALISED_WHY",
    "SAME_JSON",
    "VARIANTS",
    "ProbeResult",
    "check_receiver",
    "probe_tolerance",
    "same_json_other_bytes",
]

CHECK_COLUMNS = ["variant", "sent", "expected", "observed_status", "verdict", "explanation", "history_id"]
PASS, FAIL, NOTE = "PASS", "FAIL", "NOTE"

HeadersFor = Callable[[Webhook, int], dict[str, str]]
#: ``progress(done, total)``: requests sent so far, and how many there will be (at most).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Variant:
    """One row of the matrix. ``expect``: accept (2xx), reject (4xx), accept_note (2xx, a
    rejection is only a note), replay (refusal expected, acceptance is a note) or organisation
    (401/403 expected when the webhook carries an organisation id, else acceptance is a note)."""

    name: str
    sent: str
    expect: str
    expected: str
    wrong: str  # the explanation when the endpoint does what it must not


VARIANTS: tuple[Variant, ...] = (
    Variant("valid", "correctly signed, timestamp now (ms)", "accept", "2xx",
            "your endpoint rejected a correctly signed request"),
    Variant("wrong-secret", "signed with a different secret", "reject", "reject (401)",
            "your endpoint accepted a signature made with another secret — it does not verify signatures"),
    Variant("signature-of-other-body", "signature computed over a different body", "reject", "reject (401)",
            "your endpoint accepted a signature of a different body — it does not verify the body it received"),
    Variant("body-one-byte-changed", "one byte of the body changed after signing", "reject", "reject (401)",
            "your endpoint accepted a body that was modified after signing — it does not verify signatures"),
    Variant("body-reserialised", "body re-serialised with spaces after signing", "reject", "reject (401)",
            "your endpoint accepted a re-serialised body — it verifies a re-serialisation of the parsed JSON "
            "(or nothing), not the raw bytes"),
    Variant("signature-uppercase", "signature in upper-case hex", "accept_note", "2xx (hex is case-insensitive)",
            "your endpoint compares hex case-sensitively — Trackpilots sends lower case today, but compare "
            "case-insensitively"),
    Variant("header-names-title-case", "X-Webhook-Signature / X-Webhook-Timestamp spelling", "accept", "2xx",
            "your endpoint rejected Title-Case header names — it looks headers up case-sensitively (the docs "
            "spell them both ways; HTTP header names are case-insensitive)"),
    Variant("missing-signature", "no x-webhook-signature header", "reject", "reject (401)",
            "your endpoint accepted a request without a signature — it does not require one"),
    Variant("missing-timestamp", "no x-webhook-timestamp header", "reject", "reject (401)",
            "your endpoint accepted a request without a timestamp — it cannot have verified the signed string"),
    Variant("timestamp-in-seconds", "validly signed, x-webhook-timestamp in seconds", "reject", "reject (401)",
            "your endpoint accepted a timestamp in seconds"),
    Variant("timestamp-too-old", "validly signed, timestamp 2 × tolerance in the past", "reject", "reject (401)",
            "your endpoint accepted a stale timestamp"),
    Variant("timestamp-in-future", "validly signed, timestamp 2 × tolerance in the future", "reject", "reject (401)",
            "your endpoint accepted a timestamp far in the future"),
    # -- issue 14: "same JSON, other bytes" (each signed over the bytes sent) and organisations ----
    Variant("same-json-unicode-escapes", "same JSON, non-ASCII escaped as \\u00e9, signed over these bytes", "accept",
            "2xx", "your endpoint verifies a re-serialised body, not the bytes it received (it rejected \\u00e9-style "
            "escapes that JSON.stringify would not write)"),
    Variant("same-json-escaped-slash", "same JSON, / escaped as \\/, signed over these bytes", "accept", "2xx",
            "your endpoint verifies a re-serialised body, not the bytes it received (it rejected \\/ escapes)"),
    Variant("same-json-pretty-printed", "same JSON, pretty-printed (indent 2), signed over these bytes", "accept", "2xx",
            "your endpoint verifies a re-serialised body, not the bytes it received (it rejected insignificant white "
            "space)"),
    Variant("same-json-number-form", "same JSON, the timestamp as 1.769…e12 (another form of the same number), "
            "signed over these bytes", "accept", "2xx",
            "your endpoint verifies a re-serialised body, not the bytes it received (it rejected a number in another "
            "valid form, as 1e16 for 10000000000000000)"),
    Variant("other-organisation-secret", "signed with another organisation's secret (a webhook on the same URL)",
            "reject", "reject (401)",
            "your endpoint accepted a request signed with another organisation's secret — it must choose the secret by "
            "the payload's organisationId and verify with that one only"),
    Variant("unknown-organisation", "correctly signed, organisation.organisationId no webhook has", "organisation",
            "reject (401/403) when one URL serves several organisations",
            "your endpoint accepted an organisation it does not know — one URL serving several organisations must "
            "refuse an organisationId it has no secret for (401/403)"),
    Variant("replayed", "the valid request sent again, byte for byte", "replay", "reject (409), or 2xx if de-duplicated",
            "your endpoint accepted the exact same request twice — fine if it de-duplicates, otherwise a captured "
            "request can be replayed within the tolerance window"),
)
#: The variants whose bytes differ from what JSON.stringify writes for the same JSON value.
SAME_JSON = ("same-json-unicode-escapes", "same-json-escaped-slash", "same-json-pretty-printed", "same-json-number-form")
#: What a receiver that rejects the same-JSON variants does wrong, in one line.
RESERIALISED_WHY = "your endpoint verifies a re-serialised body, not the bytes it received"
#: The longest a check waits for a rate-limited endpoint (Retry-After, capped) before one retry.
DEFAULT_RATE_LIMIT_WAIT_S = 5.0
#: The explanation of a variant not sent because the valid request got no HTTP answer.
NOT_RUN = "not run: the correctly signed request got no answer"
#: A text field per event type, for the same-JSON variants (non-ASCII and "/" to escape).
_TEXT_FIELDS = {"desktop.app_tracking.captured": "data.0.tracking.app.name",
                "desktop.screenshot_tracking.captured": "data.0.screenshot.app.name"}
_TEXT = "Café Zoë — Straße/Ελληνικά ✓"


def _headers(secret: str, body: bytes, ts: int, config: Any, **kw: Any) -> dict[str, str]:
    return request_headers(sign(secret, body, ts, **kw), config)


def _one_byte_changed(body: bytes) -> bytes:
    """Bump the last digit of the envelope ``timestamp`` (stays valid JSON and UTF-8)."""
    m = re.search(rb'"timestamp":(\d+)', body)
    if m is None:  # pragma: no cover - every event has an envelope timestamp
        return body[:-1] + (b" " if body[-1:] != b" " else b"\n")
    pos = m.end(1) - 1
    digit = (body[pos] - 0x30 + 1) % 10
    return body[:pos] + bytes([0x30 + digit]) + body[pos + 1 :]


def _escape_non_ascii(body: bytes) -> bytes:
    """Every non-ASCII character as a ``\\u`` escape (astral ones as a surrogate pair); a body
    without any gets the letters of its ``"version"`` value escaped instead (the same JSON)."""
    text = body.decode("utf-8")
    if text.isascii():
        return body.replace(b'"version":"v1"', b'"version":"\\u0076\\u0031"', 1)
    out = []
    for ch in text:
        cp = ord(ch)
        if cp < 0x80:
            out.append(ch)
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            cp -= 0x10000
            out.append(f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}")
    return "".join(out).encode("ascii")


def _number_form(body: bytes) -> bytes:
    """The envelope ``timestamp`` in exponent form (``1769592774119`` -> ``1.769592774119e12``): the same number."""
    m = re.search(rb'"timestamp":(\d+)', body)
    if m is None:  # pragma: no cover - every event has an envelope timestamp
        return body
    digits = m.group(1).decode()
    rest = digits[1:].rstrip("0")
    form = f"{digits[0]}{'.' + rest if rest else ''}e{len(digits) - 1}".encode()
    return body[: m.start(1)] + form + body[m.end(1) :]


def same_json_other_bytes(variant: str, body: bytes) -> bytes:
    """The body of a same-JSON variant: the same JSON value as ``body``, other bytes."""
    if variant == "same-json-unicode-escapes":
        return _escape_non_ascii(body)
    if variant == "same-json-escaped-slash":
        return body.replace(b"/", b"\\/")
    if variant == "same-json-pretty-printed":
        return stringify(js_parse(body), indent=2).encode("utf-8")
    if variant == "same-json-number-form":
        return _number_form(body)
    raise ValueError(f"not a same-JSON variant: {variant!r}")


def _text_event(sim: Engine, wh: Webhook, event: str) -> str:
    """The event the same-JSON variants send: one with a text field (non-ASCII, "/") when the
    webhook subscribes to one, else ``event``."""
    if event in _TEXT_FIELDS:
        return event
    return next((e for e in wh.events if e in _TEXT_FIELDS), event)


def _other_organisations(sim: Engine, wh: Webhook) -> list[Webhook]:
    """Webhooks on the same URL carrying another organisation id (one URL, many organisations)."""
    return [o for o in sim.list_webhooks()
            if o.id != wh.id and o.url == wh.url and o.organisation_id and o.organisation_id != wh.organisation_id]


def _default_event(wh: Webhook, event_type: str | None) -> str:
    """The event the check (or probe) sends: ``event_type``, which the webhook must subscribe to
    (else a ValidationError before anything is sent: every variant would be refused by simlib as
    "Event type not registered", and the report would blame the receiver), or activity if the
    webhook subscribes to it, else its first event."""
    if event_type is not None:
        check_event_name(event_type)  # not a name at all: UnknownEventError, as a send says it
        if event_type not in wh.events:
            raise ValidationError("event", f"webhook {wh.id} is not subscribed to {event_type} "
                                  f"(it is to {', '.join(wh.events) or 'no event'}): nothing was sent")
        return event_type
    activity = "desktop.activity_tracking.captured"
    return activity if activity in wh.events else wh.events[0]


def _build(variant: str, p: Preview, other: Preview, tolerance_ms: int, config: Any) -> tuple[bytes, HeadersFor]:
    """The body sent and the headers for one variant (the secret is read at send time)."""
    body = p.body
    if variant == "wrong-secret":
        bogus = "wrong-" + _secrets.token_urlsafe(24)
        return body, lambda wh, ts: _headers(bogus, body, ts, config)
    if variant == "signature-of-other-body":
        return body, lambda wh, ts: _headers(wh.secret.reveal(), other.body, ts, config)
    if variant == "body-one-byte-changed":
        return _one_byte_changed(body), lambda wh, ts: _headers(wh.secret.reveal(), body, ts, config)
    if variant == "body-reserialised":
        spaced = json.dumps(json.loads(body)).encode("utf-8")  # what json.dumps(request.json()) gives
        return spaced, lambda wh, ts: _headers(wh.secret.reveal(), body, ts, config)
    if variant == "signature-uppercase":

        def upper(wh: Webhook, ts: int) -> dict[str, str]:
            h = _headers(wh.secret.reveal(), body, ts, config)
            h[SIGNATURE_HEADER] = h[SIGNATURE_HEADER].upper()
            return h

        return body, upper
    if variant == "header-names-title-case":

        def title(wh: Webhook, ts: int) -> dict[str, str]:
            h = _headers(wh.secret.reveal(), body, ts, config)
            return {"-".join(w.capitalize() for w in k.split("-")): v for k, v in h.items()}

        return body, title
    if variant in ("missing-signature", "missing-timestamp"):
        drop = SIGNATURE_HEADER if variant == "missing-signature" else TIMESTAMP_HEADER

        def without(wh: Webhook, ts: int) -> dict[str, str]:
            h = _headers(wh.secret.reveal(), body, ts, config)
            del h[drop]
            return h

        return body, without
    if variant == "timestamp-in-seconds":
        return body, lambda wh, ts: _headers(wh.secret.reveal(), body, ts, config, timestamp_unit="s")
    if variant == "timestamp-too-old":
        return body, lambda wh, ts: _headers(wh.secret.reveal(), body, ts - 2 * tolerance_ms, config)
    if variant == "timestamp-in-future":
        return body, lambda wh, ts: _headers(wh.secret.reveal(), body, ts + 2 * tolerance_ms, config)
    if variant in SAME_JSON:
        other_bytes = same_json_other_bytes(variant, body)
        return other_bytes, lambda wh, ts: _headers(wh.secret.reveal(), other_bytes, ts, config)
    if variant == "unknown-organisation":
        stranger = serialize(set_organisation_id(js_parse(body), "org-unknown-" + new_uuid4()))
        return stranger, lambda wh, ts: _headers(wh.secret.reveal(), stranger, ts, config)
    return body, lambda wh, ts: _headers(wh.secret.reveal(), body, ts, config)  # valid


def check_receiver(
    sim: Engine,
    webhook: Webhook | str,
    *,
    event_type: str | None = None,
    seed: int | None = None,
    tolerance_ms: int = DEFAULT_TOLERANCE_MS,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    rate_limit_wait_s: float = DEFAULT_RATE_LIMIT_WAIT_S,
) -> pd.DataFrame:
    """Send one valid simulation and every deliberately broken variant (:data:`VARIANTS`) to
    the webhook's endpoint and judge each answer as a correct receiver must give it.

    Returns a DataFrame with ``variant, sent, expected, observed_status, verdict (PASS / FAIL /
    NOTE), explanation, history_id``. ``tolerance_ms`` is the window the stale and future
    variants step outside (twice over); ``seed`` makes the payloads reproducible.

    ``progress(done, total)`` is called after each request. When ``cancel`` is set, no further
    request starts: the frame holds the variants sent so far and ``frame.attrs["cancelled"]``
    is True (``frame.attrs["requests"]`` of ``frame.attrs["total"]`` were sent). A store that is
    unavailable ("Service unavailable": nothing sent) stops the check the same way, after one
    wait for it, with the reason in ``frame.attrs["stopped_early"]``. A valid request that gets no
    HTTP answer at all (network error, deadline, connection refused) stops the check too: every
    other variant is a NOTE row :data:`NOT_RUN` (no status, no history id) and
    ``frame.attrs["not_run"]`` says why in one line, also appended to the ``valid`` row (a FAIL).

    The same-JSON variants send the JSON value of a correct body in other bytes (``\\u00e9``
    escapes, ``\\/``, pretty-printed, a number in exponent form), each signed over the bytes
    sent: a receiver that verifies a re-serialised body (``JSON.stringify(req.body)``) fails
    them. They use an event with a text field (app or screenshot) when the webhook subscribes to
    one. The organisation variants sign with another organisation's secret (a webhook on the
    same URL with another organisation id; a random secret when there is none) and send an
    organisation id no webhook has (a FAIL when accepted only if the webhook carries an
    organisation id: one URL serving several organisations).

    A 429 answer (rate limited) is waited out once, as its Retry-After asks (at most
    ``rate_limit_wait_s`` seconds; 1 s without the header), then sent again; still 429, the
    variant is a NOTE "rate limited", never a signature verdict.
    """
    import pandas as pd

    if tolerance_ms <= 0:
        raise ValidationError("tolerance_ms", "must be a positive number of milliseconds")
    wh = sim.get_webhook(webhook)
    event = _default_event(wh, event_type)
    base = _secrets.randbits(31) if seed is None else seed
    config = sim.delivery
    results: dict[str, SimulationResult] = {}
    skipped: dict[str, str] = {}  # variants that could not be made for this event: why
    valid_preview: Preview | None = None
    cancelled = False
    stopped: str | None = None
    not_run: str | None = None  # why the variants after an unanswered valid request were not sent
    for i, variant in enumerate(VARIANTS):
        if i and progress is not None:
            progress(i, len(VARIANTS))
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        previous = results.get(VARIANTS[i - 1].name) if i else None
        if previous is not None and previous.error == SERVICE_UNAVAILABLE:
            stopped = f"the store is unavailable: {previous.detail}"
            cancelled = True  # one wait for a locked store, not one per variant
            break
        if i == 1 and _no_answer(results["valid"]):  # one deadline for a silent endpoint, not one per variant
            not_run = f"no answer to the correctly signed request: the other {len(VARIANTS) - 1} variants were not sent"
            break
        if variant.name == "replayed":  # the valid request again: same bytes, same headers
            first, again = results["valid"], dict(results["valid"].request_headers)
            assert valid_preview is not None  # "valid" comes first in VARIANTS

            def same_headers(w: Webhook, ts: int, again: dict[str, str] = again) -> dict[str, str]:
                return dict(again)

            results[variant.name] = _send_patiently(
                sim, valid_preview, same_headers, "check replayed", rate_limit_wait_s, cancel,
                replay_of=first.history_id,
            )
            continue
        if variant.name in SAME_JSON:
            text_event = _text_event(sim, wh, event)
            field_ = _TEXT_FIELDS.get(text_event)
            p = sim.preview(wh, text_event, seed=base + i, overrides={field_: _TEXT} if field_ else None)
            if variant.name == "same-json-escaped-slash" and b"/" not in p.body:
                skipped[variant.name] = f"not sent: a {text_event} body has no '/' to escape"
                continue
        else:
            p = sim.preview(wh, event, seed=base + i)
        valid_preview = valid_preview or p
        other = sim.preview(wh, event, seed=base + 1000 + i) if variant.name == "signature-of-other-body" else p
        body, headers_for = _build(variant.name, p, other, tolerance_ms, config)
        if variant.name == "other-organisation-secret":
            siblings = _other_organisations(sim, wh)
            if siblings:
                sibling = siblings[0].id

                def sibling_headers(w: Webhook, ts: int, body: bytes = body, sibling: str = sibling) -> dict[str, str]:
                    return _headers(sim.get_webhook(sibling).secret.reveal(), body, ts, config)

                headers_for = sibling_headers
            else:  # no other organisation on this URL: a secret no organisation has

                def stranger_headers(w: Webhook, ts: int, body: bytes = body,
                                     bogus: str = "other-org-" + _secrets.token_urlsafe(24)) -> dict[str, str]:
                    return _headers(bogus, body, ts, config)

                headers_for = stranger_headers
        results[variant.name] = _send_patiently(
            sim, replace(p, body=body), headers_for, f"check {variant.name}", rate_limit_wait_s, cancel
        )
    else:
        if progress is not None:
            progress(len(VARIANTS), len(VARIANTS))

    valid_ok = "valid" in results and _delivered(results["valid"])
    rows: list[list[Any]] = []
    multi_org = wh.organisation_id is not None
    for variant in VARIANTS:
        if variant.name in skipped and not cancelled:
            rows.append([variant.name, variant.sent, variant.expected, None, NOTE, skipped[variant.name], None])
            continue
        if variant.name not in results:
            if not_run is not None:
                rows.append([variant.name, variant.sent, variant.expected, None, NOTE, NOT_RUN, None])
            continue  # else cancelled before it was sent
        r = results[variant.name]
        verdict, why = _judge(variant, r, valid_ok, results, tolerance_ms, multi_org=multi_org)
        if variant.name == "valid" and not_run is not None:
            why += f" — {not_run}"
        rows.append([variant.name, variant.sent, variant.expected, r.http_status, verdict, why, r.history_id])
    frame = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    frame["observed_status"] = frame["observed_status"].astype("Int64")
    frame["history_id"] = frame["history_id"].astype("Int64")
    frame.attrs.update(cancelled=cancelled, requests=len(results), total=len(VARIANTS), stopped_early=stopped,
                       not_run=not_run, unrecorded=sum(not r.recorded for r in results.values()))
    return frame


def _accepted(results: dict[str, SimulationResult], name: str) -> bool | None:
    """Whether variant ``name`` was accepted; None when it was not sent (a cancelled check)."""
    r = results.get(name)
    return None if r is None else _delivered(r)


def _delivered(r: SimulationResult) -> bool:
    return r.delivered


def _no_answer(r: SimulationResult) -> str:
    if r.error and r.http_status is None:
        return f"no HTTP answer ({r.error}): {r.detail}"
    return ""


def _send_patiently(
    sim: Engine, preview: Preview, headers_for: HeadersFor, label: str, max_wait_s: float,
    cancel: threading.Event | None, *, replay_of: int | None = None,
) -> SimulationResult:
    """Send; if the endpoint answers 429 (rate limited), wait as its Retry-After asks (1 s when
    it says nothing) if that is at most ``max_wait_s``, and send once more (both recorded)."""
    r = sim.send_exact(preview, headers_for, label=label, replay_of=replay_of)
    if not is_rate_limited(r.http_status):
        return r
    wait = retry_after_seconds(r.response_headers, now_ms=sim.now_ms())
    wait = 1.0 if wait is None else wait
    if wait > max_wait_s:
        return r
    if cancel is not None:
        if cancel.wait(wait):
            return r
    else:
        time.sleep(wait)
    return sim.send_exact(preview, headers_for, label=f"{label} (after 429)", replay_of=replay_of)


def _rate_limited(r: SimulationResult) -> str:
    ra = r.retry_after
    return (f"rate limited (429{', Retry-After: ' + ra if ra else ''}): not judged — the endpoint throttled the "
            "check, which says nothing about its signature checks; run it again later or raise its limit")


def _judge(
    v: Variant, r: SimulationResult, valid_ok: bool, results: dict[str, SimulationResult], tolerance_ms: int,
    *, multi_org: bool = False,
) -> tuple[str, str]:
    status = r.http_status
    accepted = _delivered(r)
    if is_rate_limited(status):
        return NOTE, _rate_limited(r)
    if v.expect == "organisation":
        if accepted:
            if multi_org:
                return FAIL, v.wrong
            return NOTE, ("accepted: fine for an endpoint serving one organisation; one URL serving several must "
                          "refuse an organisationId it has no secret for (401/403)")
        if _no_answer(r):
            return NOTE, _no_answer(r)
        if not valid_ok:
            return NOTE, f"rejected ({status}), but so was the valid request — this proves nothing"
        if status in (401, 403):
            return PASS, f"refused the unknown organisation ({status}) as it must"
        return NOTE, f"rejected with status {status}: answer 401 or 403 to an organisation you do not know"
    if v.expect in ("accept", "accept_note"):
        if accepted:
            if v.expect == "accept_note":
                return PASS, "accepted: hex is compared case-insensitively"
            return PASS, f"accepted ({status}) as it must be"
        if _no_answer(r):
            return FAIL, _no_answer(r)
        if v.name == "valid":
            return FAIL, _valid_refused(v, r, results)
        if not valid_ok:
            return NOTE, f"rejected ({status}), but so was the valid request — this proves nothing"
        if v.expect == "accept_note":
            return NOTE, f"rejected ({status}): {v.wrong}"
        return FAIL, f"{v.wrong} (status {status})"
    if v.expect == "replay":
        if accepted:
            return NOTE, v.wrong
        if _no_answer(r):
            return NOTE, _no_answer(r)
        if status is not None and 400 <= status < 500 and valid_ok:
            return PASS, f"refused the replay ({status}): replay protection"
        return NOTE, f"answered {status}" + ("" if valid_ok else ", but the valid request was refused too")
    # expect == "reject"
    if accepted:
        return FAIL, v.wrong + _context(v.name, results, tolerance_ms)
    if _no_answer(r):
        return NOTE, _no_answer(r)
    if not valid_ok:
        return NOTE, f"rejected ({status}), but so was the valid request — this proves nothing"
    if status is not None and 400 <= status < 500:
        return PASS, f"rejected ({status}) as it must be"
    return NOTE, f"rejected with status {status}: answer 4xx (e.g. 401) — a 5xx or 3xx looks like an outage"


def _valid_refused(v: Variant, r: SimulationResult, results: dict[str, SimulationResult]) -> str:
    """Why the correctly signed request was not accepted, by the class of its status: only a
    401/403 is a signature verdict."""
    status = r.http_status
    assert status is not None  # an unanswered request is judged before
    if 300 <= status < 400:
        loc = r.response_headers.get("location")
        return (f"your endpoint answered a correctly signed request with a redirect (status {status})"
                f"{' to ' + loc if loc else ''}, not followed: a webhook endpoint must answer 2xx itself — the "
                "endpoint URL is probably wrong or has moved")
    if status >= 500:
        return (f"your endpoint failed on a correctly signed request (status {status}): a server error, not a "
                "signature verdict — see its logs")
    why = f"{v.wrong} (status {status})"
    if _flat_payload_answer(r):
        return why + (" — it reads organisationId/userId at the top level of the body (a flat payload); "
                      "Trackpilots nests them: data[0].organisation.organisationId and data[0].user.userId "
                      "(data.organisation… for the activity event)")
    if 400 <= status < 500 and _accepted(results, "timestamp-in-seconds"):
        return why + " — it reads x-webhook-timestamp as seconds (Trackpilots sends milliseconds)"
    if status in (401, 403):
        return why + " — check its secret, that it verifies the raw body bytes and reads the timestamp in ms"
    words = _CLIENT_ERRORS.get(status, "a client error" if 400 <= status < 500 else "not a 2xx")
    said = _answer_excerpt(r)
    return (f"{why}: {words} — not a signature verdict (that would be 401/403)"
            + (f"; its answer: {said}" if said else ""))


#: Other 4xx answers to the correctly signed request, in words.
_CLIENT_ERRORS = {
    400: "it found the request malformed",
    404: "not found — the endpoint URL (its path) is probably wrong",
    405: "method not allowed — the endpoint URL probably does not take a POST",
    410: "the endpoint says it is gone — the endpoint URL is probably outdated",
    413: "the body is too large for it",
    415: "it refused the content type (application/json)",
    422: "it could not process the body",
}


def _answer_excerpt(r: SimulationResult, limit: int = 120) -> str:
    """The start of the endpoint's answer body on one line ("" when it said nothing)."""
    text = " ".join((r.response_body or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flat_payload_answer(r: SimulationResult) -> bool:
    """Whether a refusal names top-level ids: a receiver expecting a flat payload."""
    text = (r.response_body or "").lower()
    return r.http_status == 400 and ("organisationid" in text or "userid" in text)


def _context(name: str, results: dict[str, SimulationResult], tolerance_ms: int) -> str:
    """The cause behind a wrongly accepted timestamp variant, from the other variants (those a
    cancelled check did not send say nothing)."""
    old_ok = _accepted(results, "timestamp-too-old")
    seconds = tolerance_ms * 2 // 1000
    if name == "timestamp-in-seconds":
        if old_ok is None:
            return ""
        if old_ok:
            return " — it does not check the timestamp at all"
        return " — it reads x-webhook-timestamp as seconds (Trackpilots sends milliseconds)"
    if name == "timestamp-too-old":
        return f" ({seconds} s old) — no replay window, or one wider than {seconds} s (measure it with probe_tolerance)"
    if name == "timestamp-in-future":
        if old_ok is None:
            return f" ({seconds} s ahead)"
        if not old_ok:
            return f" ({seconds} s ahead) — its window is one-sided: it only rejects timestamps that are too old"
        return f" ({seconds} s ahead) — it does not check the timestamp at all"
    return ""


# -- tolerance probe ------------------------------------------------------------------------------


#: How the flag of a probe stopped by an unavailable store begins.
STORE_STOPPED = "stopped: the store is unavailable"


@dataclass
class ProbeResult:
    """How far in the past and the future the receiver still accepts a timestamp.

    ``past_ms`` / ``future_ms``: the estimated edge (midway between the largest offset accepted
    and the smallest refused), or None when no edge was found up to ``max_ms`` (or the receiver
    refused even a fresh request). ``flags`` lists what looks wrong, one line each.
    """

    fresh_status: int | None
    accepts_fresh: bool
    accepts_seconds: bool
    past_ms: int | None
    future_ms: int | None
    past: tuple[int | None, int | None]  # (largest accepted offset, smallest refused offset), ms
    future: tuple[int | None, int | None]
    max_ms: int
    resolution_ms: int
    requests: int
    flags: list[str] = field(default_factory=list)
    history_ids: list[int] = field(default_factory=list, repr=False)
    cancelled: bool = False  # stopped by its cancel event before the measurement was complete
    unrecorded: int = 0  # requests the history could not take (the CLI then exits 2)

    @property
    def store_stopped(self) -> bool:
        """The probe stopped because the store was unavailable (nothing more could be recorded)."""
        return any(flag.startswith(STORE_STOPPED) for flag in self.flags)

    @property
    def frame(self) -> pd.DataFrame:
        """One row per direction: accepted_up_to_ms, refused_from_ms, edge_ms."""
        import pandas as pd

        rows = []
        for direction, (acc, ref), edge in (("past", self.past, self.past_ms), ("future", self.future, self.future_ms)):
            rows.append([direction, acc, ref, edge])
        frame = pd.DataFrame(rows, columns=["direction", "accepted_up_to_ms", "refused_from_ms", "edge_ms"])
        for col in ("accepted_up_to_ms", "refused_from_ms", "edge_ms"):
            frame[col] = frame[col].astype("Int64")
        return frame

    def summary(self) -> str:
        """A few readable lines: both edges, the flags, the request count."""
        lines = []
        for direction, (acc, ref), edge in (("past", self.past, self.past_ms), ("future", self.future, self.future_ms)):
            word = "old" if direction == "past" else "ahead"
            if self.cancelled and acc is None:
                lines.append(f"{direction:<7} not measured (cancelled)")
            elif not self.accepts_fresh:
                lines.append(f"{direction:<7} not measured (a fresh request was refused)")
            elif edge is None:
                lines.append(f"{direction:<7} no limit found: accepted {_human(acc)} {word}")
            else:
                lines.append(
                    f"{direction:<7} edge ≈ {edge} ms: accepted {_human(acc)} {word}, refused {_human(ref)} {word}"
                )
        lines += [f"flag    {f}" for f in self.flags] or ["flags   none"]
        lines.append(f"requests {self.requests}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _human(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 2 * 3_600_000:
        return f"{ms / 1000:g} s"
    if ms < 2 * 86_400_000:
        return f"{ms / 3_600_000:.3g} h"
    return f"{ms / 86_400_000:.3g} days"


class _Cancelled(Exception):
    """Raised inside :func:`probe_tolerance` when its ``cancel`` event is set before a request."""


def probe_tolerance(
    sim: Engine,
    webhook: Webhook | str,
    *,
    event_type: str | None = None,
    max_ms: int = 7 * 86_400_000,
    resolution_ms: int = 1000,
    max_requests: int = 64,
    seed: int | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    rate_limit_wait_s: float = DEFAULT_RATE_LIMIT_WAIT_S,
) -> ProbeResult:
    """Find, by bisection, how old and how far ahead a correctly signed timestamp may be.

    Offsets are tried on a grid of ``resolution_ms`` shifted by half a step (499.5 s, 500.5 s,
    ...), so a round tolerance such as 300 s never coincides with a probe and network latency
    below half a step cannot change the answer. One fresh request and one with the timestamp in
    seconds come first; then each direction costs about log2(max_ms / resolution_ms) + 1
    requests, and never more than ``max_requests`` in all. Every request is recorded.

    ``progress(done, total)`` is called after each request (``total``: at most this many).
    When ``cancel`` is set, no further request starts and the edges measured so far are
    returned with ``cancelled=True`` (a direction not reached is "not measured"); so is a store
    that is unavailable (after one wait for it, said in the flags), and an endpoint that still
    answers 429 after one wait of its Retry-After (at most ``rate_limit_wait_s``): a flag says
    it rate-limits, and no edge is read from a 429.
    """
    if resolution_ms < 2 or max_ms < resolution_ms:
        raise ValidationError("resolution_ms", "needs 2 <= resolution_ms <= max_ms")
    if max_requests < 4:
        raise ValidationError("max_requests", "needs at least 4 requests")
    wh = sim.get_webhook(webhook)
    event = _default_event(wh, event_type)
    base = _secrets.randbits(31) if seed is None else seed
    config = sim.delivery
    sent: list[SimulationResult] = []
    half = resolution_ms // 2
    top = (max_ms - half) // resolution_ms  # the last grid index whose offset fits in max_ms
    total = min(max_requests, 2 + 2 * (1 + (top + 1).bit_length()))

    def attempt(offset_ms: int, label: str, unit: str = "ms") -> bool:
        if cancel is not None and cancel.is_set():
            raise _Cancelled
        p = sim.preview(wh, event, seed=base + len(sent))
        r = _send_patiently(
            sim, p,
            lambda w, ts: _headers(w.secret.reveal(), p.body, ts - offset_ms, config, timestamp_unit=unit),
            f"probe {label}", rate_limit_wait_s, cancel,
        )
        sent.append(r)
        if is_rate_limited(r.http_status):  # throttled twice: not a verdict on the timestamp, stop here
            flags.append(f"stopped: the endpoint rate-limits (429{', Retry-After: ' + r.retry_after if r.retry_after else ''}"
                         "); the edges measured so far stand, run the probe again later")
            raise _Cancelled
        if progress is not None:
            progress(len(sent), max(total, len(sent)))
        if r.error == SERVICE_UNAVAILABLE:  # nothing was sent: one wait for the store, not one per probe
            flags.append(f"{STORE_STOPPED} ({r.detail})")
            raise _Cancelled
        return _delivered(r)

    def grid(n: int) -> int:
        return 0 if n < 0 else n * resolution_ms + half

    fresh, fresh_status, seconds, exhausted, cancelled = False, None, False, False, False
    flags: list[str] = []
    edges: dict[str, tuple[int | None, int | None]] = {"past": (None, None), "future": (None, None)}
    try:
        fresh = attempt(0, "fresh timestamp")
        fresh_status = sent[-1].http_status
        seconds = attempt(0, "timestamp in seconds", unit="s")
        if seconds:
            flags.append("accepts x-webhook-timestamp in seconds: it reads the header as seconds (Trackpilots sends ms)")
        if not fresh:
            flags.insert(0, f"refused a fresh, correctly signed request (status {fresh_status}): nothing to measure")
            if progress is not None:
                progress(len(sent), len(sent))
            return ProbeResult(fresh_status, False, seconds, None, None, (None, None), (None, None), max_ms,
                               resolution_ms, len(sent), flags, [r.history_id for r in sent if r.history_id is not None],
                               unrecorded=sum(not r.recorded for r in sent))

        budget_left = max_requests - len(sent)
        for direction, sign_ in (("past", 1), ("future", -1)):
            share = budget_left // 2 if direction == "past" else budget_left
            used = 0

            def ok(n: int, sign_: int = sign_) -> bool:
                word = "old" if sign_ > 0 else "ahead"
                return attempt(sign_ * grid(n), f"timestamp {_human(grid(n))} {word}")

            used += 1
            if ok(top):
                edges[direction] = (grid(top), None)
            else:
                lo, hi = -1, top
                edges[direction] = (grid(lo), grid(hi))
                while hi - lo > 1 and used < share:
                    mid = (lo + hi) // 2
                    used += 1
                    if ok(mid):
                        lo = mid
                    else:
                        hi = mid
                    edges[direction] = (grid(lo), grid(hi))
                if hi - lo > 1:
                    exhausted = True
            budget_left -= used
    except _Cancelled:
        cancelled = True

    def estimate(acc: int | None, ref: int | None) -> int | None:
        return None if ref is None or acc is None else (acc + ref) // 2

    past_ms = estimate(*edges["past"])
    future_ms = estimate(*edges["future"])
    if cancelled:
        flags.append(f"cancelled after {len(sent)} requests: an edge not reached is not measured, one reached is only "
                     "known to lie in the range shown")
    else:
        flags += _probe_flags(edges, past_ms, future_ms, max_ms, resolution_ms)
    if exhausted:
        flags.append(f"stopped after {max_requests} requests: an edge is only known to lie in the range shown")
    if progress is not None:
        progress(len(sent), len(sent))
    return ProbeResult(
        fresh_status, fresh, seconds, past_ms, future_ms, edges["past"], edges["future"], max_ms, resolution_ms,
        len(sent), flags, [r.history_id for r in sent if r.history_id is not None], cancelled,
        sum(not r.recorded for r in sent),
    )


def _probe_flags(
    edges: dict[str, tuple[int | None, int | None]], past: int | None, future: int | None, max_ms: int, res: int
) -> list[str]:
    flags = []
    limit = _human(max_ms)
    if past is None and future is None:
        flags.append(f"no timestamp window at all (nothing refused up to {limit} either way): requests can be replayed")
    elif future is None:
        flags.append(f"one-sided window: only too-old timestamps are refused; accepted {limit} in the future")
    elif past is None:
        flags.append(f"one-sided window: only future timestamps are refused; accepted {limit} old")
    for name, edge in (("past", past), ("future", future)):
        if edge is not None and edge < 1000:
            flags.append(
                f"{name} window under a second (≈ {edge} ms): a tolerance in seconds compared with milliseconds "
                "(e.g. 300 instead of 300000)?"
            )
        elif edge is not None and edge > 3_600_000:
            flags.append(
                f"{name} window of {_human(edge)}: a tolerance in milliseconds applied to seconds "
                "(300000 read as seconds is 3.5 days)?"
            )
    if past is not None and future is not None and abs(past - future) > 2 * res + max(past, future) // 10:
        flags.append(
            f"asymmetric window: {past} ms back, {future} ms ahead (different limits, or the receiver's clock is "
            f"about {abs(past - future) // 2} ms {'behind' if past > future else 'ahead'})"
        )
    return flags
