"""Outcomes of a send against real servers on 127.0.0.1 (DESIGN.md outcomes contract).

Every test sends real HTTP to a throwaway server from tests/servers.py or to simlib's own
Receiver, and checks both the returned SimulationResult and the row recorded in history().
"""

from __future__ import annotations

import json
import re
import sqlite3
import time

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simlib import DeliveryConfig, Simulator, verify
from simlib.receiver import Receiver
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT, free_port
from tests.servers import RawServer, answer, big_body, drip, never_answer, redirect, reset

SECRET = "delivery-test-secret-0123456789"
FAST = DeliveryConfig(connect_timeout=1.0, read_timeout=5.0, deadline=1.0)


@pytest.fixture
def fast_sim(store_path):
    s = Simulator(store_path, delivery=FAST)
    yield s
    s.close()


def hook(sim: Simulator, url: str, events=ALL_EVENTS):
    return sim.create_webhook("Delivery test", url, events, secret=SECRET)


def assert_history_dtypes(frame: pd.DataFrame) -> None:
    assert isinstance(frame["sent_at"].dtype, pd.DatetimeTZDtype)
    assert str(frame["sent_at"].dt.tz) == "UTC"
    assert str(frame["http_status"].dtype) == "Int64"
    assert str(frame["error_status"].dtype) == "Int64"
    assert frame["latency_ms"].dtype == "float64"


def recorded_row(sim: Simulator, result) -> pd.Series:
    """The history row of ``result``: it exists, exactly once, and agrees with the result."""
    frame = sim.history()
    assert_history_dtypes(frame)
    rows = frame[frame["simulation_id"] == result.simulation_id]
    assert len(rows) == 1, "the attempt is not in history exactly once"
    row = rows.iloc[0]
    assert result.recorded is True
    assert row["id"] == result.history_id
    assert row["result"] == result.result
    assert row["event_type"] == result.event_type
    if result.http_status is None:
        assert row["http_status"] is pd.NA
    else:
        assert row["http_status"] == result.http_status
    if result.latency_ms is None:
        assert pd.isna(row["latency_ms"])
    else:
        assert row["latency_ms"] == pytest.approx(result.latency_ms)
    if result.error is None:
        assert pd.isna(row["error"])
    else:
        assert row["error"] == result.error
    if result.error_status is None:
        assert row["error_status"] is pd.NA
    else:
        assert row["error_status"] == result.error_status
    assert row["payload"] == result.payload
    return row


# -- bytes discipline --------------------------------------------------------------------------


def test_sent_bytes_equal_preview_equal_history_and_signature_verifies(sim):
    name = "Zoë 東京 🚀"
    with RawServer(answer(200)) as server:
        wh = hook(sim, server.url)
        p = sim.preview(wh, APP, overrides={"data.0.tracking.app.name": name, "data.0.tracking.app.category": "naïve \"quoted\" \\ text"}, seed=7)
        before = time.time() * 1000
        r = sim.send(p)
        after = time.time() * 1000
    assert r.result == "Delivered", r.detail
    assert len(server.requests) == 1
    got = server.requests[0]
    # The body as received on the wire, byte for byte.
    assert got.body == p.body
    assert name.encode("utf-8") in got.body  # sent as UTF-8, not \u-escaped
    assert got.body.decode("utf-8") == r.payload
    assert sim.history_row(r.history_id)["request_body"] == got.body
    assert recorded_row(sim, r)["payload"].encode("utf-8") == got.body
    assert json.loads(got.body)["data"][0]["tracking"]["app"]["name"] == name
    # Headers on the wire.
    ts = got.header("x-webhook-timestamp")
    assert ts is not None and re.fullmatch(r"\d{13}", ts)
    assert before - 1000 <= int(ts) <= after + 1000
    assert got.header("content-type") == "application/json"
    assert got.header("user-agent").startswith("simlib/")
    assert got.request_line.startswith("POST /hook ")
    # The signature verifies over exactly those bytes, and matches what the result reports.
    v = verify(got.header_pairs, got.body, SECRET, now_ms=int(ts))
    assert v.ok, v.reason
    assert got.header("x-webhook-signature") == r.signature
    assert ts == r.timestamp


def test_send_delivers_the_previewed_payload_not_a_regenerated_one(sim):
    with RawServer(answer(200)) as server:
        wh = hook(sim, server.url)
        p = sim.preview(wh, SHOT)
        time.sleep(0.01)
        sim.send(p)
        sim.send(p)
    assert [req.body for req in server.requests] == [p.body, p.body]


# -- outcomes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(sim, status):
    with RawServer(answer(status, b"" if status == 204 else b'{"ok":true}')) as server:
        r = sim.simulate(hook(sim, server.url), ACT)
    assert r.result == "Delivered" and r.delivered
    assert r.http_status == status
    assert r.error is None and r.error_status is None
    assert r.latency_ms is not None and r.latency_ms > 0
    assert len(server.requests) == 1
    recorded_row(sim, r)


