"""The built-in events' bodies written from templates (issue 12: own work per send) are the bytes
of the payload built and serialised (simlib.core.templates), and step aside where they do not
apply."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simlib.core import events
from simlib.core.events import build_payload, get_event_type, register_event
from simlib.core.ids import uuid4s_from_bits
from simlib.core.payload import build_preview, preview_series, serialize
from simlib.core.templates import template_body, template_for
from simlib.records import Preview, Secret, Webhook
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT

SAFE = 2**53
NOW = 1_769_591_601_771


def built(event: str, seed: int, now_ms: int, options: dict, org: str | None) -> bytes:
    return serialize(build_payload(event, seed=seed, now_ms=now_ms, options=options, organisation_id=org))


def templated(event: str, seed: int, now_ms: int, options: dict, org: str | None) -> bytes | None:
    return template_body(event, get_event_type(event).builder, seed=seed, now_ms=now_ms, options=options,
                         organisation_id=org)


@settings(max_examples=400, deadline=None)
@given(
    event=st.sampled_from(ALL_EVENTS),
    seed=st.integers(min_value=0, max_value=2**64),
    now_ms=st.one_of(st.integers(min_value=-SAFE, max_value=SAFE), st.integers(min_value=0, max_value=4_102_444_800_000)),
    org=st.one_of(st.none(), st.text(max_size=40)),
    work_mode=st.sampled_from([None, True, False]),
)
def test_a_template_writes_the_bytes_of_the_built_payload(event, seed, now_ms, org, work_mode):
    options = {"work_mode": work_mode} if event == ACT and work_mode is not None else {}
    body = templated(event, seed, now_ms, options, org)
    assert body is not None
    assert body == built(event, seed, now_ms, options, org)


@pytest.mark.parametrize("event", ALL_EVENTS)
def test_a_preview_takes_the_template_and_gives_the_same_preview(event, monkeypatch):
    wh = Webhook(id="wh_t", name="t", url="http://127.0.0.1:9/x", events=tuple(ALL_EVENTS), secret=Secret("s" * 32),
                 previous_secret=None, previous_secret_expires_ms=None, created_ms=0, updated_ms=0, organisation_id=None)
    fast = build_preview(wh, event, seed=7, now_ms=NOW, organisation_id="org_ü")
    calls = []
    monkeypatch.setattr("simlib.core.payload.template_body", lambda *a, **k: calls.append(a))
    slow = build_preview(wh, event, seed=7, now_ms=NOW, organisation_id="org_ü")
    assert calls and fast == slow  # the same Preview, body, event id and all
    assert fast == Preview(**vars(fast)) and list(vars(fast)) == [f.name for f in fields(Preview)]
    assert json.loads(fast.body)["data"] is not None


def test_templates_step_aside_where_they_do_not_apply():
    # A clock past JavaScript's safe integers (written rounded by the generic path), a wrong
    # option (the builder says what is wrong), another event's builder.
    assert templated(APP, 1, SAFE + 1, {}, None) is None
    assert templated(ACT, 1, NOW, {"work_mode": "yes"}, None) is None
    assert template_body(SHOT, get_event_type(APP).builder, seed=1, now_ms=NOW, options={}, organisation_id=None) is None
    assert template_body("desktop.other.captured", get_event_type(APP).builder, seed=1, now_ms=NOW, options={},
                         organisation_id=None) is None


def test_a_redefined_builtin_event_is_built_by_its_new_builder():
    wh = Webhook(id="wh_t", name="t", url="http://127.0.0.1:9/x", events=(APP,), secret=Secret("s" * 32),
                 previous_secret=None, previous_secret_expires_ms=None, created_ms=0, updated_ms=0, organisation_id=None)
    original = events._REGISTRY[APP]
    try:
        register_event(APP, "replaced")(lambda ctx: ctx.envelope(APP, [{"replaced": True}]))
        body = build_preview(wh, APP, seed=1, now_ms=NOW).body
        assert json.loads(body)["data"] == [{"replaced": True}]
    finally:
        events._REGISTRY[APP] = original


def test_overrides_and_options_take_the_generic_path_with_its_errors():
    wh = Webhook(id="wh_t", name="t", url="http://127.0.0.1:9/x", events=tuple(ALL_EVENTS), secret=Secret("s" * 32),
                 previous_secret=None, previous_secret_expires_ms=None, created_ms=0, updated_ms=0, organisation_id=None)
    p = build_preview(wh, APP, seed=3, now_ms=NOW, overrides={"data.0.tracking.app.name": "Mine"})
    assert json.loads(p.body)["data"][0]["tracking"]["app"]["name"] == "Mine"
    with pytest.raises(Exception, match="no option 'bogus'"):
        build_preview(wh, APP, seed=3, now_ms=NOW, options={"bogus": 1})
    with pytest.raises(Exception, match="work_mode"):
        build_preview(wh, ACT, seed=3, now_ms=NOW, options={"work_mode": "yes"})
    assert json.loads(build_preview(wh, ACT, seed=3, now_ms=NOW, options={"work_mode": False}).body)["data"]["activity"] == {
        "workMode": False}


@settings(max_examples=500, deadline=None)
@given(ms=st.one_of(st.integers(min_value=-SAFE, max_value=SAFE), st.integers(min_value=-10**6, max_value=10**6)))
def test_iso_is_the_text_of_gmtime(ms):
    import time

    t = time.gmtime(ms // 1000)
    expected = (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}."
                f"{ms % 1000:03d}Z")
    assert events.BuildContext(0, 0).iso(ms) == expected


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**64), count=st.integers(min_value=1, max_value=6))
def test_uuids_in_one_draw_are_the_successive_uuids(seed: int, count: int) -> None:
    """BuildContext.uuids(count) (one getrandbits for all) gives what count uuid() calls give,
    and leaves the source where they leave it; a generator used before and seeded again with
    seed_rng (what the templates draw from) draws what a new context does."""
    one_by_one = events.BuildContext(seed, NOW)
    expected = [one_by_one.uuid() for _ in range(count)]
    together = events.BuildContext(seed, NOW)
    assert together.uuids(count) == expected
    assert together.rng.random() == one_by_one.rng.random()
    used = events.BuildContext(seed + 1, NOW).rng
    used.getrandbits(77)
    events.seed_rng(used, seed)
    assert uuid4s_from_bits(used.getrandbits(128 * count), count) == expected


WH = Webhook(id="wh_t", name="t", url="http://127.0.0.1:9/x", events=tuple(ALL_EVENTS), secret=Secret("s" * 32),
             previous_secret=None, previous_secret_expires_ms=None, created_ms=0, updated_ms=0, organisation_id=None)


def outcome_of(make, *args, **kwargs):
    """What a preview maker gives: the Preview, or the type and words of what it raised."""
    try:
        return make(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return (type(exc), str(exc))


@settings(max_examples=300, deadline=None)
@given(
    event=st.sampled_from(ALL_EVENTS),
    seeds=st.lists(st.one_of(st.integers(min_value=0, max_value=2**64), st.sampled_from([-1, True, 2.0])),
                   min_size=1, max_size=4),
    now_ms=st.one_of(st.integers(min_value=-2 * SAFE, max_value=2 * SAFE), st.just(float(NOW))),
    org=st.one_of(st.none(), st.text(max_size=20)),
    options=st.sampled_from([{}, {"work_mode": False}, {"work_mode": "yes"}, {"bogus": 1}]),
    overrides=st.sampled_from([None, {}, {"data.0.tracking.app.name": "Mine"}]),
    max_bytes=st.sampled_from([5_000_000, 200]),
)
def test_a_preview_series_gives_what_build_preview_gives(event, seeds, now_ms, org, options, overrides, max_bytes):
    """preview_series (a burst's previews, looked up once) makes the very Preview build_preview
    makes for every seed -- or raises the same error -- on the template path and off it (a wrong
    seed or option, a clock past the safe integers or not an int, overrides, a small limit)."""
    kwargs = {"overrides": overrides, "options": options, "max_bytes": max_bytes, "organisation_id": org}
    try:
        make = preview_series(WH, event, **kwargs)
    except Exception as exc:  # noqa: BLE001 - an option the event type has not is refused once, up front
        assert outcome_of(build_preview, WH, event, seed=1, now_ms=NOW, **kwargs) == (type(exc), str(exc))
        assert not overrides and "no option" in str(exc)
        return
    for seed in seeds:
        expected = outcome_of(build_preview, WH, event, seed=seed, now_ms=now_ms, **kwargs)
        got = outcome_of(make, seed, now_ms)
        assert got == expected
        if isinstance(got, Preview):
            assert list(vars(got)) == [f.name for f in fields(Preview)]  # every field, in order


def test_a_preview_series_takes_the_template_once_looked_up(monkeypatch):
    calls = []
    monkeypatch.setattr("simlib.core.payload.template_body", lambda *a, **k: calls.append(a))
    make = preview_series(WH, APP, organisation_id="org_1")
    assert [make(s, NOW) for s in range(3)] == [build_preview(WH, APP, seed=s, now_ms=NOW, organisation_id="org_1")
                                                for s in range(3)]
    assert len(calls) == 3  # build_preview went the slow way (patched); the series did not call it
    assert template_for("desktop.other.captured", get_event_type(APP).builder, options={}, organisation_id=None) is None
    assert template_for(SHOT, get_event_type(APP).builder, options={}, organisation_id=None) is None
