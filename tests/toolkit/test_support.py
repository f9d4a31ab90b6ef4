"""The support toolkit against real local servers: explain a mismatch, replay a history row,
import a captured delivery, copy as curl / httpx (the generated commands are run), and the
receiver snippets (started with python and node, then sent to)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from simlib import DeliveryConfig, Simulator, explain_signature, parse_capture, sign, snippet
from simlib.cli import main
from simlib.core.signing import now_ms
from simlib.errors import NotFoundError, ValidationError
from simlib.receiver import Receiver
from simlib.toolkit.replay import _view, compare_answers
from tests.helpers import ACT, ALL_EVENTS, APP
from tests.servers import RawServer, read_request

SECRET = "support-secret-0123456789abcdef"
OTHER = "other-secret-fedcba9876543210"
SHELL_TOOLS = all(shutil.which(t) for t in ("bash", "curl", "openssl"))
needs_shell = pytest.mark.skipif(not SHELL_TOOLS, reason="bash, curl and openssl are needed to run the command")


def captured(sim: Simulator, *, event: str = ACT, secret: str = SECRET, **send) -> tuple:
    """A real delivery as a receiver logged it: (headers as received, raw body)."""
    with Receiver(verify_signatures=False) as rx:
        wh = sim.create_webhook("Captured", rx.url, ALL_EVENTS, secret=secret)
        r = sim.simulate(wh, event, seed=11, **send)
        req = rx.wait_for(1)[-1]
    assert r.delivered
    return list(req.headers), req.body


def no_secret_in(text: str, *secrets: str) -> bool:
    return not any(s in text for s in secrets)


# -- explain ---------------------------------------------------------------------------------------


def test_explain_a_real_request_as_valid(sim):
    headers, body = captured(sim)
    ex = sim.explain_signature(headers, body, secret=SECRET)
    assert (ex.valid, ex.cause) == (True, "valid")
    assert ex.expected_signature == ex.received_signature == dict(headers)["x-webhook-signature"]
    ts = dict(headers)["x-webhook-timestamp"]
    assert ex.signed_string.startswith(f'{ts}.{{"event":"desktop.activity_tracking.captured"')
    assert ex.signed_string.endswith(f"… ({len(ts) + 1 + len(body)} bytes)")
    assert "VALID (valid)" in str(ex)
    # upper-case hex and white space around the header are fine, as for verify()
    upper = [(k, f" {v.upper()} " if k == "x-webhook-signature" else v) for k, v in headers]
    assert sim.explain_signature(upper, body, secret=SECRET).valid


@pytest.mark.parametrize(
    "mangle, cause, words",
    [
        (lambda b: b + b"\n", "body_whitespace", "trailing newline"),
        # a change of content: the history has the bytes sent, so it is named (tests/toolkit/test_explain_history.py)
        (lambda b: b.replace(b"true", b"false"), "body_changed", "the body was changed after signing"),
        (lambda b: b.replace(b",", b",\r\n"), "body_reserialised", "compact JSON"),
        (lambda b: b"\xef\xbb\xbf" + b, "body_encoding", "byte-order mark"),
        (lambda b: json.dumps(json.loads(b), indent=2).encode(), "body_reserialised", "re-serialised as compact JSON"),
        (lambda b: json.dumps(json.loads(b)).encode(), "body_reserialised", "parsed and serialised again"),
    ],
)
def test_explain_names_what_happened_to_the_body(sim, mangle, cause, words):
    headers, body = captured(sim)
    ex = sim.explain_signature(headers, mangle(body), secret=SECRET)
    assert not ex.valid
    if cause is None:
        assert ex.cause == "wrong_secret"
    else:
        assert ex.cause == cause and words in ex.summary
        assert ex.expected_signature != ex.received_signature


def test_explain_sees_non_ascii_re_encoding(sim):
    headers, body = captured(sim, overrides={"data.user.userId": "Zoë Åström"})
    latin1 = body.decode("utf-8").encode("latin-1")
    assert sim.explain_signature(headers, latin1, secret=SECRET).cause == "body_encoding"
    mojibake = body.decode("latin-1").encode("utf-8")
    ex = sim.explain_signature(headers, mojibake, secret=SECRET)
    assert ex.cause == "body_encoding" and "mojibake" in ex.summary


def test_explain_wrong_secret_checks_every_configured_webhook_without_printing_secrets(sim):
    headers, body = captured(sim)  # signed with SECRET by a webhook in this store
    sim.create_webhook("Another", "https://example.com/a", [ACT], secret=OTHER, id="another")
    stranger = "a-secret-nobody-configured-123"
    sim_other = [w for w in sim.list_webhooks() if w.id != "another"][0]
    sim.update_webhook(sim_other, secret="rotated-away-secret-0123456789")
    ex = sim.explain_signature(headers, body, secret=stranger)
    assert ex.cause == "wrong_secret" and not ex.valid
    assert "the secret is most likely wrong" in ex.summary
    checks = dict(ex.checks)
    assert checks["other configured webhooks"] == "no match with any of 2"
    assert checks["is the secret you gave configured?"] == "no: it is not the secret of any of the 2 webhooks"
    dumped = ex.to_text() + json.dumps(ex.to_dict())
    assert no_secret_in(dumped, SECRET, OTHER, "rotated-away-secret-0123456789")


def test_explain_says_which_webhook_signed_it(sim):
    headers, body = captured(sim, secret=OTHER)
    signer = [w for w in sim.list_webhooks()][0]
    mine = sim.create_webhook("Mine", "https://example.com/m", [ACT], secret=SECRET, id="mine")
    ex = sim.explain_signature(headers, body, webhook=mine)
    assert (ex.cause, ex.matched_webhook) == ("other_webhook_secret", signer.id)
    assert f"signed with the secret of webhook {signer.id}, not with webhook mine's secret" in ex.summary
    assert no_secret_in(ex.to_text() + json.dumps(ex.to_dict()), SECRET, OTHER)
    # no secret and no webhook given: every configured webhook is tried
    found = sim.explain_signature(headers, body)
    assert found.valid and f"webhook {signer.id}'s secret" in found.summary


def test_explain_timestamp_causes(sim):
    _, body = captured(sim)
    ts = now_ms()
    in_seconds = sign(SECRET, body, ts, timestamp_unit="s")
    ex = sim.explain_signature(in_seconds, body, secret=SECRET)
    assert ex.cause == "timestamp_unit" and "in seconds (10 digits)" in ex.summary

    converted = {**sign(SECRET, body, ts, timestamp_unit="s"), "x-webhook-timestamp": str(ts // 1000 * 1000)}
    ex = sim.explain_signature(converted, body, secret=SECRET)
    assert ex.cause == "timestamp_unit" and "converted" in ex.summary

    payload_ts = str(json.loads(body)["timestamp"])
    by_payload = {**sign(SECRET, body, int(payload_ts)), "x-webhook-timestamp": str(ts)}
    # without the history: the send may have been signed in the payload's very millisecond, and then the
    # history rightly says the header was changed after signing
    assert explain_signature(by_payload, body, SECRET).cause == "payload_timestamp"

    stale = sign(SECRET, body, ts - 3_600_000)
    ex = sim.explain_signature(stale, body, secret=SECRET)
    assert ex.cause == "stale_timestamp" and not ex.valid and ex.skew_ms >= 3_600_000
    assert "the signature is valid" in ex.summary and "old logs" in ex.hint
    assert sim.explain_signature(stale, body, secret=SECRET, tolerance_ms=None).valid


def test_explain_secret_and_header_format_slips(sim):
    headers, body = captured(sim)
    assert sim.explain_signature(headers, body, secret=SECRET + "\n").cause == "secret_whitespace"
    prefixed = [(k, "sha256=" + v if k == "x-webhook-signature" else v) for k, v in headers]
    ex = sim.explain_signature(prefixed, body, secret=SECRET)
    assert ex.cause == "signature_format" and "prefix" in ex.summary
    missing = [(k, v) for k, v in headers if k != "x-webhook-signature"]
    assert sim.explain_signature(missing, body, secret=SECRET).cause == "missing_signature"
    missing = [(k, v) for k, v in headers if k != "x-webhook-timestamp"]
    assert sim.explain_signature(missing, body, secret=SECRET).cause == "missing_timestamp"


def test_explain_accepts_the_previous_secret_during_a_rotation(sim):
    headers, body = captured(sim)
    wh = sim.list_webhooks()[0]
    sim.rotate_secret(wh)
    assert sim.explain_signature(headers, body, webhook=wh.id).valid


def test_cli_explain(sim, store_path, tmp_path):
    headers, body = captured(sim)
    wid = sim.list_webhooks()[0].id
    (tmp_path / "headers.txt").write_text("POST /webhooks/trackpilots HTTP/1.1\n" + "".join(f"{k}: {v}\n" for k, v in headers))
    (tmp_path / "body.json").write_bytes(body)
    (tmp_path / "body-nl.json").write_bytes(body + b"\n")
    base = ["--store", str(store_path), "explain", "--headers", str(tmp_path / "headers.txt")]
    out = io.StringIO()
    assert main([*base, "--body", str(tmp_path / "body.json"), "--webhook", wid], stdout=out) == 0
    assert out.getvalue().startswith("verdict   VALID (valid)\n")
    out = io.StringIO()
    assert main([*base, "--body", str(tmp_path / "body-nl.json"), "--secret", SECRET, "--json"], stdout=out) == 1
    doc = json.loads(out.getvalue())
    assert doc["cause"] == "body_whitespace" and doc["valid"] is False
    out = io.StringIO()
    assert main([*base, "--body", str(tmp_path / "body.json"), "--secret", "wrong-secret-0123"], stdout=out) == 1
    assert f"INVALID (other_webhook_secret)\nwhy       the request was signed with the secret of webhook {wid}" in out.getvalue()
    assert SECRET not in out.getvalue()
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        main([*base, "--body", str(tmp_path / "body.json"), "--secret", "s", "--webhook", wid], stderr=err)
    assert exit_.value.code == 2
    err = io.StringIO()
    assert main([*base, "--body", str(tmp_path / "nope.json"), "--secret", SECRET], stdout=io.StringIO(), stderr=err) == 2


# -- replay ----------------------------------------------------------------------------------------


def test_replay_resends_the_same_bytes_re_signed_and_links_the_rows(sim):
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("R", rx.url, [ACT], secret=SECRET)
        first = sim.simulate(wh, ACT, seed=1)
        rr = sim.replay(first.history_id)
        original, again = rx.wait_for(2)
    assert rr.result.delivered and again.verification.ok
    assert again.body == original.body
    assert again.header("x-webhook-signature") == sign(SECRET, again.body, again.header("x-webhook-timestamp"))["x-webhook-signature"]
    row = sim.history_row(rr.result.history_id)
    assert row["replay_of"] == first.history_id and row["request_body"] == original.body
    assert row["event_id"] == first.event_id
    assert (rr.mode, rr.edited, rr.original_id) == ("re-signed", False, first.history_id)
    diff = rr.diff
    assert list(diff.columns) == ["original", "replay", "same"]
    assert diff.loc["http_status"].tolist() == ["200", "200", True]
    assert diff.loc["request_body", "same"] and diff.loc["response_body", "same"]


def test_replay_with_the_original_timestamp_tests_replay_protection(sim):
    with Receiver(SECRET, replay_protection=True) as rx:
        wh = sim.create_webhook("R", rx.url, [ACT], secret=SECRET)
        first = sim.simulate(wh, ACT, seed=1)
        rr = sim.replay(first.history_id, original_timestamp=True)
        fresh = sim.replay(first.history_id)
    assert (rr.result.http_status, fresh.result.http_status) == (409, 200)
    assert rr.result.request_headers == first.request_headers  # byte for byte the recorded headers
    diff = rr.diff
    assert diff.loc["x-webhook-signature", "same"] and not diff.loc["http_status", "same"]
    assert "replayed request" in diff.loc["response_body", "replay"]
    assert sim.history()["replay_of"].tolist()[1:] == [first.history_id, first.history_id]


def test_edit_then_replay(sim):
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("R", rx.url, [ACT], secret=SECRET)
        first = sim.simulate(wh, ACT, seed=1)
        rr = sim.replay(first.history_id, overrides={"data.activity.workMode": False})
        req = rx.wait_for(2)[-1]
    assert rr.edited and rr.result.delivered and req.verification.ok
    assert json.loads(req.body)["data"]["activity"]["workMode"] is False
    assert rr.result.event_id != first.event_id
    assert not rr.diff.loc["request_body", "same"]
    with pytest.raises(ValidationError, match="original_timestamp"):
        sim.replay(first.history_id, original_timestamp=True, overrides=["data.activity.workMode=false"])
    with pytest.raises(ValidationError, match="nmae"):
        sim.replay(first.history_id, overrides={"data.nmae": 1})


def test_replay_uses_the_webhook_as_it_is_now(sim):
    with Receiver(SECRET) as old, Receiver("the-new-secret-0123456789") as new:
        wh = sim.create_webhook("R", old.url, [ACT], secret=SECRET)
        first = sim.simulate(wh, ACT, seed=1)
        sim.update_webhook(wh, url=new.url, secret="the-new-secret-0123456789")
        rr = sim.replay(first.history_id)
        assert rr.result.delivered and new.wait_for(1)[0].verification.ok
        sim.delete_webhook(wh)
        gone = sim.replay(first.history_id)
    assert gone.result.error == "Webhook not found"
    assert sim.history_row(gone.result.history_id)["replay_of"] == first.history_id
    with pytest.raises(ValidationError, match="no recorded signature"):
        sim.replay(gone.result.history_id, original_timestamp=True)
    with pytest.raises(NotFoundError):
        sim.replay(9999)


def test_cli_replay(sim, store_path):
    with Receiver(SECRET, replay_protection=True) as rx:
        wh = sim.create_webhook("R", rx.url, [ACT], secret=SECRET)
        first = sim.simulate(wh, ACT, seed=1)
        out = io.StringIO()
        code = main(["--store", str(store_path), "replay", str(first.history_id), "--set", "data.activity.workMode=false"], stdout=out)
        assert code == 0 and "re-signed, edited" in out.getvalue() and "request_body" in out.getvalue()
        out = io.StringIO()
        code = main(["--store", str(store_path), "replay", str(first.history_id), "--original-timestamp", "--json"], stdout=out)
    doc = json.loads(out.getvalue())
    assert code == 1 and doc["result"]["http_status"] == 409 and doc["replay_of"] == first.history_id
    assert doc["diff"]["http_status"] == {"original": "200", "replay": "409", "same": False}


def counting(pad: int = 250):
    """A server answering ``{"pad": "x" * pad, "n": <how many requests it had before>}``: answers
    that differ only past the first 200 characters."""

    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        body = json.dumps({"pad": "x" * pad, "n": len(server.requests) - 1}).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    return run


def test_replay_diff_compares_whole_answers_not_what_is_shown(sim, store_path):
    """The user's report: answers equal in their first 200 characters, bodies of equal length,
    were said to be the same. ``same`` compares the full values; a cell says where they differ."""
    with RawServer(counting()) as server:
        wh = sim.create_webhook("Counting", server.url, [ACT], secret=SECRET)
        first = sim.simulate(wh, ACT, seed=1)
        rr = sim.replay(first.history_id)
        out = io.StringIO()
        assert main(["--store", str(store_path), "replay", str(first.history_id), "--json"], stdout=out) == 0
        doc = json.loads(out.getvalue())
        other = "0b5c1e7a-2f4d-4c8e-9a6b-3d2f1e0c9b8a"
        edited = sim.replay(first.history_id, overrides={"data.user.userId": other})
        text = io.StringIO()
        assert main(["--store", str(store_path), "replay", str(first.history_id), "--set",
                     f"data.user.userId=\"{other}\""], stdout=text) == 0
    assert [json.loads(r.body)["data"]["user"]["userId"] for r in server.requests[-2:]] == [other] * 2
    original = sim.history_row(first.history_id)
    assert original["response_body"][:200] == rr.result.response_body[:200] != ""
    diff = rr.diff
    assert not diff.loc["response_body", "same"] and diff.loc["request_body", "same"]
    assert diff.loc["response_body", "original"].endswith('"n": 0} (differs at character 267 of 269)')
    assert diff.loc["response_body", "replay"].endswith('"n": 1} (differs at character 267 of 269)')
    assert diff.loc["request_body"].tolist() == [f"{len(original['request_body'])} bytes"] * 2 + [True]
    assert doc["diff"]["response_body"]["same"] is False and "differs at character 267" in doc["diff"]["response_body"]["replay"]
    assert doc["diff"]["request_body"]["same"] is True
    # an edited body of the same length: not the same, and where it differs is named
    sent = edited.result.request_body
    assert len(sent) == len(original["request_body"]) and sent != original["request_body"]
    at = next(i for i, (a, b) in enumerate(zip(original["request_body"], sent, strict=True)) if a != b)
    diff = edited.diff
    assert not diff.loc["request_body", "same"]
    assert diff.loc["request_body"].tolist()[:2] == [f"{len(sent)} bytes, differs at byte {at}"] * 2
    rows = {line.split()[0]: line for line in text.getvalue().splitlines() if line.split()}
    assert rows["request_body"].split()[-1] == "no" and f"differs at byte {at}" in rows["request_body"]
    assert rows["response_body"].split()[-1] == "no"
    assert no_secret_in(out.getvalue() + text.getvalue() + diff.to_string(), SECRET)


def test_compare_answers_decides_on_values_and_marks_every_shortened_cell():
    """Every field: values compared in full (a status as a number, headers looked up whatever
    their case), a cell that reads like another's or shows less than its value says "differs"."""
    long = "y" * 300
    base = dict(result="Delivered", status=200, error=None, detail="probe x: Delivered: 200 OK",
                response_headers={"content-type": "application/json"}, response_body=long + "a",
                request_headers={"x-webhook-timestamp": "1", "x-webhook-signature": "s" * 250 + "1"}, body=b"{}")
    a = _view(**base)
    b = _view(**{**base, "status": "200", "detail": "Delivered: 200 OK", "response_body": long + "b",
                 "response_headers": {"Content-Type": "application/json"},
                 "request_headers": {"X-Webhook-Timestamp": "1", "X-Webhook-Signature": "s" * 250 + "2"},
                 "body": b"[]"})
    c = _view(**{**base, "response_body": "-", "body": None})
    d = _view(**{**base, "response_body": None})
    frame = compare_answers({"a": a, "b": b})
    assert frame["same"].to_dict() == {
        "result": True, "http_status": True, "error": True, "detail": True, "response_content_type": True,
        "response_body": False, "x-webhook-timestamp": True, "x-webhook-signature": False, "request_body": False,
    }
    assert frame.loc["response_body", "a"].endswith("ya (differs at character 300 of 301)")
    assert frame.loc["x-webhook-signature", "b"].endswith("s2 (differs at character 250 of 251)")
    assert frame.loc["request_body"].tolist() == ["2 bytes, differs at byte 0", "2 bytes, differs at byte 0", False]
    assert frame.loc["http_status"].tolist() == ["200", "200", True]
    assert not compare_answers({"a": a, "odd": _view(**{**base, "status": "²"})}).loc["http_status", "same"]
    # a body of the text "-" is not "no body"; no body is not an empty one
    frame = compare_answers({"c": c, "d": d})
    assert frame.loc["response_body"].tolist() == ["- (differs)", "-", False]
    assert frame.loc["request_body"].tolist() == ["-", "2 bytes, differs", False]
    assert compare_answers({"a": a, "again": _view(**base)})["same"].all()


