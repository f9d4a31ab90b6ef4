"""The hooks the explorer's Receiver check panel uses: ``progress(done, total)`` after every
request and a ``cancel`` event that stops the matrix and the probe between requests, returning
what was measured so far, marked cancelled. Against real receivers on 127.0.0.1."""

from __future__ import annotations

import threading
import time

from simlib import Simulator
from simlib.receiver import ReceivedRequest, Receiver
from simlib.toolkit.conformance import VARIANTS
from tests.helpers import ACT, APP

SECRET = "conformance-hooks-secret-0123456789"


def test_progress_counts_every_request_of_the_matrix(sim: Simulator) -> None:
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Under test", rx.url, [ACT, APP], secret=SECRET)  # APP: every variant can be made
        calls: list[tuple[int, int]] = []
        frame = sim.check_receiver(wh.id, progress=lambda done, total: calls.append((done, total)))
    n = len(VARIANTS)
    assert calls == [(i, n) for i in range(1, n + 1)]
    assert {k: frame.attrs[k] for k in ("cancelled", "requests", "total")} == {"cancelled": False, "requests": n, "total": n}
    assert len(frame) == n and set(frame["verdict"]) <= {"PASS", "NOTE"}


def test_a_cancelled_matrix_stops_between_requests_and_returns_the_rows_it_has(sim: Simulator) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 4:
            cancel.set()

    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Under test", rx.url, [ACT], secret=SECRET)
        frame = sim.check_receiver(wh.id, progress=progress, cancel=cancel)
        received = rx.count
    assert frame.attrs["cancelled"] is True and frame.attrs["requests"] == 4
    assert list(frame["variant"]) == [v.name for v in VARIANTS[:4]]
    assert received == 4 and sim.history_count() == 4  # nothing sent after the cancel, all of it recorded
    assert list(frame["verdict"]) == ["PASS"] * 4  # the rows sent are judged as usual


def test_a_matrix_cancelled_before_it_starts_sends_nothing(sim: Simulator) -> None:
    cancel = threading.Event()
    cancel.set()
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Under test", rx.url, [ACT], secret=SECRET)
        frame = sim.check_receiver(wh.id, cancel=cancel)
        assert rx.count == 0
    assert frame.empty and frame.attrs["cancelled"] is True and list(frame.columns)[0] == "variant"


def test_a_cancel_from_another_thread_ends_a_slow_check_within_a_request(sim: Simulator) -> None:
    # Cancelled from the receiver's thread while the 2nd request waits out its 200 ms: that one
    # is answered and kept, nothing more is sent. (On the request, not on a clock: a stalled
    # machine may not have sent anything by a fixed time.)
    cancel, at, count_at_cancel = threading.Event(), [], []

    def on_request(record: ReceivedRequest) -> None:
        if record.index == 1:  # the 2nd (0-based)
            count_at_cancel.append(rx.count)
            at.append(time.monotonic())
            cancel.set()

    with Receiver(SECRET, delay_ms=200, on_request=on_request) as rx:
        wh = sim.create_webhook("Slow", rx.url, [ACT], secret=SECRET)
        frame = sim.check_receiver(wh.id, cancel=cancel)
        ended = time.monotonic()
        received = rx.count
    assert at, "the check ended before its 2nd request"
    assert count_at_cancel == [2] and received == 2  # the request in flight, nothing after it
    assert frame.attrs["cancelled"] is True and len(frame) == 2 < len(VARIANTS)
    assert ended - at[0] < 0.2 + 2  # the 200 ms in flight, then it stops (generous on a loaded machine)


def test_the_probe_reports_progress_with_an_upper_bound_and_finishes_the_count(sim: Simulator) -> None:
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Under test", rx.url, [ACT, APP], secret=SECRET)  # APP: every variant can be made
        calls: list[tuple[int, int]] = []
        probe = sim.probe_tolerance(wh.id, progress=lambda done, total: calls.append((done, total)))
    assert [d for d, _ in calls[:-1]] == list(range(1, probe.requests + 1))
    assert all(done <= total for done, total in calls)
    assert calls[-1] == (probe.requests, probe.requests)
    assert not probe.cancelled and probe.past_ms is not None and probe.future_ms is not None


def test_a_cancelled_probe_keeps_what_it_measured_and_says_so(sim: Simulator) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 6:
            cancel.set()

    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Under test", rx.url, [ACT], secret=SECRET)
        probe = sim.probe_tolerance(wh.id, progress=progress, cancel=cancel)
        assert rx.count == 6
    assert probe.cancelled and probe.requests == 6 and probe.accepts_fresh
    assert probe.past[0] is not None and probe.future == (None, None)  # past under way, future not reached
    summary = probe.summary()
    assert "future  not measured (cancelled)" in summary
    assert any(f.startswith("cancelled after 6 requests") for f in probe.flags)
    assert not any("no timestamp window" in f or "one-sided" in f for f in probe.flags)  # no verdict on half data
