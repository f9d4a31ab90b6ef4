"""Validation of webhook fields, secret generation, and the Trackpilots production URL rule.

Every text field is checked for what breaks later or misleads a reader: lone surrogates (text
that cannot be encoded as UTF-8, so it could never be stored or sent), control characters, and
invisible or direction-changing characters (bidi overrides such as U+202E spoof the "name — URL"
lists). URL hosts are checked the way the delivery will use them: a host that passes here can
be sent to. International (IDN) host names are stored as their ASCII A-label
(``http://bücher.example/`` -> ``http://xn--bcher-kva.example/``), which is what DNS, the
``Host`` header and TLS use and what shows a look-alike (homograph) name for what it is.
"""

from __future__ import annotations

import ipaddress
import re
import secrets as _secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from simlib.core.delivery.netpolicy import STRICT
from simlib.core.events import event_names
from simlib.core.signing import DEFAULT_TOLERANCE_MS, Encoding, Headers, Verification
from simlib.core.signing import verify as _signing_verify
from simlib.errors import UnknownEventError, ValidationError

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_URL_LENGTH",
    "MIN_SECRET_LENGTH",
    "ProductionCheck",
    "check_text",
    "generate_secret",
    "legacy_ipv4",
    "new_webhook_id",
    "production_check",
    "validate_events",
    "validate_name",
    "validate_organisation_id",
    "validate_secret",
    "validate_url",
    "validate_webhook_id",
]

