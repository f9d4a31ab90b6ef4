"""Address policy: which IP addresses a simulation may be sent to.

The host is resolved **once**; every resolved address is checked against an explicit table (not
``ipaddress``'s ``is_private``/``is_global`` flags, which changed between Python patch releases,
CVE-2024-4032); the connection then goes to a checked address, so DNS rebinding between the check
and the connect cannot happen. IPv4-mapped (``::ffff:a.b.c.d``), SIIT-translated
(``::ffff:0:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), 6to4 (``2002::/16``), NAT64
(``64:ff9b::/96``), ISATAP (``…:5efe:a.b.c.d``) and Teredo forms are unwrapped and their IPv4
address is checked too.

The tables follow the IANA IPv4 and IPv6 special-purpose address registries (every entry is
tested in ``tests/core/test_netpolicy.py``). Where the registry marks a block as globally
reachable but no webhook receiver can live there, ``strict`` refuses it anyway: the IETF
protocol-assignment blocks ``192.0.0.0/24`` and ``2001::/23`` as a whole (their global entries
are anycast services -- PCP, TURN, AMT, AS112 -- and the ORCHIDv2/DET identifier spaces, which
are "not routable at the IP layer"), the deprecated 6to4 relay anycast and 6to4 itself, and IPv6
space outside the global unicast range ``2000::/3``.

Two built-in policies:

``local`` (default)
    For a test tool on your own machine: loopback and private ranges are allowed (your receiver
    is there), but link-local (including the cloud metadata endpoints), ``0.0.0.0/8``, multicast,
    broadcast, documentation and reserved ranges are always refused.
``strict``
    What Trackpilots itself enforces, for shared deployments (a Voilà or JupyterHub server): only
    publicly routable addresses.
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from simlib.errors import SimlibError

__all__ = [
    "ALWAYS_DENIED",
    "AddressPolicy",
    "BlockedAddress",
    "LOCAL",
    "MAX_PENDING_LOOKUPS",
    "NON_PUBLIC",
    "NoAddress",
    "ResolveTimeout",
    "ResolverBusy",
    "STRICT",
    "get_policy",
    "pending_lookups",
    "resolve",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]


def _nets(*items: tuple[str, str]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(cidr), why) for cidr, why in items)


#: Refused by every built-in policy: never a webhook receiver, often an attack target.
ALWAYS_DENIED = _nets(
    ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
    ("169.254.0.0/16", "link-local (includes the cloud metadata service 169.254.169.254)"),
    ("100.100.100.200/32", "a cloud metadata service (Alibaba)"),
    ("192.0.0.0/29", "the IPv4 service continuity prefix (DS-Lite, 192.0.0.0/29)"),
    ("192.0.0.8/32", "the IPv4 dummy address"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (includes broadcast 255.255.255.255)"),
    ("::/128", "the unspecified address"),
    ("fe80::/10", "IPv6 link-local"),
    ("fd00:ec2::254/128", "the cloud metadata service (AWS IPv6)"),
    ("ff00::/8", "IPv6 multicast"),
    ("100::/64", "IPv6 discard-only"),
    ("2001:db8::/32", "IPv6 documentation"),
    ("2001:10::/28", "IPv6 ORCHID (reserved)"),
    ("2001:20::/28", "IPv6 ORCHIDv2 (identifiers, not routable at the IP layer)"),
    ("3fff::/20", "IPv6 documentation (3fff::/20)"),
    ("100:0:0:1::/64", "the IPv6 dummy prefix"),
    ("fec0::/10", "IPv6 site-local (deprecated)"),
)

#: Also refused by the strict policy: everything not publicly routable.
NON_PUBLIC = _nets(
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private (10.0.0.0/8)"),
    ("172.16.0.0/12", "private (172.16.0.0/12)"),
    ("192.168.0.0/16", "private (192.168.0.0/16)"),
    ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
    ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.88.99.0/24", "the deprecated 6to4 relay anycast (192.88.99.0/24)"),
    ("::1/128", "IPv6 loopback"),
    ("fc00::/7", "IPv6 unique-local"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("2001:2::/48", "IPv6 benchmarking (2001:2::/48)"),
    ("2001::/23", "IPv6 IETF protocol assignments (2001::/23: Teredo, anycast services, identifiers)"),
    ("2002::/16", "IPv6 6to4 (deprecated)"),
    ("5f00::/16", "IPv6 segment routing (SRv6) SIDs"),
    *((cidr, "not in the IPv6 global unicast space (2000::/3)")
      for cidr in ("100::/8", "200::/7", "400::/6", "800::/5", "1000::/4", "4000::/2", "8000::/1")),
)


class BlockedAddress(SimlibError):
    """The URL's host is, or resolves to, an address the policy refuses."""

    def __init__(self, host: str, address: str, why: str, policy: str) -> None:
        self.host = host
        self.address = address
        self.why = why
        self.policy = policy
        shown = address if host.strip("[]") == address else f"{host} resolves to {address}, which"
        super().__init__(f"blocked address: {shown} is {why}; refused by the {policy!r} address policy")


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses hidden inside an IPv6 address (mapped, SIIT, compatible, 6to4, NAT64,
    ISATAP, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    out: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)
    as_int = int(ip)
    for prefix in (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")):
        if ip in prefix:
            out.append(ipaddress.IPv4Address(as_int & 0xFFFFFFFF))
    # IPv4-compatible (deprecated ::a.b.c.d) and SIIT IPv4-translated (::ffff:0:a.b.c.d, RFC 2765)
    if (as_int >> 32 == 0 and as_int > 1) or as_int >> 32 == 0xFFFF0000:
        out.append(ipaddress.IPv4Address(as_int & 0xFFFFFFFF))
    # ISATAP (RFC 5214): the interface identifier is 0000:5efe or 0200:5efe, then the IPv4 address
    if (as_int >> 32) & 0xFDFFFFFF == 0x5EFE:
        out.append(ipaddress.IPv4Address(as_int & 0xFFFFFFFF))
    return out


@dataclass(frozen=True)
class AddressPolicy:
    """A named table of refused networks, with optional allow-list exceptions: whole networks
    (``allow``) or single endpoints, one exact address and port each (``endpoints``)."""

    name: str
    deny: tuple[tuple[Network, str], ...]
    allow: tuple[Network, ...] = field(default=())
    endpoints: tuple[tuple[IPAddress, int], ...] = field(default=())

    def reason(self, address: str | IPAddress, port: int | None = None) -> str | None:
        """Why ``address`` is refused, or None when it is allowed. An allowed endpoint is
        allowed on its own port only: the same address on any other ``port`` (or with no port
        given) is judged by the tables."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%")[0])
        if port is not None and (ip, port) in self.endpoints:
            return None
        candidates: list[IPAddress] = [ip, *embedded_ipv4(ip)]
        for cand in candidates:
            if any(cand.version == n.version and cand in n for n in self.allow):
                continue
            for net, why in self.deny:
                if cand.version == net.version and cand in net:
                    if cand is not ip:
                        return f"{why} (embedded as {cand} in {ip})"
                    return why
        return None

    def check(self, host: str, addresses: Iterable[str], port: int | None = None) -> None:
        """Raise BlockedAddress if any of ``addresses`` (on ``port``) is refused."""
        for addr in addresses:
            why = self.reason(addr, port)
            if why is not None:
                raise BlockedAddress(host, addr, why, self.name)

    def allowing(self, *cidrs: str) -> AddressPolicy:
        """A copy that also allows ``cidrs`` (e.g. a lab network you really want to reach)."""
        extra = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        return AddressPolicy(self.name + "+allow", self.deny, self.allow + extra, self.endpoints)

    def allowing_endpoint(self, address: str, port: int) -> AddressPolicy:
        """A copy that also allows one endpoint: exactly ``address`` on ``port``, nothing next
        to it (e.g. the explorer's own embedded receiver under the strict policy). The name
        stays the policy's, so that a refusal elsewhere still names the policy in force."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"port must be a number from 1 to 65535, not {port!r}")
        endpoint = (ipaddress.ip_address(address), port)
        if endpoint in self.endpoints:
            return self
        return AddressPolicy(self.name, self.deny, self.allow, (*self.endpoints, endpoint))


LOCAL = AddressPolicy("local", ALWAYS_DENIED)
STRICT = AddressPolicy("strict", ALWAYS_DENIED + NON_PUBLIC)
_POLICIES = {"local": LOCAL, "strict": STRICT}


def get_policy(policy: str | AddressPolicy) -> AddressPolicy:
    if isinstance(policy, AddressPolicy):
        return policy
    try:
        return _POLICIES[policy]
    except KeyError:
        raise ValueError(f"unknown address policy {policy!r}: use 'local' or 'strict'") from None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (IPv4 and IPv6), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


class ResolveTimeout(SimlibError, TimeoutError):
    """The resolver did not answer in time."""

    def __init__(self, host: str, seconds: float) -> None:
        self.host = host
        self.seconds = seconds
        super().__init__(f"timeout: the DNS lookup of {host!r} did not finish within {seconds:g} s")


class NoAddress(SimlibError):
    """The resolver answered, but with nothing that can be checked and connected to."""

    def __init__(self, host: str, why: str) -> None:
        self.host = host
        super().__init__(f"DNS: {why} for {host!r}; nothing was sent")


class ResolverBusy(SimlibError):
    """Too many earlier lookups are still running (abandoned at their deadline, still hung)."""

    def __init__(self, host: str, pending: int) -> None:
        self.host = host
        super().__init__(
            f"DNS: {pending} earlier lookups are still hanging (the resolver does not answer); "
            f"not starting another for {host!r}, nothing was sent"
        )


#: Lookups that may run at once, abandoned ones included (each holds one thread until the
#: resolver returns). Past this, a send fails at once with ResolverBusy instead of queueing.
MAX_PENDING_LOOKUPS = 64
#: An idle lookup thread waits this long for the next lookup before it ends.
_IDLE_SECONDS = 30.0


class _Lookups:
    """Threads for DNS lookups: an idle one is reused, else one is started, so a lookup never
    waits behind one that hangs. At most ``MAX_PENDING_LOOKUPS`` run (threads = running +
    idle never exceeds it); the threads are daemons, so a lookup that never returns does not
    keep the process alive either."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.pending = 0
        self.idle = 0

    def submit(self, host: str, job: Callable[[], None]) -> None:
        with self.lock:
            if self.pending >= MAX_PENDING_LOOKUPS:
                raise ResolverBusy(host, self.pending)
            self.pending += 1
            if self.idle:
                self.idle -= 1
                self.jobs.put(job)  # under the lock: an idle thread cannot leave in between
                return
            try:
                threading.Thread(target=self._work, args=(job,), name="simlib-dns", daemon=True).start()
            except RuntimeError:  # no thread could be started
                self.pending -= 1
                raise

    def _work(self, job: Callable[[], None]) -> None:
        while True:
            try:
                job()
            finally:
                with self.lock:
                    self.pending -= 1
                    self.idle += 1
            try:
                job = self.jobs.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with self.lock:
                    try:
                        job = self.jobs.get_nowait()  # handed over just as the wait ended
                    except queue.Empty:
                        self.idle -= 1
                        return


_LOOKUPS = _Lookups()


def resolve(host: str, port: int, resolver: Resolver | None = None, *, timeout: float | None = None) -> list[str]:
    """Addresses for ``host``: the literal itself, or what the resolver answers (within
    ``timeout`` seconds: ``getaddrinfo`` has no timeout of its own, so it runs on a thread of
    its own, which a lookup that hangs keeps without holding up any other lookup).

    Raises :class:`NoAddress` when the answer is empty or not a list of IP addresses (no
    answer never means "let the HTTP client resolve it"), :class:`ResolveTimeout`, or
    :class:`ResolverBusy` when :data:`MAX_PENDING_LOOKUPS` lookups are still hanging.
    """
    bare = host.strip("[]")
    try:
        return [str(ipaddress.ip_address(bare))]
    except ValueError:
        pass
    lookup = resolver or system_resolver
    answer = lookup(bare, port) if timeout is None else _lookup_within(lookup, bare, port, timeout)
    return _addresses(bare, answer)


def _addresses(host: str, answer: object) -> list[str]:
    if isinstance(answer, (str, bytes)) or not isinstance(answer, Iterable):
        raise NoAddress(host, f"the resolver answered {type(answer).__name__}, not a list of addresses")
    out: list[str] = []
    for item in answer:
        try:
            text = str(ipaddress.ip_address(item.split("%")[0] if isinstance(item, str) else item))
        except (ValueError, TypeError):
            raise NoAddress(host, f"the resolver answered {str(item)[:80]!r}, which is not an IP address") from None
        if isinstance(item, str) and "%" in item:
            text = item  # keep the IPv6 zone for the connection; the policy strips it
        if text not in out:
            out.append(text)
    if not out:
        raise NoAddress(host, "the resolver answered no addresses")
    return out


def pending_lookups() -> int:
    """Lookups running now, abandoned ones included (at most :data:`MAX_PENDING_LOOKUPS`)."""
    return _LOOKUPS.pending


def _lookup_within(lookup: Resolver, host: str, port: int, timeout: float) -> Sequence[str]:
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["answer"] = lookup(host, port)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            box["error"] = exc
        finally:
            done.set()

    _LOOKUPS.submit(host, run)
    if not done.wait(max(timeout, 0.001)):
        raise ResolveTimeout(host, timeout)
    if "error" in box:
        raise box["error"]
    answer: Sequence[str] = box["answer"]
    return answer
