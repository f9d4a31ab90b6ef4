"""Webhook secrets at rest: Fernet tokens in the store, the key outside it.

The store never holds a webhook secret in plain text: its ``secret`` and ``previous_secret``
columns hold Fernet tokens (``cryptography``: AES-128-CBC + HMAC-SHA256). The key, first match
wins:

- ``$SIMLIB_SECRET_KEY``: one or more Fernet keys separated by commas; the first encrypts, all
  decrypt (a rotation in progress, :class:`cryptography.fernet.MultiFernet`);
- ``$SIMLIB_SECRET_KEY_FILE``: a file holding such keys, one a line;
- the SQLite store only: the key file beside it (``simlib.sqlite3.key``), generated owner-only
  the first time the store is opened. A shared (PostgreSQL) store gets no generated key: everyone
  using it needs the same key, so it is given explicitly.

Without a key (or with the wrong one) the webhooks still list and the history still reads; a
secret reads as :class:`SealedSecret`, whose :meth:`~SealedSecret.reveal` -- signing, showing
it -- raises :class:`~simlib.errors.SecretKeyError` saying what to set. Storing a new secret
without a key raises the same error: nothing is stored in plain text.

Rotation (:meth:`Keyring.rotate`): every token re-encrypted with the first key; see the README,
"Key rotation".
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

from simlib.errors import SecretKeyError
from simlib.records import Secret

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = ["KEY_ENV", "KEY_FILE_ENV", "Keyring", "SealedSecret", "new_key", "write_key_file"]

KEY_ENV: Final = "SIMLIB_SECRET_KEY"
KEY_FILE_ENV: Final = "SIMLIB_SECRET_KEY_FILE"
#: What every Fernet token starts with (version byte 0x80, base64): how a plain secret left by an
#: older store is told from a token when it is encrypted in place.
TOKEN_PREFIX: Final = "gAAAAA"


class SealedSecret(Secret):
    """A secret the store holds but this process cannot decrypt (no key, or another key):
    masked like any secret; :meth:`reveal` raises :class:`~simlib.errors.SecretKeyError`.
    Written back unchanged when its webhook is updated."""

    __slots__ = ("_reason",)

    def __init__(self, token: str, reason: str) -> None:
        super().__init__(token)
        self._reason = reason

    @property
    def token(self) -> str:
        return self._value

    def reveal(self) -> str:
        raise SecretKeyError(self._reason)

    @property
    def masked(self) -> str:
        return "********"

    def __repr__(self) -> str:
        return "SealedSecret('********')"


def new_key() -> str:
    """A new random Fernet key (text)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def _parse(text: str, source: str) -> list[bytes]:
    from cryptography.fernet import Fernet

    keys = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    for i, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SecretKeyError(
                f"{source}: key {i} is not a Fernet key (32 url-safe base64-encoded bytes); make one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
    return [k.encode("ascii") for k in keys]


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Write ``keys`` (the first one encrypts) to ``path``, owner-only, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, ("\n".join(keys) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _create_key_file(path: Path) -> None:
    """A new key file at ``path`` unless one is there (another process may make it at the same
    moment: the first link wins, the other reads it)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.new")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, (new_key() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


class Keyring:
    """The keys of one store (possibly none) and what it does with them: seal a secret into a
    token, open a token back into a :class:`~simlib.records.Secret` (cached: every send reads its
    webhook), re-encrypt with the first key."""

    def __init__(self, keys: Sequence[bytes], source: str, *, missing: str = "") -> None:
        self.source = source
        self._keys = list(keys)
        self._missing = missing
        self._fernet: MultiFernet | None = None
        self._open_token: Callable[[str], Secret] = lru_cache(maxsize=4096)(self._open_uncached)

    @classmethod
    def load(cls, key_file: Path | None = None, *, create: bool = False) -> Keyring:
        """The keys from ``$SIMLIB_SECRET_KEY``, else ``$SIMLIB_SECRET_KEY_FILE``, else
        ``key_file`` (made with a new key when missing and ``create``). A key given but unreadable
        or malformed raises SecretKeyError."""
        env = os.environ.get(KEY_ENV, "").strip()
        if env:
            return cls(_parse(env, f"${KEY_ENV}"), f"${KEY_ENV}")
        named = os.environ.get(KEY_FILE_ENV, "").strip()
        path = Path(named).expanduser() if named else key_file
        if path is None:
            return cls([], "", missing=f"no key: set ${KEY_ENV} or ${KEY_FILE_ENV} (the same key for everyone sharing the store)")
        source = f"${KEY_FILE_ENV} ({path})" if named else f"the key file {path}"
        if not path.exists() and create and not named:
            try:
                _create_key_file(path)
            except OSError as exc:
                return cls([], source, missing=f"no key: {source} could not be created ({exc.strerror})")
        try:
            text = path.read_text("ascii")
        except FileNotFoundError:
            return cls([], source, missing=f"no key: {source} does not exist; set ${KEY_ENV} or restore the file")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretKeyError(f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}") from None
        return cls(_parse(text, source), source, missing=f"{source} holds no key")

    @property
    def path(self) -> Path | None:
        """The key file the keys came from (None: the environment, or no key)."""
        if self.source.startswith("the key file "):
            return Path(self.source.removeprefix("the key file "))
        named = os.environ.get(KEY_FILE_ENV, "").strip()
        return Path(named).expanduser() if named and self.source.startswith(f"${KEY_FILE_ENV}") else None

    def keys(self) -> list[str]:
        """The keys, the encrypting one first (for writing a key file during a rotation)."""
        return [k.decode("ascii") for k in self._keys]

    def with_first(self, key: str) -> Keyring:
        """These keys with ``key`` put first: it encrypts, the old ones still decrypt."""
        return Keyring([*_parse(key, "the new key"), *self._keys], self.source, missing=self._missing)

    @property
    def usable(self) -> bool:
        return bool(self._keys)

    def _multi(self) -> MultiFernet:
        if self._fernet is None:
            if not self._keys:
                raise SecretKeyError(f"webhook secrets are encrypted in the store and there is {self._missing}")
            from cryptography.fernet import Fernet, MultiFernet

            self._fernet = MultiFernet([Fernet(k) for k in self._keys])
        return self._fernet

    def seal(self, secret: Secret) -> str:
        """The token to store for ``secret`` (a SealedSecret keeps its token)."""
        if isinstance(secret, SealedSecret):
            return secret.token
        return self._multi().encrypt(secret.reveal().encode("utf-8")).decode("ascii")

    def open(self, token: str) -> Secret:
        """The secret a stored token holds, or a SealedSecret saying why it cannot be read."""
        return self._open_token(token)

    def _open_uncached(self, token: str) -> Secret:
        if not self._keys:
            return SealedSecret(token, f"cannot use the webhook's secret: it is encrypted in the store and there is {self._missing}")
        from cryptography.fernet import InvalidToken

        try:
            return Secret(self._multi().decrypt(token.encode("ascii")).decode("utf-8"))
        except (InvalidToken, UnicodeError, ValueError):
            return SealedSecret(
                token,
                f"cannot use the webhook's secret: no key from {self.source} decrypts it "
                f"(it was encrypted with another key; set ${KEY_ENV} to the store's key)",
            )

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key (SecretKeyError when no key decrypts it)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._multi().rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretKeyError(f"a webhook secret in the store is not decrypted by any key from {self.source}") from None

    def encrypt_plain(self, value: str) -> str:
        """A plain secret left by an older store as a token (a value that is one already stays)."""
        if value.startswith(TOKEN_PREFIX) and not isinstance(self.open(value), SealedSecret):
            return value
        return self._multi().encrypt(value.encode("utf-8")).decode("ascii")
