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
from collections.abc import Iterator

import pytest

from simlib import CANCELLED, DELIVERED, FAILED, SIMULATION_FAILED, DeliveryConfig, Simulator
from simlib.core.classify import request_sent
from simlib.records import CANCELLED_BEFORE_CONNECT, CANCELLED_CONNECTED, INTERRUPTED
from tests.helpers import APP
from tests.servers import RawServer, answer, connect_hole, drip, never_answer, wait_until

#: Long enough that only the cancel can end the sends below.
SLOW = DeliveryConfig(connect_timeout=20.0, read_timeout=20.0, deadline=20.0)
#: "Within a second" of the cancel, allowed on a loaded 2-CPU machine.
BOUND_S = 2.0
ENGINES = ["curl", "aiohttp", "httpx"]


@pytest.fixture
def sim(tmp_path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "s.db", delivery=SLOW) as s:
        yield s


def _cancel_after(seconds: float) -> tuple[threading.Event, list[float]]:
    cancel, at = threading.Event(), []

    def fire() -> None:
        time.sleep(seconds)
        at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=fire, daemon=True).start()
    return cancel, at


def _burst(sim: Simulator, url: str, engine: str, *, n: int = 20, concurrency: int = 5, after: float = 0.5, **kw):
    wh = sim.create_webhook("burst-cancel", url, [APP])
    cancel, at = _cancel_after(after)
    burst = sim.send_many(wh.id, APP, n, concurrency=concurrency, progress=False, engine=engine, cancel=cancel, **kw)
    ended = time.monotonic()
    assert at, "the burst ended before it was cancelled"
    assert ended - at[0] < BOUND_S, f"the burst took {ended - at[0]:.2f} s to end after the cancel"
    assert burst.engine == engine
    return burst


@pytest.mark.parametrize("engine", ENGINES)
def test_cancel_ends_the_sends_in_flight_against_a_hanging_endpoint(sim: Simulator, engine: str) -> None:
    with RawServer(never_answer()) as server:
        burst = _burst(sim, server.url, engine)
        assert wait_until(lambda: len(server.requests) == 5, 2)
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
        burst = _burst(sim, f"http://127.0.0.1:{port}/hook", engine, n=6, concurrency=3, after=0.5)
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
        burst = _burst(sim, server.url, engine, n=4, concurrency=2)
        assert len(burst.results) == 2
        for r in burst.results:
            assert (r.http_status, r.result, r.error) == (200, FAILED, SIMULATION_FAILED)
            assert r.detail == f"{CANCELLED} while reading the response body (status 200 had arrived)"
        assert list(sim.history()["http_status"]) == [200, 200]


@pytest.mark.parametrize("engine", ENGINES)
def test_cancel_ends_a_wait_for_the_schedule(sim: Simulator, engine: str) -> None:
    # One send per 100 s: the first goes out at once, the second waits; the cancel ends the wait.
    with RawServer(answer()) as server:
        burst = _burst(sim, server.url, engine, n=3, concurrency=1, rate=0.01)
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
    async def run(url: str) -> None:
        wh = sim.create_webhook("interrupted", url, [APP])
        task = asyncio.ensure_future(
            sim.send_many_async(wh.id, APP, 10, concurrency=3, progress=False, engine=engine, cancel=threading.Event())
        )
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with RawServer(never_answer()) as server:
        asyncio.run(run(server.url))
        history = sim.history()
        assert len(history) == 3 and set(history["detail"]) == {INTERRUPTED}
        assert len(server.requests) == 3
