"""Webhook secrets at rest: Fernet tokens in the store, the key outside it.

The store never holds a webhook secret in plain text: its ``secret`` and ``previous_secret``
columns hold Fernet tokens (``cryptography``: AES-128-CBC + HMAC-SHA256). The key, first match
wins:

- a shared (PostgreSQL) store: ``$SIMLIB_SECRET_KEY``, one or more Fernet keys separated by
  commas (the first encrypts, all decrypt: a rotation in progress,
  :class:`cryptography.fernet.MultiFernet`), else ``$SIMLIB_SECRET_KEY_FILE``, a file holding
  such keys, one a line. It gets no generated key: everyone using it needs the same key.
- a SQLite store: the key file beside it (``simlib.sqlite3.key``), generated owner-only when the
  store is created (or upgraded from plain-text secrets) -- never again once it holds tokens, so a
  lost key file is noticed instead of replaced. The environment's keys are also tried when
  decrypting.

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


def _read_file(path: Path, source: str, *, create: bool) -> tuple[list[bytes], str]:
    """The keys in ``path`` (made with a new key when missing and ``create``), and what to say
    when there are none."""
    if not path.exists() and create:
        try:
            _create_key_file(path)
        except OSError as exc:
            return [], f"no key: {source} could not be created ({exc.strerror})"
    try:
        text = path.read_text("ascii")
    except FileNotFoundError:
        return [], f"no key: {source} does not exist; restore it (or set ${KEY_ENV} to the store's key)"
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}") from None
    return _parse(text, source), f"{source} holds no key"


def _from_environment() -> tuple[list[bytes], str, str, Path | None]:
    """The keys ``$SIMLIB_SECRET_KEY`` (else ``$SIMLIB_SECRET_KEY_FILE``) gives: (keys, where
    from, what to say when there are none, the file)."""
    env = os.environ.get(KEY_ENV, "").strip()
    if env:
        return _parse(env, f"${KEY_ENV}"), f"${KEY_ENV}", "", None
    named = os.environ.get(KEY_FILE_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        source = f"${KEY_FILE_ENV} ({path})"
        keys, missing = _read_file(path, source, create=False)
        return keys, source, missing, path
    return [], "", f"no key: set ${KEY_ENV} or ${KEY_FILE_ENV} (the same key for everyone sharing the store)", None


class Keyring:
    """The keys of one store (possibly none) and what it does with them: seal a secret into a
    token (with the first key), open a token back into a :class:`~simlib.records.Secret` (any key,
    or ``extra`` ones; cached: every send reads its webhook), re-encrypt with the first key."""

    def __init__(
        self, keys: Sequence[bytes], source: str, *, missing: str = "", extra: Sequence[bytes] = (),
        path: Path | None = None,
    ) -> None:
        self.source = source
        self._keys = list(keys)
        self._extra = [k for k in extra if k not in self._keys]
        self._missing = missing
        self._path = path
        self._fernet: MultiFernet | None = None
        self._open_token: Callable[[str], Secret] = lru_cache(maxsize=4096)(self._open_uncached)

    @classmethod
    def load(cls, key_file: Path | None = None, *, create: bool = False) -> Keyring:
        """A shared store (``key_file`` None): the keys of ``$SIMLIB_SECRET_KEY``, else of the
        file ``$SIMLIB_SECRET_KEY_FILE``. A SQLite store: its own ``key_file`` (made with a new
        key when missing and ``create``), the environment's keys also tried when decrypting (so
        that setting the team's key does not lock a personal store). A key given but unreadable
        or malformed raises SecretKeyError."""
        env_keys, env_source, env_missing, env_path = _from_environment()
        if key_file is None:
            return cls(env_keys, env_source, missing=env_missing, path=env_path)
        source = f"the key file {key_file}"
        keys, missing = _read_file(key_file, source, create=create)
        return cls(keys, source, missing=missing, extra=env_keys, path=key_file)

    @property
    def path(self) -> Path | None:
        """The key file the keys came from (None: the environment, or no key)."""
        return self._path

    def keys(self) -> list[str]:
        """The keys, the encrypting one first (for writing a key file during a rotation)."""
        return [k.decode("ascii") for k in self._keys]

    def with_first(self, key: str) -> Keyring:
        """These keys with ``key`` put first: it encrypts, the old ones still decrypt."""
        return Keyring(
            [*_parse(key, "the new key"), *self._keys], self.source, missing=self._missing, extra=self._extra, path=self._path
        )

    @property
    def usable(self) -> bool:
        """Whether secrets can be stored (there is a key to encrypt with)."""
        return bool(self._keys)

    def _multi(self) -> MultiFernet:
        """Encrypts with the first key, decrypts with any (the store's own, then the extra ones)."""
        if not self._keys:
            raise SecretKeyError(f"webhook secrets are encrypted in the store and there is {self._missing}")
        if self._fernet is None:
            from cryptography.fernet import Fernet, MultiFernet

            self._fernet = MultiFernet([Fernet(k) for k in (*self._keys, *self._extra)])
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
        if not self._keys and not self._extra:
            return SealedSecret(token, f"cannot use the webhook's secret: it is encrypted in the store and there is {self._missing}")
        from cryptography.fernet import Fernet, InvalidToken, MultiFernet

        try:
            fernet = self._multi() if self._keys else MultiFernet([Fernet(k) for k in self._extra])
            return Secret(fernet.decrypt(token.encode("ascii")).decode("utf-8"))
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
