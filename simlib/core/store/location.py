"""Where the store lives: a location (a path, ``$SIMLIB_HOME``) -> the SQLite file.

The one function that decides what a location names (:func:`sqlite_path`). Today every store is a
SQLite file, so a location that looks like a URL (``scheme://...``, e.g.
``postgresql://user:password@host/db``) is refused instead of becoming a file under
``./postgresql:/user:password@host/`` -- a password in a directory name. A PostgreSQL store
(issue 13) replaces this function with a dispatch on the scheme.

The refusal names the scheme and the host only: the rest of a URL may hold a password.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from simlib.errors import ValidationError

__all__ = ["URL_PATTERN", "sqlite_path"]

#: What makes a location a URL: a scheme, then ``://``.
URL_PATTERN: Final = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]*)://")
_HOST: Final = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")


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
            f"{_shown(text, m.group(1))} is a URL; the store is a SQLite file, give its path "
            "(database URLs are not supported yet; the rest of the URL is not repeated, it may hold a password)",
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
