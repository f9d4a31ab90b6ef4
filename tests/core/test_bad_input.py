"""The bad-input matrix: every class ends in one clear line and nothing half-written.

API input errors raise a ValidationError (or a subclass) naming the field; the CLI prints one
line on stderr and exits non-zero; the store is unchanged afterwards. Bad *responses* end as a
recorded result row with a readable detail. The README's "What happens when…" table lists the
same class ids as ``CASES`` + ``RESPONSE_CASES`` + ``STORE_CASES`` (checked below).
"""

from __future__ import annotations

import gzip
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from simlib import DeliveryConfig, Simulator, StoreUnavailable, StoreVersionError, ValidationError
from simlib.cli import main
from tests.helpers import ACT, APP
from tests.servers import RawServer, answer

ROOT = Path(__file__).resolve().parents[2]
OK = {"name": "ok", "url": "http://127.0.0.1:9/hook", "events": [APP]}

# id -> (API keyword changes for create_webhook, CLI argv for `webhooks add`, field named)
CASES = {
    "url-malformed": ({"url": "http://exa mple.com/x"}, ["--url", "http://exa mple.com/x"], "url"),
    "url-relative": ({"url": "/hooks/trackpilots"}, ["--url", "/hooks/trackpilots"], "url"),
    "url-scheme": ({"url": "ftp://example.com/x"}, ["--url", "ftp://example.com/x"], "url"),
    "url-no-host": ({"url": "http:///path"}, ["--url", "http:///path"], "url"),
    "url-bad-port": ({"url": "http://example.com:99999/x"}, ["--url", "http://example.com:99999/x"], "url"),
    "url-credentials": ({"url": "https://user:pw@example.com/x"}, ["--url", "https://user:pw@example.com/x"], "url"),
    "url-header-injection": ({"url": "https://example.com/x\r\nX-Evil: 1"}, ["--url", "https://example.com/x\r\nX-Evil: 1"], "url"),
    "url-too-long": ({"url": "https://example.com/" + "a" * 3000}, ["--url", "https://example.com/" + "a" * 3000], "url"),
    "name-empty": ({"name": ""}, ["--name", ""], "name"),
    "name-whitespace": ({"name": "   \t "}, ["--name", "   "], "name"),
    "name-header-injection": ({"name": "ok\r\nX-Evil: 1"}, ["--name", "ok\r\nX-Evil: 1"], "name"),
    "events-none": ({"events": []}, None, "events"),
    "events-unknown": ({"events": ["desktop.nope.captured"]}, ["--event", "desktop.nope.captured"], "events"),
    "events-duplicate": ({"events": [APP, APP]}, ["--event", APP, "--event", APP], "events"),
    "secret-empty": ({"secret": ""}, ["--secret", ""], "secret"),
    "secret-too-short": ({"secret": "abc"}, ["--secret", "abc"], "secret"),
    "secret-whitespace": ({"secret": " padded-secret-value "}, ["--secret", " padded-secret-value "], "secret"),
    "secret-not-utf8": ({"secret": "valid-prefix-\udcff"}, ["--secret", "valid-prefix-\udcff"], "secret"),
    "id-invalid": ({"id": "Bad Id!"}, ["--id", "Bad Id!"], "id"),
}


def _cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", sorted(CASES))
def test_api_refuses_with_the_field_named_and_writes_nothing(sim, case):
    changes, _, field = CASES[case]
    before = sim.list_webhooks()
    with pytest.raises(ValidationError) as info:
        sim.create_webhook(**{**OK, **changes})
    assert info.value.field == field
    message = str(info.value)
    assert message.startswith(field + ":") and "\n" not in message and "\r" not in message
    assert sim.list_webhooks() == before


