"""The explorer in JupyterLab's dark theme, in a real Chromium: a copy of the explorer notebook
(Lab autosaves; the committed one stays untouched) is opened and run as a user would (Run →
Run All Cells, here with the keyboard); every text of the explorer must then have a contrast of
at least 4.5:1 and the JSON must be in the code font. Run with ``pytest -m browser``."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.ui.browser_checks import CODE_FONT_JS, MIN_CONTRAST, contrast_failures, outside, overflowing, sideways
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, NOTEBOOK, UI_TIMEOUT_MS, served

pytestmark = pytest.mark.browser


def test_explorer_in_jupyterlab_dark_is_readable_and_json_in_the_code_font(tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # generous waits on content, for a loaded machine

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / "explorer.ipynb")
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "themes.jupyterlab-settings").write_text(json.dumps({"theme": "JupyterLab Dark"}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    env["SIMLIB_HOME"] = str(tmp_path / "simlib-home")
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
        f"--ServerApp.root_dir={work}", f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", "--LabApp.news_url=", "--allow-root",
    ]
    log_path = tmp_path / "lab.log"
    with served(command, port, log_path, "jupyter lab", cwd=work, env=env):
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=UI_TIMEOUT_MS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1400})
                page.set_default_timeout(UI_TIMEOUT_MS)
                page.route("**/*", lambda route, request: route.continue_()
                           if request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
                           else route.abort())
                page.goto(f"http://127.0.0.1:{port}/lab/tree/explorer.ipynb", wait_until="domcontentloaded")
                expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1)
                expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible()
                idle, dialog = page.get_by_text("Python 3 (ipykernel) | Idle"), page.locator(".jp-Dialog")
                expect(idle.or_(dialog).first).to_be_visible()
                if dialog.count():  # Lab may ask which kernel to start
                    dialog.get_by_role("button", name="Select", exact=True).click()
                expect(idle).to_be_visible()
                page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()  # the explorer's cell
                page.keyboard.press("Shift+Enter")  # as a user runs it
                send = page.get_by_role("button", name="Send Test Event")
                expect(send).to_be_enabled()
                send.click()
                expect(page.locator(".widget-html", has_text="Simulation Result")).to_contain_text("✓ Delivered")
                fonts = page.evaluate(CODE_FONT_JS)
                assert fonts and all("mono" in f.lower() or "menlo" in f.lower() for f in fonts), fonts
                checked, low = contrast_failures(page, ".simlib-explorer")
                assert checked > 50, f"only {checked} texts found to check"
                ARTIFACTS.mkdir(exist_ok=True)
                page.locator(".simlib-explorer").screenshot(path=str(ARTIFACTS / "explorer-lab-dark.png"))
                assert not low, f"texts below {MIN_CONTRAST}:1 in JupyterLab dark: {low}"
                assert not overflowing(page, [".simlib-explorer", ".simlib-workbench"])
                assert not sideways(page, ".simlib-explorer"), sideways(page, ".simlib-explorer")
                assert not outside(page, ".simlib-explorer"), outside(page, ".simlib-explorer")
            finally:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "lab-dark-page.png"))
                browser.close()
