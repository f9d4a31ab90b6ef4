"""The event catalogue: event types, their payload builders, and payload overrides.

Adding an event type is one registration::

    from simlib.core.events import register_event

    @register_event("desktop.example.captured", "One line saying when it fires.")
    def build_example(ctx):
        return ctx.envelope("desktop.example.captured", data=[{"exampleId": ctx.uuid()}])

Builders are deterministic: the same seed and clock give the same payload. They return
the event as it would be sent live; :func:`build_payload` adds the top-level
``"simulation": true`` and applies overrides.

Plugins: event types also come from installed packages, through the entry-point group
:data:`PLUGIN_GROUP` (``simlib.events``), and from the modules named in ``$SIMLIB_PLUGINS``
(comma-separated). A plugin is a module whose import registers its event types with
:func:`register_event` (an entry point may also name a function, called once with no
arguments). They are loaded once per process, the first time the catalogue is read
(:func:`event_types`, :func:`event_names`, :func:`get_event_type`). A plugin that fails to
import, registers nothing that builds (each new type is built once, seed 0, and must give a JSON
object naming its event), or redefines an event type that already exists is reported once with a
:class:`~simlib.errors.PluginWarning` naming it and its error, and skipped: the built-in event
types and the other plugins keep working.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from simlib.core.ids import uuid4_from_int, uuid4s_from_bits
from simlib.errors import OverrideError, PluginWarning, SimlibError, UnknownEventError, ValidationError

__all__ = [
    "APPS",
    "MAX_NESTING",
    "OPERATING_SYSTEMS",
    "PLUGINS_ENV",
    "PLUGIN_GROUP",
    "WORK_TYPES",
    "BuildContext",
    "EventOption",
    "EventType",
    "apply_overrides",
    "build_payload",
    "check_event_name",
    "event_names",
    "event_types",
    "get_event_type",
    "load_plugins",
    "nesting_problem",
    "organisation_id_of",
    "parse_override",
    "plugin_problems",
    "register_event",
    "set_organisation_id",
    "unregister_event",
]

SIMULATION_FLAG = "simulation"

#: The deepest a payload may nest (lists and objects inside each other). Trackpilots events
#: nest 5 levels; a JSON parser recurses once per level (Python's gives up near 1,000, less
#: in a deep call stack such as a notebook's), so anything deeper is refused up front.
MAX_NESTING = 100
_EVENT_NAME = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")


@dataclass(frozen=True)
class EventOption:
    """A caller-chosen knob of an event type (e.g. ``work_mode`` for the activity event)."""

    name: str
    type: type
    default: Any
    help: str


@dataclass(frozen=True)
class EventType:
    """One registered event type."""

    name: str
    description: str
    builder: Callable[[BuildContext], dict[str, Any]] = field(repr=False)
    options: tuple[EventOption, ...] = ()

    def option(self, name: str) -> EventOption:
        for opt in self.options:
            if opt.name == name:
                return opt
        known = ", ".join(o.name for o in self.options) or "none"
        raise ValidationError("options", f"{self.name} has no option {name!r} (options: {known})")


_REGISTRY: dict[str, EventType] = {}


def register_event(
    name: str, description: str, *, options: Iterable[EventOption] = ()
) -> Callable[[Callable[[BuildContext], dict[str, Any]]], Callable[[BuildContext], dict[str, Any]]]:
    """Decorator registering ``builder`` as the payload builder of event type ``name``."""
    if not _EVENT_NAME.fullmatch(name) or len(name) > 100:
        raise ValidationError("event", f"event names are dotted lower-case words (at most 100 characters), not {name!r}")

    def deco(builder: Callable[[BuildContext], dict[str, Any]]) -> Callable[[BuildContext], dict[str, Any]]:
        _REGISTRY[name] = EventType(name, description, builder, tuple(options))
        return builder

    return deco


def unregister_event(name: str) -> None:
    """Remove an event type (for tests and plugins)."""
    _REGISTRY.pop(name, None)


def event_types() -> list[EventType]:
    """Every registered event type, in registration order (built-ins first, then plugins)."""
    if not _plugins_loaded:
        load_plugins()
    return list(_REGISTRY.values())


def event_names() -> list[str]:
    if not _plugins_loaded:
        load_plugins()
    return list(_REGISTRY)


def check_event_name(name: object) -> str:
    """Refuse what cannot be an event type's name (dotted lower-case words, at most 100
    characters) with an UnknownEventError, before it is looked up or recorded anywhere."""
    if not isinstance(name, str) or len(name) > 100 or not _EVENT_NAME.fullmatch(name):
        shown = f"{name[:60]}… ({len(name)} characters)" if isinstance(name, str) and len(name) > 100 else name
        raise UnknownEventError(shown, event_names())
    return name


def get_event_type(name: str) -> EventType:
    if not _plugins_loaded:
        load_plugins()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        shown = f"{name[:60]}… ({len(name)} characters)" if isinstance(name, str) and len(name) > 100 else name
        raise UnknownEventError(shown, event_names()) from None


#: The C seeding under random.Random.seed (an int seed goes straight to it): ``seed_rng(rng,
#: seed)`` seeds ``rng`` as ``random.Random(seed)`` is, for a whole number ``seed`` >= 0.
seed_rng: Callable[[random.Random, int], None] = random.Random.__mro__[1].seed  # type: ignore[attr-defined]
#: BuildContext.iso's dates: epoch day -> "YYYY-MM-DDT".
_DATES: dict[int, str] = {}


def iso_text(ms: int) -> str:
    """Epoch ms as the ISO 8601 form Trackpilots uses (``2026-01-28T09:13:21.771Z``):
    :meth:`BuildContext.iso`."""
    # Issue 12: the date part from a cache of days, the time of day by arithmetic (the text of
    # time.gmtime(ms // 1000), which has no leap seconds either).
    day, rest = divmod(ms, 86_400_000)
    date = _DATES.get(day)
    if date is None:
        t = time.gmtime(day * 86_400)
        date = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        if len(_DATES) >= 4096:
            _DATES.clear()
        _DATES[day] = date
    seconds, milli = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return "%s%02d:%02d:%02d.%03dZ" % (date, hour, minute, second, milli)  # noqa: UP031 - quicker than the f-string


class BuildContext:
    """What a builder may use: a seeded random source, the clock, and the caller's options."""

    def __init__(self, seed: int, now_ms: int, options: Mapping[str, Any] | None = None) -> None:
        self.seed = seed
        self.now_ms = now_ms
        self.rng = random.Random(seed)
        self.options = dict(options or {})

    def uuid(self) -> str:
        """A version-4 UUID drawn from the seeded source (same value as ``uuid.UUID(int=..., version=4)``)."""
        return uuid4_from_int(self.rng.getrandbits(128))

    def uuids(self, count: int) -> list[str]:
        """``[self.uuid() for _ in range(count)]``, in one draw (the same bits: ``getrandbits``
        fills its result from the lowest 32 bits up, one draw of the generator per 32)."""
        return uuid4s_from_bits(self.rng.getrandbits(128 * count), count)

    def choice(self, seq: list[Any]) -> Any:
        return self.rng.choice(seq)

    def iso(self, ms: int) -> str:
        """Epoch ms as the ISO 8601 form Trackpilots uses (``2026-01-28T09:13:21.771Z``)."""
        return iso_text(ms)

    def ids(self) -> dict[str, Any]:
        """The organisation/team/user block every record carries."""
        return {
            "organisation": {"organisationId": self.org_id()},
            "team": {"teamId": self.uuid()},
            "user": {"userId": self.uuid()},
        }

    def org_id(self) -> str:
        return self.uuid()

    def envelope(self, event: str, data: Any) -> dict[str, Any]:
        """The five envelope fields in the documented order; ``timestamp`` is the event time."""
        return {
            "event": event,
            "version": "v1",
            "agent": "desktop-agent",
            "timestamp": self.now_ms,
            "data": data,
        }


