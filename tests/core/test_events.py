"""The event catalogue: documented shapes (spec §6), the simulation flag, determinism, overrides,
and registering a new event type."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest

from simlib import OverrideError, Simulator, UnknownEventError, ValidationError, event_types, register_event
from simlib.core.events import build_payload, parse_override, unregister_event
from simlib.receiver import Receiver
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT

CLOCK_MS = 1_769_592_774_119
ENVELOPE = ["event", "version", "agent", "timestamp", "data", "simulation"]
IDS = ["organisation", "team", "user"]
APP_KEYS = ["name", "type", "category", "iconUrl", "domain", "fullUrl", "productivityStatus"]


def fixed_clock() -> int:
    return CLOCK_MS


@pytest.fixture
def csim(store_path):
    s = Simulator(store_path, clock=fixed_clock)
    yield s
    s.close()


@pytest.fixture
def wh(csim):
    return csim.create_webhook("Events", "https://example.com/hooks", ALL_EVENTS)


def parse_iso(text: str) -> datetime:
    assert text.endswith("Z") and len(text) == 24, text  # 2026-01-28T09:13:21.771Z
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_uuid4(text: str) -> None:
    assert uuid.UUID(text).version == 4
    assert str(uuid.UUID(text)) == text


def assert_ids(record: dict) -> None:
    assert list(record["organisation"]) == ["organisationId"]
    assert list(record["team"]) == ["teamId"]
    assert list(record["user"]) == ["userId"]
    for key, field in (("organisation", "organisationId"), ("team", "teamId"), ("user", "userId")):
        assert_uuid4(record[key][field])


# -- catalogue --------------------------------------------------------------------------------


def test_the_three_documented_events_are_registered_with_descriptions():
    types = {t.name: t for t in event_types()}
    assert set(ALL_EVENTS) <= set(types)
    for name in ALL_EVENTS:
        assert types[name].description.strip()
        assert "\n" not in types[name].description


def test_unknown_event_type_is_refused(csim, wh):
    with pytest.raises(UnknownEventError) as exc:
        csim.preview(wh, "desktop.nothing.captured")
    assert "desktop.nothing.captured" in str(exc.value)


# -- shapes -------------------------------------------------------------------------------------


def test_app_tracking_shape(csim, wh):
    p = csim.preview(wh, APP, seed=1).payload
    assert list(p) == ENVELOPE
    assert p["event"] == APP and p["version"] == "v1" and p["agent"] == "desktop-agent"
    assert isinstance(p["data"], list) and len(p["data"]) == 1
    item = p["data"][0]
    assert list(item) == [*IDS, "tracking"]
    assert_ids(item)
    tracking = item["tracking"]
    assert list(tracking) == ["trackingId", "app", "time", "trackingMode", "operatingSystem"]
    assert_uuid4(tracking["trackingId"])
    assert list(tracking["app"]) == APP_KEYS
    assert tracking["app"]["iconUrl"] == f"https://{tracking['app']['domain']}/favicon.ico"
    assert list(tracking["time"]) == ["startDate", "endDate", "durationInSeconds"]
    assert tracking["trackingMode"] == "online"
    assert tracking["operatingSystem"] in {"windows", "macos", "linux"}


def test_screenshot_tracking_shape(csim, wh):
    p = csim.preview(wh, SHOT, seed=2).payload
    assert list(p) == ENVELOPE
    assert p["event"] == SHOT and p["version"] == "v1" and p["agent"] == "desktop-agent"
    assert isinstance(p["data"], list) and len(p["data"]) == 1
    item = p["data"][0]
    assert list(item) == [*IDS, "screenshot"]
    assert_ids(item)
    shot = item["screenshot"]
    assert list(shot) == ["screenshotId", "imageBuffer", "app", "time", "operatingSystem", "workType", "isIdle"]
    assert_uuid4(shot["screenshotId"])
    assert isinstance(shot["imageBuffer"], str)
    assert shot["imageBuffer"].startswith("<Buffer ff d8 ff") and shot["imageBuffer"].endswith("more bytes>")
    assert list(shot["app"]) == APP_KEYS
    assert list(shot["time"]) == ["capturedAt"]
    parse_iso(shot["time"]["capturedAt"])
    assert isinstance(shot["isIdle"], bool)


def test_activity_tracking_shape_a(csim, wh):
    p = csim.preview(wh, ACT, seed=3).payload
    assert list(p) == ENVELOPE
    assert p["event"] == ACT and p["version"] == "v1" and p["agent"] == "desktop-agent"
    assert isinstance(p["data"], dict)  # shape A: an object, not an array
    assert list(p["data"]) == [*IDS, "activity"]
    assert_ids(p["data"])
    assert p["data"]["activity"] == {"workMode": True}


@pytest.mark.parametrize("event", ALL_EVENTS)
def test_simulation_flag_is_true_and_top_level(csim, wh, event):
    p = csim.preview(wh, event)
    payload = p.payload
    assert payload["simulation"] is True
    assert "simulation" not in json.dumps(payload["data"])
    assert p.body.endswith(b',"simulation":true}')


@pytest.mark.parametrize("event", ALL_EVENTS)
def test_envelope_timestamp_is_the_injected_clock_in_ms(csim, wh, event):
    assert csim.preview(wh, event).payload["timestamp"] == CLOCK_MS


@pytest.mark.parametrize("seed", range(25))
def test_duration_is_whole_seconds_between_start_and_end(csim, wh, seed):
    time = csim.preview(wh, APP, seed=seed).payload["data"][0]["tracking"]["time"]
    start, end = parse_iso(time["startDate"]), parse_iso(time["endDate"])
    assert end > start
    assert isinstance(time["durationInSeconds"], int)
    assert time["durationInSeconds"] == int((end - start).total_seconds())
    assert end.timestamp() * 1000 <= CLOCK_MS


def test_activity_work_mode_option(csim, wh):
    assert csim.preview(wh, ACT, options={"work_mode": False}).payload["data"]["activity"] == {"workMode": False}
    assert csim.preview(wh, ACT, options={"work_mode": True}).payload["data"]["activity"] == {"workMode": True}
    with pytest.raises(ValidationError) as exc:
        csim.preview(wh, ACT, options={"work_mode": "no"})
    assert exc.value.field == "work_mode"
    with pytest.raises(ValidationError) as exc:
        csim.preview(wh, APP, options={"work_mode": False})
    assert exc.value.field == "options"


# -- determinism --------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ALL_EVENTS)
def test_same_seed_and_clock_give_the_same_bytes(csim, wh, event):
    a = csim.preview(wh, event, seed=42)
    b = csim.preview(wh, event, seed=42)
    c = csim.preview(wh, event, seed=43)
    assert a.body == b.body
    assert a.event_id == b.event_id
    assert c.body != a.body


def test_a_drawn_seed_is_kept_and_reproduces_the_payload(csim, wh):
    p = csim.preview(wh, SHOT)
    assert isinstance(p.seed, int)
    assert csim.preview(wh, SHOT, seed=p.seed).body == p.body


def test_build_payload_depends_only_on_seed_and_clock():
    a = build_payload(APP, seed=9, now_ms=CLOCK_MS)
    assert a == build_payload(APP, seed=9, now_ms=CLOCK_MS)
    later = build_payload(APP, seed=9, now_ms=CLOCK_MS + 1000)
    assert later["timestamp"] == CLOCK_MS + 1000
    assert later["data"][0]["tracking"]["trackingId"] == a["data"][0]["tracking"]["trackingId"]


def test_ids_are_fresh_within_one_payload(csim, wh):
    item = csim.preview(wh, APP, seed=5).payload["data"][0]
    ids = [item["organisation"]["organisationId"], item["team"]["teamId"], item["user"]["userId"], item["tracking"]["trackingId"]]
    assert len(set(ids)) == 4


def test_invalid_seed_is_refused(csim, wh):
    for bad in (-1, "7", 1.5, True):
        with pytest.raises(ValidationError) as exc:
            csim.preview(wh, APP, seed=bad)
        assert exc.value.field == "seed"


# -- overrides -----------------------------------------------------------------------------------


def test_override_by_dotted_path_with_a_mapping(csim, wh):
    p = csim.preview(wh, APP, overrides={"data.0.tracking.app.name": "Slack", "data.0.tracking.time.durationInSeconds": 7})
    tracking = p.payload["data"][0]["tracking"]
    assert tracking["app"]["name"] == "Slack"
    assert tracking["time"]["durationInSeconds"] == 7
    assert b'"name":"Slack"' in p.body
    assert p.overrides == (("data.0.tracking.app.name", "Slack"), ("data.0.tracking.time.durationInSeconds", 7))


def test_override_strings_are_json_typed(csim, wh):
    p = csim.preview(
        wh,
        APP,
        overrides=[
            "data.0.tracking.app.name=Slack",
            "data.0.tracking.trackingMode=\"12\"",
            "data.0.tracking.time.durationInSeconds=12",
            "data.0.tracking.operatingSystem=null",
            'data.0.tracking.app={"name": "Custom"}',
        ],
    )
    tracking = p.payload["data"][0]["tracking"]
    assert tracking["trackingMode"] == "12"
    assert tracking["time"]["durationInSeconds"] == 12
    assert tracking["operatingSystem"] is None
    assert tracking["app"] == {"name": "Custom"}
    a = csim.preview(wh, ACT, overrides=["data.activity.workMode=false"]).payload
    assert a["data"]["activity"]["workMode"] is False


def test_parse_override_values():
    assert parse_override("a.b=false") == ("a.b", False)
    assert parse_override("a.b=3.5") == ("a.b", 3.5)
    assert parse_override("a.b=hello world") == ("a.b", "hello world")
    assert parse_override("a.b=x=y") == ("a.b", "x=y")
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])


def test_unknown_override_path_names_the_path(csim, wh):
    with pytest.raises(OverrideError) as exc:
        csim.preview(wh, APP, overrides={"data.0.tracking.app.nmae": "Slack"})
    assert exc.value.path == "data.0.tracking.app.nmae"
    assert "data.0.tracking.app.nmae" in str(exc.value)
    assert "nmae" in exc.value.message
    with pytest.raises(OverrideError) as exc:
        csim.preview(wh, APP, overrides={"data.3.tracking": {}})
    assert exc.value.path == "data.3.tracking"
    with pytest.raises(OverrideError) as exc:
        csim.preview(wh, ACT, overrides={"data.activity.workMode.deeper": 1})
    assert exc.value.path == "data.activity.workMode.deeper"


def test_bad_json_override_value_is_refused(csim, wh):
    for text in ("data.0.tracking.app.name={oops", 'data.0.tracking.app.name="unterminated', "data.0.tracking.app.name=[1,"):
        with pytest.raises(OverrideError) as exc:
            csim.preview(wh, APP, overrides=[text])
        assert exc.value.path == "data.0.tracking.app.name"
        assert "JSON" in str(exc.value)


def test_override_without_equals_or_path_is_refused(csim, wh):
    with pytest.raises(OverrideError):
        csim.preview(wh, APP, overrides=["data.0.tracking.app.name"])
    with pytest.raises(OverrideError):
        csim.preview(wh, APP, overrides=["=Slack"])


def test_the_simulation_flag_cannot_be_overridden(csim, wh):
    with pytest.raises(OverrideError) as exc:
        csim.preview(wh, APP, overrides={"simulation": False})
    assert exc.value.path == "simulation"


# -- registering a new event type ---------------------------------------------------------------

NEW_EVENT = "desktop.test_plugin.captured"


@pytest.fixture
def plugin_event():
    @register_event(NEW_EVENT, "A test-only event type registered by one decorator.")
    def build(ctx):
        return ctx.envelope(NEW_EVENT, data=[{"pluginId": ctx.uuid(), **ctx.ids()}])

    yield NEW_EVENT
    unregister_event(NEW_EVENT)


def test_registering_an_event_makes_it_previewable_and_sendable(csim, plugin_event):
    assert NEW_EVENT in [t.name for t in event_types()]
    assert NEW_EVENT in [t.name for t in csim.events()]
    with Receiver("plugin-secret-0123456789") as rx:
        wh = csim.create_webhook("Plugin", rx.url, [NEW_EVENT], secret="plugin-secret-0123456789")
        p = csim.preview(wh, NEW_EVENT, seed=1)
        payload = p.payload
        assert list(payload) == ENVELOPE
        assert payload["event"] == NEW_EVENT and payload["simulation"] is True
        assert_uuid4(payload["data"][0]["pluginId"])
        # The receiver's clock is the real one; the fixed clock signs with an old timestamp.
        rx.tolerance_ms = None
        r = csim.send(p)
        req = rx.wait_for(1)[0]
    assert r.result == "Delivered", r.detail
    assert req.body == p.body
    assert req.verification.ok
    assert req.event_type == NEW_EVENT


def test_unregistered_event_is_unknown_again(csim):
    @register_event("desktop.short_lived.captured", "Registered, then removed.")
    def build(ctx):
        return ctx.envelope("desktop.short_lived.captured", data=[])

    try:
        wh = csim.create_webhook("Short", "https://example.com/x", ["desktop.short_lived.captured"])
        assert csim.preview(wh, "desktop.short_lived.captured").payload["data"] == []
    finally:
        unregister_event("desktop.short_lived.captured")
    with pytest.raises(UnknownEventError):
        csim.preview(wh, "desktop.short_lived.captured")


def test_event_names_must_be_dotted_lower_case():
    with pytest.raises(ValidationError):
        register_event("Not A Name", "bad")
