"""The store on each backend (a SQLite file, a real PostgreSQL started by the suite: the
``backend_store`` fixture runs each test once per backend), then what only a shared store has:
two people on one database, the password out of sight, the server down or hung, two processes
sending at once, migrations in PostgreSQL. Secrets at rest on both.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from simlib import (
    ConflictError,
    HistoryFilter,
    NotFoundError,
    SecretKeyError,
    Simulator,
    StoreUnavailable,
    StoreVersionError,
    ValidationError,
)
from simlib.core.store.backends import open_store
from simlib.core.store.keys import KEY_ENV, new_key
from simlib.core.store.schema import HISTORY_COLUMNS, SCHEMA_VERSION, frame_dtypes
from simlib.receiver import Receiver
from tests.helpers import ALL_EVENTS, APP, SHOT, free_port
from tests.postgres import PG_PASSWORD

README_CASES = {"store-server-down", "store-url-unknown", "store-no-key"}


def raw_rows(location: str, sql: str) -> list[tuple]:
    """Rows read past simlib, straight from the database."""
    if location.startswith("postgresql"):
        import psycopg

        with psycopg.connect(location.replace("postgresql+psycopg", "postgresql")) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    conn = sqlite3.connect(location)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- the same behaviour on both backends ------------------------------------------------------------


def test_webhooks_round_trip(backend_store):
    with Simulator(backend_store) as s:
        a = s.create_webhook("A", "https://example.com/a", [APP])
        b = s.create_webhook("B", "https://example.com/b", ALL_EVENTS, secret="b" * 32)
        with pytest.raises(ValidationError):
            s.create_webhook("A again", "https://example.com/a", [APP], id=a.id)
        assert [w.id for w in s.list_webhooks()] == [a.id, b.id]
        assert s.get_webhook(b.id).secret.reveal() == "b" * 32 and s.get_webhook(b.id).events == tuple(ALL_EVENTS)
        s.update_webhook(a, name="A2", events=[APP, SHOT])
        rotated = s.rotate_secret(b, new_secret="c" * 32)
        got = s.get_webhook(b.id)
        assert got.secret.reveal() == "c" * 32 and got.previous_secret is not None
        assert got.previous_secret.reveal() == "b" * 32 and got.previous_secret_expires_ms == rotated.previous_secret_expires_ms
        assert s.get_webhook(a.id).name == "A2"
        s.delete_webhook(a)
        assert [w.id for w in s.list_webhooks()] == [b.id]


def test_a_webhook_edit_over_a_version_someone_else_changed_is_refused(backend_store):
    """Two people edit one webhook: the second save, made over the version it read, is refused
    with ConflictError and writes nothing -- it does not undo the first (checked in the UPDATE,
    on both backends)."""
    with Simulator(backend_store) as a, Simulator(backend_store) as b:
        wh = a.create_webhook("Slow", "https://example.com/slow", [APP])
        opened = a.get_webhook(wh.id)  # both open the edit form on this version
        b.update_webhook(wh.id, url="https://example.com/ok", expected_updated_ms=opened.updated_ms)
        with pytest.raises(ConflictError) as caught:
            a.update_webhook(wh.id, name="Slow (renamed)", url=opened.url, expected_updated_ms=opened.updated_ms)
        assert "changed by someone else" in str(caught.value) and "nothing was saved" in str(caught.value)
        now = a.get_webhook(wh.id)
        assert (now.name, now.url) == ("Slow", "https://example.com/ok")  # B's change stands
        # and in the store's own write: an UPDATE over a stale version changes no row
        with pytest.raises(ConflictError):
            a.store.replace_webhook(replace(now, name="X"), expected_updated_ms=opened.updated_ms)
        assert a.get_webhook(wh.id).name == "Slow"
        a.delete_webhook(wh.id)
        with pytest.raises(NotFoundError):
            b.update_webhook(wh.id, name="gone", expected_updated_ms=now.updated_ms)


def test_the_store_reads_history_through_one_filter_argument(backend_store, monkeypatch):
    """history_frame / history_frames / history_frame_rows take one HistoryFilter (the one pages
    and counts take), the same on both backends; an empty string is refused there, not matched."""
    monkeypatch.setenv("SIMLIB_USER", "alice")  # read when a Simulator is made
    with Simulator(backend_store) as s, Receiver() as ok:
        wh = s.create_webhook("ok", ok.url, ALL_EVENTS)
        ok.secrets = [wh.secret.reveal()]
        r1 = s.simulate(wh, APP)
        r2 = s.simulate("wh_gone", SHOT)
    monkeypatch.setenv("SIMLIB_USER", "bob")
    with Simulator(backend_store) as s:
        r3 = s.simulate("wh_gone", APP)
        store = s.store
        cases = [
            (None, None, [r1.history_id, r2.history_id, r3.history_id]),
            (HistoryFilter(user="alice"), None, [r1.history_id, r2.history_id]),
            (HistoryFilter(user=["bob"], result="Webhook not found"), None, [r3.history_id]),
            (HistoryFilter(event_type=APP), 1, [r3.history_id]),
            (HistoryFilter(webhook=wh.id, since_ms=0, until_ms=s.now_ms()), None, [r1.history_id]),
            (HistoryFilter(host="no-such-host"), None, []),
        ]
        for flt, limit, ids in cases:
            assert store.history_frame(flt, limit=limit)["id"].tolist() == ids, (flt, limit)
            assert [i for f in store.history_frames(flt, limit=limit, chunk_rows=1) for i in f["id"]] == ids
            assert store.history_frame_rows(flt, limit=limit) == len(ids)
        assert s.history(user="bob", event_type=APP)["id"].tolist() == [r3.history_id]
        with pytest.raises(ValidationError, match="user"):
            s.history(user="")


def test_history_reads_the_same_on_both_backends(backend_store, monkeypatch):
    monkeypatch.setenv("SIMLIB_USER", "alice")
    with Simulator(backend_store) as s, Receiver() as ok, Receiver(status=500) as bad:
        good = s.create_webhook("ok", ok.url, ALL_EVENTS)
        ok.secrets = [good.secret.reveal()]
        failing = s.create_webhook("bad", bad.url, ALL_EVENTS)
        r1 = s.simulate(good, APP)
        r2 = s.simulate(failing, SHOT)
        r3 = s.simulate("wh_gone", APP)
        again = s.replay(r1.history_id)
        assert r1.delivered and not r2.delivered and r3.error == "Webhook not found"
        frame = s.history()
        assert list(frame.columns) == HISTORY_COLUMNS
        for column, dtype in frame_dtypes().items():
            if column != "sent_at":  # read as epoch ms, shown as a UTC datetime
                assert str(frame[column].dtype) == dtype, column
        assert str(frame["sent_at"].dtype).startswith("datetime64") and str(frame["sent_at"].dt.tz) == "UTC"
        assert frame["id"].tolist() == sorted(frame["id"]) and len(frame) == 4
        first = frame.iloc[0]
        assert first["payload"] == r1.payload and first["signature"] == r1.signature and first["user"] == "alice"
        assert frame["error_status"].tolist()[:3] == [pd.NA, pd.NA, 404]
        row = s.history_row(r1.history_id)
        assert row["request_body"] == r1.request_body and isinstance(row["request_headers"], dict)
        assert row["response_truncated"] is False and row["user"] == "alice" and row["error_status"] is None
        assert s.history(result="Failed")["id"].tolist() == [r2.history_id, r3.history_id]
        assert s.history(result="Webhook not found", limit=5)["id"].tolist() == [r3.history_id]
        assert s.history(limit=2)["id"].tolist() == [r3.history_id, again.result.history_id]
        # Pages, in each order, forward and back; capped counts; links; lookups by signature.
        page = s.history_page(limit=2)
        assert [r["id"] for r in page.rows] == [again.result.history_id, r3.history_id] and page.has_more
        nxt = s.history_page(after=page.last, limit=2)
        assert [r["id"] for r in nxt.rows] == [r2.history_id, r1.history_id] and not nxt.has_more
        back = s.history_page(before=nxt.first, limit=2)
        assert [r["id"] for r in back.rows] == [r["id"] for r in page.rows]
        slow = s.history_page(order="status_desc", limit=10)
        assert [r["http_status"] for r in slow.rows][:1] == [500]
        assert [r["id"] for r in s.history_page(HistoryFilter(status_class="none"), limit=10).rows] == [r3.history_id]
        assert [r["id"] for r in s.history_page(HistoryFilter(text="wh_GONE"), limit=10).rows] == [r3.history_id]
        assert s.history_count_capped(cap=2).text == "2+" and s.history_count_capped().value == 4
        assert s.replays_of(r1.history_id) == [again.result.history_id]
        assert s.find_attempts(signature=r1.signature) == [r1.history_id]
        assert list(s.history_matching(HistoryFilter(webhook=good.id), columns=["payload"]).columns) == ["id", "payload"]
        assert s.export_bytes("csv").decode().splitlines()[0].split(",") == HISTORY_COLUMNS
        # Streamed exports read in chunks (of 1 row here) give the whole frame's file, filters and all.
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            for filters in ({}, {"result": "Failed"}, {"limit": 3}, {"user": "alice"}, {"user": "nobody-else"}):
                seen: list[tuple[int, int]] = []
                out = s.export_history(Path(tmp) / "h.csv", chunk_rows=1, progress=lambda d, t: seen.append((d, t)),
                                       **filters)
                expected = s.history(**filters)
                if not filters:
                    assert out.read_bytes() == s.export_bytes("csv")  # byte for byte the unstreamed file
                assert pd.read_csv(out)["id"].tolist() == expected["id"].tolist(), filters
                assert (seen[-1] if seen else (0, 0)) == (len(expected), len(expected)), filters


def test_each_row_records_who_sent_it_and_from_where(backend_store, monkeypatch, receiver):
    with Simulator(backend_store) as s:
        wh = s.create_webhook("team", receiver.url, [APP])
    for user, host in (("alice", "laptop-a"), ("bob", "laptop-b"), ("alice", "laptop-b")):
        monkeypatch.setenv("SIMLIB_USER", user)
        monkeypatch.setenv("SIMLIB_HOST", host)
        with Simulator(backend_store) as s:  # the sender is read when a Simulator is made
            r = s.simulate(wh, APP)
            assert (r.user, r.host) == (user, host)
    monkeypatch.delenv("SIMLIB_USER")
    monkeypatch.delenv("SIMLIB_HOST")
    with Simulator(backend_store) as s:
        mine = s.simulate(wh, APP)
        assert mine.user and mine.user not in ("alice", "bob") and mine.host == socket.gethostname()
        assert s.history(user="alice")["host"].tolist() == ["laptop-a", "laptop-b"]
        assert s.history(user="bob")["host"].tolist() == ["laptop-b"]
        assert s.history(host="laptop-b")["user"].tolist() == ["bob", "alice"]
        assert s.history(user=["alice", "bob"], host="laptop-a")["user"].tolist() == ["alice"]
        assert [r["id"] for r in s.history_page(HistoryFilter(user="bob")).rows] == s.history(user="bob")["id"].tolist()
        assert s.history_count_capped(HistoryFilter(user="alice", host="laptop-a")).value == 1


def test_history_filter_by_history_ids_pages_counts_and_exports_those_rows_only(backend_store, receiver):
    """One explorer page's sends: a set of ids (runs of them as ranges), on both backends."""
    with Simulator(backend_store) as s:
        wh = s.create_webhook("team", receiver.url, [APP])
        ids = [s.simulate(wh, APP).history_id for _ in range(6)]
        assert None not in ids
        mine = [ids[0], ids[1], ids[2], ids[4]]  # a run and a single one
        flt = HistoryFilter(history_ids=mine)
        assert [r["id"] for r in s.history_page(flt, limit=10).rows] == sorted(mine, reverse=True)
        first = s.history_page(flt, limit=2)
        assert [r["id"] for r in first.rows] == [ids[4], ids[2]] and first.has_more
        assert [r["id"] for r in s.history_page(flt, after=first.last, limit=2).rows] == [ids[1], ids[0]]
        assert s.history_count_capped(flt).value == 4
        assert sorted(s.history_matching(flt)["id"].tolist()) == sorted(mine)
        assert s.history_page(HistoryFilter(history_ids=[]), limit=10).rows == ()  # nothing made yet: nothing shown
        assert s.history_count_capped(HistoryFilter(history_ids=[])).value == 0
        both = HistoryFilter(history_ids=mine, status_class="2xx")
        assert s.history_count_capped(both).value == 4
        scattered = HistoryFilter(history_ids=[*range(ids[0] - 140_000, ids[0], 2), ids[3], ids[5]])  # 70,000 single ids
        assert [r["id"] for r in s.history_page(scattered, limit=10).rows] == [ids[5], ids[3]]
        assert s.history_count_capped(scattered).value == 2 and len(s.history_matching(scattered)) == 2


