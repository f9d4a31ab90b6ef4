"""One HTTP attempt: POST the exact bytes, time it, capture the answer, classify failures.

Safe-delivery rules (PRACTICE.md §4): one attempt, no retries; redirects are never followed
(a 3xx is a failure that shows its Location); explicit connect/read/write timeouts plus a total
deadline; TLS verified by default; environment proxies ignored by default; the response body is
read as a stream and capped (decompression included), then decoded safely.

This module knows httpx; nothing above it does.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, cast

import httpx

from simlib._version import __version__
from simlib.core.delivery.body import BodyReader, decode_text
from simlib.core.delivery.deadline import Deadline
from simlib.core.delivery.netpolicy import (
    AddressPolicy,
    BlockedAddress,
    NoAddress,
    Resolver,
    ResolverBusy,
    ResolveTimeout,
    get_policy,
    resolve,
)
from simlib.core.signing import Encoding, TimestampUnit, sign, signer
from simlib.errors import ValidationError
from simlib.records import (
    CANCELLED,
    CANCELLED_BEFORE_CONNECT,
    CANCELLED_CONNECTED,
    NETWORK_ERROR,
    SIMULATION_FAILED,
    Secret,
    SimulationError,
)

__all__ = [
    "DeliveryConfig",
    "cancelled_outcome",
    "Outcome",
    "SendPhase",
    "deliver",
    "deliver_async",
    "make_async_sender",
    "make_sender",
    "request_headers",
    "header_signer",
    "signed_headers",
]

MAX_HEADER_VALUE = 1_000
MAX_HEADERS = 100
#: The longest accepted timeout or deadline: one hour (a webhook sender waits 10-30 s).
MAX_SECONDS = 3600.0
#: The largest accepted response cap (each kept body is held in memory and stored in history).
MAX_RESPONSE_BYTES = 10_000_000


@dataclass(frozen=True)
class DeliveryConfig:
    """How a send talks to the endpoint.

    ======================  =========  ==========================================================
    setting                 default    meaning
    ======================  =========  ==========================================================
    connect_timeout         5.0 s      TCP + TLS connect
    read_timeout            15.0 s     longest wait between two received chunks
    write_timeout           15.0 s     longest wait while sending the body
    deadline                30.0 s     total for the whole attempt (a dripping endpoint ends here)
    max_response_bytes      20 000     response body kept (after decompression); the rest is not
                                       read; see simlib.core.delivery.body
    verify_tls              True       verify certificates; False is recorded in the detail
    ca_bundle               None       a PEM file of extra CAs to trust (e.g. a local test CA)
    proxy                   None       an explicit proxy URL; environment proxies are ignored
    trust_env               False      honour HTTP(S)_PROXY / SSL_CERT_FILE from the environment
    user_agent              simlib/V   the User-Agent header
    signature_encoding      "hex"      digest encoding of x-webhook-signature ("hex"/"base64")
    timestamp_unit          "ms"       unit of x-webhook-timestamp ("ms" as Trackpilots; "s")
    address_policy          "local"    which addresses may be contacted ("local", "strict", or an
                                       AddressPolicy; default from $SIMLIB_ADDRESS_POLICY); see
                                       simlib.core.delivery.netpolicy
    resolver                None       host -> addresses function (default: the system resolver)
    ======================  =========  ==========================================================

    Timeouts and the deadline must be finite, greater than 0 and at most ``MAX_SECONDS`` (one
    hour: NaN or infinity would switch them off); ``max_response_bytes`` at most
    ``MAX_RESPONSE_BYTES`` (10 MB). Anything else is a ``ValidationError`` naming the field.
    """

    #: The longest accepted timeout or deadline (:data:`MAX_SECONDS`), for callers checking their input.
    max_seconds: ClassVar[float] = MAX_SECONDS
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    write_timeout: float = 15.0
    deadline: float = 30.0
    max_response_bytes: int = 20_000
    verify_tls: bool = True
    ca_bundle: str | None = None
    proxy: str | None = None
    trust_env: bool = False
    user_agent: str = f"simlib/{__version__}"
    signature_encoding: Encoding = "hex"
    timestamp_unit: TimestampUnit = "ms"
    address_policy: str | AddressPolicy = field(
        default_factory=lambda: os.environ.get("SIMLIB_ADDRESS_POLICY", "local")
    )
    resolver: Resolver | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # NaN compares false with everything and inf never expires: either would switch the
        # deadline (or a phase timeout) off, so only finite values within MAX_SECONDS pass.
        for name in ("connect_timeout", "read_timeout", "write_timeout", "deadline"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or not 0 < value <= MAX_SECONDS
            ):
                raise ValidationError(
                    name, f"must be a number of seconds greater than 0 and at most {MAX_SECONDS:g}, not {value!r}"
                )
        cap = self.max_response_bytes
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_RESPONSE_BYTES:
            raise ValidationError("max_response_bytes", f"must be a whole number from 0 to {MAX_RESPONSE_BYTES}, not {cap!r}")
        for name in ("verify_tls", "trust_env"):
            if not isinstance(getattr(self, name), bool):
                raise ValidationError(name, f"must be True or False, not {getattr(self, name)!r}")
        ua = self.user_agent
        if not isinstance(ua, str) or not ua or len(ua) > MAX_HEADER_VALUE or not ua.isprintable() or not ua.isascii():
            raise ValidationError("user_agent", f"must be 1-{MAX_HEADER_VALUE} printable ASCII characters")
        if self.proxy is not None and not isinstance(self.proxy, str):
            raise ValidationError("proxy", f"must be a URL string or None, not {type(self.proxy).__name__}")
        if self.resolver is not None and not callable(self.resolver):
            raise ValidationError("resolver", f"must be a function (host, port) -> addresses, not {type(self.resolver).__name__}")
        if self.signature_encoding not in ("hex", "base64"):
            raise ValidationError("signature_encoding", "must be 'hex' or 'base64'")
        if self.timestamp_unit not in ("ms", "s"):
            raise ValidationError("timestamp_unit", "must be 'ms' or 's'")
        if self.ca_bundle is not None:
            if not os.path.isfile(self.ca_bundle):
                raise ValidationError("ca_bundle", f"no such file: {self.ca_bundle}")
            try:
                ssl.create_default_context(cafile=self.ca_bundle)
            except (ssl.SSLError, ValueError, OSError) as exc:
                raise ValidationError("ca_bundle", f"{self.ca_bundle} is not a PEM file of CA certificates ({exc})") from None
        try:
            get_policy(self.address_policy)
        except ValueError as exc:
            source = " (from SIMLIB_ADDRESS_POLICY)" if self.address_policy == os.environ.get("SIMLIB_ADDRESS_POLICY") else ""
            raise ValidationError("address_policy", f"{exc}{source}") from None

    def with_(self, **changes: Any) -> DeliveryConfig:
        return replace(self, **changes)

    @property
    def client_key(self) -> tuple[Any, ...]:
        """Settings that need a different HTTP client (the rest are per request)."""
        return (self.verify_tls, self.ca_bundle, self.proxy, self.trust_env)


@dataclass
class Outcome:
    """What the endpoint did (or why it could not be reached)."""

    http_status: int | None = None
    latency_ms: float | None = None
    response_body: str = ""
    response_truncated: bool = False
    response_headers: dict[str, str] = field(default_factory=dict)
    error: SimulationError | None = None  # NETWORK_ERROR (or, for a send that did not run, another) or None
    detail: str = ""


def _ssl_context(config: DeliveryConfig) -> ssl.SSLContext | bool:
    """TLS settings: verification on (the system's CAs, or SSL_CERT_FILE with trust_env), plus
    ``ca_bundle``; or off (``verify_tls=False``)."""
    if not config.verify_tls:
        return False
    if config.ca_bundle:
        return ssl.create_default_context(cafile=config.ca_bundle)
    return httpx.create_ssl_context(verify=True, trust_env=config.trust_env)


def _timeout(config: DeliveryConfig, remaining: float | None = None) -> httpx.Timeout:
    cap = config.deadline if remaining is None else max(remaining, 0.001)
    return httpx.Timeout(
        connect=min(config.connect_timeout, cap),
        read=min(config.read_timeout, cap),
        write=min(config.write_timeout, cap),
        pool=min(config.connect_timeout, cap),
    )


# httpx writes the request head and body in two writes; without TCP_NODELAY the body waits for
# the ACK of the head (Nagle + delayed ACK), which adds about a millisecond on loopback.
_SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


ASYNC_SHARD_CONNECTIONS = 2


@dataclass
class SendPhase:
    """How far an asynchronous send has got, kept by the engine as it goes (bursts), so that a
    send cancelled in flight is recorded in the single send's words (:meth:`cancelled`)."""

    connected: bool = False  # a connection was made or reused: the request may have gone out
    status: int | None = None  # the answer's status, once its head arrived
    headers: dict[str, str] | None = None

    def cancelled(self) -> Outcome:
        """The outcome of the send cancelled now: as :func:`cancelled_outcome` once connected,
        else "cancelled before the connection was made (nothing was sent)"."""
        if self.status is not None:
            return Outcome(
                http_status=self.status,
                response_headers=self.headers or {},
                error=SIMULATION_FAILED,
                detail=f"{CANCELLED} while reading the response body (status {self.status} had arrived)",
            )
        if self.connected:
            return Outcome(error=SIMULATION_FAILED, detail=CANCELLED_CONNECTED)
        return Outcome(error=SIMULATION_FAILED, detail=CANCELLED_BEFORE_CONNECT)


class Sender:
    """The HTTP side of sends with one set of connection settings: httpx transports, reused.

    Sends go straight to an ``httpx.HTTPTransport`` (public httpx API) rather than through an
    ``httpx.Client``: a webhook sender needs none of the client's extras (cookies that would
    leak from one send into the next, redirect handling, auth, event hooks), and skipping them
    saves about a quarter of the per-request cost. One transport per proxy in use.
    """

    def __init__(self, config: DeliveryConfig, *, max_connections: int = 10, asynchronous: bool = False) -> None:
        self.config = config
        self.max_connections = max_connections
        self.asynchronous = asynchronous
        self._transports: dict[tuple[str | None, bool], list[Any]] = {}

    def proxy_for(self, url: str) -> str | None:
        """The explicit proxy, else (only with ``trust_env``) the environment's proxy for ``url``."""
        if self.config.proxy:
            return self.config.proxy
        if not self.config.trust_env:
            return None
        import urllib.request

        u = httpx.URL(url)
        if urllib.request.proxy_bypass(u.host):
            return None
        return urllib.request.getproxies().get(u.scheme)

    def transport_for(self, url: str, proxy: str | None | object = ...) -> Any:
        """The transport for ``url`` (made on first use); pass ``proxy`` when already looked up."""
        if proxy is ...:
            proxy = self.proxy_for(url)
        assert proxy is None or isinstance(proxy, str)
        # Plain-http targets need no TLS context: building one loads the CA store (tens of ms).
        tls = url[:6].lower() == "https:" or (proxy or "").lower().startswith("https:")
        key = (proxy, tls)
        shards = self._transports.get(key)
        if shards is None:
            shards = self._transports[key] = self._make_shards(proxy, tls)
        if len(shards) == 1:
            return shards[0]
        self._next = (getattr(self, "_next", -1) + 1) % len(shards)
        return shards[self._next]

    def _make_shards(self, proxy: str | None, tls: bool) -> list[Any]:
        # httpcore's async pool matches queued requests to connections in O(requests x
        # connections) on every change, which makes 32 concurrent requests on one pool several
        # times slower than on sixteen pools of two (measured: bench_burst.py). Sync senders
        # send one request at a time, so they keep one pool.
        per = min(self.max_connections, ASYNC_SHARD_CONNECTIONS) if self.asynchronous else self.max_connections
        count = -(-self.max_connections // per) if self.asynchronous else 1
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        cls = httpx.AsyncHTTPTransport if self.asynchronous else httpx.HTTPTransport
        verify = _ssl_context(self.config) if tls else False  # one context, shared by the shards
        shards = [
            cls(verify=verify, trust_env=False, proxy=proxy, limits=limits, socket_options=_SOCKET_OPTIONS)
            for _ in range(count)
        ]
        if not self.asynchronous:
            from simlib.core.delivery.netstream import install as install_deadline

            install_deadline(shards[0])
        return shards

    def close(self) -> None:
        for shards in self._transports.values():
            for transport in shards:
                transport.close()
        self._transports.clear()

    async def aclose(self) -> None:
        for shards in self._transports.values():
            for transport in shards:
                await transport.aclose()
        self._transports.clear()

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def make_sender(config: DeliveryConfig) -> Sender:
    """The sender for one set of connection settings; reuse it across sends."""
    return Sender(config)


def make_async_sender(config: DeliveryConfig, *, max_connections: int = 100) -> Sender:
    """The asynchronous sender (burst mode), with up to ``max_connections`` connections."""
    _sniffio_lookups_once()
    return Sender(config, max_connections=max_connections, asynchronous=True)


def _sniffio_lookups_once() -> None:
    """Keep httpcore's async path from looking for sniffio on every request when it is absent.

    httpcore's async locks, events and network backend run ``import sniffio`` each time they
    are set up (several times per request); a failed import is not remembered, so without
    sniffio each one rescans ``sys.path`` (measured: a quarter of a burst's time, issue 12).
    sniffio is a dependency of simlib, so this is for an environment that lacks it anyway:
    looked for once, and when absent ``sys.modules["sniffio"] = None`` makes every later import
    fail at once -- httpcore then assumes asyncio, exactly as after a failed import. (The
    synchronous path used by single sends never imports sniffio.)"""
    if "sniffio" in sys.modules:
        return
    try:
        import sniffio  # noqa: F401 - imported once here, then found in sys.modules by httpcore
    except ImportError:
        cast(Any, sys.modules)["sniffio"] = None  # a module set to None: "import sniffio" fails at once


def _request(target: _Target, body: bytes, headers: dict[str, str], timeout: httpx.Timeout) -> httpx.Request:
    return httpx.Request(
        "POST",
        target.parsed,  # parsed once per target, not once per send
        content=body,
        headers={**headers, **target.headers} if target.headers else headers,
        extensions={"timeout": timeout.as_dict(), **target.extensions},
    )


def request_headers(signed: dict[str, str], config: DeliveryConfig) -> dict[str, str]:
    """The headers sent: the three signed-delivery headers plus the User-Agent."""
    headers = dict(signed)
    headers["user-agent"] = config.user_agent
    return headers


def signed_headers(secret: Secret, body: bytes, ts_ms: int, config: DeliveryConfig) -> dict[str, str]:
    """The headers of one attempt, signed at ``ts_ms`` with ``secret`` the way ``config`` says."""
    headers = sign(secret.reveal(), body, ts_ms, encoding=config.signature_encoding, timestamp_unit=config.timestamp_unit)
    headers["user-agent"] = config.user_agent  # what request_headers() adds, to sign()'s own new dict
    return headers


def header_signer(secret: Secret, config: DeliveryConfig) -> Callable[[bytes, int], dict[str, str]]:
    """``headers(body, ts_ms)`` is ``signed_headers(secret, body, ts_ms, config)``, for many
    bodies (a burst): the secret revealed and its HMAC keyed once."""
    return signer(secret.reveal(), encoding=config.signature_encoding, timestamp_unit=config.timestamp_unit,
                  also={"user-agent": config.user_agent})


@dataclass(frozen=True)
class _Target:
    url: str  # the URL actually requested (host replaced by a checked address)
    headers: dict[str, str]  # Host header to keep the original name
    extensions: dict[str, Any]  # sni_hostname for TLS
    parsed: httpx.URL = field(init=False, repr=False, compare=False)  # ``url`` parsed (once)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed", httpx.URL(self.url))


_LITERAL_TARGETS: dict[tuple[Any, ...], list[_Target]] = {}


def targets(url: str, config: DeliveryConfig, *, proxied: bool = False) -> list[_Target]:
    """Resolve once, check every address against the policy, and pin the connection to them.

    Raises ``socket.gaierror`` (DNS) or :class:`~simlib.core.delivery.netpolicy.BlockedAddress`. A URL whose
    host is an IP address needs no resolving, so its checked targets are remembered.
    """
    key = (url, config.address_policy, proxied)
    cached = _LITERAL_TARGETS.get(key)
    if cached is not None:
        return cached
    out = _targets(url, config, proxied)
    if len(out) == 1 and out[0].url == url:  # the host was an address literal
        if len(_LITERAL_TARGETS) > 1024:
            _LITERAL_TARGETS.clear()
        _LITERAL_TARGETS[key] = out
    return out


def _targets(url: str, config: DeliveryConfig, proxied: bool) -> list[_Target]:
    u = httpx.URL(url)
    host = u.raw_host.decode("ascii")  # the A-label of an IDN (u.host is Unicode): DNS, Host and SNI use it
    default_port = 443 if u.scheme == "https" else 80
    port = u.port or default_port
    policy = get_policy(config.address_policy)
    # resolve() never answers []: no address means nothing is sent (NoAddress), never "let
    # httpx resolve the name itself", which would skip the policy.
    addresses = resolve(host, port, config.resolver, timeout=config.deadline)
    policy.check(host, addresses, port)  # an allowed endpoint is allowed on its own port only
    if proxied:
        return [_Target(url, {}, {})]  # the proxy resolves; literal addresses were checked
    out = []
    for address in addresses:
        if address == host.strip("[]"):
            out.append(_Target(url, {}, {}))
            continue
        host_header = host if u.port in (None, default_port) else f"{host}:{u.port}"
        ext = {"sni_hostname": host} if u.scheme == "https" else {}
        out.append(_Target(str(u.copy_with(host=address)), {"host": host_header}, ext))
    return out


def deliver(
    client: Sender, url: str, body: bytes, headers: dict[str, str], config: DeliveryConfig,
    *, cancel: threading.Event | None = None, phase: SendPhase | None = None,
) -> Outcome:
    """POST ``body`` once. Never raises for anything the endpoint or network does. Setting
    ``cancel`` ends a request that is connected (see :mod:`.cancel` for every phase). ``phase``,
    if given, follows whether a connection was made (or a reused one written to)."""
    start = time.perf_counter()
    deadline_at = start + config.deadline
    response: httpx.Response | None = None
    # The total deadline covers every phase (connect, TLS, headers, body): see _deadline.
    with Deadline(config.deadline, cancel) as guard:
        try:
            proxy = client.proxy_for(url)
            transport = client.transport_for(url, proxy)
            candidates = targets(url, config, proxied=proxy is not None)
            for n, target in enumerate(candidates):
                remaining = deadline_at - time.perf_counter()
                try:
                    request = _request(target, body, headers, _timeout(config, remaining))
                    if phase is not None:
                        request.extensions["trace"] = functools.partial(_trace_phase_sync, phase)
                    sent_at = time.perf_counter()  # latency: the round trip of the call itself
                    response = transport.handle_request(request)
                    try:
                        # Raw bytes: the reader decompresses within the cap (see .body).
                        reader = BodyReader(config.max_response_bytes, response.headers.get("content-encoding"))
                        overrun = False
                        for chunk in response.iter_raw():
                            if reader.feed(chunk):
                                break
                            if time.perf_counter() > deadline_at:
                                overrun = True
                                break
                        latency = (time.perf_counter() - sent_at) * 1000
                    finally:
                        response.close()  # stop reading at the cap; the connection is released
                    return _finish(response, reader, overrun, latency, config)
                except httpx.ConnectError:
                    if n == len(candidates) - 1 or guard.expired:
                        raise  # every checked address refused: report the last failure
            raise AssertionError("unreachable")  # pragma: no cover
        except Exception as exc:  # noqa: BLE001 - every failure becomes a readable outcome
            if guard.cancelled:
                return cancelled_outcome(response)
            # A per-phase timeout clipped to what was left of the deadline is the deadline too.
            clipped = isinstance(exc, httpx.TimeoutException) and time.perf_counter() >= deadline_at - 0.05
            if (guard.expired or clipped) and not isinstance(exc, ResolveTimeout):  # DNS says so itself
                return _deadline_outcome(start, config, response)
            return _failure(exc, url, start, config, response)


async def deliver_async(
    client: Sender, url: str, body: bytes, headers: dict[str, str], config: DeliveryConfig,
    *, phase: SendPhase | None = None,
) -> Outcome:
    """The same as :func:`deliver` on an asynchronous sender (burst mode). ``phase``, if given,
    follows how far the send got (for a send cancelled in flight: :meth:`SendPhase.cancelled`)."""
    import asyncio

    start = time.perf_counter()
    response: httpx.Response | None = None
    box: dict[str, Any] = {}
    proxy = client.proxy_for(url)  # looked up once per send
    resolving: str | None = None  # the host name while it is being resolved

    async def attempt() -> None:
        nonlocal response, resolving
        proxied = proxy is not None
        host = httpx.URL(url).host
        try:
            import ipaddress

            ipaddress.ip_address(host)
            candidates = targets(url, config, proxied=proxied)
        except ValueError:  # a host name: resolve off the event loop
            resolving = host
            candidates = await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(targets, url, config, proxied=proxied)
            )
            resolving = None
        for n, target in enumerate(candidates):
            try:
                await one(target)
                return
            except httpx.ConnectError:
                if n == len(candidates) - 1:
                    raise

    async def one(target: _Target) -> None:
        nonlocal response
        transport = client.transport_for(url, proxy)
        request = _request(target, body, headers, _timeout(config))
        if phase is not None:
            request.extensions["trace"] = functools.partial(_trace_phase, phase)
        sent_at = time.perf_counter()  # latency: the round trip of the call itself
        resp = await transport.handle_async_request(request)
        response = resp
        if phase is not None:
            phase.status, phase.headers = resp.status_code, _headers(resp)
        try:
            # Raw bytes: the reader decompresses within the cap (see .body).
            reader = BodyReader(config.max_response_bytes, resp.headers.get("content-encoding"))
            async for chunk in resp.aiter_raw():
                if reader.feed(chunk):
                    break
            box["data"] = (reader, (time.perf_counter() - sent_at) * 1000)
        finally:
            await resp.aclose()

    try:
        await asyncio.wait_for(attempt(), timeout=config.deadline)
    except TimeoutError:
        if resolving is not None:  # the same reason as a single send's
            return Outcome(error=NETWORK_ERROR, detail=str(ResolveTimeout(resolving, config.deadline)))
        return _deadline_outcome(start, config, response)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a readable outcome
        return _failure(exc, url, start, config, response)
    reader, latency = box["data"]
    assert response is not None
    return _finish(response, reader, False, latency, config)


def _trace_phase_sync(phase: SendPhase, event: str, info: dict[str, Any]) -> None:
    """httpcore's trace: a connection made, or a request head being written on a reused one."""
    if event == "connection.connect_tcp.complete" or event.endswith(".send_request_headers.started"):
        phase.connected = True


async def _trace_phase(phase: SendPhase, event: str, info: dict[str, Any]) -> None:
    """:func:`_trace_phase_sync` for an asynchronous transport (which awaits its trace)."""
    _trace_phase_sync(phase, event, info)


def _finish(response: httpx.Response, reader: BodyReader, overrun: bool, latency: float, config: DeliveryConfig) -> Outcome:
    """The outcome of an answered attempt, from what ``reader`` kept of the body (one function
    for every engine: the cap, decompression and text decoding live in :mod:`.body`)."""
    if not overrun:
        reader.finish()
    truncated = reader.truncated or overrun
    body, note = decode_text(reader.body, response.headers.get("content-type"), truncated=truncated)
    if reader.note:
        note = f"{reader.note}; {note}" if note else reader.note
        if not body:
            body = f"<{reader.note}>"
    if overrun:
        out = _deadline_outcome(None, config, response)
        out.latency_ms = latency
        out.response_body = body
        out.response_truncated = True
        return out
    headers = _headers(response)
    detail = status_detail(response.status_code, response.reason_phrase, headers, truncated, config)
    return Outcome(
        http_status=response.status_code,
        latency_ms=latency,
        response_body=body,
        response_truncated=truncated,
        response_headers=headers,
        detail=f"{detail}; {note}" if note else detail,
    )


def _deadline_outcome(start: float | None, config: DeliveryConfig, response: httpx.Response | None) -> Outcome:
    if response is not None:
        detail = (
            f"timeout: the total deadline of {config.deadline:g} s passed while reading the response "
            f"body (status {response.status_code} had arrived)"
        )
        return Outcome(
            http_status=response.status_code,
            latency_ms=None,
            response_headers=_headers(response),
            error=NETWORK_ERROR,
            detail=detail,
        )
    return Outcome(
        error=NETWORK_ERROR,
        detail=f"timeout: no complete response within the total deadline of {config.deadline:g} s",
    )


def cancelled_outcome(response: httpx.Response | None) -> Outcome:
    """A request its caller cancelled once it was connected (the words of :data:`CANCELLED`)."""
    if response is not None:
        return Outcome(
            http_status=response.status_code,
            response_headers=_headers(response),
            error=SIMULATION_FAILED,
            detail=f"{CANCELLED} while reading the response body (status {response.status_code} had arrived)",
        )
    return Outcome(error=SIMULATION_FAILED, detail=CANCELLED_CONNECTED)


def _headers(response: httpx.Response) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in response.headers.multi_items():
        k = key.lower()
        if len(out) >= MAX_HEADERS and k not in out:
            continue
        value = value[:MAX_HEADER_VALUE]
        out[k] = f"{out[k]}, {value}" if k in out else value
    return out


_REDIRECTS = {301, 302, 303, 307, 308}


def status_detail(
    status: int, reason: str, headers: dict[str, str], truncated: bool, config: DeliveryConfig
) -> str:
    """One readable line for an HTTP answer."""
    text = f"{status} {reason}".strip()
    if 200 <= status < 300:
        text = f"Delivered: {text}"
    elif 300 <= status < 400:
        loc = headers.get("location")
        text += f": redirect to {loc} not followed" if loc else ": redirect not followed"
        text += " (a webhook endpoint must answer 2xx itself)"
    elif status == 410:
        text += ": the endpoint says it is gone"
    elif status == 429:
        ra = headers.get("retry-after")
        text += ": the endpoint is throttling" + (f" (Retry-After: {ra})" if ra else "")
    elif status in (502, 504):
        text += ": a gateway in front of the endpoint failed or timed out"
    elif status >= 400:
        text += ": the endpoint answered with an error"
    else:
        text += ": not a final success status"
    if truncated:
        text += f"; response body cut at {config.max_response_bytes} bytes"
    if not config.verify_tls:
        text += "; TLS verification was OFF"
    return text


def _root(exc: BaseException) -> BaseException:
    """The operating-system error behind an httpx exception (its causes, then its contexts),
    or the deepest cause when there is none."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    os_errors = [i for i in chain if isinstance(i, OSError) and not isinstance(i, httpx.HTTPError)]
    for item in os_errors:  # the most specific first: anyio wraps ConnectionRefusedError in OSError
        if type(item) is not OSError or item.errno is not None:
            return item
    if os_errors:
        return os_errors[0]
    deepest = exc
    while deepest.__cause__ is not None and deepest.__cause__ is not deepest:
        deepest = deepest.__cause__
    return deepest


def _failure(
    exc: BaseException, url: str, start: float, config: DeliveryConfig, response: httpx.Response | None
) -> Outcome:
    detail = explain_exception(exc, url, config)
    if response is not None and isinstance(exc, httpx.DecodingError):
        # The endpoint answered; only its body could not be decompressed.
        headers = _headers(response)
        return Outcome(
            http_status=response.status_code,
            latency_ms=(time.perf_counter() - start) * 1000,
            response_body=f"<{detail}>",
            response_headers=headers,
            detail=status_detail(response.status_code, response.reason_phrase, headers, False, config),
        )
    out = Outcome(error=NETWORK_ERROR, detail=detail)
    if response is not None:
        out.http_status = response.status_code
        out.response_headers = _headers(response)
    return out


def explain_exception(exc: BaseException, url: str, config: DeliveryConfig) -> str:
    """A one-line, specific reason for a failed attempt (DNS, refused, timeout phase, TLS)."""
    u = httpx.URL(url)
    host = u.host
    port = u.port or (443 if u.scheme == "https" else 80)
    root = _root(exc)
    if isinstance(exc, BlockedAddress):
        return f"{exc} (nothing was sent)"
    if isinstance(exc, (ResolveTimeout, NoAddress, ResolverBusy)):
        return str(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timeout: could not connect to {host}:{port} within {min(config.connect_timeout, config.deadline):g} s"
    if isinstance(exc, httpx.ReadTimeout):
        return (
            f"timeout: connected, but no response within the read timeout of "
            f"{min(config.read_timeout, config.deadline):g} s"
        )
    if isinstance(exc, httpx.WriteTimeout):
        return f"timeout: could not send the body within {min(config.write_timeout, config.deadline):g} s"
    if isinstance(exc, httpx.PoolTimeout):
        return "timeout: no free connection in the pool"
    if isinstance(root, socket.gaierror) or (
        isinstance(exc, httpx.ConnectError) and "name or service not known" in str(exc).lower()
    ):
        return f"DNS: could not resolve host {host!r} ({getattr(root, 'strerror', None) or root})"
    if isinstance(root, ssl.SSLCertVerificationError):
        return f"TLS: certificate verification failed for {host}: {root.verify_message or root.reason}"
    if isinstance(root, ssl.SSLError):
        return f"TLS: handshake with {host}:{port} failed: {root.reason or root}"
    if isinstance(root, ConnectionRefusedError):
        return f"connection refused by {host}:{port} (nothing is listening there)"
    if isinstance(root, ConnectionResetError):
        return f"connection reset by {host}:{port} before a complete response"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the endpoint closed the connection or broke HTTP: {exc}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {host}:{port}: {root}"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return f"connection error talking to {host}:{port}: {root}"
    if isinstance(exc, httpx.ProxyError):
        return f"proxy error: {exc}"
    if isinstance(exc, httpx.DecodingError):
        return f"could not decode the response body: {exc}"
    return f"{type(exc).__name__}: {exc}"
