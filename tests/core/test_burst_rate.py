"""Rate mode done right (issue 12, goal 3), against real servers on 127.0.0.1: latency from the
intended send time (no coordinated omission), late sends counted, percentiles from an HDR
histogram, the histogram as data and as a plot, 429s counted apart, Retry-After honoured when
asked, and absurd rates refused with a field error."""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest

from simlib import Simulator, ValidationError
from simlib.cli import main
from simlib.core import burst as burst_module
from simlib.core.burst import parse_retry_after
from simlib.receiver import Receiver
from tests.helpers import APP
from tests.servers import RawServer, read_request

README_CASES = {"burst-retry-after-huge"}


@pytest.fixture
def slow(tmp_path):
    """A receiver that answers every request after 100 ms."""
    rx = Receiver(delay_ms=100).start()
    sim = Simulator(tmp_path / "s.db")
    wh = sim.create_webhook("rate", rx.url, [APP])
    yield sim, wh, rx
    sim.close()
    rx.stop()


def test_latency_is_measured_from_the_intended_send_time(slow):
    sim, wh, _ = slow
    # 10 sends/s wanted, but one at a time at 100 ms each + overhead: every send after the first
    # few starts late, and its wait is part of its latency (no coordinated omission).
    burst = sim.send_many(wh, APP, 12, concurrency=1, rate=12, progress=False)
    assert all(r.delivered for r in burst.results)
    round_trips = [r.latency_ms for r in burst.results]
    assert max(round_trips) < 3000  # each answer itself took ~100 ms (slack for a stalled machine)
    s = burst.summary.iloc[0]
    assert s["latency_from"] == "intended send time"
    assert burst.late_sends >= 6 and s["late_sends"] == burst.late_sends
    # The last send was intended at 11/12 s, but could start only after 11 round trips (>= 1.1 s).
    assert burst.latencies_ms[-1] > round_trips[-1] + 100
    assert s["latency_max_ms"] >= burst.latencies_ms[-1] * 0.99
    assert s["latency_max_ms"] > max(round_trips) + 100  # round trips alone would hide the wait


def test_enough_concurrency_keeps_up_with_the_rate(slow):
    sim, wh, rx = slow
    burst = sim.send_many(wh, APP, 10, concurrency=10, rate=20, progress=False)
    s = burst.summary.iloc[0]
    assert all(r.delivered for r in burst.results)
    # With a worker free for every send, none waits for another's answer: a send is due every
    # 50 ms and each answer takes 100 ms, so the receiver holds several at once (sends forced one
    # at a time would give 1; a stall only makes overdue sends go out together). Not counted in
    # late sends: one counts as late 2 ms after its time, so a stall of the machine makes any late.
    assert rx.stats()["delayed_answers"]["peak"] > 1
    assert s["latency_p50_ms"] < 3000


def test_closed_loop_latency_is_the_round_trip(slow):
    sim, wh, _ = slow
    burst = sim.send_many(wh, APP, 6, concurrency=2, progress=False)
    assert burst.latencies_ms == [r.latency_ms for r in burst.results]
    assert burst.summary.iloc[0]["latency_from"] == "send" and burst.late_sends == 0


def test_percentiles_come_from_the_hdr_histogram(tmp_path):
    rx = Receiver().start()
    try:
        with Simulator(tmp_path / "s.db") as sim:
            wh = sim.create_webhook("hdr", rx.url, [APP])
            burst = sim.send_many(wh, APP, 200, concurrency=8, progress=False)
    finally:
        rx.stop()
    s = burst.summary.iloc[0]
    lat = np.array([r.latency_ms for r in burst.results])
    assert s["latency_p50_ms"] <= s["latency_p90_ms"] <= s["latency_p95_ms"] <= s["latency_p99_ms"]
    assert s["latency_p99_ms"] <= s["latency_p999_ms"] <= s["latency_max_ms"]
    hist = burst.histogram()
    assert hist.get_total_count() == 200
    for q, col in ((50, "latency_p50_ms"), (99, "latency_p99_ms")):
        assert s[col] == hist.get_value_at_percentile(q) / 1000
        exact = float(np.percentile(lat, q, method="inverted_cdf"))
        assert abs(s[col] - exact) <= exact * 0.002 + 0.002  # 3 significant digits
    assert abs(s["latency_max_ms"] - lat.max()) <= lat.max() * 0.002 + 0.002


def test_the_histogram_as_data_and_as_a_plot(slow):
    sim, wh, _ = slow
    burst = sim.send_many(wh, APP, 8, concurrency=4, progress=False)
    edges, counts = burst.latency_histogram(bins=10)
    assert len(edges) == 11 and len(counts) == 10
    assert int(counts.sum()) == 8 and np.all(np.diff(edges) > 0)
    assert edges[0] <= min(r.latency_ms for r in burst.results) * 1.001
    assert edges[-1] >= max(r.latency_ms for r in burst.results) * 0.999
    from matplotlib.figure import Figure

    fig = burst.plot_latency(bins=10)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and "intended" not in ax.get_xlabel()
    with pytest.raises(ValidationError) as info:
        burst.latency_histogram(bins=0)
    assert info.value.field == "bins"