def test_record_listeners_hear_every_row_this_simulator_records_and_no_other(backend_store, receiver):
    """Sends, bursts, replays and unsendable attempts all reach the listeners; another
    Simulator's sends on the same store do not (two kernels, one store)."""
    with Simulator(backend_store) as s, Simulator(backend_store) as other:
        wh = s.create_webhook("team", receiver.url, [APP])
        heard: list[int] = []
        s.record_listeners.append(heard.extend)
        sent = s.simulate(wh, APP).history_id
        burst = s.send_many(wh, APP, 5, concurrency=2)
        again = s.replay(sent).result.history_id
        refused = s.simulate(wh, SHOT).history_id  # not registered for the webhook: recorded, not sent
        theirs = other.simulate(wh, APP).history_id
        mine = {sent, again, refused, *(r.history_id for r in burst.results)}
        assert None not in mine and len(mine) == 8
        assert set(heard) == mine and theirs not in heard
        checked = {int(i) for i in s.check_receiver(wh)["history_id"].dropna()}  # the receiver check's sends too
        imported = s.import_delivery(s.history_fixture(sent), wh).resigned.history_id  # and an import's
        assert checked and checked | {imported} <= set(heard) and not checked & mine
        s.record_listeners.append(lambda ids: 1 / 0)  # a broken listener never breaks a send
        assert s.simulate(wh, APP).delivered


