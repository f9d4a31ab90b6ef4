"""The Simulator: the engine plus the toolkit verbs -- the one object users, the explorer and
the CLI hold.

    sim = Simulator()                                   # the per-user store
    wh = sim.create_webhook("Staging", "https://example.com/hooks", ["desktop.app_tracking.captured"])
    p = sim.preview(wh, "desktop.app_tracking.captured", overrides={"data.0.tracking.app.name": "Slack"})
    print(p.pretty)                                     # exactly the bytes Send will POST
    r = sim.send(p)                                     # never raises; always recorded
    sim.history()                                       # pandas DataFrame, one row per attempt

Everything up to the history lives in :class:`simlib.core.engine.Engine`; the verbs below
(conformance, explain, replay, import, copy as code) are thin calls into :mod:`simlib.toolkit`,
loaded when first used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simlib.core import signing
from simlib.core.engine import Engine
from simlib.core.payload import DEFAULT_MAX_PAYLOAD_BYTES, Overrides
from simlib.records import Preview, Webhook

if TYPE_CHECKING:
    import pandas as pd

    from simlib.toolkit.as_code import CodeLanguage
    from simlib.toolkit.conformance import ProbeResult
    from simlib.toolkit.explain import Explanation
    from simlib.toolkit.orgs import OrgsRun
    from simlib.toolkit.replay import ImportResult, ReplayResult

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "Simulator"]


class Simulator(Engine):
    """Configure webhooks, preview and send simulations, read the history -- and check, explain,
    replay and import deliveries. See :class:`~simlib.core.engine.Engine` for the arguments."""

    # -- receiver conformance and support (simlib.toolkit.conformance, .explain, .replay, .capture) -----

    def check_receiver(self, webhook: Webhook | str, **options: Any) -> pd.DataFrame:
        """The negative-test matrix against the webhook's endpoint: one valid simulation and
        every deliberately broken variant, each judged PASS / FAIL / NOTE and recorded.
        See :func:`simlib.toolkit.conformance.check_receiver`."""
        from simlib.toolkit.conformance import check_receiver

        return check_receiver(self, webhook, **options)

    def probe_tolerance(self, webhook: Webhook | str, **options: Any) -> ProbeResult:
        """How old and how far ahead a timestamp may be, found by bisection; every request is
        recorded. See :func:`simlib.toolkit.conformance.probe_tolerance`."""
        from simlib.toolkit.conformance import probe_tolerance

        return probe_tolerance(self, webhook, **options)

    def many_organisations(self, n: int, url: str, **options: Any) -> OrgsRun:
        """N organisations' webhooks (own organisation id, own secret) aimed at one ``url``,
        and one send from each. See :func:`simlib.toolkit.orgs.many_organisations`."""
        from simlib.toolkit.orgs import many_organisations

        return many_organisations(self, n, url, **options)

    def organisation_secrets(self, *, url: str | None = None) -> Callable[[], dict[str, list[str]]]:
        """organisation id -> secrets, read live: ``Receiver(org_secrets=sim.organisation_secrets())``.
        See :func:`simlib.toolkit.orgs.organisation_secrets`."""
        from simlib.toolkit.orgs import organisation_secrets

        return organisation_secrets(self, url=url)

    def write_organisation_secrets(self, path: str | os.PathLike[str], *, url: str | None = None) -> Path:
        """:meth:`organisation_secrets` as a JSON file of mode 0600 (for ``simlib receive --org-secrets``)."""
        from simlib.toolkit.orgs import write_organisation_secrets

        return write_organisation_secrets(self, path, url=url)

    def explain_signature(
        self,
        headers: Any,
        body: bytes,
        *,
        secret: str | None = None,
        webhook: Webhook | str | None = None,
        tolerance_ms: int | None = signing.DEFAULT_TOLERANCE_MS,
        among: Sequence[Webhook | str] | None = None,
    ) -> Explanation:
        """Valid, or the most likely cause of a mismatch, for raw ``headers`` and ``body``,
        checked with ``secret`` or with ``webhook``'s secrets (neither: every webhook's). The
        configured webhooks' secrets are tried too, but never shown: all of them, or only
        those of ``among``. See :mod:`simlib.toolkit.explain`."""
        from simlib.toolkit.explain import explain_with_engine

        return explain_with_engine(
            self, headers, body, secret=secret, webhook=webhook, tolerance_ms=tolerance_ms, among=among
        )

    def replay(
        self, history_id: int, *, original_timestamp: bool = False, overrides: Overrides = None,
        cancel: threading.Event | None = None,
    ) -> ReplayResult:
        """Resend a history row: its exact bytes re-signed now (default), or with its original
        timestamp and signature; ``overrides`` edit the payload first. The new row links to the
        original (``replay_of``); ``.diff`` compares the answers; ``cancel`` ends the send
        within a second (recorded, as for :meth:`send`). See :mod:`simlib.toolkit.replay`."""
        from simlib.toolkit.replay import replay

        return replay(self, history_id, original_timestamp=original_timestamp, overrides=overrides, cancel=cancel)

    def import_delivery(
        self, source: Any, webhook: Webhook | str, *, send_as_captured: bool = True,
        among: Sequence[Webhook | str] | None = None,
    ) -> ImportResult:
        """Send a captured request (raw HTTP, JSON or curl; a path or the content) to
        ``webhook`` as captured and re-signed with its secret, and compare the answers; the
        signature explanation tries the secrets of ``among`` (default: every webhook's)."""
        from simlib.toolkit.replay import import_delivery

        return import_delivery(self, source, webhook, send_as_captured=send_as_captured, among=among)

    def history_fixture(self, history_id: int) -> bytes:
        """History row ``history_id`` as a JSON fixture (exact request bytes, headers, answer)
        that :meth:`import_delivery` and :func:`simlib.parse_capture` read back.
        See :mod:`simlib.toolkit.fixture`."""
        from simlib.toolkit.fixture import fixture_bytes

        return fixture_bytes(self, history_id)

    def as_curl(self, source: int | Preview, *, reveal_secret: bool = False, exact: bool = False) -> str:
        """A runnable curl command (bash + openssl) reproducing history row ``source`` (an id)
        or a preview: signed when run with ``$WEBHOOK_SECRET`` (``reveal_secret=True`` writes
        the secret in), or with ``exact=True`` the row's recorded headers as they were."""
        return self._as_code("curl", source, reveal_secret, exact)

    def as_httpx(self, source: int | Preview, *, reveal_secret: bool = False, exact: bool = False) -> str:
        """The request :meth:`as_curl` reproduces, as a Python snippet using httpx."""
        return self._as_code("httpx", source, reveal_secret, exact)

    def _as_code(self, lang: CodeLanguage, source: int | Preview, reveal_secret: bool, exact: bool) -> str:
        from simlib.toolkit.as_code import request_as_code

        return request_as_code(self, lang, source, reveal_secret=reveal_secret, exact=exact)
