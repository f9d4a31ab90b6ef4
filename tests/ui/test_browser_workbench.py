"""The Voilà app as people use it, in a real Chromium (issue 10): Voilà started the way
``make voila`` starts it (etc/jupyter/voila.py), under ``SIMLIB_ADDRESS_POLICY=strict`` as the
README recommends for a shared server, with every request outside 127.0.0.1 refused.

* two pages load and send at the same time: each preview names its own receiver and each send
  reaches it; a closed page's kernel is shut down (the server's REST API says the kernel is
  gone, the log shows no 403) and its demo webhook leaves the other page's list;
* the page shows the explorer, not the notebook's JupyterLab prose (cells tagged lab-only);
* the receiver check on the demo webhook gives PASS rows; a request whose body was changed after
  it was signed is explained as such;
* screenshots at 1024, 1280 and 1920 px, light and dark (``?theme=dark``), saved under
  ``test-artifacts/screens`` (path printed), with no panel wider than its box, every text at a
  contrast of at least 4.5:1, and JSON in the code font.

Run with ``pytest -m browser``; skipped when Debian's ``chromium`` or playwright is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import APP, free_port
from tests.ui.browser_checks import CODE_FONT_JS, MIN_CONTRAST, contrast_failures, outside, overflowing, sideways
from tests.ui.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    UI_TIMEOUT_MS,
    served,
    voila_command,
)

pytestmark = pytest.mark.browser

SCREENS = ARTIFACTS / "screens"
WIDTHS = (1024, 1280, 1920)
TABS = ("History", "Analysis", "Receiver check", "Explain", "Import", "Local receiver")
#: The boxes that must never be wider than they are: the page, the explorer, its parts, the
#: workbench and each of its panels.
PANELS = [
    "body",
    ".simlib-explorer",
    ".simlib-explorer > *",
    ".simlib-workbench",
    ".simlib-history-workbench",
    ".simlib-analysis",
    ".simlib-check",
    ".simlib-explain",
    ".simlib-import",
    ".simlib-receiver-panel",
]
#: Texts that must be shown whole: labels and buttons (at 1280 px buttons once shrank to "✎ …").
WHOLE_TEXTS = [".simlib-explorer .widget-label", ".simlib-explorer button", ".simlib-explorer .lm-TabBar-tabLabel"]
RECEIVER_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/webhooks/trackpilots")


@dataclass
class Server:
    url: str
    log: Path
    outside: list[str] = field(default_factory=list)

    def kernel_alive(self, kernel_id: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}api/kernels/{kernel_id}", timeout=10) as r:
                return bool(json.loads(r.read())["id"] == kernel_id)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise

    def only_local(self, route: Any, request: Any) -> None:
        """Offline, as a machine without internet: nothing but the Voilà server answers."""
        if request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(request.url)
            route.abort()


@contextlib.contextmanager
def start_server(tmp_path: Path, *extra: str) -> Iterator[Server]:
    """Voilà as ``make voila`` starts it (plus ``extra`` options), strict address policy, a fresh
    store; stopped afterwards."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    env["SIMLIB_HOME"] = str(tmp_path / "simlib-home")
    env["SIMLIB_ADDRESS_POLICY"] = "strict"
    log_path = tmp_path / "voila.log"
    with served([*voila_command(port), *extra], port, log_path, "voila", cwd=ROOT, env=env):
        yield Server(f"http://127.0.0.1:{port}/", log_path)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with start_server(tmp_path) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # generous waits on content, for a loaded machine
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=UI_TIMEOUT_MS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Any, server: Server, *, width: int = 1280, query: str = "", wait: bool = True) -> Any:
    """A page of its own (its own browser context: another person), loading the app."""
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.route("**/*", server.only_local)
    page.goto(server.url + query, wait_until="commit", timeout=UI_TIMEOUT_MS)
    if wait:
        ready(page)
    return page


