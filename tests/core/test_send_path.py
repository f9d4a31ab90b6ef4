"""The single send's fast path (issue 12 goal 4) keeps every contract of the slow one: the JSON
checks of serialize(), the signature, the completion that writes into the reserved row, and an
async path that works (without rescanning sys.path) when sniffio is not installed."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simlib import sign
from simlib.core.delivery.body import _mostly_binary
from simlib.core.events import build_payload, event_names
from simlib.core.ids import new_uuid4
from simlib.core.jsjson import stringify, stringify_fast
from simlib.core.payload import serialize
from simlib.core.signing import compute_signature
from simlib.errors import ValidationError
from tests.helpers import APP


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [101, 150, 900])
def test_serialize_counts_levels_the_encoder_accepts(depth):
    # Deeper than MAX_NESTING (100) but shallow enough for the C encoder: only the bracket
    # count sends it to the walk that refuses it.
    with pytest.raises(ValidationError) as info:
        serialize({"a": _nested(depth)})
    assert "nested too deeply" in str(info.value)


def test_serialize_allows_the_deepest_payload_and_brackets_inside_text():
    assert json.loads(serialize(_nested(99))) == _nested(99)
    text = "[" * 500 + "{" * 500  # counted as brackets, but only text: the walk says it is fine
    assert serialize({"a": text}) == json.dumps({"a": text}, separators=(",", ":")).encode()


def test_serialize_is_the_compact_utf8_form_and_names_each_problem():
    payload = {"é": ["ü", 1.5, None, True], "n": {"x": []}}
    assert serialize(payload) == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert serialize({"a": "\ud800"}) == b'{"a":"\\ud800"}'  # escaped, as JSON.stringify writes it
    cycle: list = []
    cycle.append(cycle)
    deep_cycle: dict = {"a": [{"b": None}]}
    deep_cycle["a"][0]["b"] = deep_cycle
    for value, says in ((cycle, "nested too deeply"), (deep_cycle, "nested too deeply"), (_nested(50_000), "nested too deeply"),
                        ({"a": float("inf")}, "Out of range"), ({"a": 10**400}, "Out of range"),
                        ({"a": object()}, "not JSON serializable")):
        with pytest.raises(ValidationError) as info:
            serialize(value)
        assert says in str(info.value)


@pytest.mark.parametrize("size", [0, 1, 65_536, 65_537, 300_000])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_signature_is_the_same_on_the_one_shot_and_the_streamed_path(size, encoding):
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    mac = hmac.new(b"s3cret", b"1800000000000." + body, hashlib.sha256)
    want = mac.hexdigest() if encoding == "hex" else __import__("base64").b64encode(mac.digest()).decode()
    assert compute_signature("s3cret", 1800000000000, body, encoding=encoding) == want
    assert compute_signature("s3cret", "1800000000000", memoryview(body), encoding=encoding) == want
    with pytest.raises(ValueError):
        compute_signature("s3cret", 1, body, encoding="base32")  # type: ignore[arg-type]


def test_signatures_from_the_keyed_copies_stay_those_of_each_secret_and_message():
    # compute_signature signs on a copy of an HMAC keyed once per secret (issue 12): a keyed
    # state fed by one signature, or mixed up between secrets, would change the next ones.
    def want(secret: str, ts: int, body: bytes) -> str:
        return hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()

    for round_ in range(3):
        for i in range(100):  # more secrets than are kept keyed: the cache is emptied and refilled
            secret, body = f"secret-{i % 70}", b"body %d" % (round_ * 100 + i)
            assert compute_signature(secret, 1_800_000_000_000 + i, body) == want(secret, 1_800_000_000_000 + i, body)
            assert compute_signature(secret.encode(), 5, b"") == want(secret, 5, b"")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_uuids_from_the_pool_are_unique_and_a_forked_child_draws_its_own():
    # new_uuid4 takes its random bits 4 KiB at a time (issue 12): a child after a fork must not
    # make the ids its parent makes next from the bits left in the pool.
    import uuid

    first = [new_uuid4() for _ in range(300)]  # crosses a refill of the pool
    assert len(set(first)) == 300 and all(uuid.UUID(u).version == 4 and str(uuid.UUID(u)) == u for u in first)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(write, ",".join(new_uuid4() for _ in range(20)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        child = f.read().split(",")
    os.waitpid(pid, 0)
    parent = [new_uuid4() for _ in range(20)]
    assert len(child) == 20 and not set(child) & set(parent)


def test_binary_detection_counts_control_bytes():
    assert _mostly_binary(bytes(range(32)) * 4)
    assert not _mostly_binary(b"line\r\n\ttabbed text" * 10)
    assert _mostly_binary(b"\x01" * 11 + b"a" * 89) and not _mostly_binary(b"\x01" * 10 + b"a" * 90)


def test_send_completes_the_reserved_row_and_leaves_no_reservation(sim, receiver):
    wh = sim.create_webhook("fast", receiver.url, [APP])
    receiver.secrets = [wh.secret.reveal()]
    results = [sim.send(sim.preview(wh, APP, seed=i)) for i in range(5)]
    assert all(r.delivered for r in results)
    assert sim.store._reserved == {}  # every reservation released by its completion
    frame = sim.history()
    assert list(frame["id"]) == [r.history_id for r in results]
    assert set(frame["result"]) == {"Delivered"} and set(frame["http_status"]) == {200}
    row = sim.history_row(results[-1].history_id)
    assert row["detail"].startswith("Delivered: 200")
    ts = row["request_headers"]["x-webhook-timestamp"]
    assert row["request_headers"] == {**sign(wh.secret.reveal(), row["request_body"], int(ts)),
                                      "user-agent": sim.delivery.user_agent}


_NO_SNIFFIO = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys
    asked = []

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "sniffio":
                asked.append(name)
                raise ModuleNotFoundError("No module named 'sniffio'", name="sniffio")
            return None

    sys.modules.pop("sniffio", None)
    sys.meta_path.insert(0, Hide())
    from simlib.core.delivery.http import DeliveryConfig, deliver_async, make_async_sender
    from simlib.receiver import Receiver

    rx = Receiver().start()

    async def main():
        config = DeliveryConfig()
        async with make_async_sender(config, max_connections=4) as client:
            outs = await asyncio.gather(*(deliver_async(client, rx.url, b'{}', {"content-type": "application/json"}, config)
                                          for _ in range(40)))
        return [o.http_status for o in outs]

    statuses = asyncio.run(main())
    rx.stop()
    print(statuses.count(200), len(asked))
    """
)


