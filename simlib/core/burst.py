"""Burst mode: many simulations at a bounded concurrency (and optionally a rate), over
``httpx.AsyncClient``, every attempt recorded.

    burst = sim.send_many("demo", "desktop.app_tracking.captured", 500, concurrency=32, rate=200)
    burst.summary          # one-row DataFrame: count, delivered, failed by reason, throughput, p50/p95/p99/max
    burst.results          # one SimulationResult per attempt, in send order

Each send gets a fresh payload (a new seed) unless ``repeat_payload=True``, which sends one payload
again and again (to test a receiver's idempotency). History writes are batched in short
transactions: the rows of the next sends (up to ``concurrency``, at most 100) are reserved in one
before they go out -- with the room for their outcomes proved, so nothing is sent that cannot be
recorded -- and completed in batches (every 100 rows or 0.25 s, whichever comes first). A row is
acknowledged once its batch has committed; an interrupted burst keeps every acknowledged row, and
the rows of sends that were in flight read "interrupted". A store that is unavailable stops the
burst with one wait: at the start, one "Service unavailable" result; later, no send starts after
the failure; ``stopped_early`` says why. ``send_many`` works in a plain
script and inside Jupyter (where an event loop is already running, it runs on a worker thread);
``send_many_async`` can be awaited directly.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from simlib.core.classify import make_history_row, outcome_bytes, pending_row, result_from_row
from simlib.core.delivery.http import DeliveryConfig, Outcome, deliver_async, make_async_sender, signed_headers
from simlib.core.events import check_event_name
from simlib.core.ids import new_uuid4
from simlib.core.store.sqlite import Store
from simlib.core.validation import validate_webhook_id
from simlib.errors import StoreError, ValidationError
from simlib.records import (
    SERVICE_UNAVAILABLE,
    SIMULATION_FAILED,
    Attempt,
    Preview,
    SimulationError,
    SimulationResult,
    Webhook,
)

if TYPE_CHECKING:
    import pandas as pd


class BurstHost(Protocol):
    """What a burst needs of the engine (:class:`simlib.core.engine.Engine` is one)."""

    store: Store
    delivery: DeliveryConfig

    def now_ms(self) -> int: ...

    def preview(
        self,
        webhook: Webhook | str,
        event_type: str,
        *,
        overrides: Any = None,
        seed: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Preview: ...

    def check_target(self, webhook_id: str, event_type: str) -> Webhook | tuple[SimulationError, str, Webhook | None]: ...

    def record_failure(
        self, preview: Preview, error: SimulationError, detail: str, *, webhook: Webhook | None = None,
        wait: bool = True,
    ) -> SimulationResult: ...

__all__ = ["BurstResult", "send_many", "send_many_async", "summarize"]

FLUSH_ROWS = 100
FLUSH_SECONDS = 0.25
#: The most sends in flight at once (each holds a connection and a file descriptor).
MAX_CONCURRENCY = 1000
#: The most sends of one burst (every result is kept in memory until the burst ends).
MAX_SENDS = 100_000
#: The slowest and fastest ``rate``: one send in 1,000 s (a slower "burst" is a schedule, and
#: 1e-300 would sleep forever), a million per second (no limit at all).
MIN_RATE = 0.001
MAX_RATE = 1_000_000


@dataclass
class BurstResult:
    """What a burst did: every result in send order, and the summary."""

    results: list[SimulationResult]
    elapsed_s: float
    acknowledged: int = 0  # rows committed to history
    stopped_early: str | None = None
    _summary: Any = field(default=None, repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        if self._summary is None:
            self._summary = summarize(self.results, self.elapsed_s)
        summary: pd.DataFrame = self._summary
        return summary

    def frame(self) -> pd.DataFrame:
        """One row per attempt (result, status, latency, error, detail)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "simulation_id": [r.simulation_id for r in self.results],
                "result": [r.result for r in self.results],
                "http_status": pd.array([r.http_status for r in self.results], dtype="Int64"),
                "latency_ms": pd.array([r.latency_ms for r in self.results], dtype="float64"),
                "error": [r.error for r in self.results],
                "detail": [r.detail for r in self.results],
            }
        )

    def __repr__(self) -> str:
        ok = sum(r.delivered for r in self.results)
        return f"BurstResult({len(self.results)} sends, {ok} delivered, {self.elapsed_s:.2f} s)"


def summarize(results: list[SimulationResult], elapsed_s: float) -> pd.DataFrame:
    """count, delivered, failed, failed by reason, throughput and latency percentiles."""
    import numpy as np
    import pandas as pd

    lat = np.array([r.latency_ms for r in results if r.latency_ms is not None and r.delivered], dtype=float)
    reasons: dict[str, int] = {}
    for r in results:
        if not r.delivered:
            key = r.error or (f"HTTP {r.http_status}" if r.http_status is not None else "Failed")
            reasons[key] = reasons.get(key, 0) + 1

    def pct(q: float) -> float:
        return float(np.percentile(lat, q)) if lat.size else float("nan")

    row: dict[str, Any] = {
        "count": len(results),
        "delivered": sum(r.delivered for r in results),
        "failed": sum(not r.delivered for r in results),
        "failed_by_reason": "; ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) or "",
        "elapsed_s": elapsed_s,
        "throughput_per_s": len(results) / elapsed_s if elapsed_s > 0 else float("nan"),
        "latency_p50_ms": pct(50),
        "latency_p95_ms": pct(95),
        "latency_p99_ms": pct(99),
        "latency_max_ms": float(lat.max()) if lat.size else float("nan"),
    }
    return pd.DataFrame([row])


