"""Fixtures: a Simulator on a temporary store, and the embedded receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simlib import Simulator
from simlib.demo import start_demo
from simlib.receiver import Receiver
from simlib.records import Webhook
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT  # noqa: F401 - re-exported for fixtures


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "store.sqlite3"


@pytest.fixture
def sim(store_path) -> Iterator[Simulator]:
    s = Simulator(store_path)
    yield s
    s.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started receiver that verifies nothing until given secrets."""
    rx = Receiver().start()
    yield rx
    rx.stop()


@pytest.fixture
def demo(sim) -> Iterator[tuple[Receiver, Webhook]]:
    """The embedded default: a verifying receiver and the demo webhook pointing at it."""
    rx, wh = start_demo(sim)
    yield rx, wh
    rx.stop()


# -- PostgreSQL: a real server for the shared store (tests/postgres.py) ---------------------------


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the whole session (skips, saying why, without the binaries)."""
    from tests.postgres import SKIP_REASON, PostgresServer, find_bin

    bindir = find_bin()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer(bindir).start()
    yield server
    server.destroy()


@pytest.fixture
def pg_url(postgres) -> str:
    """The URL of a new, empty database on the session's server (with its password)."""
    return postgres.create_database()


@pytest.fixture
def secret_key(monkeypatch) -> str:
    """A Fernet key in $SIMLIB_SECRET_KEY (what a shared store's users set)."""
    from simlib.core.store.keys import new_key

    key = new_key()
    monkeypatch.setenv("SIMLIB_SECRET_KEY", key)
    return key


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_store(request, tmp_path) -> str:
    """The location of a new store on each backend: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite3")
    request.getfixturevalue("secret_key")
    return request.getfixturevalue("pg_url")
