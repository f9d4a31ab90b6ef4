"""Replay a history row or a captured delivery, and compare the answers.

    rr = sim.replay(12)                                # the same bytes, re-signed now
    rr = sim.replay(12, original_timestamp=True)       # original timestamp + signature: tests replay protection
    rr = sim.replay(12, overrides={"data.activity.workMode": False})   # edit, then replay
    rr.diff                                            # DataFrame: field x (original, replay, same)

    imp = sim.import_delivery(Path("capture.txt"), "wh_1")   # a customer's capture, re-signed and sent
    imp.explanation                                    # was the captured signature valid for wh_1?
    imp.compare                                        # captured response / as captured / re-signed

Every send goes through :meth:`Engine.send_exact <simlib.core.engine.Engine.send_exact>`: the webhook is re-read (its current URL
and secret are used), nothing raises, and the new row links to the one it repeats
(``replay_of``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simlib.core.delivery.http import signed_headers
from simlib.core.events import apply_overrides
from simlib.core.payload import Overrides, check_size, event_id_for, normalise_overrides, serialize
from simlib.core.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, header_value
from simlib.errors import ValidationError
from simlib.records import SERVICE_UNAVAILABLE, Preview, SimulationResult, Webhook
from simlib.toolkit.capture import Capture, parse_capture
from simlib.toolkit.explain import Explanation, explain_with_engine

if TYPE_CHECKING:
    import os

    import pandas as pd

    from simlib.core.engine import Engine

__all__ = ["DiffCell", "ImportResult", "ReplayResult", "compare_answers", "import_delivery", "replay"]

# Transport and proxy headers of a capture that must not be sent again.
DROP_HEADERS = {
    "host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
    "expect", "accept-encoding", "proxy-connection", "proxy-authorization", "forwarded", "via",
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-real-ip",
}
_LABEL = re.compile(r"^(?:check|probe|import) [^:]*: ")
DIFF_FIELDS = [
    "result", "http_status", "error", "detail", "response_content_type", "response_body",
    "x-webhook-timestamp", "x-webhook-signature", "request_body",
]


_SHOWN = 200  # characters of a text value shown in a diff cell


@dataclass(frozen=True)
class DiffCell:
    """One field of one answer in a diff: ``value`` (the full value, which ``same`` compares:
    the exact request bytes, the whole response text, the header as recorded) and ``shown`` (what
    the cell displays; a body is shown as its length, a long text cut)."""

    value: Any
    shown: str


def _text_cell(value: Any) -> DiffCell:
    if value is None or (isinstance(value, float) and value != value):
        return DiffCell(None, "-")
    s = str(value)
    return DiffCell(s, s if len(s) <= _SHOWN else s[:_SHOWN] + "…")


def _status_cell(value: Any) -> DiffCell:
    """An HTTP status compared as a number (a capture may write ``"200"``, a row ``200``)."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value == value and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return _text_cell(value)
    return DiffCell(int(value), str(int(value)))


def _bytes_cell(body: bytes | None) -> DiffCell:
    return DiffCell(None, "-") if body is None else DiffCell(bytes(body), f"{len(body)} bytes")


def _view(result: str | None, status: Any, error: Any, detail: str | None, response_headers: Any,
          response_body: Any, request_headers: Any, body: bytes | None) -> dict[str, DiffCell]:
    """One answer's fields for :func:`compare_answers` (headers: a mapping or (name, value) pairs)."""
    return {
        "result": _text_cell(result),
        "http_status": _status_cell(status),
        "error": _text_cell(error),
        "detail": _text_cell(_LABEL.sub("", detail) if detail else None),
        "response_content_type": _text_cell(header_value(response_headers or {}, "content-type")),
        "response_body": _text_cell(response_body),
        TIMESTAMP_HEADER: _text_cell(header_value(request_headers or {}, TIMESTAMP_HEADER)),
        SIGNATURE_HEADER: _text_cell(header_value(request_headers or {}, SIGNATURE_HEADER)),
        "request_body": _bytes_cell(body),
    }


def _row_view(row: Mapping[str, Any]) -> dict[str, DiffCell]:
    return _view(row["result"], row["http_status"], row["error"], row["detail"], row["response_headers"],
                 row["response_body"], row["request_headers"], row["request_body"])


def _result_view(r: SimulationResult) -> dict[str, DiffCell]:
    return _view(r.result, r.http_status, r.error, r.detail, r.response_headers, r.response_body,
                 r.request_headers, r.request_body)


def _first_difference(values: Sequence[Any]) -> int | None:
    """The offset where ``values`` (all text or all bytes) stop being the same (the shortest one's
    length when one is a prefix of another), or None when they are equal."""
    first = values[0]
    offsets = [next((i for i, (x, y) in enumerate(zip(first, other, strict=False)) if x != y), min(len(first), len(other)))
               for other in values[1:] if other != first]
    return min(offsets) if offsets else None