def test_webhook_secrets_are_never_stored_in_plain_text(backend_store):
    with Simulator(backend_store) as s:
        wh = s.create_webhook("sealed", "https://example.com/x", [APP], secret="plain-secret-" + "x" * 20)
        s.rotate_secret(wh, new_secret="next-secret-" + "y" * 20)
    rows = raw_rows(backend_store, "SELECT secret, previous_secret FROM webhooks")
    assert len(rows) == 1
    for token in rows[0]:
        assert token.startswith("gAAAAA") and "secret" not in token  # Fernet tokens
    dump = json.dumps(raw_rows(backend_store, "SELECT * FROM webhooks"), default=str)
    assert "plain-secret" not in dump and "next-secret" not in dump


def test_without_the_key_signing_fails_clearly_and_nothing_else_breaks(backend_store, monkeypatch, tmp_path):
    with Simulator(backend_store) as s, Receiver() as rx:
        wh = s.create_webhook("keyed", rx.url, [APP])
        s.simulate(wh, APP)
    # Lose the key: the SQLite key file moved away, the PostgreSQL key no longer in the environment.
    if backend_store.startswith("postgresql"):
        monkeypatch.delenv(KEY_ENV)
    else:
        Path(f"{backend_store}.key").rename(tmp_path / "kept.key")  # (and no new one is made)
    with Simulator(backend_store) as s, Receiver() as rx:
        (listed,) = s.list_webhooks()
        assert listed.id == wh.id and listed.secret.masked == "********" and "********" in repr(listed)
        with pytest.raises(SecretKeyError) as info:
            listed.secret.reveal()
        assert "SIMLIB_SECRET_KEY" in str(info.value) and "\n" not in str(info.value)
        s.update_webhook(wh, url=rx.url)  # the sealed secret is written back as it was
        r = s.simulate(wh, APP)
        assert r.error == "Service unavailable" and "SIMLIB_SECRET_KEY" in r.detail and "nothing was sent" in r.detail
        assert rx.count == 0 and r.recorded
        assert len(s.history()) == 2 and s.history_row(r.history_id)["error"] == "Service unavailable"
        with pytest.raises(SecretKeyError):
            s.create_webhook("new", rx.url, [APP])
        assert len(s.list_webhooks()) == 1
    if not backend_store.startswith("postgresql"):
        assert not Path(f"{backend_store}.key").exists()
    # A wrong key says so too.
    monkeypatch.setenv(KEY_ENV, new_key())
    with Simulator(backend_store) as s:
        with pytest.raises(SecretKeyError, match="another key"):
            s.get_webhook(wh.id).secret.reveal()


