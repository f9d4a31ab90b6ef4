"""Explain a signature mismatch: valid, or the most likely reason it is not.

    ex = explain_signature(headers, body, "the-secret-from-the-reseller")
    print(ex)              # verdict, cause, the signed string (truncated), expected vs received
    ex.cause               # "valid", "body_reserialised", "wrong_secret", ...

Given the raw headers and the raw body (as pasted from a receiver's logs) and the secret(s) the
receiver verifies with, each likely cause is tried in turn: the request as is; the signature
header's format; whitespace and encoding changes of the body; a re-serialised body; the
timestamp unit (or the payload's own ``timestamp``); white space around the secret. Each is tried
with the secrets given and then with the other configured webhooks' secrets (so a request signed
by another webhook *and* re-serialised is named re-serialised, and the webhook that signed it is
named too). The first that makes the signature match is the answer. Secrets are never part of
the output: a match names the webhook, not its secret.

With an engine (:func:`explain_with_engine`, what ``Simulator.explain_signature``, the CLI and
the explorer use), a request whose signature (or timestamp) belongs to an attempt in the history
is also compared with the bytes recorded as sent: a body changed or re-encoded on the way is then
named as such, with the first byte that differs, instead of being blamed on the secret; and a
request that is exactly an attempt sent by a webhook whose secret cannot be checked (not among the
webhooks given, e.g. another Voila page's) is said to be that (``unknown_webhook``), not blamed on
the secret either.

Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from simlib.core.events import organisation_id_of
from simlib.core.jsjson import parse as js_parse
from simlib.core.jsjson import stringify_bytes
from simlib.core.signing import (
    DEFAULT_TOLERANCE_MS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Headers,
    compute_signature,
    header_value,
    now_ms,
    signed_message,
)
from simlib.records import Webhook

if TYPE_CHECKING:
    from simlib.core.engine import Engine

__all__ = ["CAUSES", "Explanation", "compare_bodies", "explain_signature", "explain_with_engine", "first_difference"]

#: cause -> what it means, one line each.
CAUSES = {
    "valid": "the signature is valid and the timestamp is within the tolerance",
    "missing_signature": f"there is no {SIGNATURE_HEADER} header",
    "missing_timestamp": f"there is no {TIMESTAMP_HEADER} header",
    "bad_timestamp": f"{TIMESTAMP_HEADER} is not a whole number",
    "no_secret": "no secret to check with",
    "signature_format": "the signature matches once the header's format is normalised",
    "body_whitespace": "the body gained or lost white space (e.g. a trailing newline) after signing",
    "body_encoding": "the body's characters were re-encoded after signing",
    "body_reserialised": "the body was parsed and re-serialised after signing (an endpoint that verifies a "
                         "re-serialised body, not the bytes it received)",
    "timestamp_unit": "the timestamp is in seconds where milliseconds are signed (or the reverse)",
    "payload_timestamp": "the signature was made over the payload's timestamp, not the header's",
    "stale_timestamp": "the signature is valid but the timestamp is outside the tolerance",
    "secret_whitespace": "the secret has white space around it",
    "other_webhook_secret": "the request was signed with another configured webhook's secret",
    "body_changed": "the body was changed after signing: it differs from the bytes that were sent",
    "timestamp_changed": "the timestamp header was changed after signing",
    "unknown_webhook": "the request is an attempt sent by a webhook whose secret cannot be checked here (not "
                       "configured here, or not one this page can see)",
    "wrong_secret": "no secret tried makes the signature match",
}
#: How the summary of ``wrong_secret`` ends (what was tried comes before it).
_MOST_LIKELY_WRONG = ": the secret is most likely wrong"


@dataclass(frozen=True)
class Explanation:
    """The verdict on one request. ``valid`` is True only for cause ``valid``."""

    valid: bool
    cause: str
    summary: str
    hint: str
    signed_string: str  # truncated, for display
    expected_signature: str | None  # with the (first) secret given, over the bytes as received
    received_signature: str | None
    checks: tuple[tuple[str, str], ...] = ()
    matched_webhook: str | None = None
    timestamp_ms: int | None = None
    skew_ms: int | None = None
    history_id: int | None = None  # the recorded attempt the request was matched to
    first_difference: int | None = None  # the first byte where its body differs from that attempt's

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "cause": self.cause,
            "summary": self.summary,
            "hint": self.hint,
            "signed_string": self.signed_string,
            "expected_signature": self.expected_signature,
            "received_signature": self.received_signature,
            "matched_webhook": self.matched_webhook,
            "timestamp_ms": self.timestamp_ms,
            "skew_ms": self.skew_ms,
            "history_id": self.history_id,
            "first_difference": self.first_difference,
            "checks": [{"check": c, "result": r} for c, r in self.checks],
        }

    def to_text(self) -> str:
        lines = [
            f"verdict   {'VALID' if self.valid else 'INVALID'} ({self.cause})",
            f"why       {self.summary}",
        ]
        if self.hint:
            lines.append(f"what now  {self.hint}")
        lines.append(f"signed    {self.signed_string}")
        lines.append(f"expected  {self.expected_signature or '-'}")
        lines.append(f"received  {self.received_signature or '-'}")
        for check, result in self.checks:
            lines.append(f"check     {check}: {result}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _display(ts: str, body: bytes, limit: int = 96) -> str:
    message = signed_message(ts, body) if ts.isascii() else ts.encode() + b"." + body
    text = message.decode("utf-8", "backslashreplace").replace("\n", "\\n").replace("\r", "\\r")
    if len(text) > limit:
        return f"{text[:limit]}… ({len(message)} bytes)"
    return f"{text} ({len(message)} bytes)"


def _matches(secret: str, ts: str, body: bytes, received: str) -> bool:
    """Hex (case-insensitive) or base64 digest of ``ts.body`` under ``secret`` equals ``received``."""
    if not ts.isascii():
        return False
    mac = hmac.new(secret.encode("utf-8"), signed_message(ts, body), hashlib.sha256)
    for candidate in (mac.hexdigest(), base64.b64encode(mac.digest()).decode("ascii")):
        if hmac.compare_digest(candidate.encode(), received.encode("utf-8", "replace")):
            return True
    return False


def _normalised(signature: str) -> str:
    s = signature.strip()
    for prefix in ("sha256=", "v1=", "v1,"):
        if s.lower().startswith(prefix):
            s = s[len(prefix) :]
    s = s.strip()
    return s.lower() if all(c in "0123456789abcdefABCDEF" for c in s) else s


def _body_variants(body: bytes) -> list[tuple[str, str, bytes]]:
    """(cause, description, bytes) for white-space and encoding changes a body commonly suffers."""
    out = []
    if body.rstrip(b"\r\n") != body:
        out.append(("body_whitespace", "a trailing newline was added to the body after signing", body.rstrip(b"\r\n")))
    if body.strip() != body.rstrip(b"\r\n"):
        out.append(("body_whitespace", "white space was added around the body after signing", body.strip()))
    if b"\r\n" in body:
        out.append(("body_whitespace", "line endings were converted to CRLF after signing", body.replace(b"\r\n", b"\n")))
    if body.startswith(b"\xef\xbb\xbf"):
        out.append(("body_encoding", "a UTF-8 byte-order mark was added to the body", body[3:]))
    try:
        original = body.decode("utf-8").encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError):
        pass
    else:
        if original != body:
            out.append(("body_encoding", "the body's UTF-8 was read as Latin-1 and encoded again (mojibake)", original))
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        out.append(("body_encoding", "the body was converted from UTF-8 to Latin-1", body.decode("latin-1").encode("utf-8")))
    return out


def _stringified(body: bytes) -> bytes | None:
    """``JSON.stringify(JSON.parse(body))`` exactly as Node writes it, or None if not JSON."""
    try:
        return stringify_bytes(js_parse(body), non_finite="null")
    except (ValueError, TypeError, RecursionError):
        return None


def _reserialised(body: bytes) -> list[tuple[str, bytes]]:
    try:
        obj = json.loads(body)
        node = _stringified(body)
        forms = [
            *([("compact JSON, exactly as JSON.stringify writes it", node.decode("utf-8"))] if node is not None else []),
            ("compact JSON (JSON.stringify style)", json.dumps(obj, separators=(",", ":"), ensure_ascii=False)),
            ("compact JSON with \\u escapes", json.dumps(obj, separators=(",", ":"))),
            ("JSON with spaces", json.dumps(obj, ensure_ascii=False)),
            ("JSON with sorted keys", json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=True)),
        ]
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse: no re-serialisation to try
        return []
    out: list[tuple[str, bytes]] = []
    for label, text in forms:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a "\\ud800" escape in the body: this form has no UTF-8 bytes
            continue
        if data != body and all(data != d for _, d in out):
            out.append((label, data))
    return out


def explain_signature(
    headers: Headers,
    body: bytes,
    secrets: str | Sequence[str] = (),
    *,
    known: Mapping[str, Sequence[str]] | None = None,
    given_label: str = "the secret you gave",
    now_ms: int | None = None,
    tolerance_ms: int | None = DEFAULT_TOLERANCE_MS,
) -> Explanation:
    """Say whether ``headers`` + ``body`` carry a valid Trackpilots signature under ``secrets``
    and, if not, the most likely cause.

    ``known`` maps webhook ids to their secrets (the configured webhooks): they are tried when
    the given secrets do not match, and a match names the webhook (never the secret).
    ``now_ms`` pins the clock for the tolerance check.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    given = [secrets] if isinstance(secrets, str) else list(secrets)
    user_secret = bool(given)
    known = dict(known or {})
    checks: list[tuple[str, str]] = []
    received = header_value(headers, SIGNATURE_HEADER)
    ts_raw = header_value(headers, TIMESTAMP_HEADER)
    ts = (ts_raw or "").strip()
    signed = _display(ts, body)
    expected = compute_signature(given[0], ts, body) if given and ts.isascii() else None

    def result(cause: str, summary: str, hint: str = "", *, valid: bool = False, webhook: str | None = None,
               ts_ms: int | None = None, skew: int | None = None) -> Explanation:
        return Explanation(valid, cause, summary, hint, signed, expected, received, tuple(checks), webhook, ts_ms, skew)

    if received is None or not received.strip():
        return result("missing_signature", f"there is no {SIGNATURE_HEADER} header",
                      "the header was dropped on the way (a proxy?) or the request did not come from Trackpilots")
    if not ts:
        return result("missing_timestamp", f"there is no {TIMESTAMP_HEADER} header",
                      "every Trackpilots delivery carries it; a proxy may have dropped it")
    if not (ts.isascii() and ts.isdigit()):
        return result("bad_timestamp", f"{TIMESTAMP_HEADER} is not a whole number: {ts[:40]!r}")
    if not given and not known:
        return result("no_secret", "no secret to check with", "give the webhook's secret or its id")

    others = {wid: list(s) for wid, s in known.items() if not set(s) & set(given)}
    if not given:  # no secret given: which configured webhook signed it?
        for wid, secrets_ in known.items():
            if any(_matches(s, ts, body, received.strip()) for s in secrets_):
                given, given_label = list(secrets_), f"webhook {wid}'s secret"
                expected = compute_signature(given[0], ts, body)
                others.pop(wid, None)
                checks.append(("configured webhooks", f"signed with webhook {wid}'s secret"))
                break
        else:  # none signed it as is: look for the usual causes with every configured secret
            expected = None
            given = [s for secrets_ in known.values() for s in secrets_]
            given_label, others = "any configured webhook's secret", {}
            checks.append(("configured webhooks", f"none of the {len(known)} signed the bytes as received"))

    ts_ms = int(ts)
    current = now_ms if now_ms is not None else _now()
    skew = current - ts_ms

    def verdict_for_valid_signature(prefix: str, cause_if_ok: str = "valid") -> Explanation:
        if len(ts) <= 10:
            return result("timestamp_unit",
                          f"{prefix}, but {TIMESTAMP_HEADER} {ts} is in seconds ({len(ts)} digits); Trackpilots sends ms",
                          "whatever produced this request signs seconds: Trackpilots itself sends 13-digit milliseconds",
                          ts_ms=ts_ms * 1000, skew=current - ts_ms * 1000)
        if tolerance_ms is not None and abs(skew) > tolerance_ms:
            where = "old" if skew > 0 else "in the future"
            return result("stale_timestamp",
                          f"{prefix}, but the timestamp is {abs(skew)} ms {where} (outside ±{tolerance_ms} ms)",
                          "expected for a request copied from old logs; otherwise it was delayed or replayed, or a "
                          "clock is wrong",
                          ts_ms=ts_ms, skew=skew)
        if cause_if_ok != "valid":
            return result(cause_if_ok, prefix, ts_ms=ts_ms, skew=skew)
        hint = ("if your receiver still refuses it: it must verify the raw body bytes (before any JSON parsing) "
                "and compare the timestamp in milliseconds, not with time() in seconds")
        if _nested_ids(body):
            hint += ("; a 400 naming organisationId or userId means it reads them at the top level (a flat payload): "
                     "Trackpilots nests them, data[0].organisation.organisationId (data.organisation… for activity)")
        node = _stringified(body)
        if node is not None and node != body:
            checks.append(("JSON.stringify(JSON.parse(body))",
                           f"other bytes ({len(node)} instead of {len(body)}, first difference at byte "
                           f"{first_difference(body, node)}): a receiver that re-serialises rejects this request"))
            hint = ("these bytes are the same JSON as JSON.stringify(JSON.parse(body)) but not the same bytes: if your "
                    "receiver refuses it, your endpoint verifies a re-serialised body, not the bytes it received — "
                    "verify the raw request body (express.raw, fastify's rawBody, request.get_data())")
        return result("valid", f"{prefix} and the timestamp is {abs(skew)} ms {'old' if skew >= 0 else 'ahead'}",
                      hint, valid=True, ts_ms=ts_ms, skew=skew)

    sig = received.strip()
    # As verify() and a correct receiver do: white space around the header ignored, hex case-insensitive.
    exact = [s for s in given if compute_signature(s, ts, body) == sig.lower()]
    if exact:
        checks.append(("bytes as received", f"match with {given_label}"))
        return verdict_for_valid_signature(f"the signature is valid for {given_label}")
    checks.append(("bytes as received", f"no match with {given_label}" if given else "no secret given"))

    # Each change below is tried with the secrets given, then with the other configured webhooks'
    # (as "every configured webhook" tries them all): a request signed by another webhook and, say,
    # re-serialised on the way is named re-serialised, and the webhook that signed it is named too.
    # (Unless another webhook signs the bytes exactly as received: that is said last, as before.)
    signed_as_received = any(compute_signature(s, ts, body) == sig.lower() for s_ in others.values() for s in s_)
    pool: list[tuple[str | None, list[str]]] = [(None, given), *([] if signed_as_received else others.items())]
    n, tried = len(others), len(pool) - 1
    miss = f"no match, nor with the {tried} other webhook{'s' if tried != 1 else ''}" if tried else "no match"
    norm = _normalised(sig)

    def signer(t: str, data: bytes, *, trim: bool = False) -> tuple[bool, str | None]:
        """Whether a secret of the pool (with its white space stripped: ``trim``) signs ``t.data``
        as the normalised signature, and whose: None for the secrets given, else the webhook's id."""
        for wid, secrets_ in pool:
            candidates = [s.strip() for s in secrets_ if s.strip() != s] if trim else secrets_
            if any(_matches(s, t, data, norm) for s in candidates):
                return True, wid
        return False, None

    def found(check: str, wid: str | None, cause: str, summary: str, hint: str) -> Explanation:
        if wid is None:
            checks.append((check, "match"))
            return result(cause, summary, hint)
        checks.append((check, f"match: webhook {wid}"))
        return result(cause, f"{summary}; and it was signed with the secret of webhook {wid}, not with {given_label}",
                      f"{hint}; and the receiver verifies with the wrong webhook's secret (or the request went to "
                      f"the wrong URL): check with webhook {wid}'s secret", webhook=wid)

    ok, by = signer(ts, body)
    if ok:
        base64_ = not all(c in "0123456789abcdef" for c in norm)
        return found("signature header normalised", by, "signature_format",
                     "the signature matches " + ("as a base64 digest" if base64_ else "once its prefix is removed")
                     + ": Trackpilots sends a bare lowercase hex digest",
                     "whatever produced or logged this header changed its format; verify the bare hex digest")
    checks.append(("signature header normalised", miss))

    for cause, description, variant in _body_variants(body):
        ok, by = signer(ts, variant)
        if ok:
            return found(description, by, cause, f"the signature matches the body without this change: {description}",
                         "verify the exact bytes Trackpilots sent, before any framework, proxy or editor touches them")
        checks.append((description, miss))

    for label, variant in _reserialised(body):
        ok, by = signer(ts, variant)
        if ok:
            return found(f"body as {label}", by, "body_reserialised",
                         f"the signature matches the body re-serialised as {label}: the body you have was "
                         "re-formatted after it was signed (parsed and serialised again, or pretty-printed in logs); "
                         "if these are the bytes your receiver checks: your endpoint verifies a re-serialised body, "
                         "not the bytes it received",
                         "verify the raw request bytes before parsing the JSON (express.raw, fastify's rawBody, "
                         "request.get_data())")
        checks.append((f"body as {label}", miss))

    alt_ts = [ts[:-3]] if len(ts) == 13 else [ts + "000"] if len(ts) == 10 else []
    for t in alt_ts:
        ok, by = signer(t, body)
        if ok:
            unit = "seconds" if len(t) == 10 else "milliseconds"
            return found(f"timestamp in {unit}", by, "timestamp_unit",
                         f"the signature matches with the timestamp in {unit} ({t}): the header was converted "
                         "between units after signing",
                         "sign and verify the header's exact text; Trackpilots sends milliseconds")
        checks.append((f"timestamp as {t}", miss))
    payload_ts = _payload_timestamp(body)
    if payload_ts is not None and payload_ts != ts:
        ok, by = signer(payload_ts, body)
        if ok:
            return found("payload timestamp instead of the header", by, "payload_timestamp",
                         "the signature matches when the payload's \"timestamp\" (event time) is used instead of "
                         f"the {TIMESTAMP_HEADER} header (send time)",
                         f"sign and verify with the {TIMESTAMP_HEADER} header value")
        checks.append(("payload timestamp instead of the header", miss))

    if any(s.strip() != s for _, secrets_ in pool for s in secrets_):
        ok, by = signer(ts, body, trim=True)
        if ok:
            whose = given_label if by is None else f"webhook {by}'s secret"
            return found("secret without surrounding white space", by, "secret_whitespace",
                         f"the signature matches {whose} without its leading/trailing white space",
                         "strip the secret when you load it (a copy-paste slip or a newline from a file)")
        checks.append(("secret without surrounding white space", miss))

    for wid, secrets_ in others.items():
        if any(_matches(s, ts, body, norm) for s in secrets_):
            checks.append(("other configured webhooks", f"match: webhook {wid}"))
            return result("other_webhook_secret",
                          f"the request was signed with the secret of webhook {wid}, not with {given_label}",
                          "the receiver verifies with the wrong webhook's secret (or the request went to the wrong URL)",
                          webhook=wid)
    if others:
        checks.append(("other configured webhooks", f"no match with any of {n}"))
    in_use = [wid for wid, secrets_ in known.items() if set(secrets_) & set(given)]
    if user_secret and known:
        checks.append((
            f"is {given_label} configured?",
            f"yes: webhook {', '.join(in_use)}" if in_use else f"no: it is not the secret of any of the {len(known)} webhooks",
        ))
    summary = f"no signature matched with {given_label}"
    if others:
        summary += f" nor with the secret of any of {n} other configured webhook{'s' if n != 1 else ''}"
    return result("wrong_secret", summary + _MOST_LIKELY_WRONG,
                  "rotated, copied from another webhook or environment, or truncated? (if the secret is right, "
                  "the body or timestamp was changed in a way not recognised here)")


