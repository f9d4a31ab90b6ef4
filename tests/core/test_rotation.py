"""Secret rotation: a new secret, the previous one valid for a grace period, and sends signed
with the previous secret on purpose so a reseller can rehearse the switch."""

from __future__ import annotations

import re

from simlib import Simulator, verify
from simlib.cli import main
from simlib.demo import start_demo
from tests.helpers import APP


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_rotation_keeps_the_previous_secret_for_the_grace_period(tmp_path):
    clock = Clock(1_800_000_000_000)
    with Simulator(tmp_path / "s.db", clock=clock) as sim:
        wh = sim.create_webhook("r", "http://127.0.0.1:9/", [APP])
        old = wh.secret.reveal()
        rotated = sim.rotate_secret(wh, grace_seconds=60)
        assert rotated.secret.reveal() != old
        assert rotated.previous_secret.reveal() == old
        assert [s.reveal() for s in sim.valid_secrets(wh.id)] == [rotated.secret.reveal(), old]
        clock.ms += 61_000
        assert [s.reveal() for s in sim.valid_secrets(wh.id)] == [rotated.secret.reveal()]
        assert "previous_secret_expires_at" in rotated.to_dict()
        assert old not in repr(rotated) and old not in str(rotated.to_dict())


def test_embedded_receiver_accepts_either_secret_during_the_grace_period(tmp_path):
    clock = Clock(1_800_000_000_000)
    # The receiver checks timestamps against its own clock; give it the same one.
    with Simulator(tmp_path / "s.db", clock=clock) as sim:
        rx, wh = start_demo(sim, clock=clock)
        try:
            preview = sim.preview(wh, APP, seed=1)
            sim.rotate_secret(wh, grace_seconds=60)
            new = sim.send(preview)
            previous = sim.send(preview, sign_with="previous")
            assert new.result == "Delivered" and previous.result == "Delivered"
            assert new.signature != previous.signature
            for r in (new, previous):
                assert re.fullmatch(r"[0-9a-f]{64}", r.signature)  # one digest, never two
            clock.ms += 61_000
            late = sim.send(preview, sign_with="previous")
            assert late.result == "Failed" and late.http_status == 401
            assert "no signature matched" in late.response_body
            verdicts = [req.verification.code for req in rx.requests]
            assert verdicts == ["ok", "ok", "no_match"]
        finally:
            rx.stop()


def test_previous_signature_verifies_only_with_the_previous_secret(tmp_path, receiver):
    with Simulator(tmp_path / "s.db") as sim:
        wh = sim.create_webhook("r", receiver.url, [APP])
        old = wh.secret.reveal()
        rotated = sim.rotate_secret(wh)
        sim.send(sim.preview(wh, APP), sign_with="previous")
        req = receiver.wait_for(1)[0]
        assert verify(req.headers, req.body, [old]).ok
        assert not verify(req.headers, req.body, [rotated.secret.reveal()]).ok


def test_sign_with_previous_without_a_rotation_is_a_simulation_error(tmp_path, receiver):
    with Simulator(tmp_path / "s.db") as sim:
        wh = sim.create_webhook("r", receiver.url, [APP])
        r = sim.send(sim.preview(wh, APP), sign_with="previous")
    assert r.error == "Simulation failed" and "no previous secret" in r.detail
    assert receiver.count == 0


def test_cli_rotation_rehearsal(tmp_path, monkeypatch, capsys, receiver):
    import json

    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    assert main(["webhooks", "add", "--name", "r", "--url", receiver.url, "--event", APP, "--id", "rot", "--json"]) == 0
    capsys.readouterr()
    assert main(["webhooks", "rotate-secret", "rot", "--grace-seconds", "600", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert "previous_secret_expires_at" in shown and shown["secret"].startswith("****")
    assert main(["send", "rot", APP, "--sign-with-previous", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["result"] == "Delivered"
