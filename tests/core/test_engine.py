"""The Simulator's preview/send flow: preview = what is sent, the webhook re-read at send time,
signing options, secret rotation, payload limits and delivery settings."""

from __future__ import annotations

import json
import re
from datetime import UTC

import pytest

import simlib
from simlib import ConflictError, DeliveryConfig, Simulator, ValidationError, verify
from simlib.receiver import Receiver
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT
from tests.servers import RawServer, answer

SECRET = "simulator-test-secret-0123456789"


@pytest.fixture
def rx():
    with Receiver(SECRET) as r:
        yield r


def test_preview_body_is_compact_utf8_json_and_pretty_is_the_same_payload(sim):
    wh = sim.create_webhook("P", "https://example.com/x", ALL_EVENTS)
    p = sim.preview(wh, APP, overrides={"data.0.tracking.app.name": "Zoë"}, seed=1)
    assert isinstance(p.body, bytes)
    assert p.body == json.dumps(json.loads(p.body), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert "Zoë".encode() in p.body and b"\\u00eb" not in p.body
    assert p.text == p.body.decode("utf-8")
    assert json.loads(p.pretty) == p.payload == json.loads(p.body)
    assert "\n  " in p.pretty and "Zoë" in p.pretty
    assert p.size == len(p.body)
    assert (p.webhook_id, p.webhook_name, p.url, p.event_type, p.seed) == (wh.id, "P", wh.url, APP, 1)
    assert re.fullmatch(r"evt_[0-9a-f]{20}", p.event_id)
    assert repr(p).startswith("Preview(") and str(len(p.body)) in repr(p)


def test_payload_is_a_fresh_copy(sim):
    p = sim.preview(sim.create_webhook("P", "https://example.com/x", [APP]), APP)
    p.payload["event"] = "changed"
    assert p.payload["event"] == APP


def test_simulate_is_preview_plus_send(sim, rx):
    wh = sim.create_webhook("S", rx.url, ALL_EVENTS, secret=SECRET)
    r = sim.simulate(wh, ACT, seed=5, options={"work_mode": False}, overrides={"data.user.userId": "u-1"})
    req = rx.wait_for(1)[0]
    assert r.result == "Delivered"
    sent = json.loads(req.body)
    assert sent["data"]["activity"] == {"workMode": False}
    assert sent["data"]["user"] == {"userId": "u-1"}
    assert r.event_type == ACT and r.webhook_id == wh.id and r.webhook_name == "S" and r.url == rx.url


def test_result_fields(sim, rx):
    wh = sim.create_webhook("S", rx.url, ALL_EVENTS, secret=SECRET)
    r = sim.simulate(wh, APP)
    assert r.delivered is True
    assert r.sent_at.tzinfo == UTC
    assert abs(r.sent_at.timestamp() * 1000 - r.sent_at_ms) < 1
    assert r.signature == r.request_headers["x-webhook-signature"]
    assert r.timestamp == r.request_headers["x-webhook-timestamp"] == str(r.sent_at_ms)
    assert r.request_headers["content-type"] == "application/json"
    assert r.request_headers["user-agent"] == f"simlib/{simlib.__version__}"
    assert r.error_detail is None and r.detail.startswith("Delivered")
    assert r.response_headers["content-type"] == "application/json"
    d = r.to_dict()
    assert d["sent_at"].endswith("Z") and d["result"] == "Delivered" and d["payload"] == r.payload
    json.dumps(d)  # JSON-ready


def test_send_rereads_the_webhook_url_and_secret(sim):
    with Receiver(SECRET) as old_rx, Receiver("rotated-secret-0123456789") as new_rx:
        wh = sim.create_webhook("Moving", old_rx.url, ALL_EVENTS, secret=SECRET)
        p = sim.preview(wh, APP)
        sim.update_webhook(wh, url=new_rx.url, secret="rotated-secret-0123456789")
        r = sim.send(p)
        req = new_rx.wait_for(1)[0]
        assert old_rx.count == 0
    assert r.result == "Delivered" and r.url == new_rx.url
    assert req.body == p.body
    assert req.verification.ok


def test_header_timestamp_is_computed_at_send_time(store_path, rx):
    now = [1_769_592_774_119]
    with Simulator(store_path, clock=lambda: now[0]) as s:
        wh = s.create_webhook("T", rx.url, ALL_EVENTS, secret=SECRET)
        p = s.preview(wh, APP)
        now[0] += 42_000
        rx.tolerance_ms = None
        r = s.send(p)
    assert p.payload["timestamp"] == 1_769_592_774_119  # the event time, in the body
    assert r.timestamp == str(1_769_592_774_119 + 42_000)  # the send time, in the header
    assert r.payload == p.text


def test_base64_signature_encoding(store_path, rx):
    with Simulator(store_path, delivery=DeliveryConfig(signature_encoding="base64")) as s:
        wh = s.create_webhook("B64", rx.url, ALL_EVENTS, secret=SECRET)
        r = s.simulate(wh, APP)
    req = rx.wait_for(1)[0]
    assert r.http_status == 401  # the receiver expects hex
    sig = req.header("x-webhook-signature")
    assert len(sig) == 44 and sig.endswith("=")
    assert verify(req.headers, req.body, SECRET, encoding="base64").ok


def test_seconds_timestamp_unit_is_what_a_wrong_receiver_expects(store_path, rx):
    with Simulator(store_path, delivery=DeliveryConfig(timestamp_unit="s")) as s:
        wh = s.create_webhook("Secs", rx.url, ALL_EVENTS, secret=SECRET)
        r = s.simulate(wh, APP)
    req = rx.wait_for(1)[0]
    assert re.fullmatch(r"\d{10}", req.header("x-webhook-timestamp"))
    assert r.http_status == 401
    assert req.verification.code == "timestamp_in_seconds"


def test_every_webhook_change_is_a_new_version_even_when_the_clock_stands_still(store_path):
    """updated_ms identifies the version an edit was made over: each change moves it on (a
    fixed or backward clock included), so a save over the version before is refused."""
    now = [1_769_592_774_119]
    with Simulator(store_path, clock=lambda: now[0]) as s:
        wh = s.create_webhook("V", "http://127.0.0.1:9/x", [APP], secret=SECRET)
        first = s.update_webhook(wh, name="V1", expected_updated_ms=wh.updated_ms)
        second = s.rotate_secret(first)
        now[0] -= 10_000  # the clock goes back
        third = s.update_webhook(second, url="http://127.0.0.1:9/y")
        assert wh.updated_ms < first.updated_ms < second.updated_ms < third.updated_ms
        for stale in (wh, first, second):
            with pytest.raises(ConflictError):
                s.update_webhook(wh.id, name="lost", expected_updated_ms=stale.updated_ms)
        assert s.get_webhook(wh.id).name == "V1"
        assert s.update_webhook(wh.id, name="V2", expected_updated_ms=third.updated_ms).name == "V2"
        now_v = s.get_webhook(wh.id)
        same = s.update_webhook(wh.id, name="V2", url=now_v.url, events=list(now_v.events))  # nothing changes
        assert same.updated_ms == now_v.updated_ms == s.get_webhook(wh.id).updated_ms  # no new version
        assert s.update_webhook(wh.id, name="V3", expected_updated_ms=now_v.updated_ms).name == "V3"


def test_secret_rotation_and_signing_with_the_previous_secret(store_path):
    now = [1_769_592_774_119]
    with Simulator(store_path, clock=lambda: now[0]) as s:
        wh = s.create_webhook("Rot", "http://127.0.0.1:9/x", ALL_EVENTS, secret=SECRET)
        rotated = s.rotate_secret(wh, new_secret="brand-new-secret-0123456789", grace_seconds=60)
        assert rotated.secret.reveal() == "brand-new-secret-0123456789"
        assert rotated.previous_secret.reveal() == SECRET
        assert [x.reveal() for x in s.valid_secrets(wh.id)] == ["brand-new-secret-0123456789", SECRET]
        with Receiver([SECRET], tolerance_ms=None) as old_only:
            s.update_webhook(wh, url=old_only.url)
            assert s.get_webhook(wh.id).previous_secret is not None  # a URL change keeps the rotation
            p = s.preview(wh, APP)
            assert s.send(p).http_status == 401  # signed with the new secret
            assert s.send(p, sign_with="previous").http_status == 200
        now[0] += 61_000
        assert [x.reveal() for x in s.valid_secrets(wh.id)] == ["brand-new-secret-0123456789"]


def test_sign_with_previous_without_a_rotation_is_simulation_failed(sim, rx):
    wh = sim.create_webhook("NoRot", rx.url, ALL_EVENTS, secret=SECRET)
    r = sim.send(sim.preview(wh, APP), sign_with="previous")
    assert r.error == "Simulation failed"
    assert "previous secret" in r.detail
    assert rx.count == 0


@pytest.mark.parametrize("sign_with", ["bogus", "Current", None, 1])
def test_an_unknown_sign_with_raises_and_is_not_recorded(sim, rx, sign_with):
    wh = sim.create_webhook("Bogus", rx.url, ALL_EVENTS, secret=SECRET)
    with pytest.raises(ValidationError) as info:
        sim.send(sim.preview(wh, APP), sign_with=sign_with)
    assert info.value.field == "sign_with"
    assert sim.history_count() == 0 and rx.count == 0


def test_payload_over_the_size_limit_is_refused(store_path):
    with Simulator(store_path, max_payload_bytes=2_000) as s:
        wh = s.create_webhook("Big", "https://example.com/x", ALL_EVENTS)
        s.preview(wh, ACT)
        with pytest.raises(ValidationError) as exc:
            s.preview(wh, APP, overrides={"data.0.tracking.app.name": "x" * 3_000})
    assert exc.value.field == "payload"
    assert "2000" in str(exc.value)


def test_non_json_values_are_refused(sim):
    wh = sim.create_webhook("NaN", "https://example.com/x", ALL_EVENTS)
    with pytest.raises(ValidationError) as exc:
        sim.preview(wh, APP, overrides={"data.0.tracking.time.durationInSeconds": float("nan")})
    assert exc.value.field == "payload"


def test_environment_proxies_are_ignored_by_default(sim, rx, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:1")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with Simulator(sim.store.path) as s:  # clients are made after the environment changed
        wh = s.create_webhook("Direct", rx.url, ALL_EVENTS, secret=SECRET)
        r = s.simulate(wh, APP)
    assert r.result == "Delivered", r.detail


def test_delivery_config_defaults_and_validation():
    c = DeliveryConfig()
    assert c.max_response_bytes == 20_000
    assert c.verify_tls is True and c.trust_env is False and c.proxy is None
    assert c.signature_encoding == "hex"
    assert 0 < c.connect_timeout <= c.deadline and 0 < c.read_timeout <= c.deadline
    for bad in ({"deadline": 0}, {"read_timeout": -1}, {"max_response_bytes": -1}, {"signature_encoding": "b32"}):
        with pytest.raises(ValueError):
            DeliveryConfig(**bad)
    assert c.with_(deadline=3.0).deadline == 3.0


def test_one_attempt_no_retries(sim):
    with RawServer(answer(503, b"busy")) as server:
        r = sim.simulate(sim.create_webhook("Once", server.url, ALL_EVENTS), SHOT)
    assert r.http_status == 503
    assert server.connections == 1 and len(server.requests) == 1


def test_simulator_is_a_context_manager(store_path):
    with Simulator(store_path) as s:
        s.create_webhook("Ctx", "https://example.com/x", [APP])
    with Simulator(store_path) as s:
        assert len(s.list_webhooks()) == 1
        assert repr(s) == f"Simulator(store={str(store_path)!r})"
