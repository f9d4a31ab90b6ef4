"""Store faults with real processes, real filesystems and real stores (issue 11, items 4, 6, 13,
14 and the store URL).

- Disk full after the store is open (a real tmpfs) and the file size limit (``RLIMIT_FSIZE`` in a
  subprocess, SIGXFSZ ignored): no request reaches the receiver whose row is not in the history,
  and every send that could not be recorded says so (result, ``--json``, exit code 2). The room a
  send reserves is real: a disk that fills up *while* the request is out still records it.
- A process killed between the reservation and the outcome leaves an "interrupted" row (Failed,
  "Simulation failed", no status), never nothing and never Delivered.
- A locked store (a second connection holding ``BEGIN IMMEDIATE``): one bounded wait per send,
  per burst (stopped early, one result) and per explorer action, also when the lock comes
  mid-burst.
- Another application's SQLite file is refused untouched; an empty file and the previous
  release's store are still used.
- Store files, -wal / -shm and simlib's own directory readable by others are made owner-only;
  refused with a message when they are not ours.
- A URL given as the store is refused without repeating its password.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simlib import Simulator, StoreUnavailable, ValidationError
from simlib.core.payload import event_id_for
from simlib.core.store.sqlite import Store
from simlib.receiver import Receiver
from simlib.records import INTERRUPTED
from tests.helpers import APP
from tests.ui.helpers import send_and_wait

README_CASES = {
    "store-disk-full",
    "store-file-size-limit",
    "store-interrupted",
    "store-locked-burst",
    "store-not-simlib",
    "store-readable-by-others",
    "store-url",
}

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store-v1.sqlite3"
BUSY = 3.0  # the busy timeout of the Simulators here. One wait takes BUSY, two take 2 x BUSY: the
# bound "< 2 * BUSY" leaves a whole BUSY for a stalled or loaded machine (a freeze of the test
# process lengthens a wait: SQLite sleeps its whole schedule after it) and still fails on a second wait.
CLI_BUSY = 5.0  # the CLI's (the library default)


# -- helpers -----------------------------------------------------------------------------------

SENDER = textwrap.dedent(
    """
    import json, resource, signal, sys
    from simlib import Simulator
    store, webhook, n, limit, busy = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    if limit:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    with Simulator(store, busy_timeout=busy) as sim:
        for _ in range(n):
            r = sim.simulate(webhook, "desktop.app_tracking.captured")
            print(json.dumps({"sim": r.simulation_id, "recorded": r.recorded, "delivered": r.delivered,
                              "error": r.error, "detail": r.detail, "history_id": r.history_id}), flush=True)
    """
)


def run_sender(store: Path, webhook: str, n: int, *, limit: int = 0, busy: float = BUSY) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-c", SENDER, str(store), webhook, str(n), str(limit), str(busy)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def cli(*argv: str, limit: int = 0, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    def preexec() -> None:
        if limit:
            import resource

            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    env = {k: v for k, v in os.environ.items() if k != "SIMLIB_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "simlib", *argv], capture_output=True, text=True, timeout=timeout, env=env,
        preexec_fn=preexec,
    )


def history_rows(store: Path) -> list[dict]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        cur = conn.execute("SELECT id, simulation_id, event_id, result, http_status, error, detail FROM history ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def assert_nothing_unrecorded_was_sent(rx: Receiver, store: Path, results: list[dict]) -> list[dict]:
    """Every request the receiver saw is a complete row; every result not recorded was not
    delivered and says why; delivered results are exactly the rows that say Delivered."""
    rows = history_rows(store)
    by_sim = {row["simulation_id"]: row for row in rows}
    received = [event_id_for(req.body) for req in rx.requests]
    complete = {row["event_id"] for row in rows if row["result"] == "Delivered"}
    assert set(received) <= complete, "a request reached the receiver without its row in the history"
    assert len(received) == sum(r["delivered"] for r in results) == len(complete)
    for r in results:
        if r["delivered"]:
            assert r["recorded"] and by_sim[r["sim"]]["result"] == "Delivered"
        if not r["recorded"]:
            assert not r["delivered"] and r["error"] == "Service unavailable"
            assert "not recorded in history" in r["detail"] and r["sim"] not in by_sim
    assert not any(row["detail"] == INTERRUPTED for row in rows)  # the room was there: all completed
    return rows


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real, small filesystem: a 4 MiB tmpfs mounted for this test (root only)."""
    target = tmp_path / "fs"
    target.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield target
    finally:
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)


