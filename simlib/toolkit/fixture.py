"""One history row as a JSON fixture: the request exactly as it was sent, and its answer.

    data = sim.history_fixture(12)          # bytes of a JSON object
    sim.import_delivery(data, "wh_1")       # Import reads it back (simlib.parse_capture)

The request is ``method``, ``url``, ``headers`` (the delivery headers as recorded: signature and
timestamp, never a secret) and the body twice: ``body_base64`` (the exact bytes, which
:func:`~simlib.toolkit.capture.parse_capture` uses) and ``body`` (the same as text, to read).
``response`` holds the endpoint's answer; the other keys say which attempt it was.

Standard library only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from simlib.core.engine import Engine

__all__ = ["FIXTURE_VERSION", "attempt_fixture", "fixture_bytes"]

#: Written as ``simlib_fixture``: the shape of the object, should it ever change.
FIXTURE_VERSION: Final = 1


def attempt_fixture(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fixture of a history row (as :meth:`Engine.history_row` gives it), JSON-ready."""
    body = bytes(row["request_body"])
    sent = datetime.fromtimestamp(int(row["sent_at_ms"]) / 1000, tz=UTC)
    return {
        "simlib_fixture": FIXTURE_VERSION,
        "history_id": row["id"],
        "method": "POST",
        "url": row["url"],
        "headers": dict(row["request_headers"] or {}),
        "body": body.decode("utf-8", "replace"),
        "body_base64": base64.b64encode(body).decode("ascii"),
        "response": {
            "status": row["http_status"],
            "headers": dict(row["response_headers"] or {}),
            "body": row["response_body"],
            "truncated": bool(row["response_truncated"]),
        },
        "webhook_id": row["webhook_id"],
        "webhook_name": row["webhook_name"],
        "event_type": row["event_type"],
        "event_id": row["event_id"],
        "sent_at": sent.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "result": row["result"],
        "error": row["error"],
        "detail": row["detail"],
        "latency_ms": row["latency_ms"],
        "replay_of": row.get("replay_of"),
    }


def fixture_bytes(engine: Engine, history_id: int) -> bytes:
    """History row ``history_id`` as the bytes of its JSON fixture (UTF-8, indented)."""
    fixture = attempt_fixture(engine.history_row(history_id))
    return json.dumps(fixture, indent=2, ensure_ascii=False).encode("utf-8")