def _throttle_first(retry_after: str):
    """429 with ``Retry-After`` for the first request, 200 for the others."""
    seen = []

    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        seen.append(time.monotonic())
        if len(seen) == 1:
            head = f"HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        else:
            head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        conn.sendall(head.encode())

    return run, seen


@pytest.mark.parametrize("respect", [True, False])
def test_429_is_counted_apart_and_retry_after_is_honoured_when_asked(tmp_path, respect):
    # Ignored, the Retry-After is 30 s: a burst that wrongly waited it out is far past the bound.
    run, seen = _throttle_first("1" if respect else "30")
    with RawServer(run) as srv, Simulator(tmp_path / "s.db") as sim:
        wh = sim.create_webhook("throttled", srv.url, [APP])
        burst = sim.send_many(wh, APP, 4, concurrency=1, progress=False, respect_retry_after=respect)
        assert sim.history_count() == 4
    s = burst.summary.iloc[0]
    assert s["throttled_429"] == 1 and burst.throttled == 1
    assert s["failed_by_reason"] == "HTTP 429: 1" and s["delivered"] == 3
    gap = seen[1] - seen[0]
    if respect:
        assert gap >= 0.9 and burst.retry_after_pauses == 1 and s["retry_after_pauses"] == 1
        assert 0.9 <= burst.paused_s <= 1.1
    else:
        assert gap < 10 and burst.retry_after_pauses == 0


def test_a_huge_retry_after_is_capped(tmp_path, monkeypatch):
    # The real cap is a minute; patched down so the test shows the cap without waiting it out.
    monkeypatch.setattr(burst_module, "MAX_RETRY_AFTER_S", 0.5)
    run, seen = _throttle_first("999999999")
    with RawServer(run) as srv, Simulator(tmp_path / "s.db") as sim:
        wh = sim.create_webhook("throttled", srv.url, [APP])
        t0 = time.monotonic()
        burst = sim.send_many(wh, APP, 3, concurrency=1, progress=False, respect_retry_after=True)
        took = time.monotonic() - t0
    assert burst.retry_after_pauses == 1 and 0.45 <= seen[1] - seen[0] < 3 and took < 5


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 30) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 + 30) == 0.0
    for bad in (None, "", "soon", "-5", "1.5e3", "Wed, 99 Foo 2015"):
        assert parse_retry_after(bad) is None


@pytest.mark.parametrize("rate", [1e-300, 1e-9, 0.0001, 1e7, 1e300, float("nan"), float("inf"), -1, 0])
def test_absurd_rates_are_a_field_error_and_nothing_is_sent(tmp_path, rate):
    rx = Receiver().start()
    try:
        with Simulator(tmp_path / "s.db") as sim:
            wh = sim.create_webhook("r", rx.url, [APP])
            with pytest.raises(ValidationError) as info:
                sim.send_many(wh, APP, 5, rate=rate, progress=False)
            assert info.value.field == "rate"
            assert "must be a number of sends per second from 0.001 to 1e+06" in str(info.value)
            assert sim.history_count() == 0
        assert rx.count == 0
    finally:
        rx.stop()


def test_respect_retry_after_must_be_a_bool(tmp_path):
    with Simulator(tmp_path / "s.db") as sim:
        wh = sim.create_webhook("r", "http://127.0.0.1:9/hook", [APP])
        with pytest.raises(ValidationError) as info:
            sim.send_many(wh, APP, 2, respect_retry_after="yes", progress=False)
        assert info.value.field == "respect_retry_after" and sim.history_count() == 0


def test_cli_rate_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    run, seen = _throttle_first("1")
    with RawServer(run) as srv:
        assert main(["webhooks", "add", "--name", "b", "--url", srv.url, "--event", APP, "--id", "rw"]) == 0
        capsys.readouterr()
        code = main(["burst", "rw", APP, "-n", "3", "-c", "1", "--rate", "50", "--respect-retry-after", "--json"])
        summary = json.loads(capsys.readouterr().out)
    assert code == 1  # one 429: not every send was delivered
    assert summary["throttled_429"] == 1 and summary["retry_after_pauses"] == 1
    assert summary["latency_from"] == "intended send time" and summary["engine"] == "curl"
    assert seen[1] - seen[0] >= 0.9
    assert main(["burst", "rw", APP, "-n", "3", "--rate", "1e-300"]) == 2
    err = capsys.readouterr().err
    assert "rate" in err and "from 0.001 to 1e+06" in err and len(err.strip().splitlines()) <= 2


def test_cli_engine_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    rx = Receiver().start()
    try:
        assert main(["webhooks", "add", "--name", "e", "--url", rx.url, "--event", APP, "--id", "ew"]) == 0
        capsys.readouterr()
        assert main(["burst", "ew", APP, "-n", "3", "--engine", "httpx", "--no-progress"]) == 0
        out, err = capsys.readouterr()
        assert "engine             httpx" in out
        assert "simlib: engine='httpx' was asked for" in err
        assert main(["burst", "ew", APP, "-n", "2", "--engine", "curl", "--no-progress"]) == 0
        out, err = capsys.readouterr()
        assert "engine             curl" in out and "simlib: " not in err
        with pytest.raises(SystemExit) as info:
            main(["burst", "ew", APP, "-n", "3", "--engine", "wget"])
        assert info.value.code == 2 and "invalid choice: 'wget'" in capsys.readouterr().err
        assert rx.count == 5
    finally:
        rx.stop()
