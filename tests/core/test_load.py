"""Load on Locust: real Locust runs (a master and two worker processes) against the embedded
verifying receiver, ``simlib load``'s refusals, and ``import simlib`` staying free of Locust.

Locust is imported only in child processes here: importing it monkey-patches the whole process
through gevent, which the test process must not be.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simlib import LOCUSTFILE, Simulator, ValidationError, plan_load
from simlib.receiver import Receiver
from tests.helpers import ACT, APP, SHOT, free_port

pytestmark = pytest.mark.slow

README_CASES = {
    "load-unknown-webhook",
    "load-bad-events",
    "load-locust-missing",
    "load-no-target",
    "load-url-no-secret",
}

ROOT = Path(__file__).resolve().parents[2]
SECRET = "load-test-secret-0123456789abcdef-xyz"
LOCUST_MODULES = ("locust", "gevent", "geventhttpclient", "zmq")


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SIMLIB_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for name in [k for k in env if k.startswith("SIMLIB_LOAD_")]:
        del env[name]
    env.update(extra)
    return env


def simlib_cli(home: Path, *argv: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simlib", *argv], capture_output=True, text=True, timeout=timeout,
        env=child_env(home, **env), cwd=home,
    )


def stats_rows(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path


@pytest.fixture
def rx():
    receiver = Receiver(secrets=[SECRET]).start()  # answers 401 to a signature that does not verify
    yield receiver
    receiver.stop()


@pytest.fixture
def webhook(home, rx):
    with Simulator(home / "simlib.sqlite3") as sim:
        return sim.create_webhook("Load", rx.url, [APP, ACT], secret=SECRET, id="wh_load")


def test_importing_simlib_and_its_cli_does_not_import_locust():
    code = (
        "import sys, simlib, simlib.cli, simlib.core.load; simlib.cli.build_parser(); simlib.plan_load; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {LOCUST_MODULES!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=child_env(Path.cwd()), check=True).stdout
    assert out.strip() == "[]"
    # and the check can fail: simlib.locust does import them
    out = subprocess.run([sys.executable, "-c", code.replace("simlib.core.load;", "simlib.core.load, simlib.locust;")],
                         capture_output=True, text=True, timeout=60, env=child_env(Path.cwd()), check=True).stdout
    assert "locust" in out and "gevent" in out


def test_a_master_and_two_workers_send_verified_fresh_payloads_named_by_event_type(home, rx, webhook):
    prefix = home / "run"
    done = simlib_cli(home, "load", webhook.id, "--users", "6", "--spawn-rate", "6", "--run-time", "4s",
                      "--processes", "2", "--csv", str(prefix), "--events", f"{APP}:3,{ACT}:1",
                      "--", "--html", str(home / "report.html"))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert re.search(r"2 workers connected", output), output[-3000:]  # a master and two worker processes
    assert SECRET not in output
    assert (home / "report.html").stat().st_size > 0  # Locust's own arguments after -- reached it
    rows = stats_rows(prefix)
    assert set(rows) == {APP, ACT, "Aggregated"}  # statistics named by event type
    total = int(rows["Aggregated"]["Request Count"])
    assert total >= 200
    assert all(row["Failure Count"] == "0" for row in rows.values())
    assert int(rows[APP]["Request Count"]) > int(rows[ACT]["Request Count"])  # weight 3 against 1
    stats = rx.stats()
    assert stats["requests"] >= total  # the receiver saw every request Locust counted
    assert stats["verified"] == stats["requests"]  # 0 invalid signatures
    assert stats["answered"] == {"200": stats["requests"]}
    bodies = [r.body for r in rx.requests]
    assert len(set(bodies)) == len(bodies)  # a fresh payload per request
    payloads = [json.loads(b) for b in bodies]
    assert all(p["simulation"] is True for p in payloads)
    assert {p["event"] for p in payloads} == {APP, ACT}
    with Simulator(home / "simlib.sqlite3") as sim:
        assert sim.history_count() == 0  # by default Locust's statistics are the record


def test_plain_locust_by_url_with_the_secret_from_the_environment(home, rx):
    prefix = home / "plain"
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-u", "3", "-r", "3", "-t", "2s",
         "--csv", str(prefix), "--simlib-url", rx.url, "--simlib-events", SHOT, "--simlib-seed", "7",
         "--simlib-set", "data.0.screenshot.app.name=LoadTest"],
        capture_output=True, text=True, timeout=60, env=child_env(home, SIMLIB_LOAD_SECRET=SECRET), cwd=home,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    rows = stats_rows(prefix)
    assert set(rows) == {SHOT, "Aggregated"} and rows[SHOT]["Failure Count"] == "0"
    assert rx.stats()["verified"] == rx.stats()["requests"] >= int(rows[SHOT]["Request Count"]) > 0
    first = json.loads(rx.requests[0].body)
    assert first["data"][0]["screenshot"]["app"]["name"] == "LoadTest" and first["simulation"] is True


def test_separate_workers_get_the_plan_from_the_master(home, rx):
    """The several-machines form on one machine: workers started on their own with no --simlib-*
    arguments (only the secret in their environment) run what the master forwards."""
    port = free_port()
    env = child_env(home, SIMLIB_LOAD_SECRET=SECRET)
    worker = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--worker", "--master-host", "127.0.0.1",
              "--master-port", str(port)]
    workers = [subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    try:
        master = subprocess.run(
            [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--master", "--master-bind-port", str(port),
             "--headless", "--expect-workers", "2", "-u", "4", "-r", "4", "-t", "3s", "--csv", str(home / "mw"),
             "--simlib-url", rx.url, "--simlib-events", ACT],
            capture_output=True, text=True, timeout=60, env=env,
        )
        for w in workers:
            w.wait(timeout=30)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert master.returncode == 0, master.stderr[-3000:]
    assert all(w.returncode == 0 for w in workers)
    rows = stats_rows(home / "mw")
    assert set(rows) == {ACT, "Aggregated"} and rows[ACT]["Failure Count"] == "0"
    stats = rx.stats()
    assert stats["verified"] == stats["requests"] >= int(rows[ACT]["Request Count"]) > 0


def test_a_wrong_secret_shows_as_failures_and_exit_code_1(home, rx):
    """The failing side of the run above: signed with another secret, the receiver answers 401."""
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-u", "1", "-t", "3s",
         "--csv", str(home / "bad")],
        capture_output=True, text=True, timeout=60,
        env=child_env(home, SIMLIB_LOAD_URL=rx.url, SIMLIB_LOAD_SECRET="some-other-secret-0123456789abcdef"),
    )
    assert done.returncode == 1
    rows = stats_rows(home / "bad")
    assert int(rows["Aggregated"]["Failure Count"]) == int(rows["Aggregated"]["Request Count"]) > 0
    assert rx.stats()["verified"] == 0


def test_ctrl_c_stops_locust_which_prints_its_statistics_and_exits_130(home, rx, webhook):
    """SIGINT to simlib alone (not to Locust's process group): simlib passes it on."""
    import signal
    import time

    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from simlib.cli import main; sys.exit(main(['load', 'wh_load', '-u', '2']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=child_env(home))
    try:
        deadline = time.monotonic() + 30
        while rx.count < 50 and time.monotonic() < deadline:  # Locust is sending
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out[-2000:]
    assert "Aggregated" in out  # Locust's final statistics
    assert rx.stats()["verified"] == rx.stats()["requests"] >= 50


@pytest.mark.parametrize("mode", ["all", "sample"])
def test_record_puts_attempts_into_the_history(home, rx, webhook, mode):
    prefix = home / "rec"
    # --store names the store (SIMLIB_HOME points elsewhere): Locust gets it by environment
    (home / "elsewhere").mkdir()
    done = simlib_cli(home, "--store", str(home / "simlib.sqlite3"), "load", webhook.id, "-u", "2", "-t", "3s",
                      "--csv", str(prefix), "--record", mode, "--record-every", "10", SIMLIB_HOME=str(home / "elsewhere"))
    assert str(home / "simlib.sqlite3") not in done.stderr  # not on Locust's command line
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert int(stats_rows(prefix)["Aggregated"]["Request Count"]) > 0
    with Simulator(home / "simlib.sqlite3") as sim:
        frame = sim.history()
    sent = rx.stats()["requests"]
    delivered = frame[frame["result"] == "Delivered"]
    assert len(delivered) > 0 and set(delivered["event_type"]) <= {APP, ACT}
    assert set(delivered["detail"]) == {"Delivered: 200 OK"} and set(delivered["http_status"]) == {200}
    assert all(SECRET not in str(v) for v in frame["request_headers"])
    # Locust kills its users at the end of the run: a request cut off then keeps its reserved row,
    # "interrupted" (it may have gone out), never a Delivered it did not get. At most one per user.
    others = frame[frame["result"] != "Delivered"]
    assert len(others) <= 2 and all(d.startswith("interrupted:") for d in others["detail"])
    if mode == "all":
        assert sent <= len(frame) <= sent + 2  # every request that went out has its row
    else:
        assert 0 < len(frame) <= sent // 10 + 2 < sent  # every 10th of each process


def test_plan_is_reproducible_with_a_seed_and_fresh_without(webhook, home):
    plan = plan_load(webhook.id, store=str(home / "simlib.sqlite3"), seed=5)
    a, b = plan.rng(0, 1), plan.rng(0, 1)
    draws = [(plan.draw(a), a.getrandbits(48)) for _ in range(20)]
    assert draws == [(plan.draw(b), b.getrandbits(48)) for _ in range(20)]
    assert draws != [(plan.draw(c), c.getrandbits(48)) for c in [plan.rng(1, 1)] for _ in range(20)]
    assert plan.preview(APP, 1, 1000).body == plan.preview(APP, 1, 1000).body
    assert "--simlib-webhook" in plan.locust_args() and SECRET not in " ".join(plan.command())
    assert str(home) not in " ".join(plan.command())  # the store (a URL may hold a password) goes by environment
    assert plan.environment() == {"SIMLIB_LOAD_STORE": str(home / "simlib.sqlite3")}
    assert SECRET not in repr(plan)


# -- refusals: one line, exit 2, nothing started ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["load", "wh_nope"], "webhook not found: 'wh_nope'"),  # load-unknown-webhook
        (["load", "wh_load", "--events", "desktop.nope.captured"], "desktop.nope.captured"),  # load-bad-events
        (["load", "wh_load", "--events", f"{APP}:0"], "must be above 0"),
        (["load", "wh_load", "--events", f"{APP}:nan"], "must be above 0"),
        (["load", "wh_load", "--events", SHOT], "not subscribed to desktop.screenshot_tracking.captured"),
        (["load", "wh_load", "--set", "data.nope=1"], "override: 'data.nope'"),
        (["load", "wh_load", "--run-time", "soon"], "expected a time such as 30s"),
        (["load"], "give the id of the webhook"),
        (["load", "wh_load", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_simlib_load_refuses_in_one_line(home, webhook, argv, message):
    done = simlib_cli(home, *argv, timeout=30)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "running" not in done.stderr  # Locust was never started


def test_simlib_load_without_locust_says_how_to_install(home, webhook):
    # Uninstalling Locust from the shared venv is not an option: the child hides it from imports.
    code = "import sys; sys.modules['locust'] = None; from simlib.cli import main; sys.exit(main(['load', 'wh_load']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=child_env(home))
    assert done.returncode == 2
    assert done.stderr.strip() == "simlib: error: Locust is not installed: pip install 'simlib[load]'"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "give a webhook id (from the store) or a URL"),  # load-no-target
        ({"SIMLIB_LOAD_URL": "http://127.0.0.1:9/x"}, "$SIMLIB_LOAD_SECRET, which is not set"),  # load-url-no-secret
        ({"SIMLIB_LOAD_WEBHOOK": "wh_nope"}, "webhook not found"),
    ],
)
def test_plain_locust_refuses_a_plan_that_cannot_work_before_any_user_starts(home, env, message):
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-u", "1", "-t", "2s"],
        capture_output=True, text=True, timeout=60, env=child_env(home, **env), cwd=home,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"simlib: error: {message}" in done.stderr or message in done.stderr, done.stderr[-2000:]
    assert "Ramping to" not in done.stderr


def test_plan_load_refuses_bad_arguments(webhook, home):
    store = str(home / "simlib.sqlite3")
    for kwargs, field in [
        ({"record": "some"}, "record"),
        ({"record_every": 0}, "record_every"),
        ({"seed": -1}, "seed"),
        ({"url": "http://127.0.0.1:9/x"}, "webhook"),  # both an id and a URL
    ]:
        with pytest.raises(ValidationError) as info:
            plan_load(webhook.id, store=store, **kwargs)
        assert info.value.field == field
    with pytest.raises(ValidationError) as info:
        plan_load(url="http://169.254.169.254/latest", secret=SECRET)
    assert info.value.field == "url" and "blocked address" in str(info.value)
    with pytest.raises(ValidationError) as info:
        plan_load(url="http://127.0.0.1:9/x", secret=SECRET, record="all")
    assert info.value.field == "record"


def test_load_payloads_carry_the_webhooks_organisation_id(home, rx):
    with Simulator(home / "simlib.sqlite3") as sim:
        wh = sim.create_webhook("Org", rx.url, [APP, ACT], secret=SECRET, organisation_id="org-acme-1")
    plan = plan_load(wh.id, store=str(home / "simlib.sqlite3"))
    assert json.loads(plan.body(APP, 1, 1000))["data"][0]["organisation"]["organisationId"] == "org-acme-1"
    assert json.loads(plan.body(ACT, 1, 1000))["data"]["organisation"]["organisationId"] == "org-acme-1"
    assert plan.body(APP, 2, 1000) == plan.preview(APP, 2, 1000).body