def test_delivered_to_simlibs_own_receiver_which_verifies(sim):
    with Receiver(SECRET) as rx:
        r = sim.simulate(hook(sim, rx.url), APP)
        req = rx.wait_for(1)[0]
    assert r.result == "Delivered"
    assert req.verification.ok
    assert json.loads(r.response_body)["verified"] is True


def test_500_is_failed_with_status_and_response_body(sim):
    with RawServer(answer(500, b'{"error":"database down"}')) as server:
        r = sim.simulate(hook(sim, server.url), APP)
    assert r.result == "Failed"
    assert r.http_status == 500
    assert r.error is None  # the endpoint answered: not a simulation error
    assert r.response_body == '{"error":"database down"}'
    assert "500" in r.detail
    recorded_row(sim, r)


def test_endpoint_404_is_failed_not_webhook_not_found(sim):
    with RawServer(answer(404, b"no such route")) as server:
        r = sim.simulate(hook(sim, server.url), APP)
    assert r.result == "Failed"
    assert r.http_status == 404
    assert r.error is None and r.error_status is None
    recorded_row(sim, r)


def test_307_is_failed_shows_location_and_target_is_never_contacted(sim):
    with RawServer(answer(200)) as target:
        with RawServer(redirect(target.url, 307)) as server:
            r = sim.simulate(hook(sim, server.url), APP)
        time.sleep(0.2)
        assert target.connections == 0
    assert len(server.requests) == 1
    assert r.result == "Failed"
    assert r.http_status == 307
    assert target.url in r.detail
    assert "not followed" in r.detail
    assert r.response_headers.get("location") == target.url
    recorded_row(sim, r)


def test_connection_refused_is_network_error(fast_sim):
    url = f"http://127.0.0.1:{free_port()}/hook"
    r = fast_sim.simulate(hook(fast_sim, url), APP)
    assert r.result == "Failed"
    assert r.error == "Network error"
    assert r.error_status is None
    assert r.http_status is None and r.latency_ms is None
    assert "refused" in r.detail
    recorded_row(fast_sim, r)


def test_connection_reset_is_network_error(fast_sim):
    with RawServer(reset()) as server:
        r = fast_sim.simulate(hook(fast_sim, server.url), APP)
    assert r.result == "Failed"
    assert r.error == "Network error"
    assert r.http_status is None
    assert r.detail
    recorded_row(fast_sim, r)


def test_server_that_never_answers_is_network_error_within_deadline(fast_sim):
    with RawServer(never_answer()) as server:
        wh = hook(fast_sim, server.url)
        p = fast_sim.preview(wh, APP)
        start = time.monotonic()
        r = fast_sim.send(p)
        elapsed = time.monotonic() - start
    # Without the deadline the read timeout (5 s) would end it: the bound stays below that.
    assert elapsed < FAST.read_timeout - 0.5
    assert r.result == "Failed"
    assert r.error == "Network error"
    assert "timeout" in r.detail
    assert r.http_status is None
    recorded_row(fast_sim, r)


def test_slow_drip_body_is_network_error_within_deadline(fast_sim):
    with RawServer(drip(total=1000, every=0.1)) as server:
        wh = hook(fast_sim, server.url)
        p = fast_sim.preview(wh, APP)
        start = time.monotonic()
        r = fast_sim.send(p)
        elapsed = time.monotonic() - start
    assert elapsed < FAST.deadline + 5  # without the deadline: 100 s of drip
    assert r.result == "Failed"
    assert r.error == "Network error"
    assert "deadline" in r.detail
    recorded_row(fast_sim, r)


def test_drip_just_under_the_read_timeout_still_ends_at_the_total_deadline(store_path):
    """Each byte arrives before the per-read timeout; only the total deadline can stop it."""
    config = DeliveryConfig(connect_timeout=1.0, read_timeout=5.0, deadline=2.0)
    with Simulator(store_path, delivery=config) as s, RawServer(drip(total=100, every=1.9)) as server:
        p = s.preview(hook(s, server.url), APP)
        start = time.monotonic()
        r = s.send(p)
        elapsed = time.monotonic() - start
        assert elapsed < config.deadline + 5  # without the deadline: 190 s of drip
        assert r.error == "Network error"
        assert "deadline" in r.detail
        recorded_row(s, r)


def test_10_mb_response_is_capped_and_flagged(store_path):
    config = DeliveryConfig(max_response_bytes=20_000)
    with Simulator(store_path, delivery=config) as s, RawServer(big_body(10 * 1024 * 1024)) as server:
        r = s.simulate(hook(s, server.url), APP)
        assert r.result == "Delivered"
        assert r.http_status == 200
        assert r.response_truncated is True
        assert len(r.response_body.encode("utf-8")) == 20_000
        assert set(r.response_body) == {"a"}
        row = recorded_row(s, r)
        assert bool(row["response_truncated"]) is True
        assert len(row["response_body"]) == 20_000