# -- import a captured delivery ----------------------------------------------------------------------


def raw_http(headers, body: bytes, eol: bytes = b"\r\n") -> bytes:
    head = b"POST /webhooks/trackpilots HTTP/1.1" + eol
    head += b"".join(f"{k}: {v}".encode("latin-1") + eol for k, v in headers)
    return head + eol + body


def test_import_raw_http_sends_it_as_captured_and_re_signed(sim, tmp_path):
    headers, body = captured(sim)
    capture = tmp_path / "capture.http"
    capture.write_bytes(raw_http([("X-Forwarded-For", "203.0.113.9"), *headers], body) + b"\n")
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Target", rx.url, [ACT], secret=SECRET, id="target")
        imp = sim.import_delivery(capture, wh)
        as_captured, resigned = rx.wait_for(2)
    assert imp.capture.source == "http" and imp.capture.body == body
    assert imp.capture.notes == ("1 white space after Content-Length (%d) dropped" % len(body),)
    assert imp.explanation.valid
    assert imp.as_captured.delivered and imp.resigned.delivered
    assert as_captured.header("x-webhook-signature") == dict(headers)["x-webhook-signature"]
    assert resigned.verification.ok and resigned.body == body
    assert resigned.header("x-forwarded-for") is None and resigned.header("user-agent") == dict(headers)["user-agent"]
    assert sim.history_row(imp.resigned.history_id)["replay_of"] == imp.as_captured.history_id
    compare = imp.compare
    assert list(compare.columns) == ["as captured", "re-signed", "same"]
    assert compare.loc["http_status"].tolist() == ["200", "200", True]


