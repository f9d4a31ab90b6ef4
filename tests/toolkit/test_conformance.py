"""Receiver conformance: the embedded receiver's sloppy switches, the negative-test matrix and the
tolerance probe, all against real receivers on 127.0.0.1 (the embedded one, configured correctly
or as one of the buggy receivers it can play, or a port where nothing listens)."""

from __future__ import annotations

import io
import json
import re
import time

import httpx
import pytest

from simlib import DeliveryConfig, Simulator, sign
from simlib.cli import main
from simlib.core.signing import now_ms
from simlib.errors import NotFoundError, ValidationError
from simlib.receiver import Receiver
from simlib.toolkit.conformance import CHECK_COLUMNS, VARIANTS, check_receiver
from tests.helpers import ACT, ALL_EVENTS, APP, free_port
from tests.servers import RawServer, answer, never_answer, redirect

SECRET = "conformance-secret-0123456789"
BODY = b'{"event":"desktop.activity_tracking.captured","simulation":true}'
NAMES = [v.name for v in VARIANTS]
REJECTS = [v.name for v in VARIANTS if v.expect == "reject"]


def post(rx: Receiver, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    return httpx.post(rx.url, content=body, headers=headers, timeout=5)


def webhook(sim: Simulator, rx_or_url, events=(ACT, APP)):
    # APP too: the same-JSON variants need a text field (non-ASCII, "/"), which the activity event lacks
    url = rx_or_url if isinstance(rx_or_url, str) else rx_or_url.url
    return sim.create_webhook("Under test", url, list(events), secret=SECRET)


def verdicts(frame) -> dict[str, str]:
    return dict(zip(frame["variant"], frame["verdict"]))


def explanation(frame, variant: str) -> str:
    return frame.set_index("variant").loc[variant, "explanation"]


# -- the embedded receiver's switches ----------------------------------------------------------------


def test_seconds_switch_reads_the_timestamp_header_as_seconds():
    with Receiver(SECRET, timestamp_unit="s") as rx:
        in_seconds = post(rx, sign(SECRET, BODY, now_ms(), timestamp_unit="s"))
        in_ms = post(rx, sign(SECRET, BODY, now_ms()))
        reasons = [r.verification.reason for r in rx.requests]
    assert (in_seconds.status_code, in_ms.status_code) == (200, 401)
    assert "in the future (read as s)" in reasons[1]


def test_one_sided_switch_refuses_only_old_timestamps():
    with Receiver(SECRET, reject_future=False) as rx:
        future = post(rx, sign(SECRET, BODY, now_ms() + 3_600_000))
        old = post(rx, sign(SECRET, BODY, now_ms() - 3_600_000))
        tampered = post(rx, sign(SECRET, BODY, now_ms() + 3_600_000), BODY + b" ")
    assert (future.status_code, old.status_code, tampered.status_code) == (200, 401, 401)
    with Receiver(SECRET) as rx:  # the default window is symmetric
        assert post(rx, sign(SECRET, BODY, now_ms() + 3_600_000)).status_code == 401


def test_replay_protection_refuses_an_exact_repeat_with_409():
    headers = sign(SECRET, BODY, now_ms())
    with Receiver(SECRET, replay_protection=True) as rx:
        first, again = post(rx, headers), post(rx, headers)
        fresh = post(rx, sign(SECRET, BODY, now_ms() + 1))  # same body, new timestamp: not a replay
        upper = post(rx, {**headers, "x-webhook-signature": headers["x-webhook-signature"].upper()})
        v = rx.requests[1].verification
    assert (first.status_code, again.status_code, fresh.status_code, upper.status_code) == (200, 409, 200, 409)
    assert (v.ok, v.code) == (False, "replayed") and "already accepted" in again.json()["reason"]
    with Receiver(SECRET) as rx:  # off by default
        assert [post(rx, headers).status_code for _ in range(2)] == [200, 200]


def test_replay_protection_forgets_requests_that_fell_out_of_the_window():
    clock = [now_ms()]
    headers = sign(SECRET, BODY, clock[0])
    with Receiver(SECRET, replay_protection=True, tolerance_ms=1000, clock=lambda: clock[0]) as rx:
        assert post(rx, headers).status_code == 200
        clock[0] += 5000  # the same request is now stale anyway: refused by the window...
        assert post(rx, headers).status_code == 401
        assert post(rx, sign(SECRET, BODY, clock[0])).status_code == 200
        assert len(rx._seen) == 1  # ...and forgotten: the memory holds only what is still in the window


def test_replay_protection_without_verification_still_refuses_repeats():
    headers = sign(SECRET, BODY, now_ms())
    with Receiver(verify_signatures=False, replay_protection=True) as rx:
        assert [post(rx, headers).status_code for _ in range(2)] == [200, 409]


# -- the matrix ------------------------------------------------------------------------------------


def test_a_correct_receiver_passes_every_variant_and_every_attempt_is_recorded(sim):
    with Receiver(SECRET, replay_protection=True) as rx:
        wh = webhook(sim, rx)
        frame = sim.check_receiver(wh, seed=7)
        received = rx.requests
    assert list(frame.columns) == CHECK_COLUMNS
    assert list(frame["variant"]) == NAMES
    # one organisation per URL here: accepting an unknown organisation is only a note
    assert set(frame["verdict"]) == {"PASS"} | {"NOTE"}, frame[["variant", "observed_status", "explanation"]]
    assert [n for n, v in verdicts(frame).items() if v != "PASS"] == ["unknown-organisation"]
    assert str(frame["observed_status"].dtype) == "Int64"
    statuses = dict(zip(frame["variant"], frame["observed_status"]))
    assert statuses["valid"] == 200 and statuses["replayed"] == 409
    assert all(statuses[name] == 401 for name in REJECTS)
    assert explanation(frame, "body-one-byte-changed") == "rejected (401) as it must be"

    # every variant reached the receiver with a "simulation": true body and is in the history
    assert len(received) == len(VARIANTS)
    assert all(json.loads(r.body)["simulation"] is True for r in received)
    history = sim.history()
    assert list(history["id"]) == list(frame["history_id"])
    assert list(history["http_status"]) == list(frame["observed_status"])
    assert all(d.startswith(f"check {name}: ") for d, name in zip(history["detail"], NAMES))
    replay_row = history.iloc[-1]
    assert replay_row["replay_of"] == frame["history_id"].iloc[0]
    assert replay_row["signature"] == history.iloc[0]["signature"]  # byte for byte the valid request
    assert replay_row["payload"] == history.iloc[0]["payload"]


def test_what_each_variant_actually_sends(sim):
    with Receiver(verify_signatures=False) as rx:
        sim.check_receiver(webhook(sim, rx), seed=3)
        reqs = dict(zip(NAMES, rx.requests))
    valid = reqs["valid"]
    ts = int(valid.header("x-webhook-timestamp"))
    assert valid.header("x-webhook-signature") == sign(SECRET, valid.body, ts)["x-webhook-signature"]

    def signed_by_secret(req) -> bool:
        t = req.header("x-webhook-timestamp")
        return req.header("x-webhook-signature") == sign(SECRET, req.body, t)["x-webhook-signature"]

    assert not signed_by_secret(reqs["wrong-secret"])
    assert not signed_by_secret(reqs["signature-of-other-body"])
    changed = reqs["body-one-byte-changed"]
    assert not signed_by_secret(changed)
    digit = re.search(rb'"timestamp":\d+', changed.body).end() - 1  # the byte that was bumped after signing
    restored = changed.body[:digit] + bytes([48 + (changed.body[digit] - 48 - 1) % 10]) + changed.body[digit + 1 :]
    t = changed.header("x-webhook-timestamp")
    assert changed.header("x-webhook-signature") == sign(SECRET, restored, t)["x-webhook-signature"]
    spaced = reqs["body-reserialised"].body
    assert b'", "' in spaced and json.loads(spaced)["simulation"] is True
    assert reqs["signature-uppercase"].header("x-webhook-signature").isupper()
    names = [k for k, _ in reqs["header-names-title-case"].headers]
    assert "X-Webhook-Signature" in names and "X-Webhook-Timestamp" in names
    assert reqs["missing-signature"].header("x-webhook-signature") is None
    assert reqs["missing-timestamp"].header("x-webhook-timestamp") is None
    assert len(reqs["timestamp-in-seconds"].header("x-webhook-timestamp")) == 10 and signed_by_secret(reqs["timestamp-in-seconds"])
    old = int(reqs["timestamp-too-old"].header("x-webhook-timestamp"))
    ahead = int(reqs["timestamp-in-future"].header("x-webhook-timestamp"))
    assert ts - old > 590_000 and ahead - ts > 590_000
    assert reqs["replayed"].body == valid.body
    for name in ("x-webhook-signature", "x-webhook-timestamp"):
        assert reqs["replayed"].header(name) == valid.header(name)


def test_a_receiver_that_verifies_nothing_fails_every_negative_variant(sim):
    with Receiver(verify_signatures=False) as rx:
        frame = sim.check_receiver(webhook(sim, rx), seed=1)
    v = verdicts(frame)
    assert {name for name, verdict in v.items() if verdict == "FAIL"} == set(REJECTS)
    assert v["valid"] == v["signature-uppercase"] == v["header-names-title-case"] == "PASS"
    assert v["replayed"] == "NOTE"
    assert explanation(frame, "body-one-byte-changed") == (
        "your endpoint accepted a body that was modified after signing — it does not verify signatures"
    )
    assert "does not check the timestamp at all" in explanation(frame, "timestamp-in-seconds")
    assert "de-duplicates" in explanation(frame, "replayed")


def test_a_seconds_receiver_is_named_as_such(sim):
    with Receiver(SECRET, timestamp_unit="s") as rx:
        frame = sim.check_receiver(webhook(sim, rx), seed=2)
    v = verdicts(frame)
    assert v["valid"] == "FAIL" and v["timestamp-in-seconds"] == "FAIL"
    assert "reads x-webhook-timestamp as seconds" in explanation(frame, "valid")
    assert "reads x-webhook-timestamp as seconds" in explanation(frame, "timestamp-in-seconds")
    # a receiver that refuses the valid request proves nothing by refusing the broken ones
    assert v["wrong-secret"] == "NOTE" and "proves nothing" in explanation(frame, "wrong-secret")


def test_a_one_sided_window_fails_only_the_future_variant(sim):
    with Receiver(SECRET, reject_future=False, replay_protection=True) as rx:
        frame = sim.check_receiver(webhook(sim, rx), seed=4)
    assert [n for n, verdict in verdicts(frame).items() if verdict != "PASS"] == ["timestamp-in-future",
                                                                                 "unknown-organisation"]
    assert "one-sided" in explanation(frame, "timestamp-in-future")


def test_case_sensitive_receivers_get_a_note_for_hex_and_a_fail_for_header_names(sim):
    def picky(req):  # a receiver emulated with a status function: verifies, then is picky about case
        if not req.verified:
            return 401
        raw_names = [k for k, _ in req.headers]
        sig = req.header("x-webhook-signature")
        return 401 if sig != sig.lower() or "x-webhook-signature" not in raw_names else 200

    with Receiver(SECRET, reject_invalid=False, status=picky) as rx:
        frame = sim.check_receiver(webhook(sim, rx), seed=5)
    v = verdicts(frame)
    assert v["signature-uppercase"] == "NOTE" and "case-insensitively" in explanation(frame, "signature-uppercase")
    assert v["header-names-title-case"] == "FAIL" and "case-sensitively" in explanation(frame, "header-names-title-case")


def test_rejecting_with_a_server_error_is_a_note(sim):
    with Receiver(SECRET, reject_invalid=False, status=lambda req: 200 if req.verified else 500) as rx:
        frame = sim.check_receiver(webhook(sim, rx), seed=6)
    v = verdicts(frame)
    assert all(v[name] == "NOTE" for name in REJECTS)
    assert "answer 4xx" in explanation(frame, "wrong-secret")


def test_an_unreachable_endpoint_fails_the_valid_variant_and_nothing_raises(sim):
    wh = webhook(sim, f"http://127.0.0.1:{free_port()}/hook")
    frame = sim.check_receiver(wh, seed=8)
    assert verdicts(frame)["valid"] == "FAIL"
    assert explanation(frame, "valid").startswith("no HTTP answer (Network error)")
    assert frame["observed_status"].isna().all()
    assert len(sim.history()) == 1  # refused: the other variants are not sent (see below)


def test_no_answer_to_the_valid_request_stops_the_check(store_path):
    # An endpoint that takes the request and never answers: one deadline, not one per variant.
    cfg = DeliveryConfig(connect_timeout=1.0, read_timeout=1.0, deadline=1.0)
    with Simulator(store_path, delivery=cfg) as sim, RawServer(never_answer()) as hanging:
        wh = webhook(sim, hanging.url)
        started = time.monotonic()
        frame = sim.check_receiver(wh, seed=8)
        elapsed = time.monotonic() - started
        received = len(hanging.requests)
        history = sim.history_count()
    assert received == 1 and history == 1  # only the valid request went out, and it is recorded
    assert elapsed < 1 + 5  # one 1 s deadline (19 of them before; generous on a loaded machine)
    assert list(frame["variant"]) == NAMES  # every row is there: the unsent ones marked as not run
    why = f"no answer to the correctly signed request: the other {len(VARIANTS) - 1} variants were not sent"
    assert frame.attrs["not_run"] == why and frame.attrs["requests"] == 1 and frame.attrs["total"] == len(VARIANTS)
    assert frame.attrs["cancelled"] is False and frame.attrs["stopped_early"] is None
    assert verdicts(frame)["valid"] == "FAIL"
    assert explanation(frame, "valid").startswith("no HTTP answer (Network error)")
    assert explanation(frame, "valid").endswith(f" — {why}")
    rest = frame[frame["variant"] != "valid"]
    assert set(rest["verdict"]) == {"NOTE"}
    assert set(rest["explanation"]) == {"not run: the correctly signed request got no answer"}
    assert rest["observed_status"].isna().all() and rest["history_id"].isna().all()


def test_cli_check_stops_at_a_silent_endpoint_and_exits_as_a_failing_check(store_path):
    with Simulator(store_path) as sim, RawServer(never_answer()) as hanging:
        wid = webhook(sim, hanging.url).id
        out = io.StringIO()
        code = main(["--store", str(store_path), "check", wid, "--deadline", "1"], stdout=out)
        received = len(hanging.requests)
    assert code == 1 and received == 1
    text = out.getvalue()
    assert f"no answer to the correctly signed request: the other {len(VARIANTS) - 1} variants were not sent" in text
    assert f"0 PASS, 1 FAIL, {len(VARIANTS) - 1} NOTE" in text


def test_an_event_the_webhook_does_not_subscribe_to_is_refused_before_anything_is_sent(store_path):
    """Not 19 "Event type not registered" rows and a report blaming the receiver: check and
    probe refuse it (exit 2), and a burst records it once, not once per send (exit 2)."""
    with Simulator(store_path) as sim, Receiver(SECRET) as rx:
        wh = sim.create_webhook("apps", rx.url, [APP], secret=SECRET)
        said = f"event: webhook {wh.id} is not subscribed to {ACT} (it is to {APP}): nothing was sent"
        for call in (lambda: sim.check_receiver(wh, event_type=ACT), lambda: sim.probe_tolerance(wh, event_type=ACT)):
            with pytest.raises(ValidationError) as caught:
                call()
            assert str(caught.value) == said
        for argv in (["check", wh.id, "--event", ACT], ["probe", wh.id, "--event", ACT],
                     ["burst", wh.id, ACT, "-n", "1000"]):
            err = io.StringIO()
            code = main(["--store", str(store_path), *argv], stdout=io.StringIO(), stderr=err)
            assert code == 2, (argv, err.getvalue())
        assert rx.count == 0 and len(sim.history()) == 1  # the burst's one attempt, refused by simlib itself
        assert sim.history()["error"].tolist() == ["Event type not registered"]


REFUSE_ALL = {  # receivers that refuse every request, the correctly signed one included
    "401 (reads seconds)": lambda: Receiver(SECRET, timestamp_unit="s"),
    "400 (flat payload)": lambda: Receiver(SECRET, flat_payload=True),
    "500": lambda: RawServer(answer(500, b'{"error":"boom"}')),
    "302": lambda: RawServer(redirect("https://elsewhere.example/hook", 302)),
}


@pytest.mark.parametrize("receiver", list(REFUSE_ALL))
def test_a_receiver_refusing_the_valid_request_proves_nothing_about_case_handling(sim, receiver):
    with REFUSE_ALL[receiver]() as rx:
        frame = sim.check_receiver(webhook(sim, rx.url), seed=10)
    v = verdicts(frame)
    assert v["valid"] == "FAIL"
    for name in ("signature-uppercase", "header-names-title-case"):
        assert v[name] == "NOTE", (name, explanation(frame, name))
        assert explanation(frame, name).endswith("but so was the valid request — this proves nothing")
    # (the seconds receiver does accept a timestamp in seconds: that FAIL is right)
    assert {n for n, verdict in v.items() if verdict == "FAIL"} - {"timestamp-in-seconds"} == {"valid"}


VALID_REFUSED = {  # status -> (words the valid row must say, words it must not)
    302: (["redirect (status 302) to https://elsewhere.example/hook", "not followed", "URL"], ["secret", "signature"]),
    307: (["redirect", "not followed"], ["secret"]),
    500: (["server error", "not a signature verdict"], ["secret", "rejected a correctly signed"]),
    503: (["server error", "not a signature verdict"], ["secret"]),
    401: (["rejected a correctly signed request (status 401)", "check its secret"], []),
    403: (["rejected a correctly signed request (status 403)", "check its secret"], []),
    404: (["(status 404)", "not found", "URL", "not a signature verdict", "its answer: nothing here"], ["secret"]),
    422: (["(status 422)", "not a signature verdict", 'its answer: {"error":"no thanks"}'], ["secret"]),
}


@pytest.mark.parametrize("status", list(VALID_REFUSED))
def test_the_valid_row_explains_a_refusal_by_its_status_class(sim, status):
    says, never = VALID_REFUSED[status]
    headers = {"Location": "https://elsewhere.example/hook"} if 300 <= status < 400 else {}
    body = {404: b"nothing here", 422: b'{"error":"no thanks"}'}.get(status, b"")
    with RawServer(answer(status, body, headers)) as server:
        frame = sim.check_receiver(webhook(sim, server.url), seed=11)
    assert verdicts(frame)["valid"] == "FAIL"
    why = explanation(frame, "valid")
    assert all(word in why for word in says), why
    assert not any(word in why for word in never), why


def test_the_event_type_defaults_to_activity_and_can_be_chosen(sim):
    with Receiver(SECRET, replay_protection=True) as rx:
        wh = webhook(sim, rx, events=ALL_EVENTS)
        sim.check_receiver(wh, seed=9)
        sim.check_receiver(wh, seed=9, event_type=APP)
    events = list(sim.history()["event_type"])
    first, second = events[: len(VARIANTS)], events[len(VARIANTS) :]
    # the same-JSON variants need a text field: they send the app event when it is subscribed
    assert {e for e, n in zip(first, NAMES) if not n.startswith("same-json-")} == {ACT}
    assert {e for e, n in zip(first, NAMES) if n.startswith("same-json-")} == {APP} and set(second) == {APP}


def test_unknown_webhook_and_bad_tolerance_are_errors(sim):
    with pytest.raises(NotFoundError):
        check_receiver(sim, "wh_nope")
    with Receiver(SECRET) as rx:
        wh = webhook(sim, rx)
        with pytest.raises(ValidationError):
            sim.check_receiver(wh, tolerance_ms=0)
    assert len(sim.history()) == 0


def test_cli_check_exit_codes_and_json(sim, store_path):
    with Receiver(SECRET, replay_protection=True) as good, Receiver(verify_signatures=False) as sloppy:
        g = sim.create_webhook("Good", good.url, [ACT, APP], secret=SECRET, id="good")
        s = sim.create_webhook("Sloppy", sloppy.url, [ACT], secret=SECRET, id="sloppy")
        out = io.StringIO()
        assert main(["--store", str(store_path), "check", g.id, "--seed", "1"], stdout=out) == 0
        assert "18 PASS, 0 FAIL, 1 NOTE" in out.getvalue()
        out = io.StringIO()
        assert main(["--store", str(store_path), "check", s.id, "--json"], stdout=out) == 1
        doc = json.loads(out.getvalue())
    assert doc["failed"] == len(REJECTS)
    assert [r["variant"] for r in doc["variants"]] == NAMES
    assert doc["variants"][0] == {
        "variant": "valid",
        "sent": VARIANTS[0].sent,
        "expected": "2xx",
        "observed_status": 200,
        "verdict": "PASS",
        "explanation": "accepted (200) as it must be",
        "history_id": doc["variants"][0]["history_id"],
    }
    err = io.StringIO()
    assert main(["--store", str(store_path), "check", "wh_nope"], stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue() == "simlib: error: webhook not found: 'wh_nope'\n"


# -- the tolerance probe -----------------------------------------------------------------------------


def test_probe_finds_both_edges_of_a_symmetric_window(sim):
    with Receiver(SECRET, replay_protection=True) as rx:
        res = sim.probe_tolerance(webhook(sim, rx), seed=1)
    assert (res.past_ms, res.future_ms) == (300_000, 300_000)
    assert res.past == (299_500, 300_500) and res.future == (299_500, 300_500)
    assert res.flags == [] and res.accepts_fresh and not res.accepts_seconds
    assert res.requests <= 64
    assert len(sim.history()) == res.requests == len(res.history_ids)
    assert all(d.startswith("probe ") for d in sim.history()["detail"])
    frame = res.frame
    assert list(frame["direction"]) == ["past", "future"] and list(frame["edge_ms"]) == [300_000, 300_000]
    assert "edge ≈ 300000 ms: accepted 299.5 s old, refused 300.5 s old" in res.summary()


@pytest.mark.parametrize("tolerance_ms", [60_000, 10 * 60_000, 3_600_000])
def test_probe_measures_other_tolerances(sim, tolerance_ms):
    with Receiver(SECRET, tolerance_ms=tolerance_ms) as rx:
        res = sim.probe_tolerance(webhook(sim, rx), seed=2)
    assert res.past_ms == res.future_ms == tolerance_ms


def test_probe_flags_a_one_sided_window(sim):
    with Receiver(SECRET, reject_future=False) as rx:
        res = sim.probe_tolerance(webhook(sim, rx), seed=3)
    assert res.past_ms == 300_000 and res.future_ms is None
    assert res.future == (7 * 86_400_000 - 500, None)
    assert any(f.startswith("one-sided window: only too-old timestamps are refused") for f in res.flags)


def test_probe_flags_seconds_mixups(sim):
    with Receiver(SECRET, timestamp_unit="s") as rx:
        refuses_ms = sim.probe_tolerance(webhook(sim, rx), seed=4)
    assert not refuses_ms.accepts_fresh and refuses_ms.accepts_seconds and refuses_ms.requests == 2
    assert refuses_ms.past_ms is None and "refused a fresh" in refuses_ms.flags[0]
    assert any("reads the header as seconds" in f for f in refuses_ms.flags)

    with Receiver(SECRET, tolerance_ms=300) as rx:  # "300" meant seconds, compared with milliseconds
        tiny = sim.probe_tolerance(webhook(sim, rx), seed=5)
    assert tiny.past == (0, 500) and any("under a second" in f for f in tiny.flags)

    with Receiver(SECRET, tolerance_ms=300_000 * 1000) as rx:  # 300000 meant ms, compared as seconds
        huge = sim.probe_tolerance(webhook(sim, rx), seed=6)
    assert huge.past_ms == 300_000_000 and any("3.5 days" in f for f in huge.flags)


def test_probe_reports_no_window_and_a_skewed_clock(sim):
    with Receiver(verify_signatures=False) as rx:
        res = sim.probe_tolerance(webhook(sim, rx), seed=7)
    assert res.past_ms is res.future_ms is None and res.requests == 4
    assert any(f.startswith("no timestamp window at all") for f in res.flags)

    with Receiver(SECRET, clock=lambda: now_ms() - 60_000) as rx:  # the receiver's clock is a minute slow
        skewed = sim.probe_tolerance(webhook(sim, rx), seed=8)
    assert (skewed.past_ms, skewed.future_ms) == (360_000, 240_000)
    assert any("clock is about 60000 ms behind" in f for f in skewed.flags)


def test_probe_stays_within_its_request_budget(sim):
    with Receiver(SECRET) as rx:
        res = sim.probe_tolerance(webhook(sim, rx), max_requests=10, seed=9)
    assert res.requests <= 10
    assert any(f.startswith("stopped after 10 requests") for f in res.flags)
    assert res.past[0] < 300_000 < res.past[1]  # the edge is inside the interval it reports
    with pytest.raises(ValidationError):
        sim.probe_tolerance("x", max_requests=2)


def test_cli_probe(sim, store_path):
    with Receiver(SECRET, reject_future=False) as rx:
        wh = webhook(sim, rx)
        out = io.StringIO()
        assert main(["--store", str(store_path), "probe", wh.id, "--max-seconds", "3600", "--json"], stdout=out) == 0
        doc = json.loads(out.getvalue())
        text = io.StringIO()
        assert main(["--store", str(store_path), "probe", wh.id, "--max-seconds", "3600"], stdout=text) == 0
    assert doc["past_ms"] == 300_000 and doc["future_ms"] is None
    assert doc["future"] == {"accepted_up_to_ms": 3_599_500, "refused_from_ms": None}
    assert "one-sided window" in text.getvalue() and "no limit found: accepted 3599.5 s ahead" in text.getvalue()
    with Receiver(SECRET, timestamp_unit="s") as rx:
        wh = webhook(sim, rx)
        assert main(["--store", str(store_path), "probe", wh.id], stdout=io.StringIO()) == 1