@pytest.mark.parametrize("case", sorted(c for c in CASES if CASES[c][1] is not None))
def test_cli_refuses_in_one_line_and_writes_nothing(case, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    _, argv, field = CASES[case]
    base = {"--name": "ok", "--url": "http://127.0.0.1:9/hook"}
    args = ["webhooks", "add"]
    for flag, value in base.items():
        if flag not in argv:
            args += [flag, value]
    if "--event" not in argv:
        args += ["--event", APP]
    code, out, err = _cli(args + argv, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and field in err
    assert _cli(["webhooks", "list", "--json"], capsys)[1].strip() == "[]"


def test_cli_requires_an_event(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as info:
        main(["webhooks", "add", "--name", "x", "--url", "http://127.0.0.1:9/"])
    assert info.value.code == 2
    assert "--event" in capsys.readouterr().err


# -- preview / send input ------------------------------------------------------------------


@pytest.fixture
def wh(sim):
    return sim.create_webhook("target", "http://127.0.0.1:9/hook", [APP, ACT])


def test_unknown_webhook_id(sim, tmp_path, monkeypatch, capsys):
    from simlib import NotFoundError

    with pytest.raises(NotFoundError, match="wh_nope"):
        sim.preview("wh_nope", APP)
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    code, _, err = _cli(["webhooks", "show", "wh_nope"], capsys)
    assert code == 2 and "webhook not found: 'wh_nope'" in err and err.count("\n") == 1
    code, out, _ = _cli(["send", "wh_nope", APP], capsys)
    assert code == 2 and "Webhook not found" in out


def test_unknown_event_type(sim, wh):
    with pytest.raises(ValidationError, match="unknown event type 'desktop.bogus'"):
        sim.preview(wh, "desktop.bogus")


def test_override_path_that_does_not_exist(sim, wh):
    with pytest.raises(ValidationError, match=r"'data\.0\.tracking\.app\.nmae'.*no field 'nmae'"):
        sim.preview(wh, APP, overrides=["data.0.tracking.app.nmae=Slack"])


def test_override_index_out_of_range(sim, wh):
    with pytest.raises(ValidationError, match="list of 1; '5' is not an index"):
        sim.preview(wh, APP, overrides={"data.5.tracking": {}})


def test_override_value_not_json(sim, wh):
    with pytest.raises(ValidationError, match="not valid JSON"):
        sim.preview(wh, APP, overrides=["data.0.tracking.app={oops"])


def test_override_nan_is_refused(sim, wh):
    with pytest.raises(ValidationError, match="payload: cannot be sent as JSON"):
        sim.preview(wh, APP, overrides=["data.0.tracking.time.durationInSeconds=NaN"])


def test_override_of_the_simulation_flag(sim, wh):
    with pytest.raises(ValidationError, match="simulation flag"):
        sim.preview(wh, APP, overrides={"simulation": False})


def test_huge_override_over_the_payload_limit(sim, wh):
    with pytest.raises(ValidationError, match=r"payload: \d+ bytes is over the limit of 5000000 bytes"):
        sim.preview(wh, APP, overrides={"data.0.tracking.app.name": "x" * 6_000_000})


def test_payload_limit_is_configurable(tmp_path):
    with Simulator(tmp_path / "s.db", max_payload_bytes=200) as small:
        hook = small.create_webhook("t", "http://127.0.0.1:9/", [APP])
        with pytest.raises(ValidationError, match="over the limit of 200 bytes"):
            small.preview(hook, APP)


def test_bad_option_values(sim, wh):
    with pytest.raises(ValidationError, match="work_mode: must be true or false"):
        sim.preview(wh, ACT, options={"work_mode": "yes"})
    with pytest.raises(ValidationError, match="has no option 'colour'"):
        sim.preview(wh, ACT, options={"colour": "red"})
    with pytest.raises(ValidationError, match="seed: must be a whole number"):
        sim.preview(wh, ACT, seed=-1)


def test_cli_bad_numbers_and_times(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as info:
        main(["preview", "demo", APP, "--seed", "abc"])
    assert info.value.code == 2 and "expected a whole number" in capsys.readouterr().err
    code, _, err = _cli(["history", "--since", "yesterday"], capsys)
    assert code == 2 and "not an ISO 8601 time" in err


def test_bad_export_format(sim, tmp_path):
    with pytest.raises(ValidationError, match="unknown export format 'xlsx'"):
        sim.export_history(tmp_path / "h.xlsx")


# -- bad responses: recorded rows with a readable detail ------------------------------------

_BOMB = gzip.compress(b"\0" * (50 * 1024 * 1024))  # 50 MB of zeros, ~50 kB compressed

RESPONSE_CASES = {
    "response-not-json": (answer(200, b"OK thanks", {"Content-Type": "text/plain"}), "OK thanks"),
    "response-html": (
        answer(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}),
        "<h1>502 Bad Gateway</h1>",
    ),
    "response-binary": (answer(200, bytes(range(256)) * 4, {"Content-Type": "application/octet-stream"}), "<binary response: 1024 bytes"),
    "response-invalid-utf8": (answer(200, b"caf\xe9 \xff\xfe ok", {"Content-Type": "text/plain; charset=utf-8"}), "caf\ufffd \ufffd\ufffd ok"),
    "response-gzip-bomb": (answer(200, _BOMB, {"Content-Type": "text/plain", "Content-Encoding": "gzip"}), "<binary response: 20000+ bytes"),
    "response-bad-charset": (answer(200, b"plain", {"Content-Type": "text/plain; charset=no-such-charset"}), "plain"),
}


@pytest.mark.parametrize("case", sorted(RESPONSE_CASES))
def test_bad_responses_end_as_recorded_rows(tmp_path, case):
    behaviour, expected = RESPONSE_CASES[case]
    with RawServer(behaviour) as srv, Simulator(tmp_path / "s.db", delivery=DeliveryConfig(deadline=10)) as sim:
        hook = sim.create_webhook("r", srv.url, [APP])
        r = sim.simulate(hook, APP)
        row = sim.history().iloc[-1]
    assert r.error is None and r.http_status is not None
    assert expected in r.response_body
    assert len(r.response_body.encode("utf-8")) <= 20_000 + 200
    assert row["response_body"] == r.response_body and row["detail"] == r.detail
    if case == "response-gzip-bomb":
        assert r.response_truncated


# -- the store ------------------------------------------------------------------------------

STORE_CASES = ["store-corrupt", "store-read-only", "store-newer-schema", "store-locked"]


def test_corrupt_store_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / "simlib.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match="not a simlib store"):
        Simulator(path).list_webhooks()
    monkeypatch.setenv("SIMLIB_HOME", str(tmp_path))
    code, _, err = _cli(["webhooks", "list"], capsys)
    assert code == 2 and "not a simlib store" in err and err.count("\n") == 1
    assert path.read_bytes().startswith(b"this is not a database")  # left as it was


def test_store_newer_schema(tmp_path):
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StoreVersionError, match="schema version 99, newer than this simlib"):
        Simulator(path).list_webhooks()


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody can write to: chmod for ordinary users; as root (who ignores mode
    bits) a read-only tmpfs mount, skipped where mounting is not permitted."""
    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() != 0:
        target.chmod(0o555)
        yield target
        target.chmod(0o755)
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot make a read-only directory here (running as root without mount)")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], capture_output=True)


def test_store_on_a_read_only_directory(read_only_dir, capsys, monkeypatch):
    with pytest.raises(StoreUnavailable, match="cannot open the store"):
        Simulator(read_only_dir / "simlib.sqlite3").list_webhooks()
    monkeypatch.setenv("SIMLIB_HOME", str(read_only_dir))
    code, _, err = _cli(["demo"], capsys)
    assert code == 2 and "cannot open the store" in err and err.count("\n") == 1


def test_send_with_an_unusable_store_is_service_unavailable(tmp_path):
    path = tmp_path / "s.db"
    with Simulator(path) as sim:
        hook = sim.create_webhook("x", "http://127.0.0.1:9/", [APP])
        preview = sim.preview(hook, APP)
    path.write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with Simulator(path) as broken:
        r = broken.send(preview)
    assert r.error == "Service unavailable" and r.error_status == 503 and not r.recorded


# -- the README table matches -----------------------------------------------------------------


def test_readme_table_lists_exactly_the_tested_classes():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## What happens when", 1)[1].split("\n## ", 1)[0]
    ids = set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.M))
    tested = set(CASES) | set(RESPONSE_CASES) | set(STORE_CASES) | {
        "webhook-unknown",
        "event-unknown",
        "override-path",
        "override-index",
        "override-not-json",
        "override-nan",
        "override-simulation-flag",
        "override-huge",
        "option-invalid",
        "seed-invalid",
        "time-invalid",
        "export-format",
        "events-missing-flag",
    }
    tested |= _readme_cases_elsewhere()
    assert ids == tested, f"in the README only: {sorted(ids - tested)}; tested only: {sorted(tested - ids)}"
    assert len(ids) >= 30


def _readme_cases_elsewhere() -> set[str]:
    """The classes other test modules declare in a module-level ``README_CASES`` set (each
    module that adds rows to the README table tests them and lists them there)."""
    import ast

    found: set[str] = set()
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == "README_CASES" for t in targets) and node.value is not None:
                found |= set(ast.literal_eval(node.value))
    return found


# -- the explorer: a message next to the form, nothing created ----------------------------------

EXPLORER_CASES = sorted(
    c for c in CASES if c not in ("events-unknown", "events-duplicate", "secret-empty", "id-invalid")
)  # the form has event checkboxes (no unknown or duplicate events), an empty secret means
# "generate one", and ids are generated


@pytest.mark.parametrize("case", EXPLORER_CASES)
def test_explorer_form_shows_the_error_and_creates_nothing(sim, case, caplog):
    import logging

    import ipywidgets

    from simlib.ui import Explorer

    caplog.set_level(logging.WARNING, logger="traitlets")
    changes, _, field = CASES[case]
    explorer = Explorer(sim, seed=1)
    try:
        values = {**OK, **changes}
        explorer.form_name.value = values["name"]
        explorer.form_url.value = values["url"]
        for name, box in explorer.form_events.items():
            box.value = name in values["events"]
        explorer.form_secret.value = values.get("secret", "")
        explorer.form_submit.click()
        message = re.sub(r"<[^>]+>", "", explorer.form_message.value)
        assert field in message, message
        assert sim.list_webhooks() == []
        assert not [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    finally:
        explorer.close()
        ipywidgets.Widget.close_all()