def test_import_a_stale_capture_from_json_with_its_recorded_response(sim, tmp_path):
    body = json.dumps({"event": ACT, "version": "v1", "timestamp": 1_769_592_774_119, "simulation": True}).encode()
    headers = sign(SECRET, body, 1_769_592_774_119)
    capture = tmp_path / "capture.json"
    capture.write_text(json.dumps({"headers": headers, "body": body.decode(), "response": {"status": 500, "body": "boom"}}))
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Target", rx.url, [ACT], secret=SECRET)
        imp = sim.import_delivery(capture, wh.id)
    assert imp.explanation.cause == "stale_timestamp"
    assert imp.as_captured.http_status == 401 and imp.resigned.http_status == 200
    compare = imp.compare
    assert list(compare.columns) == ["captured", "as captured", "re-signed", "same"]
    assert compare.loc["http_status"].tolist() == ["500", "401", "200", False]
    assert compare.loc["response_body", "captured"] == "boom"


def test_import_compare_decides_on_whole_answers(sim, store_path, tmp_path):
    """The captured response, the answer as captured and the re-signed one differ only past 200
    characters: not the same, and each cell says where; a status written "200" is 200."""
    body = json.dumps({"event": ACT, "version": "v1", "timestamp": now_ms(), "simulation": True}).encode()
    logged = json.dumps({"pad": "x" * 250, "n": 7})
    capture = tmp_path / "capture.json"
    capture.write_text(json.dumps({"headers": sign(SECRET, body, now_ms()), "body": body.decode(),
                                   "response": {"status": "200", "body": logged,
                                                "headers": {"Content-Type": "application/json"}}}))
    with RawServer(counting()) as server:
        wh = sim.create_webhook("Counting", server.url, [ACT], secret=SECRET)
        imp = sim.import_delivery(capture, wh)
        out = io.StringIO()
        assert main(["--store", str(store_path), "import", str(capture), "--webhook", wh.id, "--json"], stdout=out) == 0
    compare = imp.compare
    assert compare.loc["http_status"].tolist() == ["200", "200", "200", True]
    assert compare.loc["response_content_type", "same"] and compare.loc["request_body", "same"]
    assert not compare.loc["response_body", "same"]
    for column, n in (("captured", 7), ("as captured", 0), ("re-signed", 1)):
        assert compare.loc["response_body", column].endswith(f'"n": {n}}} (differs at character 267 of 269)')
    doc = json.loads(out.getvalue())
    assert doc["compare"]["response_body"]["same"] is False and no_secret_in(out.getvalue(), SECRET)


