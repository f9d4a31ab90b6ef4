"""What the preview and the result panel show of a payload and of an answer, against real
servers: Raw is exactly the bytes that were signed (an HMAC over the copied text matches the
header), Pretty the indented view; a request that never left is "not sent" with no headers; a
9,000-level JSON answer and JSON escapes render readably instead of breaking the panel."""

from __future__ import annotations

import contextlib
import html
import re
import socket
import threading
from collections.abc import Iterator

import pytest

from simlib import DELIVERED, DeliveryConfig, Simulator, compute_signature, request_sent
from simlib.receiver import Receiver
from tests.helpers import APP, free_port
from tests.servers import RawServer, answer, connect_hole, never_answer, wait_until
from tests.ui.helpers import send_and_wait, text_of


def code_blocks(panel_html: str) -> list[str]:
    """The text of every code block (``<pre>``) of a panel, as a user would copy it."""
    return [html.unescape(re.sub(r"<[^>]+>", "", m)) for m in re.findall(r"<pre[^>]*>(.*?)</pre>", panel_html, re.S)]


def test_raw_shows_the_exact_signed_bytes_in_preview_and_result(sim, make_explorer) -> None:
    with Receiver() as rx:
        wh = sim.create_webhook("Local", rx.url, [APP])
        explorer = make_explorer(sim)
        explorer.select(wh.id)
        preview = explorer.current_preview
        assert code_blocks(explorer.preview.value) == [preview.pretty]  # Pretty by default

        explorer.composer.view.value = "raw"
        assert code_blocks(explorer.preview.value) == [preview.body.decode("utf-8")]
        assert "exactly the bytes that will be signed" in text_of(explorer.preview.value)

        send_and_wait(explorer)
        result = explorer.last_result
        assert result.result == DELIVERED
        copied = code_blocks(explorer.result.value)[0].encode("utf-8")
        received = rx.requests[-1]
        assert copied == received.body  # the bytes on the wire
        # An engineer checking the HMAC over what they copied gets the header's signature.
        timestamp = received.header("x-webhook-timestamp")
        assert compute_signature(wh.secret.reveal(), timestamp, copied) == received.header("x-webhook-signature")
        assert "Sent Payload · exact bytes" in text_of(explorer.result.value)

        explorer.composer.view.value = "pretty"  # the shown result follows the toggle
        assert code_blocks(explorer.result.value)[0] == preview.pretty
        assert code_blocks(explorer.preview.value) == [preview.pretty]


@pytest.mark.parametrize("case", ["dns", "refused", "blocked", "cancelled before connect"])
def test_a_request_that_never_left_is_not_sent_and_shows_no_headers(tmp_path, make_explorer, case) -> None:
    config = DeliveryConfig(connect_timeout=20.0, deadline=20.0)
    url = f"http://127.0.0.1:{free_port()}/hook"
    stack = contextlib.ExitStack()
    if case == "dns":
        config, url = config.with_(resolver=lambda host, port: []), "http://nowhere.example/hook"
    elif case == "blocked":
        config = config.with_(address_policy="strict")
    elif case == "cancelled before connect":
        _hole, port = stack.enter_context(connect_hole())
        url = f"http://127.0.0.1:{port}/hook"
    with stack:
        with Simulator(tmp_path / "s.db", delivery=config) as sim:
            wh = sim.create_webhook("Never", url, [APP])
            explorer = make_explorer(sim)
            explorer.select(wh.id)
            explorer.send.click()
            if case == "cancelled before connect":
                assert wait_until(lambda: explorer.send_running, 2)
                threading.Event().wait(0.3)
                explorer.send_cancel.click()
            explorer.wait(30)
            result = explorer.last_result
            assert result.request_headers, "signed before it failed: only the label can tell"
            assert not request_sent(result.http_status, result.detail, result.request_headers), result.detail
            panel = text_of(explorer.result.value)
            assert "Payload (not sent)" in panel and "Sent Payload" not in panel
            assert "x-webhook-signature" not in panel and "not sent: the request never left" in panel


def test_a_request_that_left_but_got_no_answer_shows_what_was_sent(tmp_path, make_explorer) -> None:
    with RawServer(never_answer()) as server, Simulator(
        tmp_path / "s.db", delivery=DeliveryConfig(read_timeout=0.5, deadline=5.0)
    ) as sim:
        wh = sim.create_webhook("Hangs", server.url, [APP])
        explorer = make_explorer(sim)
        explorer.select(wh.id)
        send_and_wait(explorer)
        panel = text_of(explorer.result.value)
        assert len(server.requests) == 1
        assert "Sent Payload" in panel and "x-webhook-signature" in panel
        assert "accepted the connection but did not answer in time" in panel


@pytest.fixture
def answering() -> Iterator[list[bytes]]:
    """A server answering 200 with the body last put in the list."""
    bodies: list[bytes] = [b"{}"]

    def run(conn: socket.socket, server: RawServer) -> None:
        answer(200, bodies[-1])(conn, server)

    with RawServer(run) as server:
        bodies.append(server.url.encode())
        yield bodies


def _send_answered(sim, make_explorer, url: str):
    wh = sim.create_webhook("Answers", url, [APP])
    explorer = make_explorer(sim)
    explorer.select(wh.id)
    send_and_wait(explorer)
    return explorer


def test_a_9000_level_json_answer_is_shown_as_text_with_a_note(sim, make_explorer, answering) -> None:
    url = answering.pop().decode()
    deep = b"[" * 9000 + b"]" * 9000
    answering.append(deep)
    explorer = _send_answered(sim, make_explorer, url)
    assert explorer.last_result.delivered and explorer.last_result.recorded
    panel = text_of(explorer.result.value)
    assert "Sending" not in panel and "✓ Delivered" in panel
    assert "Nested too deeply to lay out: shown as received." in panel
    assert deep.decode()[:18_000] in "".join(code_blocks(explorer.result.value))


def test_json_escapes_in_an_answer_are_shown_as_their_characters(sim, make_explorer, answering) -> None:
    url = answering.pop().decode()
    answering.append(b'{"reason": "outside the \\u00b1300000 ms tolerance"}')
    explorer = _send_answered(sim, make_explorer, url)
    panel = text_of(explorer.result.value)
    assert "±300000" in panel and "\\u00b1" not in panel
    # Not JSON (cut short), but with escapes: decoded too, and the note says so.
    answering.append(b'{"reason": "outside the \\u00b1300000 ms')
    send_and_wait(explorer)
    panel = text_of(explorer.result.value)
    assert "±300000" in panel and "\\u00b1" not in panel and "shown as the characters they stand for" in panel
