"""The embedded receiver: a real HTTP server on 127.0.0.1 that verifies Trackpilots signatures.

It records every request exactly as received (raw header names and order, raw body bytes, the
verification verdict and its reason) and answers with a configurable status, delay and body,
so it can play a correct receiver or reproduce a reseller's failing one.

From Python (background thread; for notebooks and tests)::

    with Receiver(secrets=[secret]) as rx:
        ...send to rx.url...
        rx.wait_for(1)
        rx.requests[-1].verification.reason

From the command line: ``simlib receive --port 8787 --secret S [--status 500] [--delay-ms 200]``.

asyncio for the sockets, h11 (the HTTP/1.1 parser httpx is built on) for reading requests:
keep-alive, pipelining, Content-Length and chunked bodies, strict framing (see ``Receiver``).
Every connection has deadlines and every buffer a bound, so a hostile client can neither hold
the receiver open nor fill its memory (see the limits in ``Receiver``).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import math
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11

from simlib.core.events import organisation_id_of
from simlib.core.jsjson import parse as js_parse
from simlib.core.jsjson import stringify_bytes
from simlib.core.rawhttp import RawRequestView
from simlib.core.signing import (
    DEFAULT_TOLERANCE_MS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Verification,
    compute_signature,
    header_value,
    now_ms,
    verify,
)

__all__ = ["FLAT_PAYLOAD_ERROR", "TOO_MANY_REQUESTS", "ReceivedRequest", "Receiver", "ReceiverProcess", "parse_rate_limit"]

MiB = 1024 * 1024
#: The limits' defaults (``Receiver`` keyword arguments of the same names, lower-case).
DEFAULT_MAX_CONNECTIONS = 256  # and at most half the process's open-file limit
DEFAULT_HEADER_TIMEOUT = 10.0  # s, the whole request head, from the connection (or its first byte)
DEFAULT_BODY_TIMEOUT = 60.0  # s, the whole body, from the end of the head
DEFAULT_KEEPALIVE_TIMEOUT = 30.0  # s, idle between two requests on one connection
DEFAULT_WRITE_TIMEOUT = 10.0  # s, for the client to take an answer
DEFAULT_MAX_HEADER_BYTES = 64 * 1024  # request line + header fields (431 above)
DEFAULT_MAX_HEADERS = 100  # header fields (431 above)
DEFAULT_MAX_BODY = 10 * MiB  # one body (413 above); the Simulator sends at most 5,000,000 bytes
DEFAULT_MAX_PENDING_BYTES = 64 * MiB  # bodies being received, all connections together (503 above)
DEFAULT_KEEP = 10_000  # requests kept in ``requests``
DEFAULT_KEEP_BYTES = 64 * MiB  # bytes (bodies + headers) kept in ``requests``
READ_CHUNK = 64 * 1024
DEFAULT_PATH = "/webhooks/trackpilots"
STATS_PATH = "/_simlib/stats"  # GET: counters as JSON (not recorded as a request)


@dataclass(frozen=True)
class ReceivedRequest(RawRequestView):
    """One request as the receiver saw it."""

    index: int
    received_at_ms: int
    method: str
    path: str
    http_version: str
    headers: tuple[tuple[str, str], ...]  # names exactly as received, in order
    body: bytes
    verification: Verification | None
    status: int  # what the receiver answered
    client: str

    @property
    def verified(self) -> bool | None:
        return None if self.verification is None else self.verification.ok

    def __repr__(self) -> str:
        v = "unverified" if self.verification is None else self.verification.code
        return f"ReceivedRequest(#{self.index} {self.method} {self.path} {len(self.body)} bytes, {v}, answered {self.status})"


StatusSpec = int | Callable[[ReceivedRequest], int]
#: organisation id -> its webhook's secret(s); or a function returning that (asked per request).
OrgSecrets = Mapping[str, str | Sequence[str]] | Callable[[], Mapping[str, str | Sequence[str]]]
#: What a rate-limited receiver answers (the public Trackpilots receiver's words).
TOO_MANY_REQUESTS = {"error": "Too many requests"}
#: What the flat-payload receiver answers when organisationId / userId are not at the top level.
FLAT_PAYLOAD_ERROR = "Missing organisationId or userId"
_RATE = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d+(?:\.\d+)?)?\s*(ms|s|m|min|h)?\s*")
_RATE_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_CACHED_EVENT_CHARS = 100  # an event name up to this long has its default answer cached
_MAX_RATE_CLIENTS = 10_000  # clients the rate limiter remembers (the least recent are forgotten)


def parse_rate_limit(value: str | tuple[int, float] | None) -> tuple[int, float] | None:
    """``"120/60s"``, ``"5/1s"``, ``"10/m"`` or ``(120, 60.0)`` -> (requests, window seconds)."""
    if value is None:
        return None
    if isinstance(value, str):
        m = _RATE.fullmatch(value)
        if m is None:
            raise ValueError(f"rate limit must look like 120/60s (N per window), not {value!r}")
        value = (int(m.group(1)), float(m.group(2) or 1) * _RATE_UNITS[m.group(3) or "s"])
    n, window = value
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"a rate limit allows at least 1 request per window, not {n!r}")
    if isinstance(window, bool) or not isinstance(window, int | float) or not math.isfinite(window) or window <= 0:
        raise ValueError(f"a rate-limit window is a finite number of seconds above 0, not {window!r}")
    return n, float(window)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Receiver:
    """A local webhook receiver. Start with ``start()`` or ``with Receiver(...) as rx``.

    - ``secrets``: candidate secrets (several during a rotation), or a function returning them
      (asked on every request); none given means "verify nothing". A function is a promise to
      verify: when it raises, the request gets 503 (verification code ``secrets_unavailable``),
      and when it returns no secret, 401 (``no_secret``) -- never accepted unverified
      (``verify_signatures=False`` is how to accept everything). ``org_secrets`` likewise.
    - ``status``: the status to answer verified requests with (an int, or a function of the
      request); ``delay_ms``: wait this long before answering; ``body``: the response body
      (default: a small JSON acknowledgement).
    - ``reject_invalid``: answer 401 when verification fails (default True); False records the
      verdict but answers ``status`` anyway (a sloppy receiver).
    - ``tolerance_ms``: the timestamp window (symmetric), None for no window.

    Switches that reproduce common receiver bugs (for ``check_receiver`` / ``probe_tolerance``):

    - ``timestamp_unit="s"``: read ``x-webhook-timestamp`` as seconds (code copied from
      Stripe-style receivers); Trackpilots sends milliseconds;
    - ``reject_future=False``: a one-sided window that only rejects timestamps that are too old;
    - ``replay_protection=True``: answer 409 to a request whose timestamp and signature were
      already accepted within the window (off by default);
    - ``reserialize=True``: verify ``JSON.stringify(JSON.parse(body))`` instead of the raw bytes
      (Node's rules, :mod:`simlib.core.jsjson`): a Node receiver whose raw body is missing. It
      rejects every correctly signed body whose bytes are not what ``JSON.stringify`` writes
      (``\\u00e9`` escapes, ``\\/``, white space, ``1e16``), and answers 400 to a body that is not JSON;
    - ``flat_payload=True``: read ``organisationId`` and ``userId`` at the top level of the body
      (the first public Trackpilots receiver did); Trackpilots nests them
      (``data[0].organisation.organisationId``), so it answers 400 to every real delivery.

    Several organisations on one URL, and rate limiting (as the public Trackpilots receiver does):

    - ``org_secrets``: organisation id -> secret(s) (or a function returning that, asked per
      request): the secret is chosen by the not-yet-verified ``data[0].organisation
      .organisationId`` (``data.organisation.organisationId`` for the activity event) instead of
      ``secrets``; an unknown or missing organisation gets 401 (verification code
      ``unknown_organisation``);
    - ``rate_limit``: at most N requests per window per client host (``"120/60s"`` or
      ``(120, 60.0)``); past it the answer is 429 ``{"error":"Too many requests"}``, with
      ``Retry-After: retry_after`` when ``retry_after`` (whole seconds) is given. Such requests
      are recorded (unverified, status 429) and counted in ``stats()["rate_limited"]``.

    Limits (a hostile or broken client can neither hold the receiver nor fill its memory); the
    timeouts are seconds, finite and above 0:

    - ``max_connections`` (default 256, and never more than half the process's open-file limit,
      ``RLIMIT_NOFILE``): connections open at once. A connection past it closes the one that has
      waited longest for a request head (an idle keep-alive or a slow client), else the one that
      has spent longest sending a body; if every connection is being answered, the new one gets
      503 and is closed;
    - ``header_timeout`` (10): the whole request head, from the connection (or, on a keep-alive
      connection, from the first byte of the next request); ``body_timeout`` (60): the whole
      body, from the end of the head; ``keepalive_timeout`` (30): idle between two requests;
      ``write_timeout`` (10): for the client to take an answer. A head or body too slow gets
      408 and the connection is closed (total deadlines: dripping a byte a second does not
      extend them); an idle connection is closed silently;
    - ``max_header_bytes`` (64 KiB) and ``max_headers`` (100): the request head, 431 above;
    - ``max_body_bytes`` (10 MiB): one body, 413 above (from ``Content-Length`` before reading
      it, or as a chunked body reaches it); never more than ``keep_bytes``;
    - ``max_pending_bytes`` (64 MiB): bodies being received on all connections together; a
      request that would pass it gets 503;
    - ``keep`` (10,000) and ``keep_bytes`` (64 MiB): what ``requests`` keeps, a ring buffer
      bounded by count and by bytes (bodies + header names and values); the oldest go first.
      ``count`` and ``stats()`` count every request (one that alone is over ``keep_bytes`` is
      counted and passed to ``on_request`` but not kept).

    Framing is strict (RFC 9112), each answered 400 and the connection closed: both
    ``Transfer-Encoding`` and ``Content-Length``; two different ``Content-Length`` values; a
    ``Content-Length`` that is not a decimal number; a ``Transfer-Encoding`` other than exactly
    ``chunked`` (400, not 501: the receiver decodes no other coding, and a body it cannot frame
    is ambiguous); obsolete line folding; white space before a colon; a bad chunk-size line; an
    HTTP/1.1 request without ``Host``. An HTTP version other than 1.0 or 1.1 gets 505. Such
    requests are answered, not recorded (``stats()["rejected"]`` counts them by status).
    """

    def __init__(
        self,
        secrets: str | Sequence[str] | Callable[[], Sequence[str]] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        status: StatusSpec = 200,
        delay_ms: float = 0,
        body: bytes | str | None = None,
        content_type: str = "application/json",
        verify_signatures: bool = True,
        reject_invalid: bool = True,
        tolerance_ms: int | None = DEFAULT_TOLERANCE_MS,
        timestamp_unit: str = "ms",
        reject_future: bool = True,
        replay_protection: bool = False,
        reserialize: bool = False,
        flat_payload: bool = False,
        org_secrets: OrgSecrets | None = None,
        rate_limit: str | tuple[int, float] | None = None,
        retry_after: int | None = None,
        max_connections: int | None = None,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        keep: int = DEFAULT_KEEP,
        keep_bytes: int = DEFAULT_KEEP_BYTES,
        clock: Callable[[], int] | None = None,
        on_request: Callable[[ReceivedRequest], None] | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.secrets = secrets
        self.status = status
        self.delay_ms = delay_ms
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.content_type = content_type
        self.verify_signatures = verify_signatures
        self.reject_invalid = reject_invalid
        self.tolerance_ms = tolerance_ms
        if timestamp_unit not in ("ms", "s"):
            raise ValueError(f"timestamp_unit must be 'ms' or 's', not {timestamp_unit!r}")
        self.timestamp_unit = timestamp_unit
        self.reject_future = reject_future
        self.replay_protection = replay_protection
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()  # (timestamp, signature) -> expiry
        self.reserialize = reserialize
        self.flat_payload = flat_payload
        self.org_secrets = org_secrets
        self.rate_limit = rate_limit  # parsed by the setter
        if retry_after is not None:
            _positive_int("retry_after", retry_after, minimum=0)
        self.retry_after = retry_after
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()  # client host -> recent request times
        self._rate_limited = 0
        self.max_connections = default_max_connections() if max_connections is None else _positive_int(
            "max_connections", max_connections
        )
        self.header_timeout = _timeout("header_timeout", header_timeout)
        self.body_timeout = _timeout("body_timeout", body_timeout)
        self.keepalive_timeout = _timeout("keepalive_timeout", keepalive_timeout)
        self.write_timeout = _timeout("write_timeout", write_timeout)
        self.max_header_bytes = _positive_int("max_header_bytes", max_header_bytes)
        self.max_headers = _positive_int("max_headers", max_headers)
        self.keep = _positive_int("keep", keep, minimum=0)
        self.keep_bytes = _positive_int("keep_bytes", keep_bytes)
        self.max_body_bytes = min(_positive_int("max_body_bytes", max_body_bytes, minimum=0), self.keep_bytes)
        self.max_pending_bytes = _positive_int("max_pending_bytes", max_pending_bytes)
        self.clock = clock or now_ms
        self.on_request = on_request
        self._requests: deque[ReceivedRequest] = deque()
        self._sizes: deque[int] = deque()  # _kept_size of each kept request, in the same order
        self._kept_bytes = 0
        self._count = 0
        self._verified = 0
        self._answered: dict[int, int] = {}
        self._rejected: dict[int, int] = {}  # malformed or over a limit: answered, not recorded
        self._closed = {"timeout": 0, "evicted": 0, "refused": 0}
        self._pending = 0  # body bytes being received, all connections
        self._answering = self._answering_peak = 0  # requests waiting out delay_ms, now and at most
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._open: set[asyncio.WriteTransport] = set()
        # Connections that could give way to a new one, oldest first: waiting for a request
        # head, and receiving a body.
        self._in_head: dict[asyncio.WriteTransport, None] = {}
        self._in_body: dict[asyncio.WriteTransport, None] = {}

    @property
    def secrets(self) -> list[str] | Callable[[], Sequence[str]]:
        return self._secrets

    @secrets.setter
    def secrets(self, value: str | Sequence[str] | Callable[[], Sequence[str]]) -> None:
        if isinstance(value, str):
            self._secrets: list[str] | Callable[[], Sequence[str]] = [value]
        elif callable(value):
            self._secrets = value
        else:
            self._secrets = list(value)

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        """(requests, window seconds) allowed per client host, or None (no limit)."""
        return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, value: str | tuple[int, float] | None) -> None:
        self._rate_limit = parse_rate_limit(value)

    def current_org_secrets(self) -> dict[str, list[str]] | None:
        """organisation id -> candidate secrets now, or None when secrets are not chosen by organisation."""
        table = self.org_secrets
        if table is None:
            return None
        current = table() if callable(table) else table
        return {str(k): [v] if isinstance(v, str) else list(v) for k, v in current.items()}

    def current_secrets(self) -> list[str]:
        """The candidate secrets now (a callable ``secrets`` is asked on every request, so a
        rotation is seen at once)."""
        value = self._secrets
        return list(value()) if callable(value) else value

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Receiver:
        """Start serving in a background thread; returns once the port is bound."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(
                        lambda: _AdmittingProtocol(self._admit, self._handle), self.host, self._port, backlog=_accept_batch(self.max_connections)
                    )
                )
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            self._port = self._server.sockets[0].getsockname()[1]
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="simlib-receiver", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise OSError(f"cannot start the receiver on {self.host}:{self._port}: {failure[0]}") from failure[0]
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for transport in list(self._open):
            transport.abort()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except Exception:  # noqa: BLE001 - shutting down: a server that will not close cleanly is abandoned
                pass

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def url(self) -> str:
        """The webhook URL to configure: ``http://127.0.0.1:PORT/webhooks/trackpilots``."""
        return self.base_url + DEFAULT_PATH

    def __repr__(self) -> str:
        state = f"listening on {self.base_url}" if self.running else "stopped"
        return f"Receiver({state}, {self._count} requests)"

    # -- records ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def count(self) -> int:
        """Requests received since start (including ones dropped from ``requests`` by ``keep``)."""
        return self._count

    @property
    def kept_bytes(self) -> int:
        """Bytes (bodies + header names and values) held in ``requests``; at most ``keep_bytes``."""
        return self._kept_bytes

    def stats(self) -> dict[str, Any]:
        """Counters since start: requests, verified signatures, answers by status, requests
        refused before they were recorded (malformed, or over a limit) by status, connections
        closed by a timeout, given way to a newer one or refused at the connection cap, and
        what ``requests`` holds now; with ``delay_ms``, how many answers wait out the delay at
        once (now, and at most since start)."""
        with self._cond:
            return {
                "requests": self._count,
                "verified": self._verified,
                "answered": {str(k): v for k, v in sorted(self._answered.items())},
                "rejected": {str(k): v for k, v in sorted(self._rejected.items())},
                "connections_closed": dict(self._closed),
                "open_connections": len(self._open),
                "pending_bytes": self._pending,
                "delayed_answers": {"now": self._answering, "peak": self._answering_peak},
                "kept": len(self._requests),
                "kept_bytes": self._kept_bytes,
                "rate_limited": self._rate_limited,
            }

    def clear(self) -> None:
        with self._cond:
            self._requests.clear()
            self._sizes.clear()
            self._kept_bytes = 0

    def _keep(self, record: ReceivedRequest) -> None:
        """Add ``record`` to the ring buffer, dropping the oldest past ``keep`` or ``keep_bytes``
        (call with ``_cond`` held)."""
        size = _kept_size(record)
        if self.keep == 0 or size > self.keep_bytes:
            return
        requests, sizes = self._requests, self._sizes
        while requests and (len(requests) >= self.keep or self._kept_bytes + size > self.keep_bytes):
            requests.popleft()
            self._kept_bytes -= sizes.popleft()
        requests.append(record)
        sizes.append(size)
        self._kept_bytes += size

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until ``requests`` holds at least ``count`` requests; raise TimeoutError if not."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"receiver got {len(self._requests)} of {count} requests in {timeout} s")
                self._cond.wait(remaining)
            return list(self._requests)

    # -- HTTP -------------------------------------------------------------------------------
    #
    # One coroutine per connection; h11 parses what the client sends (one h11.Connection per
    # request, handed the bytes the previous one had not used: pipelined requests), the
    # receiver formats its own answers. One asyncio.timeout per connection is moved at each
    # phase: head (header_timeout, or keepalive_timeout while idle), body (body_timeout),
    # answer (write_timeout, after the configured delay).

    def _admit(self, transport: asyncio.WriteTransport) -> bool:
        """Make room for a new connection at the cap: close the one that has waited longest for
        a request head, else the one longest in a body; refuse the new one if all are answering."""
        if len(self._open) >= self.max_connections:
            victims = self._in_head or self._in_body
            if not victims:
                self._closed["refused"] += 1
                _reject(transport, 503, "too many connections")
                return False
            victim = next(iter(victims))
            self._forget(victim)
            self._closed["evicted"] += 1
            victim.abort()
        self._open.add(transport)
        return True

    def _forget(self, transport: asyncio.WriteTransport) -> None:
        self._open.discard(transport)
        self._in_head.pop(transport, None)
        self._in_body.pop(transport, None)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transport = writer.transport  # admitted by _AdmittingProtocol
        peer = writer.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        out: list[bytes] = []  # answers not yet written: pipelined answers leave in one write
        phase = ["request"]  # "idle" between requests, "request" while one arrives, "answer" while writing
        try:
            async with asyncio.timeout(None) as deadline:
                await self._serve(reader, writer, deadline, client, out, phase)
        except TimeoutError:
            self._closed["timeout"] += 1
            if phase[0] == "answer":  # the client does not take its answers: nothing more to say
                out.clear()
                transport.abort()
            elif phase[0] == "idle":  # an idle keep-alive connection: closed silently
                pass
            else:
                self._rejected[408] = self._rejected.get(408, 0) + 1
                out.append(_error_response(408, "request not received in time"))
        except _BadRequest as bad:
            self._rejected[bad.status] = self._rejected.get(bad.status, 0) + 1
            out.append(_error_response(bad.status, str(bad)))
        except (ConnectionError, OSError):
            pass
        except Exception:  # noqa: BLE001 - a bad client must never take the receiver down
            pass
        finally:
            self._forget(transport)
            if out and not transport.is_closing():
                transport.write(b"".join(out))
            transport.close()
            if transport.get_write_buffer_size():  # a client that does not read its answers
                asyncio.get_running_loop().call_later(self.write_timeout, transport.abort)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deadline: asyncio.Timeout,
        client: str,
        out: list[bytes],
        phase: list[str],
    ) -> None:
        loop = asyncio.get_running_loop()
        transport = writer.transport
        due = [0.0]  # the current phase's deadline (loop time); set on the timer only before waiting

        async def flush() -> None:
            if out:
                transport.write(b"".join(out))
                out.clear()
                if transport.get_write_buffer_size():  # the client is slower to read than we answer
                    was, phase[0] = phase[0], "answer"
                    deadline.reschedule(loop.time() + self.write_timeout)
                    await writer.drain()
                    phase[0] = was

        async def read() -> bytes:
            await flush()
            if deadline.when() != due[0]:
                deadline.reschedule(due[0])
            return await reader.read(READ_CHUNK)

        leftover, eof = b"", False
        first = True
        while True:
            # The request head.
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_header_bytes)
            if leftover:
                conn.receive_data(leftover)
            if eof:
                conn.receive_data(b"")
            idle = not first and not leftover
            phase[0] = "idle" if idle else "request"
            due[0] = loop.time() + (self.keepalive_timeout if idle else self.header_timeout)
            self._in_head[transport] = None
            raw_head = bytearray(leftover)  # kept to check what h11 accepts and RFC 9112 forbids
            while True:
                event = _next_event(conn)
                if event is not h11.NEED_DATA:
                    break
                data = await read()
                if idle and data:
                    idle = False
                    phase[0] = "request"
                    due[0] = loop.time() + self.header_timeout
                raw_head += data
                conn.receive_data(data)
            if type(event) is not h11.Request:
                return  # ConnectionClosed: the client is done
            self._in_head.pop(transport, None)
            first = False
            request: h11.Request = event
            raw_items = request.headers.raw_items()  # (name as sent, value), in order
            length = self._check_head(request, raw_items, raw_head)

            # The body.
            due[0] = loop.time() + self.body_timeout
            if conn.they_are_waiting_for_100_continue:
                out.append(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await self._read_body(conn, read, transport, length)
            leftover, eof = conn.trailing_data
            keep_alive = conn.their_state is h11.DONE  # not MUST_CLOSE (Connection: close, HTTP/1.0)

            # The answer.
            if self.delay_ms:
                await flush()
                deadline.reschedule(None)  # the configured delay is the receiver's own, not the client's
            status, payload, ctype, extra = await self._answer(request, raw_items, body, client)
            out.append(_response(status, payload, ctype, keep_alive, extra))
            if not keep_alive:
                await flush()
                return

    def _check_head(self, request: h11.Request, raw_items: list[tuple[bytes, bytes]], raw_head: bytearray) -> int | None:
        """What RFC 9112 asks a strict server to refuse and h11 lets through; returns the
        Content-Length (None for chunked)."""
        if request.http_version not in (b"1.1", b"1.0"):
            raise _BadRequest(505, f"HTTP/{request.http_version.decode()} is not supported")
        if len(raw_items) > self.max_headers:
            raise _BadRequest(431, f"more than {self.max_headers} header fields")
        end = _BLANK_LINE.search(raw_head)
        if end is None or end.end() > self.max_header_bytes:  # h11 checks only a head that arrives in pieces
            raise _BadRequest(431, f"request head over the limit of {self.max_header_bytes} bytes")
        if _OBS_FOLD.search(raw_head, 0, end.start()):
            raise _BadRequest(400, "obsolete line folding in the request head")
        length: int | None = None
        chunked = False
        for name, value in raw_items:
            lower = name.lower()
            if lower == b"content-length":
                length = int(value)  # h11 checked: digits only, every copy equal
            elif lower == b"transfer-encoding":
                chunked = True  # h11 checked: exactly "chunked", once
        if chunked and length is not None:
            raise _BadRequest(400, "both Transfer-Encoding and Content-Length")
        if length is not None and length > self.max_body_bytes:
            raise _BadRequest(413, f"body of {length} bytes is over the limit of {self.max_body_bytes}")
        return None if chunked else (length or 0)

    async def _read_body(
        self,
        conn: h11.Connection,
        read: Callable[[], Awaitable[bytes]],
        transport: asyncio.WriteTransport,
        length: int | None,
    ) -> bytes:
        if length == 0:
            _next_event(conn)  # EndOfMessage, at once
            return b""
        self._in_body[transport] = None
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                event = _next_event(conn)
                if event is h11.NEED_DATA:
                    conn.receive_data(await read())
                    continue
                if type(event) is h11.EndOfMessage:
                    return b"".join(parts)
                assert type(event) is h11.Data
                n = len(event.data)
                size += n
                if size > self.max_body_bytes:
                    raise _BadRequest(413, f"body over the limit of {self.max_body_bytes} bytes")
                self._pending += n
                parts.append(event.data)
                if self._pending > self.max_pending_bytes:
                    raise _BadRequest(503, "too many body bytes being received at once; retry later")
        finally:
            self._pending -= sum(len(p) for p in parts)
            self._in_body.pop(transport, None)

    async def _answer(
        self, request: h11.Request, raw_items: list[tuple[bytes, bytes]], body: bytes, client: str
    ) -> tuple[int, bytes, str, tuple[tuple[str, str], ...]]:
        """Verify, record and decide the answer (status, payload, content type, extra headers)."""
        method = request.method.decode("latin-1")
        target = request.target.decode("latin-1")
        if method == "GET" and target == STATS_PATH:
            return 200, json.dumps(self.stats()).encode(), "application/json", ()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_items]
        version = "HTTP/" + request.http_version.decode("latin-1")
        index = self._count
        header_tuple = tuple(headers)
        if self._over_rate_limit(client):
            record = ReceivedRequest(index, self.clock(), method, target, version, header_tuple, body, None, 429, client)
            self._rate_limited += 1
            self._record(record)
            extra = (("retry-after", str(self.retry_after)),) if self.retry_after is not None else ()
            return 429, json.dumps(TOO_MANY_REQUESTS, separators=(",", ":")).encode(), "application/json", extra
        verification = None
        parsed: list[Any] = []  # the body as JSON.parse reads it, once, when a switch needs it

        def parsed_body() -> Any:
            if not parsed:
                try:
                    parsed.append(js_parse(body))
                except (ValueError, RecursionError):
                    parsed.append(_NOT_JSON)
            return parsed[0]

        org_table, secrets = None, []
        try:  # a provider (a function) that fails, or finds no secret: refused, never "verify nothing"
            org_table = self.current_org_secrets() if self.verify_signatures else None
            if org_table is None:
                secrets = self.current_secrets()
                if self.verify_signatures and not secrets and callable(self._secrets):
                    verification = Verification(False, "no_secret", "the receiver has no secret to verify with now "
                                                "(the webhook it verifies for is gone, or none is aimed at it)")
        except Exception as exc:  # noqa: BLE001 - the store gone, its key rotated: said in the answer
            verification = Verification(False, "secrets_unavailable", "the receiver cannot read the secrets it verifies "
                                        f"with: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        if org_table is not None:
            org = organisation_id_of(parsed_body())
            secrets = org_table.get(org, []) if org is not None else []
            if not secrets:
                shown = "no organisation id in the body" if org is None else f"unknown organisation {org[:80]!r}"
                verification = Verification(False, "unknown_organisation", shown)
        if verification is None and self.verify_signatures and secrets:
            signed = body
            if self.reserialize:
                value = parsed_body()
                if value is _NOT_JSON:
                    verification = Verification(False, "not_json", "the body is not JSON: it cannot be re-serialised")
                else:
                    signed = stringify_bytes(value, non_finite="null")
            if verification is None:
                verification = self._verify(headers, signed, secrets)
        if self.replay_protection and (verification is None or verification.ok):
            replayed = self._replayed(headers, verification)
            verification = verification if replayed is None else replayed
        provisional = ReceivedRequest(
            index, self.clock(), method, target, version, header_tuple, body, verification, 0, client
        )
        flat_problem = self.flat_payload and (verification is None or verification.ok or not self.reject_invalid)
        if flat_problem:
            value = parsed_body()
            flat_problem = not (isinstance(value, dict) and value.get("organisationId") and value.get("userId"))
        if verification is not None and not verification.ok and self.reject_invalid:
            status = {"replayed": 409, "not_json": 400, "secrets_unavailable": 503}.get(verification.code, 401)
            payload = json.dumps({"received": False, "verified": False, "reason": verification.reason}).encode()
            ctype = "application/json"
        elif flat_problem:
            status, ctype = 400, "application/json"
            payload = json.dumps({"error": FLAT_PAYLOAD_ERROR}).encode()
        else:
            status = self.status(provisional) if callable(self.status) else int(self.status)
            ctype = self.content_type
            if self.body is not None:
                payload = self.body
            else:
                verified = None if verification is None else verification.ok
                event = provisional.event_type
                if event is None or len(event) <= _CACHED_EVENT_CHARS:
                    payload = _received_answer(verified, event)
                else:
                    payload = json.dumps({"received": True, "verified": verified, "event": event}).encode()
        record = ReceivedRequest(
            index, provisional.received_at_ms, method, target, version, header_tuple, body, verification, status, client
        )
        self._record(record)
        if self.delay_ms:
            self._answering += 1
            self._answering_peak = max(self._answering_peak, self._answering)
            try:
                await asyncio.sleep(self.delay_ms / 1000)
            finally:
                self._answering -= 1
        return status, payload, ctype, ()

    def _record(self, record: ReceivedRequest) -> None:
        """Count and keep ``record``, then hand it to ``on_request``."""
        verification = record.verification
        with self._cond:
            self._count += 1
            if verification is not None:
                self._verified += verification.ok
            self._answered[record.status] = self._answered.get(record.status, 0) + 1
            self._keep(record)
            self._cond.notify_all()
        if self.on_request is not None:
            try:
                self.on_request(record)
            except Exception:  # noqa: BLE001 - a caller's hook must not break answering the request
                pass

    def _over_rate_limit(self, client: str) -> bool:
        """Whether this request from ``client`` (its host; the port is the connection's) is past
        ``rate_limit`` in the sliding window; it counts as a request either way."""
        limit = self._rate_limit
        if limit is None:
            return False
        n, window = limit
        host = client.rsplit(":", 1)[0]
        now = time.monotonic()
        hits = self._hits.get(host)
        if hits is None:
            hits = self._hits[host] = deque()
            while len(self._hits) > _MAX_RATE_CLIENTS:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(host)
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= n:
            return True
        hits.append(now)
        return False

    def _verify(self, headers: list[tuple[str, str]], body: bytes, secrets: list[str]) -> Verification:
        now = self.clock()
        if self.timestamp_unit == "ms" and self.reject_future:
            return verify(headers, body, secrets, now_ms=now, tolerance_ms=self.tolerance_ms)
        return _buggy_verify(headers, body, secrets, now, self.tolerance_ms, self.timestamp_unit, self.reject_future)

    def _replayed(self, headers: list[tuple[str, str]], verification: Verification | None) -> Verification | None:
        """A Verification saying "replayed" if this timestamp+signature was accepted before;
        otherwise remember it (until it would fall out of the window anyway) and return None."""
        sig, ts = header_value(headers, SIGNATURE_HEADER), header_value(headers, TIMESTAMP_HEADER)
        if not sig or not ts:
            return None
        now = self.clock()
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        key = (ts.strip(), sig.strip().lower())
        if key in self._seen:
            v = verification
            return Verification(
                False, "replayed", "replayed request: this timestamp and signature were already accepted",
                v.timestamp_ms if v else None, v.skew_ms if v else None,
            )
        window = self.tolerance_ms if self.tolerance_ms is not None else float("inf")
        self._seen[key] = now + 2 * window  # a future-dated request stays valid until now + 2 windows
        while len(self._seen) > max(self.keep, DEFAULT_KEEP):
            self._seen.popitem(last=False)
        return None


class _AdmittingProtocol(asyncio.StreamReaderProtocol):
    """Applies the connection cap as soon as a connection is made, before the next batch of
    accepts (a handler task would only run after it): the open files stay bounded."""

    def __init__(
        self,
        admit: Callable[[asyncio.WriteTransport], bool],
        handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    ) -> None:
        super().__init__(asyncio.StreamReader(limit=READ_CHUNK), handle)
        self.admit = admit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        if self.admit(transport):
            super().connection_made(transport)


def _accept_batch(max_connections: int) -> int:
    """The listen backlog, which is also how many connections asyncio accepts in one go before
    any of them is admitted: at most half the cap, so open sockets stay under 1.5 x the cap
    (under 3/4 of the open-file limit with the default cap)."""
    return max(1, min(128, max_connections // 2))


_NOT_JSON = object()  # what parsed_body() holds for a body JSON.parse would refuse
_BLANK_LINE = re.compile(rb"\n\r?\n")  # the end of a request head, as h11 finds it
_OBS_FOLD = re.compile(rb"\n[ \t]")  # a header line that continues the previous one


def _next_event(conn: h11.Connection) -> Any:
    """``conn.next_event()``, with h11's protocol errors as the receiver's 400/431."""
    try:
        return conn.next_event()
    except h11.RemoteProtocolError as exc:
        # h11 hints 501 for a Transfer-Encoding it does not decode; the receiver answers 400
        # (see Receiver: a body it cannot frame is ambiguous).
        raise _BadRequest(431 if exc.error_status_hint == 431 else 400, str(exc)) from None


@functools.lru_cache(maxsize=1024)
def _status_line(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Status"
    return f"HTTP/1.1 {status} {phrase}"


@functools.lru_cache(maxsize=256)
def _received_answer(verified: bool | None, event: str | None) -> bytes:
    """The default answer's body for a request of ``event`` (kept for the few event names a
    receiver sees; the caller passes only short ones)."""
    return json.dumps({"received": True, "verified": verified, "event": event}).encode()


def _response(
    status: int, payload: bytes, ctype: str, keep_alive: bool, extra: Sequence[tuple[str, str]] = ()
) -> bytes:
    head = [_status_line(status), f"content-type: {ctype}", *(f"{k}: {v}" for k, v in extra)]
    no_body = status in (204, 304) or 100 <= status < 200
    if not no_body:
        head.append(f"content-length: {len(payload)}")
    if not keep_alive:
        head.append("connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (b"" if no_body else payload)


def _error_response(status: int, message: str) -> bytes:
    return _response(status, json.dumps({"error": message}).encode(), "application/json", False)


def _reject(transport: asyncio.WriteTransport, status: int, message: str) -> None:
    transport.write(_error_response(status, message))
    transport.close()


def _kept_size(record: ReceivedRequest) -> int:
    """What a kept request counts against ``keep_bytes``: body, target and header text."""
    return len(record.body) + len(record.path) + sum(len(k) + len(v) + 4 for k, v in record.headers)


def _timeout(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds above 0, not {value!r}")
    return float(value)


def _positive_int(name: str, value: int, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return value


def default_max_connections() -> int:
    """``DEFAULT_MAX_CONNECTIONS``, and at most half the open-file limit (the other half is left
    to the process: the store, the sender, a notebook kernel)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return DEFAULT_MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return DEFAULT_MAX_CONNECTIONS
    return max(1, min(DEFAULT_MAX_CONNECTIONS, soft // 2))


def _buggy_verify(
    headers: Sequence[tuple[str, str]],
    body: bytes,
    secrets: Sequence[str],
    now: int,
    tolerance_ms: int | None,
    unit: str,
    reject_future: bool,
) -> Verification:
    """What a receiver with a timestamp bug checks: the header read as ``unit`` ("s": as
    seconds), and with ``reject_future=False`` only "too old" rejected. The signature check
    itself is correct (raw body, constant time, hex case-insensitive)."""
    sig, ts_raw = header_value(headers, SIGNATURE_HEADER), header_value(headers, TIMESTAMP_HEADER)
    if not sig or not sig.strip():
        return Verification(False, "missing_signature", f"missing header {SIGNATURE_HEADER}")
    if not ts_raw or not ts_raw.strip():
        return Verification(False, "missing_timestamp", f"missing header {TIMESTAMP_HEADER}")
    ts_text = ts_raw.strip()
    if not (ts_text.isascii() and ts_text.isdigit()):
        return Verification(False, "bad_timestamp", f"{TIMESTAMP_HEADER} is not a whole number")
    ts_ms = int(ts_text) * (1000 if unit == "s" else 1)
    skew = now - ts_ms
    if tolerance_ms is not None and (skew > tolerance_ms or (reject_future and -skew > tolerance_ms)):
        where = "old" if skew > 0 else "in the future"
        return Verification(
            False, "outside_tolerance", f"timestamp is {abs(skew)} ms {where} (read as {unit})", ts_ms, skew
        )
    given = sig.strip().lower().encode("ascii", "replace")
    for index, secret in enumerate(secrets):
        if hmac.compare_digest(compute_signature(secret, ts_text, body).encode("ascii"), given):
            return Verification(True, "ok", "signature valid", ts_ms, skew, index)
    return Verification(False, "no_match", "no signature matched", ts_ms, skew)


def serve_forever(receiver: Receiver, *, stop: threading.Event | None = None) -> None:
    """Run ``receiver`` until Ctrl-C (or ``stop`` is set); for the CLI."""
    receiver.start()
    try:
        if stop is not None:
            stop.wait()
        else:
            _sleep_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()


def _sleep_forever() -> None:
    while True:
        time.sleep(3600)


class ReceiverProcess:
    """The embedded receiver in a child process (its own interpreter, so its own GIL): for load
    tests and benchmarks, where a receiver thread would compete with the sender for the GIL.

    ``with ReceiverProcess(secrets=[s]) as rx: ... rx.url ... rx.stats()``
    """

    def __init__(
        self, secrets: Sequence[str] = (), *, status: int = 200, delay_ms: int = 0, verify_signatures: bool = True
    ) -> None:
        self.secrets = list(secrets)
        self.status = status
        self.delay_ms = delay_ms
        self.verify_signatures = verify_signatures
        self._proc: Any = None
        self.url = ""
        self.port = 0

    def start(self) -> ReceiverProcess:
        import os
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "simlib", "receive", "--port", "0", "--quiet", "--status", str(self.status),
               "--delay-ms", str(self.delay_ms)]
        env = dict(os.environ)
        if self.verify_signatures and self.secrets:
            env["SIMLIB_RECEIVER_SECRETS"] = "\n".join(self.secrets)  # not on the command line
        else:
            cmd.append("--no-verify")
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self._proc.stdout.readline()
        if not line.startswith("listening on "):
            err = self._proc.stderr.read()
            self._proc.kill()
            raise OSError(f"the receiver process did not start: {line.strip() or err.strip()}")
        self.url = line.split()[2]
        self.port = int(self.url.split(":")[2].split("/")[0])
        return self

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (a benchmark pins it to a CPU of its own)."""
        return None if self._proc is None else int(self._proc.pid)

    def stats(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{STATS_PATH}", timeout=5) as resp:
            stats: dict[str, Any] = json.loads(resp.read())
            return stats

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except Exception:  # noqa: BLE001 - whatever stopped the wait, the child is killed
                self._proc.kill()
            self._proc = None

    def __enter__(self) -> ReceiverProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
