"""Burst engine (issue 12): N sends at concurrency 32 against one receiver, in one run:

- simlib ``send_many`` (fresh payload per send, signed, classified, every attempt recorded) on
  its default engine ("auto": curl), and, for reference, on ``engine="aiohttp"``;
- a bare aiohttp loop sending pre-signed requests            -> target simlib >= 0.7x;
- Locust, 32 FastHttpUsers (geventhttpclient), the same pre-signed requests, headless in a
  subprocess                                                 -> target simlib >= 1.0x;
- a bare ``httpx.AsyncClient`` loop, pre-signed (reference: the engine bursts used before);
- a bare pycurl ``CurlMulti`` loop (``perform``/``select``), pre-signed, right after each
  simlib round: the curl engine's floor -- simlib's CPU per send less its own work less this
  is the engine's Python around libcurl (event-loop callbacks, the burst loop, classification);
- simlib's own work per send without the network (payload, JSON, HMAC, history rows, result)
                                                             -> target <= 30 us.

All senders hit the same receiver: the embedded receiver in its own process
(``ReceiverProcess``), verifying every signature. As the issue measures, the receiver is pinned to
one CPU and every sender to another (this process, and Locust and the bare loops, which inherit
it; ``BENCH_BURST_PIN=0`` leaves scheduling to the kernel). Each sender's rate is printed twice:
as the sender reports it (simlib: sends / the burst's elapsed time, its start-up and tail
included; Locust: its own "Requests/s"), and at the receiver -- its request count, sampled every
50 ms from a thread here, over the middle of each run (the same instrument for every sender, no
start-up, ramp-up or tail in it). ``BENCH_BURST_N`` (default 5000) and
``BENCH_BURST_ROUNDS`` (default 5) make a run shorter or longer; each round runs the four
senders back to back (Locust for ``BENCH_BURST_LOCUST_S`` seconds, default 5), and the ratios
are the medians of the per-round ratios. CPU microseconds per request are printed for every
sender (Locust's from its subprocess's CPU time): on a shared machine they are steadier than
throughput. Locust's CPU includes its start-up (a Python process importing gevent and
Locust); its steady-state figure subtracts a short run made once before the rounds
(``BENCH_BURST_LOCUST_SHORT_S`` seconds, default 1): (CPU of a round - CPU of the short run) /
(requests of the round - requests of the short run).

``--own-work`` measures only simlib's own work per send (no receiver, no network) and prints
``PASS`` or ``MISSED`` against the 30 us target, with the split by stage.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pycurl
from _common import SECRET, machine, median, temp_store, verdict

from simlib import Simulator, sign
from simlib.receiver import ReceiverProcess

EVENT = "desktop.app_tracking.captured"
N = int(os.environ.get("BENCH_BURST_N", "5000"))
ROUNDS = int(os.environ.get("BENCH_BURST_ROUNDS", "5"))
LOCUST_S = int(os.environ.get("BENCH_BURST_LOCUST_S", "5"))
LOCUST_SHORT_S = int(os.environ.get("BENCH_BURST_LOCUST_SHORT_S", "1"))
CONCURRENCY = 32

LOCUSTFILE = '''
import itertools, json
from locust import FastHttpUser, constant, task

with open({requests!r}) as f:
    REQUESTS = [(r["body"].encode(), r["headers"]) for r in json.load(f)]
CYCLE = itertools.cycle(REQUESTS)


class Sender(FastHttpUser):
    wait_time = constant(0)
    host = {host!r}

    @task
    def post(self):
        body, headers = next(CYCLE)
        with self.client.post({path!r}, data=body, headers=headers, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"status {{resp.status_code}}")
'''


def presigned(body: bytes, now_ms: int, count: int) -> list[dict[str, str]]:
    return [{**sign(SECRET, body, now_ms + i), "user-agent": "bench"} for i in range(count)]


async def bare_aiohttp(url: str, body: bytes, requests: list[dict[str, str]]) -> float:
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        it = iter(requests)

        async def worker() -> None:
            for headers in it:
                async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return len(requests) / (time.perf_counter() - start)


def bare_pycurl(url: str, body: bytes, requests: list[dict[str, str]]) -> float:
    """A bare pycurl ``CurlMulti`` loop (``perform`` / ``select``, no event loop, no callbacks
    of its own) of the same pre-signed requests: the floor under the curl engine, in the same
    run, so that the engine's Python around libcurl shows as the difference."""
    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, CONCURRENCY)
    handles = []
    for _ in range(CONCURRENCY):
        c = pycurl.Curl()
        c.setopt(pycurl.URL, url)
        c.setopt(pycurl.POST, 1)
        c.setopt(pycurl.TCP_NODELAY, 1)
        c.setopt(pycurl.WRITEFUNCTION, len)  # the body read and dropped
        handles.append(c)
    it = iter(requests)

    def start(c: pycurl.Curl) -> int:
        headers = next(it, None)
        if headers is None:
            return 0
        c.setopt(pycurl.POSTFIELDS, body)
        c.setopt(pycurl.HTTPHEADER, [*[f"{k}: {v}" for k, v in headers.items()], "Accept:", "Expect:"])
        multi.add_handle(c)
        return 1

    def finished(c: pycurl.Curl) -> None:
        assert c.getinfo(pycurl.RESPONSE_CODE) == 200

    begin = time.perf_counter()
    curl_loop(multi, handles, start, finished)
    rate = len(requests) / (time.perf_counter() - begin)
    multi.close()
    for c in handles:
        c.close()
    return rate


