"""Event types as plugins: a small package made here (a ``.dist-info`` with ``entry_points.txt``
on ``sys.path``) and modules named in ``$SIMLIB_PLUGINS``, loaded by a real ``simlib`` process
(``simlib events``, ``simlib send`` to the embedded verifying receiver) and by the explorer; broken
plugins are reported once and skipped, the built-in event types keep working.

Plugins are loaded once per process, so every test that loads one runs it in a child process;
the test process's catalogue stays the built-in one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simlib import ValidationError, register_event
from simlib.core.events import build_payload, unregister_event
from simlib.receiver import Receiver
from tests.helpers import ALL_EVENTS

README_CASES = {
    "plugin-broken",
    "plugin-redefines-event",
    "plugin-missing-module",
    "plugin-builder-fails",
}

ROOT = Path(__file__).resolve().parents[2]
MEETING = "desktop.meeting_tracking.captured"
SECRET = "plugin-test-secret-0123456789abcdef"

GOOD = f'''
"""A reseller's event type, shipped as a plugin."""
from simlib import EventOption, register_event


@register_event("{MEETING}", "A meeting was tracked on an employee's desktop.",
                options=[EventOption("minutes", int, 30, "how long the meeting lasted")])
def build_meeting(ctx):
    record = ctx.ids()
    record["meeting"] = {{"meetingId": ctx.uuid(), "minutes": ctx.options.get("minutes", 30),
                         "startedAt": ctx.iso(ctx.now_ms - 60_000)}}
    return ctx.envelope("{MEETING}", [record])
'''


def make_package(site: Path, dist: str, module: str, source: str, entry: str | None = None) -> None:
    """An installed distribution ``dist`` (its ``.dist-info``) whose entry point in group
    ``simlib.events`` names ``entry`` (default: the module), and the module itself."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[simlib.events]\n{dist} = {entry or module}\n")


def child_env(home: Path, site: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SIMLIB_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(site), env.get("PYTHONPATH", "")])
    env.pop("SIMLIB_PLUGINS", None)
    env.update(extra)
    return env


def simlib_cli(home: Path, site: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simlib", *argv], capture_output=True, text=True, timeout=60,
                          env=child_env(home, site, **env))


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("simlib: warning: plugin")]


@pytest.fixture
def site(tmp_path) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    return path


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


REGISTER_FUNCTION = '''
from simlib import register_event


def register():  # an entry point may name a function: called once, with no arguments
    @register_event("desktop.badge.captured", "An employee badged in.")
    def build(ctx):
        return ctx.envelope("desktop.badge.captured", {"badgeId": ctx.uuid()})
'''


def test_an_installed_plugin_is_in_the_catalogue_and_sends_signed(home, site):
    make_package(site, "acme-events", "acme_events", GOOD)
    make_package(site, "zeta-events", "zeta_events", REGISTER_FUNCTION, entry="zeta_events:register")
    listed = simlib_cli(home, site, "events", "--json")
    assert listed.returncode == 0, listed.stderr
    assert warnings_in(listed.stderr) == []
    catalogue = {e["name"]: e for e in json.loads(listed.stdout)}
    # built-ins first, then the plugins in the order of their entry points' names
    assert list(catalogue) == [*ALL_EVENTS, MEETING, "desktop.badge.captured"]
    assert catalogue[MEETING]["options"] == [{"name": "minutes", "default": 30, "help": "how long the meeting lasted"}]
    assert MEETING in simlib_cli(home, site, "events").stdout  # the table too

    (home / "secret").write_text(SECRET)
    (home / "secret").chmod(0o600)
    with Receiver(secrets=[SECRET]) as rx:
        added = simlib_cli(home, site, "webhooks", "add", "--name", "Plugin", "--url", rx.url, "--event", MEETING,
                           "--secret-file", str(home / "secret"), "--id", "wh_plugin")
        assert added.returncode == 0, added.stderr
        sent = simlib_cli(home, site, "send", "wh_plugin", MEETING, "--json", "--seed", "3")
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout)["result"] == "Delivered"
        (request,) = rx.wait_for(1)
    assert request.verification.ok
    body = json.loads(request.body)
    assert body["event"] == MEETING and body["simulation"] is True
    assert body["data"][0]["meeting"]["minutes"] == 30
    # without the plugin, the same store's webhook names an event type this process does not know
    without = simlib_cli(home, site / "missing", "send", "wh_plugin", MEETING)
    assert without.returncode == 2 and "desktop.meeting_tracking.captured" in without.stderr


BROKEN_IMPORT = "raise RuntimeError('the plugin cannot reach its config')\n"
REDEFINES = '''
from simlib import register_event

@register_event("desktop.app_tracking.captured", "a plugin's own version of a built-in")
def build(ctx):
    return ctx.envelope("desktop.app_tracking.captured", [])

@register_event("desktop.extra.captured", "registered next to the redefinition")
def build_extra(ctx):
    return ctx.envelope("desktop.extra.captured", [])