def _marked(cell: DiffCell, pos: int | None) -> str:
    """``cell`` shown in a row whose values differ: a body names the first differing byte, a cut
    text the first differing character (and shows the text there when it is past the cut)."""
    value = cell.value
    if isinstance(value, bytes):
        return f"{cell.shown}, differs" + (f" at byte {pos}" if pos is not None else "")
    if pos is None or not isinstance(value, str):
        return f"{cell.shown} (differs)"
    where = f" (differs at character {pos} of {len(value)})"
    if pos < _SHOWN - 20:
        return cell.shown + where
    start = pos - 40
    return "…" + value[start : pos + 60] + ("…" if pos + 60 < len(value) else "") + where


def _compare_field(cells: Sequence[DiffCell]) -> tuple[list[str], bool]:
    """The cells' displays and whether their values are all the same. When they are not, a
    display that does not show the whole value (a body's length, a cut text), or that reads like
    another cell's, says where it differs: ``same`` never rests on what is shown."""
    values = [c.value for c in cells]
    same = all(type(v) is type(values[0]) and v == values[0] for v in values[1:])
    if same:
        return [c.shown for c in cells], True
    present = [v for v in values if v is not None]
    comparable = len(present) > 1 and all(type(v) is type(present[0]) and isinstance(v, str | bytes) for v in present)
    pos = _first_difference(present) if comparable else None
    shown = []
    for c in cells:
        full = (isinstance(c.value, str) and c.shown == c.value) or (
            not isinstance(c.value, str | bytes) and c.shown == str(c.value))
        alike = any(o.shown == c.shown and o.value != c.value for o in cells)
        shown.append(c.shown if c.value is None or (full and not alike) else _marked(c, pos))  # "-": nothing
    return shown, False


def compare_answers(columns: Mapping[str, Mapping[str, str | DiffCell]]) -> pd.DataFrame:
    """Side by side views (``{label: view}``) as a DataFrame indexed by field, plus ``same``
    (every column's full value equal: the exact request bytes, the whole response text; never a
    shortened display). Request fields are shown too, so a changed body or signature is seen;
    a cell that shows less than its value (a body's length, a cut text) says where it differs."""
    import pandas as pd

    labels = list(columns)
    shown: dict[str, list[str]] = {label: [] for label in labels}
    same: list[bool] = []
    for f in DIFF_FIELDS:
        cells = [_as_cell(columns[label].get(f, "-")) for label in labels]
        texts, equal = _compare_field(cells)
        for label, text in zip(labels, texts, strict=True):
            shown[label].append(text)
        same.append(equal)
    frame = pd.DataFrame(shown, index=pd.Index(DIFF_FIELDS, name="field"))
    frame["same"] = same
    return frame


def _as_cell(value: str | DiffCell) -> DiffCell:
    if isinstance(value, DiffCell):
        return value
    return DiffCell(None, "-") if value == "-" else DiffCell(value, value)


@dataclass(frozen=True)
class ReplayResult:
    """A replay: the row it repeats, the new result (recorded with ``replay_of``), and a diff."""

    original_id: int
    original: dict[str, Any]
    result: SimulationResult
    mode: str  # "re-signed" or "original timestamp and signature"
    edited: bool

    @property
    def diff(self) -> pd.DataFrame:
        """Field by field: the original attempt, the replay, and whether they are the same."""
        return compare_answers({"original": _row_view(self.original), "replay": _result_view(self.result)})

    def __repr__(self) -> str:
        edited = ", edited" if self.edited else ""
        return f"ReplayResult(of #{self.original_id}, {self.mode}{edited}: {self.result!r})"


def replay(
    sim: Engine,
    history_id: int,
    *,
    original_timestamp: bool = False,
    overrides: Overrides = None,
    cancel: threading.Event | None = None,
) -> ReplayResult:
    """Resend history row ``history_id`` to its webhook (its current URL).

    Default: exactly the original bytes, re-signed with a fresh timestamp and the webhook's
    current secret. ``original_timestamp=True``: the recorded headers as they were (original
    timestamp and signature), to test a receiver's replay protection. ``overrides`` edit the
    payload first (dotted paths, as for previews); the edited body is re-signed. ``cancel``
    ends the send within a second, as for :meth:`~simlib.core.engine.Engine.send`.
    """
    row = sim.history_row(history_id)
    body: bytes = row["request_body"]
    ov = normalise_overrides(overrides)
    if ov:
        if original_timestamp:
            raise ValidationError(
                "original_timestamp", "overrides change the body, so the original signature cannot match: drop one"
            )
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise ValidationError("overrides", f"history row {history_id} has no JSON body to edit") from None
        body = serialize(apply_overrides(payload, ov))
        check_size(body, sim.max_payload_bytes)
    recorded = dict(row["request_headers"])
    if original_timestamp and header_value(recorded, SIGNATURE_HEADER) is None:
        raise ValidationError(
            "original_timestamp", f"history row {history_id} has no recorded signature (nothing was sent): replay it re-signed"
        )
    _utf8(body)
    preview = Preview(
        webhook_id=row["webhook_id"],
        webhook_name=row["webhook_name"],
        url=row["url"],
        event_type=row["event_type"],
        body=body,
        seed=0,
        event_id=row["event_id"] if body == row["request_body"] else event_id_for(body),
    )
    if original_timestamp:
        result = sim.send_exact(preview, lambda wh, ts: dict(recorded), replay_of=history_id, cancel=cancel)
    else:
        result = sim.send_exact(
            preview, lambda wh, ts: signed_headers(wh.secret, body, ts, sim.delivery), replay_of=history_id,
            cancel=cancel,
        )
    mode = "original timestamp and signature" if original_timestamp else "re-signed"
    return ReplayResult(int(history_id), row, result, mode, bool(ov))


