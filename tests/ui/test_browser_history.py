"""The History tab in a real browser, in Voilà, offline: itables' DataTables grid renders with
every request outside 127.0.0.1 refused; send -> open the new row -> replay -> the linked new row
and the diff; no horizontal overflow at 1024 px. Run with ``pytest -m browser``."""

from __future__ import annotations

import pytest

from tests.ui.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS, voila  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser


def test_history_grid_offline_in_voila_open_replay_and_diff(voila):  # noqa: F811 - the imported fixture
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []

    def only_local(route, request):  # as offline: nothing but the Voilà server answers
        if request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=UI_TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 1400})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.route("**/*", only_local)
            try:
                page.goto(voila, wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
                send = page.get_by_role("button", name="Send Test Event")
                expect(send).to_be_enabled(timeout=UI_TIMEOUT_MS)
                webhook = page.locator(".widget-dropdown", has_text="Webhook").first.locator("select")
                labels = [t.replace("\xa0", " ") for t in webhook.locator("option").all_inner_texts()]
                webhook.select_option(index=next(i for i, t in enumerate(labels) if t.startswith("Demo receiver")))
                send.click()
                expect(page.locator(".widget-html", has_text="Simulation Result")).to_contain_text("✓ Delivered")

                page.get_by_role("tab", name="History").click()
                grid = page.locator(".simlib-history-workbench table.dataTable")
                expect(grid).to_be_visible()  # DataTables ran: its bundle came from the kernel, not a CDN
                rows = grid.locator("tbody tr")
                expect(rows).to_have_count(1)
                expect(rows.first).to_contain_text("Delivered")
                rows.first.click()
                detail = page.locator(".simlib-history-workbench .widget-html", has_text="Attempt #")
                expect(detail).to_contain_text("Sent bytes — exact, compact, as signed")
                page.locator(".simlib-history-workbench").get_by_role("button", name="Replay", exact=True).click()
                expect(page.locator(".widget-html", has_text="Replay of #1")).to_contain_text("recorded as #2")
                expect(rows).to_have_count(2)
                expect(rows.first).to_contain_text("#1")  # the new row says what it replays
                overflow = page.evaluate(
                    "() => { const e = document.querySelector('.simlib-history-workbench');"
                    " return e.scrollWidth - e.clientWidth; }"
                )
                assert overflow <= 1, f"the History tab overflows by {overflow} px at 1024 px"
            finally:
                page.screenshot(path=str(ARTIFACTS / "history-voila-1024.png"), full_page=True)
        finally:
            browser.close()
    print("requests outside 127.0.0.1 that were refused:", outside)