def test_async_sends_work_without_sniffio_and_look_for_it_once():
    out = subprocess.run([sys.executable, "-c", _NO_SNIFFIO], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    delivered, lookups = map(int, out.stdout.split())
    assert delivered == 40
    assert lookups <= 1  # without the guard: several per request (httpcore's locks and backend)


# -- serialize()'s C fast path writes exactly what stringify writes --------------------------------

_KEYS = st.one_of(st.text(max_size=8), st.sampled_from(["0", "1", "10", "01", "-1", "1.5", "true", "null", "a\"b", "{", ","]),
                  st.integers(-5, 5))
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**60), 2**60),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 1.0, 1e16, 1e21, 1e-7, 2.5]),
    st.text(), st.sampled_from(["\ud800", "a\udcffb", "\ud83d\ude00", "\x00\x1f\x7f\u2028", '"{1.5}"', "1e5", "[1,2]"]),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                                                       st.dictionaries(_KEYS, inner, max_size=4)), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_the_c_fast_path_is_stringify_or_steps_aside(value):
    fast = stringify_fast(value)
    try:
        slow = stringify(value)
    except (ValueError, TypeError, RecursionError):
        assert fast is None
        return
    assert fast is None or fast == slow
    assert serialize(value) == slow.encode("utf-8")


def test_event_payloads_take_the_fast_path_and_match_stringify():
    for name in event_names():
        for seed in range(20):
            payload = build_payload(name, seed=seed, now_ms=1_800_000_000_000 + seed)
            fast = stringify_fast(payload)
            assert fast == stringify(payload), name
            assert fast is not None or name == "desktop.screenshot_tracking.captured" and len(stringify(payload)) > 256 * 1024


def test_a_send_sees_webhook_changes_made_through_another_connection(store_path, receiver):
    # A send re-reads its webhook only when the file may have changed (issue 12: PRAGMA
    # data_version). Another connection's change -- another Simulator on the same file, as a
    # second process would be -- must reach the very next send: new URL, secret, events, deletion.
    from simlib import Simulator
    from simlib.receiver import Receiver

    other_rx = Receiver().start()
    try:
        with Simulator(store_path) as a, Simulator(store_path) as b:
            wh = a.create_webhook("shared", receiver.url, [APP])
            receiver.secrets = [wh.secret.reveal()]
            assert a.send(a.preview(wh, APP, seed=1)).delivered  # read once, remembered
            assert a.send(a.preview(wh, APP, seed=2)).delivered

            b.update_webhook(wh.id, url=other_rx.url)
            r = a.send(a.preview(wh, APP, seed=3))
            assert r.url == other_rx.url and other_rx.count == 1 and receiver.count == 2

            new = b.update_webhook(wh.id, secret="s" * 40)
            other_rx.secrets = [new.secret.reveal()]  # verifies with the new secret only
            r = a.send(a.preview(wh, APP, seed=4))
            assert r.delivered, r.detail
            assert other_rx.requests[-1].verified is True

            b.update_webhook(wh.id, events=["desktop.screenshot_tracking.captured"])
            assert a.send(a.preview(wh, APP, seed=5)).error == "Event type not registered"

            b.delete_webhook(wh.id)
            assert a.send(a.preview(wh, APP, seed=6)).error == "Webhook not found"
            assert other_rx.count == 2
    finally:
        other_rx.stop()