# --- realistic values -------------------------------------------------------------------

#: The apps and websites records name (one drawn per record).
APPS: list[dict[str, str]] = [
    {"name": "Google Chrome", "type": "website", "category": "Development", "domain": "github.com",
     "fullUrl": "https://github.com/trackpilots/desktop-agent/pulls", "productivityStatus": "productive"},
    {"name": "Slack", "type": "application", "category": "Communication", "domain": "slack.com",
     "fullUrl": "https://app.slack.com/client", "productivityStatus": "productive"},
    {"name": "Visual Studio Code", "type": "application", "category": "Development",
     "domain": "code.visualstudio.com", "fullUrl": "https://code.visualstudio.com",
     "productivityStatus": "productive"},
    {"name": "Brave Browser", "type": "application", "category": "Unknown Category",
     "domain": "dev.trackpilots.com", "fullUrl": "https://dev.trackpilots.com",
     "productivityStatus": "productive"},
    {"name": "Microsoft Edge", "type": "website", "category": "Entertainment", "domain": "youtube.com",
     "fullUrl": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "productivityStatus": "unproductive"},
    {"name": "Firefox", "type": "website", "category": "Unknown Category", "domain": "news.ycombinator.com",
     "fullUrl": "https://news.ycombinator.com/", "productivityStatus": "neutral"},
    {"name": "Zoom", "type": "application", "category": "Communication", "domain": "zoom.us",
     "fullUrl": "https://zoom.us", "productivityStatus": "neutral"},
    {"name": "Figma", "type": "website", "category": "Design", "domain": "figma.com",
     "fullUrl": "https://www.figma.com/files/recents-and-sharing", "productivityStatus": "productive"},
]
#: The operating systems and work types records name (one drawn per record).
OPERATING_SYSTEMS = ["windows", "macos", "linux"]
WORK_TYPES = ["hybrid", "remote", "office"]