def test_import_a_curl_command_with_bash_quoting(sim, tmp_path):
    body = '{"event":"desktop.app_tracking.captured","data":[{"app":{"name":"it\'s Zoë"}}],"simulation":true}'.encode()
    h = sign(OTHER, body, now_ms())
    quoted = body.decode().replace("'", "\\'").replace("ë", "\\xc3\\xab")
    command = (
        f"curl 'https://hooks.example.com/tp' \\\n  -H 'content-type: application/json' \\\n"
        f"  -H 'x-webhook-signature: {h['x-webhook-signature']}' -H 'x-webhook-timestamp: {h['x-webhook-timestamp']}' \\\n"
        f"  --data-raw $'{quoted}' --compressed"
    )
    cap = parse_capture(command)
    assert (cap.source, cap.method, cap.url, cap.body) == ("curl", "POST", "https://hooks.example.com/tp", body)
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Target", rx.url, [APP], secret=SECRET)
        imp = sim.import_delivery(command, wh, send_as_captured=False)
        req = rx.wait_for(1)[0]
    assert imp.as_captured is None and imp.resigned.delivered and req.verification.ok and req.body == body
    assert imp.explanation.cause == "wrong_secret"  # signed with a secret this store does not know


def test_parse_capture_formats(sim, tmp_path):
    body = b'{"event":"desktop.activity_tracking.captured"}'
    lf = parse_capture(raw_http([("Host", "x.example"), ("Content-Length", str(len(body)))], body, eol=b"\n"))
    assert (lf.body, lf.url, lf.header("host")) == (body, "https://x.example/webhooks/trackpilots", "x.example")
    chunked = b"POST /h HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n" + body[:5] + b"\r\n" + (
        f"{len(body) - 5:x}".encode() + b"\r\n" + body[5:] + b"\r\n0\r\n\r\n"
    )
    assert parse_capture(chunked).body == body
    (tmp_path / "body.json").write_bytes(body + b"\n")
    for named in ("--data-binary @body.json", "-d @body.json"):  # a file a capture names is never read
        with pytest.raises(ValidationError, match="never reads files a capture names"):
            parse_capture(f"curl -X POST https://e.example/h -H 'a: b' {named}", base_dir=tmp_path)
    literal = parse_capture("curl https://e.example/h -H 'a: b' --data-raw @body.json", base_dir=tmp_path)
    assert literal.body == b"@body.json"  # --data-raw is literal, as in curl
    listed = parse_capture(json.dumps([{"request_headers": json.dumps({"a": "b"}), "payload": body.decode()}]))
    assert (listed.headers, listed.body) == ((("a", "b"),), body)
    parsed_body = parse_capture(json.dumps({"headers": [["a", "b"]], "body": {"event": "x"}}))
    assert parsed_body.body == b'{"event":"x"}' and "as JSON.stringify writes it" in parsed_body.notes[0]
    for bad in (b"", b"just some words", json.dumps({"body": "x"}), "curl https://e.example -F a=b"):
        with pytest.raises(ValidationError):
            parse_capture(bad)


