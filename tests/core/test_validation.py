"""Webhook CRUD, field validation, secret generation and the Trackpilots production URL check."""

from __future__ import annotations

import base64
import re

import pytest

from simlib import NotFoundError, Simulator, ValidationError, production_check
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT

URL = "https://example.com/webhooks/trackpilots"


# -- CRUD -----------------------------------------------------------------------------------


def test_create_get_list(sim):
    a = sim.create_webhook("  Staging  ", URL, [APP, SHOT])
    b = sim.create_webhook("Prod", "http://127.0.0.1:9/x", ACT)
    assert a.name == "Staging"  # trimmed
    assert a.url == URL
    assert a.events == (APP, SHOT)
    assert b.events == (ACT,)
    assert re.fullmatch(r"wh_[a-z0-9]{6}", a.id)
    assert a.id != b.id
    assert a.created_ms == a.updated_ms and a.created_ms > 1_600_000_000_000
    assert sim.get_webhook(a.id) == a
    assert sim.get_webhook(a) == a
    assert [w.id for w in sim.list_webhooks()] == [a.id, b.id]


def test_webhooks_persist_across_simulators(store_path):
    with Simulator(store_path) as s:
        wh = s.create_webhook("Persisted", URL, ALL_EVENTS, secret="persisted-secret-123")
    with Simulator(store_path) as s:
        again = s.get_webhook(wh.id)
    assert again == wh
    assert again.secret.reveal() == "persisted-secret-123"


def test_chosen_id_and_duplicate_id(sim):
    wh = sim.create_webhook("Mine", URL, [APP], id="my-hook")
    assert wh.id == "my-hook"
    with pytest.raises(ValidationError) as exc:
        sim.create_webhook("Again", URL, [APP], id="my-hook")
    assert exc.value.field == "id"
    with pytest.raises(ValidationError) as exc:
        sim.create_webhook("Bad id", URL, [APP], id="Has Spaces")
    assert exc.value.field == "id"


def test_generated_secret_is_at_least_24_random_bytes_as_text(sim):
    a = sim.create_webhook("A", URL, [APP]).secret.reveal()
    b = sim.create_webhook("B", URL, [APP]).secret.reveal()
    assert a != b
    assert re.fullmatch(r"[A-Za-z0-9_-]+", a)
    raw = base64.urlsafe_b64decode(a + "=" * (-len(a) % 4))
    assert len(raw) >= 24


def test_given_secret_is_used_as_is(sim):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    wh = sim.create_webhook("Given", URL, [APP], secret=secret)
    assert wh.secret.reveal() == secret
    assert sim.get_webhook(wh.id).secret.reveal() == secret


def test_update_each_field(store_path):
    now = [1_769_592_774_119]
    sim = Simulator(store_path, clock=lambda: now[0])
    wh = sim.create_webhook("Before", URL, [APP], secret="before-secret-1234")
    assert wh.created_ms == now[0]
    now[0] += 5_000
    updated = sim.update_webhook(wh, name="After", url="http://localhost:8787/h", events=[SHOT, ACT], secret="after-secret-5678")
    assert (updated.name, updated.url, updated.events) == ("After", "http://localhost:8787/h", (SHOT, ACT))
    assert updated.secret.reveal() == "after-secret-5678"
    assert updated.created_ms == wh.created_ms
    assert updated.updated_ms == wh.created_ms + 5_000
    assert sim.get_webhook(wh.id) == updated
    only_name = sim.update_webhook(wh.id, name="Renamed")
    assert only_name.url == updated.url and only_name.events == updated.events
    assert only_name.secret == updated.secret
    sim.close()


def test_refused_update_changes_nothing(sim):
    wh = sim.create_webhook("Keep", URL, [APP])
    with pytest.raises(ValidationError) as exc:
        sim.update_webhook(wh, name="New name", url="ftp://example.com/")
    assert exc.value.field == "url"
    assert sim.get_webhook(wh.id) == wh


def test_delete(sim):
    wh = sim.create_webhook("Doomed", URL, [APP])
    keep = sim.create_webhook("Kept", URL, [APP])
    sim.delete_webhook(wh)
    with pytest.raises(NotFoundError):
        sim.get_webhook(wh.id)
    with pytest.raises(NotFoundError):
        sim.delete_webhook(wh.id)
    with pytest.raises(NotFoundError):
        sim.update_webhook(wh.id, name="x")
    assert [w.id for w in sim.list_webhooks()] == [keep.id]