class _Recorder:
    """Reserves the rows of the next sends in one transaction before they go out (a chunk at a
    time: nothing is sent that cannot be recorded), and completes them in batches after; a row is
    acknowledged when its batch commits. The first store failure stops the burst (no send
    starts after it) and no later write waits for the store again."""

    def __init__(self, store: Store, outcome_bytes: int, chunk: int) -> None:
        self.store = store
        self.outcome_bytes = outcome_bytes
        self.chunk = chunk
        self.pending: list[tuple[int, Attempt]] = []
        self.last_flush = time.monotonic()
        self.acknowledged = 0
        self.ids: dict[int, int] = {}  # send index -> its reserved history row
        self.failed: dict[int, str] = {}
        self.stopped: str | None = None
        self.error: StoreError | None = None  # the reservation that failed
        self.added: set[int] = set()  # sends whose outcome came back (completed, or tried)

    def reserve(self, indices: list[int], rows: list[Attempt]) -> None:
        try:
            ids = self.store.reserve(rows, outcome_bytes=self.outcome_bytes, wait=self.stopped is None)
        except StoreError as exc:
            self.error = self.error or exc
            self.stopped = self.stopped or f"the store became unavailable, no further sends: {exc}"
            return
        self.ids.update(zip(indices, ids, strict=True))

    def add(self, index: int, row: Attempt) -> None:
        self.added.add(index)
        self.pending.append((index, row))
        if len(self.pending) >= FLUSH_ROWS or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        if not batch:
            return
        try:
            self.store.complete_many([(self.ids[i], row) for i, row in batch], wait=self.stopped is None)
        except StoreError as exc:
            for index, _ in batch:
                self.failed[index] = f"{exc}; its history row {self.ids[index]} says interrupted"
            self.stopped = self.stopped or f"the history could not record {len(batch)} attempts, no further sends: {exc}"
            return
        self.acknowledged += len(batch)

    def release(self, started: set[int]) -> None:
        """Delete the reserved rows of sends that never started (the burst stopped early); those
        of sends interrupted in flight stay, reading "interrupted"."""
        self.store.abandon([hid for i, hid in self.ids.items() if i in started and i not in self.added])
        unused = [hid for i, hid in self.ids.items() if i not in started]
        if unused:
            try:
                self.store.release(unused, wait=False)
            except StoreError:
                pass  # they stay as interrupted rows