def _nested_ids(body: bytes) -> bool:
    """Whether the body carries the ids nested, as Trackpilots sends them, and not at the top level."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "organisationId" not in value and organisation_id_of(value) is not None


def _payload_timestamp(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("timestamp")
    except (ValueError, AttributeError, RecursionError):
        return None
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


_now = now_ms


def explain_with_engine(
    engine: Engine,
    headers: Any,
    body: bytes,
    *,
    secret: str | None = None,
    webhook: Webhook | str | None = None,
    tolerance_ms: int | None = DEFAULT_TOLERANCE_MS,
    among: Sequence[Webhook | str] | None = None,
) -> Explanation:
    """:func:`explain_signature` with the engine's webhooks: checked with ``secret`` or with
    ``webhook``'s valid secrets, and every configured webhook's secrets tried (never shown) --
    or only those of ``among`` (the webhooks a Voila page lists: never another page's)."""
    if among is None:
        candidates = engine.list_webhooks()
    else:  # the webhooks as listed (one deleted since is simply not tried); ids are looked up
        candidates = [w if isinstance(w, Webhook) else engine.get_webhook(w) for w in among]
    known = {wh.id: [s.reveal() for s in engine.valid_secrets(wh)] for wh in candidates}
    given: list[str] = []
    label = "the secret you gave"
    if webhook is not None:
        wh = engine.get_webhook(webhook)
        given, label = [s.reveal() for s in engine.valid_secrets(wh)], f"webhook {wh.id}'s secret"
    elif secret is not None:
        given = [secret]
    if isinstance(body, str):
        body = body.encode("utf-8")
    explanation = explain_signature(
        headers, body, given, known=known, given_label=label, now_ms=engine.now_ms(), tolerance_ms=tolerance_ms
    )
    if explanation.valid:
        return explanation
    return _against_history(engine, explanation, headers, body, given, label, known, among is not None)


# -- the request compared with what the history recorded as sent ----------------------------------------


def first_difference(sent: bytes, received: bytes) -> int | None:
    """The offset of the first byte where ``received`` differs from ``sent`` (one being a prefix
    of the other: the shorter one's length), or None when they are equal."""
    if sent == received:
        return None
    for i, (a, b) in enumerate(zip(sent, received, strict=False)):
        if a != b:
            return i
    return min(len(sent), len(received))


def _around(data: bytes, offset: int, width: int = 24) -> str:
    start = max(0, offset - width)
    text = data[start : offset + width].decode("utf-8", "backslashreplace")
    return ("…" if start else "") + repr(text)[1:-1] + ("…" if offset + width < len(data) else "")


def compare_bodies(sent: bytes, received: bytes) -> tuple[str, str]:
    """(cause, words) for a body that is not the bytes that were sent: ``body_reserialised``
    (the same JSON value, other bytes), ``body_encoding`` (the same text, other bytes) or
    ``body_changed``; the words name the first differing byte and show it in context."""
    offset = first_difference(sent, received)
    if offset is None:
        return "valid", "the body is exactly the bytes that were sent"
    where = (f"first at byte {offset} of {len(sent)} sent / {len(received)} received: sent "
             f"{_around(sent, offset)}, received {_around(received, offset)}")
    try:
        if json.loads(sent) == json.loads(received):
            return "body_reserialised", f"the same JSON, serialised differently ({where})"
    except (ValueError, RecursionError):
        pass
    texts = []
    for data in (sent, received):
        try:
            texts.append(unicodedata.normalize("NFC", data.decode("utf-8").lstrip("\ufeff")))
        except UnicodeDecodeError:
            texts.append(unicodedata.normalize("NFC", data.decode("latin-1")))
    if texts[0] == texts[1] or sent.decode("latin-1", "replace").encode("utf-8") == received:
        return "body_encoding", f"the same text, encoded differently ({where})"
    return "body_changed", where


_CHANGED = {"body_changed": "changed", "body_reserialised": "re-serialised", "body_encoding": "re-encoded"}
#: How many recorded attempts with the request's signature (or timestamp) are compared at most.
_CANDIDATES = 20


def _signed_by(
    row: Mapping[str, Any], received: str, given: list[str], label: str, known: Mapping[str, Sequence[str]]
) -> tuple[Mapping[str, Any], bool, str, bool]:
    """``row``, whether ``received`` signs its recorded bytes and timestamp with the ``given``
    secrets (none given: its webhook's valid secrets, if it is one of the ``known`` webhooks),
    whose secret that is, and whether its webhook is one of the ``known`` (its secret checkable)."""
    checkable = row["webhook_id"] in known
    secrets_, whose = list(given), label
    if not secrets_ and checkable:  # never the secret of a webhook not given (another page's, or gone)
        secrets_, whose = list(known[row["webhook_id"]]), f"webhook {row['webhook_id']}'s secret"
    ts = str(header_value(row["request_headers"] or {}, TIMESTAMP_HEADER) or "")
    signs = bool(received) and any(_matches(s, ts, row["request_body"], _normalised(received)) for s in secrets_)
    return row, signs, whose, checkable


def _against_history(
    engine: Engine, ex: Explanation, headers: Any, body: bytes, given: list[str], label: str,
    known: Mapping[str, Sequence[str]], hidden: bool,
) -> Explanation:
    """``ex`` compared with the attempt of the history the request's signature (else its
    timestamp) belongs to: the body and timestamp as sent, and whether the signature matches them.
    Only the ``known`` webhooks' secrets are used; ``hidden``: a webhook not among them is not
    named (another page's), it is "a webhook this page cannot see"."""
    received = (ex.received_signature or "").strip()
    ts = (header_value(headers, TIMESTAMP_HEADER) or "").strip()
    found_by = "signature"
    ids = engine.find_attempts(signature=_normalised(received), limit=_CANDIDATES) if received else []
    if not ids and received and _normalised(received) != received:
        ids = engine.find_attempts(signature=received, limit=_CANDIDATES)
    if not ids and ts:
        ids, found_by = engine.find_attempts(timestamp=ts, limit=_CANDIDATES), "timestamp"
    if not ids:
        return ex
    # Several attempts may carry one signature (a conformance variant or a replay sends it again
    # with other bytes): the one it was made for is the one whose recorded bytes it signs.
    candidates = [(hid, *_signed_by(engine.history_row(hid), received, given, label, known)) for hid in ids]
    hid, row, signs_sent, whose, checkable = next((c for c in candidates if c[2]), candidates[0])
    sent: bytes = row["request_body"]
    sent_ts = str(header_value(row["request_headers"] or {}, TIMESTAMP_HEADER) or "")
    sent_sig = str(header_value(row["request_headers"] or {}, SIGNATURE_HEADER) or "").strip()
    what = f"attempt #{hid} in the history (found by its {found_by})"
    cause, words = compare_bodies(sent, body)
    offset = first_difference(sent, body)
    checks = list(ex.checks)
    checks.append((f"body against {what}", words))
    if sent_ts != ts:
        checks.append((f"timestamp against attempt #{hid}", f"sent {sent_ts}, the request has {ts or 'none'}"))
    confirmed = f"the signature matches the bytes sent as attempt #{hid} with {whose}"
    # What the pure checks could only guess at, the history settles: the secret signs the bytes
    # that were sent, so the body (or the timestamp) changed on the way. ("payload_timestamp" is
    # then a coincidence: the event time equals the send time to the millisecond.)
    settled = ex.cause in ("wrong_secret", "payload_timestamp") and signs_sent
    # The signature is the one an attempt was sent with, by a webhook whose secret is not here to
    # check it with: the secret given is not to blame (that webhook's is another), nor can it be said.
    unknown = (ex.cause == "wrong_secret" and not checkable and not signs_sent and bool(received)
               and _normalised(sent_sig) == _normalised(received))
    summary, hint, new_cause = ex.summary, ex.hint, ex.cause
    if settled and offset is not None:
        new_cause = cause
        summary = (f"the body was {_CHANGED[cause]} after signing: {confirmed}, and the body you have differs "
                   f"from them, {words}")
        hint = ("the secret is right: verify the exact bytes as received, before any framework, proxy, logger "
                "or editor re-encodes or edits them")
    elif settled and sent_ts != ts:
        new_cause = "timestamp_changed"
        summary = (f"the {TIMESTAMP_HEADER} header was changed after signing: {confirmed} and its timestamp "
                   f"{sent_ts}; the request you have says {ts or 'nothing'}")
        hint = "the secret and the body are right: verify with the timestamp header exactly as it was sent"
    elif unknown:
        new_cause = "unknown_webhook"
        sender = ("a webhook this page cannot see (not one of the webhooks it lists)" if hidden
                  else f"webhook {row['webhook_id']}, which is not configured any more")
        same = ("its body and timestamp are exactly the bytes it sent" if offset is None and sent_ts == ts else
                f"the body differs from the bytes it sent, {words}" if offset is not None else
                f"its timestamp is not the one it sent ({sent_ts})")
        tried = ex.summary.removesuffix(_MOST_LIKELY_WRONG)
        summary = (f"the signature is the one attempt #{hid} was sent with, by {sender}, whose secret cannot be "
                   f"checked here ({tried}); {same}")
        hint = "check it where the webhook that sent it is configured (the page or the store it was sent from)"
        if offset is not None or sent_ts != ts:
            hint += "; and verify the exact bytes and timestamp as received, before anything edits them"
    elif ex.cause == "wrong_secret" and offset is None and sent_ts == ts:
        summary = f"{ex.summary}: the body and timestamp are exactly the bytes sent as attempt #{hid}"
    elif ex.cause == "wrong_secret" and offset is not None:
        summary = f"{ex.summary}; besides, the body differs from the bytes sent as attempt #{hid}, {words}"
    return replace(ex, cause=new_cause, summary=summary, hint=hint, checks=tuple(checks), history_id=hid,
                   first_difference=offset)