def test_import_refuses_what_is_not_a_trackpilots_event(sim):
    wh = sim.create_webhook("T", "https://example.com/h", [ACT], secret=SECRET)
    with pytest.raises(ValidationError, match="not a Trackpilots event"):
        sim.import_delivery(b"POST / HTTP/1.1\r\nContent-Type: text/plain\r\n\r\nhello", wh)
    assert len(sim.history()) == 0


def test_cli_import_from_a_file_and_stdin(sim, store_path, tmp_path, monkeypatch):
    headers, body = captured(sim)
    (tmp_path / "cap.http").write_bytes(raw_http(headers, body))
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Target", rx.url, [ACT], secret=SECRET, id="target")
        out = io.StringIO()
        assert main(["--store", str(store_path), "import", str(tmp_path / "cap.http"), "--webhook", wh.id], stdout=out) == 0
        assert "signature VALID for webhook target (valid)" in out.getvalue()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw_http(headers, body))))
        out = io.StringIO()
        argv = ["--store", str(store_path), "import", "-", "--webhook", wh.id, "--resigned-only", "--json"]
        assert main(argv, stdout=out) == 0
    doc = json.loads(out.getvalue())
    assert doc["as_captured"] is None and doc["resigned"]["http_status"] == 200
    assert doc["capture"]["event"] == ACT and doc["explanation"]["cause"] == "valid"