def test_small_response_is_not_flagged_truncated(sim):
    with RawServer(answer(200, b"x" * 100)) as server:
        r = sim.simulate(hook(sim, server.url), APP)
    assert r.response_truncated is False
    assert r.response_body == "x" * 100


def test_webhook_deleted_after_preview_is_webhook_not_found(sim):
    with RawServer(answer(200)) as server:
        wh = hook(sim, server.url)
        p = sim.preview(wh, APP)
        sim.delete_webhook(wh)
        r = sim.send(p)
        time.sleep(0.1)
        assert server.connections == 0
    assert r.result == "Failed"
    assert r.error == "Webhook not found"
    assert r.error_status == 404
    assert r.http_status is None
    assert r.request_headers == {}
    recorded_row(sim, r)


def test_event_unsubscribed_after_preview_is_event_type_not_registered(sim):
    with RawServer(answer(200)) as server:
        wh = hook(sim, server.url)
        p = sim.preview(wh, SHOT)
        sim.update_webhook(wh, events=[APP, ACT])
        r = sim.send(p)
        time.sleep(0.1)
        assert server.connections == 0
    assert r.result == "Failed"
    assert r.error == "Event type not registered"
    assert r.error_status == 400
    assert r.http_status is None
    assert SHOT in r.detail
    recorded_row(sim, r)


def test_store_locked_is_service_unavailable_without_traceback(store_path, capsys):
    s = Simulator(store_path, busy_timeout=0.2)
    with Receiver() as rx:
        wh = hook(s, rx.url)
        p = s.preview(wh, APP)
        locker = sqlite3.connect(store_path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            start = time.monotonic()
            r = s.send(p)
            elapsed = time.monotonic() - start
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert rx.count == 0  # the simulation did not run
    assert r.result == "Failed"
    assert r.error == "Service unavailable"
    assert r.error_status == 503
    assert "locked" in r.detail
    assert r.recorded is False  # it could not be: the store was locked
    assert elapsed < 5
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    # Once the lock is released the store works again.
    assert s.history()["simulation_id"].tolist() == []
    s.close()


def test_send_never_raises_even_for_a_broken_clock(store_path):
    calls = {"n": 0}

    def clock():
        calls["n"] += 1
        if calls["n"] > 2:  # create_webhook and preview read it once each; the send's read explodes
            raise RuntimeError("clock exploded")
        return 1_769_592_774_119

    with Receiver() as rx:
        s = Simulator(store_path, clock=clock)
        p = s.preview(hook(s, rx.url), APP)
        r = s.send(p)
        s.close()
    assert r.result == "Failed"
    assert r.error == "Simulation failed"
    assert "clock exploded" in r.detail


def test_every_outcome_is_in_history_with_typed_columns(fast_sim):
    s = fast_sim
    results = []
    with RawServer(answer(200)) as ok, RawServer(answer(500)) as bad, RawServer(never_answer()) as mute:
        results.append(s.simulate(hook(s, ok.url), APP))
        results.append(s.simulate(hook(s, bad.url), APP))
        results.append(s.simulate(hook(s, mute.url), APP))
        results.append(s.simulate(hook(s, f"http://127.0.0.1:{free_port()}/x"), APP))
        gone = hook(s, ok.url)
        p = s.preview(gone, APP)
        s.delete_webhook(gone)
        results.append(s.send(p))
    frame = s.history()
    assert_history_dtypes(frame)
    assert frame["simulation_id"].tolist() == [r.simulation_id for r in results]
    assert frame["result"].tolist() == ["Delivered", "Failed", "Failed", "Failed", "Failed"]
    assert frame["http_status"].tolist()[:2] == [200, 500]
    assert frame["http_status"].isna().tolist() == [False, False, True, True, True]
    assert frame["latency_ms"].isna().tolist() == [False, False, True, True, True]
    assert frame["error"].tolist()[2:] == ["Network error", "Network error", "Webhook not found"]
    assert frame["error_status"].tolist()[4] == 404
    for r in results:
        recorded_row(s, r)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), declared=st.sampled_from([None, "application/json", "text/plain; charset=utf-8",
                                                                "text/plain; charset=latin-1"]), truncated=st.booleans())
def test_decode_text_gives_what_the_incremental_decoder_gives(data, declared, truncated):
    """A whole UTF-8 body is decoded in one call (issue 12: a decoder object fewer per answer):
    the text is the incremental decoder's, bad bytes replaced the same way; a cut body keeps its
    unfinished last character out."""
    import codecs

    from simlib.core.delivery.body import decode_text

    text, note = decode_text(data, declared, truncated=truncated)
    if not data or text.startswith("<binary response:"):
        return
    charset = "latin-1" if declared and "latin-1" in declared else "utf-8"
    assert text == codecs.getincrementaldecoder(charset)(errors="replace").decode(data, final=not truncated)
    assert note == ""
