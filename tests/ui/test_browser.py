"""The explorer in a real browser: Voilà serves notebooks/explorer.ipynb, Chromium drives it.

Run with ``pytest -m browser``; skipped when Debian's ``chromium`` (or the playwright package) is
missing. No browser is downloaded: Playwright launches the system Chromium. A screenshot of the
page after the send is saved in ``test-artifacts/`` (kept by CI, ignored by git).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "explorer.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOT = "desktop.screenshot_tracking.captured"
START_TIMEOUT_S = 90
UI_TIMEOUT_MS = 120_000


def voila_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("voila")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "voila"]
    return [
        *launcher,
        str(NOTEBOOK),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--show_tracebacks=True",
        f"--Voila.config_file_paths={ROOT / 'etc' / 'jupyter'}",  # as `make voila` starts it
    ]


@contextlib.contextmanager
def served(command: list[str], port: int, log_path: Path, name: str, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process (``name``: what the failures call it) until it listens on
    ``port`` of 127.0.0.1, failing the test with its log if it exits first or does not listen
    within START_TIMEOUT_S; stop it afterwards and print the end of its log (shown when the
    test fails). Voilà and JupyterLab shut their kernels down on SIGTERM."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{name} did not listen within {START_TIMEOUT_S} s:\n{log_path.read_text(errors='replace')}")
                time.sleep(0.25)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        print(log_path.read_text(errors="replace")[-4000:])


@pytest.fixture
def voila(tmp_path) -> Iterator[str]:
    """Voilà serving the explorer on a free loopback port, with a fresh store; stopped afterwards."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    env["SIMLIB_HOME"] = str(tmp_path / "simlib-home")
    with served(voila_command(port), port, tmp_path / "voila.log", "voila", cwd=ROOT, env=env):
        yield f"http://127.0.0.1:{port}/"


def test_send_from_the_voila_page_delivers_and_adds_a_history_row(voila):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=UI_TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(UI_TIMEOUT_MS)
            try:
                page.goto(voila, wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
                send = page.get_by_role("button", name="Send Test Event")
                expect(send).to_be_enabled(timeout=UI_TIMEOUT_MS)
                rows = page.locator("tr.simlib-history-row")
                # Served as an app, the notebook's scripted send skips itself: nothing is sent
                # until the user clicks, so the page opens with an empty history.
                expect(page.get_by_text("No simulations sent yet.")).to_be_visible()
                assert rows.count() == 0
                before = 0

                webhook = page.locator(".widget-dropdown", has_text="Webhook").first.locator("select")  # the History tab filters by webhook too
                # ipywidgets shows option labels with non-breaking spaces
                labels = [t.replace("\xa0", " ") for t in webhook.locator("option").all_inner_texts()]
                demo = next(i for i, t in enumerate(labels) if t.startswith("Demo receiver (local) — http://127.0.0.1:"))
                webhook.select_option(index=demo)
                event = page.locator(".widget-dropdown", has_text="Event type").first.locator("select")
                events = [t.replace("\xa0", " ") for t in event.locator("option").all_inner_texts()]
                event.select_option(index=events.index(SHOT))
                preview = page.locator(".widget-html", has_text="seed").filter(has_text="POST")
                expect(preview).to_contain_text(f'"event": "{SHOT}"')
                expect(preview).to_contain_text("imageBuffer")

                send.click()

                result = page.locator(".widget-html", has_text="Simulation Result")
                expect(result).to_contain_text("✓ Delivered")
                expect(result).to_contain_text("200 OK")
                expect(result).to_contain_text(SHOT)
                expect(result).to_contain_text("x-webhook-signature")
                expect(rows).to_have_count(before + 1)
                newest = rows.first
                expect(newest).to_contain_text(SHOT)
                expect(newest).to_contain_text("Delivered")
                expect(send).to_be_enabled()
            finally:
                page.screenshot(path=str(ARTIFACTS / "explorer-voila.png"), full_page=True)
        finally:
            browser.close()