def fill(directory: Path, leave: int = 0, name: str = "filler") -> None:
    """Fill the filesystem of ``directory`` until ``leave`` bytes are free (0: completely)."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    fd = os.open(directory / name, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        if leave:
            os.write(fd, b"\0" * max(0, free - leave))
        else:
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
    finally:
        os.close(fd)


def make_webhook(store: Path, url: str) -> str:
    with Simulator(store) as sim:
        return sim.create_webhook("faults", url, [APP]).id


# -- item 4: disk full, file size limit --------------------------------------------------------------


def test_disk_full_sends_nothing_that_is_not_recorded(small_fs: Path) -> None:
    store = small_fs / "simlib.sqlite3"
    with Receiver() as rx:
        wid = make_webhook(store, rx.url)
        fill(small_fs, leave=300_000)  # room for a few sends, then none
        results = run_sender(store, wid, 30)
        assert any(r["delivered"] for r in results), "the disk had room for some sends"
        refused = [r for r in results if not r["delivered"]]
        assert refused, "the disk ran out during the run"
        for r in refused:
            assert r["error"] == "Service unavailable", r
            assert "disk holding the store is full" in r["detail"] and "nothing was sent" in r["detail"], r
        # Room again for a moment: the store checkpoints and drops its WAL (and the room the WAL
        # kept) on close; then completely full: not even the error row fits.
        (small_fs / "filler").unlink()
        assert cli("--store", str(store), "webhooks", "list").returncode == 0
        assert not Path(f"{store}-wal").exists()
        fill(small_fs, name="filler2")
        sent_before = rx.count
        done = cli("--store", str(store), "send", wid, APP, "--json")
        assert done.returncode == 2, done.stderr
        out = json.loads(done.stdout)
        assert out["error"] == "Service unavailable" and out["recorded"] is False and out["result"] == "Failed"
        assert "not recorded in history" in out["detail"]
        human = cli("--store", str(store), "send", wid, APP)
        assert human.returncode == 2 and "NOT recorded" in human.stdout
        assert rx.count == sent_before  # nothing sent
        (small_fs / "filler2").unlink()
        assert_nothing_unrecorded_was_sent(rx, store, results)


def test_file_size_limit_sends_nothing_that_is_not_recorded(tmp_path: Path) -> None:
    store = tmp_path / "simlib.sqlite3"
    with Receiver() as rx:
        wid = make_webhook(store, rx.url)
        limit = store.stat().st_size + 350_000  # the WAL reaches it after a few sends
        results = run_sender(store, wid, 30, limit=limit)
        assert any(r["delivered"] for r in results)
        refused = [r for r in results if not r["delivered"]]
        assert refused
        for r in refused:
            assert r["error"] == "Service unavailable", r
            assert "file size limit" in r["detail"] and "nothing was sent" in r["detail"], r
        # The CLI under a limit the store has no room in: exit 2, nothing sent.
        sent_before = rx.count
        done = cli("--store", str(store), "send", wid, APP, "--json", limit=store.stat().st_size + 4096)
        assert done.returncode == 2, done.stderr
        assert json.loads(done.stdout)["error"] == "Service unavailable" and rx.count == sent_before
        rows = history_rows(store)
        received = {event_id_for(req.body) for req in rx.requests}
        assert received <= {row["event_id"] for row in rows if row["result"] == "Delivered"}
        assert len(received) == sum(r["delivered"] for r in results)
        assert all(r["recorded"] for r in results if r["delivered"])


def test_the_reserved_room_is_real_a_disk_that_fills_during_the_request_still_records_it(small_fs: Path) -> None:
    store = small_fs / "simlib.sqlite3"
    # The endpoint fills the disk completely while the request is out: the outcome is written into
    # the room reserved before the send (without it the completion finds no space).
    with Receiver(on_request=lambda _r: fill(small_fs)) as rx:
        wid = make_webhook(store, rx.url)
        results = run_sender(store, wid, 1)
        assert rx.count == 1
    assert results[0]["delivered"] and results[0]["recorded"], results[0]["detail"]
    (small_fs / "filler").unlink()
    (row,) = history_rows(store)
    assert row["result"] == "Delivered" and row["http_status"] == 200


def test_a_burst_on_a_filling_disk_stops_early_and_sends_nothing_unrecorded(small_fs: Path) -> None:
    store = small_fs / "simlib.sqlite3"
    with Receiver() as rx:
        wid = make_webhook(store, rx.url)
        fill(small_fs, leave=1_500_000)
        with Simulator(store, busy_timeout=BUSY) as sim:
            burst = sim.send_many(wid, APP, 2000, concurrency=8, progress=False)
        (small_fs / "filler").unlink()
        assert burst.stopped_early and "full" in burst.stopped_early
        assert 0 < len(burst.results) < 2000
        rows = history_rows(store)
        received = {event_id_for(req.body) for req in rx.requests}
        recorded = {row["event_id"] for row in rows if row["result"] == "Delivered"}
        interrupted = {row["event_id"] for row in rows if row["detail"] == INTERRUPTED}
        assert received <= recorded | interrupted  # every request sent has its row
        for r in burst.results:
            assert r.recorded or "not recorded in history" in r.detail


def test_a_burst_with_no_room_for_its_first_sends_gives_one_result(small_fs: Path) -> None:
    store = small_fs / "simlib.sqlite3"
    with Receiver() as rx:
        wid = make_webhook(store, rx.url)
        fill(small_fs, leave=200_000)  # room to open the store, not for a chunk of reservations
        with Simulator(store, busy_timeout=BUSY) as sim:
            burst = sim.send_many(wid, APP, 50, concurrency=10, progress=False)
        assert rx.count == 0
    assert burst.stopped_early and "full" in burst.stopped_early
    (r,) = burst.results
    assert r.error == "Service unavailable" and "nothing was sent" in r.detail and not r.delivered


def test_a_completion_the_store_cannot_take_is_not_a_success(tmp_path: Path) -> None:
    store = tmp_path / "simlib.sqlite3"
    lock = sqlite3.connect(store, isolation_level=None, check_same_thread=False)
    try:
        # The write lock is taken while the endpoint answers: the row was reserved, the request
        # delivered, and only its outcome cannot be written.
        with Receiver(on_request=lambda _r: lock.execute("BEGIN IMMEDIATE")) as rx:
            wid = make_webhook(store, rx.url)
            t0 = time.monotonic()
            done = cli("--store", str(store), "send", wid, APP, "--json")
            elapsed = time.monotonic() - t0
        lock.execute("ROLLBACK")
    finally:
        lock.close()
    assert done.returncode == 2, done.stderr  # delivered, but not recorded: not exit 0
    out = json.loads(done.stdout)
    assert out["result"] == "Delivered" and out["recorded"] is False and "not recorded in history" in out["detail"]
    assert "interrupted" in out["detail"]
    assert elapsed < 1.5 * CLI_BUSY + 5  # one wait (plus the interpreter's start)
    (row,) = history_rows(store)  # the reserved row tells the truth: it never became Delivered
    assert row["detail"] == INTERRUPTED and row["result"] == "Failed" and row["error"] == "Simulation failed"
    assert row["http_status"] is None


def test_an_outcome_larger_than_its_reserved_room_is_cut_to_fit(tmp_path: Path) -> None:
    from dataclasses import replace

    from simlib.core.classify import pending_row
    from simlib.core.store.sqlite import row_bytes

    with Simulator(tmp_path / "s.sqlite3") as sim:
        wh = sim.create_webhook("fit", "https://example.com/x", [APP])
        p = sim.preview(wh, APP, seed=1)
        pending = pending_row(p, "sim-1", wh, {"x-webhook-signature": "abc"}, 1)
        (hid,) = sim.store.reserve([pending], outcome_bytes=4000)
        huge = {f"x-h{i}": "\u00ff" * 100 for i in range(100)}  # ~60 KB as JSON
        final = replace(pending, result="Delivered", error=None, http_status=200, detail="Delivered: 200 OK",
                        response_headers=huge, response_body="ok")
        sim.store.complete(hid, final)
        row = sim.history_row(hid)
    assert row["result"] == "Delivered" and row["response_body"] == "ok"
    assert 0 < len(row["response_headers"]) < 100 and "not all of it is recorded" in row["detail"]
    stored = replace(final, response_headers=row["response_headers"], detail=row["detail"])
    assert row_bytes(stored) <= row_bytes(pending) + 4000


# -- item 4: a crash between the reservation and the outcome ---------------------------------------


def test_kill_between_reserve_and_complete_leaves_an_interrupted_row(tmp_path: Path) -> None:
    store = tmp_path / "simlib.sqlite3"
    arrived, release = threading.Event(), threading.Event()

    def hold(_request: object) -> None:
        arrived.set()
        release.wait(20)

    with Receiver(on_request=hold) as rx:
        wid = make_webhook(store, rx.url)
        sender = subprocess.Popen(
            [sys.executable, "-c", SENDER, str(store), wid, "1", "0", str(BUSY)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert arrived.wait(30), sender.stderr.read() if sender.poll() is not None else "no request"
            os.kill(sender.pid, signal.SIGKILL)
            sender.wait(timeout=10)
        finally:
            release.set()
            sender.stdout.close()  # type: ignore[union-attr]
            sender.stderr.close()  # type: ignore[union-attr]
        assert rx.count == 1
    (row,) = history_rows(store)
    assert row["detail"] == INTERRUPTED and row["result"] == "Failed" and row["error"] == "Simulation failed"
    assert row["event_id"] == event_id_for(rx.requests[0].body)
    with Simulator(store) as sim:
        frame = sim.history()
    assert frame["result"].tolist() == ["Failed"] and frame["detail"].str.startswith("interrupted").all()


# -- item 6: one bounded wait per operation --------------------------------------------------------

LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK")
    """
)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[Path, Receiver, str]]:
    """A store with a webhook, write-locked by another process (a second sqlite3 connection
    holding BEGIN IMMEDIATE) until the test ends."""
    store = tmp_path / "simlib.sqlite3"
    with Receiver() as rx:
        wid = make_webhook(store, rx.url)
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(store)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert locker.stdout.readline().strip() == "locked"  # type: ignore[union-attr]
            yield store, rx, wid
        finally:
            locker.communicate("\n", timeout=10)


