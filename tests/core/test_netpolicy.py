"""Address policy: resolve once, check every address, connect only to checked addresses."""

from __future__ import annotations

import pytest

from simlib import DeliveryConfig, Simulator
from simlib.core.delivery.netpolicy import LOCAL, STRICT, AddressPolicy, BlockedAddress, embedded_ipv4, get_policy
from tests.helpers import APP

ALWAYS_BLOCKED = [
    "169.254.169.254",  # cloud metadata
    "::ffff:169.254.169.254",  # IPv4-mapped
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "fd00:ec2::254",  # AWS metadata over IPv6
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    "fe80::1",
    "ff02::1",
    "::",
    "192.0.2.10",
]
LOCAL_ONLY = ["127.0.0.1", "10.1.2.3", "172.16.5.4", "192.168.1.1", "100.64.0.1", "::1", "fd12:3456::1", "::ffff:127.0.0.1"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", ALWAYS_BLOCKED)
def test_always_blocked_by_both_policies(address):
    assert LOCAL.reason(address) is not None
    assert STRICT.reason(address) is not None


@pytest.mark.parametrize("address", LOCAL_ONLY)
def test_local_addresses_allowed_only_by_the_local_policy(address):
    assert LOCAL.reason(address) is None
    assert STRICT.reason(address) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_allowed_by_both(address):
    assert LOCAL.reason(address) is None
    assert STRICT.reason(address) is None


def test_embedded_forms_are_unwrapped():
    import ipaddress

    assert [str(a) for a in embedded_ipv4(ipaddress.ip_address("2002:a9fe:a9fe::"))] == ["169.254.169.254"]
    assert "169.254.169.254" in [str(a) for a in embedded_ipv4(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))]


def test_allow_list_exception():
    policy = STRICT.allowing("10.9.0.0/16")
    assert policy.reason("10.9.1.1") is None
    assert policy.reason("10.8.1.1") is not None


def test_unknown_policy_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown address policy"):
        get_policy("lenient")
    with pytest.raises(ValueError):
        DeliveryConfig(address_policy="lenient")


def test_blocked_message_names_host_address_and_policy():
    with pytest.raises(BlockedAddress) as info:
        LOCAL.check("metadata.internal", ["10.0.0.1", "169.254.169.254"])
    text = str(info.value)
    assert "metadata.internal resolves to 169.254.169.254" in text and "'local'" in text


def _sim(tmp_path, **config):
    return Simulator(tmp_path / "s.db", delivery=DeliveryConfig(deadline=3, **config))


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://[::ffff:169.254.169.254]/", "http://[2002:a9fe:a9fe::]/", "http://0.0.0.0:8080/"])
def test_blocked_literal_is_a_recorded_network_error_and_nothing_is_sent(tmp_path, url):
    with _sim(tmp_path) as sim:
        wh = sim.create_webhook("meta", url, [APP])
        r = sim.simulate(wh, APP)
        assert r.result == "Failed" and r.error == "Network error"
        assert r.detail.startswith("blocked address") and "nothing was sent" in r.detail
        assert r.http_status is None
        row = sim.history().iloc[-1]
        assert row["detail"] == r.detail


def test_hostname_resolving_to_a_blocked_address_is_refused_before_connecting(tmp_path, receiver):
    calls = []

    def resolver(host, port):
        calls.append((host, port))
        return ["127.0.0.1", "169.254.169.254"]  # one good, one bad: refuse the lot

    with _sim(tmp_path, resolver=resolver) as sim:
        wh = sim.create_webhook("rebinding", f"http://evil.example:{receiver.port}/hook", [APP])
        r = sim.simulate(wh, APP)
    assert calls == [("evil.example", receiver.port)]
    assert "evil.example resolves to 169.254.169.254" in r.detail
    assert receiver.count == 0


def test_connection_goes_to_the_checked_address_with_the_original_host_header(tmp_path, receiver):
    resolved = []

    def resolver(host, port):
        resolved.append(host)
        return ["127.0.0.1"]

    with _sim(tmp_path, resolver=resolver) as sim:
        wh = sim.create_webhook("pinned", f"http://receiver.test:{receiver.port}/hook", [APP])
        r = sim.simulate(wh, APP)
    assert r.result == "Delivered", r.detail
    assert resolved == ["receiver.test"]  # resolved exactly once
    (req,) = receiver.requests
    assert req.header("host") == f"receiver.test:{receiver.port}"


def test_strict_policy_refuses_the_local_receiver(tmp_path, receiver):
    with _sim(tmp_path, address_policy="strict") as sim:
        wh = sim.create_webhook("strict", receiver.url, [APP])
        r = sim.simulate(wh, APP)
    assert "blocked address" in r.detail and "loopback" in r.detail
    assert receiver.count == 0


def test_localhost_falls_back_across_resolved_addresses(tmp_path, receiver):
    # The receiver listens on 127.0.0.1 only; if ::1 comes first it is refused and the next
    # checked address is tried.
    with _sim(tmp_path, resolver=lambda h, p: ["::1", "127.0.0.1"]) as sim:
        wh = sim.create_webhook("localhost", f"http://localhost:{receiver.port}/hook", [APP])
        r = sim.simulate(wh, APP)
    assert r.result == "Delivered", r.detail


def test_dns_failure_is_a_network_error_naming_dns(tmp_path):
    import socket

    def resolver(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with _sim(tmp_path, resolver=resolver) as sim:
        wh = sim.create_webhook("nxdomain", "https://no-such-host.invalid/hook", [APP])
        r = sim.simulate(wh, APP)
    assert r.error == "Network error" and r.detail.startswith("DNS: could not resolve host 'no-such-host.invalid'")


def test_a_custom_policy_object_is_accepted(tmp_path, receiver):
    deny_loopback = AddressPolicy("no-loopback", STRICT.deny[:0] + tuple(d for d in STRICT.deny if "loopback" in d[1]))
    with _sim(tmp_path, address_policy=deny_loopback) as sim:
        wh = sim.create_webhook("custom", receiver.url, [APP])
        r = sim.simulate(wh, APP)
    assert "'no-loopback'" in r.detail
