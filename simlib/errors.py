"""Exceptions raised by simlib: one root, :class:`SimlibError`.

The tree; ``[...]`` names a built-in exception the class also derives from (``except
ValueError`` catches a ValidationError, ``except TimeoutError`` a ResolveTimeout)::

    SimlibError
    ├── ValidationError [ValueError]    bad input for a named field (webhook form, CLI flag, argument)
    │   ├── OverrideError               a payload override names a path that does not exist or a bad value
    │   └── UnknownEventError           an event type that is not in the catalogue
    ├── NotFoundError [LookupError]     no webhook / history row with that id
    ├── ConflictError                   the webhook was changed by someone else since it was read
    ├── StoreError                      the store cannot be used
    │   ├── StoreUnavailable            locked past the busy timeout, unreadable, read-only, server down
    │   ├── StoreVersionError           the store was written by a newer simlib
    │   └── SecretKeyError              no key (or the wrong one) for the webhook secrets encrypted at rest
    ├── BlockedAddress                  simlib.netpolicy: the address policy refuses the endpoint's address
    ├── ResolveTimeout [TimeoutError]   simlib.netpolicy: the DNS lookup did not finish within the deadline
    ├── NoAddress                       simlib.netpolicy: the resolver answered no usable address (nothing is sent)
    ├── ResolverBusy                    simlib.netpolicy: too many earlier DNS lookups are still hanging
    ├── PluginWarning [UserWarning]     a warning, not raised: an event-type plugin was broken and skipped
    └── CLIError                        simlib.cli: a combination of flags that cannot work (exit 2)

A test walks the classes and compares them with this drawing, both ways.

A send never raises for what the endpoint, the network or the store does: it ends as a
:class:`~simlib.records.SimulationResult` (``BlockedAddress``, ``ResolveTimeout``, ``NoAddress``
and ``ResolverBusy`` become its "Network error"). A mistake of the caller -- an unknown
``sign_with``, a concurrency below 1 -- raises a :class:`ValidationError` at once and is not
recorded. The other errors reach callers of
the configuration API (create/update/delete a webhook, preview, history).
"""

from __future__ import annotations


class SimlibError(Exception):
    """Root of every error simlib raises on purpose."""


class ValidationError(SimlibError, ValueError):
    """Input refused; ``field`` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class OverrideError(ValidationError):
    """A payload override could not be applied (``path`` says which)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__("override", f"{path!r}: {message}")


class NotFoundError(SimlibError, LookupError):
    """No object with that id."""

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} not found: {ident!r}")


class ConflictError(SimlibError):
    """A change refused because the object was changed by someone else (another page, the CLI)
    since the caller read it: ``update_webhook(..., expected_updated_ms=...)``. Nothing was
    written; read it again and redo the change."""

    def __init__(self, kind: str, ident: object, message: str) -> None:
        self.kind = kind
        self.ident = ident
        self.message = message
        super().__init__(f"{kind} {ident!r}: {message}")


class UnknownEventError(ValidationError):
    """An event type that is not registered in the catalogue."""

    def __init__(self, name: object, known: list[str]) -> None:
        self.name = name
        super().__init__("event", f"unknown event type {name!r}; known: {', '.join(known)}")


class StoreError(SimlibError):
    """The embedded store cannot be used."""


class StoreUnavailable(StoreError):
    """Locked past the busy timeout, unreadable, or on a read-only path."""


class StoreVersionError(StoreError):
    """The store file was written by a newer simlib (schema version too high)."""


class SecretKeyError(StoreError):
    """A webhook secret cannot be encrypted or decrypted: no key, a malformed key, another key."""


class PluginWarning(SimlibError, UserWarning):
    """Warned (never raised) once per process for each event-type plugin that could not be
    loaded; the plugin is skipped and every other event type keeps working."""