# -- validation: each field ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "\t", None, "line\nbreak", "x" * 101])
def test_invalid_name(sim, name):
    with pytest.raises(ValidationError) as exc:
        sim.create_webhook(name, URL, [APP])
    assert exc.value.field == "name"
    assert str(exc.value).startswith("name:")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "/webhooks/trackpilots",
        "example.com/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "https://user:pass@example.com/hook",
        "https://user@example.com/hook",
        "https://exa mple.com/hook",
        "https://example.com/a hook",
        "https://example.com/\nhook",
        "https:///nohost",
        "https://example.com:0/hook",
        "https://example.com:99999/hook",
    ],
)
def test_invalid_url(sim, url):
    with pytest.raises(ValidationError) as exc:
        sim.create_webhook("Bad URL", url, [APP])
    assert exc.value.field == "url"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787/webhooks/trackpilots", "https://example.com", "HTTPS://Example.com/x?y=1"])
def test_valid_urls(sim, url):
    assert sim.create_webhook("Good URL", url, [APP]).url == url


@pytest.mark.parametrize(
    "events, says",
    [
        ([], "at least one"),
        ((), "at least one"),
        (["desktop.unknown.captured"], "desktop.unknown.captured"),
        ([APP, "nope"], "nope"),
        ([APP, APP], "twice"),
    ],
)
def test_invalid_events(sim, events, says):
    with pytest.raises(ValidationError) as exc:
        sim.create_webhook("Bad events", URL, events)
    assert exc.value.field == "events"
    assert says in str(exc.value)


@pytest.mark.parametrize(
    "secret",
    ["", "short", "1234567", " leading-space-secret", "trailing-space-secret ", "tab\tinside-secret", "x" * 513],
)
def test_invalid_secret(sim, secret):
    with pytest.raises(ValidationError) as exc:
        sim.create_webhook("Bad secret", URL, [APP], secret=secret)
    assert exc.value.field == "secret"


def test_nothing_is_stored_after_a_refused_create(sim):
    with pytest.raises(ValidationError):
        sim.create_webhook("x", URL, [APP], secret="short")
    assert sim.list_webhooks() == []


def test_validation_error_is_a_value_error_with_a_message():
    from simlib.core.validation import validate_url

    with pytest.raises(ValueError) as exc:
        validate_url("ftp://x")
    assert isinstance(exc.value, ValidationError)
    assert "http" in exc.value.message


# -- production_check ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://hooks.example.com/x", "not HTTPS"),
        ("https://localhost/x", "localhost"),
        ("https://localhost:8443/x", "localhost"),
        ("https://api.localhost/x", "localhost"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://10.0.0.5/x", "private"),
        ("https://10.255.255.255/x", "private"),
        ("https://192.168.1.20/x", "private"),
        ("https://172.16.0.1/x", "private"),
        ("https://172.31.255.254/x", "private"),
        ("https://[::1]/x", "loopback"),
    ],
)
def test_production_check_refuses(url, reason):
    check = production_check(url)
    assert not check.ok and not bool(check)
    assert any(reason in r for r in check.reasons), check.reasons
    assert check.message.startswith("Trackpilots would reject this URL")


def test_production_check_http_localhost_gives_both_reasons():
    check = production_check("http://localhost:8787/webhooks/trackpilots")
    assert len(check.reasons) == 2


@pytest.mark.parametrize(
    "url",
    ["https://yourdomain.com/reseller/events", "https://172.15.0.1/x", "https://172.32.0.1/x", "https://8.8.8.8/hook", "https://example.com:8443/x"],
)
def test_production_check_accepts_public_https(url):
    check = production_check(url)
    assert check.ok, check.reasons
    assert check.reasons == ()
    assert check.message == "Trackpilots would accept this URL"


def test_production_check_is_a_warning_not_a_block(sim):
    wh = sim.create_webhook("Local", "http://localhost:8787/x", [APP])
    assert not production_check(wh.url).ok
    assert sim.get_webhook(wh.id).url == "http://localhost:8787/x"