#: What simulated screenshots carry instead of an image (spec §8.4, open question 11):
#: the Node.js rendering of a JPEG Buffer, as in the API reference example.
IMAGE_PLACEHOLDER_PREFIX = "<Buffer ff d8 ff e0 00 10 4a 46 49 46 00 01 01 00 00 01 00 01 00 00"


def _app(ctx: BuildContext) -> dict[str, str]:
    a = dict(ctx.choice(APPS))
    return {
        "name": a["name"],
        "type": a["type"],
        "category": a["category"],
        "iconUrl": f"https://{a['domain']}/favicon.ico",
        "domain": a["domain"],
        "fullUrl": a["fullUrl"],
        "productivityStatus": a["productivityStatus"],
    }


@register_event(
    "desktop.app_tracking.captured",
    "An application or website was used on an employee's desktop (app, time spent, context).",
)
def build_app_tracking(ctx: BuildContext) -> dict[str, Any]:
    end_ms = ctx.now_ms - ctx.rng.randint(200, 5_000)
    start_ms = end_ms - ctx.rng.randint(5_000, 900_000)
    record = ctx.ids()
    record["tracking"] = {
        "trackingId": ctx.uuid(),
        "app": _app(ctx),
        "time": {
            "startDate": ctx.iso(start_ms),
            "endDate": ctx.iso(end_ms),
            "durationInSeconds": (end_ms - start_ms) // 1000,
        },
        "trackingMode": "online",
        "operatingSystem": ctx.choice(OPERATING_SYSTEMS),
    }
    return ctx.envelope("desktop.app_tracking.captured", [record])


@register_event(
    "desktop.screenshot_tracking.captured",
    "A screenshot was taken on an employee's desktop (metadata plus a placeholder image).",
)
def build_screenshot_tracking(ctx: BuildContext) -> dict[str, Any]:
    captured_ms = ctx.now_ms - ctx.rng.randint(200, 60_000)
    more = ctx.rng.randint(30_000, 90_000)
    record = ctx.ids()
    record["screenshot"] = {
        "screenshotId": ctx.uuid(),
        "imageBuffer": f"{IMAGE_PLACEHOLDER_PREFIX} ... {more} more bytes>",
        "app": _app(ctx),
        "time": {"capturedAt": ctx.iso(captured_ms)},
        "operatingSystem": ctx.choice(OPERATING_SYSTEMS),
        "workType": ctx.choice(WORK_TYPES),
        "isIdle": ctx.rng.random() < 0.2,
    }
    return ctx.envelope("desktop.screenshot_tracking.captured", [record])


@register_event(
    "desktop.activity_tracking.captured",
    "An employee switched between Work Mode (workMode true) and Privacy Mode (workMode false).",
    options=[EventOption("work_mode", bool, True, "true = Work Mode (tracking on), false = Privacy Mode")],
)
def build_activity_tracking(ctx: BuildContext) -> dict[str, Any]:
    work_mode = ctx.options.get("work_mode", True)
    if not isinstance(work_mode, bool):
        raise ValidationError("work_mode", f"must be true or false, not {work_mode!r}")
    data = ctx.ids()
    data["activity"] = {"workMode": work_mode}
    return ctx.envelope("desktop.activity_tracking.captured", data)


# --- overrides ----------------------------------------------------------------------------