def test_a_send_on_a_locked_store_waits_once(locked: tuple[Path, Receiver, str]) -> None:
    store, rx, wid = locked
    with Simulator(store, busy_timeout=BUSY) as sim:
        t0 = time.monotonic()
        r = sim.simulate(wid, APP)
        elapsed = time.monotonic() - t0
    assert r.error == "Service unavailable" and not r.recorded and "locked" in r.detail
    assert elapsed < 2 * BUSY, f"{elapsed:.2f} s: more than one wait for the lock"
    assert rx.count == 0


def test_a_burst_on_a_locked_store_stops_early_with_one_result(locked: tuple[Path, Receiver, str]) -> None:
    store, rx, wid = locked
    with Simulator(store, busy_timeout=BUSY) as sim:
        t0 = time.monotonic()
        burst = sim.send_many(wid, APP, 8, progress=False)
        elapsed = time.monotonic() - t0
    assert elapsed < 2 * BUSY, f"{elapsed:.2f} s for 8 attempts: one wait per attempt?"
    assert burst.stopped_early and "store is unavailable" in burst.stopped_early and "locked" in burst.stopped_early
    (r,) = burst.results
    assert r.error == "Service unavailable" and not r.recorded
    assert rx.count == 0
    # The CLI: one wait of its busy timeout, a line saying why, exit 2.
    t0 = time.monotonic()
    done = cli("--store", str(store), "burst", wid, APP, "-n", "8", "--no-progress")
    elapsed = time.monotonic() - t0
    assert done.returncode == 2, done.stdout + done.stderr
    assert "stopped early" in done.stderr and "locked" in done.stderr
    assert elapsed < 1.5 * CLI_BUSY + 5
    assert rx.count == 0


