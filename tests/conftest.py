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