# -- copy as curl / httpx -------------------------------------------------------------------------------


def run_bash(script: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "WEBHOOK_SECRET"}
    return subprocess.run(["bash", "-c", script], env={**clean, **env}, capture_output=True, text=True, timeout=30)


@needs_shell
def test_generated_curl_verifies_against_the_embedded_receiver(sim):
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("C", rx.url, [ACT], secret=SECRET)
        r = sim.simulate(wh, ACT, seed=1, overrides={"data.user.userId": "it's Zoë — 😀"})
        script = sim.as_curl(r.history_id)
        assert SECRET not in script and "$WEBHOOK_SECRET" in script
        done = run_bash(script, WEBHOOK_SECRET=SECRET)
        req = rx.wait_for(2)[-1]
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("HTTP/1.1 200 OK")
        assert req.verification.ok, req.verification.reason
        assert req.body == rx.requests[0].body  # the exact bytes, quote and emoji included

        missing = run_bash(script)
        assert missing.returncode != 0 and "export WEBHOOK_SECRET" in missing.stderr

        revealed = sim.as_curl(r.history_id, reveal_secret=True)
        assert SECRET in revealed and "revealed on purpose" in revealed
        assert run_bash(revealed).returncode == 0 and rx.wait_for(3)[-1].verification.ok

        exact = sim.as_curl(r.history_id, exact=True)
        assert r.signature in exact and "WEBHOOK_SECRET" not in exact
        assert run_bash(exact).returncode == 0
        req = rx.wait_for(4)[-1]
        assert req.verification.ok and req.header("x-webhook-signature") == r.signature