def test_a_lock_taken_mid_burst_stops_it_after_one_wait(tmp_path: Path) -> None:
    store = tmp_path / "simlib.sqlite3"
    lock = sqlite3.connect(store, isolation_level=None, check_same_thread=False)
    seen = [0]

    def lock_after_twenty(_request: object) -> None:
        seen[0] += 1
        if seen[0] == 20:
            lock.execute("BEGIN IMMEDIATE")

    try:
        with Receiver(on_request=lock_after_twenty) as rx:
            wid = make_webhook(store, rx.url)
            with Simulator(store, busy_timeout=BUSY) as sim:
                t0 = time.monotonic()
                burst = sim.send_many(wid, APP, 500, concurrency=4, progress=False)
                elapsed = time.monotonic() - t0
            received = [event_id_for(req.body) for req in rx.requests]
        lock.execute("ROLLBACK")
    finally:
        lock.close()
    assert burst.stopped_early and "locked" in burst.stopped_early
    assert elapsed < 2 * BUSY, f"{elapsed:.2f} s"  # one wait, plus the 20 sends before it
    assert len(received) < 500 and len(burst.results) == len(received)
    rows = history_rows(store)
    assert set(received) <= {row["event_id"] for row in rows}  # each one sent has its row ...
    for r in burst.results:  # ... complete, or interrupted and said so in the result
        assert r.recorded or ("not recorded in history" in r.detail and "interrupted" in r.detail)


