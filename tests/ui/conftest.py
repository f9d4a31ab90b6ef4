"""Fixtures of the explorer tests.

``Button.click()`` swallows handler exceptions (it only logs "Exception in callback" on the
``traitlets`` logger), so an autouse fixture fails any test that logged one, and the explorers
``make_explorer`` builds fail a test in which they rendered an unexpected handler error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import ipywidgets
import pytest

from simlib import Simulator
from simlib.ui import Explorer
from tests.ui.helpers import text_of


@pytest.fixture(autouse=True)
def no_callback_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if any widget callback raised (click() would hide it), then close widgets."""
    caplog.set_level(logging.WARNING, logger="traitlets")
    yield
    crashed = [r.getMessage() for r in caplog.records if "Exception in callback" in r.getMessage()]
    ipywidgets.Widget.close_all()
    assert not crashed, f"a widget callback raised: {crashed}"


@pytest.fixture
def make_explorer() -> Iterator[Callable[..., Explorer]]:
    """Build explorers; afterwards check none rendered an unexpected handler error, and close them."""
    made: list[Explorer] = []

    def make(sim: Simulator, *, demo: bool = False, seed: int | None = 11, **kwargs: object) -> Explorer:
        build = Explorer.with_demo if demo else Explorer
        explorer = build(sim, seed=seed, **kwargs)
        made.append(explorer)
        return explorer

    yield make
    for explorer in made:
        notice = explorer.notice.value
        explorer.close()
        assert "Could not" not in notice, f"a handler failed: {text_of(notice)}"