def test_a_send_sees_the_simulators_own_webhook_changes(sim, receiver):
    # The same Simulator's own writes leave data_version as it was: they clear what was read.
    from simlib.receiver import Receiver

    other_rx = Receiver().start()
    try:
        wh = sim.create_webhook("own", receiver.url, [APP])
        assert sim.send(sim.preview(wh, APP, seed=1)).http_status == 200
        sim.update_webhook(wh.id, url=other_rx.url)
        assert sim.send(sim.preview(wh, APP, seed=2)).url == other_rx.url and other_rx.count == 1
        sim.rotate_secret(wh.id, new_secret="t" * 40)
        other_rx.secrets = ["t" * 40]
        assert sim.send(sim.preview(wh, APP, seed=3)).delivered
        sim.delete_webhook(wh.id)
        assert sim.send(sim.preview(wh, APP, seed=4)).error == "Webhook not found"
    finally:
        other_rx.stop()


def test_a_bursts_completed_rows_hold_the_headers_signed_at_send_time(sim, receiver):
    # A burst's rows are reserved before their headers are signed: their completion writes the
    # headers and the send time (a single send's completion may leave them, already stored).
    wh = sim.create_webhook("burst", receiver.url, [APP])
    receiver.secrets = [wh.secret.reveal()]
    burst = sim.send_many(wh, APP, 12, concurrency=4, progress=False)
    assert all(r.delivered for r in burst.results)
    single = sim.send(sim.preview(wh, APP, seed=99))
    assert sim.store._pending == {} and sim.store._reserved == {}
    for r in [*burst.results, single]:
        row = sim.history_row(r.history_id)
        ts = row["request_headers"]["x-webhook-timestamp"]
        assert row["request_headers"] == {**sign(wh.secret.reveal(), row["request_body"], int(ts)),
                                          "user-agent": sim.delivery.user_agent}
        assert row["sent_at_ms"] == int(ts) and row["user"] == r.user and row["user"]
        assert row["request_headers"] == r.request_headers and row["response_body"] == r.response_body
        assert row["simulation_id"] == r.simulation_id  # the id reserved is this send's row
    assert len({r.simulation_id for r in burst.results}) == 12


def test_complete_many_writes_each_row_whatever_its_reservation_held(sim, receiver):
    # Rows reserved with their headers (as a single send's) and without (as a burst's), completed
    # in one batch: the UPDATEs are grouped by form (issue 12); each row must end as its attempt.
    from simlib.core.classify import make_history_row, outcome_bytes, pending_row
    from simlib.core.delivery.http import Outcome, signed_headers

    wh = sim.create_webhook("mixed", receiver.url, [APP])
    previews = [sim.preview(wh, APP, seed=i) for i in range(6)]
    signed = [signed_headers(wh.secret, p.body, 1_800_000_000_000 + i, sim.delivery) for i, p in enumerate(previews)]
    with_headers = [i % 3 != 0 for i in range(6)]  # mixed, so the batch changes form twice
    pending = [pending_row(p, f"sim-{i}", wh, signed[i] if with_headers[i] else {}, 1_800_000_000_000 + i)
               for i, p in enumerate(previews)]
    ids = sim.store.reserve(pending, outcome_bytes=outcome_bytes(sim.delivery))
    assert ids == list(range(ids[0], ids[0] + 6))
    done = [make_history_row(p, f"sim-{i}", wh, signed[i], 1_800_000_000_000 + i,
                             Outcome(http_status=200 + i, latency_ms=1.0 + i, response_body=f"answer {i}",
                                     detail=f"Delivered: {200 + i}", response_headers={"n": str(i)}))
            for i, p in enumerate(previews)]
    sim.store.complete_many(list(zip(ids, done, strict=True)))
    assert sim.store._pending == {} and sim.store._reserved == {}
    for hid, row in zip(ids, done, strict=True):
        stored = sim.history_row(hid)
        for name in ("simulation_id", "sent_at_ms", "result", "http_status", "latency_ms", "detail", "request_headers",
                     "response_headers", "response_body", "request_body", "user", "host"):
            assert stored[name] == getattr(row, name), (hid, name)
