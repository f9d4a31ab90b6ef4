"""The command line against hostile input (issue 11): secrets kept off the command line, text
from outside escaped before it reaches the terminal, argv bytes that are not UTF-8, huge
numbers, ``--json`` meaning only JSON on stdout, input nested too deeply, and URL-looking
stores. Real ``python -m simlib`` processes against real receivers on 127.0.0.1 wherever
something is sent or served; in-process ``main()`` for the argument matrix.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from simlib import Simulator
from simlib.cli import build_parser, main
from simlib.cli.common import PositiveNumber, WholeNumber
from simlib.cli.output import PrintableStream, printable
from simlib.receiver import Receiver
from tests.helpers import ACT, APP, free_port

#: The classes of the README's "What happens when…" table this module tests.
README_CASES = {
    "cli-control-chars",
    "cli-curl-control-chars",
    "cli-deep-nesting",
    "cli-huge-integer",
    "cli-json-error",
    "cli-not-utf8",
    "cli-secret-file-lines",
    "cli-secret-file-open",
    "cli-store-url",
}

SECRET = "hostile-cli-secret-0123456789abcdef"
OTHER = "another-cli-secret-0123456789abcdef"
#: What must never reach the terminal raw (the test's own list, not the code's): C0 controls
#: but the line break, DEL, C1 controls, bidi marks, embeddings, overrides and isolates.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
#: An escape sequence that retitles the terminal, one that clears it, a C1 CSI, a bidi override.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b2J\u202eforged\u2066"


def no_raw(text: str) -> None:
    found = RAW.findall(text)
    assert not found, f"raw control characters reached the output: {found!r} in {text[:300]!r}"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "simlib-home"
    monkeypatch.setenv("SIMLIB_HOME", str(h))
    return h


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMLIB_")}
    env.update({"SIMLIB_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra})
    return env


def simlib(*argv: str | bytes, home: Path, input: bytes | None = None, cwd: Path | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m simlib ARGV`` (arguments may be bytes: argv that is not UTF-8)."""
    return subprocess.run(
        [sys.executable.encode(), b"-m", b"simlib", *[a if isinstance(a, bytes) else a.encode() for a in argv]],
        env=env or _env(home), input=input, capture_output=True, timeout=120, cwd=cwd,
    )


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def run_exit(argv: list[str], capsys) -> tuple[int, str, str]:
    """main() for an argument error: argparse exits (SystemExit 2) and writes to sys.stderr."""
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        main(argv, stdout=out)
    return int(exc.value.code), out.getvalue(), capsys.readouterr().err


def one_line(err: str | bytes) -> str:
    text = err.decode("utf-8", "replace") if isinstance(err, bytes) else err
    assert "Traceback" not in text, text
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


def secret_file(tmp_path: Path, text: str, mode: int = 0o600, name: str = "secret") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def add_hook(url: str, *events: str, secret: str = SECRET) -> str:
    with Simulator() as sim:
        return sim.create_webhook("Hostile", url, list(events or [APP, ACT]), secret=secret).id


class _Stdin:
    """sys.stdin as a pipe (not a terminal) holding ``data``."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)
        self.closed = False

    def isatty(self) -> bool:
        return False


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.terminate()
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


def read_until(proc: subprocess.Popen, done, timeout: float = 30) -> list[str]:
    """Lines of ``proc``'s stdout up to the first for which ``done(line)`` is true (a test that
    waits for a line that never comes fails after ``timeout`` instead of hanging)."""
    import queue
    import threading

    got: queue.Queue[str] = queue.Queue()
    lines: list[str] = []

    def reader() -> None:
        while True:
            text = proc.stdout.readline()
            got.put(text)
            if not text or done(text.rstrip("\n")):
                return

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not (lines and done(lines[-1])):
        try:
            text = got.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no such line within {timeout} s; got {lines!r}")
        if not text:
            pytest.fail(f"the process stopped; got {lines!r}")
        lines.append(text.rstrip("\n"))
    return lines


MARKER = "/marker-of-the-end"


def _marker(url: str) -> None:
    """A last, plain request: its line says everything before it has been printed."""
    httpx.post(url.rsplit("/webhooks/", 1)[0] + MARKER, content=b"{}")


def _receive(home: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """``simlib receive`` in its own process; returns it and its first line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simlib", "receive", "--port", str(free_port()), *argv],
        env=env or _env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        encoding="utf-8", errors="surrogateescape",
    )
    first = proc.stdout.readline()
    if not first:
        _, err = _stop(proc)
        pytest.fail(f"simlib receive did not start: {err}")
    return proc, first


