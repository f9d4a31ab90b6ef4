"""Hostile endpoints and resolvers (issue 11, items 1, 3, 7, 8, 9), each through the single send
(``Simulator.simulate``) and the burst (``Simulator.send_many``), against real servers on
127.0.0.1.

- decompression bombs and other encodings: the cap bounds the bytes decoded and the bytes read;
  peak memory of a child process running the sends is measured;
- timeouts that would switch the deadline off (NaN, infinity, absurd values) are refused;
- a resolver that answers nothing (or nonsense) means "not sent", never "let httpx resolve it";
- exotic ``charset=`` values decode as UTF-8 with a note instead of failing the send;
- lookups that hang do not starve later lookups, and their number is bounded.

Mocked: only the resolver (a function passed as ``DeliveryConfig(resolver=...)``): a real DNS
server that hangs or answers nothing cannot be run or contacted from these tests.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from simlib import DeliveryConfig, Simulator
from simlib.cli import main
from simlib.core.delivery import netpolicy
from simlib.errors import ValidationError
from tests.helpers import APP
from tests.servers import RawServer, answer, read_request, wait_until

ROOT = Path(__file__).resolve().parents[2]

README_CASES = {
    "response-double-gzip-bomb",
    "response-compressed-stall",
    "response-unknown-encoding",
    "response-corrupt-encoding",
    "response-exotic-charset",
    "timeout-not-finite",
    "resolver-no-answer",
    "resolver-hangs",
}

CAP = 20_000
BURST = 10


def _gzip(parts, level: int = 6) -> bytes:
    z = zlib.compressobj(level, zlib.DEFLATED, 31)
    out = [z.compress(p) for p in parts]
    out.append(z.flush())
    return b"".join(out)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """1 GB of zeros gzipped (~1 MB), and that gzipped again (~1.8 KB), built without ever
    holding the gigabyte."""
    block = b"\0" * (16 << 20)
    plain = _gzip(block for _ in range(64))
    return {"plain": plain, "double": _gzip([plain])}


def _both(tmp_path, url: str, config: DeliveryConfig | None = None, n: int = BURST):
    """One single send and one burst of ``n`` to ``url``; both recorded."""
    config = config or DeliveryConfig(deadline=10)
    with Simulator(tmp_path / "s.db", delivery=config) as sim:
        wh = sim.create_webhook("hostile", url, [APP])
        single = sim.simulate(wh, APP)
        burst = sim.send_many(wh, APP, n, concurrency=n, progress=False)
        history = sim.history()
    results = [single, *burst.results]
    assert len(history) == 1 + n
    for r in results:
        row = history[history["simulation_id"] == r.simulation_id].iloc[0]
        assert row["detail"] == r.detail and row["response_body"] == r.response_body
    return results


def _encoded(body: bytes, encoding: str, content_type: str = "application/json"):
    return answer(200, body, {"Content-Type": content_type, "Content-Encoding": encoding})


# -- 1. decompression: bounded decoding, bounded reading -------------------------------------

_CHILD = r"""
import json, os, resource, sys, tempfile
from simlib import DeliveryConfig, Simulator
APP = "desktop.app_tracking.captured"

def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def vmsize():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

out = {}
with Simulator(os.path.join(tempfile.mkdtemp(), "s.db"), delivery=DeliveryConfig(deadline=30)) as sim:
    hooks = {name: sim.create_webhook(name, url, [APP]) for name, url in zip(("normal", "double", "plain"), sys.argv[1:4])}
    # The baseline: a normal send and a normal burst (imports, transports, threads all made).
    assert sim.simulate(hooks["normal"], APP).delivered
    assert all(r.delivered for r in sim.send_many(hooks["normal"], APP, 10, concurrency=10, progress=False).results)
    out["base"] = hwm_mb()
    # Without the fix the double bomb asks for gigabytes: fail fast instead of swapping a
    # shared machine (a MemoryError becomes a failed send, which the test reports).
    resource.setrlimit(resource.RLIMIT_AS, (vmsize() + (1 << 30), resource.RLIM_INFINITY))
    for name in ("double", "plain"):
        r = sim.simulate(hooks[name], APP)
        out[name + "-single"] = {"hwm": hwm_mb(), "results": [[r.result, r.response_truncated, r.detail]]}
        b = sim.send_many(hooks[name], APP, 10, concurrency=10, progress=False)
        out[name + "-burst"] = {"hwm": hwm_mb(), "results": [[x.result, x.response_truncated, x.detail] for x in b.results]}
