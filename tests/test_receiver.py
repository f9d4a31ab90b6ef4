"""The embedded receiver, driven over real sockets (httpx, raw bytes) and by the Simulator."""

from __future__ import annotations

import json
import random
import socket
import time

import httpx
import pytest

from simlib import SecretKeyError, Simulator, sign, webhook_secrets
from simlib.core.signing import now_ms
from simlib.receiver import Receiver
from tests.helpers import ACT, ALL_EVENTS, APP, free_port

SECRET = "receiver-test-secret-0123456789"
BODY = b'{"event":"desktop.activity_tracking.captured","data":{"activity":{"workMode":true}},"simulation":true}'


def signed_headers(body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return sign(secret, body, now_ms())


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, read from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def raw_request(method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """An HTTP/1.1 request; with a ``Host`` header first unless ``headers`` has one (RFC 9112
    §3.2: the receiver answers 400 to an HTTP/1.1 request without it)."""
    if not any(k.lower() == "host" for k, _ in headers):
        headers = [("Host", "127.0.0.1"), *headers]
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def connect(rx: Receiver) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", rx.port), timeout=5)
    return sock


# -- recording ----------------------------------------------------------------------------------


def test_records_raw_header_names_order_and_body():
    h = signed_headers()
    headers = [
        ("Host", "127.0.0.1"),
        ("X-Webhook-Timestamp", h["x-webhook-timestamp"]),
        ("x-WEBHOOK-signature", h["x-webhook-signature"]),
        ("Content-Type", "application/json"),
        ("X-Custom-CamelCase", "kept"),
        ("Content-Length", str(len(BODY))),
    ]
    with Receiver(SECRET) as rx, connect(rx) as sock:
        sock.sendall(raw_request("POST", "/webhooks/trackpilots?x=1", headers, BODY))
        status, _, body = read_response(sock)
        req = rx.wait_for(1)[0]
    assert status == 200
    assert list(req.headers) == headers  # names exactly as sent, in order
    assert req.header("x-custom-camelcase") == "kept"
    assert req.header("X-WEBHOOK-SIGNATURE") == h["x-webhook-signature"]
    assert req.body == BODY
    assert req.method == "POST" and req.path == "/webhooks/trackpilots?x=1" and req.http_version == "HTTP/1.1"
    assert req.verification.ok and req.verified is True
    assert req.status == 200
    assert req.event_type == "desktop.activity_tracking.captured"
    assert json.loads(body) == {"received": True, "verified": True, "event": "desktop.activity_tracking.captured"}


def test_verdict_and_reason_are_recorded_for_a_bad_signature():
    h = signed_headers(secret="some-other-secret-entirely")
    with Receiver(SECRET) as rx:
        resp = httpx.post(rx.url, content=BODY, headers=h)
        req = rx.wait_for(1)[0]
    assert resp.status_code == 401
    assert resp.json()["verified"] is False
    assert resp.json()["reason"] == "no signature matched"
    assert req.verification.ok is False
    assert req.verification.code == "no_match"
    assert req.verification.reason == "no signature matched"
    assert req.status == 401


def test_missing_headers_are_rejected_with_the_reason():
    with Receiver(SECRET) as rx:
        resp = httpx.post(rx.url, content=BODY, headers={"content-type": "application/json"})
        req = rx.wait_for(1)[0]
    assert resp.status_code == 401
    assert req.verification.code == "missing_signature"
    assert "x-webhook-signature" in resp.json()["reason"]


def test_timestamp_in_seconds_is_rejected_with_the_reason():
    h = sign(SECRET, BODY, now_ms() // 1000)
    with Receiver(SECRET) as rx:
        resp = httpx.post(rx.url, content=BODY, headers=h)
        req = rx.wait_for(1)[0]
    assert resp.status_code == 401
    assert req.verification.code == "timestamp_in_seconds"
    assert "looks like seconds" in req.verification.reason


def test_reject_invalid_false_answers_the_configured_status_and_keeps_the_verdict():
    h = signed_headers(secret="some-other-secret-entirely")
    with Receiver(SECRET, reject_invalid=False, status=202) as rx:
        resp = httpx.post(rx.url, content=BODY, headers=h)
        req = rx.wait_for(1)[0]
    assert resp.status_code == 202
    assert req.verification.ok is False and req.verification.code == "no_match"
    assert resp.json()["verified"] is False


@pytest.mark.parametrize("event", ["desktop.app_tracking.captured", "x" * 150, None, 7])
def test_the_answer_names_the_event_and_the_verdict(event):
    """The default answer says received, the verdict and the body's event name, whatever its
    length (short names have their answer cached, long ones are written each time)."""
    body = json.dumps({"event": event, "simulation": True}).encode()
    with Receiver(SECRET) as rx:
        good = httpx.post(rx.url, content=body, headers=signed_headers(body))
        unsigned = httpx.post(rx.url, content=body)
        again = httpx.post(rx.url, content=body, headers=signed_headers(body))
    shown = event if isinstance(event, str) else None
    assert good.json() == again.json() == {"received": True, "verified": True, "event": shown}
    assert unsigned.status_code == 401 and unsigned.json()["verified"] is False


def test_several_secrets_during_rotation():
    with Receiver(["old-secret-0123456789", SECRET]) as rx:
        assert httpx.post(rx.url, content=BODY, headers=signed_headers()).status_code == 200
        req = rx.wait_for(1)[0]
    assert req.verification.matched_secret == 1


def test_no_secrets_means_unverified():
    with Receiver() as rx:
        resp = httpx.post(rx.url, content=b"anything", headers={"content-type": "text/plain"})
        req = rx.wait_for(1)[0]
    assert resp.status_code == 200
    assert req.verification is None and req.verified is None


def test_a_secrets_provider_that_finds_none_or_fails_refuses_never_accepts_unverified(tmp_path):
    """A function as ``secrets`` (or ``org_secrets``) promises verification: no secret -> 401
    ``no_secret``, a provider that raises -> 503 ``secrets_unavailable``, with an answer (not a
    dropped connection); a good signature still passes while the provider gives its secret."""

    def broken() -> list[str]:
        raise SecretKeyError("the store's key was rotated by another process")

    def broken_orgs() -> dict[str, list[str]]:
        raise SecretKeyError("the store's key was rotated by another process")

    bad = {"x-webhook-signature": "deadbeef", "x-webhook-timestamp": "1"}
    with Receiver(secrets=lambda: []) as rx:
        resp = httpx.post(rx.url, content=BODY, headers=bad)
        assert resp.status_code == 401 and resp.json()["verified"] is False
        assert rx.wait_for(1)[0].verification.code == "no_secret"
    for options in ({"secrets": broken}, {"org_secrets": broken_orgs}):
        with Receiver(**options) as rx:
            resp = httpx.post(rx.url, content=BODY, headers=signed_headers())
            assert resp.status_code == 503 and resp.json()["verified"] is False
            assert "cannot read the secrets it verifies with: SecretKeyError" in resp.json()["reason"]
            assert rx.wait_for(1)[0].verification.code == "secrets_unavailable"
    with Simulator(tmp_path / "s.db") as sim:  # receive --webhook ID: its webhook deleted meanwhile
        wh = sim.create_webhook("gone", "http://127.0.0.1:9/h", [APP], secret=SECRET)
        with Receiver(secrets=webhook_secrets(sim, wh.id)) as rx:
            assert httpx.post(rx.url, content=BODY, headers=signed_headers()).status_code == 200
            sim.delete_webhook(wh.id)
            resp = httpx.post(rx.url, content=BODY, headers=bad)
            assert resp.status_code in (401, 503) and resp.json()["verified"] is False


# -- configured answers ---------------------------------------------------------------------------


def test_configured_status_delay_and_body():
    with Receiver(SECRET, status=503, delay_ms=300, body="try later", content_type="text/plain") as rx:
        start = time.monotonic()
        resp = httpx.post(rx.url, content=BODY, headers=signed_headers())
        elapsed = time.monotonic() - start
        req = rx.wait_for(1)[0]
    assert resp.status_code == 503
    assert resp.text == "try later"
    assert resp.headers["content-type"] == "text/plain"
    assert elapsed >= 0.3  # the configured delay happened (a lower bound, not a speed check)
    assert req.status == 503 and req.verification.ok


def test_status_can_be_a_function_of_the_request():
    def status(req):
        return 500 if b"fail" in req.body else 204

    with Receiver(status=status) as rx:
        a = httpx.post(rx.url, content=b'{"x":"fail"}')
        b = httpx.post(rx.url, content=b'{"x":"ok"}')
    assert (a.status_code, b.status_code) == (500, 204)
    assert b.content == b""


def test_simulator_sees_the_configured_receiver_answer(sim):
    with Receiver(SECRET, status=500, delay_ms=200, body='{"error":"boom"}') as rx:
        wh = sim.create_webhook("Failing", rx.url, ALL_EVENTS, secret=SECRET)
        r = sim.simulate(wh, ACT)
        req = rx.wait_for(1)[0]
    assert r.result == "Failed" and r.http_status == 500
    assert r.response_body == '{"error":"boom"}'
    assert r.latency_ms >= 200
    assert req.verification.ok
    assert req.body == r.payload.encode("utf-8")
    # The headers as the simulator sent them, names included.
    names = [k for k, _ in req.headers]
    assert "x-webhook-signature" in names and "x-webhook-timestamp" in names


# -- HTTP handling ---------------------------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection():
    with Receiver(SECRET) as rx, connect(rx) as sock:
        for i in range(3):
            body = json.dumps({"n": i}).encode()
            h = signed_headers(body)
            headers = [(k, v) for k, v in h.items()] + [("Content-Length", str(len(body)))]
            sock.sendall(raw_request("POST", "/webhooks/trackpilots", headers, body))
            status, resp_headers, _ = read_response(sock)
            assert status == 200
            assert resp_headers.get("connection") != "close"
        reqs = rx.wait_for(3)
    assert [r.body for r in reqs] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert len({r.client for r in reqs}) == 1  # one connection
    assert all(r.verification.ok for r in reqs)


def test_keep_alive_with_an_httpx_client():
    with Receiver(SECRET) as rx, httpx.Client() as client:
        for _ in range(3):
            assert client.post(rx.url, content=BODY, headers=signed_headers()).status_code == 200
        reqs = rx.wait_for(3)
    assert len({r.client for r in reqs}) == 1


def test_connection_close_is_honoured():
    with Receiver() as rx, connect(rx) as sock:
        sock.sendall(raw_request("POST", "/", [("Content-Length", "2"), ("Connection", "close")], b"{}"))
        status, headers, _ = read_response(sock)
        assert status == 200
        assert headers.get("connection") == "close"
        sock.settimeout(2)
        assert sock.recv(100) == b""


def test_chunked_request_body_is_reassembled_and_verifies():
    parts = [BODY[:10], BODY[10:50], BODY[50:]]
    h = signed_headers()
    with Receiver(SECRET) as rx:
        resp = httpx.post(rx.url, content=iter(parts), headers=h)  # an iterator: chunked encoding
        req = rx.wait_for(1)[0]
    assert resp.status_code == 200
    assert "chunked" in (req.header("transfer-encoding") or "")
    assert req.header("content-length") is None
    assert req.body == BODY
    assert req.verification.ok


def test_chunked_request_over_a_raw_socket_with_extensions_and_trailers():
    h = signed_headers()
    chunks = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in (BODY[:7], BODY[7:]))
    wire = raw_request("POST", "/", [*h.items(), ("Transfer-Encoding", "chunked")], b"") + chunks + b"0\r\nX-Trailer: t\r\n\r\n"
    with Receiver(SECRET) as rx, connect(rx) as sock:
        sock.sendall(wire)
        status, _, _ = read_response(sock)
        req = rx.wait_for(1)[0]
    assert status == 200
    assert req.body == BODY and req.verification.ok


@pytest.mark.parametrize("seed", range(12))
def test_malformed_bytes_get_400_and_the_receiver_keeps_serving(seed):
    rng = random.Random(seed)
    garbage = rng.randbytes(rng.randint(1, 3000))
    with Receiver(SECRET) as rx:
        with connect(rx) as sock:
            sock.sendall(garbage.replace(b"\r\n\r\n", b"") + b"\r\n\r\n")
            status, _, body = read_response(sock)
        assert status == 400
        assert "error" in json.loads(body)
        # Garbage without a complete head, then end of input.
        with connect(rx) as sock:
            sock.sendall(garbage.replace(b"\r\n\r\n", b"")[:500] or b"x")
            sock.shutdown(socket.SHUT_WR)
            status, _, _ = read_response(sock)
        assert status == 400
        resp = httpx.post(rx.url, content=BODY, headers=signed_headers())
        assert resp.status_code == 200
        assert rx.wait_for(1)[0].verification.ok
        assert rx.count == 1  # malformed requests are answered, not recorded


@pytest.mark.parametrize(
    "wire",
    [
        b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nno-colon-here\r\n\r\n",
        b"POST / SPDY/3\r\n\r\n",
        b"POST /\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_specific_malformed_requests_get_400(wire):
    with Receiver() as rx:
        with connect(rx) as sock:
            sock.sendall(wire)
            status, _, _ = read_response(sock)
        assert status == 400
        assert httpx.post(rx.url, content=b"{}").status_code == 200


def test_expect_100_continue():
    with Receiver(SECRET) as rx, connect(rx) as sock:
        h = signed_headers()
        sock.sendall(raw_request("POST", "/", [*h.items(), ("Content-Length", str(len(BODY))), ("Expect", "100-continue")], b""))
        sock.settimeout(5)
        interim = sock.recv(100)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(BODY)
        status, _, _ = read_response(sock)
        req = rx.wait_for(1)[0]
    assert status == 200 and req.body == BODY and req.verification.ok


# -- lifecycle -----------------------------------------------------------------------------------------


def test_given_port_url_and_stop():
    port = free_port()
    rx = Receiver(port=port).start()
    try:
        assert rx.port == port and rx.running
        assert rx.url == f"http://127.0.0.1:{port}/webhooks/trackpilots"
        assert httpx.post(rx.url, content=b"{}").status_code == 200
    finally:
        rx.stop()
    assert not rx.running
    with pytest.raises(httpx.ConnectError):
        httpx.post(rx.url, content=b"{}")


def test_port_in_use_is_a_readable_error():
    with Receiver() as rx:
        with pytest.raises(OSError) as exc:
            Receiver(port=rx.port).start()
    assert str(rx.port) in str(exc.value)


def test_wait_for_times_out():
    with Receiver() as rx:
        with pytest.raises(TimeoutError):
            rx.wait_for(1, timeout=0.2)


def test_demo_fixture_verifies_every_event(sim, demo):
    rx, wh = demo
    results = [sim.simulate(wh, event) for event in wh.events]
    reqs = rx.wait_for(len(results))
    assert [r.result for r in results] == ["Delivered"] * len(results)
    assert all(req.verification.ok for req in reqs)
    assert [req.event_type for req in reqs] == list(wh.events)


def test_receiver_checks_timestamps_against_its_clock(store_path):
    with Receiver(SECRET, clock=lambda: now_ms() + 10 * 60_000) as rx, Simulator(store_path) as s:
        wh = s.create_webhook("Skewed", rx.url, [APP], secret=SECRET)
        r = s.simulate(wh, APP)
        req = rx.wait_for(1)[0]
    assert r.http_status == 401
    assert req.verification.code == "outside_tolerance"
