"""The Import tab: a captured request (raw HTTP, JSON, curl), pasted or uploaded, sent to a
webhook as captured and re-signed with its secret on a worker thread; both answers compared.
Against the embedded receiver on 127.0.0.1. Files a capture names are never read."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime

import pytest

from simlib import Simulator, sign
from simlib.receiver import Receiver
from simlib.ui import Explorer
from tests.helpers import ACT
from tests.ui.helpers import text_of

BODY = b'{"event":"desktop.activity_tracking.captured","timestamp":1760000000000,"simulation":true,"data":{}}'


def raw_http(headers: dict[str, str], body: bytes = BODY, path: str = "/webhooks/trackpilots") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: customer.example\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def compare_rows(html_value: str) -> dict[str, str]:
    """field -> the visible text of its row in the comparison table."""
    out = {}
    for row in re.findall(r'<tr class="simlib-compare-row".*?</tr>', html_value):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        out[text_of(cells[0])] = " | ".join(text_of(c) for c in cells[1:])
    return out


@pytest.fixture
def demo_explorer(sim: Simulator, make_explorer):
    explorer = make_explorer(sim, demo=True)
    return explorer, explorer.tools["Import"], sim.get_webhook("demo").secret.reveal()


def test_a_captured_raw_http_request_is_sent_both_ways_and_both_answers_are_shown(sim, demo_explorer):
    explorer, panel, secret = demo_explorer
    captured = raw_http(sign(secret, BODY, sim.now_ms()))  # a delivery the receiver never saw
    panel.capture.value = captured.decode()
    assert panel.picker.value == "demo"
    panel.run.click()
    worker = panel.job.thread  # off the main thread: the click handed the import to a worker
    assert worker is not None and worker.name == "simlib-import" and worker is not threading.current_thread()
    assert panel.wait(30) and panel.last_import is not None
    html_value = panel.result.value
    text = text_of(html_value)
    assert "Imported capture" in text and "http capture, POST" in text
    assert "as captured" in text and "re-signed" in text
    rows = compare_rows(html_value)
    assert rows["http_status"].startswith("200 | 200")
    assert "differs" in rows["x-webhook-signature"] and "same" in rows["request_body"]
    assert "Captured signature for webhook demo: VALID" in text
    got = explorer.receiver.requests[-2:]
    assert [r.body for r in got] == [BODY, BODY] and all(r.verified for r in got)
    assert got[0].header("host") != "customer.example"  # transport headers of the capture dropped
    assert re.search(r"Recorded in the history: as captured #\d+, re-signed #\d+", text)
    assert text_of(panel.status.value).startswith("Done in")


def test_a_capture_signed_with_another_secret_fails_as_captured_and_passes_re_signed(sim, demo_explorer):
    explorer, panel, _secret = demo_explorer
    panel.capture.value = raw_http(sign("the-customers-old-secret-0123", BODY, sim.now_ms())).decode()
    panel.run.click()
    assert panel.wait(30)
    rows = compare_rows(panel.result.value)
    assert rows["http_status"].startswith("401 | 200") and "differs" in rows["http_status"]
    assert "Captured signature for webhook demo: INVALID" in text_of(panel.result.value)


def test_an_uploaded_capture_is_sent_byte_for_byte(sim, demo_explorer):
    explorer, panel, secret = demo_explorer
    body = BODY.replace(b'"data":{}', b'"data":{"note":"caf\xc3\xa9\\r\\n"}')
    data = raw_http(sign(secret, body, sim.now_ms()), body)
    panel.upload.value = ({"name": "capture.txt", "type": "text/plain", "size": len(data), "content": memoryview(data),
                           "last_modified": datetime.now(UTC)},)
    assert "Loaded capture.txt" in text_of(panel.result.value)
    assert panel.source() == data and "\r\n" in panel.capture.value
    panel.as_captured.value = False
    panel.run.click()
    assert panel.wait(30)
    assert explorer.receiver.requests[-1].body == body and explorer.receiver.requests[-1].verified
    text = text_of(panel.result.value)
    assert "Not sent as captured: you chose not to" in text  # it had a signature: skipped on purpose
    assert "as captured" not in list(panel.last_import.compare.columns)
    panel.capture.value = panel.capture.value.replace("caf", "CAF")
    assert b"CAF" in panel.source()  # edited text wins over the upload


def test_an_uploaded_capture_that_is_not_utf8_is_refused_not_mangled(sim, demo_explorer):
    explorer, panel, secret = demo_explorer
    body = BODY.replace(b'"data":{}', b'"data":{"note":"caf\xe9"}')  # Latin-1: not a Trackpilots body
    data = raw_http(sign(secret, body, sim.now_ms()), body)
    panel.upload.value = ({"name": "latin1.txt", "type": "text/plain", "size": len(data), "content": memoryview(data),
                           "last_modified": datetime.now(UTC)},)
    assert panel.source() == data  # the exact bytes, although the text box shows them decoded
    before = explorer.receiver.count
    panel.run.click()
    assert panel.wait(30)
    assert text_of(panel.result.value).startswith("Could not import the capture:") and explorer.receiver.count == before


def test_a_json_capture_without_a_signature_is_only_re_signed(sim, demo_explorer):
    explorer, panel, _secret = demo_explorer
    panel.capture.value = json.dumps({"headers": {"content-type": "application/json"}, "body": BODY.decode()})
    panel.run.click()
    assert panel.wait(30)
    text = text_of(panel.result.value)
    assert "json capture" in text and "Not sent as captured: the capture has no signature" in text
    assert explorer.receiver.requests[-1].verified


def test_a_curl_capture_naming_a_local_file_is_refused_and_the_file_never_read(tmp_path, sim, demo_explorer):
    explorer, panel, _secret = demo_explorer
    private = tmp_path / "private.json"
    private.write_text('{"event":"desktop.activity_tracking.captured","leaked":"PRIVATE-MARKER"}')
    before = explorer.receiver.count
    panel.capture.value = f"curl -X POST http://127.0.0.1:9/hook -H 'content-type: application/json' -d @{private}"
    panel.run.click()
    assert panel.wait(30)
    text = text_of(panel.result.value)
    assert text.startswith("Could not import the capture:") and "Traceback" not in text
    assert explorer.receiver.count == before
    assert "PRIVATE-MARKER" not in panel.result.value


def test_bad_captures_and_missing_choices_are_one_readable_line(sim: Simulator, make_explorer):
    explorer = Explorer(sim)
    try:
        panel = explorer.tools["Import"]
        panel.capture.value = "POST / HTTP/1.1\r\n\r\n{}"
        panel.run.click()
        assert "Pick a webhook to send to first" in text_of(panel.result.value)
    finally:
        explorer.close()
    with Receiver() as rx:
        sim.create_webhook("Plain", rx.url, [ACT])
        explorer = make_explorer(sim)
        panel = explorer.tools["Import"]
        panel.run.click()
        assert "Paste a captured request" in text_of(panel.result.value)
        panel.capture.value = "POST /hook HTTP/1.1\r\ncontent-type: text/plain\r\n\r\nnot json"
        panel.run.click()
        assert panel.wait(30)
        text = text_of(panel.result.value)
        assert text.startswith("Could not import the capture:") and "Trackpilots event" in text
        assert rx.count == 0 and not panel.run.disabled


def test_a_capture_signed_by_another_pages_demo_webhook_does_not_name_it(sim, demo_explorer):
    """Several pages on one store: the import's signature explanation tries only this page's
    webhooks' secrets, so another page's demo webhook is never named (the Python API, which
    tries every webhook's, does name it)."""
    from simlib.demo import DEMO_WEBHOOK_NAME
    from simlib.receiver import DEFAULT_PATH

    explorer, panel, _secret = demo_explorer
    other = sim.create_webhook(DEMO_WEBHOOK_NAME, f"http://127.0.0.1:1{DEFAULT_PATH}", [ACT],
                               id="demo-other-page", secret="another-pages-secret-0123456789")
    headers = sign("another-pages-secret-0123456789", BODY, sim.now_ms())
    assert other.id in json.dumps([list(c) for c in sim.explain_signature(list(headers.items()), BODY).checks])
    panel.capture.value = raw_http(headers).decode()
    panel.run.click()
    assert panel.wait(30)
    text = text_of(panel.result.value)
    assert "Captured signature for webhook demo: INVALID" in text and other.id not in text, text
    assert other.id not in json.dumps([list(c) for c in panel.last_import.explanation.checks])