def ready(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Send Test Event")).to_be_enabled(timeout=UI_TIMEOUT_MS)


def preview_port(page: Any) -> int:
    preview = page.locator(".widget-html", has_text="seed").filter(has_text="POST").first
    match = RECEIVER_URL.search(preview.inner_text())
    assert match, preview.inner_text()[:300]
    return int(match.group(1))


def kernel_id(page: Any) -> str:
    return str(page.evaluate("() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"))


def open_tab(page: Any, title: str) -> None:
    page.get_by_role("tab", name=title, exact=True).click()


def webhook_labels(page: Any) -> list[str]:
    select = page.locator(".widget-dropdown", has_text="Webhook").first.locator("select")
    return [t.replace("\xa0", " ") for t in select.locator("option").all_inner_texts()]


def test_two_pages_send_at_once_each_to_its_own_receiver_and_a_closed_pages_kernel_goes(server, browser):
    from playwright.sync_api import expect

    a = open_page(browser, server, wait=False)
    b = open_page(browser, server, wait=False)  # both kernels start at the same time
    ready(a)
    ready(b)
    port_a, port_b = preview_port(a), preview_port(b)
    assert port_a != port_b, "two pages share one receiver"

    a.get_by_role("button", name="Send Test Event").click()
    b.get_by_role("button", name="Send Test Event").click()  # at once: a's send is still in flight
    for page, port in ((a, port_a), (b, port_b)):
        result = page.locator(".widget-html", has_text="Simulation Result")
        expect(result).to_contain_text("✓ Delivered")  # under the strict policy: its own receiver is reachable
        expect(result).to_contain_text(f"127.0.0.1:{port}/webhooks/trackpilots")
        open_tab(page, "Local receiver")
        state = page.locator(".simlib-receiver-panel .widget-html", has_text="Listening")
        expect(state).to_contain_text(f"Listening at http://127.0.0.1:{port}/webhooks/trackpilots")
        expect(state).to_contain_text("1 requests, 1 verified")  # its own send, and only that one

    gone, kept = kernel_id(a), kernel_id(b)
    assert server.kernel_alive(gone) and server.kernel_alive(kept)
    a.close(run_before_unload=True)  # the person closes the tab: Voilà's beacon asks for the shutdown
    deadline = time.monotonic() + 60
    while server.kernel_alive(gone):
        assert time.monotonic() < deadline, "the closed page's kernel is still running after 60 s"
        time.sleep(0.5)
    assert server.kernel_alive(kept), "the open page's kernel was shut down too"
    log = server.log.read_text(errors="replace")
    assert "403 POST /voila/api/shutdown" not in log and f"Kernel shutdown: {gone}" in log

    # The closed page's demo webhook left with its kernel: Refresh shows one demo webhook, b's own.
    refresh = b.locator("button.jupyter-button", has_text="Refresh").first
    deadline = time.monotonic() + 60
    while True:
        refresh.click()
        demos = [t for t in webhook_labels(b) if t.startswith("Demo receiver (local)")]
        if len(demos) == 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert demos == [f"Demo receiver (local) — http://127.0.0.1:{port_b}/webhooks/trackpilots"], demos
    assert server.outside == [], f"requests left 127.0.0.1: {server.outside}"


def test_receiver_check_passes_on_the_demo_webhook_and_a_changed_body_is_explained(server, browser):
    from playwright.sync_api import expect

    page = open_page(browser, server)
    shown = page.locator("#rendered_cells").inner_text()
    for prose in ("Run all cells", "What you are looking at", "The same from code", "pandas DataFrame"):
        assert prose not in shown, f"the app shows the notebook's JupyterLab prose: {prose!r}"
    assert shown.lstrip().startswith("Trackpilots webhook simulations"), shown[:200]  # the explorer comes first
    event = page.locator(".widget-dropdown", has_text="Event type").first.locator("select")
    event.select_option(label=APP)
    page.get_by_role("button", name="Send Test Event").click()
    expect(page.locator(".widget-html", has_text="Simulation Result")).to_contain_text("✓ Delivered")

    open_tab(page, "Receiver check")
    check = page.locator(".simlib-check")
    check.get_by_role("checkbox").uncheck()  # the matrix only: the probe is tested headless
    check.get_by_role("button", name="Run check").click()
    result = check.locator(".widget-html", has_text="Receiver check:")
    expect(result).to_contain_text("0 FAIL", timeout=UI_TIMEOUT_MS)
    rows = result.locator("tr", has_text="PASS")
    assert rows.count() >= 12, result.inner_text()[:500]
    expect(result.locator("tr", has_text="valid").first).to_contain_text("PASS")

    open_tab(page, "Explain")
    explain = page.locator(".simlib-explain")
    explain.get_by_placeholder("id, e.g. 42").fill("1")
    explain.get_by_role("button", name="Load row").click()
    body = explain.locator("textarea").nth(1)
    expect(body).to_have_value(re.compile(r'"simulation":true'))
    tampered = body.input_value().replace('"simulation":true', '"simulation":false')
    body.fill(tampered)  # changed on the way, after it was signed
    explain.get_by_role("button", name="Explain", exact=True).click()
    verdict = explain.locator(".widget-html", has_text="INVALID")
    expect(verdict).to_contain_text("the body was changed after signing")
    expect(verdict).to_contain_text("attempt #1: the body first differs at byte")
    assert "the secret is most likely wrong" not in verdict.inner_text()
    assert server.outside == [], f"requests left 127.0.0.1: {server.outside}"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_layout_and_contrast_from_1024_to_1920_px(server, browser, theme):
    from playwright.sync_api import expect

    SCREENS.mkdir(parents=True, exist_ok=True)
    page = open_page(browser, server, width=WIDTHS[0], query="?theme=dark" if theme == "dark" else "")
    if theme == "dark":
        assert page.evaluate("() => document.body.classList.contains('theme-dark')")
    page.get_by_role("button", name="Send Test Event").click()
    expect(page.locator(".widget-html", has_text="Simulation Result")).to_contain_text("✓ Delivered")

    fonts = page.evaluate(CODE_FONT_JS)
    assert fonts and all("mono" in f.lower() or "menlo" in f.lower() or "consolas" in f.lower() for f in fonts), fonts

    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 3000})  # tall: screenshots show whole panels
        for tab in TABS:
            open_tab(page, tab)
            expect(page.get_by_role("tab", name=tab, exact=True)).to_have_attribute("aria-selected", "true")
            if tab == "Analysis" and width == WIDTHS[0]:  # the charts: drawn on their own light background
                page.get_by_role("button", name="Analyse the current filter").click()
                expect(page.locator(".simlib-analysis img").first).to_be_visible()
                expect(page.locator(".simlib-analysis")).to_contain_text("Analysed 1 attempts")
            problems += [f"{width} px, {tab} tab: {o}" for o in overflowing(page, PANELS)]
            problems += [f"{width} px, {tab} tab, text cut: {o}" for o in overflowing(page, WHOLE_TEXTS)]
            problems += [f"{width} px, {tab} tab, scrolls sideways: {o}" for o in sideways(page, ".simlib-explorer")]
            problems += [f"{width} px, {tab} tab, past the edge: {o}" for o in outside(page, ".simlib-explorer")]
            if width == 1280:
                page.locator(".simlib-workbench").screenshot(path=str(SCREENS / f"tab-{theme}-{tab.replace(' ', '-').lower()}.png"))
                checked, low = contrast_failures(page, ".simlib-explorer")
                assert checked > 50, f"only {checked} texts found to check"
                problems += [f"{tab} tab, contrast {f['ratio']} < {MIN_CONTRAST}: {f}" for f in low]
        open_tab(page, "History")
        page.screenshot(path=str(SCREENS / f"explorer-{theme}-{width}.png"), full_page=True)
    print(f"screenshots in {SCREENS}")
    assert not problems, "\n".join(dict.fromkeys(problems))
    assert server.outside == [], f"requests left 127.0.0.1: {server.outside}"


