"""The command line, end to end, in a temporary SIMLIB_HOME: in-process through
``simlib.cli.main(argv, stdout=..., stderr=...)`` and as ``python -m simlib`` subprocesses."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest

import simlib.core.signing
from simlib import Simulator
from simlib.cli import main
from simlib.receiver import Receiver
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT, free_port

SECRET = "cli-test-secret-0123456789abcdef"
CLOCK_MS = 1_769_592_774_119
SEND_KEYS = {
    "simulation_id",
    "webhook_id",
    "webhook_name",
    "url",
    "event_type",
    "result",
    "http_status",
    "latency_ms",
    "error",
    "error_detail",
    "request_headers",
    "payload",
    "response_body",
    "response_truncated",
    "sent_at",
}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "simlib-home"
    monkeypatch.setenv("SIMLIB_HOME", str(h))
    return h


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str):
    code, out, err = run(*argv, "--json")
    assert code == 0, err
    return json.loads(out)


def add_webhook(url: str, *events: str, name: str = "CLI hook", secret: str = SECRET) -> dict:
    args = ["webhooks", "add", "--name", name, "--url", url, "--secret", secret]
    for e in events or ALL_EVENTS:
        args += ["--event", e]
    return run_json(*args)


def one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- webhooks ---------------------------------------------------------------------------------


def test_webhooks_add_list_show_update_delete(home):
    added = add_webhook("https://example.com/hooks", APP, SHOT)
    wid = added["id"]
    assert re.fullmatch(r"wh_[a-z0-9]{6}", wid)
    assert added["name"] == "CLI hook" and added["url"] == "https://example.com/hooks"
    assert added["events"] == [APP, SHOT]
    assert added["secret"] != SECRET and added["secret"].startswith("****")
    assert (home / "simlib.sqlite3").is_file()

    listed = run_json("webhooks", "list")
    assert [w["id"] for w in listed] == [wid]
    assert listed[0]["secret"] == added["secret"]

    shown = run_json("webhooks", "show", wid)
    assert shown == added
    code, out, _ = run("webhooks", "show", wid)
    assert code == 0
    assert re.search(rf"^id\s+{wid}$", out, re.M) and "CLI hook" in out

    updated = run_json("webhooks", "update", wid, "--name", "Renamed", "--event", ACT, "--url", "https://example.org/h")
    assert (updated["name"], updated["events"], updated["url"]) == ("Renamed", [ACT], "https://example.org/h")
    assert run_json("webhooks", "show", wid)["name"] == "Renamed"

    assert run_json("webhooks", "delete", wid) == {"deleted": wid}
    assert run_json("webhooks", "list") == []
    code, out, err = run("webhooks", "show", wid)
    assert code == 2 and out == ""
    assert wid in one_line_error(err)


def test_webhooks_table_output_and_production_warning(home):
    code, out, err = run("webhooks", "add", "--name", "Local", "--url", "http://127.0.0.1:8787/x", "--event", APP)
    assert code == 0
    assert "warning" in out and "not HTTPS" in out
    code, out, err = run("webhooks", "add", "--name", "Local2", "--url", "http://127.0.0.1:8787/y", "--event", APP, "--json")
    assert code == 0
    json.loads(out)  # stdout stays one JSON document
    assert "not HTTPS" in one_line_error(err)
    code, out, _ = run("webhooks", "list")
    assert code == 0
    assert out.splitlines()[0].split() == ["ID", "NAME", "URL", "EVENTS", "SECRET"]
    assert len(out.splitlines()) == 3


def test_webhooks_show_reveal_secret(home):
    wid = add_webhook("https://example.com/h")["id"]
    assert run_json("webhooks", "show", wid, "--reveal-secret")["secret"] == SECRET
    code, out, _ = run("webhooks", "show", wid, "--reveal-secret")
    assert code == 0 and SECRET in out


def test_events(home):
    listed = run_json("events")
    assert [e["name"] for e in listed][:3] == ALL_EVENTS
    assert all(e["description"] for e in listed)
    activity = next(e for e in listed if e["name"] == ACT)
    assert activity["options"][0]["name"] == "work_mode"
    code, out, _ = run("events")
    assert code == 0
    for name in ALL_EVENTS:
        assert name in out


# -- preview ------------------------------------------------------------------------------------


def test_preview_prints_the_exact_body(home, monkeypatch):
    wid = add_webhook("https://example.com/h")["id"]
    monkeypatch.setattr(simlib.core.signing, "now_ms", lambda: CLOCK_MS)  # the CLI's clock
    code, out, _ = run("preview", wid, APP, "--seed", "11", "--set", "data.0.tracking.app.name=Zoë 東京")
    assert code == 0
    with Simulator(home / "simlib.sqlite3", clock=lambda: CLOCK_MS) as s:
        expected = s.preview(wid, APP, seed=11, overrides=["data.0.tracking.app.name=Zoë 東京"])
    assert out == expected.text + "\n"
    assert out.encode("utf-8") == expected.body + b"\n"
    assert json.loads(out)["data"][0]["tracking"]["app"]["name"] == "Zoë 東京"

    code, pretty, _ = run("preview", wid, APP, "--seed", "11", "--set", "data.0.tracking.app.name=Zoë 東京", "--pretty")
    assert code == 0 and "\n  " in pretty
    as_json = run_json("preview", wid, APP, "--seed", "11", "--set", "data.0.tracking.app.name=Zoë 東京")
    assert as_json["payload"] == expected.text
    assert as_json["bytes"] == len(expected.body)
    assert as_json["seed"] == 11


def test_preview_work_mode_flag(home):
    wid = add_webhook("https://example.com/h")["id"]
    code, out, _ = run("preview", wid, ACT, "--work-mode", "false")
    assert code == 0
    assert json.loads(out)["data"]["activity"] == {"workMode": False}


# -- send -----------------------------------------------------------------------------------------


def test_send_json_delivered_exit_0(home):
    with Receiver(SECRET) as rx:
        wid = add_webhook(rx.url)["id"]
        code, out, err = run("send", wid, APP, "--seed", "3", "--set", "data.0.tracking.app.name=Zoë 🚀", "--json")
        req = rx.wait_for(1)[0]
    assert code == 0, err
    doc = json.loads(out)
    assert SEND_KEYS <= set(doc)
    assert doc["result"] == "Delivered"
    assert doc["http_status"] == 200
    assert doc["webhook_id"] == wid and doc["webhook_name"] == "CLI hook" and doc["url"] == rx.url
    assert doc["event_type"] == APP
    assert doc["error"] is None and doc["error_detail"] is None
    assert isinstance(doc["latency_ms"], float)
    assert doc["payload"].encode("utf-8") == req.body
    assert "Zoë 🚀" in doc["payload"]
    assert doc["request_headers"]["x-webhook-signature"] == req.header("x-webhook-signature")
    assert re.fullmatch(r"\d{13}", doc["request_headers"]["x-webhook-timestamp"])
    assert json.loads(doc["response_body"])["verified"] is True
    assert doc["response_truncated"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["sent_at"])
    assert req.verification.ok


def test_send_failed_exit_1(home):
    with Receiver(SECRET, status=500) as rx:
        wid = add_webhook(rx.url)["id"]
        code, out, _ = run("send", wid, SHOT, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["result"] == "Failed" and doc["http_status"] == 500 and doc["error"] is None


def test_send_network_error_exit_1(home):
    wid = add_webhook(f"http://127.0.0.1:{free_port()}/x")["id"]
    code, out, _ = run("send", wid, APP, "--json", "--deadline", "2")
    assert code == 1
    doc = json.loads(out)
    assert doc["error"] == "Network error"
    assert doc["http_status"] is None and doc["latency_ms"] is None
    assert "refused" in doc["error_detail"]


def test_send_simulation_errors_exit_2(home):
    wid = add_webhook("https://example.com/h", APP)["id"]
    code, out, _ = run("send", wid, SHOT, "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["error"] == "Event type not registered" and doc["error_status"] == 400
    code, out, _ = run("send", "wh_nosuch", APP, "--json")
    assert code == 2
    assert json.loads(out)["error"] == "Webhook not found"
    code, out, _ = run("send", "wh_nosuch", APP)
    assert code == 2 and "Webhook not found" in out


def test_send_text_output(home):
    with Receiver(SECRET) as rx:
        wid = add_webhook(rx.url)["id"]
        code, out, _ = run("send", wid, ACT)
    assert code == 0
    assert out.splitlines()[0].startswith("Delivered  status 200")
    assert "x-webhook-signature:" in out and "x-webhook-timestamp:" in out



def _refuse_history(store: Path, what: str) -> None:
    """Make the real store refuse to write history rows (``INSERT``: no row can be reserved;
    ``UPDATE``: a reserved row cannot be completed), as a full disk would, from outside."""
    conn = sqlite3.connect(store)
    try:
        conn.execute(f"CREATE TRIGGER refuse BEFORE {what} ON history BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        conn.commit()
    finally:
        conn.close()


def test_send_that_cannot_be_recorded_is_not_sent(home):
    with Receiver(SECRET) as rx:
        wid = add_webhook(rx.url, APP)["id"]
        _refuse_history(home / "simlib.sqlite3", "INSERT")
        code, out, err = run("send", wid, APP)
        code_json, out_json, _ = run("send", wid, APP, "--json")
        assert rx.count == 0  # nothing is sent that cannot be recorded
    assert code == 2 and err == ""
    assert "Service unavailable" in out and out.splitlines()[-1] == "history    NOT recorded (store unavailable)"
    assert code_json == 2 and json.loads(out_json)["recorded"] is False
    assert _history_count(home) == 0


def test_send_whose_outcome_cannot_be_recorded_says_so(home):
    with Receiver(SECRET) as rx:
        wid = add_webhook(rx.url, APP)["id"]
        _refuse_history(home / "simlib.sqlite3", "UPDATE")
        code, out, err = run("send", wid, APP)
        assert rx.wait_for(1)[0].verification.ok  # it was delivered ...
        code_json, out_json, _ = run("send", wid, APP, "--json")
    assert (code, err) == (2, "")  # ... but not recorded: never a success
    lines = out.splitlines()
    assert lines[0].startswith("Delivered  status 200")
    assert lines[-1] == "history    NOT recorded (store unavailable)"
    assert code_json == 2 and json.loads(out_json)["recorded"] is False
    assert _history_count(home) == 2  # the rows reserved before sending, reading "interrupted"


def test_replay_and_import_whose_sends_cannot_be_recorded_exit_2(home, tmp_path):
    """The same rule for every command that sends: delivered but not recorded is exit 2."""
    with Receiver(SECRET) as rx:
        wid = add_webhook(rx.url, APP)["id"]
        assert run("send", wid, APP)[0] == 0
        req = rx.wait_for(1)[0]
        capture = tmp_path / "cap.http"
        capture.write_bytes(b"POST /webhooks/trackpilots HTTP/1.1\r\n"
                            + b"".join(f"{k}: {v}\r\n".encode() for k, v in req.headers) + b"\r\n" + req.body)
        assert run("import", str(capture), "--webhook", wid)[0] == 0  # recorded: a success
        _refuse_history(home / "simlib.sqlite3", "UPDATE")
        replay_code, replay_out, _ = run("replay", "1")
        import_code, import_out, _ = run("import", str(capture), "--webhook", wid)
        assert rx.count == 6  # 1 send, 2 imports of 2 sends each, 1 replay: all delivered
    assert replay_code == 2 and "history    NOT recorded (store unavailable)" in replay_out
    assert import_code == 2
    assert "history   the re-signed send was NOT recorded (store unavailable)" in import_out
    assert "history   the as captured send was NOT recorded (store unavailable)" in import_out


def test_check_and_probe_whose_requests_cannot_be_recorded_exit_2(home):
    with Receiver(SECRET) as rx:
        wid = add_webhook(rx.url, APP)["id"]
        _refuse_history(home / "simlib.sqlite3", "UPDATE")
        check_code, check_out, check_err = run("check", wid)
        probe_code, _, probe_err = run("probe", wid, "--max-requests", "4")
        check_json = json.loads(run("check", wid, "--json")[1])
        assert rx.count > 0  # delivered, but the outcomes are not in the history
    assert check_code == 2 and check_err.startswith("simlib: ") and "not recorded in history" in check_err
    assert probe_code == 2 and "not recorded in history" in probe_err
    assert check_json["unrecorded"] == len(check_json["variants"]) > 0


def test_every_command_has_one_handler(home):
    """One dispatch: each command (and each webhooks action) carries the function main calls."""
    import argparse

    from simlib.cli import build_parser

    def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...]):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, parser
        for action in subs:
            for name, child in action.choices.items():
                yield from leaves(child, (*path, name))

    found = dict(leaves(build_parser(), ()))
    assert len(found) == 24  # 16 commands + 6 webhooks actions + 2 store actions
    for path, parser in found.items():
        assert callable(parser.get_default("handler")), path


# -- history --------------------------------------------------------------------------------------


@pytest.fixture
def three_sends(home):
    with Receiver(SECRET) as rx:
        wid = add_webhook(rx.url)["id"]
        ids = []
        for event in ALL_EVENTS:
            code, out, _ = run("send", wid, event, "--json")
            assert code == 0
            ids.append(json.loads(out)["simulation_id"])
    return wid, ids


def test_history_formats_and_limit(three_sends):
    wid, ids = three_sends
    code, table, _ = run("history")
    assert code == 0
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["ID", "SENT", "(UTC)"]
    assert len(lines) == 4
    assert all("Delivered" in line for line in lines[1:])

    code, csv_text, _ = run("history", "--format", "csv")
    assert code == 0
    frame = pd.read_csv(io.StringIO(csv_text))
    assert frame["simulation_id"].tolist() == ids
    assert frame["http_status"].tolist() == [200, 200, 200]

    code, json_text, _ = run("history", "--format", "json")
    assert code == 0
    assert [r["simulation_id"] for r in json.loads(json_text)] == ids
    assert [r["simulation_id"] for r in run_json("history")] == ids

    code, limited, _ = run("history", "--format", "json", "--limit", "1")
    assert [r["simulation_id"] for r in json.loads(limited)] == ids[-1:]
    code, limited_table, _ = run("history", "--limit", "2")
    assert len(limited_table.splitlines()) == 3


def test_history_table_says_who_sent_each_attempt_from_where(home, monkeypatch):
    """Issue 13: the table's BY column is user@host, as the explorer's "By"."""
    monkeypatch.setenv("SIMLIB_USER", "alice")
    monkeypatch.setenv("SIMLIB_HOST", "desk-7")
    with Receiver(SECRET) as rx:
        wid = add_webhook(rx.url)["id"]
        assert run("send", wid, APP)[0] == 0
        monkeypatch.setenv("SIMLIB_USER", "bob")
        monkeypatch.setenv("SIMLIB_HOST", "lab-2")
        assert run("send", wid, APP)[0] == 0
    code, table, _ = run("history")
    lines = table.splitlines()
    assert code == 0 and lines[0].split()[-1] == "BY"
    assert [line.split()[-1] for line in lines[1:]] == ["alice@desk-7", "bob@lab-2"]
    code, table, _ = run("history", "--user", "bob")
    assert [line.split()[-1] for line in table.splitlines()[1:]] == ["bob@lab-2"]


def test_history_filters_and_output_file(three_sends, tmp_path):
    wid, ids = three_sends
    rows = run_json("history", "--event", SHOT)
    assert [r["simulation_id"] for r in rows] == [ids[1]]
    assert run_json("history", "--result", "Failed") == []
    out_file = tmp_path / "h.csv"
    code, out, _ = run("history", "--output", str(out_file))
    assert code == 0 and "wrote 3 rows" in out
    assert pd.read_csv(out_file)["simulation_id"].tolist() == ids


def test_empty_history(home):
    code, out, _ = run("history")
    assert code == 0 and "no history yet" in out
    assert run_json("history") == []


# -- demo ------------------------------------------------------------------------------------------


def test_demo_in_process(home):
    code, out, err = run("demo")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("desktop.")]
    assert len(rows) == 3
    assert all(line.split()[1] == "Delivered" and line.split()[2] == "200" for line in rows)
    assert all(line.split()[-1] == "yes" for line in rows)  # signature verified
    assert "3 of 3 delivered" in out
    # Reused, not duplicated, on a second run.
    assert run("demo")[0] == 0
    assert [w["id"] for w in run_json("webhooks", "list")] == ["demo"]
    assert len(run_json("history")) == 6


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SIMLIB_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def _simlib_process(home: Path, *argv: str) -> Iterator[subprocess.Popen[str]]:
    """``simlib ARGV`` running in a process of its own (stdout and stderr piped, as text);
    killed on the way out if it is still running (a test that failed half-way)."""
    proc = subprocess.Popen([sys.executable, "-m", "simlib", *argv], env=_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_demo_subprocess_on_a_fresh_home(tmp_path):
    home = tmp_path / "fresh-home"
    proc = subprocess.run(
        [sys.executable, "-m", "simlib", "demo"], env=_env(home), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("desktop.")]
    assert [line.split()[1] for line in rows] == ["Delivered"] * 3
    assert proc.stderr == ""
    assert (home / "simlib.sqlite3").is_file()


def test_subprocess_bad_input_and_help(tmp_path):
    env = _env(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-m", "simlib", "webhooks", "add", "--name", "x", "--url", "ftp://x", "--event", APP],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert one_line_error(proc.stderr).startswith("simlib: error: url:")
    proc = subprocess.run([sys.executable, "-m", "simlib", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: simlib")


def test_receive_subprocess(home):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simlib", "receive", "--port", str(port), "--secret", SECRET],
        env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.strip() == f"listening on http://127.0.0.1:{port}/webhooks/trackpilots (Ctrl-C to stop)"
        url = first.split()[2]
        wid = add_webhook(url)["id"]
        code, out, _ = run("send", wid, APP, "--json")
        assert code == 0
        size = len(json.loads(out)["payload"].encode("utf-8"))
        line = proc.stdout.readline().strip()
        assert line == f"POST /webhooks/trackpilots {APP} {size} bytes -> 200 (verified)"
        # A wrongly signed request is rejected and reported on the same output.
        resp = httpx.post(url, content=b"{}", headers={"x-webhook-signature": "0" * 64, "x-webhook-timestamp": "1769592774119"})
        assert resp.status_code == 401
        line = proc.stdout.readline().strip()
        assert line.startswith("POST /webhooks/trackpilots - 2 bytes -> 401 (REJECTED: ")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()


def test_receive_passes_the_switches(home, monkeypatch):
    seen = {}

    def serve_forever(rx):  # instead of blocking until Ctrl-C
        seen.update(unit=rx.timestamp_unit, future=rx.reject_future, replay=rx.replay_protection, tol=rx.tolerance_ms)
        rx.stop()

    monkeypatch.setattr("simlib.cli.receive.serve_forever", serve_forever)
    argv = ["receive", "--port", "0", "--secret", SECRET, "--timestamp-unit", "s", "--accept-future",
            "--replay-protection", "--tolerance-ms", "1000", "--quiet"]
    assert main(argv, stdout=io.StringIO(), stderr=io.StringIO()) == 0
    assert seen == {"unit": "s", "future": False, "replay": True, "tol": 1000}


def test_receive_defaults_are_the_receivers(home, monkeypatch):
    """Flags left out give what Receiver() would do by itself (but a fixed port to paste)."""
    seen = {}

    def serve_forever(rx):
        seen.update(host=rx.host, status=rx.status, delay=rx.delay_ms, unit=rx.timestamp_unit, tol=rx.tolerance_ms,
                    future=rx.reject_future, replay=rx.replay_protection)
        rx.stop()

    monkeypatch.setattr("simlib.cli.receive.serve_forever", serve_forever)
    port = free_port()
    out = io.StringIO()
    assert main(["receive", "--port", str(port), "--secret", SECRET, "--quiet"], stdout=out, stderr=io.StringIO()) == 0
    with Receiver(SECRET) as default:
        assert seen == {"host": default.host, "status": default.status, "delay": default.delay_ms,
                        "unit": default.timestamp_unit, "tol": default.tolerance_ms,
                        "future": default.reject_future, "replay": default.replay_protection}
    assert out.getvalue() == f"listening on http://127.0.0.1:{port}/webhooks/trackpilots (Ctrl-C to stop)\n"


def test_receive_needs_a_secret(home):
    code, out, err = run("receive", "--port", str(free_port()))
    assert code == 2
    assert "--secret" in one_line_error(err)


# -- bad input and help -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, says",
    [
        (["webhooks", "add", "--name", " ", "--url", "https://e.com/x", "--event", APP], "name:"),
        (["webhooks", "add", "--name", "x", "--url", "/relative", "--event", APP], "url:"),
        (["webhooks", "add", "--name", "x", "--url", "https://e.com/x", "--event", "nope.nope"], "events:"),
        (["webhooks", "add", "--name", "x", "--url", "https://e.com/x", "--event", APP, "--secret", "short"], "secret:"),
        (["webhooks", "update", "wh_nosuch", "--name", "y"], "not found"),
        (["webhooks", "delete", "wh_nosuch"], "not found"),
        (["preview", "wh_nosuch", APP], "not found"),
        (["history", "--since", "yesterday-ish"], "time"),
    ],
)
def test_bad_input_prints_one_line_and_exits_non_zero(home, argv, says):
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    line = one_line_error(err)
    assert line.startswith("simlib: error:")
    assert says in line


def test_bad_override_and_unknown_event(home):
    wid = add_webhook("https://example.com/h")["id"]
    code, _, err = run("preview", wid, APP, "--set", "data.0.nope=1")
    assert code == 2 and "data.0.nope" in one_line_error(err)
    code, _, err = run("preview", wid, APP, "--set", "data.0.tracking.app.name={oops")
    assert code == 2 and "JSON" in one_line_error(err)
    code, _, err = run("preview", wid, "desktop.nope.captured")
    assert code == 2 and "desktop.nope.captured" in one_line_error(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "x", APP, "--seed", "-1"],
        ["history", "--format", "xml"],
        ["receive", "--port", "70000", "--secret", "s"],
        ["webhooks", "add", "--name", "x"],
        ["nosuchcommand"],
        [],
    ],
)
def test_argument_errors_print_one_line_and_exit_2(home, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line_error(captured.err).startswith("simlib")


HELP_COMMANDS = [
    [],
    ["webhooks"],
    ["webhooks", "add"],
    ["webhooks", "list"],
    ["webhooks", "show"],
    ["webhooks", "update"],
    ["webhooks", "rotate-secret"],
    ["webhooks", "delete"],
    ["events"],
    ["preview"],
    ["send"],
    ["history"],
    ["receive"],
    ["demo"],
]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "simlib")
def test_help_works_for_every_command(home, capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: simlib" + "".join(" " + c for c in command))


def test_the_top_level_help_names_only_store_actions_that_exist(home, capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    (store_line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("store ")]
    named = re.findall(r"\(([a-z-]+)\)", store_line)
    assert named  # the line says which actions it has
    for action in named:
        with pytest.raises(SystemExit) as exc:
            main(["store", action, "--help"])
        assert exc.value.code == 0, action


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("simlib ")


# -- empty filters, Ctrl-C during a burst, a closed stdout pipe ----------------------------------------


def test_history_filters_matching_nothing_say_so(three_sends):
    for argv in (["--limit", "0"], ["--result", "Failed"], ["--event", SHOT, "--result", "Failed"]):
        code, out, err = run("history", *argv)
        assert (code, out, err) == (0, "no matching history rows\n", ""), argv


def test_empty_history_with_a_filter(home):
    assert run("history", "--limit", "0")[1] == "no matching history rows\n"
    assert "no history yet" in run("history")[1]


def _history_count(home: Path) -> int:
    conn = sqlite3.connect(home / "simlib.sqlite3")
    try:
        return conn.execute("SELECT COUNT(*) FROM history").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("command", [["send", "{wid}", APP], ["check", "{wid}"], ["replay", "1"]])
def test_ctrl_c_during_any_command_says_so_in_one_line_and_exits_130(home, command):
    """Not a silent 130: send, check and replay say it as a burst does."""
    import signal
    import time

    from tests.servers import RawServer, never_answer

    with RawServer(never_answer()) as hanging:
        wid = add_webhook(hanging.url, APP)["id"]
        if command[0] == "replay":  # a row to replay: one attempt that timed out quickly
            assert run("send", wid, APP, "--deadline", "0.5")[0] == 1
        with _simlib_process(home, *[part.format(wid=wid) for part in command]) as proc:
            deadline = time.monotonic() + 30
            while len(hanging.requests) < (2 if command[0] == "replay" else 1) and time.monotonic() < deadline:
                time.sleep(0.05)  # the request is in flight: the endpoint holds it
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert one_line_error(err) == ("simlib: interrupted (Ctrl-C): what was recorded stays in the history; an attempt "
                                   "that was in flight reads 'interrupted'")


@pytest.mark.slow
def test_burst_interrupted_by_ctrl_c_says_what_was_recorded(home):
    import signal
    import time

    from simlib.receiver import ReceiverProcess

    # A slow receiver (4 at a time, 200 ms each: 20 sends a second) makes the 5,000-send burst
    # last minutes, so it is surely mid-way when Ctrl-C arrives; a burst that is not is a failure.
    n, wanted, concurrency = 5000, 21, 4
    with ReceiverProcess(delay_ms=200, verify_signatures=False) as rx:
        wid = add_webhook(rx.url, APP)["id"]
        assert run("send", wid, APP)[0] == 0  # a row from before the burst is not counted
        with _simlib_process(home, "burst", wid, APP, "-n", str(n), "-c", str(concurrency), "--no-progress") as proc:
            deadline = time.monotonic() + 60
            while _history_count(home) < wanted and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            before = _history_count(home)
            if proc.poll() is not None or before < wanted:
                proc.kill()
                err = proc.communicate()[1]
                pytest.fail(f"the burst was not mid-way ({before - 1} rows recorded, exit {proc.returncode}): {err}")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        received = rx.stats()["requests"]
    assert proc.returncode == 130, err
    assert out == ""
    m = re.fullmatch(r"simlib: interrupted: (\d+) attempts recorded in history before the interruption", one_line_error(err))
    assert m, err
    recorded = int(m.group(1))
    assert recorded == _history_count(home) - 1
    # The rows counted before Ctrl-C include the next chunk's reservations (one row per worker);
    # those whose sends had not started yet are released on the way out (seen once on a slow CI
    # machine: 21 rows counted, 17 recorded). No more than that chunk goes.
    assert before - 1 - concurrency <= recorded < n and received < n


class _ClosedPipe(io.StringIO):
    """stdout whose reader went away: on write, or only when flushed (buffered output)."""

    def __init__(self, on: str) -> None:
        super().__init__()
        self.on = on

    def write(self, s: str) -> int:
        if self.on == "write":
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(s)

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_closed_stdout_pipe_is_not_an_error(home):
    err = io.StringIO()
    assert main(["events"], stdout=_ClosedPipe("flush"), stderr=err) == 0  # it had finished: its own code
    assert main(["events"], stdout=_ClosedPipe("write"), stderr=err) == 1  # cut short
    with Receiver() as rx:
        wid = add_webhook(rx.url, APP)["id"]
        assert main(["send", wid, APP], stdout=_ClosedPipe("flush"), stderr=err) == 0
    assert main(["send", wid, APP], stdout=_ClosedPipe("flush"), stderr=err) == 1  # Failed: receiver gone
    assert err.getvalue() == ""


def test_closed_stdout_pipe_subprocess(home):
    """``simlib ... | head``: no "Broken pipe" error, no "Exception ignored" at exit."""
    with Receiver() as rx:
        wid = add_webhook(rx.url, APP)["id"]
        assert run("burst", wid, APP, "-n", "80", "--no-progress")[0] == 0
    assert len(run("history", "--format", "json")[1]) > 64 * 1024  # more than a pipe holds
    env = _env(home)
    del env["PYTHONUNBUFFERED"]  # stdout buffered, as usual when piped
    for argv, expected in ((["events"], 0), (["history", "--format", "json"], 1), (["history"], None)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "simlib", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        proc.stdout.close()  # the reader is gone before anything was written
        err = proc.stderr.read()
        proc.stderr.close()
        code = proc.wait(timeout=60)
        assert err == "", argv
        if expected is not None:
            assert code == expected, argv
        assert code in (0, 1), argv
    # A reader that stops half way (``| head -c 100``).
    proc = subprocess.Popen(
        [sys.executable, "-m", "simlib", "history", "--format", "json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.read(100).startswith("[")
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 1)
    assert err == ""