def curl_loop(multi: pycurl.CurlMulti, handles: list[pycurl.Curl], start: Callable[[pycurl.Curl], int],
              finished: Callable[[pycurl.Curl], None]) -> None:
    """A plain ``CurlMulti`` loop (``perform`` / ``select``) until no transfer is left:
    ``start(c)`` starts the next transfer on the free handle ``c`` (1; 0 when none is left),
    ``finished(c)`` takes a transfer that ended, before its handle starts the next."""
    active = sum(start(c) for c in handles)
    while active:
        while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        while True:
            queued, ok, failed = multi.info_read()
            assert not failed, failed
            for c in ok:
                multi.remove_handle(c)
                finished(c)
                active += start(c) - 1
            if not queued:
                break
        if active:
            multi.select(1.0)


async def bare_httpx(url: str, body: bytes, requests: list[dict[str, str]]) -> float:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits) as client:
        it = iter(requests)

        async def worker() -> None:
            for headers in it:
                resp = await client.post(url, content=body, headers=headers)
                assert resp.status_code == 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return len(requests) / (time.perf_counter() - start)


def locust(url: str, body: bytes, requests: list[dict[str, str]], seconds: int = LOCUST_S) -> tuple[float, str, float, int, float]:
    """Requests/s of a headless Locust run (32 FastHttpUsers) of ``seconds``, its failure count,
    its CPU microseconds per request (the subprocess's user + system time, start-up included),
    its request count and its CPU seconds."""
    exe = shutil.which("locust", path=os.path.dirname(sys.executable)) or shutil.which("locust")
    if exe is None:
        return float("nan"), "locust is not installed", float("nan"), 0, float("nan")
    work = Path(tempfile.mkdtemp(prefix="simlib-bench-locust-"))
    (work / "requests.json").write_text(json.dumps([{"body": body.decode(), "headers": h} for h in requests]))
    host, _, path = url.partition("/hook")
    (work / "locustfile.py").write_text(
        LOCUSTFILE.format(requests=str(work / "requests.json"), host=host, path="/hook" + path)
    )
    cmd = [
        exe, "-f", str(work / "locustfile.py"), "--headless", "-u", str(CONCURRENCY), "-r", str(CONCURRENCY),
        "-t", f"{seconds}s", "--only-summary", "--csv", str(work / "run"), "--loglevel", "ERROR",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(work / "run_stats.csv", newline="") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    agg = rows["Aggregated"]
    count = int(agg["Request Count"]) or 1
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # includes its start-up
    note = f"{agg['Request Count']} requests, {agg['Failure Count']} failures"
    return float(agg["Requests/s"]), note, used / count * 1e6, int(agg["Request Count"]), used


OWN_WORK_TARGET_US = 30.0


def _work_parts(sim: Simulator, wh_id: str) -> tuple[Any, ...]:
    """What a burst makes once before its sends: the webhook, its payload series, its signer,
    the room an outcome may take, and an answer to record."""
    from simlib.core.classify import outcome_bytes
    from simlib.core.delivery.http import Outcome, header_signer

    wh = sim.get_webhook(wh_id)
    answer = Outcome(http_status=200, latency_ms=1.0, response_body='{"ok":true}', detail="Delivered: 200 OK",
                     response_headers={"content-type": "application/json", "content-length": "11"})
    return (wh, sim.preview_series(wh, EVENT), header_signer(wh.secret, sim.delivery),
            outcome_bytes(sim.delivery, headers_known=False), answer)


def own_work_us(sim: Simulator, wh_id: str, count: int = 3000) -> float:
    """simlib's per-send work in a burst without the network, in CPU microseconds per send: what
    a burst does for each send apart from the HTTP exchange -- a fresh payload, the pending row
    (history rows reserved in chunks of 32), the HMAC, the completed row (completed in batches
    of 100) and the result -- interleaved as in a burst, with nothing timed inside the loop."""
    from simlib.core.classify import make_history_row, pending_row, result_from_row
    from simlib.core.ids import new_uuid4

    wh, series, sign_for, room, answer = _work_parts(sim, wh_id)
    store, now_ms = sim.store, sim.now_ms
    start = time.process_time()  # CPU time: the machine is shared, waiting is not work
    done: list[tuple[int, Any]] = []
    for base in range(0, count, CONCURRENCY):
        now = now_ms()
        previews = [series(base + j) for j in range(CONCURRENCY)]
        ids_ = [new_uuid4() for _ in previews]
        hids = store.reserve([pending_row(p, s, wh, {}, now) for p, s in zip(previews, ids_, strict=True)], outcome_bytes=room)
        for p, s, hid in zip(previews, ids_, hids, strict=True):
            ts = now_ms()
            done.append((hid, make_history_row(p, s, wh, sign_for(p.body, ts), ts, answer)))
            if len(done) >= 100:
                store.complete_many(done)
                for _, row in done:
                    result_from_row(row, history_id=0)
                done = []
    if done:
        store.complete_many(done)
    sent = -(-count // CONCURRENCY) * CONCURRENCY
    return (time.process_time() - start) / sent * 1e6


def own_work_stages(sim: Simulator, wh_id: str, count: int = 3008) -> dict[str, float]:
    """The same work as :func:`own_work_us`, a stage at a time over all ``count`` sends (each
    stage timed once, on ``perf_counter``): microseconds per send by stage. Not the judged
    figure: a stage run on its own keeps the caches warmer than the interleaved loop."""
    from simlib.core.classify import make_history_row, pending_row, result_from_row
    from simlib.core.ids import new_uuid4

    wh, series, sign_for, room, answer = _work_parts(sim, wh_id)
    store, now_ms, clock = sim.store, sim.now_ms, time.perf_counter
    t0 = clock()
    previews = [series(i) for i in range(count)]
    t1 = clock()
    ids_ = [new_uuid4() for _ in previews]
    now = now_ms()
    hids = [h for b in range(0, count, CONCURRENCY) for h in store.reserve(
        [pending_row(p, s, wh, {}, now) for p, s in zip(previews[b:b + CONCURRENCY], ids_[b:b + CONCURRENCY], strict=True)],
        outcome_bytes=room)]
    t2 = clock()
    ts = now_ms()
    headers = [sign_for(p.body, ts) for p in previews]
    t3 = clock()
    rows = [make_history_row(p, s, wh, h, ts, answer) for p, s, h in zip(previews, ids_, headers, strict=True)]
    t4 = clock()
    for b in range(0, count, 100):
        store.complete_many(list(zip(hids[b:b + 100], rows[b:b + 100], strict=True)))
    t5 = clock()
    for row in rows:
        result_from_row(row, history_id=0)
    t6 = clock()
    marks = (t0, t1, t2, t3, t4, t5, t6)
    names = ("payload", "reserve", "sign", "row", "complete", "result")
    return {name: (marks[i + 1] - marks[i]) / count * 1e6 for i, name in enumerate(names)}


def sqlite_floor_us(sim: Simulator, wh_id: str, count: int = 3000) -> float:
    """The history writes of :func:`own_work_us` alone, on a bare ``sqlite3`` connection to the
    same store file with the store's settings (WAL, ``synchronous=NORMAL``, its page cache and
    checkpoint interval): the same pending rows INSERTed 32 per transaction and the same
    completions' UPDATEs 100 per transaction, their parameters made before the clock starts.
    CPU microseconds per send: the floor the two writes per send put under the own work (what
    SQLite and the kernel do for them, with no simlib code around them)."""
    import sqlite3

    from simlib.core.classify import make_history_row, pending_row
    from simlib.core.ids import new_uuid4
    from simlib.core.store import sqlite as store_sql

    wh, series, sign_for, _, answer = _work_parts(sim, wh_id)
    now = sim.now_ms()
    previews = [series(i) for i in range(count)]
    ids_ = [new_uuid4() for _ in previews]
    inserts = [store_sql._history_params(pending_row(p, s, wh, {}, now)) for p, s in zip(previews, ids_, strict=True)]
    outcomes = [store_sql._outcome_params(make_history_row(p, s, wh, sign_for(p.body, now), now, answer))
                for p, s in zip(previews, ids_, strict=True)]
    conn = sqlite3.connect(str(sim.store.path), isolation_level=None)
    try:
        for pragma in ("synchronous=NORMAL", f"cache_size=-{store_sql.PAGE_CACHE_KIB}",
                       f"wal_autocheckpoint={store_sql.WAL_AUTOCHECKPOINT_PAGES}"):
            conn.execute(f"PRAGMA {pragma}")
        insert, complete = store_sql._INSERT_HISTORY, store_sql._COMPLETE_HISTORY
        start = time.process_time()
        hids: list[int] = []
        for base in range(0, count, CONCURRENCY):
            chunk = inserts[base:base + CONCURRENCY]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, chunk)
            last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
            conn.execute("COMMIT")
            hids.extend(range(last - len(chunk) + 1, last + 1))
        for base in range(0, count, 100):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(complete, [(*v, h) for v, h in zip(outcomes[base:base + 100], hids[base:base + 100], strict=True)])
            conn.execute("COMMIT")
        return (time.process_time() - start) / count * 1e6
    finally:
        conn.close()


def own_work(sim: Simulator, wh_id: str, rounds: int = 5) -> float:
    """Print simlib's own work per send (the least noise-inflated of ``rounds`` runs, with its
    split by stage) and its verdict against the target; returns it."""
    own_work_us(sim, wh_id, 320)  # warm-up
    runs, floors = [], []
    for _ in range(rounds):  # alternately: the machine's noise moves both alike
        runs.append(own_work_us(sim, wh_id))
        floors.append(sqlite_floor_us(sim, wh_id))
    own, floor = min(runs), min(floors)
    split = min((own_work_stages(sim, wh_id) for _ in range(3)), key=lambda s: sum(s.values()))
    print(f"simlib's own work per send without the network: {own:.1f} us CPU (least of {rounds} runs of 3,000: "
          f"{', '.join(f'{r:.1f}' for r in runs)}); by stage (another run, a stage at a time): "
          + ", ".join(f"{k} {v:.1f}" for k, v in split.items()))
    print(f"of which the two history writes in bare sqlite3 (the same rows and batches, no simlib code): {floor:.1f} us "
          f"(least of {rounds}: {', '.join(f'{r:.1f}' for r in floors)}); the rest, payload, HMAC, records and "
          f"the store's own code: {own - floor:.1f} us")
    print(f"own work per send: {own:.1f} us, {own / OWN_WORK_TARGET_US:.2f}x the target of {OWN_WORK_TARGET_US:.0f} us "
          f"-> {'PASS' if own <= OWN_WORK_TARGET_US else 'MISSED'}")
    sys.stdout.flush()
    return own


class ReceiverCount:
    """The receiver's request count sampled every ``every`` seconds from a thread of this process:
    the same instrument for every sender. :meth:`steady` is a run's steady-state rate at the
    receiver -- the requests answered per second between the first and the last sample of the
    run's middle (its active span less ``trim`` of it at each end: no start-up, no ramp-up, no
    tail), whichever tool sent them and however it reports its own rate."""

    def __init__(self, rx: ReceiverProcess, every: float = 0.05) -> None:
        import threading

        self.rx, self.every = rx, every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="receiver-count", daemon=True)

    def __enter__(self) -> ReceiverCount:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append((time.perf_counter(), int(self.rx.stats()["requests"])))

    def steady(self, start: float, end: float, trim: float = 0.15) -> float:
        window = [(t, n) for t, n in self.samples if start <= t <= end]
        moving = [i for i in range(1, len(window)) if window[i][1] > window[i - 1][1]]
        if not moving:
            return float("nan")
        first, last = window[moving[0] - 1][0], window[moving[-1]][0]  # the active span
        cut = (last - first) * trim
        middle = [(t, n) for t, n in window if first + cut <= t <= last - cut]
        if len(middle) < 2 or middle[-1][0] <= middle[0][0]:
            return float("nan")
        return (middle[-1][1] - middle[0][1]) / (middle[-1][0] - middle[0][0])


