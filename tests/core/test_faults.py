"""Endpoint faults, each against a real server on 127.0.0.1: a recorded row with a precise reason,
within the configured deadline + 4 s (slack for a stalled machine; every fault here that
broke the deadline would take 10 s or more)."""

from __future__ import annotations

import socket
import time

import pytest

from simlib import DeliveryConfig, Simulator
from tests.helpers import APP, free_port
from tests.servers import RawServer, answer, raw_answer, read_request

DEADLINE = 2.0


def _send(tmp_path, url, **config):
    settings = {"deadline": DEADLINE, "read_timeout": DEADLINE, "connect_timeout": DEADLINE, **config}
    cfg = DeliveryConfig(**settings)
    with Simulator(tmp_path / "s.db", delivery=cfg) as sim:
        wh = sim.create_webhook("faults", url, [APP])
        t0 = time.monotonic()
        r = sim.simulate(wh, APP)
        elapsed = time.monotonic() - t0
        row = sim.history().iloc[-1]
    assert elapsed < DEADLINE + 4, f"took {elapsed:.2f} s"
    assert row["simulation_id"] == r.simulation_id and row["detail"] == r.detail
    return r


@pytest.mark.parametrize(
    "status, headers, result, phrase",
    [
        (200, {}, "Delivered", "Delivered: 200"),
        (202, {}, "Delivered", "Delivered: 202"),
        (204, {}, "Delivered", "Delivered: 204"),
        (304, {}, "Failed", "304"),
        (418, {}, "Failed", "418"),
        (429, {"Retry-After": "120"}, "Failed", "throttling (Retry-After: 120)"),
        (410, {}, "Failed", "gone"),
        (500, {}, "Failed", "500"),
        (503, {"Retry-After": "5"}, "Failed", "503"),
        (504, {}, "Failed", "gateway"),
    ],
)
def test_status_classes(tmp_path, status, headers, result, phrase):
    body = b"" if status in (204, 304) else b'{"status": %d}' % status
    with RawServer(answer(status, body, headers)) as srv:
        r = _send(tmp_path, srv.url)
    assert r.result == result and r.http_status == status and r.error is None
    assert phrase in r.detail
    assert len(srv.requests) == 1  # exactly one attempt, never a retry


def test_informational_1xx_then_final_answer(tmp_path):
    payload = b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    with RawServer(raw_answer(payload)) as srv:
        r = _send(tmp_path, srv.url)
    assert r.result == "Delivered" and r.http_status == 200 and r.response_body == "ok"


def test_only_a_1xx_and_then_silence_is_a_timeout(tmp_path):
    with RawServer(raw_answer(b"HTTP/1.1 100 Continue\r\n\r\n", close=False)) as srv:
        r = _send(tmp_path, srv.url)
    assert r.error == "Network error" and r.detail.startswith("timeout")


def test_http_1_0_server_without_content_length(tmp_path):
    payload = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold but fine"
    with RawServer(raw_answer(payload)) as srv:
        r = _send(tmp_path, srv.url)
    assert r.result == "Delivered" and r.response_body == "old but fine"


def test_connection_reset_mid_response(tmp_path):
    payload = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10
    with RawServer(raw_answer(payload, then_reset=True)) as srv:
        r = _send(tmp_path, srv.url)
    assert r.result == "Failed" and r.error == "Network error"
    assert "reset" in r.detail or "closed the connection" in r.detail


def test_reset_before_any_response(tmp_path):
    with RawServer(raw_answer(b"", then_reset=True)) as srv:
        r = _send(tmp_path, srv.url)
    assert r.error == "Network error"
    assert "reset" in r.detail or "closed the connection" in r.detail


def test_garbage_instead_of_http(tmp_path):
    with RawServer(raw_answer(b"SSH-2.0-OpenSSH_9.2\r\n")) as srv:
        r = _send(tmp_path, srv.url)
    assert r.error == "Network error" and "broke HTTP" in r.detail


def test_refused(tmp_path):
    r = _send(tmp_path, f"http://127.0.0.1:{free_port()}/hook")
    assert r.error == "Network error" and r.detail.startswith("connection refused by 127.0.0.1:")


def test_never_answers_names_the_read_timeout(tmp_path):
    with RawServer(raw_answer(b"", close=False)) as srv:
        r = _send(tmp_path, srv.url, read_timeout=0.5)
    assert r.error == "Network error"
    assert r.detail == "timeout: connected, but no response within the read timeout of 0.5 s"


def test_never_answers_within_a_long_read_timeout_stops_at_the_deadline(tmp_path):
    with RawServer(raw_answer(b"", close=False)) as srv:
        r = _send(tmp_path, srv.url, read_timeout=60)
    assert r.detail == f"timeout: no complete response within the total deadline of {DEADLINE:g} s"


def test_slow_headers_drip_stops_at_the_deadline(tmp_path):
    """Headers sent one byte every 0.3 s: each read is within the read timeout, the total is not."""

    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            if server.stopped.wait(0.3):
                return
            conn.sendall(bytes([byte]))

    with RawServer(run) as srv:
        r = _send(tmp_path, srv.url)
    assert r.error == "Network error" and "timeout" in r.detail


def test_dns_failure_reason(tmp_path):
    # A real DNS failure needs a DNS server (none may be contacted from tests here), so the
    # resolver is injected to fail exactly as socket.getaddrinfo does for an unknown name.
    def resolver(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    r = _send(tmp_path, "https://receiver.invalid/hook", resolver=resolver)
    assert r.detail == "DNS: could not resolve host 'receiver.invalid' (Name or service not known)"


def test_a_resolver_that_hangs_stops_at_the_deadline(tmp_path):
    # getaddrinfo has no timeout of its own; a resolver that never answers (injected: no DNS
    # server may be contacted from the tests) must not hold the send past the deadline.
    def resolver(host, port):
        time.sleep(10)
        return ["127.0.0.1"]

    r = _send(tmp_path, "http://slow-dns.test/hook", resolver=resolver)
    assert r.error == "Network error"
    assert r.detail.startswith("timeout: the DNS lookup of 'slow-dns.test' did not finish within")