print(json.dumps(out))
"""


def test_decompression_bombs_keep_peak_memory_of_a_send_flat(bombs):
    # The bodies are real (1 GB of zeros, gzipped once and twice), served by real sockets; the
    # sends run in a child process so its peak RSS (VmHWM) is the sends' alone.
    normal = RawServer(answer(200, b'{"ok":true}'))
    double = RawServer(_encoded(bombs["double"], "gzip, gzip", "text/plain"))
    plain = RawServer(_encoded(bombs["plain"], "gzip", "text/plain"))
    with normal, double, plain:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, normal.url, double.url, plain.url],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    base = out.pop("base")
    for case, got in out.items():
        for result, truncated, detail in got["results"]:
            assert result == "Delivered" and truncated, (case, detail)
            assert detail.endswith(f"response body cut at {CAP} bytes"), (case, detail)
        assert got["hwm"] - base < 50, f"{case}: peak RSS {got['hwm']:.0f} MB vs {base:.0f} MB for a normal send"


def test_double_gzip_bomb_is_cut_at_the_cap(tmp_path, bombs):
    with RawServer(_encoded(bombs["double"], "gzip, gzip", "text/plain")) as srv:
        results = _both(tmp_path, srv.url)
    for r in results:
        assert r.delivered and r.response_truncated
        assert r.response_body.startswith(f"<binary response: {CAP}+ bytes of text/plain; starts 00 00")


@pytest.mark.parametrize(
    "encoding, body",
    [
        ("gzip", _gzip([b'{"layer":"gzip"}'])),
        ("x-gzip", _gzip([b'{"layer":"gzip"}'])),
        ("gzip, gzip", _gzip([_gzip([b'{"layer":"gzip"}'])])),
        ("identity, gzip", _gzip([b'{"layer":"gzip"}'])),
        ("deflate", zlib.compress(b'{"layer":"gzip"}')),  # zlib-wrapped, as RFC 9110 says
        ("deflate", zlib.compress(b'{"layer":"gzip"}')[2:-4]),  # raw deflate, as old servers send
        ("deflate, gzip", _gzip([zlib.compress(b'{"layer":"gzip"}')])),
    ],
)
def test_each_content_encoding_layer_is_decoded(tmp_path, encoding, body):
    with RawServer(_encoded(body, encoding)) as srv:
        results = _both(tmp_path, srv.url)
    for r in results:
        assert r.delivered and not r.response_truncated, r.detail
        assert r.response_body == '{"layer":"gzip"}' and r.detail == "Delivered: 200 X"


def test_a_big_layered_body_is_cut_at_exactly_the_cap(tmp_path):
    text = b"".join(b"line %07d of a long text answer\n" % i for i in range(40_000))  # 1.3 MB
    with RawServer(_encoded(_gzip([_gzip([text])]), "gzip, gzip", "text/plain")) as srv:
        results = _both(tmp_path, srv.url)
    for r in results:
        assert r.response_truncated and r.response_body == text[:CAP].decode()


def _stalling_gzip(total: int):
    """A gzip header, then empty deflate blocks for ever: megabytes that decode to nothing."""
    empty = zlib.compressobj(6, zlib.DEFLATED, 31)
    head = empty.compress(b"") + empty.flush(zlib.Z_SYNC_FLUSH)  # ends byte-aligned
    block = b"\x00\x00\x00\xff\xff" * 13_000  # an empty, non-final stored block, again and again

    def run(conn, server):
        req = read_request(conn)
        if req is None:
            return
        server.record(req)
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {total}\r\n\r\n".encode()
            + head
        )
        sent = len(head)
        try:
            while sent < total and not server.stopped.is_set():
                piece = block[: total - sent]
                conn.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # the client stopped reading

    return run


def test_compressed_data_that_never_decodes_is_not_read_for_ever(tmp_path):
    with RawServer(_stalling_gzip(200_000_000)) as srv:
        t0 = time.monotonic()
        results = _both(tmp_path, srv.url)
        took = time.monotonic() - t0
    for r in results:
        assert r.delivered and r.response_truncated, r.detail
        assert "reading stopped after" in r.detail and "which had decoded to 0 bytes" in r.detail
    assert took < 5


@pytest.mark.parametrize("encoding", ["br", "zstd", "x-custom", "gzip, br", "compress"])
def test_encodings_simlib_does_not_decode_are_kept_raw_and_said_so(tmp_path, encoding):
    raw = bytes(range(1, 256)) * 1000  # 255 kB of "compressed" bytes
    with RawServer(_encoded(raw, encoding, "application/octet-stream")) as srv:
        results = _both(tmp_path, srv.url)
    for r in results:
        assert r.delivered and r.response_truncated
        assert "response body kept as received, not decoded: Content-Encoding" in r.detail
        assert r.response_body.startswith(f"<binary response: {CAP}+ bytes of application/octet-stream; starts 01 02")


def test_too_many_layers_are_not_decoded(tmp_path):
    body = b"five layers"
    for _ in range(5):
        body = _gzip([body])
    with RawServer(_encoded(body, ", ".join(["gzip"] * 5), "application/octet-stream")) as srv:
        results = _both(tmp_path, srv.url)
    for r in results:
        assert r.delivered and "has 5 layers (at most 4 are decoded)" in r.detail


@pytest.mark.parametrize(
    "body, phrase",
    [
        (b"plain text, not gzip", "response body could not be decoded (gzip) after 0 bytes: Error -3"),
        (_gzip([bytes(range(256)) * 40])[:-12], "response body ended before its gzip data was complete"),
    ],
)
def test_corrupt_compressed_bodies_keep_the_status_and_say_why(tmp_path, body, phrase):
    with RawServer(_encoded(body, "gzip")) as srv:
        results = _both(tmp_path, srv.url)
    for r in results:
        assert r.delivered and r.http_status == 200 and r.error is None
        assert phrase in r.detail, r.detail


# -- 3. timeouts that would switch the deadline off -----------------------------------------

TIMEOUT_FIELDS = ["connect_timeout", "read_timeout", "write_timeout", "deadline"]


@pytest.mark.parametrize("field", TIMEOUT_FIELDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0, -1, 3600.5, 1e9, True, "5", None])
def test_non_finite_or_absurd_timeouts_are_refused_naming_the_field(field, bad):
    with pytest.raises(ValidationError, match=f"^{field}: must be a number of seconds greater than 0 and at most 3600") as info:
        DeliveryConfig(**{field: bad})
    assert info.value.field == field
    with pytest.raises(ValidationError, match=f"^{field}:"):
        DeliveryConfig().with_(**{field: bad})


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"max_response_bytes": 10**12}, "max_response_bytes"),
        ({"max_response_bytes": 1.5}, "max_response_bytes"),
        ({"max_response_bytes": -1}, "max_response_bytes"),
        ({"verify_tls": "no"}, "verify_tls"),
        ({"trust_env": "false"}, "trust_env"),  # a truthy string would honour proxy variables
        ({"user_agent": "x\r\nX-Evil: 1"}, "user_agent"),
        ({"user_agent": ""}, "user_agent"),
        ({"proxy": 8080}, "proxy"),
        ({"resolver": ["127.0.0.1"]}, "resolver"),
    ],
)
def test_other_absurd_settings_are_refused_naming_the_field(changes, field):
    with pytest.raises(ValidationError) as info:
        DeliveryConfig(**changes)
    assert info.value.field == field


def test_the_largest_accepted_values_still_work(tmp_path):
    config = DeliveryConfig(connect_timeout=3600, read_timeout=3600, write_timeout=3600, deadline=3600, max_response_bytes=10_000_000)
    with RawServer(answer(200, b'{"ok":true}')) as srv:
        results = _both(tmp_path, srv.url, config, n=2)
    assert all(r.delivered for r in results)


@pytest.mark.parametrize("command", ["send", "burst"])
@pytest.mark.parametrize("flag", ["--deadline", "--connect-timeout", "--read-timeout"])
@pytest.mark.parametrize("value", ["nan", "inf", "1e9", "7200"])
def test_cli_timeouts_get_a_one_line_error_and_nothing_is_sent(tmp_path, monkeypatch, capsys, command, flag, value):
    # The CLI's flags end in DeliveryConfig; whether the flag's type refuses the value first or
    # DeliveryConfig does, it is one line naming the flag or field, exit 2, nothing sent.
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    with RawServer(answer(200)) as srv:
        with Simulator(tmp_path / "simlib.sqlite3") as sim:
            wh = sim.create_webhook("cli", srv.url, [APP])
        try:
            code = main([command, wh.id, APP, flag, value])
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert srv.requests == []
    assert code == 2, err
    assert (flag in err or flag[2:].replace("-", "_") in err) and err.count("\n") == 1, err


def test_burst_counts_must_be_sane(tmp_path):
    with Simulator(tmp_path / "s.db") as sim:
        for bad in ({"concurrency": 10**7}, {"concurrency": 0}):
            with pytest.raises(ValidationError, match="^concurrency: must be a whole number from 1 to 1000"):
                sim.send_many("wh", APP, 1, **bad)
        with pytest.raises(ValidationError, match="^n: must be a whole number from 1 to 100000"):
            sim.send_many("wh", APP, 10**9)
        for rate in (math.nan, math.inf):
            with pytest.raises(ValidationError, match="^rate:"):
                sim.send_many("wh", APP, 1, rate=rate)


# -- 7. no answer from the resolver means "not sent" -----------------------------------------


@pytest.mark.parametrize("policy", ["strict", "local"])
@pytest.mark.parametrize(
    "answer_, phrase",
    [
        ([], "the resolver answered no addresses for 'localhost'"),
        ((), "the resolver answered no addresses for 'localhost'"),
        (None, "the resolver answered NoneType, not a list of addresses for 'localhost'"),
        ("127.0.0.1", "the resolver answered str, not a list of addresses for 'localhost'"),
        (["localhost"], "the resolver answered 'localhost', which is not an IP address for 'localhost'"),
        (["127.0.0.1", "not-an-ip"], "the resolver answered 'not-an-ip', which is not an IP address"),
    ],
)
def test_a_resolver_without_a_usable_answer_sends_nothing(tmp_path, policy, answer_, phrase):
    # A real server listens on 127.0.0.1: httpx resolving "localhost" itself would reach it.
    with RawServer(answer(200)) as srv:
        config = DeliveryConfig(deadline=5, address_policy=policy, resolver=lambda host, port: answer_)
        results = _both(tmp_path, f"http://localhost:{srv.port}/hook", config)
        time.sleep(0.1)
        assert srv.connections == 0 and srv.requests == []
    for r in results:
        assert r.error == "Network error" and r.http_status is None
        assert r.detail.startswith("DNS: ") and phrase in r.detail and r.detail.endswith("nothing was sent"), r.detail


def test_no_answer_is_not_handed_to_a_proxy_either(tmp_path):
    with RawServer(answer(200)) as proxy:
        config = DeliveryConfig(deadline=5, address_policy="strict", proxy=f"http://127.0.0.1:{proxy.port}", resolver=lambda h, p: [])
        results = _both(tmp_path, "http://receiver.example/hook", config)
        time.sleep(0.1)
        assert proxy.connections == 0
    assert all(r.error == "Network error" and "answered no addresses" in r.detail for r in results)


def test_a_resolver_that_answers_is_still_used_and_checked(tmp_path):
    with RawServer(answer(200)) as srv:
        ok = _both(tmp_path / "a", f"http://localhost:{srv.port}/hook", DeliveryConfig(resolver=lambda h, p: ["127.0.0.1"]), n=2)
        blocked = _both(
            tmp_path / "b",
            f"http://localhost:{srv.port}/hook",
            DeliveryConfig(address_policy="strict", resolver=lambda h, p: ["127.0.0.1"]),
            n=2,
        )
        assert len(srv.requests) == 3
    assert all(r.delivered for r in ok)
    assert all(r.error == "Network error" and r.detail.startswith("blocked address") for r in blocked)


# -- 8. exotic charsets ----------------------------------------------------------------------

BODY = '{"ok":"café ✓"}'.encode()
EXOTIC = ["bz2", "zlib", "base64", "hex", "quopri", "uu", "rot13", "undefined", "idna", "punycode"]


@pytest.mark.parametrize("charset", [*EXOTIC, "utf-16"])
def test_exotic_charsets_decode_as_utf8_with_a_note(tmp_path, charset):
    with RawServer(answer(200, BODY, {"Content-Type": f"application/json; charset={charset}"})) as srv:
        results = _both(tmp_path, srv.url)
    for r in results:
        assert r.result == "Delivered" and r.error is None, r.detail
        assert r.response_body == BODY.decode()
        assert r.detail.startswith("Delivered: 200 X; charset ") and r.detail.endswith("decoded as UTF-8"), r.detail
        reason = "could not decode the body" if charset == "utf-16" else "is not a text encoding"
        assert reason in r.detail


@pytest.mark.parametrize(
    "charset, body, text",
    [("latin-1", "café".encode("latin-1"), "café"), ("koi8-r", "привет".encode("koi8-r"), "привет"), ('"utf-8"', BODY, BODY.decode())],
)
def test_real_charsets_still_decode_without_a_note(tmp_path, charset, body, text):
    with RawServer(answer(200, body, {"Content-Type": f"text/plain; charset={charset}"})) as srv:
        results = _both(tmp_path, srv.url, n=2)
    assert all(r.response_body == text and r.detail == "Delivered: 200 X" for r in results)


# -- 9. hung lookups do not starve later ones -------------------------------------------------


@pytest.fixture
def hang():
    """A resolver that hangs (up to 8 s, like a dead DNS server); released at teardown."""
    release = threading.Event()
    calls = []

    def resolver(host, port):
        calls.append(host)
        release.wait(8)
        return ["127.0.0.1"]

    resolver.calls = calls  # type: ignore[attr-defined]
    yield resolver
    release.set()
    wait_until(lambda: netpolicy.pending_lookups() == 0, timeout=5)


def _hung_sends(tmp_path, resolver, n_single: int, n_burst: int, engine: str = "auto"):
    config = DeliveryConfig(deadline=0.5, resolver=resolver)
    with Simulator(tmp_path / "hung.db", delivery=config) as sim:
        wh = sim.create_webhook("hung", "http://hung-dns.test/hook", [APP])
        out = [sim.simulate(wh, APP) for _ in range(n_single)]
        if n_burst:
            out += sim.send_many(wh, APP, n_burst, concurrency=n_burst, progress=False, engine=engine).results
    return out


def test_lookups_that_hang_do_not_starve_a_later_send(tmp_path, hang):
    hung = _hung_sends(tmp_path, hang, 5, BURST)
    assert all(r.detail == "timeout: the DNS lookup of 'hung-dns.test' did not finish within 0.5 s" for r in hung), [
        r.detail for r in hung
    ]
    with RawServer(answer(200)) as srv:
        t0 = time.monotonic()
        results = _both(tmp_path, f"http://fast-dns.test:{srv.port}/hook", DeliveryConfig(deadline=2, resolver=lambda h, p: ["127.0.0.1"]))
        took = time.monotonic() - t0
    # Delivered proves no later lookup was starved (one queued behind the hung ones would fail at
    # its 2 s deadline); the time is only a bound, with slack for a stalled machine.
    assert [r.result for r in results] == ["Delivered"] * (1 + BURST), [r.detail for r in results]
    assert took < 5


@pytest.mark.parametrize("engine", ["curl", "aiohttp"])
def test_hanging_lookups_are_bounded_with_a_clear_error(tmp_path, hang, monkeypatch, engine):
    # Five single sends: four lookups hang (the limit), the fifth is refused. Then a burst of three,
    # whichever engine: the curl engine looks a name up once per burst, aiohttp once per connection;
    # either way no new lookup may start while four hang, so every burst send is refused.
    monkeypatch.setattr(netpolicy, "MAX_PENDING_LOOKUPS", 4)
    threads_before = sum(t.name == "simlib-dns" for t in threading.enumerate())  # idle ones are reused
    t0 = time.monotonic()
    results = _hung_sends(tmp_path, hang, 5, 3, engine)
    took = time.monotonic() - t0
    details = [r.detail for r in results]
    timeouts = [d for d in details if d.startswith("timeout: the DNS lookup")]
    busy = [d for d in details if d.startswith("DNS: 4 earlier lookups are still hanging")]
    assert len(timeouts) == 4 and len(busy) == 4, details
    assert all(d.endswith("not starting another for 'hung-dns.test', nothing was sent") for d in busy)
    assert len(hang.calls) == 4  # the refused ones never started a thread
    assert sum(t.name == "simlib-dns" for t in threading.enumerate()) <= threads_before + 4
    # The four hung sends end at their 0.5 s deadline (without it they would wait out the 8 s
    # hang); the refused ones started no lookup (the counts above), + 3 s for a stalled machine.
    assert took < 4 * 0.5 + 3
