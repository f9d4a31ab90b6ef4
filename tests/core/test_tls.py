"""TLS against real HTTPS servers on 127.0.0.1, certificates made with trustme.

Verification is on by default: a self-signed, expired or wrong-host certificate is a Network
error with the TLS reason; trusting the test CA (``ca_bundle``) makes the same server work;
``verify_tls=False`` works too and is recorded in the detail.
"""

from __future__ import annotations

import datetime as dt

import pytest
import trustme

from simlib import DeliveryConfig, Simulator
from tests.helpers import APP
from tests.servers import https_servers


@pytest.fixture
def https_server():
    """``start(cert) -> url``: an HTTPS endpoint presenting ``cert``."""
    with https_servers() as start:
        yield lambda cert: f"https://127.0.0.1:{start(cert)}/hook"


@pytest.fixture
def ca():
    return trustme.CA()


def _send(tmp_path, url, **config):
    with Simulator(tmp_path / "s.db", delivery=DeliveryConfig(deadline=5, **config)) as sim:
        wh = sim.create_webhook("tls", url, [APP])
        result = sim.simulate(wh, APP)
        frame = sim.history()
    return result, frame


def test_untrusted_certificate_is_a_network_error_with_the_tls_reason(tmp_path, ca, https_server):
    url = https_server(ca.issue_cert("127.0.0.1"))
    r, frame = _send(tmp_path, url)
    assert r.result == "Failed" and r.error == "Network error"
    assert r.detail.startswith("TLS: certificate verification failed")
    assert "self-signed" in r.detail or "unable to get local issuer" in r.detail
    assert frame.iloc[-1]["detail"] == r.detail


def test_trusting_the_ca_bundle_delivers(tmp_path, ca, https_server):
    url = https_server(ca.issue_cert("127.0.0.1"))
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    r, _ = _send(tmp_path, url, ca_bundle=str(bundle))
    assert r.result == "Delivered" and r.http_status == 200, r.detail


def test_expired_certificate_is_refused(tmp_path, ca, https_server):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    url = https_server(ca.issue_cert("127.0.0.1", not_before=past - dt.timedelta(days=60), not_after=past))
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    r, _ = _send(tmp_path, url, ca_bundle=str(bundle))
    assert r.error == "Network error"
    assert "expired" in r.detail


def test_wrong_host_certificate_is_refused(tmp_path, ca, https_server):
    url = https_server(ca.issue_cert("receiver.example.org"))
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    r, _ = _send(tmp_path, url, ca_bundle=str(bundle))
    assert r.error == "Network error"
    assert "mismatch" in r.detail.lower() or "doesn't match" in r.detail.lower()


def test_verification_can_be_switched_off_and_says_so(tmp_path, ca, https_server):
    url = https_server(ca.issue_cert("127.0.0.1"))
    r, frame = _send(tmp_path, url, verify_tls=False)
    assert r.result == "Delivered"
    assert "TLS verification was OFF" in r.detail
    assert "TLS verification was OFF" in frame.iloc[-1]["detail"]


def test_pinned_address_keeps_certificate_checks_for_the_host_name(tmp_path, ca, https_server):
    # The connection goes to the checked address 127.0.0.1, while TLS still verifies the
    # certificate against the name in the URL (SNI + hostname check).
    url = https_server(ca.issue_cert("receiver.test"))
    port = url.split(":")[2].split("/")[0]
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    named = f"https://receiver.test:{port}/hook"
    r, _ = _send(tmp_path, named, ca_bundle=str(bundle), resolver=lambda h, p: ["127.0.0.1"])
    assert r.result == "Delivered", r.detail
    other = tmp_path / "other"
    other.mkdir()
    r2, _ = _send(other, f"https://other.test:{port}/hook", ca_bundle=str(bundle), resolver=lambda h, p: ["127.0.0.1"])
    assert r2.error == "Network error" and "TLS" in r2.detail
