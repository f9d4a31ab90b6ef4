"""Where the store lives: a location -> a SQLite file or a database URL.

The one place that decides what a location names (:func:`parse_location`): a path (``~``
expanded) is a SQLite file; a URL (``scheme://...``) is a database server, and only
PostgreSQL's schemes are known (``postgresql://`` and ``postgresql+psycopg://``, both through
psycopg 3). Any other scheme is refused instead of becoming a file under
``./mysql:/user:password@host/`` -- a password in a directory name.

A URL may hold a password: it is kept only inside :class:`StoreURL` (whose ``str`` and ``repr``
hide it) and never repeated in a message; a refusal names the scheme and the host at most.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from simlib.errors import ValidationError

__all__ = ["SQL_SCHEMES", "STORE_ENV", "URL_PATTERN", "StoreURL", "parse_location", "scrub", "sqlite_path"]

#: What makes a location a URL: a scheme, then ``://``.
URL_PATTERN: Final = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]*)://")
_HOST: Final = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
#: The URL schemes of a shared store -> the SQLAlchemy driver name they use.
SQL_SCHEMES: Final = {"postgresql": "postgresql+psycopg", "postgresql+psycopg": "postgresql+psycopg"}
#: The store's location when none is given (a path or a URL), before ``$SIMLIB_HOME``.
STORE_ENV: Final = "SIMLIB_STORE"


class StoreURL:
    """A database URL with its password kept out of sight: ``str`` / ``repr`` / :attr:`shown`
    give it without the password; :meth:`secret_text` is what the driver gets."""

    __slots__ = ("_password", "_text", "driver", "shown")

    def __init__(self, text: str, driver: str, shown: str, password: str | None) -> None:
        self._text = text
        self._password = password
        self.driver = driver
        self.shown = shown

    def secret_text(self) -> str:
        return self._text

    @property
    def password(self) -> str | None:
        return self._password

    def __str__(self) -> str:
        return self.shown

    def __repr__(self) -> str:
        return f"StoreURL({self.shown!r})"

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("StoreURL cannot be pickled (it holds a password)")


def scrub(text: str, url: StoreURL | None) -> str:
    """``text`` with the URL's password (as given and percent-decoded) replaced by ``***``."""
    if url is None or not url.password:
        return text
    for secret in {url.password, unquote(url.password)}:
        if secret:
            text = text.replace(secret, "***")
    return text


def parse_location(location: str | os.PathLike[str], *, source: str = "store") -> Path | StoreURL:
    """The SQLite file or the database URL ``location`` names; a one-line ValidationError on
    ``source`` (the argument or variable it came from) for a URL of an unknown scheme or one
    that cannot be parsed -- never repeating more than its scheme and host."""
    text = os.fspath(location)
    if not isinstance(text, str):  # a bytes path
        text = os.fsdecode(text)
    m = URL_PATTERN.match(text)
    if not m:
        return Path(text).expanduser()
    scheme = m.group(1).lower()
    shown = _shown(text, m.group(1))
    driver = SQL_SCHEMES.get(scheme)
    if driver is None:
        raise ValidationError(
            source,
            f"{shown} is a URL of an unknown kind; give the path of a SQLite file or a PostgreSQL URL "
            "(postgresql+psycopg://user@host/db) (the rest of the URL is not repeated, it may hold a password)",
        )
    try:
        parts = urlsplit(text.strip())
        host, port, user, password = parts.hostname, parts.port, parts.username, parts.password
    except ValueError:
        raise ValidationError(
            source, f"{shown} is not a valid URL (the rest is not repeated, it may hold a password)"
        ) from None
    database = parts.path.lstrip("/")
    if not database or "/" in database:
        raise ValidationError(source, f"{shown}: name the database after the host (postgresql+psycopg://user@host/db)")
    where = f"{host or 'localhost'}" + (f":{port}" if port else "")
    who = f"{unquote(user)}@" if user else ""
    masked = f"{driver}://{who}{'***@' if password and not who else ''}{where}/{database}"
    if password and who:
        masked = f"{driver}://{who[:-1]}:***@{where}/{database}"
    # the driver name as SQLAlchemy spells it, whatever the URL said
    full = f"{driver}://" + text.strip().split("://", 1)[1]
    return StoreURL(full, driver, masked, password)


def sqlite_path(location: str | os.PathLike[str], *, source: str = "store") -> Path:
    """The SQLite file ``location`` names (``~`` expanded), or a one-line ValidationError on
    ``source`` (the argument or variable it came from) when it is a URL."""
    text = os.fspath(location)
    if not isinstance(text, str):  # a bytes path
        text = os.fsdecode(text)
    m = URL_PATTERN.match(text)
    if m:
        raise ValidationError(
            source,
            f"{_shown(text, m.group(1))} is a URL; a SQLite store is a file, give its path (a PostgreSQL "
            "store is opened with Simulator(url) or $SIMLIB_STORE; the rest of the URL is not repeated, it may hold a password)",
        )
    return Path(text).expanduser()


def _shown(text: str, scheme: str) -> str:
    """``scheme://host`` when the host can be told apart from a password, else ``scheme://``."""
    shown = f"{scheme.lower()}://"
    try:
        parts = urlsplit(text.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError when the "port" is really the rest of a password
    except ValueError:
        return shown
    if host and _HOST.fullmatch(host):
        return shown + host
    return shown