def test_rotating_the_key_re_encrypts_every_secret(backend_store, monkeypatch):
    with Simulator(backend_store) as s, Receiver() as rx:
        wh = s.create_webhook("rot", rx.url, [APP])
        rx.secrets = [wh.secret.reveal()]
        before = raw_rows(backend_store, "SELECT secret FROM webhooks")
        if backend_store.startswith("postgresql"):
            old = os.environ[KEY_ENV]
            monkeypatch.setenv(KEY_ENV, f"{new_key()},{old}")
            s.close()
            s = Simulator(backend_store)
        count, next_step = s.rotate_store_key()
        assert count == 1 and next_step
        after = raw_rows(backend_store, "SELECT secret FROM webhooks")
        assert after != before
        r = s.simulate(wh, APP)
        assert r.delivered, r.detail
        s.close()
    if backend_store.startswith("postgresql"):
        monkeypatch.setenv(KEY_ENV, os.environ[KEY_ENV].split(",")[0])  # the old key dropped
    else:
        assert len(Path(f"{backend_store}.key").read_text().split()) == 1
    with Simulator(backend_store) as s:
        assert s.get_webhook(wh.id).secret.reveal() == wh.secret.reveal()


# -- the SQLite default: a key file beside the store, and the release fixture upgraded ---------------


