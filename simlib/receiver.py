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

Standard library only (asyncio), HTTP/1.1 with keep-alive, Content-Length and chunked bodies.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

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

__all__ = ["ReceivedRequest", "Receiver", "ReceiverProcess"]

MAX_HEAD_BYTES = 64 * 1024
DEFAULT_MAX_BODY = 50 * 1024 * 1024
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


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Receiver:
    """A local webhook receiver. Start with ``start()`` or ``with Receiver(...) as rx``.

    - ``secrets``: candidate secrets (several during a rotation), or a function returning them
      (asked on every request); none means "verify nothing".
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
      already accepted within the window (off by default).
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
        max_body_bytes: int = DEFAULT_MAX_BODY,
        keep: int = 10_000,
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
        self.max_body_bytes = max_body_bytes
        self.clock = clock or now_ms
        self.on_request = on_request
        self._requests: deque[ReceivedRequest] = deque(maxlen=keep)
        self._count = 0
        self._verified = 0
        self._answered: dict[int, int] = {}
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()

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
                    asyncio.start_server(self._handle, self.host, self._port, limit=MAX_HEAD_BYTES)
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
        for w in list(self._writers):
            w.close()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except (TimeoutError, Exception):  # noqa: BLE001
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

    def stats(self) -> dict[str, Any]:
        """Counters since start: requests, verified signatures, answers by status."""
        with self._cond:
            return {"requests": self._count, "verified": self._verified, "answered": {str(k): v for k, v in sorted(self._answered.items())}}

    def clear(self) -> None:
        with self._cond:
            self._requests.clear()

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

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            while True:
                try:
                    keep_alive = await self._one_request(reader, writer, client)
                except _BadRequest as bad:
                    await self._write(writer, bad.status, json.dumps({"error": str(bad)}).encode(), "application/json", False)
                    break
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001 - a bad client must never take the receiver down
            pass
        finally:
            self._writers.discard(writer)
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _BadRequest(400, "incomplete request head") from None
            return False
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, "request head too large") from None
        try:
            text = head.decode("latin-1")
            lines = text.split("\r\n")
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise _BadRequest(400, "malformed request line") from None
        if not version.startswith("HTTP/1.") or not method.isalpha():
            raise _BadRequest(400, "unsupported request line")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
                raise _BadRequest(400, "malformed header line")
            headers.append((name, value.strip()))
        lower = {k.lower(): v for k, v in headers}
        if lower.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(reader, lower)
        conn = lower.get("connection", "").lower()
        keep_alive = conn != "close" and (version == "HTTP/1.1" or conn == "keep-alive")

        if method == "GET" and target == STATS_PATH:
            await self._write(writer, 200, json.dumps(self.stats()).encode(), "application/json", keep_alive)
            return keep_alive
        verification = None
        secrets = self.current_secrets()
        if self.verify_signatures and secrets:
            verification = self._verify(headers, body, secrets)
        if self.replay_protection and (verification is None or verification.ok):
            replayed = self._replayed(headers, verification)
            verification = verification if replayed is None else replayed
        index = self._count
        provisional = ReceivedRequest(
            index, self.clock(), method, target, version, tuple(headers), body, verification, 0, client
        )
        if verification is not None and not verification.ok and self.reject_invalid:
            status = 409 if verification.code == "replayed" else 401
            payload = json.dumps({"received": False, "verified": False, "reason": verification.reason}).encode()
            ctype = "application/json"
        else:
            status = self.status(provisional) if callable(self.status) else int(self.status)
            ctype = self.content_type
            if self.body is not None:
                payload = self.body
            else:
                payload = json.dumps(
                    {
                        "received": True,
                        "verified": None if verification is None else verification.ok,
                        "event": provisional.event_type,
                    }
                ).encode()
        record = ReceivedRequest(
            index, provisional.received_at_ms, method, target, version, tuple(headers), body, verification, status, client
        )
        with self._cond:
            self._count += 1
            if verification is not None:
                self._verified += verification.ok
            self._answered[status] = self._answered.get(status, 0) + 1
            self._requests.append(record)
            self._cond.notify_all()
        if self.on_request is not None:
            try:
                self.on_request(record)
            except Exception:  # noqa: BLE001
                pass
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        await self._write(writer, status, payload, ctype, keep_alive)
        return keep_alive

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
        while len(self._seen) > self._requests.maxlen:  # type: ignore[operator]
            self._seen.popitem(last=False)
        return None

    async def _read_body(self, reader: asyncio.StreamReader, lower: dict[str, str]) -> bytes:
        if "chunked" in lower.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            size = 0
            while True:
                line = await reader.readline()
                try:
                    n = int(line.split(b";")[0].strip() or b"x", 16)
                except ValueError:
                    raise _BadRequest(400, "bad chunk size") from None
                if n == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                size += n
                if size > self.max_body_bytes:
                    raise _BadRequest(413, "body too large")
                parts.append(await reader.readexactly(n))
                await reader.readexactly(2)
        length = lower.get("content-length")
        if length is None:
            return b""
        if not length.isdigit():
            raise _BadRequest(400, "bad Content-Length")
        n = int(length)
        if n > self.max_body_bytes:
            raise _BadRequest(413, "body too large")
        return await reader.readexactly(n)

    async def _write(self, writer: asyncio.StreamWriter, status: int, payload: bytes, ctype: str, keep_alive: bool) -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"
        head = [f"HTTP/1.1 {status} {phrase}", f"content-type: {ctype}", f"content-length: {len(payload)}"]
        if not keep_alive:
            head.append("connection: close")
        no_body = status in (204, 304) or 100 <= status < 200
        if no_body:
            head = [h for h in head if not h.startswith("content-length")]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (b"" if no_body else payload))
        await writer.drain()


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
            except Exception:  # noqa: BLE001
                self._proc.kill()
            self._proc = None

    def __enter__(self) -> ReceiverProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
