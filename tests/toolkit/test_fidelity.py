"""Issue 14: the receivers real resellers run, against real local receivers.

The re-serialising receiver (``reserialize=True``) and the raw-bytes one under the same-JSON
variants; the flat-payload receiver; one URL serving several organisations (secrets chosen by
organisation id); rate-limited receivers (429 + Retry-After) for single sends and the check;
``explain`` on bodies that are only the same JSON. Every request is real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from simlib import Simulator, sign
from simlib.cli import main
from simlib.core.classify import retry_after_seconds
from simlib.core.jsjson import stringify
from simlib.core.signing import now_ms
from simlib.errors import ValidationError
from simlib.receiver import FLAT_PAYLOAD_ERROR, Receiver
from simlib.toolkit.conformance import RESERIALISED_WHY, SAME_JSON, same_json_other_bytes
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT

ROOT = Path(__file__).resolve().parents[2]  # the tree under test, for the `python -m simlib` children
SECRET = "fidelity-secret-0123456789"
README_CASES = {"organisation-id-invalid", "org-secrets-file-invalid", "rate-limit-invalid"}


def verdicts(frame) -> dict[str, str]:
    return dict(zip(frame["variant"], frame["verdict"]))


def explanation(frame, variant: str) -> str:
    return frame.set_index("variant").loc[variant, "explanation"]


def post(url: str, body: bytes, secret: str = SECRET) -> httpx.Response:
    return httpx.post(url, content=body, headers=sign(secret, body, now_ms()), timeout=5)


# -- same JSON, other bytes -------------------------------------------------------------------------


def test_the_same_json_variants_are_the_same_json_in_other_bytes(sim):
    wh = sim.create_webhook("x", "http://127.0.0.1:9/hook", [APP])
    body = sim.preview(wh, APP, seed=1, overrides={"data.0.tracking.app.name": "Café Zoë 😀"}).body
    for name in SAME_JSON:
        other = same_json_other_bytes(name, body)
        assert other != body and json.loads(other) == json.loads(body), name
        assert stringify(json.loads(other)).encode() == body  # what a re-serialising receiver signs
    assert b"\\u00e9" in same_json_other_bytes("same-json-unicode-escapes", body)
    assert b"\\ud83d\\ude00" in same_json_other_bytes("same-json-unicode-escapes", body)
    assert b"https:\\/\\/" in same_json_other_bytes("same-json-escaped-slash", body)
    assert b'\n  "event": ' in same_json_other_bytes("same-json-pretty-printed", body)
    assert b'"timestamp":1.' in same_json_other_bytes("same-json-number-form", body)


def test_a_raw_bytes_receiver_passes_them_and_a_reserialising_one_fails_them_explained(sim):
    with Receiver(SECRET) as raw, Receiver(SECRET, reserialize=True) as node_style:
        good = sim.check_receiver(sim.create_webhook("raw", raw.url, [ACT, APP], secret=SECRET), seed=3)
        bad = sim.check_receiver(sim.create_webhook("re", node_style.url, [ACT, APP], secret=SECRET), seed=3)
        codes = [r.verification.code for r in node_style.requests if r.verification is not None]
    assert all(verdicts(good)[n] == "PASS" for n in SAME_JSON)
    v = verdicts(bad)
    assert v["valid"] == "PASS"  # simlib's own bytes are what JSON.stringify writes
    assert all(v[n] == "FAIL" for n in SAME_JSON), bad[["variant", "observed_status", "explanation"]]
    for n in SAME_JSON:
        assert explanation(bad, n).startswith(RESERIALISED_WHY)
    assert "no_match" in codes
    # everything else is judged as for a correct receiver -- except the old variant that sends a
    # re-serialised body signed over the original bytes: this receiver accepts it, and is told so
    assert {n for n, verdict in v.items() if verdict == "FAIL"} == {*SAME_JSON, "body-reserialised"}
    assert "re-serialisation of the parsed JSON" in explanation(bad, "body-reserialised")


def test_the_reserialising_receiver_verifies_json_stringify_of_the_body():
    escaped = b'{"name":"Caf\\u00e9","n":1e16}'
    with Receiver(SECRET, reserialize=True) as rx:
        assert post(rx.url, escaped).status_code == 401
        assert post(rx.url, stringify(json.loads(escaped)).encode()).status_code == 200  # {"name":"Café","n":1e16 -> 10000000000000000}
        not_json = post(rx.url, b"not json")
        assert not_json.status_code == 400 and "not JSON" in not_json.json()["reason"]
    with Receiver(SECRET) as rx:
        assert post(rx.url, escaped).status_code == 200


def test_explain_names_the_re_serialising_receiver(sim):
    escaped = b'{"event":"desktop.activity_tracking.captured","name":"Caf\\u00e9"}'
    headers = sign(SECRET, escaped, now_ms())
    ok = sim.explain_signature(headers, escaped, secret=SECRET)
    assert ok.valid and RESERIALISED_WHY in ok.hint
    assert any("JSON.stringify(JSON.parse(body))" in c for c, _ in ok.checks)
    # a body that verifies only after parse-and-stringify (here: pretty-printed by a logger)
    compact = b'{"event":"desktop.activity_tracking.captured","n":10000000000000000}'
    headers = sign(SECRET, compact, now_ms())
    logged = b'{\n  "event": "desktop.activity_tracking.captured",\n  "n": 1e16\n}'
    ex = sim.explain_signature(headers, logged, secret=SECRET)
    assert ex.cause == "body_reserialised" and "JSON.stringify" in ex.summary
    assert RESERIALISED_WHY in ex.summary
    # plain compact bytes: no such warning
    plain = sim.explain_signature(sign(SECRET, compact, now_ms()), compact, secret=SECRET)
    assert plain.valid and RESERIALISED_WHY not in plain.hint


# -- the flat payload -------------------------------------------------------------------------------


def test_a_flat_payload_receiver_refuses_every_real_delivery_and_the_check_says_why(sim):
    with Receiver(SECRET, flat_payload=True) as rx:
        wh = sim.create_webhook("flat", rx.url, ALL_EVENTS, secret=SECRET)
        results = [sim.simulate(wh, e) for e in ALL_EVENTS]
        flat = post(rx.url, b'{"organisationId":"o-1","userId":"u-1"}')
        frame = sim.check_receiver(wh, seed=4)
    assert [r.http_status for r in results] == [400, 400, 400]
    assert all(FLAT_PAYLOAD_ERROR in r.response_body for r in results)
    assert flat.status_code == 200  # the shape it expects, correctly signed
    assert verdicts(frame)["valid"] == "FAIL"
    why = explanation(frame, "valid")
    assert "reads organisationId/userId at the top level" in why and "data[0].organisation.organisationId" in why
    # explain, given the rejected request: the signature is valid, and the hint names the flat payload
    row = sim.history_row(int(results[0].history_id))
    ex = sim.explain_signature(row["request_headers"], row["request_body"], webhook=wh)
    assert ex.valid and "a flat payload" in ex.hint


# -- many organisations, one URL --------------------------------------------------------------------


def test_webhooks_carry_an_organisation_id_into_their_payloads(sim):
    wh = sim.create_webhook("org", "http://127.0.0.1:9/hook", ALL_EVENTS, organisation_id="org-a")
    assert sim.get_webhook(wh.id).organisation_id == "org-a" and wh.to_dict()["organisation_id"] == "org-a"
    app, act = sim.preview(wh, APP).payload, sim.preview(wh, ACT).payload
    assert app["data"][0]["organisation"]["organisationId"] == "org-a"
    assert act["data"]["organisation"]["organisationId"] == "org-a"
    assert sim.preview(wh, SHOT).payload["data"][0]["organisation"]["organisationId"] == "org-a"
    over = sim.preview(wh, APP, overrides={"data.0.organisation.organisationId": "x"}).payload  # an override wins
    assert over["data"][0]["organisation"]["organisationId"] == "x"
    assert sim.update_webhook(wh, organisation_id="org-b").organisation_id == "org-b"
    cleared = sim.update_webhook(wh, organisation_id="")
    assert cleared.organisation_id is None and sim.get_webhook(wh.id).organisation_id is None
    fresh = {sim.preview(cleared, APP).payload["data"][0]["organisation"]["organisationId"] for _ in range(3)}
    assert len(fresh) == 3  # without one: a fresh id per payload, as before
    with pytest.raises(ValidationError) as info:
        sim.create_webhook("bad", "http://127.0.0.1:9/hook", [APP], organisation_id="org a\r\n")
    assert info.value.field == "organisation_id"
    assert len(sim.list_webhooks()) == 1


def test_many_organisations_on_one_url_each_verified_with_its_own_secret(sim):
    rx = Receiver()
    rx.start()
    try:
        rx.org_secrets = sim.organisation_secrets(url=rx.url)
        run = sim.many_organisations(4, rx.url)
        got = rx.requests
    finally:
        rx.stop()
    assert run.delivered == 4 and len({wh.organisation_id for wh in run.webhooks}) == 4
    assert len({wh.secret.reveal() for wh in run.webhooks}) == 4
    frame = run.frame()
    assert list(frame["result"]) == ["Delivered"] * 4 and list(frame["http_status"]) == [200] * 4
    assert [json.loads(r.body)["data"]["organisation"]["organisationId"] for r in got] == [
        wh.organisation_id for wh in run.webhooks
    ]
    assert all(r.verification.ok for r in got)
    assert "secret" not in repr(run).lower() and all(wh.secret.reveal() not in frame.to_csv() for wh in run.webhooks)


def test_an_organisation_aware_receiver_refuses_strangers_and_other_organisations_secrets(sim):
    rx = Receiver()
    rx.start()
    try:
        rx.org_secrets = sim.organisation_secrets(url=rx.url)
        run = sim.many_organisations(2, rx.url, send=False)
        frame = sim.check_receiver(run.webhooks[0], seed=5)
        stranger = post(rx.url, b'{"data":{"organisation":{"organisationId":"nobody"}}}')
    finally:
        rx.stop()
    v = verdicts(frame)
    assert v["other-organisation-secret"] == v["unknown-organisation"] == "PASS", frame[["variant", "explanation"]]
    assert stranger.status_code == 401 and "unknown organisation" in stranger.json()["reason"]
    assert {n for n, verdict in v.items() if verdict != "PASS"} == {"replayed"}  # no replay protection: a note


def test_a_receiver_trying_every_organisation_secret_fails_both_organisation_variants(sim):
    with Receiver() as rx:
        run = sim.many_organisations(2, rx.url, send=False)
        rx.secrets = [wh.secret.reveal() for wh in run.webhooks]  # any organisation's secret will do: wrong
        frame = sim.check_receiver(run.webhooks[0], seed=6)
    v = verdicts(frame)
    assert v["other-organisation-secret"] == "FAIL" and "another organisation's secret" in explanation(
        frame, "other-organisation-secret")
    assert v["unknown-organisation"] == "FAIL" and "does not know" in explanation(frame, "unknown-organisation")


def test_cli_orgs_and_a_receive_process_choosing_secrets_by_organisation(sim, store_path, tmp_path):
    secrets_file = tmp_path / "orgs.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    # create the organisations first (no send), write their secrets, then serve them from a process
    out = io.StringIO()
    url_placeholder = "http://127.0.0.1:9/webhooks/trackpilots"
    assert main(["--store", str(store_path), "orgs", "3", url_placeholder, "--no-send", "--secrets-out",
                 str(secrets_file)], stdout=out) == 0
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    table = json.loads(secrets_file.read_text())
    assert len(table) == 3 and all(len(v) == 1 for v in table.values())
    assert all(v[0] not in out.getvalue() for v in table.values())  # the file holds them, the terminal never
    proc = subprocess.Popen(
        [sys.executable, "-m", "simlib", "receive", "--port", "0", "--json", "--org-secrets", str(secrets_file),
         "--rate-limit", "3/60s", "--retry-after", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        url = json.loads(proc.stdout.readline())["listening"]
        hooks = sim.list_webhooks()
        for wh in hooks:
            sim.update_webhook(wh, url=url)
        results = [sim.simulate(wh, ACT) for wh in hooks]
        limited = sim.simulate(hooks[0], ACT)
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert [r.http_status for r in results] == [200, 200, 200]
    assert limited.http_status == 429 and limited.retry_after == "7"
    assert "Retry-After: 7" in limited.detail and json.loads(limited.response_body) == {"error": "Too many requests"}


def test_cli_webhooks_organisation_id_and_bad_flags(store_path, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    args = ["--store", str(store_path), "webhooks", "add", "--name", "o", "--url", "http://127.0.0.1:9/h",
            "--event", APP, "--organisation-id", "org-42", "--json"]
    assert main(args, stdout=out) == 0 and json.loads(out.getvalue())["organisation_id"] == "org-42"
    bad = args[:-3] + ["--organisation-id", "no spaces please"]
    assert main(bad, stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue().startswith("simlib: error: organisation_id: ")
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    junk.chmod(0o600)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for flags, says in ((["--org-secrets", str(junk)], "must be a non-empty JSON object"),
                        (["--secret", "x" * 20, "--rate-limit", "lots"], "rate limit must look like 120/60s"),
                        (["--secret", "x" * 20, "--retry-after", "5"], "--retry-after goes with --rate-limit")):
        p = subprocess.run([sys.executable, "-m", "simlib", "--store", str(store_path), "receive", "--port", "0", *flags],
                           capture_output=True, text=True, env=env, timeout=30)
        assert p.returncode == 2 and says in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


# -- rate limits -------------------------------------------------------------------------------------


def test_a_rate_limited_receiver_answers_429_with_retry_after_and_single_sends_show_it(sim):
    with Receiver(SECRET, rate_limit="2/60s", retry_after=30) as rx:
        wh = sim.create_webhook("limited", rx.url, [ACT], secret=SECRET)
        results = [sim.simulate(wh, ACT) for _ in range(3)]
        stats = rx.stats()
    assert [r.http_status for r in results] == [200, 200, 429]
    third = results[2]
    assert not third.delivered and third.retry_after == "30" and "Retry-After: 30" in third.detail
    assert json.loads(third.response_body) == {"error": "Too many requests"}
    assert stats["rate_limited"] == 1 and stats["answered"]["429"] == 1
    assert retry_after_seconds(third.response_headers) == 30.0
    with Receiver(SECRET, rate_limit=(1, 60.0)) as rx:  # without retry_after: no header
        wh = sim.create_webhook("limited2", rx.url, [ACT], secret=SECRET)
        r = [sim.simulate(wh, ACT) for _ in range(2)][1]
    assert r.http_status == 429 and r.retry_after is None


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    at = int(now.timestamp() * 1000)
    assert retry_after_seconds({"retry-after": later}, now_ms=at) == 90.0
    assert retry_after_seconds({"retry-after": "  12 "}) == 12.0
    assert retry_after_seconds({"retry-after": "99999999999"}) == 86_400.0
    assert retry_after_seconds({"retry-after": "soon"}) is None and retry_after_seconds({}) is None


def test_the_check_notes_rate_limiting_instead_of_misjudging_it(sim):
    with Receiver(SECRET, rate_limit="4/60s", retry_after=60) as rx:
        frame = sim.check_receiver(sim.create_webhook("l", rx.url, [ACT, APP], secret=SECRET), seed=7,
                                   rate_limit_wait_s=0.5)
    v = verdicts(frame)
    limited = frame[frame["observed_status"] == 429]
    assert len(limited) == len(frame) - 4
    assert set(limited["verdict"]) == {"NOTE"}
    assert all("rate limited (429, Retry-After: 60)" in e for e in limited["explanation"])
    assert "FAIL" not in v.values()  # a 429 is never read as a signature verdict (nor a "rejected as it must be")


def test_the_check_waits_out_a_short_retry_after_and_judges_everything(sim):
    with Receiver(SECRET, rate_limit="6/1s", retry_after=1, replay_protection=True) as rx:
        frame = sim.check_receiver(sim.create_webhook("w", rx.url, [ACT, APP], secret=SECRET), seed=8)
        limited = rx.stats()["rate_limited"]
    v = verdicts(frame)
    assert limited >= 1  # it was throttled ...
    assert 429 not in set(frame["observed_status"].dropna())  # ... and retried after waiting
    assert {n for n, verdict in v.items() if verdict != "PASS"} == {"unknown-organisation"}
    assert any(d.endswith("(after 429)") or "(after 429):" in d for d in sim.history()["detail"])



def test_the_probe_stops_on_a_rate_limit_instead_of_reading_429_as_an_edge(sim):
    with Receiver(SECRET, rate_limit="3/60s", retry_after=60) as rx:
        res = sim.probe_tolerance(sim.create_webhook("p", rx.url, [ACT], secret=SECRET), seed=1, rate_limit_wait_s=0.2)
    assert res.cancelled and any("rate-limits (429, Retry-After: 60)" in f for f in res.flags)
    # three answers (fresh 200, seconds 401, 7 days old 401), then a 429 whose Retry-After is too long
    # to wait for: the bisection stops there, with the range the real answers gave, no edge from a 429
    assert res.requests == 4 and res.past == (0, 7 * 86_400_000 - 500) and res.future == (None, None)
    assert list(sim.history()["http_status"]) == [200, 401, 401, 429]


def test_the_rate_limit_window_slides_and_counts_per_client_host():
    body = b'{"event":"x"}'
    # A 3 s window: a stalled machine cannot let it pass between the first three posts, and the
    # fourth comes after the whole window.
    with Receiver(SECRET, rate_limit="2/3s") as rx:
        first = [post(rx.url, body).status_code for _ in range(3)]
        time.sleep(3.1)
        again = post(rx.url, body).status_code
        assert rx.stats()["rate_limited"] == 1
    assert first == [200, 200, 429] and again == 200
    with pytest.raises(ValueError):
        Receiver(rate_limit="0/60s")
    with pytest.raises(ValueError):
        Receiver(rate_limit=(5, float("inf")))


def test_a_store_from_the_previous_release_gains_the_organisation_id_column(tmp_path):
    import shutil
    import sqlite3
    from pathlib import Path

    old = tmp_path / "v1.sqlite3"
    shutil.copy(Path(__file__).resolve().parents[1] / "fixtures" / "store-v1.sqlite3", old)
    with Simulator(old) as s:
        hooks = s.list_webhooks()
        assert [w.organisation_id for w in hooks] == [None, None]
        s.update_webhook(hooks[0], organisation_id="org-from-v1")
        assert s.get_webhook(hooks[0].id).organisation_id == "org-from-v1"
    conn = sqlite3.connect(old)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(webhooks)")]
    finally:
        conn.close()
    assert columns[-1] == "organisation_id"  # where ALTER TABLE ADD COLUMN puts it, as a new store has it
