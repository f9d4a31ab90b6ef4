"""Who sends, from where: the ``user`` and ``host`` every history row records (a shared store
holds a team's attempts).

``user``: ``$SIMLIB_USER`` if set, else the OS user; ``host``: ``$SIMLIB_HOST`` if set, else the
machine's host name. Read on every record (cheap: two environment lookups), so a notebook that
sets ``SIMLIB_USER`` sees it at once.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Final

__all__ = ["HOST_ENV", "USER_ENV", "MAX_IDENTITY", "sender"]

USER_ENV: Final = "SIMLIB_USER"
HOST_ENV: Final = "SIMLIB_HOST"
#: The longest user or host name recorded (longer ones are cut).
MAX_IDENTITY: Final = 128


@lru_cache(maxsize=1)
def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # no login name, no passwd entry (a container)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


@lru_cache(maxsize=1)
def _host() -> str:
    import socket

    try:
        return socket.gethostname() or "unknown"
    except OSError:
        return "unknown"


def _clean(value: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in value.strip())[:MAX_IDENTITY]


def sender() -> tuple[str, str]:
    """``(user, host)`` of the attempts this process records now."""
    env = os.environ
    user = env.get(USER_ENV)
    host = env.get(HOST_ENV)
    return (
        _clean(user) if user and user.strip() else _os_user(),
        _clean(host) if host and host.strip() else _host(),
    )