_LOOKS_JSON = re.compile(r"^\s*([\[{\"]|-?\d|true$|false$|null$)")


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``path=value`` as typed on the command line or in the explorer.

    The value is JSON (``false``, ``12``, ``"x"``, ``{"a": 1}``). A bare word that is not
    JSON (``Slack``, ``hello world``) is taken as a string; a value that starts like JSON
    but is not valid JSON (``{oops``) is refused.
    """
    if not isinstance(text, str) or "=" not in text:
        raise OverrideError(str(text), "expected path=value")
    path, raw = text.split("=", 1)
    path = path.strip()
    if not path:
        raise OverrideError(text, "empty path before '='")
    return path, parse_value(path, raw)


def parse_value(path: str, raw: str) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        if _LOOKS_JSON.match(raw):
            raise OverrideError(path, f"value is not valid JSON ({exc.msg} at column {exc.colno})") from None
        value = raw
    except RecursionError:  # nested far deeper than MAX_NESTING: the parser gave up
        raise OverrideError(path, f"value is nested too deeply (a payload nests at most {MAX_NESTING} levels)") from None
    problem = nesting_problem(value, MAX_NESTING)
    if problem:
        raise OverrideError(path, f"value {problem}")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def nesting_problem(value: Any, limit: int = MAX_NESTING, *, surrogates: bool = True) -> str | None:
    """What makes ``value`` unsendable as JSON text, found without recursing: nested more than
    ``limit`` levels (a cycle counts as too deep), or (``surrogates``) a string (value or key)
    with a lone surrogate -- almost always a mistake in an override, though ``JSON.stringify``
    would write it as a ``\\udXXX`` escape. None when there is nothing."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not surrogates:
                continue
            m = _SURROGATE.search(node)
            if m:
                return f"contains text that is not valid Unicode (a lone surrogate U+{ord(m.group()):04X})"
            continue
        if isinstance(node, dict):
            children: Iterable[Any] = [*node.keys(), *node.values()]
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth + 1 > limit:
            return f"is nested too deeply (a payload nests at most {MAX_NESTING} levels)"
        stack.extend((child, depth + 1) for child in children)
    return None


def apply_overrides(payload: dict[str, Any], overrides: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Set existing fields by dotted path (``data.0.tracking.app.name``); returns ``payload``.

    Only paths that exist can be set: a typo is an error naming the path, never a new key.
    """
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    for path, value in items:
        if not isinstance(path, str) or not path.strip():
            raise OverrideError(str(path), "empty path")
        parts = path.strip().split(".")
        if parts[0] == SIMULATION_FLAG and len(parts) == 1:
            raise OverrideError(path, "the simulation flag is always true for simulations")
        problem = nesting_problem(value, max(MAX_NESTING - len(parts), 0))
        if problem:
            raise OverrideError(path, f"value {problem}")
        node: Any = payload
        walked: list[str] = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(walked) or "the payload"
            if isinstance(node, dict):
                if part not in node:
                    keys = ", ".join(map(str, node)) or "no keys"
                    raise OverrideError(path, f"no field {part!r} in {where} (has: {keys})")
                if last:
                    node[part] = value
                else:
                    node = node[part]
            elif isinstance(node, list):
                if not re.fullmatch(r"\d+", part) or int(part) >= len(node):
                    raise OverrideError(path, f"{where} is a list of {len(node)}; {part!r} is not an index in it")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            else:
                raise OverrideError(path, f"{where} is a {type(node).__name__}, it has no field {part!r}")
            walked.append(part)
    return payload


def build_payload(
    event_type: str,
    *,
    seed: int,
    now_ms: int,
    options: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    organisation_id: str | None = None,
) -> dict[str, Any]:
    """Build a simulation payload: the event as sent live, plus top-level ``"simulation": true``;
    ``organisation_id`` replaces every record's ``organisation.organisationId`` (before the
    overrides)."""
    et = get_event_type(event_type)
    opts = dict(options or {})
    for name in opts:
        et.option(name)  # unknown option -> ValidationError
    try:
        payload = et.builder(BuildContext(seed, now_ms, opts))
    except SimlibError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's builder: one line naming it, never a traceback
        raise ValidationError("event", f"the payload builder of {event_type} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict):
        raise ValidationError("event", f"the payload builder of {event_type} returned {type(payload).__name__}, not an object")
    payload[SIMULATION_FLAG] = True
    if organisation_id is not None:
        set_organisation_id(payload, organisation_id)
    if overrides:
        apply_overrides(payload, overrides)
    return payload


# --- plugins ------------------------------------------------------------------------------

#: The entry-point group installed packages declare their event types in.
PLUGIN_GROUP = "simlib.events"
#: Comma-separated module names to load event types from (besides the entry points).
PLUGINS_ENV = "SIMLIB_PLUGINS"
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
#: The clock a plugin's new event types are test-built with (2026-01-28, the spec's examples).
_CHECK_NOW_MS = 1_769_591_601_771

_plugins_loaded = False
_plugins_lock = threading.RLock()
_problems: list[str] = []


def _plugin_sources(environ: Mapping[str, str]) -> list[tuple[str, Callable[[], object]]]:
    """(label for messages, loader) of every plugin: entry points first, then $SIMLIB_PLUGINS."""
    import importlib.metadata  # here, not at import: it loads zipfile and csv (issue 12 goal 6)

    sources: list[tuple[str, Callable[[], object]]] = []
    try:
        points = list(importlib.metadata.entry_points(group=PLUGIN_GROUP))
    except Exception as exc:  # noqa: BLE001 - broken package metadata must not break the catalogue
        _report(f"the entry points of group {PLUGIN_GROUP!r}", exc)
        points = []
    for point in sorted(points, key=lambda p: (p.name, p.value)):
        dist = getattr(point, "dist", None)
        owner = f" of {dist.name}" if dist is not None and getattr(dist, "name", None) else ""
        sources.append((f"plugin {point.name!r} (entry point {point.value!r}{owner})", point.load))
    for raw in environ.get(PLUGINS_ENV, "").split(","):
        name = raw.strip()
        if not name:
            continue
        if not _MODULE_NAME.fullmatch(name):
            sources.append((f"plugin {name[:80]!r} (from ${PLUGINS_ENV})", _not_a_module(name)))
        else:
            sources.append((f"plugin {name!r} (from ${PLUGINS_ENV})", _importer(name)))
    return sources


def _importer(name: str) -> Callable[[], object]:
    return lambda: importlib.import_module(name)


def _not_a_module(name: str) -> Callable[[], object]:
    def fail() -> object:
        raise ValueError(f"{name[:80]!r} is not a module name (dotted Python identifiers)")

    return fail


def _report(label: str, problem: BaseException | str) -> None:
    text = problem if isinstance(problem, str) else f"{type(problem).__name__}: {problem}"
    message = f"{label} was skipped: {' '.join(text.split())[:500]}"
    _problems.append(message)
    warnings.warn(PluginWarning(message), stacklevel=4)


def _check_new(names: list[str]) -> None:
    """Build each new event type once: a builder that fails or does not give a JSON object
    naming its event is broken."""
    for name in names:
        payload = build_payload(name, seed=0, now_ms=_CHECK_NOW_MS)
        json.dumps(payload, allow_nan=False)
        if payload.get("event") != name:
            raise ValidationError("event", f"the payload of {name} names event {payload.get('event')!r}")


def load_plugins(environ: Mapping[str, str] | None = None) -> list[str]:
    """Load the event-type plugins (once per process; later calls do nothing) and return what
    was wrong with any of them (each also warned once as a PluginWarning)."""
    global _plugins_loaded
    with _plugins_lock:
        if _plugins_loaded:
            return list(_problems)
        _plugins_loaded = True  # first: a plugin that reads the catalogue while loading does not recurse
        for label, load in _plugin_sources(os.environ if environ is None else environ):
            before = dict(_REGISTRY)
            try:
                loaded = load()
                if callable(loaded) and not isinstance(loaded, (ModuleType, type)):
                    loaded()
                replaced = [n for n in before if _REGISTRY.get(n) is not before[n]]
                if replaced:
                    raise ValidationError(
                        "event", f"it redefines {', '.join(replaced)}, which already exist (kept as they were)"
                    )
                _check_new([n for n in _REGISTRY if n not in before])
            except Exception as exc:  # noqa: BLE001 - a broken plugin is reported and skipped, whatever it raised
                _REGISTRY.clear()
                _REGISTRY.update(before)
                _report(label, exc.message if isinstance(exc, ValidationError) and exc.field == "event" else exc)
        return list(_problems)


def plugin_problems() -> list[str]:
    """What was wrong with the plugins loaded so far (empty before they are loaded)."""
    return list(_problems)


def _records(payload: Any) -> list[Any]:
    data = payload.get("data") if isinstance(payload, dict) else None
    return data if isinstance(data, list) else [data] if isinstance(data, dict) else []


def set_organisation_id(payload: dict[str, Any], organisation_id: str) -> dict[str, Any]:
    """Put ``organisation_id`` in every record's ``organisation.organisationId`` (``data`` an
    array or, for the activity event, an object); returns ``payload``."""
    for record in _records(payload):
        org = record.get("organisation") if isinstance(record, dict) else None
        if isinstance(org, dict) and "organisationId" in org:
            org["organisationId"] = organisation_id
    return payload


def organisation_id_of(payload: Any) -> str | None:
    """What a receiver choosing its secret by organisation reads: ``data[0].organisation
    .organisationId`` (or ``data.organisation.organisationId`` for the activity event); None
    when it is not there or not a string."""
    records = _records(payload)
    org = records[0].get("organisation") if records and isinstance(records[0], dict) else None
    value = org.get("organisationId") if isinstance(org, dict) else None
    return value if isinstance(value, str) else None
