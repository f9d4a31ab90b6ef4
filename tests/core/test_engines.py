"""One fault matrix, run through every engine (issue 12, goal 2): a single send (httpx) and a
burst on each of its engines -- curl (the default), aiohttp (where pycurl cannot be imported)
and the httpx fallback (used with a proxy) -- against the same real servers on 127.0.0.1, must
give the same result, the same status, the same classification in the same words, within the
same deadline, and every attempt is recorded.

Mocked: only the resolver (``DeliveryConfig(resolver=...)``) where a test needs a host name to
resolve to 127.0.0.1, fail, or hang: no DNS server may be contacted from the tests.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
import trustme

from simlib import DeliveryConfig, Simulator, ValidationError
from tests.helpers import APP, free_port
from tests.servers import (
    RawServer,
    answer,
    big_body,
    connect_hole,
    drip,
    https_servers,
    never_answer,
    raw_answer,
    read_request,
    redirect,
    wait_until,
)

README_CASES = {"burst-engine-unavailable"}
DEADLINE = 2.0
ROOT = Path(__file__).resolve().parents[2]  # the child processes below import tests.servers from here
ENGINES = ["single", "burst", "burst-aiohttp", "burst-httpx"]


def send(engine: str, tmp_path, url: str, *, n: int = 2, **config):
    """``n`` attempts to ``url`` through ``engine`` ("single": ``simulate`` n times; "burst":
    ``send_many`` on the default curl engine; "burst-aiohttp" and "burst-httpx": ``send_many`` on
    those engines), each
    checked against its history row and the deadline; returns the results."""
    settings = {"deadline": DEADLINE, "read_timeout": DEADLINE, "connect_timeout": DEADLINE, **config}
    with Simulator(tmp_path / f"{engine}.db", delivery=DeliveryConfig(**settings)) as sim:
        wh = sim.create_webhook("matrix", url, [APP])
        t0 = time.monotonic()
        if engine == "single":
            results = [sim.simulate(wh, APP) for _ in range(n)]
            per = (time.monotonic() - t0) / n
        else:
            which = {"burst": "curl", "burst-aiohttp": "aiohttp", "burst-httpx": "httpx"}[engine]
            burst = sim.send_many(wh, APP, n, concurrency=n, progress=False, engine=which)
            assert burst.engine == which
            results = burst.results
            per = time.monotonic() - t0  # the attempts run side by side
        history = sim.history()
    # + 4 s: the burst's time includes its engine's setup, and a loaded machine may stall; every
    # fault below that broke the deadline would take 30 s or more.
    assert per < settings["deadline"] + 4, f"{engine}: took {per:.2f} s"
    assert len(results) == n and len(history) == n  # every attempt recorded
    for r in results:
        assert r.recorded
        row = history[history["simulation_id"] == r.simulation_id].iloc[0]
        assert row["detail"] == r.detail and row["result"] == r.result and row["response_body"] == r.response_body
    return results


def same(results, *, result=None, status="any", error="any", detail=None, prefix=None, body=None):
    """Every result equal in what the matrix compares, and as expected."""
    first = results[0]
    for r in results:
        assert (r.result, r.http_status, r.error, r.detail) == (first.result, first.http_status, first.error, first.detail)
    if result is not None:
        assert first.result == result, first.detail
    if status != "any":
        assert first.http_status == status, first.detail
    if error != "any":
        assert first.error == error, first.detail
    if detail is not None:
        assert first.detail == detail
    if prefix is not None:
        assert first.detail.startswith(prefix), first.detail
    if body is not None:
        assert first.response_body == body
    return first


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


def _ports(detail: str) -> str:
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", detail)


# -- answers: status classes, 1xx, HTTP/1.0, chunked -------------------------------------------


@pytest.mark.parametrize(
    "status, headers, result, detail",
    [
        (200, {}, "Delivered", "Delivered: 200 X"),
        (202, {}, "Delivered", "Delivered: 202 X"),
        (204, {}, "Delivered", "Delivered: 204 X"),
        (304, {}, "Failed", "304 X: redirect not followed (a webhook endpoint must answer 2xx itself)"),
        (418, {}, "Failed", "418 X: the endpoint answered with an error"),
        (429, {"Retry-After": "120"}, "Failed", "429 X: the endpoint is throttling (Retry-After: 120)"),
        (410, {}, "Failed", "410 X: the endpoint says it is gone"),
        (500, {}, "Failed", "500 X: the endpoint answered with an error"),
        (504, {}, "Failed", "504 X: a gateway in front of the endpoint failed or timed out"),
    ],
)
def test_status_classes(tmp_path, engine, status, headers, result, detail):
    body = b"" if status in (204, 304) else b'{"status": %d}' % status
    with RawServer(answer(status, body, headers)) as srv:
        results = send(engine, tmp_path, srv.url)
        assert len(srv.requests) == 2  # one request per attempt, never a retry
    same(results, result=result, status=status, error=None, detail=detail, body=body.decode())


def test_redirect_is_not_followed_and_its_target_is_never_contacted(tmp_path, engine):
    with RawServer(answer(200)) as target, RawServer(redirect(target.url, 307)) as srv:
        results = send(engine, tmp_path, srv.url)
        assert target.connections == 0
    same(results, result="Failed", status=307, detail=f"307 X: redirect to {target.url} not followed (a webhook endpoint must answer 2xx itself)")


def test_informational_1xx_then_the_final_answer(tmp_path, engine):
    payload = b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    with RawServer(raw_answer(payload)) as srv:
        results = send(engine, tmp_path, srv.url)
    same(results, result="Delivered", status=200, body="ok", detail="Delivered: 200 OK")


def test_only_a_1xx_and_then_silence_ends_at_the_deadline(tmp_path, engine):
    with RawServer(raw_answer(b"HTTP/1.1 100 Continue\r\n\r\n", close=False)) as srv:
        results = send(engine, tmp_path, srv.url)
    same(results, result="Failed", error="Network error", detail="timeout: no complete response within the total deadline of 2 s")


def test_http_1_0_answer_without_content_length(tmp_path, engine):
    payload = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold but fine"
    with RawServer(raw_answer(payload)) as srv:
        results = send(engine, tmp_path, srv.url)
    same(results, result="Delivered", status=200, body="old but fine", detail="Delivered: 200 OK")


def test_chunked_answer(tmp_path, engine):
    # "Connection: close" as the server closes after answering: without it a client may reuse the
    # connection for the next send before the server's FIN arrives (a race, not the chunking tested).
    payload = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    with RawServer(raw_answer(payload)) as srv:
        results = send(engine, tmp_path, srv.url)
    same(results, result="Delivered", status=200, body="hello world", detail="Delivered: 200 OK")


def test_chunked_gzip_answer_is_decoded(tmp_path, engine):
    data = zlib.compress(b'{"ok": "chunked gzip"}', wbits=31)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 7]), data[i:i + 7]) for i in range(0, len(data), 7))
    payload = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n"
               + chunks + b"0\r\n\r\n")
    with RawServer(raw_answer(payload)) as srv:
        results = send(engine, tmp_path, srv.url)
    same(results, result="Delivered", body='{"ok": "chunked gzip"}')


def test_the_request_on_the_wire_is_the_same(tmp_path, engine):
    """Same header names, same body bytes, no extra headers (no Accept-Encoding: the endpoint
    must not be invited to compress), exactly as a single send sends them."""
    with RawServer(answer(200)) as srv:
        results = send(engine, tmp_path, srv.url, n=1)
        (req,) = srv.requests
    names = sorted(name.lower() for name, _ in req.header_pairs)
    assert names == sorted(
        ["host", "content-length", "content-type", "user-agent", "x-webhook-signature", "x-webhook-timestamp", "x-webhook-event"]
    ) or names == sorted(["host", "content-length", "content-type", "user-agent", "x-webhook-signature", "x-webhook-timestamp"]), names
    assert req.request_line == "POST /hook HTTP/1.1"
    assert req.body == results[0].payload.encode() if isinstance(results[0].payload, str) else req.body == results[0].payload


def test_long_header_lines_are_read_as_a_single_send_reads_them(tmp_path, engine):
    long = "v" * 20_000  # over aiohttp's default 8 KiB line limit, under h11's 100 KiB head
    payload = f"HTTP/1.1 200 OK\r\nX-Long: {long}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
    with RawServer(raw_answer(payload)) as srv:
        results = send(engine, tmp_path, srv.url)
    first = same(results, result="Delivered", status=200, body="ok")
    assert first.response_headers["x-long"] == "v" * 1000  # stored cut to MAX_HEADER_VALUE


@pytest.mark.parametrize("extra", [b"", "X-Name: J\u00fcrgen\r\n".encode()], ids=["ascii", "utf-8"])
def test_response_headers_are_read_alike(tmp_path, engine, extra):
    """The head's fields as every engine records them: names in lower case, values as sent
    (case kept, outer spaces off), a repeated field joined with ", " -- for an all-ASCII head
    and for one with a UTF-8 value."""
    payload = (
        b"HTTP/1.1 200 OK\r\nX-Mixed:   Keep This Case  \r\nX-Twice: one\r\nx-twice: Two\r\n" + extra
        + b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    )
    with RawServer(raw_answer(payload)) as srv:
        results = send(engine, tmp_path, srv.url)
    first = same(results, result="Delivered", status=200, body="ok")
    for r in results:
        h = r.response_headers
        assert (h["x-mixed"], h["x-twice"], h["content-type"]) == ("Keep This Case", "one, Two", "text/plain"), h
        if extra:
            assert h["x-name"] == "J\u00fcrgen", h
    assert "X-Mixed" not in first.response_headers


def test_a_response_head_over_100_kib_is_refused_the_same_way(tmp_path, engine):
    huge = "v" * 200_000
    payload = f"HTTP/1.1 200 OK\r\nX-Huge: {huge}\r\nContent-Length: 2\r\n\r\nok".encode()
    with RawServer(raw_answer(payload)) as srv:
        results = send(engine, tmp_path, srv.url)
    same(results, result="Failed", error="Network error", status=None, prefix="the endpoint closed the connection or broke HTTP: ")


# -- faults: refused, reset, garbage, silence, drips --------------------------------------------


def test_refused(tmp_path, engine):
    port = free_port()
    results = send(engine, tmp_path, f"http://127.0.0.1:{port}/hook")
    same(results, result="Failed", error="Network error", detail=f"connection refused by 127.0.0.1:{port} (nothing is listening there)")


def test_a_connect_that_hangs_names_the_connect_timeout(tmp_path, engine):
    with connect_hole() as (_hole, port):
        results = send(engine, tmp_path, f"http://127.0.0.1:{port}/hook", connect_timeout=0.5)
    same(results, result="Failed", error="Network error", detail=f"timeout: could not connect to 127.0.0.1:{port} within 0.5 s")


def test_reset_before_any_response(tmp_path, engine):
    with RawServer(raw_answer(b"", then_reset=True)) as srv:
        results = send(engine, tmp_path, srv.url)
    first = same(results, result="Failed", error="Network error")
    assert _ports(first.detail) in {
        "connection reset by 127.0.0.1:PORT before a complete response",
        "the endpoint closed the connection or broke HTTP: Server disconnected without sending a response.",
    }


def test_reset_mid_response_keeps_the_status(tmp_path, engine):
    payload = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10
    with RawServer(raw_answer(payload, then_reset=True)) as srv:
        results = send(engine, tmp_path, srv.url)
    first = same(results, result="Failed", error="Network error")
    assert "reset" in first.detail or "closed the connection" in first.detail


def test_a_kept_alive_connection_closed_after_reading_the_next_request_is_not_sent_again(tmp_path, engine):
    """The endpoint answers the first request and keeps the connection open, then reads the
    second request on it and closes without answering: that request may have been acted on, so
    it must not be sent again on a fresh connection (libcurl would, by itself: "Connection died,
    retrying a fresh connect"). One attempt, never a retry."""

    def run(conn: socket.socket, server: RawServer) -> None:
        first = read_request(conn)
        if first is None:
            return
        server.record(first)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        second = read_request(conn)
        if second is not None:
            server.record(second)

    with RawServer(run) as srv:
        settings = {"deadline": DEADLINE, "read_timeout": DEADLINE, "connect_timeout": DEADLINE}
        with Simulator(tmp_path / "s.db", delivery=DeliveryConfig(**settings)) as sim:
            wh = sim.create_webhook("reused", srv.url, [APP])
            if engine == "single":
                results = [sim.simulate(wh, APP) for _ in range(2)]
            else:
                which = {"burst": "curl", "burst-aiohttp": "aiohttp", "burst-httpx": "httpx"}[engine]
                results = sim.send_many(wh, APP, 2, concurrency=1, progress=False, engine=which).results
            assert sim.history_count() == 2
        time.sleep(0.2)
        assert len(srv.requests) == 2 and srv.connections == 1, (len(srv.requests), srv.connections)
    assert results[0].result == "Delivered"
    assert (results[1].result, results[1].error) == ("Failed", "Network error")
    assert results[1].detail in {
        "the endpoint closed the connection or broke HTTP: Server disconnected without sending a response.",
        "the endpoint closed the connection or broke HTTP: Server disconnected",
    }, results[1].detail


def test_a_burst_to_an_endpoint_closing_every_connection_delivers_every_send(tmp_path):
    """Every answer closes its connection, so the curl engine opens a socket for every send and
    the kernel hands the closed sockets' numbers out again: each new socket is watched as
    itself (libcurl announces it before connecting it), never through the registration its
    number still had for the closed one -- which would leave the send waiting out its deadline."""
    with RawServer(answer(200)) as srv:
        with Simulator(tmp_path / "s.db", delivery=DeliveryConfig(deadline=DEADLINE, read_timeout=DEADLINE)) as sim:
            wh = sim.create_webhook("closing", srv.url, [APP])
            burst = sim.send_many(wh, APP, 40, concurrency=4, progress=False, engine="curl")
        assert srv.connections == 40
    assert [r.detail for r in burst.results] == ["Delivered: 200 X"] * 40


def test_garbage_instead_of_http(tmp_path, engine):
    with RawServer(raw_answer(b"SSH-2.0-OpenSSH_9.2\r\n")) as srv:
        results = send(engine, tmp_path, srv.url)
    same(results, result="Failed", error="Network error", status=None, prefix="the endpoint closed the connection or broke HTTP: ")


def test_never_answers_names_the_read_timeout(tmp_path, engine):
    with RawServer(never_answer()) as srv:
        results = send(engine, tmp_path, srv.url, read_timeout=0.5)
    same(results, error="Network error", detail="timeout: connected, but no response within the read timeout of 0.5 s")


def test_never_answers_within_a_long_read_timeout_stops_at_the_deadline(tmp_path, engine):
    with RawServer(never_answer()) as srv:
        results = send(engine, tmp_path, srv.url, read_timeout=60)
    same(results, error="Network error", detail="timeout: no complete response within the total deadline of 2 s")


def test_a_dripping_body_stops_at_the_total_deadline(tmp_path, engine):
    with RawServer(drip(total=1000, every=0.1)) as srv:
        results = send(engine, tmp_path, srv.url)
    same(
        results, error="Network error", status=200,
        detail="timeout: the total deadline of 2 s passed while reading the response body (status 200 had arrived)",
    )


def test_dripping_headers_stop_at_the_total_deadline(tmp_path, engine):
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
        results = send(engine, tmp_path, srv.url)
    same(results, error="Network error", status=None, detail="timeout: no complete response within the total deadline of 2 s")


def test_a_head_arriving_in_pieces_within_the_read_timeout_is_read(tmp_path, engine):
    """Each gap shorter than the read timeout, the whole head longer: no read timeout (the curl
    engine once timed the gaps between complete header lines only, so it gave up at 1 s)."""

    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        pieces = [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Slow: "] + [b"abcd"] * 7 + [b"\r\n\r\n"]
        for piece in pieces:
            if server.stopped.wait(0.25):
                return
            conn.sendall(piece)

    with RawServer(run) as srv:
        results = send(engine, tmp_path, srv.url, read_timeout=1.0, deadline=5.0)
    same(results, result="Delivered", status=200)


def test_the_curl_engine_words_its_header_field_limit(tmp_path):
    """libcurl reads at most 5,000 header fields; a longer head fails saying so (not as a head
    over 100 KiB: this one is about 60 KiB)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(6000)) + b"\r\n"
    with RawServer(raw_answer(head)) as srv:
        results = send("burst", tmp_path, srv.url)
    same(results, error="Network error",
         detail="the endpoint closed the connection or broke HTTP: the response head has more than 5000 header fields")


def test_a_fault_of_the_curl_engine_itself_is_said_and_ends_the_send(tmp_path, monkeypatch):
    """A callback that raises (mocked: no endpoint can make simlib's own code fail) ends its
    transfer at once, and the outcome blames the engine, not the endpoint."""
    from simlib.core.delivery import body

    def broken(self, chunk):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(body.BodyReader, "feed", broken)
    with RawServer(answer(200, b"ok")) as srv:
        t0 = time.monotonic()
        results = send("burst", tmp_path, srv.url, deadline=5.0)
    assert time.monotonic() - t0 < 3
    same(results, error="Network error", status=200,
         detail="simlib's curl engine failed (RuntimeError: a bug of ours); the attempt was ended")


# -- the response cap: bytes read and bytes decoded ---------------------------------------------


def _gzip(parts) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    return b"".join([*(z.compress(p) for p in parts), z.flush()])


def test_a_big_body_is_cut_at_the_cap(tmp_path, engine):
    with RawServer(big_body(10_000_000)) as srv:
        results = send(engine, tmp_path, srv.url, max_response_bytes=20_000)
    first = same(results, result="Delivered", status=200, detail="Delivered: 200 OK; response body cut at 20000 bytes")
    assert all(r.response_truncated and len(r.response_body) == 20_000 for r in results)
    assert first.response_body == "a" * 20_000


def test_reading_stops_at_the_cap_of_an_endless_body(tmp_path, engine):
    """Bytes *read* are bounded too, not only bytes kept: the endpoint streams a body that never
    ends and counts what it got out; the send stops reading at the cap and closes."""
    sent: list[int] = []

    def run(conn: socket.socket, server: RawServer) -> None:
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000000000\r\n\r\n")
        block, total = b"a" * 65536, 0
        try:
            while not server.stopped.is_set():
                conn.sendall(block)
                total += len(block)
        except OSError:
            pass  # the client stopped reading at its cap and closed
        sent.append(total)

    with RawServer(run) as srv:
        results = send(engine, tmp_path, srv.url, max_response_bytes=20_000)
        assert wait_until(lambda: len(sent) == 2, 5)
    same(results, result="Delivered", status=200, detail="Delivered: 200 OK; response body cut at 20000 bytes")
    # Within the cap and the reader's slack, plus what the kernel's socket buffers took in.
    assert max(sent) < 50_000_000, sent


@pytest.mark.parametrize("layers", ["gzip", "gzip, gzip"])
def test_gzip_bombs_are_cut_at_the_cap(tmp_path, engine, layers):
    block = b"\0" * (1 << 20)
    bomb = _gzip(block for _ in range(200))  # 200 MB of zeros in ~200 KB
    if layers == "gzip, gzip":
        bomb = _gzip([bomb])
    with RawServer(answer(200, bomb, {"Content-Type": "text/plain", "Content-Encoding": layers})) as srv:
        results = send(engine, tmp_path, srv.url)
    first = same(results, result="Delivered", status=200)
    assert all(r.response_truncated for r in results)
    assert first.detail.startswith("Delivered: 200 X; response body cut at 20000 bytes")
    assert first.response_body.startswith("<binary response: 20000+ bytes of text/plain")


def test_a_body_that_is_not_the_gzip_it_claims_keeps_the_status_and_says_why(tmp_path, engine):
    with RawServer(answer(200, b"this is not gzip", {"Content-Encoding": "gzip"})) as srv:
        results = send(engine, tmp_path, srv.url)
    first = same(results, result="Delivered", status=200)
    assert "could not be decoded (gzip)" in first.detail


# -- TLS: verification, ca_bundle, the pinned address keeps the name ---------------------------


@pytest.fixture
def https_server():
    with https_servers() as start:
        yield start


@pytest.fixture
def ca(tmp_path):
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    return authority, str(bundle)


def test_tls_untrusted_certificate(tmp_path, engine, ca, https_server):
    port = https_server(ca[0].issue_cert("127.0.0.1"))
    results = send(engine, tmp_path, f"https://127.0.0.1:{port}/hook")
    first = same(results, result="Failed", error="Network error", prefix="TLS: certificate verification failed for 127.0.0.1: ")
    assert "self-signed" in first.detail or "unable to get local issuer" in first.detail


def test_tls_trusting_the_ca_bundle_delivers(tmp_path, engine, ca, https_server):
    port = https_server(ca[0].issue_cert("127.0.0.1"))
    results = send(engine, tmp_path, f"https://127.0.0.1:{port}/hook", ca_bundle=ca[1])
    same(results, result="Delivered", status=200, detail="Delivered: 200 OK")


def test_tls_expired_certificate(tmp_path, engine, ca, https_server):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    port = https_server(ca[0].issue_cert("127.0.0.1", not_before=past - dt.timedelta(days=60), not_after=past))
    results = send(engine, tmp_path, f"https://127.0.0.1:{port}/hook", ca_bundle=ca[1])
    first = same(results, error="Network error", prefix="TLS: certificate verification failed")
    assert "expired" in first.detail


def test_tls_verification_off_is_said(tmp_path, engine, ca, https_server):
    port = https_server(ca[0].issue_cert("127.0.0.1"))
    results = send(engine, tmp_path, f"https://127.0.0.1:{port}/hook", verify_tls=False)
    same(results, result="Delivered", detail="Delivered: 200 OK; TLS verification was OFF")


def test_tls_pinned_address_still_checks_the_certificate_against_the_name(tmp_path, engine, ca, https_server):
    port = https_server(ca[0].issue_cert("receiver.test"))
    to_local = {"resolver": lambda h, p: ["127.0.0.1"], "ca_bundle": ca[1]}
    ok = send(engine, tmp_path, f"https://receiver.test:{port}/hook", **to_local)
    same(ok, result="Delivered", detail="Delivered: 200 OK")
    (tmp_path / "other").mkdir()
    wrong = send(engine, tmp_path / "other", f"https://other.test:{port}/hook", **to_local)
    first = same(wrong, error="Network error", prefix="TLS: certificate verification failed for other.test: ")
    assert "mismatch" in first.detail.lower() or "doesn't match" in first.detail.lower()


# -- the address policy, the connection pinned to the checked address --------------------------


def test_a_name_goes_to_the_checked_address_with_its_own_host_header(tmp_path, engine):
    asked = []

    def resolver(host, port):
        asked.append(host)
        return ["127.0.0.1"]

    with RawServer(answer(200)) as srv:
        # receiver.test resolves nowhere but through this resolver: delivery proves the pin.
        results = send(engine, tmp_path, f"http://receiver.test:{srv.port}/hook", resolver=resolver)
        hosts = {req.header("host") for req in srv.requests}
    same(results, result="Delivered")
    assert hosts == {f"receiver.test:{srv.port}"}
    assert asked and set(asked) == {"receiver.test"}


def test_a_burst_looks_a_name_up_again_after_a_failed_lookup_and_not_after_a_good_one(tmp_path):
    """The curl engine keeps a good lookup for the burst (later sends use it at once) and not a
    failed one: one send at a time, the first lookup fails, the second succeeds, and every send
    after that goes to the checked address without another lookup."""
    asked = []

    def resolver(host, port):
        asked.append(host)
        if len(asked) == 1:
            raise OSError("temporary failure in name resolution")
        return ["127.0.0.1"]

    settings = {"deadline": DEADLINE, "read_timeout": DEADLINE, "connect_timeout": DEADLINE}
    with RawServer(answer(200)) as srv:
        with Simulator(tmp_path / "lookup.db", delivery=DeliveryConfig(resolver=resolver, **settings)) as sim:
            wh = sim.create_webhook("lookup", f"http://receiver.test:{srv.port}/hook", [APP])
            burst = sim.send_many(wh, APP, 6, concurrency=1, progress=False, engine="curl")
        hosts = {req.header("host") for req in srv.requests}
    results = burst.results
    assert [r.result for r in results] == ["Failed"] + ["Delivered"] * 5, [r.detail for r in results]
    assert "unexpected error" not in results[0].detail, results[0].detail
    assert asked == ["receiver.test", "receiver.test"]
    assert hosts == {f"receiver.test:{srv.port}"} and len(srv.requests) == 5


def test_an_upper_case_host_is_sent_as_a_single_send_sends_it(tmp_path, engine):
    with RawServer(answer(200)) as srv:
        results = send(engine, tmp_path, f"http://RECEIVER.Test:{srv.port}/hook", resolver=lambda h, p: ["127.0.0.1"])
        hosts = {req.header("host") for req in srv.requests}
    same(results, result="Delivered")
    assert hosts == {f"receiver.test:{srv.port}"}


@pytest.mark.parametrize(
    "answer_, policy, phrase",
    [
        (["127.0.0.1"], "strict", "blocked address: receiver.test resolves to 127.0.0.1, which is loopback; refused by the 'strict' address policy (nothing was sent)"),
        (["127.0.0.1", "169.254.169.254"], "local", "blocked address: receiver.test resolves to 169.254.169.254, which is link-local (includes the cloud metadata service 169.254.169.254); refused by the 'local' address policy (nothing was sent)"),
        ([], "local", "DNS: the resolver answered no addresses for 'receiver.test'; nothing was sent"),
    ],
)
def test_a_refused_or_empty_answer_sends_nothing(tmp_path, engine, answer_, policy, phrase):
    with RawServer(answer(200)) as srv:
        results = send(
            engine, tmp_path, f"http://receiver.test:{srv.port}/hook", address_policy=policy, resolver=lambda h, p: answer_
        )
        time.sleep(0.1)
        assert srv.connections == 0
    same(results, result="Failed", error="Network error", status=None, detail=phrase)


def test_strict_policy_refuses_a_literal_loopback_address(tmp_path, engine):
    with RawServer(answer(200)) as srv:
        results = send(engine, tmp_path, srv.url, address_policy="strict")
        assert srv.connections == 0
    same(results, error="Network error", detail="blocked address: 127.0.0.1 is loopback; refused by the 'strict' address policy (nothing was sent)")


def test_dns_failure_reason(tmp_path, engine):
    def resolver(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    results = send(engine, tmp_path, "https://receiver.invalid/hook", resolver=resolver)
    same(results, error="Network error", detail="DNS: could not resolve host 'receiver.invalid' (Name or service not known)")


def test_a_resolver_that_hangs_stops_at_the_deadline(tmp_path, engine):
    release = threading.Event()

    def resolver(host, port):
        release.wait(30)  # far past the deadline + slack; released as soon as the sends are done
        return ["127.0.0.1"]

    try:
        results = send(engine, tmp_path, "http://slow-dns.test/hook", resolver=resolver)
    finally:
        release.set()
    same(results, error="Network error", prefix="timeout: the DNS lookup of 'slow-dns.test' did not finish within 2 s")


# -- the engine a burst uses --------------------------------------------------------------------


def test_a_proxy_falls_back_to_httpx_and_says_so(tmp_path):
    with RawServer(answer(200)) as proxy:
        config = DeliveryConfig(deadline=5, proxy=f"http://127.0.0.1:{proxy.port}", resolver=lambda h, p: ["127.0.0.1"])
        with Simulator(tmp_path / "s.db", delivery=config) as sim:
            wh = sim.create_webhook("proxied", "http://receiver.test/hook", [APP])
            burst = sim.send_many(wh, APP, 2, progress=False)
            refused = {}
            for name in ("curl", "aiohttp"):
                with pytest.raises(ValidationError) as info:
                    sim.send_many(wh, APP, 2, progress=False, engine=name)
                refused[name] = info.value
            assert sim.history_count() == 2  # the refused engines sent and recorded nothing
        assert len(proxy.requests) == 2  # the proxy got them
    for name, error in refused.items():
        assert error.field == "engine" and f"the {name} engine cannot send this burst: a proxy is configured" in str(error)
    assert burst.engine == "httpx"
    assert burst.engine_note == "sent with httpx, not the fast curl engine: a proxy is configured"
    s = burst.summary.iloc[0]
    assert s["engine"] == "httpx" and "a proxy is configured" in s["engine_note"]
    assert all(r.delivered for r in burst.results)


def test_the_curl_engine_is_the_default_and_loads_only_when_a_burst_starts():
    code = (
        "import sys, simlib\n"
        "for name in ('pycurl', 'aiohttp', 'simlib.core.delivery.curl', 'simlib.core.delivery.fast'):\n"
        "    assert name not in sys.modules, f'import simlib loaded {name}'\n"
        "import simlib.core.burst\n"
        "assert 'pycurl' not in sys.modules, 'importing the burst module loaded pycurl'\n"
        "assert 'aiohttp' not in sys.modules, 'importing the burst module loaded aiohttp'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_auto_sends_with_curl_without_loading_aiohttp(tmp_path):
    with RawServer(answer(200)) as srv, Simulator(tmp_path / "s.db") as sim:
        wh = sim.create_webhook("auto", srv.url, [APP])
        burst = sim.send_many(wh, APP, 3, concurrency=3, progress=False)
        assert len(srv.requests) == 3
    assert (burst.engine, burst.engine_note) == ("curl", "")
    assert all(r.delivered for r in burst.results)
    s = burst.summary.iloc[0]
    assert s["engine"] == "curl"
    code = (
        "import sys\n"
        "from simlib import Simulator\n"
        "from tests.helpers import APP\n"
        "from tests.servers import RawServer, answer\n"
        "with RawServer(answer(200)) as srv, Simulator(sys.argv[1]) as sim:\n"
        "    wh = sim.create_webhook('auto', srv.url, [APP])\n"
        "    burst = sim.send_many(wh, APP, 2, progress=False)\n"
        "assert burst.engine == 'curl' and all(r.delivered for r in burst.results)\n"
        "assert 'aiohttp' not in sys.modules, 'a curl burst loaded aiohttp'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "t.db")], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_without_pycurl_auto_falls_back_to_aiohttp_and_says_why(tmp_path):
    # pycurl made unimportable in a child process (sys.modules["pycurl"] = None: "import pycurl"
    # raises ImportError, as where it is not installed); everything else is real.
    code = (
        "import sys\n"
        "sys.modules['pycurl'] = None\n"
        "from simlib import Simulator, ValidationError\n"
        "from tests.helpers import APP\n"
        "from tests.servers import RawServer, answer\n"
        "with RawServer(answer(200)) as srv, Simulator(sys.argv[1]) as sim:\n"
        "    wh = sim.create_webhook('no-curl', srv.url, [APP])\n"
        "    burst = sim.send_many(wh, APP, 2, progress=False)\n"
        "    try:\n"
        "        sim.send_many(wh, APP, 2, progress=False, engine='curl')\n"
        "    except ValidationError as exc:\n"
        "        print('refused:', exc.field, exc)\n"
        "    assert sim.history_count() == 2\n"
        "assert all(r.delivered for r in burst.results)\n"
        "print('engine:', burst.engine)\n"
        "print('note:', burst.engine_note)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.db")], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "engine: aiohttp" in lines
    assert any(line.startswith("note: sent with aiohttp, not curl: pycurl cannot be imported") for line in lines), lines
    assert any(line.startswith("refused: engine ") and "the curl engine is not available" in line for line in lines), lines


def test_an_unknown_engine_is_a_field_error(tmp_path):
    with Simulator(tmp_path / "s.db") as sim:
        wh = sim.create_webhook("e", "http://127.0.0.1:9/hook", [APP])
        with pytest.raises(ValidationError) as info:
            sim.send_many(wh, APP, 2, progress=False, engine="wget")
        assert info.value.field == "engine" and sim.history_count() == 0
