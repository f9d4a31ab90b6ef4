"""The committed notebooks are what nbval strict mode can check: executed, portable, sanitized.

nbval itself (pytest addopts) re-runs every notebook and compares its outputs; these tests check
the preconditions that make that comparison mean something, and check that the receivers
verify.ipynb shows are ``simlib.snippet`` output, and run the Node.js one against real sends.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import tomllib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

from simlib import Simulator, sign, snippet
from simlib.core.signing import now_ms

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
SANITIZE = NOTEBOOK_DIR / "nbval_sanitize.cfg"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"conformance.ipynb", "explorer.ipynb", "history.ipynb", "verify.ipynb"}
IGNORE_MARKERS = ("NBVAL_IGNORE_OUTPUT", "nbval-ignore-output", "NBVAL_SKIP", "nbval-skip")
ALL_EVENTS = ["desktop.app_tracking.captured", "desktop.screenshot_tracking.captured", "desktop.activity_tracking.captured"]


def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def sanitize(text: str) -> str:
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8")):
        text = re.sub(regex, replace, text)
    return text


def test_the_three_notebooks_exist():
    assert EXPECTED <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_executed_and_portable(path):
    nb = load(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb.metadata, "saved widget state: re-run scripts/execute_notebooks.py"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    counts = [c.execution_count for c in code]
    assert None not in counts, "unexecuted cells are never compared by nbval"
    assert counts == list(range(1, len(code) + 1)), "cells ran out of order or were re-run by hand"
    for cell in code:
        assert all(o.output_type != "error" for o in cell.outputs), cell.source
        assert "widgets" not in cell.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_output_is_ignored_or_skipped(path):
    for cell in load(path).cells:
        tags = [t.lower() for t in cell.metadata.get("tags", [])]
        for marker in IGNORE_MARKERS:
            assert marker not in cell.source
            assert marker.lower() not in tags


def test_nbval_runs_strict_with_the_sanitize_file():
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    assert "--nbval " in addopts + " " and "--nbval-lax" not in addopts
    assert "--nbval-current-env" in addopts
    assert "--nbval-sanitize-with notebooks/nbval_sanitize.cfg" in addopts
    assert "nbstripout" not in (ROOT / ".gitattributes").read_text()


def test_sanitize_file_parses_into_one_pair_per_regex_line():
    raw = SANITIZE.read_bytes()
    assert b"\r" not in raw, "CRLF line endings make every pattern end in \\r"
    text = raw.decode("utf-8")
    pairs = get_sanitize_patterns(text)
    regex_lines = [line for line in text.splitlines() if line.startswith("regex:")]
    assert len(pairs) == len(regex_lines) > 0
    assert len({regex for regex, _ in pairs}) == len(pairs), "a repeated regex keeps only its last replace"
    for regex, replace in pairs:
        assert regex == regex.strip() and replace == replace.rstrip()
        re.compile(regex)


@pytest.mark.parametrize(
    "sample, expected",
    [
        ("sig " + sign("s3cret-value", b"{}", 1_769_591_601_771)["x-webhook-signature"], "sig <HMAC_HEX>"),
        (f"id {uuid.uuid4()}", "id <UUID>"),
        (f"at {datetime.now(UTC).isoformat()}", "at <TIME>"),
        ("at 2026-01-28T09:13:21.771Z.", "at <TIME>."),
        ("sent 2026-01-28 09:00:00+00:00", "sent <TIME>"),
        (f"x-webhook-timestamp: {now_ms()}", "x-webhook-timestamp: <EPOCH_MS>"),
        (f"b'{now_ms()}.{{\"event\"", "b'<EPOCH_MS>.{\"event\""),
        (f"timestamp {now_ms() // 1000} looks like seconds", "timestamp <EPOCH_S> looks like seconds"),
        ("p50 12.3 ms   p95 154 ms", "p50 <N> ms   p95 <N> ms"),
        ("http://127.0.0.1:54321/hook", "http://127.0.0.1:<PORT>/hook"),
        ("Host: localhost:8080", "Host: localhost:<PORT>"),
        ("user-agent: simlib/0.1.0", "user-agent: simlib/<VERSION>"),
        ("user-agent: simlib/1.2.0rc1", "user-agent: simlib/<VERSION>"),
    ],
)
def test_sanitize_patterns_replace_volatile_values(sample, expected):
    assert sanitize(sample) == expected


def test_sanitize_leaves_stable_values_alone():
    stable = "Delivered 200 desktop.app_tracking.captured 354 bytes seed 2026 Content-Length: 354"
    assert sanitize(stable) == stable


# --- the receivers shown in verify.ipynb ------------------------------------------------------------

VERIFY = NOTEBOOK_DIR / "verify.ipynb"


def shown_receiver(lang: str) -> str:
    """The receiver verify.ipynb shows for ``lang``: the saved output of its ``print(snippet(lang))`` cell."""
    cells = [c for c in load(VERIFY).cells if c.cell_type == "code" and c.source.strip() == f'print(snippet("{lang}"))']
    assert len(cells) == 1, f"verify.ipynb prints snippet({lang!r}) in exactly one cell"
    return "".join(o.text for o in cells[0].outputs if o.output_type == "stream")


@pytest.mark.parametrize("lang", ["python", "node"])
def test_verify_notebook_shows_the_snippet_receivers_not_a_retyped_copy(lang):
    assert shown_receiver(lang) == snippet(lang) + "\n"  # print() adds the newline
    nb = load(VERIFY)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "BaseHTTPRequestHandler" not in code and "createHmac" not in code, "a receiver typed into a cell"
    assert "```javascript" not in markdown and "```python" not in markdown, "a receiver typed into markdown"
    assert 'write_text(snippet("python")' in code, "the Python receiver the notebook runs is the snippet"


def node_receiver_source() -> str:
    return shown_receiver("node")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_receiver_from_verify_notebook_accepts_real_sends_and_refuses_bad_ones(tmp_path):
    secret = "whsec_node_check_0123456789"
    script = tmp_path / "receiver.js"
    script.write_text(node_receiver_source(), encoding="utf-8")
    env = {**os.environ, "PORT": "0", "TRACKPILOTS_WEBHOOK_SECRET": secret}
    proc = subprocess.Popen(
        [shutil.which("node"), str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sim = Simulator(tmp_path / "store.sqlite3")
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the Node receiver did not start"
        port = json.loads(proc.stdout.readline())["listening"]
        wh = sim.create_webhook("Node", f"http://127.0.0.1:{port}/webhooks/trackpilots", ALL_EVENTS, secret=secret)

        for event in ALL_EVENTS:
            result = sim.simulate(wh, event, seed=5)
            assert (result.result, result.http_status) == ("Delivered", 200), result.detail
            assert json.loads(result.response_body) == {"ok": True, "event": event, "simulation": True}

        with Simulator(tmp_path / "store.sqlite3", clock=lambda: now_ms() - 10 * 60 * 1000) as past:
            stale = past.simulate(wh, ALL_EVENTS[0], seed=5)
        assert stale.http_status == 401
        assert json.loads(stale.response_body)["reason"] == "missing or stale timestamp"

        sim.update_webhook(wh, secret="a-secret-node-does-not-know")
        wrong = sim.simulate(wh, ALL_EVENTS[0], seed=5)
        assert wrong.http_status == 401 and not wrong.delivered
        assert json.loads(wrong.response_body) == {"ok": False, "reason": "bad signature"}
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
        sim.close()
