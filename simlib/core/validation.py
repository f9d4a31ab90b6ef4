"""Validation of webhook fields, secret generation, and the Trackpilots production URL rule."""

from __future__ import annotations

import ipaddress
import re
import secrets as _secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from simlib.core.events import event_names
from simlib.errors import UnknownEventError, ValidationError

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_URL_LENGTH",
    "MIN_SECRET_LENGTH",
    "ProductionCheck",
    "generate_secret",
    "new_webhook_id",
    "production_check",
    "validate_events",
    "validate_name",
    "validate_secret",
    "validate_url",
    "validate_webhook_id",
]

MAX_NAME_LENGTH = 100
MAX_URL_LENGTH = 2048
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 512
SECRET_BYTES = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{1,39}")
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to read and type


def new_webhook_id() -> str:
    """``wh_`` and six unambiguous lower-case characters, e.g. ``wh_k3x9p2``."""
    return "wh_" + "".join(_secrets.choice(_ID_ALPHABET) for _ in range(6))


def validate_webhook_id(value: object) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise ValidationError(
            "id", "2–40 characters: lower-case letters, digits, '-' and '_', starting with a letter or digit"
        )
    return value


def generate_secret() -> str:
    """32 random bytes from :mod:`secrets`, URL-safe base64 without padding (43 characters)."""
    return _secrets.token_urlsafe(SECRET_BYTES)


def validate_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("name", "is required")
    name = value.strip()
    if not name:
        raise ValidationError("name", "must not be empty")
    if _CONTROL.search(name):
        raise ValidationError("name", "must not contain control characters (line breaks, tabs, NUL)")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError("name", f"at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    return name


def validate_url(value: object) -> str:
    """An absolute http(s) URL with a host and no user info; returned stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("url", "is required")
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError("url", f"at most {MAX_URL_LENGTH} characters, got {len(url)}")
    if _CONTROL.search(url) or " " in url:
        raise ValidationError("url", "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValidationError("url", f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise ValidationError("url", "must be absolute, starting with http:// or https://")
    if scheme not in ("http", "https"):
        raise ValidationError("url", f"scheme must be http or https, not {parts.scheme!r}")
    if "@" in parts.netloc:
        raise ValidationError("url", "must not contain user name or password (user@host)")
    if not parts.hostname:
        raise ValidationError("url", "has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValidationError("url", "has an invalid port") from None
    if port == 0:
        raise ValidationError("url", "port 0 is not a port you can send to")
    host = parts.hostname
    if not re.fullmatch(r"[A-Za-z0-9.\-_:%\[\]]+", host) and not _is_idna(host):
        raise ValidationError("url", f"host {host!r} is not a valid host name")
    return url


def _is_idna(host: str) -> bool:
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


def validate_events(value: object) -> tuple[str, ...]:
    """At least one known event type, no duplicates."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        raise ValidationError("events", "must be a list of event types")
    events = list(value)
    if not events:
        raise ValidationError("events", "subscribe to at least one event type")
    known = event_names()
    seen: set[str] = set()
    for ev in events:
        if ev not in known:
            err = UnknownEventError(ev, known)
            raise ValidationError("events", err.message) from None
        if ev in seen:
            raise ValidationError("events", f"{ev} is listed twice")
        seen.add(ev)
    return tuple(events)


def validate_secret(value: object) -> str:
    """A caller-given secret is used as-is (no stripping, no decoding); it must be usable."""
    if isinstance(value, (bytes, bytearray)):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("secret", "is not valid UTF-8 text") from None
        raise ValidationError("secret", "must be text (str), not bytes")
    if not isinstance(value, str):
        raise ValidationError("secret", "must be text")
    if not value:
        raise ValidationError("secret", "must not be empty (leave it out to generate one)")
    if len(value) < MIN_SECRET_LENGTH:
        raise ValidationError("secret", f"too short: at least {MIN_SECRET_LENGTH} characters")
    if len(value) > MAX_SECRET_LENGTH:
        raise ValidationError("secret", f"too long: at most {MAX_SECRET_LENGTH} characters")
    if value != value.strip():
        raise ValidationError("secret", "has leading or trailing white space (a copy-paste slip?)")
    if _CONTROL.search(value):
        raise ValidationError("secret", "must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("secret", "is not valid UTF-8 text") from None
    return value


@dataclass(frozen=True)
class ProductionCheck:
    """Whether Trackpilots itself would accept a reseller webhook URL, and why not."""

    ok: bool
    reasons: tuple[str, ...]

    def __bool__(self) -> bool:
        return self.ok

    @property
    def message(self) -> str:
        if self.ok:
            return "Trackpilots would accept this URL"
        return "Trackpilots would reject this URL: " + "; ".join(self.reasons)


_PRIVATE_V4 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def production_check(url: str) -> ProductionCheck:
    """Trackpilots accepts only public HTTPS URLs for reseller webhooks (spec §1.1).

    A warning for the user, never a block: local testing is what simlib is for. Host names
    are not resolved here (that would need the network).
    """
    reasons: list[str] = []
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except (ValueError, AttributeError):
        return ProductionCheck(False, ("not a valid URL",))
    if parts.scheme.lower() != "https":
        reasons.append("it is not HTTPS")
    if host == "localhost" or host.endswith(".localhost"):
        reasons.append("localhost is not reachable from Trackpilots")
    else:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None:
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            if ip.is_loopback:
                reasons.append(f"{host} is a loopback address")
            elif isinstance(ip, ipaddress.IPv4Address) and any(ip in n for n in _PRIVATE_V4):
                reasons.append(f"{host} is a private address")
            elif not ip.is_global:
                reasons.append(f"{host} is not a public address")
    return ProductionCheck(not reasons, tuple(reasons))
