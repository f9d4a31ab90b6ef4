"""The bodies of the built-in event types written straight from templates (issue 12: own work
per send), without building the payload as Python objects and encoding it as JSON.

Each template draws from the seeded source exactly what its builder in
:mod:`simlib.core.events` draws, in the same order, and writes the text
:func:`simlib.core.payload.serialize` would write for the builder's payload: the same bytes
(``tests/core/test_templates.py`` compares the two over many seeds, clocks, organisation ids and
options). The constant parts -- keys, the apps, the operating systems -- are JSON text made once
with :func:`~simlib.core.jsjson.stringify`; the organisation id with it too (cached). A template
answers None where it does not apply, and the payload is then built and serialised as before:
overrides, an unknown or ill-typed option, a clock outside JavaScript's safe integers, an event
type whose builder is no longer the built-in one, or anything the builder itself would refuse.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

from simlib.core.events import (
    APPS,
    IMAGE_PLACEHOLDER_PREFIX,
    OPERATING_SYSTEMS,
    WORK_TYPES,
    BuildContext,
    build_activity_tracking,
    build_app_tracking,
    build_screenshot_tracking,
    iso_text,
    seed_rng,
)
from simlib.core.ids import uuid4s_from_bits
from simlib.core.jsjson import stringify

__all__ = ["template_body", "template_for"]

_SAFE = 2**53  # JavaScript's safe integers: a clock past them is written rounded (not here)
_APP = "desktop.app_tracking.captured"
_SHOT = "desktop.screenshot_tracking.captured"
_ACT = "desktop.activity_tracking.captured"


def _app_text(app: Mapping[str, str]) -> str:
    """The ``app`` object of a record as JSON text (the same fields as events._app)."""
    return stringify({
        "name": app["name"],
        "type": app["type"],
        "category": app["category"],
        "iconUrl": f"https://{app['domain']}/favicon.ico",
        "domain": app["domain"],
        "fullUrl": app["fullUrl"],
        "productivityStatus": app["productivityStatus"],
    })


_APP_TEXTS = [_app_text(a) for a in APPS]  # chosen by the same draw as ctx.choice(APPS)
_OS_TEXTS = [stringify(o) for o in OPERATING_SYSTEMS]
_WORK_TEXTS = [stringify(w) for w in WORK_TYPES]
_IMAGE_HEAD = stringify(IMAGE_PLACEHOLDER_PREFIX)[:-1]  # without its closing quote


@functools.lru_cache(maxsize=256)
def _org_text(organisation_id: str) -> str:
    return stringify(organisation_id)


def _ids(uuids: list[str], organisation_id: str | None) -> str:
    """ctx.ids() as JSON members from its three uuids, drawn in order (the organisation's is
    drawn even when an id replaces it)."""
    org_text = f'"{uuids[0]}"' if organisation_id is None else _org_text(organisation_id)
    return (f'"organisation":{{"organisationId":{org_text}}},"team":{{"teamId":"{uuids[1]}"}},'
            f'"user":{{"userId":"{uuids[2]}"}}')


def _below(bits: Callable[[int], int], n: int) -> int:
    """``rng._randbelow(n)`` of a ``random.Random`` (``randint(a, b)`` is ``a + _below(b - a +
    1)``, ``choice(seq)`` is ``seq[_below(len(seq))]``): the same draws, in one call instead of
    three (issue 12: own work per send; ``tests/core/test_templates.py`` compares the bodies)."""
    k = n.bit_length()
    r = bits(k)
    while r >= n:
        r = bits(k)
    return r


_N_APPS, _N_OS, _N_WORK = len(_APP_TEXTS), len(_OS_TEXTS), len(_WORK_TEXTS)


def _app_tracking(rng: random.Random, now_ms: int, _options: Mapping[str, Any], organisation_id: str | None) -> str:
    bits = rng.getrandbits
    end_ms = now_ms - (200 + _below(bits, 4_801))  # randint(200, 5_000)
    start_ms = end_ms - (5_000 + _below(bits, 895_001))  # randint(5_000, 900_000)
    uuids = uuid4s_from_bits(bits(512), 4)  # ctx.ids()' three, then the tracking id's
    ids = _ids(uuids, organisation_id)
    app = _APP_TEXTS[_below(bits, _N_APPS)]
    start, end = iso_text(start_ms), iso_text(end_ms)
    return (
        f'{{"event":"{_APP}","version":"v1","agent":"desktop-agent","timestamp":{now_ms},"data":[{{{ids},'
        f'"tracking":{{"trackingId":"{uuids[3]}","app":{app},"time":{{"startDate":"{start}","endDate":"{end}",'
        f'"durationInSeconds":{(end_ms - start_ms) // 1000}}},"trackingMode":"online",'
        f'"operatingSystem":{_OS_TEXTS[_below(bits, _N_OS)]}}}}}],"simulation":true}}'
    )


def _screenshot_tracking(rng: random.Random, now_ms: int, _options: Mapping[str, Any], organisation_id: str | None) -> str:
    bits = rng.getrandbits
    captured_ms = now_ms - (200 + _below(bits, 59_801))  # randint(200, 60_000)
    more = 30_000 + _below(bits, 60_001)  # randint(30_000, 90_000)
    uuids = uuid4s_from_bits(bits(512), 4)  # ctx.ids()' three, then the screenshot id's
    ids = _ids(uuids, organisation_id)
    app = _APP_TEXTS[_below(bits, _N_APPS)]
    captured = iso_text(captured_ms)
    system = _OS_TEXTS[_below(bits, _N_OS)]
    work = _WORK_TEXTS[_below(bits, _N_WORK)]
    idle = "true" if rng.random() < 0.2 else "false"
    return (
        f'{{"event":"{_SHOT}","version":"v1","agent":"desktop-agent","timestamp":{now_ms},"data":[{{{ids},'
        f'"screenshot":{{"screenshotId":"{uuids[3]}","imageBuffer":{_IMAGE_HEAD} ... {more} more bytes>",'
        f'"app":{app},"time":{{"capturedAt":"{captured}"}},"operatingSystem":{system},"workType":{work},'
        f'"isIdle":{idle}}}}}],"simulation":true}}'
    )


def _activity_tracking(rng: random.Random, now_ms: int, options: Mapping[str, Any], organisation_id: str | None) -> str | None:
    work_mode = options.get("work_mode", True)
    if not isinstance(work_mode, bool):
        return None  # the builder says what is wrong with it
    ids = _ids(uuid4s_from_bits(rng.getrandbits(384), 3), organisation_id)
    return (
        f'{{"event":"{_ACT}","version":"v1","agent":"desktop-agent","timestamp":{now_ms},"data":{{{ids},'
        f'"activity":{{"workMode":{"true" if work_mode else "false"}}}}},"simulation":true}}'
    )


#: Each built-in event type: its builder (the template applies while it is still registered)
#: and its template.
_Template = Callable[[random.Random, int, Mapping[str, Any], "str | None"], "str | None"]
_TEMPLATES: dict[str, tuple[Callable[[BuildContext], dict[str, Any]], _Template]] = {
    _APP: (build_app_tracking, _app_tracking),
    _SHOT: (build_screenshot_tracking, _screenshot_tracking),
    _ACT: (build_activity_tracking, _activity_tracking),
}


_LOCAL = threading.local()


def _rng() -> random.Random:
    """This thread's generator for the templates (reseeded for every payload)."""
    try:
        return _LOCAL.rng  # type: ignore[no-any-return]
    except AttributeError:
        rng = _LOCAL.rng = random.Random()
        return rng


