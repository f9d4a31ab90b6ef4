"""The README's main-job command really starts JupyterLab on the explorer (as root too)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(), reason="needs the Makefile's .venv (make install)")
def test_make_lab_serves_the_explorer(tmp_path):
    port = free_port()
    token = "quickstart-test-token"
    args = f"--no-browser --ServerApp.port={port} --IdentityProvider.token={token}"
    env = {**os.environ, "SIMLIB_HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    proc = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/contents/explorer.ipynb?content=0&token={token}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    info = json.loads(resp.read())
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"make lab exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not answer within 90 s")
                time.sleep(0.5)
        assert info["name"] == "explorer.ipynb" and info["type"] == "notebook"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
