"""Constants and small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import socket

APP = "desktop.app_tracking.captured"
SHOT = "desktop.screenshot_tracking.captured"
ACT = "desktop.activity_tracking.captured"
ALL_EVENTS = [APP, SHOT, ACT]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the one free-port helper)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