def test_the_cli_burst_that_stopped_early_exits_2(tmp_path: Path) -> None:
    store = tmp_path / "simlib.sqlite3"
    lock = sqlite3.connect(store, isolation_level=None, check_same_thread=False)
    seen = [0]

    def lock_after_ten(_request: object) -> None:
        seen[0] += 1
        if seen[0] == 10:
            lock.execute("BEGIN IMMEDIATE")

    try:
        with Receiver(on_request=lock_after_ten) as rx:
            wid = make_webhook(store, rx.url)
            t0 = time.monotonic()
            done = cli("--store", str(store), "burst", wid, APP, "-n", "300", "-c", "2", "--no-progress")
            elapsed = time.monotonic() - t0
            sent = rx.count
        lock.execute("ROLLBACK")
    finally:
        lock.close()
    # Every attempt that went out was delivered, yet the history could not take them all: exit 2.
    assert done.returncode == 2, done.stdout + done.stderr
    assert "stopped early" in done.stderr and "not recorded in history" in done.stderr
    assert 10 <= sent < 300 and elapsed < 1.5 * CLI_BUSY + 10


def test_the_explorer_waits_once_too(locked: tuple[Path, Receiver, str]) -> None:
    from simlib.ui import Explorer

    store, rx, wid = locked
    sim = Simulator(store, busy_timeout=BUSY)
    explorer = Explorer(sim, seed=3)
    try:
        explorer.select(wid, APP)
        t0 = time.monotonic()
        send_and_wait(explorer)
        assert time.monotonic() - t0 < 2 * BUSY
        assert explorer.last_result is not None and explorer.last_result.error == "Service unavailable"
        explorer.burst_count.value = 8
        t0 = time.monotonic()
        explorer.burst_run.click()
        burst = explorer.wait_for_burst(timeout=30)
        assert time.monotonic() - t0 < 2 * BUSY
        assert burst is not None and burst.stopped_early and len(burst.results) == 1
        assert rx.count == 0
    finally:
        explorer.close()
        sim.close()


# -- item 13: another application's SQLite file ---------------------------------------------------


