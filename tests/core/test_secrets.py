"""The webhook secret never leaks: not in CLI output, results, previews, history, exports or
reprs; only ``simlib webhooks show ID --reveal-secret`` (and ``Secret.reveal()``) show it."""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from simlib.cli import main
from simlib.receiver import Receiver
from tests.helpers import ACT, ALL_EVENTS, APP, SHOT, free_port

SECRET = "Sentinel-Secret-Value-7f3a9c1e5b2d4086"


def forms(secret: str) -> list[str]:
    raw = secret.encode("utf-8")
    b64 = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    return [secret, raw.hex(), raw.hex().upper(), b64, b64.rstrip("="), urlsafe, urlsafe.rstrip("=")]


def assert_no_secret(text: str | bytes, secret: str = SECRET, where: str = "") -> None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for form in forms(secret):
        assert form not in text, f"secret form {form!r} leaked in {where or 'output'}"


def test_the_scanner_finds_the_secret():
    """Guard: the check below would notice a leak in any of the forms."""
    for form in forms(SECRET):
        with pytest.raises(AssertionError):
            assert_no_secret(f"prefix {form} suffix")


@pytest.fixture
def sent(sim):
    """A webhook with a known secret, and a delivered and a failed attempt."""
    with Receiver(SECRET) as ok, Receiver(SECRET, status=500) as bad:
        wh = sim.create_webhook("Secretive", ok.url, ALL_EVENTS, secret=SECRET)
        delivered = sim.simulate(wh, APP)
        sim.update_webhook(wh, url=bad.url)
        failed = sim.simulate(wh, SHOT)
        req = ok.wait_for(1)[0]
    assert delivered.result == "Delivered" and req.verification.ok  # it was signed with SECRET
    assert failed.http_status == 500
    return sim, sim.get_webhook(wh.id), [delivered, failed]


def test_webhook_repr_str_and_dict(sent):
    _, wh, _ = sent
    assert wh.secret.reveal() == SECRET
    for text, where in (
        (repr(wh), "repr(webhook)"),
        (str(wh), "str(webhook)"),
        (f"{wh}", "format(webhook)"),
        (repr(wh.secret), "repr(secret)"),
        (str(wh.secret), "str(secret)"),
        (f"{wh.secret:>60}", "format(secret)"),
        (json.dumps(wh.to_dict()), "webhook.to_dict()"),
        (wh.label, "label"),
    ):
        assert_no_secret(text, where=where)
    assert wh.to_dict(reveal_secret=True)["secret"] == SECRET


def test_secret_cannot_be_pickled(sent):
    import pickle

    _, wh, _ = sent
    with pytest.raises(TypeError):
        pickle.dumps(wh)


def test_results_and_previews(sent):
    sim, wh, results = sent
    for r in results:
        assert_no_secret(repr(r), where="repr(result)")
        assert_no_secret(str(r), where="str(result)")
        assert_no_secret(json.dumps(r.to_dict(), default=str), where="result.to_dict()")
    p = sim.preview(wh, ACT)
    for text, where in ((repr(p), "repr(preview)"), (p.text, "preview.text"), (p.pretty, "preview.pretty"), (p.body, "preview.body")):
        assert_no_secret(text, where=where)


def test_history_frame_store_and_exports(sent, tmp_path, store_path):
    sim, _, _ = sent
    frame = sim.history()
    assert len(frame) == 2
    assert_no_secret(frame.to_string(), where="history().to_string()")
    assert_no_secret(frame.to_json(date_format="iso"), where="history().to_json()")
    for column in frame.columns:
        assert_no_secret(" ".join(map(str, frame[column].tolist())), where=f"history column {column}")
    for row_id in frame["id"]:
        assert_no_secret(json.dumps(sim.history_row(int(row_id)), default=str), where="history_row")
    for suffix in ("csv", "json"):
        out = sim.export_history(tmp_path / f"h.{suffix}")
        assert_no_secret(out.read_bytes(), where=f"{suffix} export")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        out = sim.export_history(tmp_path / "h.parquet")
        assert_no_secret(out.read_bytes(), where="parquet export")
    # Nor is it written into the history table itself.
    conn = sqlite3.connect(store_path)
    try:
        rows = conn.execute("SELECT * FROM history").fetchall()
    finally:
        conn.close()
    assert rows
    assert_no_secret(repr(rows), where="history table")


