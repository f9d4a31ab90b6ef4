"""Behaviours a review found missing: each test names what a user would have hit."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import ipywidgets
import pytest

from simlib import DeliveryConfig, Simulator, ValidationError
from simlib.cli import main
from simlib.demo import DEMO_WEBHOOK_ID, start_demo
from simlib.receiver import Receiver
from tests.helpers import APP, free_port

ENDPOINT_DELAY_S = 0.2  # the receiver waits this long before answering: the round trip
RESOLVE_DELAY_S = 0.6  # inside deliver(), before the request: resolving the host
CLOCK_DELAY_S = 0.3  # around deliver(): preview, re-reading the webhook, signing, recording


def test_latency_is_the_round_trip_only_from_the_first_send_on(tmp_path):
    # The first send builds the HTTP transport; every send resolves the host, reads the clock to
    # sign and records. None of that is the endpoint's latency: only the POST and its answer are.
    clock_calls = []

    def slow_clock() -> int:
        clock_calls.append(time.perf_counter())
        time.sleep(CLOCK_DELAY_S)
        return int(time.time() * 1000)

    def slow_resolver(host: str, port: int) -> list[str]:
        time.sleep(RESOLVE_DELAY_S)
        return ["127.0.0.1"]

    config = DeliveryConfig(resolver=slow_resolver)
    with Receiver(delay_ms=ENDPOINT_DELAY_S * 1000) as rx, Simulator(tmp_path / "s.db", delivery=config, clock=slow_clock) as sim:
        wh = sim.create_webhook("lat", rx.url.replace("127.0.0.1", "latency.test"), [APP])
        results, took, calls = [], [], []
        for _ in range(2):
            before, start = len(clock_calls), time.perf_counter()
            results.append(sim.simulate(wh, APP))
            took.append(time.perf_counter() - start)
            calls.append(len(clock_calls) - before)
    assert [r.result for r in results] == ["Delivered", "Delivered"], [r.detail for r in results]
    assert min(calls) >= 2  # the slow parts really ran around each send...
    assert min(took) >= ENDPOINT_DELAY_S + RESOLVE_DELAY_S + 2 * CLOCK_DELAY_S
    for r, total, n in zip(results, took, calls, strict=True):  # ...and none of them is in the latency
        # bounded by what the send took without its slow parts, not by a fixed ceiling: a stall
        # of a busy machine lengthens both the send and its latency, and fails neither bound
        outside = RESOLVE_DELAY_S + n * CLOCK_DELAY_S
        assert ENDPOINT_DELAY_S * 1000 <= r.latency_ms <= (total - outside) * 1000, (r.latency_ms, total, n)


def test_invalid_address_policy_env_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    monkeypatch.setenv("SIMLIB_ADDRESS_POLICY", "lenient")
    with pytest.raises(ValidationError, match="address_policy: unknown address policy 'lenient'"):
        DeliveryConfig()
    assert main(["send", "x", APP]) == 2
    err = capsys.readouterr().err
    assert "SIMLIB_ADDRESS_POLICY" in err and err.count("\n") == 1


def test_ca_bundle_mistakes_are_named(tmp_path):
    with pytest.raises(ValidationError, match="ca_bundle: no such file"):
        DeliveryConfig(ca_bundle=str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValidationError, match="is not a PEM file"):
        DeliveryConfig(ca_bundle=str(junk))


def test_simulate_with_an_unusable_store_is_service_unavailable(tmp_path):
    path = tmp_path / "s.db"
    path.write_bytes(b"garbage" * 500)
    with Simulator(path) as sim:
        r = sim.simulate("any", APP)
    assert r.error == "Service unavailable" and r.error_status == 503 and not r.recorded


def test_simulate_unknown_webhook_is_recorded_webhook_not_found(tmp_path):
    with Simulator(tmp_path / "s.db") as sim:
        r = sim.simulate("wh_gone", APP)
        assert r.error == "Webhook not found" and r.error_status == 404 and r.recorded
        assert sim.history().iloc[-1]["error"] == "Webhook not found"


def test_cli_send_unknown_webhook_json_has_the_full_result_shape(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    assert main(["send", "wh_gone", APP, "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    for key in ("simulation_id", "webhook_id", "webhook_name", "url", "event_type", "result", "http_status",
                "latency_ms", "error", "error_detail", "request_headers", "payload", "response_body",
                "response_truncated", "sent_at"):
        assert key in out
    assert out["error"] == "Webhook not found" and out["webhook_id"] == "wh_gone"


def test_demo_never_takes_over_a_users_webhook_called_demo(tmp_path):
    with Simulator(tmp_path / "s.db") as sim:
        mine = sim.create_webhook("Staging", "https://staging.example.com/hooks", [APP], id=DEMO_WEBHOOK_ID)
        rx, wh = start_demo(sim)
        try:
            assert wh.id == "demo-2"
            assert sim.get_webhook(DEMO_WEBHOOK_ID).url == mine.url
            assert sim.simulate(wh, APP).delivered
        finally:
            rx.stop()
        rx2, again = start_demo(sim)  # the next run reuses demo-2
        rx2.stop()
        assert again.id == "demo-2"


def test_explorer_form_forgets_the_secret(tmp_path):
    from simlib.ui import Explorer

    with Simulator(tmp_path / "s.db") as sim:
        ex = Explorer(sim, seed=1)
        try:
            ex.form_name.value = "x"
            ex.form_url.value = "http://127.0.0.1:9/hook"
            ex.form_secret.value = "a-secret-typed-into-the-form"
            ex.form_submit.click()
            assert sim.list_webhooks() and ex.form_secret.value == ""
            assert "a-secret-typed-into-the-form" not in json.dumps(ex.form_secret.get_state())
            ex.new_webhook.click()  # the create form, opened as a user opens it
            ex.form_secret.value = "another-secret-value"
            ex.form_cancel.click()
            assert ex.form_secret.value == ""
        finally:
            ex.close()
            ipywidgets.Widget.close_all()


def test_receive_webhook_sees_a_rotation_without_restarting(tmp_path):
    import os

    env = {**os.environ, "SIMLIB_HOME": str(tmp_path)}
    with Simulator(tmp_path / "simlib.sqlite3") as sim:
        port = free_port()
        wh = sim.create_webhook("rot", f"http://127.0.0.1:{port}/webhooks/trackpilots", [APP], id="rot")
        proc = subprocess.Popen(
            [sys.executable, "-m", "simlib", "receive", "--port", str(port), "--webhook", "rot", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        try:
            assert json.loads(proc.stdout.readline())["listening"].endswith("/webhooks/trackpilots")  # JSON lines only
            assert sim.simulate(wh, APP).delivered
            sim.rotate_secret(wh, grace_seconds=600)
            assert sim.simulate(wh, APP).delivered  # new secret accepted without a restart
            old = sim.send(sim.preview(wh, APP), sign_with="previous")
            assert old.delivered  # the previous one too, during the grace period
            lines = [json.loads(proc.stdout.readline()) for _ in range(3)]
            assert [line["verified"] for line in lines] == [True, True, True]
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_bytes_secrets_are_refused_with_the_documented_message(tmp_path):
    with Simulator(tmp_path / "s.db") as sim:
        with pytest.raises(ValidationError, match="secret: is not valid UTF-8 text"):
            sim.create_webhook("x", "http://127.0.0.1:9/", [APP], secret=b"\xff\xfe-not-utf8-secret")
        with pytest.raises(ValidationError, match="must be text"):
            sim.create_webhook("x", "http://127.0.0.1:9/", [APP], secret=b"valid-but-bytes-secret")
