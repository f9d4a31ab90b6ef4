"""The Analysis tab over the History tab's filter: success rates per webhook and event type,
latency percentiles, and the three charts (PNG), from real sends to the embedded receiver."""

from __future__ import annotations

import pytest

from simlib import Simulator
from simlib.ui.analysis import ANALYSIS_ROWS
from tests.helpers import ACT, APP
from tests.ui.helpers import send_and_wait, text_of, visible

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def analysed(sim: Simulator, make_explorer):
    """Three delivered sends and two 500s on the demo webhook: (explorer, History tab, Analysis tab)."""
    explorer = make_explorer(sim, demo=True)
    rx = explorer.receiver
    for event, status in ((APP, 200), (APP, 200), (ACT, 200), (ACT, 500), (APP, 500)):
        rx.status = status
        explorer.select("demo", event)
        send_and_wait(explorer)
    rx.status = 200
    return explorer, explorer.tools["History"], explorer.tools["Analysis"]


def test_analysis_shows_rates_percentiles_and_charts(analysed):
    explorer, _history, panel = analysed
    assert not visible(panel.charts)  # no empty Image widgets (a broken-image icon) before a first analysis
    panel.analyse.click()
    assert panel.wait(60)
    assert visible(panel.charts)
    assert len(panel.last_frame) == 5
    tables = text_of(panel.tables.value)
    assert "Success rate per webhook" in tables and "60%" in tables  # 3 of 5 delivered
    assert "Success rate per event type" in tables and "67%" in tables and "50%" in tables  # APP 2/3, ACT 1/2
    assert "Latency per webhook" in tables and "p50" in tables and "p95" in tables and "p99" in tables
    for chart in (panel.histogram, panel.over_time, panel.mix):
        assert bytes(chart.value).startswith(PNG) and len(chart.value) > 2000
    status = text_of(panel.status.value)
    assert "Analysed 5 attempts" in status and "no filter" in status


def test_analysis_follows_the_history_filter(analysed):
    explorer, history, panel = analysed
    history.grid.filters.result.value = "Delivered"
    panel.analyse.click()
    assert panel.wait(60)
    assert len(panel.last_frame) == 3 and set(panel.last_frame["result"]) == {"Delivered"}
    assert "100%" in text_of(panel.tables.value) and "result Delivered" in text_of(panel.status.value)
    history.grid.filters.text.value = "no attempt has this text"
    panel.analyse.click()
    assert panel.wait(60)
    assert len(panel.last_frame) == 0 and "no attempts" in text_of(panel.tables.value)
    assert bytes(panel.histogram.value).startswith(PNG)  # an empty chart says so, it does not fail


def test_a_bad_time_in_the_history_filter_is_said_in_the_panel_and_nothing_is_analysed(analysed):
    explorer, history, panel = analysed
    history.grid.filters.time_range.value = -1  # Between…
    history.grid.filters.since.value = "yesterday"
    panel.analyse.click()
    assert panel.wait(60)
    said = text_of(panel.status.value)
    assert said.startswith("Not analysed: the History tab's filter is not applied") and "yesterday" in said
    assert panel.last_frame is None and not visible(panel.charts)
    assert explorer.notice.value == ""  # not at the top of the page
    history.grid.filters.since.value = ""  # cleared: analysed again
    panel.analyse.click()
    assert panel.wait(60)
    assert len(panel.last_frame) == 5


def test_the_panel_says_how_many_rows_it_analyses_at_most(analysed):
    _explorer, _history, panel = analysed
    assert f"newest {ANALYSIS_ROWS:,}" in text_of(panel.status.value)