def _foreign(path: Path, *, journal: str = "delete", version: int = 0) -> bytes:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('my own data')")
    conn.execute(f"PRAGMA user_version={version}")
    conn.close()
    return path.read_bytes()


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "-"))


@pytest.mark.parametrize("journal, version", [("delete", 0), ("wal", 0), ("delete", 1), ("delete", 7)])
def test_another_applications_database_is_refused_untouched(tmp_path: Path, journal: str, version: int) -> None:
    path = tmp_path / "app.db"
    before = _foreign(path, journal=journal, version=version)
    mode = stat.S_IMODE(path.stat().st_mode)
    store = Store(path)
    with pytest.raises(StoreUnavailable) as info:
        store.list_webhooks()
    store.close()
    message = str(info.value)
    assert "not a simlib store" in message and str(path) in message and "\n" not in message
    with Simulator(path) as sim:  # a send answers Service unavailable, and sends nothing
        assert sim.simulate("wh_x", APP).error in ("Service unavailable", "Webhook not found")
    done = cli("--store", str(path), "webhooks", "list")
    assert done.returncode == 2 and "not a simlib store" in done.stderr and done.stderr.count("\n") == 1
    assert path.read_bytes() == before  # byte for byte
    assert _siblings(path) == []  # no -wal / -shm / -journal left behind
    assert stat.S_IMODE(path.stat().st_mode) == mode
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == journal
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    finally:
        conn.close()


def test_an_empty_file_and_the_previous_release_are_still_stores(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.touch(mode=0o600)
    with Simulator(empty) as sim:
        sim.create_webhook("e", "https://example.com/x", [APP])
        assert len(sim.list_webhooks()) == 1
    old = tmp_path / "v1.sqlite3"
    shutil.copy(FIXTURE, old)
    old.chmod(0o600)
    with Simulator(old) as sim:
        assert len(sim.list_webhooks()) == 2 and len(sim.history()) == 5
    conn = sqlite3.connect(old)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 2
    finally:
        conn.close()


# -- item 14: files and directories readable by others --------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_store_readable_by_others_is_made_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    with Simulator(home / "simlib.sqlite3") as sim:
        sim.create_webhook("s", "https://example.com/x", [APP])
    store = home / "simlib.sqlite3"
    home.chmod(0o755)
    store.chmod(0o644)
    wal, shm = Path(f"{store}-wal"), Path(f"{store}-shm")
    for leftover in (wal, shm):  # left by a crash, readable by all
        leftover.touch()
        leftover.chmod(0o644)
    monkeypatch.setenv("SIMLIB_HOME", str(home))
    with Simulator() as sim:  # simlib's own directory: the directory is tightened too
        assert len(sim.list_webhooks()) == 1
        assert _mode(store) == 0o600 and _mode(home) == 0o700
        assert _mode(wal) == 0o600 and _mode(shm) == 0o600
        sim.create_webhook("t", "https://example.com/y", [APP])
    # An explicit path: the file is the store's, the directory the caller's (left as it is).
    shared = tmp_path / "project"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    explicit = shared / "store.sqlite3"
    with Simulator(explicit) as sim:
        sim.list_webhooks()
    explicit.chmod(0o640)
    with Simulator(explicit) as sim:
        sim.list_webhooks()
        assert _mode(explicit) == 0o600 and _mode(shared) == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file another user owns needs root (chown)")
def test_a_store_readable_by_others_and_not_ours_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "theirs.sqlite3"
    with Simulator(store) as sim:
        sim.create_webhook("s", "https://example.com/x", [APP])
    store.chmod(0o644)
    os.chown(store, 65534, 65534)
    before = store.read_bytes()
    with pytest.raises(StoreUnavailable) as info:
        Store(store).list_webhooks()
    message = str(info.value)
    assert "other users" in message and "owner-only" in message and "0644" in message and "\n" not in message
    assert f"chmod go= {store}" in message
    assert _mode(store) == 0o644 and store.read_bytes() == before
    done = cli("--store", str(store), "webhooks", "list")
    assert done.returncode == 2 and "owner-only" in done.stderr


# -- the store URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://admin:s3cr3t-pw@db.example.com:5432/simlib", "postgresql://db.example.com"),
        ("postgres://admin:s3cr3t-pw/x@db.example.com/simlib", "postgres://"),
        ("sqlite:///tmp/s3cr3t-pw.db", "sqlite://"),
        ("mysql://:s3cr3t-pw@[::1]/db", "mysql://"),
    ],
)
def test_a_url_is_refused_without_echoing_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, shown: str
) -> None:
    monkeypatch.chdir(tmp_path)
    makers = (Store,) if url.startswith("postgresql://") else (Store, Simulator)  # Simulator opens PostgreSQL
    for make in makers:
        with pytest.raises(ValidationError) as info:
            make(url)
        message = str(info.value)
        assert info.value.field == "store" and shown in message and "s3cr3t" not in message and "\n" not in message
    monkeypatch.setenv("SIMLIB_HOME", url)
    with pytest.raises(ValidationError) as info:
        Store()
    assert info.value.field == "SIMLIB_HOME" and "s3cr3t" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no ./postgresql:/... directory


