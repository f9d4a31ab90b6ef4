"""Several pages on one server (issue 10): each explorer made with ``with_demo`` gets a demo
webhook of its own, aimed at its own embedded receiver, so that a send goes to the URL its own
preview shows; a closed page leaves no dead demo webhook behind; under the strict address policy
the page's own receiver (that exact address and port) stays reachable and nothing beside it.
Real receivers, a real store shared by two Simulators (as two kernels share it)."""

from __future__ import annotations

import json
from collections.abc import Callable

from simlib import DEMO_WEBHOOK_ID, DeliveryConfig, Receiver, Simulator
from simlib.ui import Explorer
from simlib.ui.explorer import PLAIN_TEXT
from tests.helpers import APP
from tests.ui.helpers import text_of


def test_two_pages_on_one_store_each_send_to_their_own_receiver(store_path, make_explorer: Callable[..., Explorer]) -> None:
    with Simulator(store_path) as sim_a, Simulator(store_path) as sim_b:  # two kernels, one store
        a = make_explorer(sim_a, demo=True)
        b = make_explorer(sim_b, demo=True)
        assert a.receiver is not None and b.receiver is not None and a.receiver.port != b.receiver.port
        assert a.webhook.value == DEMO_WEBHOOK_ID and b.webhook.value == f"{DEMO_WEBHOOK_ID}-2"
        for page in (a, b):
            page.select(page.webhook.value, APP)
            page.refresh()  # the other page's webhook appeared meanwhile: the selection stays
            assert page.webhooks_panel.selected is not None
            assert page.webhooks_panel.selected.url == page.receiver.url  # the preview's URL is its own receiver's
        for page in (a, b, b):
            page.send.click()
            assert page.last_result is not None and page.last_result.delivered, page.last_result  # (waits for it)
        assert a.receiver.count == 1 and b.receiver.count == 2  # nobody received the other page's sends
        assert a.receiver.requests[0].verification.ok and b.receiver.requests[0].verification.ok


def test_a_closed_pages_demo_webhook_goes_and_its_id_is_claimed_again(store_path, make_explorer: Callable[..., Explorer]) -> None:
    with Simulator(store_path) as sim_a, Simulator(store_path) as sim_b:
        a = make_explorer(sim_a, demo=True)
        b = make_explorer(sim_b, demo=True)
        a.send.click()
        assert a.last_result is not None and a.last_result.delivered  # (waits for the send)
        a.close()  # the page closed: its kernel exits (close() is what runs at exit too)
        ids = [wh.id for wh in sim_b.list_webhooks()]
        assert DEMO_WEBHOOK_ID not in ids and f"{DEMO_WEBHOOK_ID}-2" in ids
        assert len(sim_b.history()) == 1  # the history of the closed page stays
        c = make_explorer(sim_a, demo=True)  # the next page reuses the free id
        assert c.webhook.value == DEMO_WEBHOOK_ID
        assert b.webhooks_panel.webhooks[b.webhook.value].url == b.receiver.url  # b untouched


def test_a_demo_webhook_of_a_receiver_that_died_is_reused_not_duplicated(sim: Simulator) -> None:
    from simlib import start_demo

    rx, wh = start_demo(sim)
    rx.stop()  # the kernel died without cleaning up
    rx2, again = start_demo(sim)
    try:
        assert again.id == wh.id and again.url == rx2.url
        assert [w.id for w in sim.list_webhooks()] == [wh.id]
    finally:
        rx2.stop()


def test_under_the_strict_policy_the_pages_own_receiver_is_reachable_and_nothing_else(
    tmp_path, make_explorer: Callable[..., Explorer]
) -> None:
    with Simulator(tmp_path / "s.db", delivery=DeliveryConfig(address_policy="strict", deadline=5)) as sim, Receiver() as other:
        page = make_explorer(sim, demo=True)
        page.select(page.webhook.value, APP)
        page.send.click()  # the first Send of the preselected demo webhook is never a puzzling block
        assert page.last_result is not None and page.last_result.delivered, page.last_result.detail
        stranger = sim.create_webhook("Another local server", other.url, [APP])
        page.refresh()
        page.select(stranger.id, APP)
        page.send.click()
        assert page.last_result is not None and not page.last_result.delivered
        assert "blocked address" in page.last_result.detail and "'strict'" in page.last_result.detail
        assert other.count == 0 and page.receiver is not None and page.receiver.count == 1


def test_the_explorers_plain_text_is_a_sentence_not_a_widget_tree(sim: Simulator, make_explorer: Callable[..., Explorer]) -> None:
    bundle = make_explorer(sim, demo=True)._repr_mimebundle_()
    assert bundle["text/plain"] == PLAIN_TEXT and "VBox" not in bundle["text/plain"]
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert json.dumps(view) and view["model_id"]  # the widget itself still renders where it can


def _listed(page: Explorer) -> dict[str, set[str]]:
    """The webhook ids each list of the page offers (the composer, the History filter, the tools' pickers)."""
    values = lambda dropdown: {v for _, v in dropdown.options if v}  # noqa: E731
    return {
        "composer": values(page.webhook),
        "history filter": values(page.tools["History"].grid.filters.webhook),
        **{name: values(page.tools[name].picker.dropdown) for name in ("Receiver check", "Explain", "Import")},
    }