MAX_NAME_LENGTH = 100
MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 512
SECRET_BYTES = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{1,39}")
_ID_RULE = "2–40 characters: lower-case letters, digits, '-' and '_', starting with a letter or digit"
#: Unicode categories refused in URLs: controls, format characters (bidi overrides and
#: isolates, zero-width characters, the BOM), line and paragraph separators, every kind of
#: space, lone surrogates.
_URL_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs", "Cs"})
#: In names: the same, except spaces (a name has words) and the two joiners that emoji
#: sequences and Persian or Indic text need (U+200C ZWNJ, U+200D ZWJ).
_NAME_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAME_ALLOWED = frozenset({"\u200c", "\u200d"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to read and type


def new_webhook_id() -> str:
    """``wh_`` and six unambiguous lower-case characters, e.g. ``wh_k3x9p2``."""
    return "wh_" + "".join(_secrets.choice(_ID_ALPHABET) for _ in range(6))


def validate_webhook_id(value: object, field: str = "id") -> str:
    """A webhook id's shape (``field`` names the argument in the error: "id" when creating,
    "webhook" when an id selects one)."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        got = f"{value[:40]!r}{'…' if len(value) > 40 else ''}" if isinstance(value, str) else type(value).__name__
        raise ValidationError(field, f"{_ID_RULE}; got {got}" if field != "id" else _ID_RULE)
    return value


def _char_name(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if _SURROGATE.match(ch):
        name = "a lone surrogate"
    return f"U+{ord(ch):04X} {name}".rstrip()


def check_text(field: str, value: str) -> str:
    """Refuse text that cannot be encoded as UTF-8 (lone surrogates: undecodable bytes or
    broken UTF-16), which could be neither stored nor sent; returns ``value``."""
    m = _SURROGATE.search(value)
    if m:
        raise ValidationError(
            field, f"is not valid Unicode text: {_char_name(m.group())} at position {m.start()} "
            "(undecodable bytes or broken UTF-16?)"
        )
    return value


def _invisible(field: str, text: str, refused: frozenset[str], allowed: frozenset[str] = frozenset()) -> None:
    if text.isascii():
        return  # ASCII controls and spaces have their own checks and messages
    for i, ch in enumerate(text):
        if ch not in allowed and unicodedata.category(ch) in refused:
            raise ValidationError(
                field, f"must not contain invisible, format or control characters: {_char_name(ch)} at position {i}"
            )


def generate_secret() -> str:
    """32 random bytes from :mod:`secrets`, URL-safe base64 without padding (43 characters)."""
    return _secrets.token_urlsafe(SECRET_BYTES)


def validate_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("name", "is required")
    name = value.strip()
    if not name:
        raise ValidationError("name", "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError("name", f"at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    check_text("name", name)
    if _CONTROL.search(name):
        raise ValidationError("name", "must not contain control characters (line breaks, tabs, NUL)")
    _invisible("name", name, _NAME_REFUSED, _NAME_ALLOWED)
    return name


#: The longest organisation id (Trackpilots ids are 36-character UUIDs).
MAX_ORGANISATION_ID_LENGTH = 100
_ORG_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def validate_organisation_id(value: object) -> str:
    """An organisation id (issue 14): 1-100 characters, letters, digits and ``- _ . :``,
    starting with a letter or digit (a Trackpilots id is a UUID)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("organisation_id", "must not be empty (leave it out for a fresh one per payload)")
    org = value.strip()
    if len(org) > MAX_ORGANISATION_ID_LENGTH:
        raise ValidationError("organisation_id", f"at most {MAX_ORGANISATION_ID_LENGTH} characters, got {len(org)}")
    if not _ORG_ID_RE.fullmatch(org):
        raise ValidationError("organisation_id", "letters, digits and '-', '_', '.', ':' only, e.g. a UUID")
    return org


def validate_url(value: object) -> str:
    """An absolute http(s) URL with a host that can be sent to and no user info; returned
    stripped, an international host name as its A-label (the rest of the URL as given)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("url", "is required")
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError("url", f"at most {MAX_URL_LENGTH} characters, got {len(url)}")
    check_text("url", url)
    if _CONTROL.search(url) or " " in url:
        raise ValidationError("url", "must not contain spaces or control characters")
    _invisible("url", url, _URL_REFUSED)
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
    ascii_host = _sendable_host(parts)
    if ascii_host != parts.hostname:  # an IDN: keep everything else exactly as given
        start = len(parts.scheme) + 3
        netloc = parts.netloc
        port_text = netloc[len(netloc.rpartition(":")[0]) :] if port is not None or netloc.endswith(":") else ""
        url = url[:start] + ascii_host + port_text + url[start + len(netloc) :]
    return url


def _host_error(host: str, why: str) -> ValidationError:
    shown = f"{host[:60]!r}{'…' if len(host) > 60 else ''}"
    return ValidationError("url", f"host {shown} {why}")


def _sendable_host(parts: SplitResult) -> str:
    """The host as the delivery will use it (ASCII), or a ValidationError saying why it cannot be.

    Refused: IPv4 addresses in any form but the four decimal numbers (``0177.0.0.1``,
    ``0x7f.1``, ``127.1``, ``2130706433``: browsers, curl and Python read them differently),
    percent-encoded hosts and IPv6 zone ids, characters that are not allowed in a host name,
    labels over 63 and names over 253 characters, and A-labels (``xn--…``) or international
    names that are not valid IDNA 2008 (UTS #46 mapping, as browsers apply it).
    """
    host = parts.hostname or ""
    authority = parts.netloc.rpartition("@")[2]
    if authority.startswith("["):
        inner = host
        if "%" in inner:
            raise _host_error(inner, "has an IPv6 zone id (%…): zone ids cannot be sent to")
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise _host_error(inner, "is not a valid IPv6 address") from None
        return host
    if "%" in host:
        raise _host_error(host, "is percent-encoded: write the host name as it is")
    converted = not host.isascii()
    name = host
    if converted:
        name = _to_a_label(host)
    if name.endswith("."):
        name = name[:-1]  # one trailing dot: a fully qualified name
    labels = name.split(".")
    if any(not label for label in labels):
        raise _host_error(host, "has an empty label (two dots in a row, or a leading dot)")
    if _ends_in_a_number(labels[-1]):
        ip = legacy_ipv4(name)
        if ip is not None and not converted and str(ip) == name and not host.endswith("."):
            return host
        if ip is None:
            raise _host_error(host, "ends in a number but is not an IPv4 address")
        raise _host_error(
            host, f"is a non-standard form of the IPv4 address {ip} (browsers, curl and Python read such forms "
            f"differently): write {ip}"
        )
    if len(name) > MAX_HOST_LENGTH:
        raise _host_error(host, f"is {len(name)} characters long: a host name has at most {MAX_HOST_LENGTH}")
    for label in labels:
        if len(label) > MAX_LABEL_LENGTH:
            raise _host_error(
                host, f"has a label of {len(label)} characters ({label[:16]}…): at most {MAX_LABEL_LENGTH}"
            )
        bad = re.search(r"[^a-z0-9_-]", label)
        if bad:
            raise _host_error(
                host, f"contains {bad.group()!r}: a host name has letters, digits, '-' and '_' between dots"
            )
        if label.startswith("xn--"):
            _check_a_label(host, label)
    return name + ("." if host.endswith(".") else "")


def _to_a_label(host: str) -> str:
    import idna  # httpx's own IDNA library; imported only for international names

    try:
        return str(idna.encode(host, uts46=True).decode("ascii"))
    except (idna.IDNAError, UnicodeError) as exc:
        raise _host_error(host, f"is not a valid international domain name ({exc})") from None


def _check_a_label(host: str, label: str) -> None:
    import idna

    try:
        idna.decode(label)
    except (idna.IDNAError, UnicodeError) as exc:
        raise _host_error(host, f"has an invalid A-label {label!r} ({exc})") from None


def _ends_in_a_number(label: str) -> bool:
    """WHATWG URL "ends in a number": the last label is decimal digits or ``0x`` hex."""
    return bool(re.fullmatch(r"[0-9]+|0[xX][0-9a-fA-F]*", label))


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host that ends in a number means to a browser (the WHATWG URL IPv4
    parser: 1 to 4 parts, each decimal, ``0``-prefixed octal or ``0x`` hex, the last filling the
    remaining bytes), or None when it is not one: ``0x7f.1`` -> 127.0.0.1, ``2130706433`` ->
    127.0.0.1, ``10.1`` -> 10.0.0.1, ``0`` -> 0.0.0.0."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or len(host) > MAX_HOST_LENGTH:
        return None
    numbers: list[int] = []
    for part in parts:
        if part[:2] in ("0x", "0X"):
            digits, base, charset = part[2:], 16, "[0-9a-fA-F]*"
        elif len(part) > 1 and part[0] == "0":
            digits, base, charset = part[1:], 8, "[0-7]+"
        else:
            digits, base, charset = part, 10, "[0-9]+"
        if not re.fullmatch(charset, digits):
            return None
        numbers.append(int(digits, base) if digits else 0)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(numbers[:-1]))
    return ipaddress.IPv4Address(value)


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
        if isinstance(ev, str) and len(ev) > 100:
            raise ValidationError("events", f"unknown event type {ev[:40]!r}… ({len(ev)} characters)")
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
        raise ValidationError("secret", "is not valid UTF-8 text") from None  # never echo a secret
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


#: Top-level names that never resolve on the public internet (RFC 2606, 6761, 6762, 7686,
#: 8375, 9476; ``.internal`` is reserved for private use by ICANN).
_SPECIAL_USE_NAMES = ("localhost", "local", "internal", "test", "invalid", "example", "onion", "alt", "home.arpa")


def production_check(url: str) -> ProductionCheck:
    """Trackpilots accepts only public HTTPS URLs for reseller webhooks (spec §1.1).

    A warning for the user, never a block: local testing is what simlib is for. Host names
    are not resolved here (that would need the network). The host is read the way Trackpilots
    (a Node service, WHATWG URL parsing) reads it: percent-decoded, IDNA-mapped, numeric forms
    such as ``2130706433``, ``0x7f.1`` or ``127.1`` as the IPv4 address they mean, a trailing
    dot dropped, and addresses judged by the ``strict`` address policy's tables.
    """
    reasons: list[str] = []
    try:
        # WHATWG: tabs and newlines are removed, C0 controls and spaces trimmed, and "\" is "/".
        text = url.translate({9: None, 10: None, 13: None}).strip("".join(map(chr, range(33)))).replace("\\", "/")
        parts = urlsplit(text)
        host, ip = _whatwg_host(parts)
    except (ValueError, AttributeError, TypeError):
        return ProductionCheck(False, ("not a valid URL",))
    if parts.scheme.lower() != "https":
        reasons.append("it is not HTTPS")
    written = (parts.hostname or host).strip("[]")
    if ip is not None:
        why = STRICT.reason(ip)
        if why is not None:
            shown = written if written == str(ip) or ip.version == 6 else f"{written} (that is {ip})"
            if "loopback" in why:
                embedded = why[why.index("(embedded") - 1 :] if "(embedded" in why else ""
                reasons.append(f"{shown} is a loopback address{embedded}")
            elif why.startswith("private"):
                reasons.append(f"{shown} is a private address {why[len('private '):]}".rstrip())
            else:
                reasons.append(f"{shown} is not a public address: {why}")
        return ProductionCheck(not reasons, tuple(reasons))
    name = host[:-1] if host.endswith(".") else host
    special = next((s for s in _SPECIAL_USE_NAMES if name == s or name.endswith("." + s)), None)
    if special == "localhost":
        reasons.append("localhost is not reachable from Trackpilots")
    elif special is not None:
        reasons.append(f"{written} is a special-use name (.{special}) that never resolves on the public internet")
    elif "." not in name:
        reasons.append(f"{written} is a single-label name, not a public DNS name")
    elif not re.fullmatch(r"[a-z0-9_.-]+", name):
        reasons.append(f"{written} is not a valid DNS host name")
    return ProductionCheck(not reasons, tuple(reasons))


def _whatwg_host(parts: SplitResult) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    """The host as a WHATWG URL parser makes it (ASCII, lower case), and its address when it is
    one; a ValueError when such a parser would refuse the URL."""
    authority = parts.netloc.rpartition("@")[2]
    if authority.startswith("["):
        inner = authority[1 : authority.index("]")]
        return inner.lower(), ipaddress.IPv6Address(inner)
    host = unquote(authority.rpartition(":")[0] if ":" in authority else authority, errors="strict")
    if not host:
        raise ValueError("no host")
    if not host.isascii() or "xn--" in host.lower():
        import idna

        try:
            host = str(idna.encode(host, uts46=True).decode("ascii"))
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(str(exc)) from None
    host = host.lower()
    if re.search(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]", host):
        raise ValueError("forbidden host code point")
    labels = host.split(".")
    if _ends_in_a_number(labels[-1] or (labels[-2] if len(labels) > 1 else "")):
        ip = legacy_ipv4(host)
        if ip is None:
            raise ValueError("not an IPv4 address")
        return str(ip), ip
    return host, None


def verify(
    headers: Headers,
    body: bytes,
    secrets: str | bytes | Sequence[str | bytes],
    *,
    now_ms: int | None = None,
    tolerance_ms: int | None = DEFAULT_TOLERANCE_MS,
    encoding: Encoding = "hex",
) -> Verification:
    """:func:`simlib.core.signing.verify` (``simlib.verify``) with its arguments checked first:
    a body that is not the raw bytes, or a tolerance that is not a whole number of milliseconds
    >= 0 (or None), raises a ValidationError at once instead of a TypeError deep inside hashing
    or a window of "±-1 ms"."""
    if not isinstance(body, (bytes, bytearray)):
        hint = " (encode the text exactly as it arrived, e.g. .encode())" if isinstance(body, str) else ""
        raise ValidationError("body", f"must be the raw body as bytes, not {type(body).__name__}{hint}")
    if tolerance_ms is not None and (isinstance(tolerance_ms, bool) or not isinstance(tolerance_ms, int) or tolerance_ms < 0):
        raise ValidationError("tolerance_ms", f"must be a whole number of milliseconds >= 0, or None, not {tolerance_ms!r}")
    if now_ms is not None and (isinstance(now_ms, bool) or not isinstance(now_ms, int)):
        raise ValidationError("now_ms", f"must be Unix time in whole milliseconds, not {now_ms!r}")
    return _signing_verify(headers, bytes(body), secrets, now_ms=now_ms, tolerance_ms=tolerance_ms, encoding=encoding)
