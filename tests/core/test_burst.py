"""Burst mode: AsyncClient, bounded concurrency and rate, every attempt recorded."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from simlib import Simulator
from simlib.cli import main
from simlib.receiver import Receiver, ReceiverProcess
from tests.helpers import ACT, APP

README_CASES = {"burst-rate-absurd"}


@pytest.fixture
def target(tmp_path):
    rx = Receiver(secrets=["burst-secret-value"]).start()
    sim = Simulator(tmp_path / "s.db")
    wh = sim.create_webhook("burst", rx.url, [APP, ACT], secret="burst-secret-value")
    yield sim, wh, rx
    sim.close()
    rx.stop()


def test_every_attempt_is_recorded_with_fresh_payloads(target):
    sim, wh, rx = target
    burst = sim.send_many(wh, APP, 60, concurrency=8, progress=False)
    assert len(burst.results) == 60 and burst.acknowledged == 60
    assert all(r.delivered and r.recorded for r in burst.results)
    frame = sim.history()
    assert len(frame) == 60 and frame["simulation_id"].is_unique
    assert set(frame["simulation_id"]) == {r.simulation_id for r in burst.results}
    bodies = [req.body for req in rx.wait_for(60)]
    assert len(set(bodies)) == 60  # a fresh payload per send
    assert all(req.verification.ok for req in rx.requests)
    s = burst.summary.iloc[0]
    assert s["count"] == 60 and s["delivered"] == 60 and s["failed"] == 0
    assert s["latency_p50_ms"] <= s["latency_p95_ms"] <= s["latency_p99_ms"] <= s["latency_max_ms"]
    assert s["throughput_per_s"] > 0


def test_repeat_payload_sends_identical_bytes(target):
    sim, wh, rx = target
    burst = sim.send_many(wh, ACT, 10, concurrency=3, repeat_payload=True, progress=False)
    assert len({r.payload for r in burst.results}) == 1
    assert len({r.event_id for r in burst.results}) == 1
    assert len({r.simulation_id for r in burst.results}) == 10
    assert len({req.body for req in rx.wait_for(10)}) == 1


def test_concurrency_is_bounded(tmp_path):
    rx = Receiver(delay_ms=50).start()
    try:
        with Simulator(tmp_path / "s.db") as sim:
            wh = sim.create_webhook("c", rx.url, [APP])
            sim.send_many(wh, APP, 24, concurrency=4, progress=False)
        peak = rx.stats()["delayed_answers"]["peak"]  # requests in the receiver's hands at once
    finally:
        rx.stop()
    assert 1 < peak <= 4


def test_rate_limit_spaces_the_sends(target):
    sim, wh, _ = target
    t0 = time.perf_counter()
    burst = sim.send_many(wh, APP, 21, concurrency=10, rate=40, progress=False)
    elapsed = time.perf_counter() - t0
    assert all(r.delivered for r in burst.results)
    assert elapsed >= 0.45  # 21 sends at 40/s need at least 0.5 s (the first goes at t=0)


def test_failures_are_counted_by_reason(tmp_path):
    statuses = iter([200, 500] * 10)
    rx = Receiver(status=lambda req: next(statuses)).start()
    try:
        with Simulator(tmp_path / "s.db") as sim:
            wh = sim.create_webhook("f", rx.url, [APP])
            burst = sim.send_many(wh, APP, 20, concurrency=1, progress=False)
            s = burst.summary.iloc[0]
            assert s["delivered"] == 10 and s["failed"] == 10
            assert s["failed_by_reason"] == "HTTP 500: 10"
            assert (sim.history()["http_status"] == 500).sum() == 10
    finally:
        rx.stop()


def test_unreachable_endpoint_records_network_errors(tmp_path):
    from tests.helpers import free_port

    with Simulator(tmp_path / "s.db") as sim:
        wh = sim.create_webhook("down", f"http://127.0.0.1:{free_port()}/", [APP])
        burst = sim.send_many(wh, APP, 5, concurrency=2, progress=False)
        assert burst.summary.iloc[0]["failed_by_reason"] == "Network error: 5"
        assert all(r.detail.startswith("connection refused") for r in burst.results)
        assert len(sim.history()) == 5


def test_deleted_webhook_is_a_typed_error_and_nothing_is_sent(target):
    from simlib import NotFoundError

    sim, wh, rx = target
    sim.delete_webhook(wh)
    with pytest.raises(NotFoundError, match=wh.id):
        sim.send_many(wh.id, APP, 3, progress=False)
    assert rx.count == 0 and len(sim.history()) == 0


def test_unsubscribed_event_records_event_type_not_registered_once_not_once_per_send(target):
    sim, wh, rx = target
    sim.update_webhook(wh, events=[ACT])
    burst = sim.send_many(wh.id, APP, 1000, progress=False)
    assert [r.error for r in burst.results] == ["Event type not registered"]
    assert burst.stopped_early.startswith("Event type not registered: ")
    assert burst.stopped_early.endswith("; nothing was sent (1 attempt recorded, not 1000)")
    assert rx.count == 0 and len(sim.history()) == 1


def test_works_inside_a_running_event_loop(target):
    sim, wh, _ = target

    async def notebook_cell():
        # Jupyter runs cells inside an event loop; send_many must still work there.
        return sim.send_many(wh, APP, 5, concurrency=2, progress=False)

    burst = asyncio.run(notebook_cell())
    assert len(burst.results) == 5 and all(r.delivered for r in burst.results)


def test_send_many_async_can_be_awaited(target):
    sim, wh, _ = target
    burst = asyncio.run(sim.send_many_async(wh, APP, 4, concurrency=2, progress=False))
    assert len(burst.results) == 4


def test_progress_callback(target):
    sim, wh, _ = target
    seen = []
    sim.send_many(wh, APP, 7, concurrency=3, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (7, 7) and len(seen) == 7


@pytest.mark.parametrize(
    "n, kwargs",
    [
        (0, {}),
        (-1, {}),
        (True, {}),
        (2.0, {}),
        (5, {"concurrency": 0}),
        (5, {"concurrency": -1}),
        (5, {"concurrency": True}),
        (5, {"concurrency": 2.5}),
        (5, {"rate": 0}),
        (5, {"rate": -1}),
        (5, {"rate": float("nan")}),
        (5, {"rate": float("inf")}),
        (5, {"rate": True}),
        (5, {"rate": 1e-300}),  # positive and finite, but the second send would wait forever
        (5, {"rate": 0.0009}),
        (5, {"rate": 1e7}),
        (5, {"rate": "10"}),
        (5, {"preview": "not a preview"}),
    ],
)
def test_bad_arguments_raise_at_once_and_nothing_is_sent_or_recorded(target, n, kwargs):
    from simlib import ValidationError

    sim, wh, rx = target
    field = next(iter(kwargs), "n")
    with pytest.raises(ValidationError) as info:
        sim.send_many(wh, APP, n, progress=False, **kwargs)
    assert info.value.field == field
    assert sim.history_count() == 0 and rx.count == 0


def test_cli_burst(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    with ReceiverProcess(verify_signatures=False) as rx:
        assert main(["webhooks", "add", "--name", "b", "--url", rx.url, "--event", APP, "--id", "bw"]) == 0
        capsys.readouterr()
        assert main(["burst", "bw", APP, "-n", "30", "-c", "5", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["count"] == 30 and summary["delivered"] == 30
        assert rx.stats()["requests"] == 30
    assert main(["history", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 30