def test_a_page_never_lists_another_pages_demo_webhook_but_lists_the_teams(store_path, make_explorer) -> None:
    with Simulator(store_path) as sim_a, Simulator(store_path) as sim_b, Receiver() as team_rx:
        a = make_explorer(sim_a, demo=True)
        b = make_explorer(sim_b, demo=True)  # claimed after a was built: a sees it only on a reload
        team = sim_b.create_webhook("Team staging", team_rx.url, [APP])  # the team's configuration
        for page in (a, b):
            page.refresh()  # (the Webhooks panel's Refresh; the History tab follows it)
            for picker in ("Receiver check", "Explain", "Import"):
                page.tools[picker].picker.refresh()  # (their ↻ Reload button)
        mine_a, mine_b = a.webhook.value, b.webhook.value
        assert mine_a != mine_b and {mine_a, mine_b} == {DEMO_WEBHOOK_ID, f"{DEMO_WEBHOOK_ID}-2"}
        for page, own, other in ((a, mine_a, mine_b), (b, mine_b, mine_a)):
            for where, ids in _listed(page).items():
                assert own in ids and team.id in ids, (where, ids)
                assert other not in ids, f"{where} lists the other page's demo webhook: {ids}"
        plain = make_explorer(sim_a)  # a notebook's Explorer(sim), no demo of its own: every webhook
        assert {mine_a, mine_b, team.id} <= _listed(plain)["composer"]


def test_in_voila_a_pages_history_shows_its_own_sends_only_until_the_box_is_unticked(
    store_path, make_explorer, monkeypatch
) -> None:
    monkeypatch.setenv("VOILA_KERNEL_ID", "test-kernel")  # what Voilà sets in each page's kernel
    with Simulator(store_path) as sim_a, Simulator(store_path) as sim_b:
        a = make_explorer(sim_a, demo=True)
        b = make_explorer(sim_b, demo=True)
        for page in (a, b, b):
            page.select(page.webhook.value, APP)
            page.send.click()
            assert page.last_result is not None and page.last_result.history_id is not None
        grid_a = a.tools["History"].grid
        a.tools["History"].refresh()
        filters = grid_a.filters
        assert filters.mine.value is True  # on by default in Voilà
        own = [a.last_result.history_id]
        assert grid_a.ids == own  # b's two sends are not on a's page
        assert a.history_table.value.count('class="simlib-history-row"') == 1  # nor in the short list
        flt = a.tools["History"].current_filter
        assert sim_a.history_count_capped(flt).value == 1 and len(sim_a.export_bytes("csv", flt).splitlines()) == 2
        a.tools["Analysis"].analyse.click()  # the analysis follows the same filter
        assert a.tools["Analysis"].wait(10)
        assert len(a.tools["Analysis"].last_frame) == 1 and "this page's sends only" in text_of(a.tools["Analysis"].status.value)
        filters.mine.value = False  # untick: everyone's sends to this store
        assert len(grid_a.ids) == 3 and set(own) < set(grid_a.ids)
        assert a.history_table.value.count('class="simlib-history-row"') == 3
        filters.mine.value = True
        assert grid_a.ids == own
        monkeypatch.delenv("VOILA_KERNEL_ID")
        notebook = make_explorer(sim_a, demo=True)  # in a notebook the box starts unticked
        assert notebook.tools["History"].grid.filters.mine.value is False


CLAIMER = """
import sys, time
from simlib import Simulator
from simlib.demo import start_demo
store, go, done = sys.argv[1], float(sys.argv[2]), sys.argv[3]
sim = Simulator(store)  # opens lazily: the store's directory does not exist yet
time.sleep(max(0.0, go - time.time()))  # every process claims at the same moment
receiver, wh = start_demo(sim)
print(wh.id, flush=True)
import os
while not os.path.exists(done):  # keep this receiver alive until every process has claimed
    time.sleep(0.05)
receiver.stop()
"""


def test_pages_starting_at_once_on_a_fresh_home_each_claim_a_demo_webhook(tmp_path) -> None:
    """Several kernels start on a home whose store does not exist yet (a fresh Voila server):
    each takes the claim lock (made with the store's directory) and gets a demo webhook of its
    own. The lock was skipped while that directory did not exist, and two pages then both
    claimed ``demo`` (one failed with "already exists")."""
    import subprocess
    import sys
    import time

    store = tmp_path / "fresh-home" / "simlib.sqlite3"
    done = tmp_path / "done"
    go = time.time() + 3.0
    procs = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, str(store), str(go), str(done)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    try:
        ids = [p.stdout.readline().strip() for p in procs]  # type: ignore[union-attr]
    finally:
        done.touch()
        outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _out, err in outs]
    assert sorted(ids) == sorted({*ids}) and len(ids) == 4, ids
    assert (tmp_path / "fresh-home" / "simlib.sqlite3.demo-lock").exists()


def test_the_claim_lock_is_taken_even_before_the_store_exists(tmp_path) -> None:
    """The first claim on a fresh home (the store's directory not made yet) takes the lock too:
    its lock file is there afterwards."""
    from simlib.demo import ensure_demo_webhook

    store = tmp_path / "fresh-home" / "simlib.sqlite3"
    with Simulator(store) as sim:
        assert not store.parent.exists()
        ensure_demo_webhook(sim, "http://127.0.0.1:9/webhooks/trackpilots")
    assert (tmp_path / "fresh-home" / "simlib.sqlite3.demo-lock").exists()