def _utf8(body: bytes) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("body", "is not UTF-8: a Trackpilots delivery is UTF-8 JSON") from None


# -- import a captured delivery ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """A captured delivery sent again: as captured (original timestamp and signature) and
    re-signed with the chosen webhook's secret; ``explanation`` checks the captured signature
    against that webhook's secrets."""

    capture: Capture
    webhook_id: str
    explanation: Explanation
    as_captured: SimulationResult | None
    resigned: SimulationResult

    @property
    def compare(self) -> pd.DataFrame:
        """Field by field: the captured response (when the capture had one), the answer to the
        capture sent as it was, and the answer to the re-signed request."""
        columns: dict[str, Mapping[str, str | DiffCell]] = {}
        if self.capture.response is not None:
            resp = self.capture.response
            headers = resp.get("headers")
            columns["captured"] = _view(None, resp.get("status"), None, None,
                                        headers if isinstance(headers, Mapping) else None, resp.get("body"),
                                        list(self.capture.headers), self.capture.body)
        if self.as_captured is not None:
            columns["as captured"] = _result_view(self.as_captured)
        columns["re-signed"] = _result_view(self.resigned)
        return compare_answers(columns)

    def __repr__(self) -> str:
        return f"ImportResult({self.capture!r} -> {self.webhook_id}: {self.explanation.cause}, re-signed {self.resigned!r})"


def _merge(base: Iterable[tuple[str, str]], override: Mapping[str, str]) -> dict[str, str]:
    """``base`` headers with ``override`` replacing same-named ones (names compared case-insensitively)."""
    names = {k.lower() for k in override}
    out = {k: v for k, v in base if k.lower() not in names}
    out.update(override)
    return out


def import_delivery(
    sim: Engine,
    source: Capture | bytes | str | os.PathLike[str],
    webhook: Any,
    *,
    send_as_captured: bool = True,
    among: Sequence[Any] | None = None,
) -> ImportResult:
    """Load a captured request (see :func:`~simlib.toolkit.capture.parse_capture`), send it to
    ``webhook`` as captured (when it has a signature; ``send_as_captured=False`` skips that)
    and re-signed with the webhook's secret, and compare the answers. Both attempts are
    recorded; the re-signed row links to the as-captured one. The signature explanation tries
    the secrets of ``among`` (default: every webhook's)."""
    cap = source if isinstance(source, Capture) else parse_capture(source)
    wh = sim.get_webhook(webhook)
    event = cap.event_type
    if event is None:
        raise ValidationError("capture", 'the body is not a Trackpilots event (no "event" field in a JSON object)')
    _utf8(cap.body)
    check_size(cap.body, sim.max_payload_bytes)
    explanation = explain_with_engine(sim, list(cap.headers), cap.body, webhook=wh.id, among=among)
    preview = Preview(wh.id, wh.name, wh.url, event, cap.body, seed=0, event_id=event_id_for(cap.body))
    forwarded = [(k, v) for k, v in cap.headers if k.lower() not in DROP_HEADERS]
    for k, v in forwarded:  # HTTP/1.1 headers go out as ASCII: refuse here, not as a failed send
        if not (k + v).isascii() or any(ch in k + v for ch in "\r\n\x00"):
            raise ValidationError("capture", f"header {k[:40]!r} has characters that cannot be sent (not ASCII, or a line break)")
    as_captured = None
    if send_as_captured and cap.header(SIGNATURE_HEADER) and cap.header(TIMESTAMP_HEADER):
        as_captured = sim.send_exact(preview, lambda w, ts: dict(forwarded), label="import as captured")

    def resigned_headers(w: Webhook, ts: int) -> dict[str, str]:
        signed = signed_headers(w.secret, cap.body, ts, sim.delivery)
        if cap.header("user-agent"):
            signed.pop("user-agent", None)  # keep the captured sender's User-Agent
        return _merge(forwarded, signed)

    if as_captured is not None and as_captured.error == SERVICE_UNAVAILABLE:
        # Nothing was sent and the store already had its one wait: the re-signed send is not
        # tried (it would wait again), its result says the same, recorded without waiting.
        resigned = sim.record_failure(preview, SERVICE_UNAVAILABLE, as_captured.detail, webhook=wh, wait=False)
    else:
        resigned = sim.send_exact(
            preview, resigned_headers, replay_of=as_captured.history_id if as_captured else None,
            label="import re-signed",
        )
    return ImportResult(cap, wh.id, explanation, as_captured, resigned)
