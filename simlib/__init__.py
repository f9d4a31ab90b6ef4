"""simlib: send real, signed Trackpilots webhook simulations and keep a history of them.

Importing simlib is cheap: pandas, ipywidgets and the receiver load only when used.

Besides the Simulator and its values, simlib exports what front ends (the explorer in
:mod:`simlib.ui`, the CLI) need, so that they import nothing else: the results ``DELIVERED`` and
``FAILED`` and the Trackpilots simulation errors (``WEBHOOK_NOT_FOUND``, ``EVENT_NOT_REGISTERED``,
``SERVICE_UNAVAILABLE``, ``NETWORK_ERROR``, ``SIMULATION_FAILED``); an event type's options
(``EventOption``), what its builder gets (``BuildContext``) and the warning a broken plugin
gives (``PluginWarning``) and ``parse_override`` for one ``path=value``; ``BurstResult``, what
``send_many`` returns; ``plan_load``, ``LoadPlan`` and ``LOCUSTFILE`` for load on Locust
(:mod:`simlib.locust` holds the Locust user, never imported here); and the embedded default: ``start_demo``, ``DEMO_WEBHOOK_ID`` (the demo
webhook's id) and ``local_webhook_secrets`` (the secrets a local receiver verifies with).
"""

import typing as _typing  # as a module: TYPE_CHECKING and Any are not names of simlib

from simlib._version import __version__ as __version__
from simlib.core.classify import request_sent as request_sent
from simlib.core.delivery.http import DeliveryConfig as DeliveryConfig
from simlib.core.events import (
    BuildContext as BuildContext,
)
from simlib.core.events import (
    EventOption as EventOption,
)
from simlib.core.events import (
    EventType as EventType,
)
from simlib.core.events import (
    event_types as event_types,
)
from simlib.core.events import (
    parse_override as parse_override,
)
from simlib.core.events import (
    register_event as register_event,
)
from simlib.core.signing import (
    Verification as Verification,
)
from simlib.core.signing import (
    compute_signature as compute_signature,
)
from simlib.core.signing import (
    sign as sign,
)
from simlib.core.store.export import EXPORT_FORMATS as EXPORT_FORMATS
from simlib.core.store.export import export_frame as export_frame
from simlib.core.store.query import HISTORY_ORDERS as HISTORY_ORDERS
from simlib.core.store.query import STATUS_CLASSES as STATUS_CLASSES
from simlib.core.store.query import CappedCount as CappedCount
from simlib.core.store.query import HistoryFilter as HistoryFilter
from simlib.core.store.query import HistoryOrder as HistoryOrder
from simlib.core.store.query import HistoryPage as HistoryPage
from simlib.core.store.query import PageCursor as PageCursor
from simlib.core.store.sqlite import Store as Store
from simlib.core.validation import (
    ProductionCheck as ProductionCheck,
)
from simlib.core.validation import (
    production_check as production_check,
)
from simlib.core.validation import (
    verify as verify,  # simlib.core.signing.verify, its arguments checked
)
from simlib.errors import (
    ConflictError as ConflictError,
)
from simlib.errors import (
    NotFoundError as NotFoundError,
)
from simlib.errors import (
    OverrideError as OverrideError,
)
from simlib.errors import (
    PluginWarning as PluginWarning,
)
from simlib.errors import (
    SecretKeyError as SecretKeyError,
)
from simlib.errors import (
    SimlibError as SimlibError,
)
from simlib.errors import (
    StoreError as StoreError,
)
from simlib.errors import (
    StoreUnavailable as StoreUnavailable,
)
from simlib.errors import (
    StoreVersionError as StoreVersionError,
)
from simlib.errors import (
    UnknownEventError as UnknownEventError,
)
from simlib.errors import (
    ValidationError as ValidationError,
)
from simlib.records import (
    CANCELLED as CANCELLED,
)
from simlib.records import (
    DELIVERED as DELIVERED,
)
from simlib.records import (
    EVENT_NOT_REGISTERED as EVENT_NOT_REGISTERED,
)
from simlib.records import (
    FAILED as FAILED,
)
from simlib.records import (
    NETWORK_ERROR as NETWORK_ERROR,
)
from simlib.records import (
    SERVICE_UNAVAILABLE as SERVICE_UNAVAILABLE,
)
from simlib.records import (
    SIMULATION_FAILED as SIMULATION_FAILED,
)
from simlib.records import (
    WEBHOOK_NOT_FOUND as WEBHOOK_NOT_FOUND,
)
from simlib.records import (
    Preview as Preview,
)
from simlib.records import (
    Secret as Secret,
)
from simlib.records import (
    SimulationResult as SimulationResult,
)
from simlib.records import (
    Webhook as Webhook,
)
from simlib.simulator import Simulator as Simulator

if _typing.TYPE_CHECKING:
    from simlib.core.burst import BurstResult
    from simlib.core.load import LOCUSTFILE, LoadPlan, plan_load
    from simlib.demo import (
        DEMO_WEBHOOK_ID,
        allow_receiver,
        is_demo_webhook,
        local_webhook_secrets,
        release_demo_webhook,
        start_demo,
        webhook_secrets,
    )
    from simlib.receiver import ReceivedRequest, Receiver, parse_rate_limit, serve_forever
    from simlib.toolkit.analysis import (
        STATUS_PALETTE,
        HandClock,
        answered_attempts,
        latency_percentiles,
        outcome_colours,
        outcome_mix,
        status_colour,
        success_rates,
    )
    from simlib.toolkit.capture import Capture, parse_capture, parse_headers
    from simlib.toolkit.conformance import ProbeResult, check_receiver, probe_tolerance
    from simlib.toolkit.explain import Explanation, explain_signature
    from simlib.toolkit.orgs import OrgsRun, organisation_secrets, read_organisation_secrets
    from simlib.toolkit.snippets import FILENAMES as SNIPPET_FILENAMES
    from simlib.toolkit.snippets import snippet
    # Not Explorer: simlib.ui imports simlib (only its exported names), so naming simlib.ui here,
    # even for type checkers, would close an import cycle. simlib.Explorer is typed Any.