def test_simulator_and_store_reprs(sent):
    sim, _, _ = sent
    assert_no_secret(repr(sim) + repr(sim.store), where="repr(simulator)")


# -- CLI ------------------------------------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_no_cli_output_shows_the_secret_except_reveal(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path / "home"))
    outputs: list[tuple[list[str], str]] = []

    def cli(*argv: str) -> str:
        code, out, err = run(*argv)
        outputs.append((list(argv), out + err))
        return out

    events = ["--event", APP, "--event", SHOT, "--event", ACT]
    with Receiver(SECRET) as rx:
        wid = json.loads(cli("webhooks", "add", "--name", "S", "--url", rx.url, "--secret", SECRET, *events, "--json"))["id"]
        cli("webhooks", "add", "--name", "Text", "--url", rx.url, "--secret", SECRET + "-2", "--event", APP)
        cli("webhooks", "list")
        cli("webhooks", "list", "--json")
        cli("webhooks", "show", wid)
        cli("webhooks", "show", wid, "--json")
        cli("webhooks", "update", wid, "--name", "S2")
        cli("webhooks", "update", wid, "--name", "S3", "--json")
        cli("events", "--json")
        cli("preview", wid, APP)
        cli("preview", wid, APP, "--json")
        cli("preview", wid, APP, "--pretty")
        cli("send", wid, APP)
        cli("send", wid, SHOT, "--json")
        assert rx.wait_for(2)[-1].verification.ok  # really signed with the secret
    cli("send", wid, ACT, "--json")  # receiver gone: Network error
    cli("history")
    cli("history", "--format", "csv")
    cli("history", "--format", "json")
    cli("history", "--output", str(tmp_path / "out.json"), "--format", "json")
    assert_no_secret((tmp_path / "out.json").read_text(), where="history --output")
    cli("demo")
    cli("webhooks", "update", wid, "--secret", " leaked-by-error-message ")  # refused
    cli("webhooks", "add", "--name", "x", "--url", "ftp://x", "--event", APP, "--secret", SECRET)  # refused
    assert len(outputs) == 22
    for argv, text in outputs:
        assert text, argv
        assert_no_secret(text, where=" ".join(argv))
        assert "leaked-by-error-message" not in text
    # Rotation: neither the old nor the new secret is printed.
    code, out, err = run("webhooks", "rotate-secret", wid, "--json")
    assert code == 0
    assert_no_secret(out + err, where="rotate-secret")
    new_secret = json.loads(run("webhooks", "show", wid, "--reveal-secret", "--json")[1])["secret"]
    assert new_secret != SECRET
    assert_no_secret(out + err, secret=new_secret, where="rotate-secret (new secret)")
    assert_no_secret(run("webhooks", "show", wid)[1], secret=new_secret, where="show after rotation")


def test_reveal_secret_shows_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path / "home"))
    code, out, _ = run("webhooks", "add", "--name", "S", "--url", "https://example.com/x", "--secret", SECRET, "--event", APP, "--json")
    wid = json.loads(out)["id"]
    code, out, _ = run("webhooks", "show", wid, "--reveal-secret")
    assert code == 0 and SECRET in out
    code, out, _ = run("webhooks", "show", wid, "--reveal-secret", "--json")
    assert json.loads(out)["secret"] == SECRET


