"""``Explorer.close()`` stops the embedded receiver the explorer started (its port refuses
connections afterwards), and leaves a receiver it was given running."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from simlib import Simulator
from simlib.receiver import Receiver
from simlib.ui import Explorer


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("started_by", ["with_demo", "use_local"])
def test_close_stops_the_receiver_the_explorer_started(
    sim: Simulator, make_explorer: Callable[..., Explorer], started_by: str
) -> None:
    if started_by == "with_demo":
        explorer = make_explorer(sim, demo=True)
    else:
        explorer = make_explorer(sim)
        explorer.use_local.click()
    rx = explorer.receiver
    assert rx is not None and rx.running and accepts(rx.port)

    explorer.close()

    assert not rx.running
    assert not accepts(rx.port), "the port still accepts connections after close()"


def test_close_leaves_a_receiver_it_was_given_running(sim: Simulator, make_explorer: Callable[..., Explorer]) -> None:
    with Receiver() as rx:
        explorer = make_explorer(sim, receiver=rx)
        explorer.use_local.click()  # reuses the running receiver it was given
        assert explorer.receiver is rx

        explorer.close()

        assert rx.running and accepts(rx.port)
