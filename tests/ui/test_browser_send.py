"""A hanging endpoint in a real browser (Voilà + Debian's Chromium, the fixtures of
``test_browser``): while the send hangs, the preview follows an event change at once, the
elapsed time ticks, and Cancel ends the send -- with the attempt in the history.

Run with ``pytest -m browser``; skipped when chromium or playwright is missing.
"""

from __future__ import annotations

import time

import pytest

from simlib import Simulator
from tests.helpers import APP, SHOT
from tests.servers import RawServer, never_answer, wait_until
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS, voila

pytestmark = pytest.mark.browser
__all__ = ["voila"]  # the fixture, imported to be used here

#: The issue's "within 1 s", with room for a loaded or stalled 2-CPU machine (a round trip
#: through Chromium and Voila). Still far below what a kernel blocked by the send would take:
#: the send's deadline, 30 s by default (and the send would no longer be running to cancel).
FOLLOW_MS = 10_000


def test_hanging_endpoint_preview_follows_and_cancel_ends_the_send(voila, tmp_path, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    with RawServer(never_answer()) as hanging:
        # Made before the page loads (by the CLI, say): the page's kernel lists it.
        monkeypatch.setenv("SIMLIB_HOME", str(tmp_path / "simlib-home"))
        with Simulator() as sim:
            sim.create_webhook("Hangs", hanging.url, [APP, SHOT])
        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=UI_TIMEOUT_MS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                page.set_default_timeout(UI_TIMEOUT_MS)
                try:
                    page.goto(voila, wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
                    send = page.get_by_role("button", name="Send Test Event")
                    expect(send).to_be_visible(timeout=UI_TIMEOUT_MS)
                    webhook = page.locator(".widget-dropdown", has_text="Webhook").first.locator("select")
                    labels = [t.replace("\xa0", " ") for t in webhook.locator("option").all_inner_texts()]
                    webhook.select_option(index=next(i for i, t in enumerate(labels) if t.startswith("Hangs — ")))
                    event = page.locator(".widget-dropdown", has_text="Event type").first.locator("select")
                    events = [t.replace("\xa0", " ") for t in event.locator("option").all_inner_texts()]
                    event.select_option(index=events.index(APP))
                    preview = page.locator(".widget-html", has_text="seed").filter(has_text="POST")
                    expect(preview).to_contain_text(f'"event": "{APP}"')
                    expect(send).to_be_enabled()

                    send.click()
                    cancel = page.locator("button.simlib-send-cancel")
                    expect(cancel).to_be_enabled()
                    assert wait_until(lambda: len(hanging.requests) == 1, 30), "the send never reached the endpoint"
                    status = page.locator(".simlib-send-status")
                    expect(status).to_contain_text("Sending…")

                    started = time.monotonic()
                    event.select_option(index=events.index(SHOT))
                    expect(preview).to_contain_text(f'"event": "{SHOT}"', timeout=FOLLOW_MS)
                    followed = time.monotonic() - started
                    expect(cancel).to_be_enabled()  # still sending: the kernel was free all along
                    expect(status).to_contain_text(" s")

                    cancel.click()
                    result = page.locator(".widget-html", has_text="Simulation Result")
                    expect(result).to_contain_text("Cancelled by the user", timeout=FOLLOW_MS)
                    expect(result).to_contain_text("✗ Failed")
                    expect(page.locator("tr.simlib-history-row").first).to_contain_text("Failed")
                    expect(cancel).to_be_disabled()
                    expect(send).to_be_enabled()
                    print(f"the preview followed the event change in {followed:.2f} s while the send hung")
                finally:
                    page.screenshot(path=str(ARTIFACTS / "explorer-voila-cancel.png"), full_page=True)
            finally:
                browser.close()