async def send_many_async(
    sim: BurstHost,
    webhook: Webhook | str,
    event_type: str,
    n: int,
    *,
    concurrency: int = 10,
    rate: float | None = None,
    repeat_payload: bool = False,
    overrides: Any = None,
    options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    progress: bool | Callable[[int, int], None] = True,
    preview: Preview | None = None,
) -> BurstResult:
    """Send ``n`` simulations; see the module docstring. Never raises for delivery problems.

    ``preview``: start from this already-built payload (its overrides, options and seed; with
    ``repeat_payload`` exactly its bytes), as the explorer does with what it shows.
    """
    # The caller's mistakes raise here, before anything is previewed, sent or recorded.
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_SENDS:
        raise ValidationError("n", f"must be a whole number from 1 to {MAX_SENDS}, not {n!r}")
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValidationError("concurrency", f"must be a whole number from 1 to {MAX_CONCURRENCY}, not {concurrency!r}")
    if rate is not None and (
        not isinstance(rate, (int, float)) or isinstance(rate, bool) or not math.isfinite(rate)
        or not MIN_RATE <= rate <= MAX_RATE
    ):
        raise ValidationError(
            "rate", f"must be a number of sends per second from {MIN_RATE:g} to {MAX_RATE:g}, not {rate!r}"
        )
    if preview is not None and not isinstance(preview, Preview):
        raise ValidationError("preview", f"expected a Preview (from preview()), not {type(preview).__name__}")
    # An id or event name that cannot be one is refused before it is recorded n times.
    wid = webhook.id if isinstance(webhook, Webhook) else validate_webhook_id(webhook, "webhook")
    check_event_name(event_type)
    target: Webhook | str = wid
    if preview is not None:
        if preview.event_type != event_type or preview.webhook_id != wid:
            raise ValidationError("preview", "is for another webhook or event type")
        first = preview
        overrides, options = list(preview.overrides), dict(preview.options)
    else:
        first = sim.preview(wid, event_type, overrides=overrides, seed=seed, options=options)

    def preview_for(i: int) -> Preview:
        if repeat_payload or i == 0:
            return first
        return sim.preview(target, event_type, overrides=overrides, seed=first.seed + i, options=options)

    results: list[SimulationResult | None] = [None] * n
    start = time.perf_counter()
    # The webhook is read once, inside a write transaction (the store must be able to record).
    target_now = sim.check_target(wid, event_type)
    if not isinstance(target_now, Webhook):
        error, detail, known = target_now
        if error == SERVICE_UNAVAILABLE:  # one result and one wait, not one per attempt
            r = sim.record_failure(preview_for(0), error, detail, webhook=known, wait=False)
            return BurstResult([r], time.perf_counter() - start, stopped_early=f"the store is unavailable, nothing was sent: {detail}")
        for i in range(n):
            results[i] = sim.record_failure(preview_for(i), error, detail, webhook=known)
        return BurstResult([r for r in results if r is not None], time.perf_counter() - start)
    wh = target_now
    target = wh  # later previews need no store read
    config = sim.delivery
    secret = wh.secret
    recorder = _Recorder(sim.store, outcome_bytes(config, headers_known=False), max(1, min(FLUSH_ROWS, concurrency)))
    bar = _progress(n, progress)
    rows: list[Attempt | None] = [None] * n
    previews: list[Preview | None] = [None] * n
    sim_ids: list[str] = [""] * n
    started: set[int] = set()

    def reserve_from(i: int) -> None:
        """Reserve the rows of sends ``i`` .. ``i + chunk - 1`` (those not reserved yet)."""
        indices = [j for j in range(i, min(n, i + recorder.chunk)) if j not in recorder.ids]
        now = sim.now_ms()
        pending = []
        for j in indices:
            p = previews[j] = previews[j] or preview_for(j)
            sim_ids[j] = sim_ids[j] or new_uuid4()
            pending.append(pending_row(p, sim_ids[j], wh, {}, now))
        recorder.reserve(indices, pending)
    sem = asyncio.Semaphore(concurrency)
    client = make_async_sender(config, max_connections=min(concurrency, n))  # no idle connection pools

    async def one(i: int) -> None:
        if rate is not None:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        async with sem:
            if recorder.stopped is not None:
                return
            if i not in recorder.ids:
                reserve_from(i)
                if i not in recorder.ids:
                    return
            started.add(i)
            p = previews[i]
            assert p is not None
            ts = sim.now_ms()
            headers = signed_headers(secret, p.body, ts, config)
            try:
                outcome = await deliver_async(client, wh.url, p.body, headers, config)
            except Exception as exc:  # noqa: BLE001 - the contract: a result, never a traceback
                outcome = Outcome(error=SIMULATION_FAILED, detail=f"unexpected error: {type(exc).__name__}: {exc}")
            row = make_history_row(p, sim_ids[i], wh, headers, ts, outcome)
            rows[i] = row
            recorder.add(i, row)
            bar(1)

    stopped: str | None = None
    try:
        async with client:
            await asyncio.gather(*(one(i) for i in range(n)))
    except (asyncio.CancelledError, KeyboardInterrupt) as exc:
        stopped = f"interrupted ({type(exc).__name__})"
        raise
    finally:
        recorder.flush()
        recorder.release(started)
        bar(0, close=True)
    stopped = stopped or recorder.stopped
    elapsed = time.perf_counter() - start
    out: list[SimulationResult] = []
    for i in range(n):
        row, p = rows[i], previews[i]
        if row is None or p is None:
            continue
        if i in recorder.failed:
            out.append(result_from_row(row, note=f" (not recorded in history: {recorder.failed[i]})"))
        else:
            out.append(result_from_row(row, history_id=recorder.ids[i]))
    if not started and recorder.error is not None:  # not even the first send: its one result
        out.append(sim.record_failure(first, SERVICE_UNAVAILABLE, f"{recorder.error} (nothing was sent)", wait=False))
    return BurstResult(out, elapsed, recorder.acknowledged, stopped)


def send_many(sim: BurstHost, *args: Any, **kwargs: Any) -> BurstResult:
    """Synchronous :func:`send_many_async`; inside a running event loop (Jupyter) it runs the
    burst on a worker thread with its own loop and waits for it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(send_many_async(sim, *args, **kwargs))
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = asyncio.run(send_many_async(sim, *args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=work, name="simlib-burst")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    result: BurstResult = box["result"]
    return result


def _progress(n: int, progress: bool | Callable[[int, int], None]) -> Callable[..., None]:
    """A tqdm.auto bar (notebook widget in Jupyter, text in a terminal), or a callback."""
    if callable(progress):
        done = [0]

        def call(k: int, close: bool = False) -> None:
            done[0] += k
            if k:
                progress(done[0], n)

        return call
    if not progress:
        return lambda k, close=False: None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return lambda k, close=False: None
    bar = tqdm(total=n, desc="simulations", unit="send", leave=True)

    def update(k: int, close: bool = False) -> None:
        if k:
            bar.update(k)
        if close:
            bar.close()

    return update
