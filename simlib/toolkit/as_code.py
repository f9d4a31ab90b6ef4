"""Copy as curl / httpx: a history row or a preview as a runnable request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from simlib.errors import ValidationError
from simlib.records import Preview
from simlib.toolkit.capture import to_curl, to_httpx

if TYPE_CHECKING:
    from simlib.core.engine import Engine

__all__ = ["CodeLanguage", "request_as_code"]

CodeLanguage = Literal["curl", "httpx"]


def request_as_code(
    engine: Engine, lang: CodeLanguage, source: int | Preview, *, reveal_secret: bool = False, exact: bool = False
) -> str:
    """History row ``source`` (an id) or a preview as a curl command or an httpx snippet: signed
    when run with ``$WEBHOOK_SECRET`` (``reveal_secret=True`` writes the secret in), or with
    ``exact=True`` the row's recorded headers as they were."""
    if lang not in ("curl", "httpx"):
        raise ValidationError("lang", f"must be 'curl' or 'httpx', not {lang!r}")
    headers: dict[str, str] | None = None
    if isinstance(source, Preview):
        if exact:
            raise ValidationError("exact", "a preview has no recorded headers: it is signed when sent")
        url, body, wid = source.url, source.body, source.webhook_id
        what = f"preview of {source.event_type} for webhook {wid}"
    else:
        row = engine.history_row(source)
        url, body, wid = row["url"], row["request_body"], row["webhook_id"]
        what = f"history row {source}: {row['event_type']} to webhook {wid}"
        if exact:
            headers = row["request_headers"]
            if not headers:
                raise ValidationError("exact", f"history row {source} has no recorded headers (nothing was sent)")
    secret = engine.get_webhook(wid).secret.reveal() if reveal_secret and not exact else None
    if exact:
        how = "sent with its recorded headers (original timestamp and signature)"
    elif secret is None:
        how = f"signed when it runs with $WEBHOOK_SECRET: export WEBHOOK_SECRET=<webhook {wid}'s secret>"
    else:
        how = "signed when it runs, with the secret written below"
    needs = "bash, curl and openssl" if lang == "curl" else "Python and httpx"
    comment = f"simlib: {what}\n{how}\nneeds {needs}"
    render = to_curl if lang == "curl" else to_httpx
    config = engine.delivery
    return render(
        url,
        body,
        headers=headers,
        secret=secret,
        encoding=config.signature_encoding,
        timestamp_unit=config.timestamp_unit,
        user_agent=config.user_agent,
        comment=comment,
    )