def test_replay_and_import_on_a_locked_store_wait_once(tmp_path: Path) -> None:
    """Siblings of item 6: a replay reads its row and then sends, an import sends twice (as
    captured, then re-signed): each waits for a locked store once, not once per step."""
    store = tmp_path / "simlib.sqlite3"
    with Receiver() as rx:
        wid = make_webhook(store, rx.url)
        with Simulator(store, busy_timeout=BUSY) as sim:
            first = sim.simulate(wid, APP)
            assert first.delivered and first.history_id is not None
            req = rx.wait_for(1)[0]
            capture = (b"POST /webhooks/trackpilots HTTP/1.1\r\n"
                       + b"".join(f"{k}: {v}\r\n".encode() for k, v in req.headers) + b"\r\n" + req.body)
            locker = subprocess.Popen(
                [sys.executable, "-c", LOCKER, str(store)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            try:
                assert locker.stdout.readline().strip() == "locked"  # type: ignore[union-attr]
                t0 = time.monotonic()
                rr = sim.replay(first.history_id)
                replay_s = time.monotonic() - t0
                t0 = time.monotonic()
                imp = sim.import_delivery(capture, wid)
                import_s = time.monotonic() - t0
            finally:
                locker.communicate("\n", timeout=10)
        assert rx.count == 1  # nothing more was sent
    assert rr.result.error == "Service unavailable" and not rr.result.recorded
    assert replay_s < 2 * BUSY, f"replay: {replay_s:.2f} s"
    assert imp.resigned.error == "Service unavailable" and not imp.resigned.recorded
    assert import_s < 2 * BUSY, f"import: {import_s:.2f} s, one wait per send?"


_ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),  # lone surrogates
    st.binary(max_size=30), st.builds(bytearray, st.binary(max_size=5)),
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_row_sizes_of_the_hot_path_are_the_general_ones(data: st.DataObject) -> None:
    """Issue 12: the INSERT's and the completions' parameters are sized by one sizer per layout
    (texts joined, blobs by position); it gives what the general _params_bytes gives -- for the
    values a record holds and for values of other types than the column's."""
    from simlib.core.store import sqlite as store_sqlite

    text = st.text(max_size=40) | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3)
    by_kind = {"text": st.none() | text, "json": text, "bytes": st.binary(max_size=200),
               "int": st.none() | st.integers(), "time_ms": st.integers(), "float": st.none() | st.floats(),
               "bool": st.booleans()}
    for layout, names in (
        ("insert", [s.name for s in store_sqlite.stored_fields()]),
        ("outcome", list(store_sqlite._param_builders(store_sqlite.Attempt)[2])),
    ):
        kinds = store_sqlite._kinds(names)
        values = [data.draw(by_kind[k]) for k in kinds]
        if data.draw(st.booleans()):  # now and then a value of any type anywhere
            values[data.draw(st.integers(0, len(values) - 1))] = data.draw(_ANY_VALUE)
        assert store_sqlite._SIZE_OF[layout](values) == store_sqlite._params_bytes(values)