@needs_shell
def test_generated_curl_for_a_preview_and_a_seconds_configuration(tmp_path):
    with Simulator(tmp_path / "s.sqlite3", delivery=DeliveryConfig(timestamp_unit="s")) as sim, Receiver(
        SECRET, timestamp_unit="s"
    ) as rx:
        wh = sim.create_webhook("C", rx.url, [ACT], secret=SECRET)
        p = sim.preview(wh, ACT, seed=2)
        script = sim.as_curl(p)
        assert 'TS="$(date +%s)"' in script
        assert run_bash(script, WEBHOOK_SECRET=SECRET).returncode == 0
        req = rx.wait_for(1)[0]
        assert req.verification.ok and req.body == p.body
        with pytest.raises(ValidationError):
            sim.as_curl(p, exact=True)
    b64 = Simulator(tmp_path / "b.sqlite3", delivery=DeliveryConfig(signature_encoding="base64"))
    assert "-binary | base64" in b64.as_curl(b64.preview(b64.create_webhook("B", "https://e.example/h", [ACT]), ACT))
    b64.close()


def test_generated_httpx_snippet_verifies(sim, tmp_path):
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("H", rx.url, [ACT], secret=SECRET)
        r = sim.simulate(wh, ACT, seed=1)
        code = sim.as_httpx(r.history_id)
        assert SECRET not in code
        (tmp_path / "send.py").write_text(code, encoding="utf-8")
        env = {**os.environ, "WEBHOOK_SECRET": SECRET}
        done = subprocess.run([sys.executable, str(tmp_path / "send.py")], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("200 ")
        req = rx.wait_for(2)[-1]
        assert req.verification.ok and req.body == rx.requests[0].body
        (tmp_path / "exact.py").write_text(sim.as_httpx(r.history_id, exact=True), encoding="utf-8")
        done = subprocess.run([sys.executable, str(tmp_path / "exact.py")], capture_output=True, text=True, timeout=30)
        assert done.stdout.startswith("200 ") and rx.wait_for(3)[-1].header("x-webhook-signature") == r.signature


def test_curl_exact_output_imports_back(sim):
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("C", rx.url, [ACT], secret=SECRET)
        r = sim.simulate(wh, ACT, seed=1)
    cap = parse_capture(sim.as_curl(r.history_id, exact=True))
    assert cap.body == r.payload.encode() and dict(cap.headers) == r.request_headers and cap.url == wh.url


@needs_shell
def test_cli_curl(sim, store_path):
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("C", rx.url, [ACT], secret=SECRET, id="cw")
        r = sim.simulate(wh, ACT, seed=1)
        out = io.StringIO()
        assert main(["--store", str(store_path), "curl", str(r.history_id)], stdout=out) == 0
        assert run_bash(out.getvalue(), WEBHOOK_SECRET=SECRET).returncode == 0
        out = io.StringIO()
        assert main(["--store", str(store_path), "curl", "--preview", "cw", ACT, "--seed", "3", "--reveal-secret"], stdout=out) == 0
        assert SECRET in out.getvalue() and run_bash(out.getvalue()).returncode == 0
        assert all(req.verification.ok for req in rx.wait_for(3))
    out = io.StringIO()
    assert main(["--store", str(store_path), "curl", str(r.history_id), "--httpx"], stdout=out) == 0
    assert "import httpx" in out.getvalue()
    err = io.StringIO()
    assert main(["--store", str(store_path), "curl"], stdout=io.StringIO(), stderr=err) == 2
    assert "give a history ROW or --preview" in err.getvalue()


# -- receiver snippets -----------------------------------------------------------------------------------


@contextlib.contextmanager
def running(lang: str, tmp_path: Path):
    path = tmp_path / ("receiver.py" if lang == "python" else "receiver.js")
    path.write_text(snippet(lang), encoding="utf-8")
    cmd = [sys.executable, str(path)] if lang == "python" else [shutil.which("node"), str(path)]
    env = {**os.environ, "PORT": "0", "TRACKPILOTS_WEBHOOK_SECRET": SECRET}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, f"the {lang} receiver did not start: {proc.stderr.read() if proc.poll() is not None else ''}"
        port = json.loads(proc.stdout.readline())["listening"]
        yield f"http://127.0.0.1:{port}/webhooks/trackpilots"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


LANGS = [
    "python",
    pytest.param("node", marks=pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")),
]


@pytest.mark.parametrize("lang", LANGS)
def test_snippet_accepts_a_simlib_send_and_rejects_a_tampered_one(sim, tmp_path, lang):
    with running(lang, tmp_path) as url:
        wh = sim.create_webhook(f"{lang} snippet", url, ALL_EVENTS, secret=SECRET)
        for event in ALL_EVENTS:
            r = sim.simulate(wh, event, seed=4)
            assert (r.http_status, json.loads(r.response_body)) == (200, {"ok": True, "event": event, "simulation": True})
        frame = sim.check_receiver(wh, seed=5)
    v = dict(zip(frame["variant"], frame["verdict"]))
    assert v["body-one-byte-changed"] == "PASS"  # the tampered body was refused
    # the snippets serve one organisation: accepting an unknown one is only a note; every same-JSON
    # variant passes (they verify the raw bytes, not a re-serialisation)
    assert {k for k, verdict in v.items() if verdict != "PASS"} == {"unknown-organisation"}, frame[
        ["variant", "observed_status", "explanation"]]


def _signed_post(url: str, body: bytes) -> httpx.Response:
    headers = {**sign(SECRET, body, int(time.time() * 1000)), "Content-Type": "application/json"}
    return httpx.post(url, content=body, headers=headers, timeout=30)


@pytest.mark.parametrize("lang", LANGS)
def test_snippet_survives_hostile_bodies(tmp_path, lang):
    """The generated receivers are what customers copy: a body too large is refused before it is
    read (413), a signed body that is not JSON or is nested too deep for the parser gets 400, and
    the receiver still answers the next real request (a Node receiver whose JSON.parse threw in
    an event handler would have exited)."""
    with running(lang, tmp_path) as url:
        host, port = url.split("//")[1].split("/")[0].split(":")
        with socket.create_connection((host, int(port)), timeout=30) as s:  # announces 100 MB, sends none
            s.sendall(b"POST /webhooks/trackpilots HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
            assert s.recv(1024).split(b"\r\n", 1)[0].split(b" ")[1] == b"413"
        assert httpx.post(url, content=b"x" * (6 * 1024 * 1024), timeout=30).status_code == 413
        deep = b"[" * 200_000 + b"]" * 200_000
        for body in (deep, b"not json", b"[1, 2]"):
            r = _signed_post(url, body)
            assert (r.status_code, r.json()["reason"]) == (400, "body is not a JSON object"), body[:20]
        ok = _signed_post(url, b'{"event": "desktop.app_tracking.captured", "simulation": true}')
        assert (ok.status_code, ok.json()["ok"]) == (200, True)


def test_snippets_cli_prints_the_same_sources():
    for lang in ("python", "node"):
        out = io.StringIO()
        assert main(["snippets", "--lang", lang], stdout=out) == 0
        assert out.getvalue() == snippet(lang)
    out = io.StringIO()
    assert main(["snippets"], stdout=out) == 0
    assert snippet("python") in out.getvalue() and snippet("node") in out.getvalue()
    with pytest.raises(ValidationError):
        snippet("ruby")