'''
BAD_BUILDER = '''
from simlib import register_event

@register_event("desktop.crash.captured", "its builder fails")
def build(ctx):
    return ctx.envelope("desktop.crash.captured", [1 / 0])
'''


def test_broken_plugins_are_reported_once_by_name_and_skipped(home, site):
    make_package(site, "acme-events", "acme_events", GOOD)
    make_package(site, "broken-events", "broken_events", BROKEN_IMPORT)  # plugin-broken
    make_package(site, "rogue-events", "rogue_events", REDEFINES)  # plugin-redefines-event
    make_package(site, "crash-events", "crash_events", BAD_BUILDER)  # plugin-builder-fails
    listed = simlib_cli(home, site, "events", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [e["name"] for e in json.loads(listed.stdout)]
    assert names == [*ALL_EVENTS, MEETING]  # the built-ins and the good plugin, nothing of the broken ones
    found = warnings_in(listed.stderr)
    assert len(found) == 3, listed.stderr
    by_plugin = {line.split("'")[1]: line for line in found}
    assert set(by_plugin) == {"broken-events", "rogue-events", "crash-events"}
    assert "RuntimeError: the plugin cannot reach its config" in by_plugin["broken-events"]
    assert "entry point 'broken_events' of broken-events" in by_plugin["broken-events"]
    assert "redefines desktop.app_tracking.captured" in by_plugin["rogue-events"]
    assert "ZeroDivisionError" in by_plugin["crash-events"]
    # reported once per process, however often the catalogue is read; the built-ins still send
    script = textwrap.dedent(f"""
        import json, warnings
        from simlib import Simulator, PluginWarning
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from simlib.core.events import event_types, event_names, get_event_type
            for _ in range(3):
                event_types(); event_names(); get_event_type("{ALL_EVENTS[0]}")
            sim = Simulator()
            wh = sim.create_webhook("x", "http://127.0.0.1:9/x", ["{ALL_EVENTS[0]}", "{MEETING}"])
            sim.preview(wh, "{ALL_EVENTS[0]}"); sim.preview(wh, "{MEETING}")
        print(json.dumps([str(w.message) for w in caught if issubclass(w.category, PluginWarning)]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env=child_env(home, site))
    assert done.returncode == 0, done.stderr
    messages = json.loads(done.stdout)
    assert sorted(messages) == sorted(line.removeprefix("simlib: warning: ") for line in found)


def test_simlib_plugins_names_modules_to_load(home, site):
    (site / "my_team_events.py").write_text(textwrap.dedent(GOOD))  # no distribution: just a module
    listed = simlib_cli(home, site, "events", "--json", SIMLIB_PLUGINS=" my_team_events , ,")
    assert listed.returncode == 0 and warnings_in(listed.stderr) == []
    assert [e["name"] for e in json.loads(listed.stdout)][-1] == MEETING
    bad = simlib_cli(home, site, "events", SIMLIB_PLUGINS="my_team_events,no_such_module,not a module")  # plugin-missing-module
    assert bad.returncode == 0
    found = warnings_in(bad.stderr)
    assert len(found) == 2, bad.stderr
    assert "plugin 'no_such_module' (from $SIMLIB_PLUGINS) was skipped: ModuleNotFoundError" in found[0]
    assert "plugin 'not a module'" in found[1] and "not a module name" in found[1]
    assert MEETING in bad.stdout and ALL_EVENTS[0] in bad.stdout


def test_the_explorer_offers_plugin_event_types(home, site):
    (site / "my_team_events.py").write_text(textwrap.dedent(GOOD))
    script = textwrap.dedent(f"""
        import json
        from simlib import Simulator
        from simlib.ui import Explorer
        sim = Simulator()
        sim.create_webhook("Plugin", "http://127.0.0.1:9/x", ["{MEETING}"], id="wh_plugin")
        ex = Explorer(sim, seed=1)
        print(json.dumps({{"form": sorted(ex.form_events), "event": [str(o) for o in ex.event.options]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=child_env(home, site, SIMLIB_PLUGINS="my_team_events"))
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert MEETING in shown["form"] and set(ALL_EVENTS) <= set(shown["form"])  # the webhook form's checkboxes
    assert any(MEETING in o for o in shown["event"])  # the composer's event dropdown


def test_a_builder_that_fails_at_send_time_is_one_validation_error():
    calls = []

    @register_event("desktop.flaky.captured", "fails after its first build")
    def build(ctx):
        calls.append(1)
        if len(calls) > 1:
            raise KeyError("missing")
        return ctx.envelope("desktop.flaky.captured", [])

    try:
        assert build_payload("desktop.flaky.captured", seed=0, now_ms=0)["simulation"] is True
        with pytest.raises(ValidationError) as info:
            build_payload("desktop.flaky.captured", seed=0, now_ms=0)
        assert info.value.field == "event" and "KeyError" in str(info.value)
    finally:
        unregister_event("desktop.flaky.captured")