def test_receive_output_does_not_show_the_secret(tmp_path, sim):
    env = dict(os.environ, SIMLIB_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simlib", "receive", "--port", str(port), "--secret", SECRET],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        wh = sim.create_webhook("R", first.split()[2], [APP], secret=SECRET)
        assert sim.simulate(wh, APP).result == "Delivered"
        second = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rest, err = proc.communicate(timeout=10)
    assert second.rstrip().endswith("(verified)")
    assert_no_secret(first + second + rest + err, where="receive output")


def test_support_commands_do_not_show_the_secret(tmp_path, monkeypatch):
    """check, probe, explain --webhook, replay, import, curl (no --reveal-secret), burst, history
    exports and ``receive --webhook``: the secret is used by every one of them, shown by none."""
    home = tmp_path / "home"
    monkeypatch.setenv("SIMLIB_HOME", str(home))
    outputs: list[tuple[list[str], str]] = []

    def cli(*argv: str) -> str:
        code, out, err = run(*argv)
        assert code in (0, 1), (argv, err)
        outputs.append((list(argv), out + err))
        return out

    with Receiver(SECRET) as rx:
        wid = json.loads(cli("webhooks", "add", "--name", "S", "--url", rx.url, "--secret", SECRET, "--event", ACT,
                             "--event", APP, "--json"))["id"]
        sent = json.loads(cli("send", wid, ACT, "--json"))
        row = str(json.loads(cli("history", "--format", "json"))[-1]["id"])
        headers = tmp_path / "headers.txt"
        headers.write_text("".join(f"{k}: {v}\n" for k, v in sent["request_headers"].items()))
        body = tmp_path / "body.json"
        body.write_bytes(sent["payload"].encode("utf-8"))
        tampered = tmp_path / "tampered.json"
        tampered.write_bytes(sent["payload"].encode("utf-8") + b"\n")  # what an editor might add
        capture = tmp_path / "capture.http"
        capture.write_bytes(
            b"POST /webhooks/trackpilots HTTP/1.1\r\n"
            + headers.read_text().replace("\n", "\r\n").encode("latin-1")
            + b"\r\n"
            + body.read_bytes()
        )

        cli("check", wid)
        cli("check", wid, "--json")
        cli("probe", wid, "--max-requests", "16")
        cli("probe", wid, "--max-requests", "16", "--json")
        cli("explain", "--headers", str(headers), "--body", str(body), "--webhook", wid)
        cli("explain", "--headers", str(headers), "--body", str(body), "--webhook", wid, "--json")
        cli("explain", "--headers", str(headers), "--body", str(tampered), "--webhook", wid)  # not valid
        cli("explain", "--headers", str(headers), "--body", str(tampered))  # every webhook's secret tried
        cli("replay", row)
        cli("replay", row, "--json")
        cli("replay", row, "--original-timestamp")
        cli("import", str(capture), "--webhook", wid)
        cli("import", str(capture), "--webhook", wid, "--json")
        cli("curl", row)
        cli("curl", row, "--exact")
        cli("curl", row, "--httpx")
        cli("curl", "--preview", wid, ACT)
        cli("burst", wid, APP, "-n", "5", "--no-progress")
        cli("burst", wid, APP, "-n", "5", "--json")
        assert rx.requests[0].verification.ok  # really signed with the secret
    cli("history")
    cli("history", "--format", "csv")
    cli("history", "--format", "json")
    assert len(outputs) == 25
    for argv, text in outputs:
        assert text, argv
        assert_no_secret(text, where=" ".join(argv))
    assert "$WEBHOOK_SECRET" in dict((" ".join(a), t) for a, t in outputs)[f"curl {row}"]  # signed when it runs

    # receive --webhook ID: verifies with the webhook's secret, never prints it.
    port = free_port()
    env = dict(os.environ, SIMLIB_HOME=str(home), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simlib", "receive", "--port", str(port), "--webhook", wid],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("listening on "), proc.stderr.read() if proc.poll() is not None else first
        url = first.split()[2]
        run("webhooks", "update", wid, "--url", url)
        code, out, err = run("send", wid, ACT)
        assert code == 0, out + err
        second = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rest, err = proc.communicate(timeout=10)
    assert second.rstrip().endswith("(verified)")  # it really verified with the secret
    assert_no_secret(first + second + rest + err, where="receive --webhook output")
