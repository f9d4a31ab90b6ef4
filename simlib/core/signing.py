"""Trackpilots webhook signing and verification. Pure functions, standard library only.

The contract (spec §4.2, DESIGN.md)::

    timestamp = str(unix time in milliseconds)            # x-webhook-timestamp
    message   = timestamp.encode() + b"." + body          # body = the exact bytes POSTed
    signature = hmac_sha256(key=secret.encode("utf-8"), message).hexdigest()  # lowercase

No clock is read unless the caller leaves ``now_ms`` out, and then only inside the call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

SIGNATURE_HEADER = "x-webhook-signature"
TIMESTAMP_HEADER = "x-webhook-timestamp"
CONTENT_TYPE = "application/json"
DEFAULT_TOLERANCE_MS = 300_000

Encoding = Literal["hex", "base64"]
#: Request headers: a mapping (``dict``, ``httpx.Headers``) or (name, value) pairs as received.
Headers = Mapping[str, str] | Iterable[tuple[str, str]]
#: The unit of ``x-webhook-timestamp``: milliseconds (Trackpilots) or seconds (a common receiver bug).
TimestampUnit = Literal["ms", "s"]

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_TOLERANCE_MS",
    "Headers",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Verification",
    "compute_signature",
    "header_value",
    "now_ms",
    "sign",
    "signed_message",
    "signer",
    "verify",
]


def now_ms() -> int:
    """Current Unix time in whole milliseconds."""
    return time.time_ns() // 1_000_000


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if not isinstance(secret, str):
        raise TypeError("secret must be str or bytes")
    # Used as-is: never base64-decoded, never prefix-stripped (spec §4.2).
    return secret.encode("utf-8")


def _check_encoding(encoding: str) -> None:
    if encoding not in ("hex", "base64"):
        raise ValueError(f"encoding must be 'hex' or 'base64', not {encoding!r}")


def _check_unit(timestamp_unit: str) -> None:
    if timestamp_unit not in ("ms", "s"):
        raise ValueError(f"timestamp_unit must be 'ms' or 's', not {timestamp_unit!r}")


def signed_message(timestamp: str | int, body: bytes) -> bytes:
    """The exact bytes that are signed: ``timestamp + "." + body``."""
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError("body must be bytes (the exact bytes sent), not " + type(body).__name__)
    return str(timestamp).encode("ascii") + b"." + bytes(body)


def compute_signature(
    secret: str | bytes, timestamp: str | int, body: bytes, *, encoding: Encoding = "hex"
) -> str:
    """HMAC-SHA256 of ``timestamp.body`` under ``secret``; lowercase hex by default."""
    _check_encoding(encoding)
    prefix = str(timestamp).encode("ascii") + b"."
    # Issue 12: a copy of an HMAC already keyed with this secret (OpenSSL's keyed state, made once
    # per secret) instead of keying one per send; fed the body as it is, without a copy (a
    # screenshot payload can be 10 MB).
    mac = _keyed(_key(secret))
    mac.update(prefix)
    mac.update(body)
    digest = mac.digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


#: HMAC-SHA256 objects keyed with the secrets signed with lately (at most _KEYED_MAX), never
#: fed a message: each signature is made on a copy.
_KEYED: dict[bytes, hmac.HMAC] = {}
_KEYED_MAX = 64


def _keyed(key: bytes) -> hmac.HMAC:
    keyed = _KEYED.get(key)
    if keyed is None:
        if len(_KEYED) >= _KEYED_MAX:
            _KEYED.clear()
        keyed = _KEYED[key] = hmac.new(key, digestmod=hashlib.sha256)
    return keyed.copy()


def sign(
    secret: str | bytes,
    body: bytes,
    timestamp_ms: int,
    *,
    encoding: Encoding = "hex",
    timestamp_unit: TimestampUnit = "ms",
) -> dict[str, str]:
    """The three delivery headers for ``body`` sent at ``timestamp_ms``.

    ``timestamp_unit="s"`` puts whole seconds in the header instead of milliseconds (not what
    Trackpilots sends; for testing receivers copied from Stripe-style code).
    """
    _check_unit(timestamp_unit)
    ts = str(int(timestamp_ms) if timestamp_unit == "ms" else int(timestamp_ms) // 1000)
    return {
        "content-type": CONTENT_TYPE,
        SIGNATURE_HEADER: compute_signature(secret, ts, body, encoding=encoding),
        TIMESTAMP_HEADER: ts,
    }


def signer(
    secret: str | bytes,
    *,
    encoding: Encoding = "hex",
    timestamp_unit: TimestampUnit = "ms",
    also: Mapping[str, str] | None = None,
) -> Callable[[bytes, int], dict[str, str]]:
    """``headers(body, timestamp_ms)`` is ``sign(secret, body, timestamp_ms, encoding=...,
    timestamp_unit=...)`` followed by the headers ``also`` (e.g. a User-Agent), for many bodies
    under one secret: the arguments checked and the HMAC keyed once (a burst signs every send;
    issue 12). The same checks and the same signatures as :func:`sign`."""
    _check_encoding(encoding)
    _check_unit(timestamp_unit)
    keyed = hmac.new(_key(secret), digestmod=hashlib.sha256)
    seconds, hexed, extra = timestamp_unit == "s", encoding == "hex", dict(also or {})

    def headers(body: bytes, timestamp_ms: int) -> dict[str, str]:
        ts = str(int(timestamp_ms) // 1000 if seconds else int(timestamp_ms))
        mac = keyed.copy()
        mac.update(ts.encode("ascii") + b".")
        mac.update(body)
        out = {
            "content-type": CONTENT_TYPE,
            SIGNATURE_HEADER: mac.hexdigest() if hexed else base64.b64encode(mac.digest()).decode("ascii"),
            TIMESTAMP_HEADER: ts,
        }
        if extra:
            out.update(extra)
        return out

    return headers


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`. ``ok`` is the verdict, ``reason`` says why in one line.

    ``code`` is stable for programs: ``ok``, ``missing_signature``, ``missing_timestamp``,
    ``bad_timestamp``, ``timestamp_in_seconds``, ``outside_tolerance``, ``bad_signature_format``,
    ``no_match``, ``no_secret``.
    """

    ok: bool
    code: str
    reason: str
    timestamp_ms: int | None = None
    skew_ms: int | None = None
    matched_secret: int | None = None  # index into the candidate secrets

    def __bool__(self) -> bool:
        return self.ok


