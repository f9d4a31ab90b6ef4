"""The burst engine: one HTTP attempt on aiohttp, with the single send's rules (issue 12).

A burst spends most of its time in the HTTP client; httpx's asynchronous stack costs several
times what aiohttp does per request (BENCHMARKS.md, "Burst engine"). So bursts send with
aiohttp, and single sends stay on httpx (:mod:`.http`). Both engines keep the same rules, and
one fault matrix (``tests/core/test_engines.py``) runs through both:

- **one attempt, no redirects** (``allow_redirects=False``): a 3xx is a failure showing its
  Location, classified by :func:`~simlib.core.delivery.http.status_detail`;
- **the total deadline** covers every phase of the attempt (DNS, connect, TLS, headers, body):
  ``asyncio.timeout`` around it; the connect and read timeouts are clipped to it;
- **the response cap**: aiohttp decompresses nothing (``auto_decompress=False``); the raw
  chunks go to the same :class:`~simlib.core.delivery.body.BodyReader` (bytes read and bytes
  decoded both bounded), then :func:`~simlib.core.delivery.body.decode_text`;
- **TLS** verified with the same trust store as httpx's (plus ``ca_bundle``), or off and said so;
- **the address policy with the connection pinned**: a host name is resolved by
  :class:`PolicyResolver` (the configured resolver, within the deadline), every address is
  checked, and aiohttp connects only to those addresses (no DNS cache: every new connection is
  resolved and checked again); an IP-literal host is checked once per sender;
- **errors in the same words**: aiohttp's exceptions are translated to what
  :func:`~simlib.core.delivery.http.explain_exception` explains for a single send.

What it does not do: proxies and ``trust_env`` (environment proxies and CA files). A burst with
either falls back to the httpx engine and says so (:func:`fast_engine_problem`).

This module imports aiohttp; it is imported only when a burst starts (``import simlib`` does not
load it: tested in ``tests/core/test_engines.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from simlib.core.delivery.answer import answered_outcome, deadline_outcome, fast_engine_problem, header_text
from simlib.core.delivery.body import BodyReader
from simlib.core.delivery.http import (
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    DeliveryConfig,
    Outcome,
    SendPhase,
    explain_exception,
)
from simlib.core.delivery.netpolicy import ResolveTimeout, get_policy, resolve
from simlib.errors import SimlibError
from simlib.records import NETWORK_ERROR

__all__ = ["ENGINE_FAST", "FastSender", "PolicyResolver", "fast_engine_problem"]

ENGINE_FAST = "aiohttp"
#: Bytes asked of the socket at a time (as httpx's 64 KiB reads).
READ_CHUNK = 65_536
#: The largest response head line or header field read (as h11's limit under httpcore).
MAX_HEAD_BYTES = 100 * 1024
#: The most response header fields read (each takes at least a few bytes of the 100 KiB head).
MAX_HEAD_FIELDS = 10_000
#: A per-phase timeout that fires this close to the total deadline is the deadline (as in .http).
_CLIPPED = 0.05


@dataclass
class _Attempt:
    """What one attempt has got to, for the outcome when the deadline ends it."""

    resolving: str | None = None  # the host name while it is being resolved
    status: int | None = None
    headers: dict[str, str] | None = None
    phase: SendPhase | None = None  # what the burst follows of it (cancelled in flight)


_ATTEMPT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar("simlib_fast_attempt", default=None)


class PolicyResolver(AbstractResolver):
    """aiohttp's resolver for a host name: the configured resolver (the system's by default),
    within the deadline and off the event loop, then every address checked against the address
    policy; aiohttp connects only to the addresses returned here (pinned)."""

    def __init__(self, config: DeliveryConfig) -> None:
        self.config = config
        self.policy = get_policy(config.address_policy)

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        attempt = _ATTEMPT.get()
        if attempt is not None:
            attempt.resolving = host
        lookup = functools.partial(resolve, host, port, self.config.resolver, timeout=self.config.deadline)
        addresses = await asyncio.get_running_loop().run_in_executor(None, lookup)
        self.policy.check(host, addresses)  # BlockedAddress: nothing is connected to
        if attempt is not None:
            attempt.resolving = None
        out: list[ResolveResult] = []
        for address in addresses:
            bare, _, _zone = address.partition("%")
            fam = socket.AF_INET6 if ":" in bare else socket.AF_INET
            out.append(
                {"hostname": host, "host": bare, "port": port, "family": fam, "proto": 0, "flags": socket.AI_NUMERICHOST}
            )
        return out

    async def close(self) -> None:
        return None


def _headers(raw: tuple[tuple[bytes, bytes], ...]) -> dict[str, str]:
    """Response headers as the single send keeps them: lower-case names, repeated headers joined,
    at most MAX_HEADERS names and MAX_HEADER_VALUE characters each."""
    out: dict[str, str] = {}
    for key, value in raw:
        k = key.decode("latin-1").lower()
        if len(out) >= MAX_HEADERS and k not in out:
            continue
        v = header_text(value)[:MAX_HEADER_VALUE]
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


def _reset_in(exc: BaseException) -> bool:
    cur: BaseException | None = exc
    seen: list[BaseException] = []
    while cur is not None and cur not in seen:
        seen.append(cur)
        if isinstance(cur, ConnectionResetError) or getattr(cur, "errno", None) == 104:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def explain(exc: BaseException, url: str, config: DeliveryConfig) -> str:
    """The single send's words for an aiohttp failure: the exception is mapped onto the one a
    single send meets in the same situation, and :func:`explain_exception` words it."""
    if isinstance(exc, SimlibError):  # the address policy and the resolver: already worded
        return explain_exception(exc, url, config)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return explain_exception(httpx.ConnectTimeout(str(exc)), url, config)
    if isinstance(exc, aiohttp.ServerTimeoutError):  # the read timeout (sock_read)
        return explain_exception(httpx.ReadTimeout(str(exc)), url, config)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return explain_exception(exc.certificate_error, url, config)
    if isinstance(exc, aiohttp.ClientConnectorError):  # DNS, refused, TLS handshake ...
        return explain_exception(exc.os_error, url, config)
    if _reset_in(exc):
        return explain_exception(ConnectionResetError(104, "Connection reset by peer"), url, config)
    if isinstance(exc, aiohttp.ClientResponseError):  # the answer was not HTTP
        return explain_exception(httpx.RemoteProtocolError(exc.message), url, config)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return explain_exception(httpx.RemoteProtocolError(str(exc)), url, config)
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno is not None:
        return explain_exception(OSError(exc.errno, exc.strerror), url, config)
    return explain_exception(exc, url, config)


class FastSender:
    """The aiohttp side of one burst: a session with up to ``max_connections`` connections.

    ``async with FastSender(config, max_connections=32) as sender: await sender.deliver(...)``.
    """

    engine = ENGINE_FAST

    def __init__(self, config: DeliveryConfig, *, max_connections: int = 100, follow_phase: bool = False) -> None:
        problem = fast_engine_problem(config)
        if problem is not None:
            raise ValueError(f"the fast engine cannot send with this configuration: {problem}")
        self.config = config
        self.max_connections = max_connections
        # aiohttp's tracing tells when a connection is made or reused (a send cancelled after
        # that may have reached the endpoint); only bursts that can be cancelled pay for it.
        self.follow_phase = follow_phase
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool | None = None
        self._urls: dict[str, tuple[URL, BaseException | None]] = {}

    async def __aenter__(self) -> FastSender:
        config = self.config
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=0,
            use_dns_cache=False,  # every new connection is resolved and checked again
            resolver=PolicyResolver(config),
            enable_cleanup_closed=False,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # the BodyReader decodes, within the cap
            cookie_jar=aiohttp.DummyCookieJar(),  # nothing carries over from one send to the next
            trust_env=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=min(config.connect_timeout, config.deadline),
                sock_read=min(config.read_timeout, config.deadline),
            ),
            read_bufsize=READ_CHUNK,
            # The answer's head may be as large as a single send accepts (httpcore lets h11 take
            # up to 100 KiB): a long header line is no reason for a burst to fail where a send works.
            max_line_size=MAX_HEAD_BYTES,
            max_field_size=MAX_HEAD_BYTES,
            max_headers=MAX_HEAD_FIELDS,
            raise_for_status=False,
            trace_configs=[_phase_tracing()] if self.follow_phase else None,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _ssl_for(self, url: URL) -> ssl.SSLContext | bool:
        if url.scheme != "https":
            return True  # aiohttp's default; unused for http
        if self._ssl is None:
            config = self.config
            if not config.verify_tls:
                self._ssl = False
            elif config.ca_bundle:
                self._ssl = ssl.create_default_context(cafile=config.ca_bundle)
            else:  # the same trust store as a single send's (httpx's)
                self._ssl = httpx.create_ssl_context(verify=True, trust_env=False)
        return self._ssl

    def _target(self, url: str) -> tuple[URL, BaseException | None]:
        """The parsed URL, and for an IP-literal host the address policy's refusal (checked once:
        aiohttp does not resolve, so :class:`PolicyResolver` never sees it)."""
        known = self._urls.get(url)
        if known is not None:
            return known
        parsed = URL(url)
        problem: BaseException | None = None
        host = parsed.raw_host or ""
        try:
            literal = str(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            literal = None  # a host name: PolicyResolver resolves and checks it per connection
        if literal is not None:
            try:
                get_policy(self.config.address_policy).check(host, [literal])
            except SimlibError as exc:
                problem = exc
        if len(self._urls) > 64:
            self._urls.clear()
        self._urls[url] = (parsed, problem)
        return parsed, problem

    async def deliver(self, url: str, body: bytes, headers: dict[str, str], *, phase: SendPhase | None = None) -> Outcome:
        """POST ``body`` once. Never raises for anything the endpoint or network does. ``phase``
        follows how far it got (with ``follow_phase=True``: whether a connection was made)."""
        config = self.config
        session = self._session
        assert session is not None, "use FastSender as an async context manager"
        start = time.perf_counter()
        attempt = _Attempt(phase=phase)
        token = _ATTEMPT.set(attempt)
        window = asyncio.timeout(config.deadline)
        try:
            target, refused = self._target(url)
            if refused is not None:  # not raised again: one exception object serves every send
                return Outcome(error=NETWORK_ERROR, detail=explain(refused, url, config))
            async with window:
                return await self._attempt(session, target, body, headers, attempt)
        except TimeoutError as exc:
            if isinstance(exc, ResolveTimeout):
                return Outcome(error=NETWORK_ERROR, detail=str(exc))
            if window.expired():
                if attempt.resolving is not None:  # the same reason as a single send's
                    return Outcome(error=NETWORK_ERROR, detail=str(ResolveTimeout(attempt.resolving, config.deadline)))
                return deadline_outcome(attempt.status, attempt.headers, config)
            return self._failure(exc, url, start, attempt)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a readable outcome
            return self._failure(exc, url, start, attempt)
        finally:
            _ATTEMPT.reset(token)

    async def _attempt(
        self, session: aiohttp.ClientSession, target: URL, body: bytes, headers: dict[str, str], attempt: _Attempt
    ) -> Outcome:
        config = self.config
        sent_at = time.perf_counter()  # latency: the round trip of the call itself
        resp = await session.request(
            "POST", target, data=body, headers=headers, allow_redirects=False, ssl=self._ssl_for(target)
        )
        complete = False
        try:
            attempt.status = resp.status
            attempt.headers = answer_headers = _headers(resp.raw_headers)
            if attempt.phase is not None:
                attempt.phase.status, attempt.phase.headers = resp.status, answer_headers
            reader = BodyReader(config.max_response_bytes, answer_headers.get("content-encoding"))
            content = resp.content
            while True:
                chunk = await content.readany()
                if not chunk:
                    complete = True
                    break
                if reader.feed(chunk):
                    break  # the cap: the rest is not read
            latency = (time.perf_counter() - sent_at) * 1000
        finally:
            if complete:
                resp.release()  # the connection goes back to the pool
            else:
                resp.close()  # cut short: the connection is not reused
        return answered_outcome(resp.status, resp.reason or "", answer_headers, reader, latency, config)

    def _failure(self, exc: BaseException, url: str, start: float, attempt: _Attempt) -> Outcome:
        config = self.config
        # A per-phase timeout clipped to what was left of the deadline is the deadline too.
        if isinstance(exc, aiohttp.ServerTimeoutError) and time.perf_counter() >= start + config.deadline - _CLIPPED:
            return deadline_outcome(attempt.status, attempt.headers, config)
        out = Outcome(error=NETWORK_ERROR, detail=explain(exc, url, config))
        if attempt.status is not None:
            out.http_status = attempt.status
            out.response_headers = attempt.headers or {}
        return out


async def _connected(_session: object, _ctx: object, _params: object) -> None:
    attempt = _ATTEMPT.get()
    if attempt is not None and attempt.phase is not None:
        attempt.phase.connected = True


def _phase_tracing() -> aiohttp.TraceConfig:
    """Marks the attempt's phase connected when aiohttp makes or reuses a connection for it."""
    tracing = aiohttp.TraceConfig()
    tracing.on_connection_create_end.append(_connected)
    tracing.on_connection_reuseconn.append(_connected)
    return tracing