# -- item 11: secrets off the command line ----------------------------------------------------------


def test_receive_secret_file_keeps_the_secret_out_of_proc_cmdline(home, tmp_path):
    path = secret_file(tmp_path, SECRET + "\n")
    proc, first = _receive(home, "--secret-file", str(path))
    try:
        assert first.startswith("listening on http://127.0.0.1:")
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert str(path).encode() in cmdline and SECRET.encode() not in cmdline
        url = first.split()[2]
        wid = add_hook(url)
        sent = simlib("send", wid, APP, "--json", home=home)
        assert sent.returncode == 0, sent.stderr
        assert proc.stdout.readline().rstrip().endswith("-> 200 (verified)")  # the trailing newline was dropped
    finally:
        _, err = _stop(proc)
    assert err == ""  # a 0600 file: no warning


def test_secret_from_stdin_is_not_in_proc_cmdline(home, tmp_path):
    """``webhooks add --secret -`` waits for stdin; meanwhile its command line holds no secret."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simlib", "webhooks", "add", "--name", "In", "--url", "https://example.com/h",
         "--event", APP, "--secret", "-", "--json"],
        env=_env(home), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)  # it is reading stdin now (or still starting: the command line is the same)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        out, err = proc.communicate(SECRET.encode() + b"\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert b"--secret\x00-\x00" in cmdline and SECRET.encode() not in cmdline
    assert proc.returncode == 0, err
    wid = json.loads(out)["id"]
    with Simulator() as sim:
        assert sim.get_webhook(wid).secret.reveal() == SECRET


@pytest.mark.parametrize("source", ["file", "file-crlf", "stdin", "env"])
def test_every_secret_command_takes_a_file_stdin_and_env(home, tmp_path, monkeypatch, source):
    def flags(secret: str) -> list[str]:
        if source.startswith("file"):
            ending = "\r\n" if source == "file-crlf" else "\n"
            return ["--secret-file", str(secret_file(tmp_path, secret + ending, name=f"s-{secret[:5]}"))]
        if source == "stdin":
            monkeypatch.setattr(sys, "stdin", _Stdin(secret.encode() + b"\n"))
            return ["--secret", "-"]
        monkeypatch.setenv("MY_HOOK_SECRET", secret)
        return ["--secret-env", "MY_HOOK_SECRET"]

    code, out, err = run("webhooks", "add", "--name", "S", "--url", "https://example.com/h", "--event", ACT,
                         *flags(SECRET), "--json")
    assert code == 0 and err == "", err
    wid = json.loads(out)["id"]
    with Simulator() as sim:
        assert sim.get_webhook(wid).secret.reveal() == SECRET
        code, _, err = run("webhooks", "update", wid, *flags(OTHER))
        assert code == 0, err
        assert sim.get_webhook(wid).secret.reveal() == OTHER
        preview = sim.preview(wid, ACT, seed=1)
    headers = tmp_path / "headers.txt"
    body = tmp_path / "body.json"
    from simlib import sign

    signed = sign(OTHER, preview.body, int(time.time() * 1000))
    headers.write_text("".join(f"{k}: {v}\n" for k, v in signed.items()))
    body.write_bytes(preview.body)
    code, out, err = run("explain", "--headers", str(headers), "--body", str(body), *flags(OTHER), "--json")
    assert code == 0, err
    assert json.loads(out)["valid"] is True

    seen: dict[str, list[str]] = {}

    def serve_forever(rx):
        seen["secrets"] = list(rx.secrets)
        rx.stop()

    monkeypatch.setattr("simlib.cli.receive.serve_forever", serve_forever)
    code, _, err = run("receive", "--port", "0", "--quiet", *flags(SECRET))
    assert code == 0, err
    assert seen["secrets"] == [SECRET]


def test_receive_reads_one_secret_per_line_and_skips_empty_lines(home, tmp_path, monkeypatch):
    seen: dict[str, list[str]] = {}

    def serve_forever(rx):
        seen["secrets"] = list(rx.secrets)
        rx.stop()

    monkeypatch.setattr("simlib.cli.receive.serve_forever", serve_forever)
    path = secret_file(tmp_path, f"{SECRET}\n\n{OTHER}\n")
    assert run("receive", "--port", "0", "--quiet", "--secret-file", str(path), "--secret", "inline-secret-1234")[0] == 0
    assert seen["secrets"] == ["inline-secret-1234", SECRET, OTHER]
    # The variable a ReceiverProcess sets: a trailing newline is not an empty secret (which
    # would accept requests signed with "").
    monkeypatch.setenv("SIMLIB_RECEIVER_SECRETS", f"{SECRET}\n")
    assert run("receive", "--port", "0", "--quiet")[0] == 0
    assert seen["secrets"] == [SECRET]
    code, _, err = run("receive", "--port", "0", "--secret", "-", "--secret", "-")
    assert code == 2 and "stdin" in one_line(err)


def test_a_secret_file_others_can_read_is_used_with_a_warning(home, tmp_path):
    path = secret_file(tmp_path, SECRET + "\n", mode=0o644)
    proc = simlib("webhooks", "add", "--name", "W", "--url", "https://example.com/h", "--event", APP,
                  "--secret-file", str(path), "--json", home=home)
    assert proc.returncode == 0
    json.loads(proc.stdout)  # stdout stays JSON; the warning is on stderr
    warning = one_line(proc.stderr)
    assert warning.startswith("simlib: warning: ") and "mode 0644" in warning and "chmod 600" in warning
    assert SECRET not in warning


@pytest.mark.parametrize(
    "content, says",
    [
        (f"{SECRET}\n{OTHER}\n", "holds 2 lines: give one secret"),
        ("x" * 70_000, "larger than 65536 bytes"),
        (None, "cannot read"),
    ],
)
def test_unusable_secret_files_are_one_line_errors(home, tmp_path, content, says):
    path = tmp_path / "nope" if content is None else secret_file(tmp_path, content)
    for argv in (["webhooks", "add", "--name", "W", "--url", "https://example.com/h", "--event", APP],
                 ["explain", "--headers", str(path), "--body", str(path)]):
        code, out, err = run(*argv, "--secret-file", str(path))
        assert code == 2 and out == ""
        line = one_line(err)
        assert line.startswith("simlib: error: --secret-file: ") and says in line
    code, _, err = run("webhooks", "add", "--name", "W", "--url", "https://e.com/h", "--event", APP,
                       "--secret-env", "SIMLIB_TEST_UNSET_VARIABLE")
    assert code == 2 and "is not set" in one_line(err)


def test_the_readme_passes_secrets_by_file_stdin_or_environment():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", readme, re.S))
    assert "--secret-file" in blocks and "--secret -" in blocks and "--secret-env" in blocks
    assert not re.search(r"--secret [A-Za-z\"']", blocks), "a README example puts a secret on the command line"


# -- item 12: nothing from outside reaches the terminal raw -------------------------------------------


def test_printable_escapes_every_class_and_keeps_json_json():
    for ch in "\x00\x07\x08\x0d\x1b\x7f\x85\x9b\u061c\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069\udcff":
        assert RAW.search(printable(f"a{ch}b")) is None and printable(f"a{ch}b") != f"a{ch}b", repr(ch)
    assert printable("a\nb\tc") == "a\\nb\\tc"
    assert printable("Zoë 東京 👨\u200d👩\u200d👧") == "Zoë 東京 👨\u200d👩\u200d👧"  # joiners stay
    doc = {"event": HOSTILE + "\n\udcff", "n": 1}
    sink = io.StringIO()
    PrintableStream(sink).write(json.dumps(doc, ensure_ascii=False, indent=2))
    no_raw(sink.getvalue())
    assert json.loads(sink.getvalue()) == doc  # the escapes are JSON escapes: the same value


def _raw_request(port: int, target: bytes, body: bytes, extra: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra
                  + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


HOSTILE_BODY = json.dumps({"event": HOSTILE + "\nPOST /x desktop.app 9 bytes -> 200 (verified)"}).encode()


def _hostile_requests(port: int) -> None:
    """Requests whose path, event and headers carry escape sequences (a receiver may refuse a
    request line holding control bytes with 400, and then print nothing)."""
    for target, extra in (
        (b"/webhooks/trackpilots", b""),
        (b"/x\x1b]0;t\x07/\x1b[2J", b""),
        (b"/x\xc2\x9b2J\xe2\x80\xae", b""),
        (b"/webhooks/trackpilots", b"x-webhook-signature: \xc2\x9b\x1b[2J\r\nx-webhook-timestamp: \x1b]0;t\x07\xe2\x80\xae\r\n"),
    ):
        assert _raw_request(port, target, HOSTILE_BODY, extra).startswith(b"HTTP/1.1 ")


def test_receive_escapes_paths_events_and_reasons(home):
    proc, first = _receive(home, "--secret", SECRET)
    try:
        port = int(first.split()[2].split(":")[2].split("/")[0])
        _hostile_requests(port)
        wid = add_hook(first.split()[2])
        assert simlib("send", wid, APP, home=home).returncode == 0  # a marker: everything before it is printed
        lines = read_until(proc, lambda line: line.endswith("(verified)") and "-> 200" in line)
    finally:
        _, err = _stop(proc)
    text = "\n".join(lines)
    no_raw(text)
    no_raw(err)
    assert "\\u001b]0;pwned\\u0007\\u001b[2J\\u009b2J\\u202eforged\\u2066\\nPOST /x" in text  # shown, escaped
    assert sum(line.endswith("(verified)") for line in lines) == 1  # the forged "verified" stays inside a line
    assert len(lines) >= 3


def test_receive_json_is_json_lines_only_and_faithful(home):
    proc, first = _receive(home, "--secret", SECRET, "--json")
    try:
        doc = json.loads(first)
        assert set(doc) == {"listening"} and doc["listening"].startswith("http://127.0.0.1:")
        port = int(doc["listening"].split(":")[2].split("/")[0])
        _hostile_requests(port)
        resp = httpx.post(doc["listening"], content=b"{}", headers={"x-webhook-signature": "0" * 64,
                                                                    "x-webhook-timestamp": "1769592774119"})
        assert resp.status_code == 401
        _marker(doc["listening"])
        lines = read_until(proc, lambda line: MARKER in line)
    finally:
        out, err = _stop(proc)
    items = [json.loads(line) for line in [*lines, *out.splitlines()]]  # every line is JSON
    assert items[0]["event"] == HOSTILE + "\nPOST /x desktop.app 9 bytes -> 200 (verified)"  # JSON keeps the value
    assert items[0]["verified"] is False and items[-2]["status"] == 401 and items[-1]["path"] == MARKER
    assert "Traceback" not in err


def test_receive_json_output_bytes_hold_no_raw_controls(home):
    proc, first = _receive(home, "--no-verify", "--json")
    try:
        url = json.loads(first)["listening"]
        _hostile_requests(int(url.split(":")[2].split("/")[0]))
        _marker(url)
        raw = read_until(proc, lambda line: MARKER in line)
    finally:
        _stop(proc)
    assert len(raw) >= 3
    for line in [first.rstrip("\n"), *raw]:
        no_raw(line)
        json.loads(line)


def _hostile_receiver(**kwargs) -> Receiver:
    body = json.dumps({"error": "x"}, indent=2) + "\n" + HOSTILE + "\nDelivered  status 200  1.0 ms"
    return Receiver(SECRET, body=body, **kwargs)


def test_send_replay_and_import_escape_the_response_body(home, tmp_path):
    with _hostile_receiver() as rx:
        wid = add_hook(rx.url)
        sent = simlib("send", wid, APP, home=home)
        assert sent.returncode == 0, sent.stderr
        out = sent.stdout.decode()
        no_raw(out)
        assert out.splitlines()[0].startswith("Delivered")
        assert sum(line.startswith("Delivered") for line in out.splitlines()) == 1  # the forged one is inside a line
        assert "\\u001b]0;pwned" in out and "\\n" in out
        as_json = simlib("send", wid, APP, "--json", home=home)
        no_raw(as_json.stdout.decode())
        assert HOSTILE in json.loads(as_json.stdout)["response_body"]

        row = json.loads(simlib("history", "--json", home=home).stdout)[0]["id"]
        replayed = simlib("replay", str(row), home=home)
        assert replayed.returncode == 0, replayed.stderr
        no_raw(replayed.stdout.decode())
        assert "\\u001b]0;pwned" in replayed.stdout.decode()

        req = rx.requests[0]
        capture = tmp_path / "cap.http"
        capture.write_bytes(b"POST /webhooks/trackpilots HTTP/1.1\r\n"
                            + b"".join(f"{k}: {v}\r\n".encode() for k, v in req.headers) + b"\r\n" + req.body)
        imported = simlib("import", str(capture), "--webhook", wid, home=home)
        assert imported.returncode == 0, imported.stderr
        no_raw(imported.stdout.decode())
        assert "\\u001b]0;pwned" in imported.stdout.decode()


def test_history_csv_on_stdout_is_escaped_and_the_file_is_as_recorded(home, tmp_path):
    with _hostile_receiver() as rx:
        wid = add_hook(rx.url)
        assert simlib("send", wid, APP, home=home).returncode == 0
    csv_out = simlib("history", "--format", "csv", home=home)
    assert csv_out.returncode == 0
    no_raw(csv_out.stdout.decode())
    table = simlib("history", home=home)
    no_raw(table.stdout.decode())
    target = tmp_path / "h.csv"
    assert simlib("history", "-o", str(target), home=home).returncode == 0
    assert HOSTILE in target.read_text()  # -o FILE writes the values as recorded


def test_webhook_names_and_urls_from_the_store_are_escaped(home):
    wid = add_hook("https://example.com/h")
    conn = sqlite3.connect(home / "simlib.sqlite3")
    try:  # a store written by another tool, or before validation refused these
        conn.execute("UPDATE webhooks SET name = ?, url = ? WHERE id = ?",
                     ("evil" + HOSTILE + "\nwh_forged  Forged", "https://example.com/\x1b[2J\u202e", wid))
        conn.commit()
    finally:
        conn.close()
    for argv in (["webhooks", "list"], ["webhooks", "show", wid], ["webhooks", "list", "--json"]):
        proc = simlib(*argv, home=home)
        assert proc.returncode == 0, proc.stderr
        no_raw(proc.stdout.decode())
        no_raw(proc.stderr.decode())
        assert "\\u001b" in proc.stdout.decode()
        if argv == ["webhooks", "list"]:
            assert len(proc.stdout.splitlines()) == 2  # the header and one row: no forged row
        if argv[-1] == "--json":
            assert json.loads(proc.stdout)[0]["name"].endswith("\nwh_forged  Forged")


def test_errors_that_echo_input_are_escaped(home, capsys):
    code, _, err = run_exit(["events", "\x1b]0;pwned\x07", "\u202e"], capsys)
    assert code == 2
    no_raw(one_line(err))
    assert "\\u001b]0;pwned" in err
    code, _, err = run("webhooks", "show", "wh_" + HOSTILE)
    assert code == 2
    no_raw(one_line(err))
    code, _, err = run("webhooks", "show", "x" * 100_000)
    assert code == 2 and len(one_line(err)) < 1200  # a 100 KB argument is not echoed whole


def test_curl_refuses_a_script_a_terminal_would_act_on(home):
    wid = add_hook("https://example.com/h")
    code, out, err = run("curl", "--preview", wid, APP, "--set", "data.0.tracking.app.name=Zoë \u202eevil")
    assert code == 2 and out == ""
    line = one_line(err)
    assert "\\u202e" in line and "--httpx" in line
    no_raw(line)
    code, out, err = run("curl", "--preview", wid, APP, "--set", "data.0.tracking.app.name=Zoë \u202eevil", "--httpx")
    assert code == 0, err
    no_raw(out)
    assert run("curl", "--preview", wid, APP, "--set", "data.0.tracking.app.name=Zoë")[0] == 0


# -- item 16: argv that is not UTF-8 ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, field",
    [
        ([b"webhooks", b"add", b"--name", b"x\xff", b"--url", b"https://e.com/h", b"--event", APP.encode()], "--name"),
        ([b"webhooks", b"add", b"--name", b"x", b"--url", b"https://e.com/\xc3", b"--event", APP.encode()], "--url"),
        ([b"webhooks", b"add", b"--name", b"x", b"--url", b"https://e.com/h", b"--event", b"\xff"], "--event"),
        ([b"webhooks", b"add", b"--name", b"x", b"--url", b"https://e.com/h", b"--event", APP.encode(),
          b"--secret", b"long-enough-secret-\xff"], "--secret"),
        ([b"webhooks", b"show", b"wh_\xff"], "id"),
        ([b"preview", b"wh_x", APP.encode(), b"--set", b"data.0.tracking.app.name=\xfe"], "--set"),
        ([b"send", b"\x80", APP.encode()], "id"),
        ([b"history", b"--webhook", b"\xff"], "--webhook"),
        ([b"receive", b"--host", b"\xff", b"--no-verify"], "--host"),
        ([b"curl", b"--preview", b"wh_x", b"\xff"], "--preview"),
    ],
)
def test_argv_that_is_not_utf8_is_a_field_error(home, argv, field):
    proc = simlib(*argv, home=home)
    assert proc.returncode == 2
    assert proc.stdout == b""
    line = one_line(proc.stderr)
    assert line.startswith(f"simlib: error: {field}: is not valid UTF-8 text (byte 0x")
    assert not (home / "simlib.sqlite3").exists() or json.loads(simlib("webhooks", "list", "--json", home=home).stdout) == []


def test_lone_surrogates_in_process_and_json(home):
    code, out, err = run("webhooks", "show", "wh_\ud800", "--json")
    assert code == 2
    assert json.loads(out) == {"error": "id: is not valid UTF-8 text (a lone surrogate U+D800 at character 4)",
                               "field": "id", "exit_code": 2}
    no_raw(err)


def test_explain_names_the_flag_whose_file_cannot_be_read(tmp_path):
    body = tmp_path / "b.json"
    body.write_bytes(b"{}")
    for argv, flag, missing in ((["--headers", str(tmp_path / "nope.txt"), "--body", str(body)], "--headers", "nope.txt"),
                                (["--headers", str(body), "--body", str(tmp_path / "gone.json")], "--body", "gone.json")):
        proc = simlib("explain", *argv, "--secret-file", "/dev/null", home=tmp_path / "home")
        assert proc.returncode == 2
        line = one_line(proc.stderr)
        assert line.startswith(f"simlib: error: {flag}: cannot read ") and missing in line, line
        assert line.endswith(": No such file or directory"), line


def test_a_store_path_in_a_directory_that_does_not_exist_is_refused_not_made_up(tmp_path):
    typo = tmp_path / "nonexistent" / "dir" / "s.sqlite3"
    proc = simlib("--store", str(typo), "webhooks", "list", home=tmp_path / "unused")
    assert proc.returncode == 2 and proc.stdout == b""
    assert one_line(proc.stderr) == (f"simlib: error: store: the directory {typo.parent} does not exist (create it "
                                     "first, or give another --store): nothing was created")
    assert not (tmp_path / "nonexistent").exists()  # nothing made: no directory, no empty store, no key


def test_paths_may_hold_any_bytes(tmp_path):
    odd = os.fsencode(tmp_path) + b"/st\xffre"
    os.mkdir(odd)  # a --store path's directory is not made up (a typo would be)
    proc = simlib(b"--store", odd + b"/s.sqlite3", b"webhooks", b"add", b"--name", b"x", b"--url", b"https://e.com/h",
                  b"--event", APP.encode(), b"--json", home=tmp_path / "unused")
    assert proc.returncode == 0, proc.stderr
    assert os.path.exists(odd + b"/s.sqlite3")
    out = simlib(b"--store", odd + b"/s.sqlite3", b"history", b"-o", odd + b"/h.csv", home=tmp_path / "unused")
    assert out.returncode == 0, out.stderr
    no_raw(out.stdout.decode())
    assert b"\\udcff" in out.stdout and os.path.exists(odd + b"/h.csv")


# -- item 17: every number has a range ---------------------------------------------------------------


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def _numeric_actions():
    for path, parser in _leaves(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.type is None:
                continue
            if isinstance(action.type, (WholeNumber, PositiveNumber)) or action.type in (int, float):
                yield path, action


NUMERIC = [(path, action) for path, action in _numeric_actions()]


def test_no_argument_is_a_bare_int_or_float():
    assert len(NUMERIC) >= 30
    bare = [(" ".join(p), a.dest) for p, a in NUMERIC if a.type in (int, float)]
    assert not bare, f"unbounded numeric arguments: {bare}"


@pytest.mark.parametrize("path, action", NUMERIC, ids=[f"{' '.join(p)} {a.dest}" for p, a in NUMERIC])
def test_every_number_refuses_huge_and_non_finite_values(home, capsys, path, action):
    name = max(action.option_strings, key=len) if action.option_strings else action.dest
    values = ["9" * 30, "9" * 5000, "-" + "9" * 30]
    if isinstance(action.type, PositiveNumber):
        values += ["nan", "inf", "-inf", "1e999", "1e300"]
    for value in values:
        argv = [*path, *([max(action.option_strings, key=len), value] if action.option_strings else [value])]
        code, out, err = run_exit(argv, capsys)
        assert code == 2 and out == "", argv
        line = one_line(err)
        assert f"argument {action.metavar if not action.option_strings and action.metavar else ''}" in line
        assert name.split("/")[-1] in line or (action.metavar or "") in line, line
        assert "9" * 50 not in line  # the number is not echoed whole


@pytest.mark.parametrize(
    "argv, says",
    [
        (["history", "--limit", "99999999999999999999999"], "argument --limit: must be at most 9223372036854775807"),
        (["replay", "9999999999999999999999999"], "argument row: must be at most"),
        (["curl", "9999999999999999999999999"], "argument row: must be at most"),
        (["burst", "wh_x", APP, "-n", "99999999999"], "argument -n: must be at most 100000"),
        (["burst", "wh_x", APP, "--concurrency", "0"], "argument -c/--concurrency: must be at least 1"),
        (["webhooks", "rotate-secret", "wh_x", "--grace-seconds", "1e300"], "argument --grace-seconds: must be at most"),
        (["send", "wh_x", APP, "--deadline", "nan"], "argument --deadline: must be a finite number"),
        (["send", "wh_x", APP, "--read-timeout", "1e9"], "argument --read-timeout: must be at most 3600 seconds"),
        (["send", "wh_x", APP, "--read-timeout", "100000"], "argument --read-timeout: must be at most 3600 seconds"),
        (["check", "wh_x", "--connect-timeout", "7200"], "argument --connect-timeout: must be at most 3600 seconds"),
        (["receive", "--port", "99999999999999999999", "--no-verify"], "a port is at most 65535"),
    ],
)
def test_huge_integers_subprocess(home, argv, says):
    proc = simlib(*argv, home=home)
    assert proc.returncode == 2 and proc.stdout == b""
    assert says in one_line(proc.stderr)


# -- item 23: --json means JSON on stdout, errors included ---------------------------------------------

JSON_COMMANDS = [path for path, parser in _leaves(build_parser())
                 if any("--json" in a.option_strings for a in parser._actions)]


def test_json_commands_are_all_found():
    assert len(JSON_COMMANDS) == 21


@pytest.mark.parametrize("path", JSON_COMMANDS, ids=[" ".join(p) for p in JSON_COMMANDS])
def test_argument_errors_under_json_are_a_json_object(home, capsys, path):
    for argv in ([*path, "--json", "--no-such-flag"], [*path, "--json", *_failing(path, Path("/nonexistent"))[len(path):],
                                                       "--no-such-flag"]):
        code, out, err = run_exit(argv, capsys)
        assert code == 2
        doc = json.loads(out)
        assert set(doc) == {"error", "field", "exit_code"} and doc["exit_code"] == 2
        assert one_line(err).endswith(f"error: {doc['error']}")
    # With everything required given, the unknown flag is the error (no field: it is not one of ours).
    assert "--no-such-flag" in doc["error"] and doc["field"] is None


def _failing(path: tuple[str, ...], tmp_path: Path) -> list[str]:
    """A command line for ``path`` that fails with a library error (exit 2)."""
    ids = {("webhooks", "add"): ["--name", "x", "--url", "ftp://x", "--event", APP],
           ("webhooks", "show"): ["wh_nope"], ("webhooks", "update"): ["wh_nope", "--name", "y"],
           ("webhooks", "rotate-secret"): ["wh_nope"], ("webhooks", "delete"): ["wh_nope"],
           ("preview",): ["wh_nope", APP], ("send",): ["wh_nope", APP], ("burst",): ["wh_nope", APP, "-n", "2", "--concurrency", "1"],
           ("history",): ["--since", "yesterday-ish"], ("receive",): ["--port", "0"],
           ("check",): ["wh_nope"], ("probe",): ["wh_nope"], ("replay",): ["424242"],
           ("explain",): ["--headers", str(tmp_path / "nope"), "--body", str(tmp_path / "nope")],
           ("import",): [str(tmp_path / "nope"), "--webhook", "wh_nope"], ("orgs",): ["2", "ftp://x"]}
    return [*path, *ids.get(path, [])]


@pytest.mark.parametrize("path", JSON_COMMANDS, ids=[" ".join(p) for p in JSON_COMMANDS])
def test_library_errors_under_json_are_a_json_object(home, tmp_path, path):
    # Every command: a store that cannot be used; and (where there is one) its own bad input.
    failing = _failing(path, tmp_path)
    if path == ("receive",):
        failing_store = [*failing, "--webhook", "wh_x"]  # receive opens the store only for --webhook
    elif path == ("explain",):
        failing_store = [*path, "--headers", __file__, "--body", __file__]  # the files are read first
    else:
        failing_store = failing
    for argv in (["--store", "mysql://u:pw@db.example/simlib", *failing_store], failing):
        if path in (("send",),) and argv[0] != "--store":
            continue  # send answers a bad webhook with a result (JSON too), not an error
        if path in (("events",), ("demo",), ("webhooks", "list"), ("store", "info"), ("store", "rotate-key")) and argv[0] != "--store":
            continue  # nothing of theirs can be wrong
        code, out, err = run(*argv, "--json")
        assert code == 2, (argv, err)
        lines = out.splitlines()
        assert len(lines) == 1, out
        doc = json.loads(lines[0])
        assert set(doc) == {"error", "field", "exit_code"} and doc["exit_code"] == 2
        assert one_line(err) == f"simlib: error: {doc['error']}"
        assert "pw" not in out + err


def test_send_json_exit_codes_unchanged(home):
    code, out, _ = run("send", "wh_nope", APP, "--json")
    assert code == 2 and json.loads(out)["error"] == "Webhook not found"


def test_history_json_output_file_says_so_in_json(home, tmp_path):
    code, out, err = run("history", "--json", "-o", str(tmp_path / "h.json"))
    assert code == 0, err
    assert json.loads(out) == {"wrote": 0, "path": str(tmp_path / "h.json"), "format": "json"}


def test_receive_json_errors_are_json(home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = simlib("receive", "--json", "--no-verify", "--port", str(port), home=home)
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 2 and doc["error"]
    assert one_line(proc.stderr).startswith("simlib: error: ")
    proc = simlib("receive", "--json", "--port", "0", home=home)
    assert proc.returncode == 2 and "--no-verify" in json.loads(proc.stdout)["error"]


# -- item 10: input nested too deeply -----------------------------------------------------------------


def test_deeply_nested_override_is_one_line(home):
    wid = add_hook("https://example.com/h")
    deep = "data.0.tracking.app.name=" + "[" * 5000 + "]" * 5000
    for extra in ([], ["--json"]):
        proc = simlib("preview", wid, APP, "--set", deep, *extra, home=home)
        assert proc.returncode == 2
        line = one_line(proc.stderr)
        assert line.startswith("simlib: error: ")
        if extra:
            assert json.loads(proc.stdout)["exit_code"] == 2
        else:
            assert proc.stdout == b""


def test_a_recursion_error_anywhere_is_one_line_at_the_boundary(home, monkeypatch):
    """The last resort: whatever the library lets through, the CLI prints no traceback."""
    wid = add_hook("https://example.com/h")

    def too_deep(self, *args, **kwargs):
        def down(n):
            return down(n + 1)

        return down(0)

    monkeypatch.setattr(Simulator, "preview", too_deep)
    code, out, err = run("preview", wid, APP)
    assert (code, out) == (2, "")
    assert "nested too deeply" in one_line(err)
    code, out, _ = run("preview", wid, APP, "--json")
    assert code == 2 and "nested too deeply" in json.loads(out)["error"]


# -- also: a store argument that is a URL ------------------------------------------------------------


@pytest.mark.parametrize("url", ["postgres://u:pw@db.example/simlib", "sqlite:///tmp/pw.sqlite3", "mysql://root:pw@x"])
def test_url_stores_are_refused_without_echoing_the_password(tmp_path, url):
    # Only PostgreSQL's schemes are known (tests/core/test_shared_store.py); any other URL, and
    # any URL given as $SIMLIB_HOME (a directory), is refused.
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for argv, env in ((["--store", url, "webhooks", "list"], None),
                      (["webhooks", "list"], _env(tmp_path, SIMLIB_HOME=url))):
        proc = simlib(*argv, home=tmp_path, cwd=cwd, env=env)
        assert proc.returncode == 2 and proc.stdout == b""
        line = one_line(proc.stderr)
        assert "is a URL" in line and url.split(":")[0] + "://" in line
        assert "pw" not in line
        assert list(cwd.iterdir()) == []  # nothing created (no ./postgresql:/u:pw@… directory)


# -- item 5's sibling: the receiver's limits are configurable from the command line --------------


def test_receive_limit_flags_reach_the_receiver(home):
    """A slow head gets 408 after --header-timeout (not the 10 s default); a body over
    --max-body-bytes gets 413; both from a real `simlib receive` process."""
    proc, first = _receive(home, "--no-verify", "--quiet", "--header-timeout", "0.5", "--max-body-bytes", "100")
    try:
        port = int(first.split()[2].split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /webhooks/trackpilots HTTP/1.1\r\nHost: x\r\n")  # never finishes the head
            started = time.monotonic()
            answer = s.recv(1024)
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408")
        assert waited < 5  # the default would be 10 s
        big = httpx.post(f"http://127.0.0.1:{port}/webhooks/trackpilots", content=b"x" * 101)
        small = httpx.post(f"http://127.0.0.1:{port}/webhooks/trackpilots", content=b"x" * 100)
    finally:
        _stop(proc)
    assert (big.status_code, small.status_code) == (413, 200)


@pytest.mark.parametrize("flag, value", [("--header-timeout", "nan"), ("--header-timeout", "0"),
                                         ("--max-connections", "0"), ("--keep-bytes", "1e9")])
def test_receive_limit_flags_refuse_bad_values(home, flag, value):
    r = simlib("receive", "--no-verify", flag, value, home=home)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert r.stdout == b"" and len(err.strip().splitlines()) == 1  # one line, no usage dump, no traceback
    assert err.startswith(f"simlib receive: error: argument {flag}: ")