def header_value(headers: Headers, name: str) -> str | None:
    """The value of the first header called ``name``, compared case-insensitively, or None.

    The one header lookup of simlib (signing, the receiver, captures, explanations, replays).
    Names and values given as bytes are read as latin-1, as HTTP/1.1 carries them.
    """
    wanted = name.lower()
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        k = key.decode("latin-1") if isinstance(key, bytes) else key
        if k.lower() == wanted:
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of the headers called ``name`` (case-insensitively), in order."""
    wanted = name.lower()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [
        value.decode("latin-1") if isinstance(value, bytes) else value
        for key, value in items
        if (key.decode("latin-1") if isinstance(key, bytes) else key).lower() == wanted
    ]


def verify(
    headers: Headers,
    body: bytes,
    secrets: str | bytes | Sequence[str | bytes],
    *,
    now_ms: int | None = None,
    tolerance_ms: int | None = DEFAULT_TOLERANCE_MS,
    encoding: Encoding = "hex",
) -> Verification:
    """Check a received request the way a correct Trackpilots receiver should.

    - header names are matched case-insensitively; a mapping or a list of pairs works;
    - the timestamp must be a decimal integer in milliseconds; a 10-digit value is
      reported as "looks like seconds";
    - the tolerance is symmetric (too old *or* too far in the future), ``None`` disables it;
    - any of several candidate ``secrets`` may match (secret rotation);
    - digests are compared with :func:`hmac.compare_digest`; hex is compared case-insensitively;
    - a request carrying the signature or the timestamp header twice with different values is
      refused (``duplicate_header``): receivers disagree on which one counts (the first, the
      last, or, in Node, both joined with ", "), so such a request proves nothing.

    ``simlib.verify`` is this function with its arguments checked first
    (:func:`simlib.core.validation.verify`).
    """
    candidates: list[str | bytes]
    if isinstance(secrets, (str, bytes)):
        candidates = [secrets]
    else:
        candidates = list(secrets)
    if not candidates:
        return Verification(False, "no_secret", "no secret to verify with")

    for name in (SIGNATURE_HEADER, TIMESTAMP_HEADER):
        values = {v.strip() for v in header_values(headers, name)}
        if len(values) > 1:
            return Verification(False, "duplicate_header", f"header {name} is sent {len(values)} times with different "
                                "values: receivers disagree on which one counts")
    sig = header_value(headers, SIGNATURE_HEADER)
    if sig is None or not sig.strip():
        return Verification(False, "missing_signature", f"missing header {SIGNATURE_HEADER}")
    ts_raw = header_value(headers, TIMESTAMP_HEADER)
    if ts_raw is None or not ts_raw.strip():
        return Verification(False, "missing_timestamp", f"missing header {TIMESTAMP_HEADER}")
    ts_text = ts_raw.strip()
    if not ts_text.isascii() or not ts_text.isdigit():
        return Verification(
            False, "bad_timestamp", f"{TIMESTAMP_HEADER} is not a whole number: {ts_text[:40]!r}"
        )
    ts = int(ts_text)
    current = _now() if now_ms is None else now_ms
    skew = current - ts
    if len(ts_text) <= 10:
        return Verification(
            False,
            "timestamp_in_seconds",
            f"{TIMESTAMP_HEADER} {ts_text} looks like seconds, not milliseconds "
            f"({len(ts_text)} digits; expected 13)",
            timestamp_ms=ts,
            skew_ms=skew,
        )
    if tolerance_ms is not None and abs(skew) > tolerance_ms:
        direction = "old" if skew > 0 else "in the future"
        return Verification(
            False,
            "outside_tolerance",
            f"timestamp is {abs(skew)} ms {direction}: outside the ±{tolerance_ms} ms tolerance "
            f"by {abs(skew) - tolerance_ms} ms",
            timestamp_ms=ts,
            skew_ms=skew,
        )

    given = sig.strip()
    if encoding == "hex":
        given_cmp = given.lower()
        try:
            binascii.unhexlify(given_cmp)
        except (binascii.Error, ValueError):
            return Verification(
                False,
                "bad_signature_format",
                f"{SIGNATURE_HEADER} is not hex ({len(given)} characters)",
                timestamp_ms=ts,
                skew_ms=skew,
            )
    else:
        given_cmp = given
    given_bytes = given_cmp.encode("ascii", "replace")
    for index, secret in enumerate(candidates):
        expected = compute_signature(secret, ts_text, body, encoding=encoding)
        if hmac.compare_digest(expected.encode("ascii"), given_bytes):
            return Verification(True, "ok", "signature valid", ts, skew, index)
    n = len(candidates)
    return Verification(
        False,
        "no_match",
        "no signature matched" + (f" ({n} secrets tried)" if n > 1 else ""),
        timestamp_ms=ts,
        skew_ms=skew,
    )


_now = now_ms  # verify() has a parameter named now_ms