def _written(
    write: _Template,
    options: Mapping[str, Any],
    organisation_id: str | None,
    seed: int,
    now_ms: int,
) -> bytes | None:
    """The body a template ``write`` gives for ``seed`` at ``now_ms``; None where it does not
    apply (a clock past the safe integers, anything the builder itself would refuse)."""
    if not -_SAFE <= now_ms <= _SAFE:
        return None
    rng = _rng()
    try:
        seed_rng(rng, seed)  # what BuildContext(seed, ...) draws from: random.Random(seed)
        text = write(rng, now_ms, options, organisation_id)
    except Exception:  # noqa: BLE001 - whatever the builder would refuse, it refuses itself
        return None
    return None if text is None else text.encode("utf-8")


def template_for(
    event_type: str,
    builder: Callable[[BuildContext], dict[str, Any]],
    *,
    options: Mapping[str, Any],
    organisation_id: str | None,
) -> Callable[[int, int], bytes | None] | None:
    """:func:`template_body` for many payloads of one event type, webhook and options (a burst):
    ``body(seed, now_ms)`` answers what ``template_body(event_type, builder, seed=seed,
    now_ms=now_ms, options=options, organisation_id=organisation_id)`` does, with the look-ups
    made once. None where no template applies to the event type at all."""
    entry = _TEMPLATES.get(event_type)
    if entry is None or entry[0] is not builder:
        return None
    return functools.partial(_written, entry[1], dict(options), organisation_id)


def template_body(
    event_type: str,
    builder: Callable[[BuildContext], dict[str, Any]],
    *,
    seed: int,
    now_ms: int,
    options: Mapping[str, Any],
    organisation_id: str | None,
) -> bytes | None:
    """The body ``serialize(build_payload(event_type, ...))`` gives without overrides, written
    from the template of a built-in event type whose ``builder`` is still the registered one
    (``options`` already checked against the event type's); None where no template applies."""
    entry = _TEMPLATES.get(event_type)
    if entry is None or entry[0] is not builder:
        return None
    return _written(entry[1], options, organisation_id, seed, now_ms)