def pin(rx: ReceiverProcess) -> str:
    """As the issue measures: the receiver on one CPU, every sender (this process, and Locust and
    the bare loops, which inherit it) on another. Every thread of the receiver is pinned (its
    later threads inherit it). ``BENCH_BURST_PIN=0`` leaves scheduling to the kernel."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if os.environ.get("BENCH_BURST_PIN", "1") == "0" or len(cpus) < 2 or rx.pid is None:
        return "not pinned"
    receiver_cpu, sender_cpu = cpus[0], cpus[1]
    for task in os.listdir(f"/proc/{rx.pid}/task"):
        os.sched_setaffinity(int(task), {receiver_cpu})
    os.sched_setaffinity(0, {sender_cpu})
    for task in os.listdir("/proc/self/task"):  # threads already running here (executors)
        os.sched_setaffinity(int(task), {sender_cpu})
    return f"receiver pinned to CPU {receiver_cpu}, senders to CPU {sender_cpu}"


def main() -> None:
    if "--own-work" in sys.argv[1:]:  # only simlib's own work per send (no receiver, no network)
        print(f"bench_burst --own-work on {machine()}")
        with Simulator(temp_store()) as sim:
            own_work(sim, sim.create_webhook("bench", "http://127.0.0.1:9/hook", [EVENT], secret=SECRET).id)
        return
    print(f"bench_burst on {machine()}: {N} sends at concurrency {CONCURRENCY}, {ROUNDS} rounds each")
    with ReceiverProcess([SECRET]) as rx, Simulator(temp_store()) as sim:
        print(pin(rx))
        wh = sim.create_webhook("bench", rx.url, [EVENT], secret=SECRET)
        sample = sim.preview(wh, EVENT, seed=1)
        engine = ""

        # CPU us per request, this process (Locust: its subprocess)
        cpu: dict[str, list[float]] = {
            "simlib": [], "simlib-aiohttp": [], "aiohttp": [], "pycurl": [], "locust": [], "locust-steady": [],
        }

        def simlib_round(which: str = "auto") -> float:
            nonlocal engine
            t = time.process_time()
            burst = sim.send_many(wh, EVENT, N, concurrency=CONCURRENCY, progress=False, engine=which)
            cpu["simlib" if which == "auto" else f"simlib-{which}"].append((time.process_time() - t) / N * 1e6)
            assert all(r.delivered for r in burst.results), burst.summary.iloc[0].to_dict()
            if which == "auto":
                engine = burst.engine
            return N / burst.elapsed_s

        def pycurl_round() -> float:
            requests = presigned(sample.body, sim.now_ms(), N)
            t = time.process_time()
            rate = bare_pycurl(rx.url, sample.body, requests)
            cpu["pycurl"].append((time.process_time() - t) / N * 1e6)
            return rate

        def aiohttp_round() -> float:
            requests = presigned(sample.body, sim.now_ms(), N)
            t = time.process_time()
            rate = asyncio.run(bare_aiohttp(rx.url, sample.body, requests))
            cpu["aiohttp"].append((time.process_time() - t) / N * 1e6)
            return rate

        simlib_round()  # warm-up: imports, the first connections
        simlib_round("aiohttp")
        # Locust's start-up and spawn, once: a short run, subtracted from each round's for its
        # steady-state CPU per request.
        _, _, _, short_count, short_used = locust(rx.url, sample.body, presigned(sample.body, sim.now_ms(), 2000), LOCUST_SHORT_S)
        # Each round runs simlib (curl), simlib on aiohttp, bare aiohttp and Locust back to back
        # (the order turning each round), so drift on the shared machine hits all alike; ratios
        # are per round.
        xs: list[float] = []
        xa: list[float] = []
        ys: list[float] = []
        ls: list[float] = []
        ps: list[float] = []
        notes: list[str] = []
        spans: dict[str, list[tuple[float, float]]] = {"simlib": [], "pycurl": [], "aiohttp": [], "locust": []}

        def timed_run(name: str, run: Callable[[], float]) -> float:
            begin = time.perf_counter()
            rate = run()
            if name in spans:
                spans[name].append((begin, time.perf_counter()))
            return rate

        with ReceiverCount(rx) as counter:
            for i in range(ROUNDS):
                order = ["simlib", "aiohttp", "locust", "simlib-aiohttp"]
                order = order[i % 4:] + order[:i % 4]
                for name in order:
                    if name == "simlib":
                        xs.append(timed_run("simlib", simlib_round))
                        ps.append(timed_run("pycurl", pycurl_round))  # right after: the floor under the same conditions
                    elif name == "simlib-aiohttp":
                        xa.append(simlib_round("aiohttp"))
                    elif name == "aiohttp":
                        ys.append(timed_run("aiohttp", aiohttp_round))
                    else:
                        began = time.perf_counter()
                        rate, note, used, count, seconds = locust(rx.url, sample.body, presigned(sample.body, sim.now_ms(), 2000))
                        spans["locust"].append((began, time.perf_counter()))
                        ls.append(rate)
                        notes.append(note)
                        cpu["locust"].append(used)
                        if count > short_count:
                            cpu["locust-steady"].append((seconds - short_used) / (count - short_count) * 1e6)
        at_rx = {name: [counter.steady(a, b) for a, b in runs] for name, runs in spans.items()}
        s, sa, a, loc = median(xs), median(xa), median(ys), median(ls)
        ratio_a = median([x / y for x, y in zip(xs, ys, strict=True)])
        ratio_l = median([x / y for x, y in zip(xs, ls, strict=True)])
        hs = [asyncio.run(bare_httpx(rx.url, sample.body, presigned(sample.body, sim.now_ms(), N // 4))) for _ in range(2)]
        h = median(hs)
        def rounds(values: list[float]) -> str:
            return ", ".join(f"{v:.0f}" for v in values)

        def per_round(top: list[float], bottom: list[float]) -> str:
            return ", ".join(f"{x / y:.2f}" for x, y in zip(top, bottom, strict=True))

        print(f"simlib send_many ({engine}):     {s:8.0f} sends/s    (rounds: {rounds(xs)})")
        print(f"simlib send_many (aiohttp):  {sa:8.0f} sends/s    (rounds: {rounds(xa)}; reference)")
        print(f"bare aiohttp loop:           {a:8.0f} requests/s (rounds: {rounds(ys)})")
        print(f"Locust, {CONCURRENCY} FastHttpUsers:     {loc:8.0f} requests/s (rounds: {rounds(ls)}; "
              f"{LOCUST_S} s headless runs: {'; '.join(notes)})")
        print(f"bare httpx.AsyncClient loop: {h:8.0f} requests/s (runs: {rounds(hs)}; reference)")
        print(f"bare pycurl CurlMulti loop:  {median(ps):8.0f} requests/s (rounds: {rounds(ps)}; the curl engine's floor)")
        print(f"per-round ratios: simlib/aiohttp {per_round(xs, ys)}; simlib/Locust {per_round(xs, ls)}; "
              f"simlib-on-aiohttp/aiohttp {per_round(xa, ys)}")
        print(f"simlib ({engine}) / bare aiohttp = {ratio_a:.2f}; / Locust = {ratio_l:.2f}; / bare httpx.AsyncClient = {s / h:.2f}")
        rx_l = median([x / y for x, y in zip(at_rx["simlib"], at_rx["locust"], strict=True)])
        rx_a = median([x / y for x, y in zip(at_rx["simlib"], at_rx["aiohttp"], strict=True)])
        print("at the receiver, steady state (requests answered per second in each run's middle, one instrument for "
              "every sender): " + "; ".join(f"{name} {median(v):.0f} (rounds: {rounds(v)})" for name, v in at_rx.items()))
        print(f"at the receiver: simlib ({engine}) / Locust = {rx_l:.2f} (rounds: {per_round(at_rx['simlib'], at_rx['locust'])}); "
              f"/ bare aiohttp = {rx_a:.2f}; / bare pycurl = "
              f"{median([x / y for x, y in zip(at_rx['simlib'], at_rx['pycurl'], strict=True)]):.2f}")
        print("sender CPU per request, us (steadier than throughput on a shared machine): "
              f"simlib ({engine}) {median(cpu['simlib']):.0f}, simlib (aiohttp) {median(cpu['simlib-aiohttp']):.0f}, "
              f"bare aiohttp {median(cpu['aiohttp']):.0f}, bare pycurl {median(cpu['pycurl']):.0f}, Locust {median(cpu['locust']):.0f} (with its start-up), "
              f"Locust steady state {median(cpu['locust-steady'] or [float('nan')]):.0f} "
              f"(less a {LOCUST_SHORT_S} s run: {short_count} requests, {short_used:.2f} s CPU)")
        print(f"history rows: {sim.store.history_count()}; receiver verified {rx.stats()['verified']}")
        own = own_work(sim, wh.id)
        glue = median(cpu["simlib"]) - own - median(cpu["pycurl"])
        print(f"the curl engine's Python around libcurl (and the burst loop): ~{glue:.0f} us per send "
              f"(simlib ({engine}) {median(cpu['simlib']):.0f} - own work {own:.0f} - bare pycurl {median(cpu['pycurl']):.0f})")
        verdict("bench_burst (simlib / Locust FastHttpUser, as each reports its rate, median of per-round ratios)",
                ratio_l, ">= 1.0", ratio_l >= 1.0)
        verdict("bench_burst (simlib / Locust FastHttpUser, at the receiver, steady state, median of per-round ratios)",
                rx_l, ">= 1.0", rx_l >= 1.0)
        verdict("bench_burst (simlib / bare aiohttp, median of per-round ratios)", ratio_a, ">= 0.7", ratio_a >= 0.7)


if __name__ == "__main__":
    main()