def test_an_abandoned_pages_kernel_is_culled_and_an_open_pages_is_not(tmp_path, browser):
    """The fallback when a page could not say goodbye (a crashed browser, a lost network): the
    committed culling settings, with the idle time shortened for the test (the culler itself is
    jupyter_server's). ``cull_connected = False`` is what keeps an open page's kernel."""
    with start_server(tmp_path, "--MappingKernelManager.cull_idle_timeout=3", "--MappingKernelManager.cull_interval=1") as server:
        kept, lost = open_page(browser, server), open_page(browser, server)
        kept_id, lost_id = kernel_id(kept), kernel_id(lost)
        lost.close(run_before_unload=False)  # gone without Voilà's beacon: only its connection ends
        deadline = time.monotonic() + 60
        while server.kernel_alive(lost_id):
            assert time.monotonic() < deadline, "the abandoned page's kernel was not culled within 60 s"
            time.sleep(0.5)
        time.sleep(4)  # longer than the idle timeout: the open page is idle too, but connected
        assert server.kernel_alive(kept_id), "the kernel of a page still open was culled"
        log = server.log.read_text(errors="replace")
        assert re.search(rf"Culling '\w+' kernel '\w+' \({lost_id}\) with 0 connections", log), log[-2000:]
        assert kept_id not in re.findall(r"Culling '\w+' kernel '\w+' \(([0-9a-f-]+)\)", log)
        kept.get_by_role("button", name="Send Test Event").click()  # and it still works
        from playwright.sync_api import expect

        expect(kept.locator(".widget-html", has_text="Simulation Result")).to_contain_text("✓ Delivered")
