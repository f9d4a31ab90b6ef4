"""The curl burst engine: one HTTP attempt on libcurl (pycurl's ``CurlMulti``), with the single
send's rules (issue 12).

aiohttp costs about twice libcurl's CPU per request (BENCHMARKS.md, "The curl engine"), so
bursts send with libcurl where pycurl can be imported, driven from the asyncio loop the burst
already runs on: libcurl tells which sockets to watch (``M_SOCKETFUNCTION``) and when to wake it
(``M_TIMERFUNCTION``); the loop calls ``socket_action`` when one is ready, as tornado's
``curl_httpclient`` does. Curl handles are reused and their fixed options set once per handle;
per request only the URL, the body, the headers and the time left are set.

The rules, the same as :mod:`.fast` (aiohttp) and :mod:`.http` (httpx), and one fault matrix
(``tests/core/test_engines.py``) runs through every engine:

- **one attempt, no redirects** (``FOLLOWLOCATION`` 0, only http/https): a 3xx is a failure
  showing its Location, classified by :func:`~simlib.core.delivery.http.status_detail`;
- **the total deadline** covers every phase (DNS, connect, TLS, headers, body): the name is
  resolved within it, then ``TIMEOUT_MS`` is what is left of it; ``CONNECTTIMEOUT_MS`` is the
  connect timeout clipped to it; the read timeout (the longest wait between two received
  chunks) is kept by a sweep of the transfers in flight, run when the first of them could
  have waited that long (and at most every :data:`SWEEP_S`);
- **the response cap**: libcurl decompresses nothing (no ``ACCEPT_ENCODING``, content decoding
  off); the raw chunks go to the same :class:`~simlib.core.delivery.body.BodyReader` (bytes read
  and bytes decoded both bounded) from ``WRITEFUNCTION``, which ends the transfer at the cap;
  ``HEADERFUNCTION`` ends it when a response head passes :data:`MAX_HEAD_BYTES` (as h11 under a
  single send);
- **TLS** verified with the same trust store as httpx's (certifi, or ``ca_bundle`` alone, as
  ``ssl.create_default_context(cafile=...)``), TLS 1.2 at least; or off and said so;
- **the address policy with the connection pinned**: a host name is resolved by the configured
  resolver (within the deadline, off the event loop), every address is checked, and libcurl is
  handed exactly those addresses (``RESOLVE``); a resolver-start callback refuses any lookup
  libcurl would make on its own, so it can connect nowhere else; an IP-literal host is checked
  once per sender. A name is resolved once per sender (a burst), not once per connection;
- **HTTP/1.1 only**, no ``Expect: 100-continue``, no header libcurl would add (``Accept``): the
  request on the wire has the same header names as a single send's; proxy settings and proxy
  environment variables are ignored (``PROXY`` "", ``NOPROXY`` "*"); a burst with a proxy or
  ``trust_env`` falls back to httpx (:func:`curl_engine_problem`);
- **errors in the same words**: libcurl's error codes (and the ``errno`` behind them) are mapped
  onto the exception a single send meets in the same situation, which
  :func:`~simlib.core.delivery.http.explain_exception` words.

This module imports pycurl; it is imported only when a burst starts (``import simlib`` does not
load it: tested in ``tests/core/test_engines.py``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import re
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx
import pycurl

from simlib.core.delivery.answer import answered_outcome, deadline_outcome, header_text
from simlib.core.delivery.answer import fast_engine_problem as curl_engine_problem
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

__all__ = ["ENGINE_CURL", "SWEEP_S", "CurlSender", "curl_engine_problem"]

ENGINE_CURL = "curl"
#: Bytes asked of the socket at a time (as the other engines' 64 KiB reads).
READ_CHUNK = 65_536
#: The largest response head read (as h11's limit under httpcore, and the aiohttp engine's).
MAX_HEAD_BYTES = 100 * 1024
#: The most response header fields read: libcurl's own limit (it refuses more, "Too many
#: response headers, 5000 is max"); both are worded alike.
MAX_HEAD_FIELDS = 5_000
#: How long past its deadline a transfer may stay unresolved before the sweep ends it (a safety
#: net: libcurl's TIMEOUT_MS ends it first; only a fault of the engine itself would need this).
OVERDUE_S = 0.5
#: The shortest gap between two checks of the transfers in flight against the read timeout
#: (seconds); a check runs when the first transfer could be due, not on a fixed beat.
SWEEP_S = 0.05
#: A per-phase timeout that fires this close to the total deadline is the deadline (as in .http).
_CLIPPED = 0.05
_IN, _OUT, _INOUT, _REMOVE = pycurl.POLL_IN, pycurl.POLL_OUT, pycurl.POLL_INOUT, pycurl.POLL_REMOVE
_PREREQ_OK: int = pycurl.PREREQFUNC_OK
_PREREQ_ABORT: int = pycurl.PREREQFUNC_ABORT
_SOCKOPT_OK: int = pycurl.SOCKOPT_OK
_SOCKOPT_ERROR: int = pycurl.SOCKOPT_ERROR
_monotonic = time.monotonic

# libcurl's error codes met here (pycurl names some, not all).
_E_COULDNT_RESOLVE = 6
_E_COULDNT_CONNECT = 7
_E_WEIRD_SERVER_REPLY = 8
_E_PARTIAL_FILE = 18
_E_WRITE_ERROR = 23
_E_OPERATION_TIMEDOUT = 28
_E_SSL_CONNECT_ERROR = 35
_E_GOT_NOTHING = 52
_E_SEND_ERROR = 55
_E_RECV_ERROR = 56
_E_PEER_FAILED_VERIFICATION = 60
_E_BAD_CONTENT_ENCODING = 61
_E_TOO_LARGE = 100


class _Refused(Exception):
    """libcurl was about to resolve a name itself (the policy forbids it): nothing is sent."""


class _Internal(Exception):
    """A fault of the engine itself (a callback raised): said so, never blamed on the endpoint."""


class _Slot:
    """One reusable curl handle and the state of the transfer it carries (reset per send)."""

    __slots__ = (
        "abort", "cap", "curl", "fut", "head", "internal", "literal", "requests", "head_bytes", "headers", "last_rx",
        "new_socket", "phase", "reader", "reason", "resolved", "sent_at", "status", "timeouts", "url",
    )

    def __init__(self, curl: pycurl.Curl, new_socket: Callable[[int], None]) -> None:
        self.curl = curl
        self.new_socket = new_socket
        self.url: str | None = None
        self.resolved: str | None = None  # the RESOLVE entry this handle has handed libcurl
        self.literal = False  # the URL's host is an IP address (checked): libcurl "resolves" it itself
        self.timeouts: tuple[int, int] = (0, 0)
        self.fut: asyncio.Future[tuple[int, str]] | None = None
        self.reset(0, None)

    def reset(self, cap: int, phase: SendPhase | None) -> None:
        self.cap = cap
        self.phase = phase
        self.reader: BodyReader | None = None
        self.head: list[bytes] = []
        self.head_bytes = 0
        self.status: int | None = None  # once the final answer's head is complete
        self.reason = ""
        self.headers: dict[str, str] | None = None
        self.abort: str | None = None  # why a callback ended the transfer ("cap", "head", "read", ...)
        self.internal: BaseException | None = None  # what a callback raised (abort "internal")
        self.last_rx = 0.0
        self.sent_at = 0.0
        self.requests = 0  # how often libcurl was about to send the request

    def on_header(self, line: bytes) -> int | None:
        """libcurl's HEADERFUNCTION: one line of a response head (1xx heads included). Called
        for every line of every answer: kept to a few operations (the head is parsed once it is
        complete, in :meth:`_head_done`)."""
        try:
            self.last_rx = _monotonic()
            if self.status is not None:
                return None  # trailers of a chunked answer: not kept (as the other engines)
            size = self.head_bytes = self.head_bytes + len(line)
            head = self.head
            if size > MAX_HEAD_BYTES:
                self.abort = "head"
                return 0  # ends the transfer: nothing more is read
            if len(head) >= MAX_HEAD_FIELDS:
                self.abort = "fields"
                return 0
            if line == b"\r\n" or line == b"\n":
                self._head_done()
                return None
            head.append(line)
            return None
        except Exception as exc:  # noqa: BLE001 - a fault of ours ends this transfer, said so
            return self._fault(exc, 0)

    def _fault(self, exc: BaseException, code: int) -> int:
        """A callback raised: the transfer ends (``code`` tells libcurl so) and its outcome says
        the engine failed -- pycurl would otherwise pass the exception up through
        ``socket_action`` and libcurl word it as the endpoint's failure."""
        self.abort, self.internal = "internal", exc
        return code

    def _head_done(self) -> None:
        lines, self.head, self.head_bytes = self.head, [], 0
        if not lines:
            return
        parts = lines[0].rstrip(b"\r\n").split(None, 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            return  # libcurl rejects such an answer itself
        if status < 200:
            return  # an informational answer: the final one follows
        headers = _fields(lines[1:])
        self.reason = header_text(parts[2]) if len(parts) > 2 else ""
        self.headers = headers
        self.reader = BodyReader(self.cap, headers.get("content-encoding"))
        self.status = status
        if self.phase is not None:
            self.phase.status, self.phase.headers = status, headers

    def on_resolve(self, *_args: Any) -> int:
        """libcurl's RESOLVER_START_FUNCTION, called before libcurl looks a host up itself. Every
        name was resolved and checked before the send and handed over with RESOLVE (libcurl
        finds it there and calls this not); only an IP literal, already checked, is "resolved"
        by libcurl (no lookup). Anything else is refused: non-zero ends the transfer."""
        if self.literal:
            return 0
        self.abort = "resolve"
        return 1

    def on_request(self, *_conn: object) -> int:
        """libcurl's PREREQFUNCTION, called once connected (or on a reused connection), before
        the request is sent. libcurl sends a request again by itself, on a fresh connection,
        when a reused one dies before any answer ("Connection died, retrying a fresh connect"),
        though the endpoint may have read it: a second call is that retry, and is refused (one
        attempt, never a retry: the send fails as a single send's does there)."""
        try:
            self.requests += 1
            if self.phase is not None:
                self.phase.connected = True
            if self.requests > 1:
                self.abort = "retry"
                return _PREREQ_ABORT
            return _PREREQ_OK
        except Exception as exc:  # noqa: BLE001 - a fault of ours ends this transfer, said so
            return self._fault(exc, _PREREQ_ABORT)

    def on_socket(self, fd: int, _purpose: int) -> int:
        """libcurl's SOCKOPTFUNCTION, called for each new socket before it connects. After the
        request went out once (:meth:`on_request`), a new connection can only be libcurl's own
        retry: refused before it connects, so the endpoint sees no second connection either.
        Otherwise the sender learns that ``fd`` is a new socket (:meth:`CurlSender._new_socket`)."""
        if self.requests:
            self.abort = "retry"
            return _SOCKOPT_ERROR
        try:
            self.new_socket(fd)
        except Exception as exc:  # noqa: BLE001 - a fault of ours ends this transfer, said so
            return self._fault(exc, _SOCKOPT_ERROR)
        return _SOCKOPT_OK

    def on_body(self, chunk: bytes) -> int | None:
        """libcurl's WRITEFUNCTION: raw body bytes, fed to the reader within the cap."""
        try:
            self.last_rx = _monotonic()
            reader = self.reader
            if reader is None:  # a body before a final head (libcurl does not do this)
                self.abort = "head"
                return 0
            if reader.feed(chunk):
                self.abort = "cap"
                return 0  # the cap: the rest is not read, the connection is not reused
            return None
        except Exception as exc:  # noqa: BLE001 - a fault of ours ends this transfer, said so
            return self._fault(exc, 0)


def _fields(lines: list[bytes]) -> dict[str, str]:
    """A response head's fields (after its status line), one line each: names in lower case,
    repeated fields joined with ", ", values in UTF-8 (else Latin-1), each at most
    MAX_HEADER_VALUE characters, at most MAX_HEADERS fields, obsolete folded lines joined."""
    headers: dict[str, str] = {}
    last = ""
    for raw in lines:
        if raw[:1] in (b" ", b"\t") and last:  # an obsolete folded line continues the last field
            headers[last] = (headers[last] + " " + header_text(raw.strip()))[:MAX_HEADER_VALUE]
            continue
        name, sep, value = raw.partition(b":")
        if not sep:
            continue
        k = name.strip().decode("latin-1").lower()
        if len(headers) >= MAX_HEADERS and k not in headers:
            continue
        v = header_text(value.strip())[:MAX_HEADER_VALUE]
        headers[k] = f"{headers[k]}, {v}" if k in headers else v
        last = k
    return headers


def _retrieved(task: asyncio.Task[str]) -> None:
    """Marks a lookup's failure as seen (its senders each report it; none may be waiting)."""
    if not task.cancelled():
        task.exception()


class CurlSender:
    """The libcurl side of one burst: one ``CurlMulti`` with up to ``max_connections`` connections.

    ``async with CurlSender(config, max_connections=32) as sender: await sender.deliver(...)``.
    """

    engine = ENGINE_CURL

    def __init__(self, config: DeliveryConfig, *, max_connections: int = 100, follow_phase: bool = False) -> None:
        problem = curl_engine_problem(config)
        if problem is not None:
            raise ValueError(f"the curl engine cannot send with this configuration: {problem}")
        self.config = config
        self.max_connections = max_connections
        self.follow_phase = follow_phase  # accepted for the same interface; the phase is always followed
        self._multi: pycurl.CurlMulti | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._free: list[_Slot] = []
        self._active: dict[pycurl.Curl, _Slot] = {}
        self._fds: dict[int, int] = {}  # fd -> what libcurl waits for on it (POLL_IN/OUT bits)
        self._watched: dict[int, int] = {}  # fd -> what the loop watches on it
        self._inodes: dict[int, int] = {}  # fd -> the inode of the socket registered under it
        self._made: set[int] = set()  # fds whose socket libcurl made and announced (SOCKOPTFUNCTION)
        self._rx_at: dict[int, float] = {}  # fd -> when it was last readable (the read timeout's clock)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._soon = False
        self._sweeper: asyncio.TimerHandle | None = None
        self._targets: dict[str, tuple[str, str, int, BaseException | None]] = {}
        self._resolved: dict[tuple[str, int], asyncio.Task[str]] = {}
        self._ssl_reason = re.compile(r"(?:error:[0-9A-F]+:[^:]*::?)?([^:]+)$")

    # -- the multi handle on the event loop ------------------------------------------------------

    async def __aenter__(self) -> CurlSender:
        self._loop = asyncio.get_running_loop()
        multi = self._multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, self.max_connections)
        multi.setopt(pycurl.M_MAXCONNECTS, self.max_connections)
        multi.setopt(pycurl.M_PIPELINING, 0)  # HTTP/1.1, one request per connection at a time
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.aclose()

    def aclose(self) -> None:
        multi, self._multi = self._multi, None
        if multi is None:
            return
        active = list(self._active.values())
        for slot in active:
            self._release(multi, slot)
        for fd in list(self._watched):
            self._unwatch(fd)
        for task in self._resolved.values():
            task.cancel()
        self._resolved.clear()
        for handle in (self._timer, self._sweeper):
            if handle is not None:
                handle.cancel()
        self._timer = self._sweeper = None
        multi.close()  # the pooled connections close with it
        for slot in {*active, *self._free}:
            slot.curl.close()
        self._free.clear()
        self._made.clear()

    def _on_socket(self, what: int, fd: int, _multi: object, _data: object) -> None:
        """libcurl's M_SOCKETFUNCTION: which events libcurl waits for on ``fd`` (REMOVE: none).

        libcurl says REMOVE after every response (the connection goes idle in its pool) and IN
        again with the next request on it. The loop's reader stays registered meanwhile (two
        system calls and two handles fewer per request): a wake-up on a direction libcurl does
        not wait for unregisters it then (:meth:`_on_ready`). A socket libcurl closed leaves
        the kernel's epoll set by itself, and its number may come back as a new socket. libcurl
        announces each socket it makes for a connection before connecting it (SOCKOPTFUNCTION:
        :meth:`_new_socket`), which drops a registration the number still had, so a kept
        registration of such a socket is its own (issue 12: no system call per request). Any
        other socket's inode, noted when it was registered, tells a kept registration from a
        stale one. A writer is removed at once: a writable socket would wake the loop on every
        turn."""
        loop = self._loop
        assert loop is not None
        wants = 0 if what == _REMOVE else what
        self._fds[fd] = wants
        if not wants:
            if self._watched.get(fd, 0) & _OUT:
                loop.remove_writer(fd)
                self._watched[fd] &= ~_OUT
            return
        have = self._watched.get(fd, 0)
        made = fd in self._made
        if have and not made:
            try:
                same = os.fstat(fd).st_ino == self._inodes.get(fd)
            except OSError:
                same = False
            if not same:  # another socket under the same number: register it anew
                self._unwatch(fd, keep_wants=True)
                have = 0
        if not have and not made:
            try:
                self._inodes[fd] = os.fstat(fd).st_ino
            except OSError:
                return
        if wants & _IN and not have & _IN:
            loop.add_reader(fd, self._on_ready, fd, _IN)
            have |= _IN
        if wants & _OUT:
            if not have & _OUT:
                loop.add_writer(fd, self._on_ready, fd, _OUT)
                have |= _OUT
        elif have & _OUT:
            loop.remove_writer(fd)
            have &= ~_OUT
        self._watched[fd] = have

    def _new_socket(self, fd: int) -> None:
        """libcurl made a socket numbered ``fd`` (not connected yet, not watched by libcurl yet):
        whatever the loop still watches under that number was a socket that is closed now."""
        if fd in self._watched:
            self._unwatch(fd)
        self._made.add(fd)

    def _unwatch(self, fd: int, *, keep_wants: bool = False) -> None:
        loop = self._loop
        assert loop is not None
        have = self._watched.pop(fd, 0)
        self._inodes.pop(fd, None)
        self._rx_at.pop(fd, None)
        if not keep_wants:
            self._fds.pop(fd, None)
        if have & _IN:
            loop.remove_reader(fd)  # a closed socket's registration goes quietly (selectors)
        if have & _OUT:
            loop.remove_writer(fd)

    def _on_timer(self, msecs: int) -> None:
        """libcurl's M_TIMERFUNCTION: wake it in ``msecs`` ms (-1: no wake-up needed)."""
        loop = self._loop
        assert loop is not None
        if msecs < 0:
            return  # a wake-up already scheduled is harmless: libcurl is asked again when it comes
        if msecs == 0:
            if not self._soon:
                self._soon = True
                loop.call_soon(self._on_timeout, True)
            return
        at = loop.time() + msecs / 1000
        if self._timer is not None:
            if self._timer_at <= at:
                return  # an earlier wake-up comes first; the later one is asked for then
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_at(at, self._on_timeout, False)

    def _on_timeout(self, soon: bool) -> None:
        multi = self._multi
        if soon:
            self._soon = False
        else:
            self._timer = None
        if multi is None:
            return
        try:
            multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)
        except Exception:  # noqa: BLE001 - pycurl.error, or a callback's exception passed up by pycurl
            pass  # the transfers it ended are collected all the same
        self._collect(multi)
        if not soon and self._timer is None:
            nxt = multi.timeout()  # libcurl's clock and the loop's may disagree: ask again
            if nxt >= 0:
                self._on_timer(max(nxt, 1))

    def _on_ready(self, fd: int, direction: int) -> None:
        multi, loop = self._multi, self._loop
        if multi is None or loop is None:
            return
        if not self._fds.get(fd, 0) & direction:
            # libcurl does not wait for this (an idle pooled connection became readable: the
            # endpoint closed it): stop watching; libcurl finds it dead when it next looks.
            if direction == _IN:
                loop.remove_reader(fd)
            else:
                loop.remove_writer(fd)
            self._watched[fd] = self._watched.get(fd, 0) & ~direction
            return
        if direction == _IN:
            self._rx_at[fd] = _monotonic()  # bytes arrived (maybe part of a line: no callback yet)
        try:
            multi.socket_action(fd, pycurl.CSELECT_IN if direction == _IN else pycurl.CSELECT_OUT)
        except Exception:  # noqa: BLE001 - pycurl.error, or a callback's exception passed up by pycurl
            pass  # the transfers it ended are collected all the same
        self._collect(multi)

    def _collect(self, multi: pycurl.CurlMulti) -> None:
        """Hand every finished transfer its result."""
        while True:
            queued, ok, failed = multi.info_read()
            for curl in ok:
                self._done(multi, curl, 0, "")
            for curl, errno, message in failed:
                self._done(multi, curl, errno, message)
            if not queued:
                return

    def _done(self, multi: pycurl.CurlMulti, curl: pycurl.Curl, errno: int, message: str) -> None:
        slot = self._active.get(curl)
        if slot is None:
            return
        fut = slot.fut
        self._release(multi, slot)
        if fut is not None and not fut.done():
            fut.set_result((errno, message))

    def _release(self, multi: pycurl.CurlMulti, slot: _Slot) -> None:
        """Take the handle off the multi (an unfinished transfer's connection is closed). It goes
        back to the free list once its send has read what the transfer left (in :meth:`deliver`)."""
        if self._active.pop(slot.curl, None) is None:
            return
        multi.remove_handle(slot.curl)

    def _sweep(self) -> None:
        """Ends the transfers that have waited longer than the read timeout for their next bytes,
        and comes back when the next one could be due: the earliest of the transfers' last
        bytes (or send start) plus the read timeout -- a lower bound, as a transfer's last
        bytes only move later and a transfer added later is due later -- but no sooner than
        :data:`SWEEP_S` from now (a slow drip is not checked on every chunk)."""
        self._sweeper = None
        multi, loop = self._multi, self._loop
        if multi is None or loop is None or not self._active:
            return
        limit = min(self.config.read_timeout, self.config.deadline)
        overdue = self.config.deadline + OVERDUE_S
        reads = self.config.read_timeout < self.config.deadline
        now = _monotonic()
        due = now + limit
        for slot in list(self._active.values()):
            if now - slot.sent_at > overdue:  # the safety net: libcurl should have ended it
                fut = slot.fut
                self._release(multi, slot)
                if fut is not None and not fut.done():
                    fut.set_result((_E_OPERATION_TIMEDOUT, "past the total deadline"))
                continue
            due = min(due, slot.sent_at + overdue)
            if not reads:
                continue  # a read timeout as long as the deadline: libcurl's TIMEOUT_MS ends it
            since = slot.last_rx
            if not since:  # nothing received yet: the wait starts once the request went out
                if not slot.requests:
                    due = min(due, slot.sent_at + limit)  # still connecting: the connect timeout is libcurl's
                    continue
                since = slot.sent_at + slot.curl.getinfo(pycurl.PRETRANSFER_TIME)
            if now - since > limit:  # bytes of a line not yet complete count too (no callback for them)
                since = max(since, self._rx_at.get(slot.curl.getinfo(pycurl.ACTIVESOCKET), 0.0))
            if now - since > limit:
                slot.abort = "read"
                fut = slot.fut
                self._release(multi, slot)
                if fut is not None and not fut.done():
                    fut.set_result((_E_OPERATION_TIMEDOUT, "read timeout"))
            elif since + limit < due:
                due = since + limit
        if self._active:
            self._sweeper = loop.call_later(max(SWEEP_S, due - now), self._sweep)

    # -- one send --------------------------------------------------------------------------------

    def _handle(self) -> _Slot:
        if self._free:
            return self._free.pop()
        config = self.config
        c = pycurl.Curl()
        slot = _Slot(c, self._new_socket)
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        c.setopt(pycurl.FOLLOWLOCATION, 0)
        c.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        c.setopt(pycurl.HTTP09_ALLOWED, 0)
        c.setopt(pycurl.HTTP_CONTENT_DECODING, 0)  # the BodyReader decodes, within the cap
        c.setopt(pycurl.HTTP_TRANSFER_DECODING, 1)  # chunked framing is undone by libcurl
        c.setopt(pycurl.PROXY, "")  # no proxy, whatever the environment says
        c.setopt(pycurl.NOPROXY, "*")
        c.setopt(pycurl.TCP_NODELAY, 1)
        c.setopt(pycurl.BUFFERSIZE, READ_CHUNK)
        c.setopt(pycurl.RESOLVER_START_FUNCTION, slot.on_resolve)
        c.setopt(pycurl.WRITEFUNCTION, slot.on_body)
        c.setopt(pycurl.HEADERFUNCTION, slot.on_header)
        c.setopt(pycurl.PREREQFUNCTION, slot.on_request)
        c.setopt(pycurl.SOCKOPTFUNCTION, slot.on_socket)
        c.setopt(pycurl.POST, 1)
        if config.verify_tls:
            c.setopt(pycurl.SSL_VERIFYPEER, 1)
            c.setopt(pycurl.SSL_VERIFYHOST, 2)
            c.setopt(pycurl.CAINFO, config.ca_bundle or certifi.where())  # httpx's trust store
            c.setopt(pycurl.CAPATH, None)  # nothing else: no directory compiled into libcurl
        else:
            c.setopt(pycurl.SSL_VERIFYPEER, 0)
            c.setopt(pycurl.SSL_VERIFYHOST, 0)
        c.setopt(pycurl.SSLVERSION, pycurl.SSLVERSION_TLSv1_2)
        return slot

    def _target(self, url: str) -> tuple[str, str, int, BaseException | None]:
        """``(url, host, port, refusal)``: the URL as httpx normalises it (the host in lower case
        and as an A-label: the same Host header as a single send's), the host ("" for an IP
        literal, checked here once: libcurl does not resolve it) and the policy's refusal of a
        literal."""
        known = self._targets.get(url)
        if known is not None:
            return known
        normal = httpx.URL(url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        problem: BaseException | None = None
        try:
            literal = str(ipaddress.ip_address(host))
        except ValueError:
            literal = None
        if literal is not None:
            try:
                get_policy(self.config.address_policy).check(host, [literal], port)
            except SimlibError as exc:
                problem = exc
            host = ""
        else:
            host = normal.raw_host.decode("ascii")  # the A-label of an IDN, as the other engines
        if len(self._targets) > 64:
            self._targets.clear()
        self._targets[url] = known = (str(normal), host, port, problem)
        return known

    async def _resolve(self, host: str, port: int) -> str:
        """The RESOLVE entry for ``host:port``: resolved and checked once per sender (the sends
        that ask meanwhile wait for the same lookup, which a cancelled send does not cancel; a
        failure is not kept)."""
        key = (host, port)
        task = self._resolved.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._resolved[key] = asyncio.ensure_future(self._lookup(host, port))
            task.add_done_callback(_retrieved)
        return await asyncio.shield(task)

    async def _lookup(self, host: str, port: int) -> str:
        config = self.config
        lookup = functools.partial(resolve, host, port, config.resolver, timeout=config.deadline)
        addresses = await asyncio.get_running_loop().run_in_executor(None, lookup)
        get_policy(config.address_policy).check(host, addresses, port)  # BlockedAddress: nothing is sent
        pinned = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
        return f"{host}:{port}:{pinned}"

    async def deliver(self, url: str, body: bytes, headers: dict[str, str], *, phase: SendPhase | None = None) -> Outcome:
        """POST ``body`` once. Never raises for anything the endpoint or network does. ``phase``
        follows how far it got (for a send cancelled in flight: :meth:`SendPhase.cancelled`)."""
        config = self.config
        multi = self._multi
        assert multi is not None, "use CurlSender as an async context manager"
        start = time.monotonic()
        target, host, port, refused = self._target(url)
        if refused is not None:
            return Outcome(error=NETWORK_ERROR, detail=explain_exception(refused, url, config))
        entry = None
        known = self._resolved.get((host, port)) if host else None
        if known is not None and known.done() and not known.cancelled() and known.exception() is None:
            entry = known.result()  # resolved and checked for an earlier send: no task, no wait
        elif host:
            try:
                entry = await asyncio.wait_for(self._resolve(host, port), config.deadline)
            except (TimeoutError, ResolveTimeout):
                return Outcome(error=NETWORK_ERROR, detail=str(ResolveTimeout(host, config.deadline)))
            except Exception as exc:  # noqa: BLE001 - the policy's and the resolver's words
                return Outcome(error=NETWORK_ERROR, detail=explain_exception(exc, url, config))
        now = _monotonic()
        left = config.deadline - (now - start)
        if left <= 0:
            return deadline_outcome(None, None, config)
        slot = self._free.pop() if self._free else self._handle()
        slot.reset(config.max_response_bytes, phase)
        c = slot.curl
        if slot.url != target:
            c.setopt(pycurl.URL, target)
            slot.url = target
        slot.literal = entry is None
        if entry is not None and slot.resolved != entry:
            c.setopt(pycurl.RESOLVE, [entry])
            slot.resolved = entry
        # The time left, set only when it changed by a millisecond or more (the lookup took no
        # time: the same as the last send's on this handle, most of the time).
        total = max(1, int(left * 1000))
        if total != slot.timeouts[0]:
            connect = max(1, int(min(config.connect_timeout, left) * 1000))
            c.setopt(pycurl.TIMEOUT_MS, total)
            if connect != slot.timeouts[1]:
                c.setopt(pycurl.CONNECTTIMEOUT_MS, connect)
            slot.timeouts = (total, connect)
        c.setopt(pycurl.POSTFIELDS, body)
        c.setopt(pycurl.HTTPHEADER, [*[f"{k}: {v}" for k, v in headers.items()], "Accept:", "Expect:"])
        loop = self._loop
        assert loop is not None
        fut: asyncio.Future[tuple[int, str]] = loop.create_future()
        slot.fut = fut
        slot.sent_at = now
        sent_at = time.perf_counter()
        self._active[c] = slot
        multi.add_handle(c)
        if self._sweeper is None:
            # The first transfer that could wait out the read timeout (or, the safety net, its
            # deadline) is this one: not before.
            self._sweeper = loop.call_later(max(SWEEP_S, min(config.read_timeout, left + OVERDUE_S)), self._sweep)
        try:
            errno, message = await fut
            latency = (time.perf_counter() - sent_at) * 1000
            return self._outcome(slot, errno, message, url, host, port, start, latency)
        finally:
            if self._multi is not None:
                self._release(self._multi, slot)  # cancelled: its connection is closed, nothing more is sent
                slot.fut = None
                self._free.append(slot)

    def _outcome(
        self, slot: _Slot, errno: int, message: str, url: str, host: str, port: int, start: float, latency: float
    ) -> Outcome:
        config = self.config
        if slot.status is not None and slot.reader is not None and (errno == 0 or slot.abort == "cap"):
            return answered_outcome(slot.status, slot.reason, slot.headers or {}, slot.reader, latency, config)
        timed_out = errno == _E_OPERATION_TIMEDOUT
        if timed_out and time.monotonic() >= start + config.deadline - _CLIPPED:
            return deadline_outcome(slot.status, slot.headers, config)
        exc = self._exception(slot, errno, message, host or urlsplit(url).hostname or "", port)
        detail = str(exc) if isinstance(exc, _Refused | _Internal) else explain_exception(exc, url, config)
        out = Outcome(error=NETWORK_ERROR, detail=detail)
        if slot.status is not None:
            out.http_status = slot.status
            out.response_headers = slot.headers or {}
        return out

    def _exception(self, slot: _Slot, errno: int, message: str, host: str, port: int) -> BaseException:
        """The exception a single send (httpx) meets where libcurl failed with ``errno``."""
        os_errno = slot.curl.getinfo(pycurl.OS_ERRNO)
        if slot.abort == "resolve":
            return _Refused(f"blocked lookup: libcurl was about to resolve {host!r} itself, past the address policy; refused (nothing was sent)")
        if slot.abort == "read":
            return httpx.ReadTimeout(message)
        if slot.abort == "retry":  # the reused connection closed with no answer (as httpx words it)
            return httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if slot.abort == "internal":
            fault = slot.internal
            return _Internal(f"simlib's curl engine failed ({type(fault).__name__}: {str(fault)[:200]}); the attempt was ended")
        lowered = message.lower()
        if slot.abort == "fields" or (errno in (_E_TOO_LARGE, _E_RECV_ERROR) and "too many response headers" in lowered):
            return httpx.RemoteProtocolError(f"the response head has more than {MAX_HEAD_FIELDS} header fields")
        if errno in (_E_TOO_LARGE, _E_RECV_ERROR) and "too large response headers" in lowered and slot.abort != "head":
            # libcurl's total over every head of the answer, 1xx heads included (each one is
            # bounded by MAX_HEAD_BYTES here): a flood of 1xx answers
            return httpx.RemoteProtocolError(f"the response heads, 1xx answers included, are over libcurl's limit ({message.strip()})")
        if slot.abort == "head" or errno == _E_TOO_LARGE:
            return httpx.RemoteProtocolError(f"the response head is over {MAX_HEAD_BYTES} bytes")
        if errno == _E_OPERATION_TIMEDOUT:  # connected (and TLS done) once the request was about to go
            return httpx.ReadTimeout(message) if slot.requests else httpx.ConnectTimeout(message)
        if errno == _E_PEER_FAILED_VERIFICATION:
            return _cert_error(message)
        if errno == _E_SSL_CONNECT_ERROR:
            if os_errno:
                return OSError(os_errno, _strerror(os_errno))
            found = self._ssl_reason.search(message.strip())
            reason = found.group(1).strip().upper().replace(" ", "_") if found else message
            err = ssl.SSLError(message)
            err.reason = reason  # as Python's ssl module names it
            return err
        if errno in (_E_COULDNT_CONNECT, _E_SEND_ERROR, _E_RECV_ERROR) and os_errno:
            return OSError(os_errno, _strerror(os_errno))  # ConnectionRefusedError, ConnectionResetError...
        if errno == _E_RECV_ERROR and "reset" in message.lower():
            return ConnectionResetError(104, "Connection reset by peer")
        if errno == _E_GOT_NOTHING:
            return httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if errno == _E_PARTIAL_FILE:
            return httpx.RemoteProtocolError(f"peer closed connection without sending complete message body ({message})")
        if errno == _E_WEIRD_SERVER_REPLY:
            return httpx.RemoteProtocolError(message)
        if errno == _E_COULDNT_RESOLVE:  # only when libcurl tried to resolve: refused
            return _Refused(f"blocked lookup: libcurl tried to resolve {host!r} itself, past the address policy (nothing was sent)")
        if errno == _E_BAD_CONTENT_ENCODING:
            return httpx.RemoteProtocolError(message)
        if errno == _E_COULDNT_CONNECT:
            return httpx.ConnectError(message)
        if errno in (_E_SEND_ERROR, _E_RECV_ERROR):
            return httpx.ReadError(message)
        if errno == _E_WRITE_ERROR:
            return httpx.RemoteProtocolError(message)
        return httpx.RemoteProtocolError(f"libcurl error {errno}: {message}")


def _strerror(errno: int) -> str:
    return os.strerror(errno)


_MISMATCH = re.compile(r"target host ?name '([^']*)'")


def _cert_error(message: str) -> ssl.SSLCertVerificationError:
    """libcurl's certificate failure as Python's ssl module reports it (the same words)."""
    text = message.strip()
    found = _MISMATCH.search(text)
    if found is not None:
        name = found.group(1)
        try:
            ipaddress.ip_address(name)
            verify = f"IP address mismatch, certificate is not valid for '{name}'."
        except ValueError:
            verify = f"Hostname mismatch, certificate is not valid for '{name}'."
    else:
        # "SSL certificate problem: <OpenSSL's X509_verify_cert_error_string>", as Python has it
        verify = text.split("SSL certificate problem: ", 1)[-1]
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {verify}")
    err.verify_message = verify
    err.reason = "CERTIFICATE_VERIFY_FAILED"
    return err
