"""Who sends, from where: the ``user`` and ``host`` every history row records (a shared store
holds a team's attempts).

``user``: ``$SIMLIB_USER`` if set, else the OS user; ``host``: ``$SIMLIB_HOST`` if set, else the
machine's host name. Read when a Simulator is made (:func:`refresh`): a notebook that sets
``SIMLIB_USER`` makes its Simulator after that.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Final

__all__ = ["HOST_ENV", "MAX_IDENTITY", "USER_ENV", "refresh", "sender"]

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


_current: list[tuple[str, str]] = []


def refresh() -> tuple[str, str]:
    """Read ``$SIMLIB_USER`` / ``$SIMLIB_HOST`` (else the OS user and the host name) again: a
    Simulator does when it is made. Reading the environment costs microseconds, and every send
    records the sender twice, so :func:`sender` does not."""
    env = os.environ
    user, host = env.get(USER_ENV), env.get(HOST_ENV)
    found = (
        _clean(user) if user and user.strip() else _os_user(),
        _clean(host) if host and host.strip() else _host(),
    )
    _current[:] = [found]
    return found


def sender() -> tuple[str, str]:
    """``(user, host)`` of the attempts this process records now: as read by the last
    :func:`refresh` (the newest Simulator made)."""
    return _current[0] if _current else refresh()
