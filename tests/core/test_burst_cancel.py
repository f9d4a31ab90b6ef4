"""Cancelling a burst (``send_many(cancel=event)``) ends its sends in flight too, on every engine,
against real servers on 127.0.0.1: ``send_many`` returns within a second or so of the cancel,
each cancelled attempt is recorded in the words of a cancelled single send (after connecting:
"may have reached the endpoint"; before connecting: "nothing was sent"), no row stays
"interrupted", no further request reaches the endpoint, and the rows reserved for sends that
never started are released."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from simlib import CANCELLED, DELIVERED, FAILED, SIMULATION_FAILED, DeliveryConfig, Simulator
from simlib.core.classify import request_sent
from simlib.records import CANCELLED_BEFORE_CONNECT, CANCELLED_CONNECTED, INTERRUPTED
from tests.helpers import APP
from tests.servers import RawServer, answer, connect_hole, connecting, drip, never_answer, wait_until

#: Long enough that only the cancel can end the sends below.
SLOW = DeliveryConfig(connect_timeout=20.0, read_timeout=20.0, deadline=20.0)
#: "Within a second" of the cancel (from the moment it is set), allowed on a loaded 2-CPU machine.
BOUND_S = 2.0
#: How long the cancel waits for the burst to reach the phase under test (only a broken burst waits it out).
REACH_S = 30.0
ENGINES = ["curl", "aiohttp", "httpx"]


@pytest.fixture
def sim(tmp_path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "s.db", delivery=SLOW) as s:
        yield s


def _cancel_when(reached: Callable[[], bool]) -> tuple[threading.Event, list[float]]:
    """An event set as soon as ``reached()`` holds (the burst is in the phase under test), not
    after a fixed delay that a stalled machine could spend before the burst even starts."""
    cancel, at = threading.Event(), []

    def fire() -> None:
        wait_until(reached, REACH_S)
        at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=fire, daemon=True).start()
    return cancel, at


def _burst(sim: Simulator, url: str, engine: str, reached: Callable[[], bool], *, n: int = 20, concurrency: int = 5, **kw):
    wh = sim.create_webhook("burst-cancel", url, [APP])
    cancel, at = _cancel_when(reached)
    burst = sim.send_many(wh.id, APP, n, concurrency=concurrency, progress=kw.pop("progress", False), engine=engine,
                          cancel=cancel, **kw)
    ended = time.monotonic()
    assert at, "the burst ended before it was cancelled"
    assert ended - at[0] < BOUND_S, f"the burst took {ended - at[0]:.2f} s to end after the cancel"
    assert burst.engine == engine
    return burst


@pytest.mark.parametrize("engine", ENGINES)
def test_cancel_ends_the_sends_in_flight_against_a_hanging_endpoint(sim: Simulator, engine: str) -> None:
    with RawServer(never_answer()) as server:
        burst = _burst(sim, server.url, engine, lambda: len(server.requests) == 5)
        assert burst.stopped_early == f"{CANCELLED}: 5 of 20 sends went out"
        assert len(burst.results) == 5
        for r in burst.results:
            assert (r.result, r.error, r.detail, r.http_status) == (FAILED, SIMULATION_FAILED, CANCELLED_CONNECTED, None)
            assert r.recorded
        history = sim.history()
        assert len(history) == 5  # the attempts that started; the 15 reserved ahead were released
        assert set(history["detail"]) == {CANCELLED_CONNECTED}
        assert not (history["detail"] == INTERRUPTED).any()
        assert burst.acknowledged == 5
        time.sleep(0.5)
        assert len(server.requests) == 5 and server.connections == 5  # nothing further went out
        row = sim.history_row(int(history["id"].iloc[0]))
        assert request_sent(row["http_status"], row["detail"], row["request_headers"])  # "may have reached"


@pytest.mark.parametrize("engine", ENGINES)
def test_cancel_while_connecting_says_nothing_was_sent(sim: Simulator, engine: str) -> None:
    with connect_hole() as (hole, port):
        burst = _burst(sim, f"http://127.0.0.1:{port}/hook", engine, lambda: connecting(port) == 3, n=6, concurrency=3)
        assert [r.detail for r in burst.results] == [CANCELLED_BEFORE_CONNECT] * 3
        assert burst.stopped_early == f"{CANCELLED}: 3 of 6 sends went out"
        history = sim.history()
        assert list(history["detail"]) == [CANCELLED_BEFORE_CONNECT] * 3
        row = sim.history_row(int(history["id"].iloc[0]))
        assert not request_sent(row["http_status"], row["detail"], row["request_headers"])
        # Free the queue: whatever connection the cancelled connects left must carry no request.
        hole.settimeout(1.0)
        received = b""
        for _ in range(4):
            try:
                conn, _ = hole.accept()
            except TimeoutError:
                break
            conn.settimeout(1.0)
            try:
                while chunk := conn.recv(65536):
                    received += chunk
            except (TimeoutError, ConnectionResetError):
                pass
            conn.close()
        assert b"POST" not in received, received[:200]


@pytest.mark.parametrize("engine", ENGINES)
def test_cancel_while_reading_a_slow_answer_keeps_its_status(sim: Simulator, engine: str) -> None:
    with RawServer(drip(total=1000, every=0.05)) as server:
        # A few body bytes after the status on both: the client has read both status lines by then.
        burst = _burst(sim, server.url, engine, lambda: len(server.dripped) == 2 and min(server.dripped) >= 5,
                       n=4, concurrency=2)
        assert len(burst.results) == 2
        for r in burst.results:
            assert (r.http_status, r.result, r.error) == (200, FAILED, SIMULATION_FAILED)
            assert r.detail == f"{CANCELLED} while reading the response body (status 200 had arrived)"
        assert list(sim.history()["http_status"]) == [200, 200]


@pytest.mark.parametrize("engine", ENGINES)
def test_cancel_ends_a_wait_for_the_schedule(sim: Simulator, engine: str) -> None:
    # One send per 100 s: the first goes out at once, the second waits; the cancel ends the wait.
    done: list[int] = []
    with RawServer(answer()) as server:
        burst = _burst(sim, server.url, engine, lambda: 1 in done, n=3, concurrency=1, rate=0.01,
                       progress=lambda finished, total: done.append(finished))
        assert [r.result for r in burst.results] == [DELIVERED]
        assert burst.stopped_early == f"{CANCELLED}: 1 of 3 sends went out"
        assert len(sim.history()) == 1 and len(server.requests) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cancel_event_never_set_changes_nothing(sim: Simulator, engine: str) -> None:
    with RawServer(answer()) as server:
        wh = sim.create_webhook("never-cancelled", server.url, [APP])
        burst = sim.send_many(wh.id, APP, 12, concurrency=4, progress=False, engine=engine, cancel=threading.Event())
        assert [r.result for r in burst.results] == [DELIVERED] * 12 and burst.stopped_early is None
        assert len(server.requests) == 12 and len(sim.history()) == 12


@pytest.mark.parametrize("engine", ENGINES)
def test_an_interrupted_burst_is_not_taken_for_a_cancelled_one(sim: Simulator, engine: str) -> None:
    # The burst's own task cancelled (what Ctrl-C does to asyncio.run) while a cancel event is
    # given but not set: the cancellation propagates and the sends in flight read "interrupted".
    async def run(server: RawServer) -> None:
        url = server.url
        wh = sim.create_webhook("interrupted", url, [APP])
        task = asyncio.ensure_future(
            sim.send_many_async(wh.id, APP, 10, concurrency=3, progress=False, engine=engine, cancel=threading.Event())
        )
        # Cancelled once the 3 sends are in flight (not after a fixed delay a stall could eat).
        async def in_flight() -> None:
            while len(server.requests) < 3:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(in_flight(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with RawServer(never_answer()) as server:
        asyncio.run(run(server))
        history = sim.history()
        assert len(history) == 3 and set(history["detail"]) == {INTERRUPTED}
        assert len(server.requests) == 3
