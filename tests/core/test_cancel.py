"""Cancelling a single send (``Simulator.send(cancel=event)``) in each phase, against real
servers on 127.0.0.1: the send returns within a second of the cancel, the attempt is recorded
as "Simulation failed" with a detail that starts "Cancelled by the user" and says how far it
got, and a request cancelled before its connection was made never writes a byte."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from simlib import CANCELLED, DELIVERED, FAILED, SIMULATION_FAILED, DeliveryConfig, Simulator
from simlib.records import CANCELLED_BEFORE_CONNECT, CANCELLED_BEFORE_SEND, CANCELLED_CONNECTED
from tests.helpers import APP
from tests.servers import RawServer, answer, connect_hole, connecting, drip, never_answer, wait_until

#: Long enough that only the cancel can end the sends below.
SLOW = DeliveryConfig(connect_timeout=20.0, read_timeout=20.0, deadline=20.0)
#: What "within a second" is allowed on a loaded 2-CPU machine, from the moment the cancel is set.
BOUND_S = 2.0
#: How long the cancel waits for the send to reach the phase under test (only a broken send waits it out).
REACH_S = 30.0


def _cancel_when(reached: Callable[[], bool]) -> tuple[threading.Event, list[float]]:
    """An event set as soon as ``reached()`` holds (the send is in the phase under test), not
    after a fixed delay that a stalled machine could spend before the send even starts;
    ``at[0]`` is when it was set."""
    cancel, at = threading.Event(), []

    def fire() -> None:
        wait_until(reached, REACH_S)
        at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=fire, daemon=True).start()
    return cancel, at


def _send(sim: Simulator, url: str, cancel: threading.Event, at: list[float]):
    wh = sim.create_webhook("cancel", url, [APP])
    result = sim.send(sim.preview(wh, APP, seed=1), cancel=cancel)
    ended = time.monotonic()
    assert at, "the send ended before it was cancelled"
    assert ended - at[0] < BOUND_S, f"the cancel took {ended - at[0]:.2f} s"
    return result


def _row(sim: Simulator, result) -> dict:
    assert result.recorded
    return sim.history_row(result.history_id)


@pytest.fixture
def sim(tmp_path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "s.db", delivery=SLOW) as s:
        yield s


def test_cancel_while_resolving(tmp_path) -> None:
    release, resolving = threading.Event(), threading.Event()

    def hanging_resolver(host: str, port: int) -> list[str]:
        resolving.set()
        release.wait(30)
        return ["127.0.0.1"]

    with Simulator(tmp_path / "s.db", delivery=SLOW.with_(resolver=hanging_resolver)) as sim:
        cancel, at = _cancel_when(resolving.is_set)
        try:
            result = _send(sim, "http://hangs.example/hook", cancel, at)
        finally:
            release.set()
        assert (result.result, result.error, result.detail) == (FAILED, SIMULATION_FAILED, CANCELLED_BEFORE_CONNECT)
        row = _row(sim, result)
        assert row["detail"] == CANCELLED_BEFORE_CONNECT and row["error"] == SIMULATION_FAILED


def test_cancel_while_connecting_to_a_blackhole_sends_nothing(sim: Simulator) -> None:
    with connect_hole() as (hole, port):
        cancel, at = _cancel_when(lambda: connecting(port) == 1)
        result = _send(sim, f"http://127.0.0.1:{port}/hook", cancel, at)
        assert result.detail == CANCELLED_BEFORE_CONNECT and result.http_status is None
        assert _row(sim, result)["detail"] == CANCELLED_BEFORE_CONNECT
        # Free the queue: the abandoned connect now goes through, and must write nothing.
        hole.settimeout(3)
        received = b""
        for _ in range(2):  # the filler, then the cancelled send's connection
            conn, _ = hole.accept()
            conn.settimeout(3)
            try:
                while chunk := conn.recv(65536):
                    received += chunk
            except (TimeoutError, ConnectionResetError):
                pass
            conn.close()
        assert b"POST" not in received, received[:200]


def test_cancel_during_tls_handshake(sim: Simulator) -> None:
    hello = threading.Event()

    def silent(conn: socket.socket, server: RawServer) -> None:  # takes the ClientHello, never answers
        if conn.recv(65536):
            hello.set()
        server.stopped.wait(30)

    with RawServer(silent) as server:
        cancel, at = _cancel_when(hello.is_set)
        result = _send(sim, f"https://127.0.0.1:{server.port}/hook", cancel, at)
        assert result.detail == CANCELLED_CONNECTED
        assert _row(sim, result)["result"] == FAILED


def test_cancel_while_waiting_for_the_answer(sim: Simulator) -> None:
    with RawServer(never_answer()) as server:
        cancel, at = _cancel_when(lambda: len(server.requests) == 1)
        result = _send(sim, server.url, cancel, at)
        assert result.detail == CANCELLED_CONNECTED and result.detail.startswith(CANCELLED)
        assert len(server.requests) == 1  # it had been sent: "may have reached the endpoint"
        assert _row(sim, result)["detail"] == CANCELLED_CONNECTED


def test_a_connected_send_is_never_said_unsent_when_the_cancel_is_slow_to_land(sim, monkeypatch) -> None:
    """The cancel's grace running out before the watchdog has shut the connection (a stalled
    machine; here a grace shorter than the watchdog's 0.1 s poll) must not turn a request that
    went out into "before the connection was made (nothing was sent)": whether it was connected
    comes from the request's own trace, not from the clock (a helper's stall harness caught it)."""
    monkeypatch.setattr("simlib.core.delivery.cancel.CANCEL_GRACE_S", 0.001)
    with RawServer(never_answer()) as server:
        cancel, at = _cancel_when(lambda: len(server.requests) == 1)
        result = _send(sim, server.url, cancel, at)
        assert len(server.requests) == 1  # it went out
        assert result.detail == CANCELLED_CONNECTED and _row(sim, result)["detail"] == CANCELLED_CONNECTED


def test_cancel_while_reading_a_slow_drip(sim: Simulator) -> None:
    with RawServer(drip(total=1000, every=0.05)) as server:
        # A few body bytes after the status: the client has read the status line by then.
        cancel, at = _cancel_when(lambda: bool(server.dripped) and server.dripped[0] >= 5)
        result = _send(sim, server.url, cancel, at)
        assert result.http_status == 200 and result.result == FAILED and result.error == SIMULATION_FAILED
        assert result.detail == f"{CANCELLED} while reading the response body (status 200 had arrived)"
        assert _row(sim, result)["http_status"] == 200


def test_cancelled_before_it_starts_sends_nothing(sim: Simulator) -> None:
    with RawServer(answer()) as server:
        cancel = threading.Event()
        cancel.set()
        wh = sim.create_webhook("cancel", server.url, [APP])
        result = sim.send(sim.preview(wh, APP, seed=1), cancel=cancel)
        assert result.detail == CANCELLED_BEFORE_SEND and result.request_headers == {}
        assert server.requests == [] and _row(sim, result)["detail"] == CANCELLED_BEFORE_SEND


def test_a_cancel_event_never_set_changes_nothing(sim: Simulator) -> None:
    with RawServer(answer()) as server:
        wh = sim.create_webhook("cancel", server.url, [APP])
        preview = sim.preview(wh, APP, seed=1)
        result = sim.send(preview, cancel=threading.Event())
        assert result.result == DELIVERED and result.detail == "Delivered: 200 X"
        assert server.requests[0].body == preview.body


def test_sends_after_a_cancelled_one_still_work(sim: Simulator) -> None:
    with RawServer(never_answer()) as hang, RawServer(answer()) as ok:
        cancel, at = _cancel_when(lambda: len(hang.requests) == 1)
        _send(sim, hang.url, cancel, at)
        wh = sim.create_webhook("after", ok.url, [APP])
        assert sim.send(sim.preview(wh, APP, seed=2)).result == DELIVERED