_LAZY = {
    "Receiver": ("simlib.receiver", "Receiver"),
    "ReceivedRequest": ("simlib.receiver", "ReceivedRequest"),
    "Explorer": ("simlib.ui", "Explorer"),
    "start_demo": ("simlib.demo", "start_demo"),
    "release_demo_webhook": ("simlib.demo", "release_demo_webhook"),
    "allow_receiver": ("simlib.demo", "allow_receiver"),
    "is_demo_webhook": ("simlib.demo", "is_demo_webhook"),
    "DEMO_WEBHOOK_ID": ("simlib.demo", "DEMO_WEBHOOK_ID"),
    "local_webhook_secrets": ("simlib.demo", "local_webhook_secrets"),
    "BurstResult": ("simlib.core.burst", "BurstResult"),
    "LOCUSTFILE": ("simlib.core.load", "LOCUSTFILE"),
    "LoadPlan": ("simlib.core.load", "LoadPlan"),
    "plan_load": ("simlib.core.load", "plan_load"),
    "webhook_secrets": ("simlib.demo", "webhook_secrets"),
    "serve_forever": ("simlib.receiver", "serve_forever"),
    "parse_rate_limit": ("simlib.receiver", "parse_rate_limit"),
    "OrgsRun": ("simlib.toolkit.orgs", "OrgsRun"),
    "organisation_secrets": ("simlib.toolkit.orgs", "organisation_secrets"),
    "read_organisation_secrets": ("simlib.toolkit.orgs", "read_organisation_secrets"),
    "Capture": ("simlib.toolkit.capture", "Capture"),
    "parse_capture": ("simlib.toolkit.capture", "parse_capture"),
    "parse_headers": ("simlib.toolkit.capture", "parse_headers"),
    "ProbeResult": ("simlib.toolkit.conformance", "ProbeResult"),
    "check_receiver": ("simlib.toolkit.conformance", "check_receiver"),
    "probe_tolerance": ("simlib.toolkit.conformance", "probe_tolerance"),
    "Explanation": ("simlib.toolkit.explain", "Explanation"),
    "explain_signature": ("simlib.toolkit.explain", "explain_signature"),
    "snippet": ("simlib.toolkit.snippets", "snippet"),
    "SNIPPET_FILENAMES": ("simlib.toolkit.snippets", "FILENAMES"),
    "HandClock": ("simlib.toolkit.analysis", "HandClock"),
    "STATUS_PALETTE": ("simlib.toolkit.analysis", "STATUS_PALETTE"),
    "answered_attempts": ("simlib.toolkit.analysis", "answered_attempts"),
    "latency_percentiles": ("simlib.toolkit.analysis", "latency_percentiles"),
    "outcome_colours": ("simlib.toolkit.analysis", "outcome_colours"),
    "outcome_mix": ("simlib.toolkit.analysis", "outcome_mix"),
    "status_colour": ("simlib.toolkit.analysis", "status_colour"),
    "success_rates": ("simlib.toolkit.analysis", "success_rates"),
}

__all__ = [
    "BuildContext",
    "BurstResult",
    "CANCELLED",
    "CappedCount",
    "Capture",
    "ConflictError",
    "DELIVERED",
    "DEMO_WEBHOOK_ID",
    "DeliveryConfig",
    "EVENT_NOT_REGISTERED",
    "EXPORT_FORMATS",
    "EventOption",
    "EventType",
    "Explanation",
    "Explorer",
    "FAILED",
    "HISTORY_ORDERS",
    "HandClock",
    "HistoryFilter",
    "HistoryOrder",
    "HistoryPage",
    "LOCUSTFILE",
    "LoadPlan",
    "NETWORK_ERROR",
    "NotFoundError",
    "OrgsRun",
    "OverrideError",
    "PageCursor",
    "PluginWarning",
    "Preview",
    "ProbeResult",
    "ProductionCheck",
    "ReceivedRequest",
    "Receiver",
    "SERVICE_UNAVAILABLE",
    "SIMULATION_FAILED",
    "SNIPPET_FILENAMES",
    "STATUS_CLASSES",
    "STATUS_PALETTE",
    "Secret",
    "SecretKeyError",
    "SimlibError",
    "SimulationResult",
    "Simulator",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoreVersionError",
    "UnknownEventError",
    "ValidationError",
    "Verification",
    "WEBHOOK_NOT_FOUND",
    "Webhook",
    "__version__",
    "allow_receiver",
    "answered_attempts",
    "check_receiver",
    "compute_signature",
    "event_types",
    "explain_signature",
    "export_frame",
    "is_demo_webhook",
    "latency_percentiles",
    "local_webhook_secrets",
    "organisation_secrets",
    "outcome_colours",
    "outcome_mix",
    "parse_capture",
    "parse_headers",
    "parse_override",
    "parse_rate_limit",
    "plan_load",
    "probe_tolerance",
    "production_check",
    "read_organisation_secrets",
    "register_event",
    "release_demo_webhook",
    "request_sent",
    "serve_forever",
    "sign",
    "snippet",
    "start_demo",
    "status_colour",
    "success_rates",
    "verify",
    "webhook_secrets",
]


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'simlib' has no attribute {name!r}")
