"""What a recorded HTTP request offers whether it was received (the embedded receiver) or
captured elsewhere (an imported delivery): header lookup by any case, the body as JSON, the
event type. Standard library only."""

from __future__ import annotations

import json
from typing import Any

from simlib.core.signing import header_value


class RawRequestView:
    """Mixin for records with ``headers`` (name, value pairs as sent) and ``body`` (bytes)."""

    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first header called ``name``, compared case-insensitively."""
        return header_value(self.headers, name)

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON (or nested too deep to parse)."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None

    @property
    def event_type(self) -> str | None:
        data = self.json
        event = data.get("event") if isinstance(data, dict) else None
        return event if isinstance(event, str) else None