def test_the_sqlite_key_file_is_generated_owner_only(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Simulator(path) as s:
        s.create_webhook("k", "https://example.com/x", [APP])
    key = Path(f"{path}.key")
    assert (key.stat().st_mode & 0o777) == 0o600 and len(key.read_text().split()) == 1


def test_the_release_fixture_upgrades_with_its_secrets_encrypted(tmp_path):
    import shutil

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "store-v1.sqlite3"
    path = tmp_path / "old.sqlite3"
    shutil.copyfile(fixture, path)
    plain = dict(raw_rows(str(path), "SELECT id, secret FROM webhooks"))
    with Simulator(path) as s:
        hooks = {w.id: w.secret.reveal() for w in s.list_webhooks()}
        assert s.history()["user"].isna().all()
    assert hooks == plain
    stored = dict(raw_rows(str(path), "SELECT id, secret FROM webhooks"))
    assert all(v.startswith("gAAAAA") and v != plain[k] for k, v in stored.items())
    assert raw_rows(str(path), "PRAGMA user_version") == [(SCHEMA_VERSION,)]


# -- PostgreSQL: locations, passwords ---------------------------------------------------------------


def test_store_locations_and_unknown_schemes(tmp_path, monkeypatch, pg_url, secret_key):
    monkeypatch.setenv("SIMLIB_STORE", pg_url)
    with Simulator() as s:
        assert s.store.location.startswith("postgresql+psycopg://") and PG_PASSWORD not in repr(s)
        s.create_webhook("env", "https://example.com/x", [APP])
    monkeypatch.delenv("SIMLIB_STORE")
    with Simulator(pg_url.replace("postgresql+psycopg://", "postgresql://")) as s:  # the plain scheme too
        assert [w.name for w in s.list_webhooks()] == ["env"]
    # The password outside the URL, as the README advises: libpq reads $PGPASSWORD.
    monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    with Simulator(pg_url.replace(f":{PG_PASSWORD}@", "@")) as s:
        assert [w.name for w in s.list_webhooks()] == ["env"] and "***" not in s.store.location
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.chdir(tmp_path)
    for url in ("mysql://u:hunter2@db/x", "postgres://u:hunter2@db/x", "sqlite:///hunter2.db"):
        with pytest.raises(ValidationError) as info:
            Simulator(url)
        assert "unknown kind" in str(info.value) and "hunter2" not in str(info.value)
    with pytest.raises(ValidationError, match="name the database"):
        Simulator("postgresql://u:hunter2@db")
    assert list(tmp_path.iterdir()) == []


def test_the_password_never_appears(postgres, pg_url, secret_key, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    bad_port = pg_url.replace(f":{postgres.port}/", f":{free_port()}/")
    wrong_password = pg_url.replace(PG_PASSWORD, "Wrong-Pw-" + PG_PASSWORD)
    for url in (bad_port, wrong_password):
        with Simulator(url, busy_timeout=2) as s:
            assert PG_PASSWORD not in repr(s) and PG_PASSWORD not in repr(s.store) and "***" in s.store.location
            with pytest.raises(StoreUnavailable) as info:
                s.list_webhooks()
            message = str(info.value)
            assert PG_PASSWORD not in message and "\n" not in message and "127.0.0.1" in message
            r = s.simulate("wh_x", APP)
            assert r.error == "Service unavailable" and PG_PASSWORD not in r.detail + repr(r) + json.dumps(r.to_dict())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMLIB_")}
    done = subprocess.run([sys.executable, "-m", "simlib", "--store", bad_port, "store", "info"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and PG_PASSWORD not in done.stdout + done.stderr and "unavailable" in done.stderr
    assert PG_PASSWORD not in caplog.text


# -- two people, one store --------------------------------------------------------------------------


def cli(*argv: str, user: str, home: Path, url: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMLIB_")}
    env.update(SIMLIB_HOME=str(home), SIMLIB_STORE=url, SIMLIB_USER=user, SIMLIB_SECRET_KEY=key)
    done = subprocess.run([sys.executable, "-m", "simlib", *argv], capture_output=True, text=True, timeout=120, env=env)
    assert PG_PASSWORD not in done.stdout + done.stderr
    return done


def test_two_people_with_their_own_homes_share_webhooks_and_history(tmp_path, pg_url, secret_key):
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    with Receiver() as rx:
        made = cli("webhooks", "add", "--name", "Shared", "--url", rx.url, "--event", APP, "--json",
                   user="alice", home=alice, url=pg_url, key=secret_key)
        assert made.returncode == 0, made.stderr
        wid = json.loads(made.stdout)["id"]
        listed = cli("webhooks", "list", "--json", user="bob", home=bob, url=pg_url, key=secret_key)
        assert [w["id"] for w in json.loads(listed.stdout)] == [wid]
        rx.secrets = [Simulator(pg_url).get_webhook(wid).secret.reveal()]
        for who, home in (("bob", bob), ("alice", alice), ("bob", bob)):
            sent = cli("send", wid, APP, "--json", user=who, home=home, url=pg_url, key=secret_key)
            assert sent.returncode == 0 and json.loads(sent.stdout)["user"] == who, sent.stderr
        assert rx.stats()["verified"] == 3 == rx.count
        seen = cli("history", "--user", "bob", "--json", user="alice", home=alice, url=pg_url, key=secret_key)
        rows = json.loads(seen.stdout)
        assert [r["user"] for r in rows] == ["bob", "bob"] and all(r["result"] == "Delivered" for r in rows)
        table = cli("history", user="bob", home=bob, url=pg_url, key=secret_key).stdout
        assert "alice" in table and "bob" in table
    assert not (alice / "simlib.sqlite3").exists() and not (bob / "simlib.sqlite3").exists()


def test_the_explorer_refresh_shows_another_users_changes(pg_url, secret_key, monkeypatch):
    pytest.importorskip("ipywidgets")
    from simlib.ui.base import Session
    from simlib.ui.history_workbench import HistoryWorkbench

    monkeypatch.setenv("SIMLIB_USER", "alice")
    mine = Simulator(pg_url)
    monkeypatch.setenv("SIMLIB_USER", "bob")
    theirs = Simulator(pg_url)  # (as if in another process: the sender is read when a Simulator is made)
    try:
        session = Session(mine)
        bench = HistoryWorkbench(session)
        assert bench.grid.page.rows == ()
        with Receiver() as rx:
            wh = theirs.create_webhook("theirs", rx.url, [APP])
            r = theirs.simulate(wh, APP)
        bench.refresh()
        assert [row["id"] for row in bench.grid.page.rows] == [r.history_id]
        assert wh.id in {v for _, v in bench.grid.filters.webhook.options}
        bench.grid.filters.user.value = "alice"
        assert bench.grid.page.rows == ()
        bench.grid.filters.user.value = "bob"
        assert [row["id"] for row in bench.grid.page.rows] == [r.history_id]
    finally:
        mine.close()
        theirs.close()


# -- faults -----------------------------------------------------------------------------------------


@pytest.fixture
def own_server():
    """A PostgreSQL server of this test alone (it is stopped and started again)."""
    from tests.postgres import SKIP_REASON, PostgresServer, find_bin

    bindir = find_bin()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer(bindir).start()
    yield server
    server.destroy()


def test_server_down_is_service_unavailable_in_bounded_time_and_recovers(own_server, secret_key):
    url = own_server.create_database()
    with Simulator(url, busy_timeout=2) as s, Receiver() as rx:
        wh = s.create_webhook("faults", rx.url, [APP])
        rx.secrets = [wh.secret.reveal()]
        assert s.simulate(wh, APP).delivered
        own_server.stop()
        started = time.monotonic()
        r = s.simulate(wh, APP)
        took = time.monotonic() - started
        assert r.error == "Service unavailable" and not r.recorded and took < 20, (r.detail, took)
        assert "unavailable" in r.detail and PG_PASSWORD not in r.detail
        assert rx.count == 1  # nothing sent that could not be recorded
        with pytest.raises(StoreUnavailable):
            s.history()
        own_server.start()
        deadline = time.monotonic() + 20  # one busy timeout after the last failure, it tries again
        while True:
            again = s.simulate(wh, APP)
            if again.delivered or time.monotonic() > deadline:
                break
            assert again.error == "Service unavailable" and rx.count == 1
            time.sleep(0.2)
        assert again.delivered and again.recorded, again.detail
        assert rx.count == 2 and s.history()["result"].tolist() == ["Delivered", "Delivered"]


def test_a_server_that_never_answers_is_service_unavailable_in_bounded_time(secret_key):
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:  # takes every connection and never says a word
        while True:
            try:
                accepted.append(hung.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        url = f"postgresql+psycopg://simlib:{PG_PASSWORD}@127.0.0.1:{hung.getsockname()[1]}/simlib"
        with Simulator(url, busy_timeout=2) as s:
            started = time.monotonic()
            r = s.simulate("wh_x", APP)
            took = time.monotonic() - started
            assert r.error == "Service unavailable" and "unreachable" in r.detail and took < 20, (took, r.detail)
            assert PG_PASSWORD not in r.detail
            # One wait of the connect timeout per operation, not one per store call of the send.
            assert len(accepted) == 1
            with pytest.raises(StoreUnavailable):
                s.history()
            assert len(accepted) == 1  # within the busy timeout of the failure: no second wait
    finally:
        hung.close()
        for conn in accepted:
            conn.close()


SENDER = """
import sys
from simlib import Simulator
url, wid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Simulator(url) as s:
    ids = []
    for i in range(n):
        r = s.simulate(wid, "desktop.app_tracking.captured", seed=i)
        assert r.delivered and r.recorded, r.detail
        ids.append(r.history_id)
print(len(ids))
"""


def test_two_processes_each_sending_500_into_one_store(pg_url, secret_key):
    with Receiver() as rx, Simulator(pg_url) as s:
        wh = s.create_webhook("load", rx.url, [APP])
        rx.secrets = [wh.secret.reveal()]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        procs = [
            subprocess.Popen([sys.executable, "-c", SENDER, pg_url, wh.id, "500"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=600) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
        frame = s.history()
        assert len(frame) == 1000 and frame["id"].is_unique and (frame["result"] == "Delivered").all()
        assert frame["simulation_id"].is_unique and rx.count == 1000


# -- migrations and refusals in PostgreSQL ----------------------------------------------------------


def test_an_older_postgresql_store_upgrades_and_a_newer_one_is_refused(pg_url, secret_key):
    with Simulator(pg_url) as s:
        s.create_webhook("old", "https://example.com/x", [APP], secret="s" * 32, id="wh_old")
    import psycopg

    plain_url = pg_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain_url) as conn:  # as schema version 2 had it: no sender, plain secrets
        conn.execute('ALTER TABLE history DROP COLUMN "user"')
        conn.execute("ALTER TABLE history DROP COLUMN host")
        conn.execute("UPDATE webhooks SET secret = %s", ("s" * 32,))
        conn.execute("UPDATE simlib_schema SET version = 2")
    with Simulator(pg_url) as s:
        assert s.get_webhook("wh_old").secret.reveal() == "s" * 32
        assert "user" in s.history().columns
    assert raw_rows(pg_url, "SELECT version FROM simlib_schema") == [(SCHEMA_VERSION,)]
    assert raw_rows(pg_url, "SELECT secret FROM webhooks")[0][0].startswith("gAAAAA")
    with psycopg.connect(plain_url) as conn:
        conn.execute("UPDATE simlib_schema SET version = %s", (SCHEMA_VERSION + 5,))
    with pytest.raises(StoreVersionError, match="newer"):
        open_store(pg_url).check()


def test_a_database_with_other_tables_of_those_names_is_left_untouched(pg_url, secret_key):
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("CREATE TABLE webhooks (id int primary key, other text)")
    with pytest.raises(StoreUnavailable, match="did not create"):
        Simulator(pg_url).list_webhooks()
    assert raw_rows(pg_url, "SELECT column_name FROM information_schema.columns WHERE table_name='webhooks' "
                            "ORDER BY ordinal_position") == [("id",), ("other",)]
    assert raw_rows(pg_url, "SELECT to_regclass('history'), to_regclass('simlib_schema')") == [(None, None)]


def test_two_stores_opening_a_new_database_at_once_create_it_once(pg_url, secret_key):
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            with Simulator(pg_url) as s:
                s.list_webhooks()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and raw_rows(pg_url, "SELECT version FROM simlib_schema") == [(SCHEMA_VERSION,)]


def test_the_store_commands(tmp_path):
    import io

    from simlib.cli import main

    path = tmp_path / "cli.sqlite3"
    with Simulator(path) as s:
        wh = s.create_webhook("cli", "https://example.com/x", [APP])
    key_before = Path(f"{path}.key").read_text()
    out = io.StringIO()
    assert main(["--store", str(path), "store", "info", "--json"], stdout=out) == 0
    assert json.loads(out.getvalue()) == {"store": str(path), "webhooks": 1, "attempts": 0}
    out = io.StringIO()
    assert main(["--store", str(path), "store", "rotate-key", "--json"], stdout=out) == 0
    assert json.loads(out.getvalue())["reencrypted"] == 1
    key_after = Path(f"{path}.key").read_text()
    assert key_after != key_before and len(key_after.split()) == 1 and wh.secret.reveal() not in out.getvalue()
    with Simulator(path) as s:  # twice in one process: the second rotation uses the new file too
        s.rotate_store_key()
        s.rotate_store_key()
        assert s.get_webhook(wh.id).secret.reveal() == wh.secret.reveal()
    assert Path(f"{path}.key").read_text() != key_after
    with Simulator(path) as s:
        assert s.get_webhook(wh.id).secret.reveal() == wh.secret.reveal()


def test_a_burst_is_recorded_on_each_backend(backend_store):
    with Simulator(backend_store) as s, Receiver() as rx:
        wh = s.create_webhook("burst", rx.url, [APP])
        rx.secrets = [wh.secret.reveal()]
        result = s.send_many(wh, APP, 30, concurrency=4, progress=False)
        frame = s.history()
        assert len(frame) == 30 and frame["id"].is_unique and (frame["result"] == "Delivered").all()
        assert rx.stats()["verified"] == 30 and not result.stopped_early
        assert frame["user"].notna().all()


def test_the_team_key_in_the_environment_does_not_lock_a_personal_store(tmp_path, monkeypatch):
    path = tmp_path / "mine.sqlite3"
    with Simulator(path) as s:
        wh = s.create_webhook("mine", "https://example.com/x", [APP])
    monkeypatch.setenv(KEY_ENV, new_key())  # set for a shared store
    with Simulator(path) as s:
        assert s.get_webhook(wh.id).secret.reveal() == wh.secret.reveal()
        other = s.create_webhook("mine too", "https://example.com/y", [APP])
    monkeypatch.delenv(KEY_ENV)
    with Simulator(path) as s:  # encrypted with the store's own key file, not the variable's key
        assert s.get_webhook(other.id).secret.reveal() == other.secret.reveal()


def test_a_malformed_key_is_one_clear_line(pg_url, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with Simulator(pg_url) as s:
        with pytest.raises(SecretKeyError) as info:
            s.list_webhooks()
    assert "is not a Fernet key" in str(info.value) and "not-a-key" not in str(info.value)
    assert "\n" not in str(info.value)


def test_both_backends_have_the_tables_of_one_definition(tmp_path, pg_url, secret_key):
    from simlib.core.store.sql import tables

    webhooks, history, _ = tables()
    expected = {
        t.name: [(c.name, bool(c.nullable) and not c.primary_key) for c in t.columns] for t in (webhooks, history)
    }
    sqlite_path = tmp_path / "def.sqlite3"
    open_store(str(sqlite_path)).check()
    open_store(pg_url).check()
    for name, columns in expected.items():
        lite = [(r[1], not r[3] and not r[5]) for r in raw_rows(str(sqlite_path), f"PRAGMA table_info({name})")]
        pg = [
            (r[0], r[1] == "YES")
            for r in raw_rows(pg_url, "SELECT column_name, is_nullable FROM information_schema.columns "
                                      f"WHERE table_name = '{name}' ORDER BY ordinal_position")
        ]
        assert lite == columns == pg, name
    assert [n for n, _ in expected["history"]][-2:] == ["user", "host"]


def test_a_hostile_user_name_is_recorded_printable_and_bounded(tmp_path, monkeypatch, receiver):
    monkeypatch.setenv("SIMLIB_USER", "eve\x1b[31m\u202e" + "x" * 500)
    with Simulator(tmp_path / "h.sqlite3") as s:
        wh = s.create_webhook("h", receiver.url, [APP])
        r = s.simulate(wh, APP)
    assert r.user is not None and r.user.startswith("eve?[31m?") and len(r.user) == 128 and r.user.isprintable()
