"""Burst mode: many simulations at a bounded concurrency (and optionally a fixed rate), every
attempt recorded.

    burst = sim.send_many("demo", "desktop.app_tracking.captured", 500, concurrency=32, rate=200)
    burst.summary          # one-row DataFrame: count, delivered, failed by reason, throughput,
                           # p50/p90/p95/p99/p99.9/max (HDR histogram), late sends, 429s, engine
    burst.results          # one SimulationResult per attempt, in send order
    burst.plot_latency()   # a matplotlib Figure of the latency histogram (latency_histogram(): data)

The sends go out on a fast engine, loaded only when a burst starts, with the rules of a single
send: libcurl (:mod:`simlib.core.delivery.curl`, pycurl), or aiohttp
(:mod:`simlib.core.delivery.fast`) where pycurl cannot be imported; where neither can send (a
proxy, ``trust_env``) the burst uses the httpx engine of single sends and ``engine_note`` says so. ``concurrency``
workers take the sends in order. With ``rate``, send *i* is intended at ``start + i / rate``;
its latency is measured from that intended time (no coordinated omission: when every worker is
busy the wait counts), and a send that starts more than ``LATE_AFTER_MS`` late is counted.
429 answers are counted apart; ``respect_retry_after=True`` holds new sends until a 429's
``Retry-After`` has passed.

Each send gets a fresh payload (a new seed) unless ``repeat_payload=True``, which sends one payload
again and again (to test a receiver's idempotency). History writes are batched in short
transactions: the rows of the next sends (up to ``concurrency``, at most 100) are reserved in one
before they go out -- with the room for their outcomes proved, so nothing is sent that cannot be
recorded -- and completed in batches (every 100 rows or 0.25 s, whichever comes first). A row is
acknowledged once its batch has committed; an interrupted burst keeps every acknowledged row, and
the rows of sends that were in flight read "interrupted". A store that is unavailable stops the
burst with one wait: at the start, one "Service unavailable" result; later, no send starts after
the failure; ``stopped_early`` says why. On a SQLite store the WAL is checkpointed on a thread
of the store's own while the burst writes (``Store.checkpoints_aside``). ``send_many`` works in
a plain script and inside Jupyter (where an event loop is already running, it runs on a worker
thread); ``send_many_async`` can be awaited directly.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from simlib.core.classify import make_history_row, outcome_bytes, pending_row, result_from_row
from simlib.core.delivery.http import (
    DeliveryConfig,
    Outcome,
    SendPhase,
    deliver_async,
    header_signer,
    make_async_sender,
)
from simlib.core.events import check_event_name
from simlib.core.ids import new_uuid4
from simlib.core.progress import progress_hook
from simlib.core.store.backends import AnyStore
from simlib.core.validation import validate_webhook_id
from simlib.errors import StoreError, ValidationError
from simlib.records import (
    CANCELLED,
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

    store: AnyStore
    delivery: DeliveryConfig

    def now_ms(self) -> int: ...

    def notify_recorded(self, ids: Sequence[int]) -> None: ...

    def preview(
        self,
        webhook: Webhook | str,
        event_type: str,
        *,
        overrides: Any = None,
        seed: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Preview: ...

    def preview_series(
        self, webhook: Webhook, event_type: str, *, overrides: Any = None, options: Mapping[str, Any] | None = None,
    ) -> Callable[[int], Preview]: ...

    def check_target(self, webhook_id: str, event_type: str) -> Webhook | tuple[SimulationError, str, Webhook | None]: ...

    def record_failure(
        self, preview: Preview, error: SimulationError, detail: str, *, webhook: Webhook | None = None,
        wait: bool = True,
    ) -> SimulationResult: ...

__all__ = [
    "ENGINES",
    "LATE_AFTER_MS",
    "MAX_RATE",
    "MAX_RETRY_AFTER_S",
    "MIN_RATE",
    "BurstResult",
    "parse_retry_after",
    "send_many",
    "send_many_async",
    "summarize",
]

FLUSH_ROWS = 100
#: How often a burst given a ``cancel`` event looks at it (its sends in flight end at once then).
CANCEL_POLL_S = 0.05
FLUSH_SECONDS = 0.25
#: The most sends in flight at once (each holds a connection and a file descriptor).
MAX_CONCURRENCY = 1000
#: The most sends of one burst (every result is kept in memory until the burst ends).
MAX_SENDS = 100_000
#: The slowest and fastest ``rate``: one send in 1,000 s (a slower "burst" is a schedule, and
#: 1e-300 would sleep forever), a million per second (no limit at all).
MIN_RATE = 0.001
MAX_RATE = 1_000_000
#: In rate mode, a send that starts more than this after its intended time is counted late.
LATE_AFTER_MS = 2.0
#: How long before its intended time a send's row is reserved (rate mode).
RESERVE_AHEAD_S = 0.5
#: The longest pause one ``Retry-After`` causes (``respect_retry_after=True``): a hostile
#: endpoint answering ``Retry-After: 999999999`` cannot stall a burst for ever.
MAX_RETRY_AFTER_S = 60.0
#: The engines a burst can send with: "auto" picks curl, else aiohttp (pycurl not importable),
#: else httpx (where neither can send: a proxy, ``trust_env``).
ENGINES = ("auto", "curl", "aiohttp", "httpx")
#: The HDR histogram's range (microseconds) and precision (significant digits).
_HDR_LOWEST_US, _HDR_HIGHEST_US, _HDR_DIGITS = 1, 3_600_000_000, 3


@dataclass
class BurstResult:
    """What a burst did: every result in send order, and the summary.

    ``latencies_ms`` (aligned with ``results``) is what the percentiles are computed from: in
    rate mode the time from each send's *intended* send time to its answer (no coordinated
    omission: a send that started late counts its wait), else the round trip of each send.
    ``late_sends`` counts the sends that started more than :data:`LATE_AFTER_MS` after their
    intended time; ``throttled`` the 429 answers; ``retry_after_pauses`` / ``paused_s`` what
    ``respect_retry_after`` did; ``engine`` the HTTP engine that sent, and ``engine_note`` why
    it was not the fast one, when it was not.
    """

    results: list[SimulationResult]
    elapsed_s: float
    acknowledged: int = 0  # rows committed to history
    stopped_early: str | None = None
    _summary: Any = field(default=None, repr=False)
    engine: str = ""
    engine_note: str = ""
    rate: float | None = None
    latencies_ms: list[float | None] = field(default_factory=list, repr=False)
    late_sends: int = 0
    max_lag_ms: float = 0.0
    throttled: int = 0
    retry_after_pauses: int = 0
    paused_s: float = 0.0
    _hdr: Any = field(default=None, repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        if self._summary is None:
            self._summary = summarize(self.results, self.elapsed_s, burst=self)
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

    def histogram(self) -> Any:
        """The HDR histogram (``hdrh.histogram.HdrHistogram``, microseconds) of the latencies of
        the delivered sends (from the intended send time in rate mode)."""
        if self._hdr is None:
            self._hdr = _hdr_of(_measured(self))
        return self._hdr

    def latency_histogram(self, bins: int = 40) -> tuple[Any, Any]:
        """``(edges_ms, counts)`` as numpy arrays: ``bins`` log-spaced bins over the recorded
        latencies (from :meth:`histogram`), for a plot or a table. Empty arrays when nothing
        was delivered."""
        import numpy as np

        if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 10_000:
            raise ValidationError("bins", f"must be a whole number from 1 to 10000, not {bins!r}")
        hist = self.histogram()
        values, counts = [], []
        for item in hist.get_recorded_iterator():
            values.append(hist.get_highest_equivalent_value(item.value_iterated_to) / 1000)
            counts.append(item.count_at_value_iterated_to)
        if not values:
            return np.array([], dtype=float), np.array([], dtype=np.int64)
        low, high = min(values), max(values)
        edges = np.geomspace(max(low, 0.001), high, bins + 1) if high > low else np.array([low * 0.999, high * 1.001])
        counted, edges = np.histogram(np.array(values), bins=edges, weights=np.array(counts, dtype=float))
        return edges, counted.astype(np.int64)

    def plot_latency(self, bins: int = 40, ax: Any = None) -> Any:
        """A matplotlib Figure: the latency histogram (log scale) with p50/p90/p99/p99.9 marked.
        matplotlib is optional (the ``notebook`` extra); without it this raises ImportError."""
        try:
            from matplotlib.figure import Figure
        except ImportError as exc:  # pragma: no cover - matplotlib is in the notebook extra
            raise ImportError("plot_latency() needs matplotlib (pip install 'simlib[notebook]')") from exc
        edges, counts = self.latency_histogram(bins)
        if ax is None:
            fig = Figure(figsize=(7, 3.2), layout="constrained")
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        if len(counts):
            ax.stairs(counts, edges, fill=True, alpha=0.6)
            ax.set_xscale("log")
            s = self.summary.iloc[0]
            for name, col in (("p50", "latency_p50_ms"), ("p90", "latency_p90_ms"), ("p99", "latency_p99_ms"), ("p99.9", "latency_p999_ms")):
                ax.axvline(s[col], linestyle="--", linewidth=1, color="0.3")
                ax.annotate(name, (s[col], 1), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right", fontsize=8)
        basis = "from the intended send time" if self.rate is not None else "round trip"
        ax.set_xlabel(f"latency, ms ({basis})")
        ax.set_ylabel("sends")
        ax.set_title(f"{len(self.results)} sends, {sum(r.delivered for r in self.results)} delivered")
        return fig

    def __repr__(self) -> str:
        ok = sum(r.delivered for r in self.results)
        return f"BurstResult({len(self.results)} sends, {ok} delivered, {self.elapsed_s:.2f} s)"


def _measured(burst: BurstResult | None, results: list[SimulationResult] | None = None) -> list[float]:
    """The latencies the percentiles are computed from: those of the delivered sends."""
    results = burst.results if burst is not None else results or []
    lat = burst.latencies_ms if burst is not None and len(burst.latencies_ms) == len(results) else [r.latency_ms for r in results]
    return [x for r, x in zip(results, lat, strict=True) if x is not None and r.delivered]


def _hdr_of(latencies_ms: list[float]) -> Any:
    from hdrh.histogram import HdrHistogram

    hist = HdrHistogram(_HDR_LOWEST_US, _HDR_HIGHEST_US, _HDR_DIGITS)
    for ms in latencies_ms:
        hist.record_value(min(max(round(ms * 1000), _HDR_LOWEST_US), _HDR_HIGHEST_US))
    return hist


def summarize(
    results: list[SimulationResult], elapsed_s: float, *, burst: BurstResult | None = None
) -> pd.DataFrame:
    """count, delivered, failed, failed by reason, throughput, latency percentiles (p50, p90,
    p95, p99, p99.9, max: from an HDR histogram, 3 significant digits), and, given the
    ``burst``, late sends, 429 answers, Retry-After pauses and the engine."""
    import pandas as pd

    hist = burst.histogram() if burst is not None else _hdr_of(_measured(None, results))
    reasons: dict[str, int] = {}
    for r in results:
        if not r.delivered:
            key = r.error or (f"HTTP {r.http_status}" if r.http_status is not None else "Failed")
            reasons[key] = reasons.get(key, 0) + 1

    def pct(q: float) -> float:
        return hist.get_value_at_percentile(q) / 1000 if hist.get_total_count() else float("nan")

    row: dict[str, Any] = {
        "count": len(results),
        "delivered": sum(r.delivered for r in results),
        "failed": sum(not r.delivered for r in results),
        "failed_by_reason": "; ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) or "",
        "elapsed_s": elapsed_s,
        "throughput_per_s": len(results) / elapsed_s if elapsed_s > 0 else float("nan"),
        "latency_p50_ms": pct(50),
        "latency_p90_ms": pct(90),
        "latency_p95_ms": pct(95),
        "latency_p99_ms": pct(99),
        "latency_p999_ms": pct(99.9),
        "latency_max_ms": hist.get_max_value() / 1000 if hist.get_total_count() else float("nan"),
        "latency_from": "intended send time" if burst is not None and burst.rate is not None else "send",
        "late_sends": burst.late_sends if burst is not None else 0,
        "throttled_429": burst.throttled if burst is not None else sum(r.http_status == 429 for r in results),
        "retry_after_pauses": burst.retry_after_pauses if burst is not None else 0,
        "engine": burst.engine if burst is not None else "",
        "engine_note": burst.engine_note if burst is not None else "",
    }
    return pd.DataFrame([row])


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP date), or None when
    there is none or it cannot be read; never negative."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text[:12])
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _Recorder:
    """Reserves the rows of the next sends in one transaction before they go out (a chunk at a
    time: nothing is sent that cannot be recorded), and completes them in batches after; a row is
    acknowledged when its batch commits. The first store failure stops the burst (no send
    starts after it) and no later write waits for the store again."""

    def __init__(self, store: AnyStore, outcome_bytes: int, chunk: int,
                 on_ids: Callable[[Sequence[int]], None] | None = None) -> None:
        self.store = store
        self.on_ids = on_ids
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
        if self.on_ids is not None:
            self.on_ids(ids)

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


@dataclass
class _Schedule:
    """Where a burst is: the next send, the schedule's shift and the Retry-After pause (in
    perf_counter seconds), and what was counted."""

    next: int = 0
    origin: float = 0.0  # when send 0 is intended: as the workers start (the engine is ready)
    shift: float = 0.0
    resume_at: float = 0.0
    late: int = 0
    max_lag: float = 0.0
    throttled: int = 0
    pauses: int = 0
    paused: float = 0.0


class _HttpxEngine:
    """The httpx sender of single sends, asynchronous (the fallback where aiohttp cannot send)."""

    engine = "httpx"

    def __init__(self, config: DeliveryConfig, max_connections: int) -> None:
        self.config = config
        self.client = make_async_sender(config, max_connections=max_connections)

    async def __aenter__(self) -> _HttpxEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def deliver(self, url: str, body: bytes, headers: dict[str, str], *, phase: SendPhase | None = None) -> Outcome:
        return await deliver_async(self.client, url, body, headers, self.config, phase=phase)


def _engine_for(config: DeliveryConfig, engine: str, max_connections: int, *, follow_phase: bool = False) -> tuple[Any, str]:
    """The sender of a burst, and why it is not the one "auto" prefers (empty when it is):
    "auto" picks curl, else aiohttp (pycurl cannot be imported), else httpx (where neither can
    send: a proxy, ``trust_env``). The engine's library loads here, when a burst starts
    (``import simlib`` imports neither pycurl nor aiohttp)."""
    if engine == "httpx":
        return _HttpxEngine(config, max_connections), "engine='httpx' was asked for"
    note = ""
    if engine in ("auto", "curl"):
        try:
            from simlib.core.delivery.curl import CurlSender, curl_engine_problem
        except ImportError as exc:
            if engine == "curl":
                raise ValidationError("engine", f"the curl engine is not available: pycurl cannot be imported ({exc})") from None
            note = f"sent with aiohttp, not curl: pycurl cannot be imported ({exc})"
        else:
            problem = curl_engine_problem(config)
            if problem is None:
                return CurlSender(config, max_connections=max_connections, follow_phase=follow_phase), ""
            if engine == "curl":
                raise ValidationError("engine", f"the curl engine cannot send this burst: {problem}")
            return _HttpxEngine(config, max_connections), f"sent with httpx, not the fast curl engine: {problem}"
    from simlib.core.delivery.fast import FastSender, fast_engine_problem

    problem = fast_engine_problem(config)
    if problem is None:
        return FastSender(config, max_connections=max_connections, follow_phase=follow_phase), note
    if engine == "aiohttp":
        raise ValidationError("engine", f"the aiohttp engine cannot send this burst: {problem}")
    return _HttpxEngine(config, max_connections), f"sent with httpx, not the fast aiohttp engine: {problem}"


def _check_arguments(n: Any, concurrency: Any, rate: Any, respect_retry_after: Any, engine: Any) -> None:
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
    if not isinstance(respect_retry_after, bool):
        raise ValidationError("respect_retry_after", f"must be True or False, not {respect_retry_after!r}")
    if engine not in ENGINES:
        raise ValidationError("engine", f"must be one of {', '.join(ENGINES)}, not {engine!r}")


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
    respect_retry_after: bool = False,
    engine: str = "auto",
    cancel: threading.Event | None = None,
) -> BurstResult:
    """Send ``n`` simulations; see the module docstring. Never raises for delivery problems.

    ``cancel`` (a :class:`threading.Event`, polled every :data:`CANCEL_POLL_S`): once set, no
    further send starts, the sends in flight are cancelled (each recorded in the words of a
    cancelled single send: "... after connecting ... (the request may have reached the
    endpoint)" or "... before the connection was made (nothing was sent)"), a wait for the
    schedule or a Retry-After pause ends, and ``stopped_early`` says how many went out.

    ``preview``: start from this already-built payload (its overrides, options and seed; with
    ``repeat_payload`` exactly its bytes), as the explorer does with what it shows.
    ``respect_retry_after``: after a 429 with ``Retry-After``, start no send until it has
    passed (at most :data:`MAX_RETRY_AFTER_S` per answer; in rate mode the schedule moves on by
    the pause). ``engine``: "auto" (curl; aiohttp where pycurl cannot be imported; httpx where
    neither can send: a proxy, ``trust_env``), "curl", "aiohttp" or "httpx".
    """
    # The caller's mistakes raise here, before anything is previewed, sent or recorded.
    _check_arguments(n, concurrency, rate, respect_retry_after, engine)
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

    series: Callable[[int], Preview] | None = None  # the webhook's payloads, once it is read

    def preview_for(i: int) -> Preview:
        if repeat_payload or i == 0:
            return first
        if series is not None:
            return series(first.seed + i)
        return sim.preview(target, event_type, overrides=overrides, seed=first.seed + i, options=options)

    start = time.perf_counter()
    # The webhook is read once, inside a write transaction (the store must be able to record).
    target_now = sim.check_target(wid, event_type)
    if not isinstance(target_now, Webhook):
        error, detail, known = target_now
        if error == SERVICE_UNAVAILABLE:  # one result and one wait, not one per attempt
            r = sim.record_failure(preview_for(0), error, detail, webhook=known, wait=False)
            return BurstResult([r], time.perf_counter() - start, stopped_early=f"the store is unavailable, nothing was sent: {detail}")
        # The webhook deleted, or the event no longer subscribed: the first attempt is recorded
        # with its Trackpilots error, as a single send would be; the other n - 1 would only repeat it.
        r = sim.record_failure(preview_for(0), error, detail, webhook=known)
        return BurstResult([r], time.perf_counter() - start,
                           stopped_early=f"{error}: {detail}; nothing was sent (1 attempt recorded, not {n})" if n > 1 else None)
    wh = target_now
    target = wh  # later previews need no store read
    # Issue 12 (own work per send): the event type, options, template, secret and HMAC key
    # looked up once for the burst, not once per send.
    series = sim.preview_series(wh, event_type, overrides=overrides, options=options)
    config = sim.delivery
    sign_for = header_signer(wh.secret, config)
    url = wh.url
    sender, engine_note = _engine_for(config, engine, min(concurrency, n), follow_phase=cancel is not None)  # no idle connections
    recorder = _Recorder(sim.store, outcome_bytes(config, headers_known=False), max(1, min(FLUSH_ROWS, concurrency)),
                         on_ids=sim.notify_recorded)
    bar = progress_hook(progress, n, desc="simulations", unit="send")
    rows: list[Attempt | None] = [None] * n
    previews: list[Preview | None] = [None] * n
    sim_ids: list[str] = [""] * n
    latencies: list[float | None] = [None] * n
    started: set[int] = set()
    # The schedule (rate mode) and the Retry-After pause, in perf_counter seconds.
    clock = time.perf_counter
    state = _Schedule()
    # Cancel: the sends in flight (their tasks), which of them the cancel ended, and an event
    # that ends the waits (set by the watcher, in this loop).
    inflight: dict[int, asyncio.Task[Outcome]] = {}
    cut: set[int] = set()
    stopping = asyncio.Event()

    async def pause(seconds: float) -> None:
        if cancel is None:
            await asyncio.sleep(seconds)
            return
        try:
            async with asyncio.timeout(seconds):
                await stopping.wait()
        except TimeoutError:
            pass

    async def watch(event: threading.Event) -> None:
        """Polls the cancel event; once it is set, cancels every send in flight (and each that
        starts after, though none should) and ends the waits."""
        while True:
            if event.is_set():
                stopping.set()
                for j, task in list(inflight.items()):
                    if j not in cut and not task.done():
                        cut.add(j)
                        task.cancel()
            await asyncio.sleep(CANCEL_POLL_S)

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

    def throttled(outcome: Outcome, now: float) -> None:
        state.throttled += 1
        if not respect_retry_after:
            return
        wait = parse_retry_after(outcome.response_headers.get("retry-after"))
        if not wait:
            return
        resume = now + min(wait, MAX_RETRY_AFTER_S)
        if resume > state.resume_at:
            state.paused += resume - max(state.resume_at, now)
            if rate is not None:
                state.shift += resume - max(state.resume_at, now)
            state.resume_at = resume
            state.pauses += 1

    async def delivery(i: int, body: bytes, headers: dict[str, str]) -> Outcome:
        """The send as a task of its own, which the watcher cancels when the user does: then
        its outcome says how far it got. A cancelled burst (Ctrl-C) is not the user's cancel:
        it propagates, and the row reads "interrupted"."""
        phase = SendPhase()
        task: asyncio.Task[Outcome] = asyncio.ensure_future(sender.deliver(url, body, headers, phase=phase))
        inflight[i] = task
        try:
            outcome: Outcome = await task
            return outcome
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if i in cut and task.cancelled() and (current is None or current.cancelling() == 0):
                return phase.cancelled()
            raise
        finally:
            del inflight[i]

    async def worker() -> None:
        while recorder.stopped is None and state.next < n:
            i = state.next
            state.next = i + 1
            reserved = False
            while True:  # wait for the intended time (rate mode) and any Retry-After pause
                if stopping.is_set():  # cancelled: the wait ends (its row, if reserved, is released)
                    return
                intended = state.origin + state.shift + i / rate if rate is not None else 0.0
                wake = max(intended, state.resume_at)
                now = clock()
                if not reserved and wake - now <= RESERVE_AHEAD_S:
                    # Reserved shortly before it is due (not hours ahead at a slow rate, so a
                    # kill -9 leaves no row of a send far from starting), and not on its time.
                    if recorder.stopped is not None or (cancel is not None and cancel.is_set()):
                        return
                    if i not in recorder.ids:
                        reserve_from(i)
                        if i not in recorder.ids:
                            return
                    reserved = True
                    if wake <= now:  # due already (every send of a burst without a rate): no second look
                        break
                    continue
                if wake <= now:
                    break
                await pause(wake - now - (0 if reserved else RESERVE_AHEAD_S))
            if recorder.stopped is not None or (cancel is not None and cancel.is_set()):
                return
            started.add(i)
            p = previews[i]
            assert p is not None
            ts = sim.now_ms()
            headers = sign_for(p.body, ts)
            sent = clock()
            if rate is not None:
                lag = (sent - intended) * 1000
                if lag > LATE_AFTER_MS:
                    state.late += 1
                if lag > state.max_lag:
                    state.max_lag = lag
            try:
                if cancel is None:
                    outcome = await sender.deliver(url, p.body, headers)
                else:
                    outcome = await delivery(i, p.body, headers)
            except Exception as exc:  # noqa: BLE001 - the contract: a result, never a traceback
                outcome = Outcome(error=SIMULATION_FAILED, detail=f"unexpected error: {type(exc).__name__}: {exc}")
            done = clock()
            if outcome.latency_ms is not None:
                # Rate mode: from the intended send time (a late send counts its wait).
                latencies[i] = (done - intended) * 1000 if rate is not None else outcome.latency_ms
            if outcome.http_status == 429:
                throttled(outcome, done)
            row = make_history_row(p, sim_ids[i], wh, headers, ts, outcome)
            rows[i] = row
            recorder.add(i, row)
            bar(1)

    stopped: str | None = None
    # The WAL checkpoints on a thread of the store's own while the burst writes (issue 12): the
    # loop that sends and records never waits for the disk.
    with recorder.store.checkpoints_aside():
        try:
            async with sender:
                state.origin = clock()
                watcher = asyncio.ensure_future(watch(cancel)) if cancel is not None else None
                try:
                    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
                finally:
                    if watcher is not None:
                        watcher.cancel()
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            stopped = f"interrupted ({type(exc).__name__})"
            raise
        finally:
            recorder.flush()
            recorder.release(started)
            bar(0, close=True)
    stopped = stopped or recorder.stopped
    if stopped is None and cancel is not None and cancel.is_set() and (len(started) < n or cut):
        stopped = f"{CANCELLED}: {len(started)} of {n} sends went out"
    elapsed = time.perf_counter() - start
    out: list[SimulationResult] = []
    measured: list[float | None] = []
    for i in range(n):
        row, p = rows[i], previews[i]
        if row is None or p is None:
            continue
        if i in recorder.failed:
            out.append(result_from_row(row, note=f" (not recorded in history: {recorder.failed[i]})"))
        else:
            out.append(result_from_row(row, history_id=recorder.ids[i]))
        measured.append(latencies[i])
    if not started and recorder.error is not None:  # not even the first send: its one result
        out.append(sim.record_failure(first, SERVICE_UNAVAILABLE, f"{recorder.error} (nothing was sent)", wait=False))
        measured.append(None)
    return BurstResult(
        out, elapsed, recorder.acknowledged, stopped,
        engine=sender.engine, engine_note=engine_note, rate=rate, latencies_ms=measured,
        late_sends=state.late, max_lag_ms=state.max_lag, throttled=state.throttled,
        retry_after_pauses=state.pauses, paused_s=state.paused,
    )


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
