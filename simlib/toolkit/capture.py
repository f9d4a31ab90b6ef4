"""Captured deliveries in, reproducible requests out.

- :func:`parse_capture` reads a request a customer captured: raw HTTP text (request line,
  headers, blank line, body), a JSON file with ``headers`` and ``body`` (simlib's own history
  and ``send --json`` records work too), or a ``curl`` command (as "Copy as cURL" gives it).
- :func:`to_curl` and :func:`to_httpx` write a runnable ``curl`` command (bash + openssl) or a
  Python ``httpx`` snippet that reproduce a signed request: re-signed with a fresh timestamp
  when run (the secret read from ``$WEBHOOK_SECRET`` unless it is revealed on purpose), or, with
  ``headers=``, the recorded headers byte for byte.

Standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simlib.core.jsjson import stringify_bytes
from simlib.core.rawhttp import RawRequestView
from simlib.core.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from simlib.errors import ValidationError

__all__ = ["Capture", "parse_capture", "parse_headers", "to_curl", "to_httpx"]

SECRET_VARIABLE = "WEBHOOK_SECRET"


@dataclass(frozen=True)
class Capture(RawRequestView):
    """One captured request. ``body`` is exact bytes; ``notes`` say what parsing had to assume."""

    headers: tuple[tuple[str, str], ...]
    body: bytes
    method: str = "POST"
    url: str | None = None
    source: str = "http"  # http | json | curl
    notes: tuple[str, ...] = ()
    response: dict[str, Any] | None = None  # {"status": ..., "body": ...} when the capture had one

    def __repr__(self) -> str:
        return f"Capture({self.source}, {self.method} {self.url or '-'}, {len(self.headers)} headers, {len(self.body)} bytes)"


def parse_capture(source: bytes | str | os.PathLike[str], *, base_dir: str | os.PathLike[str] | None = None) -> Capture:
    """Read a captured request from a file path (``Path``) or from its content (``bytes``/``str``).

    The format is recognised from the content: ``curl ...``, a JSON object, else raw HTTP.
    Raises :class:`~simlib.errors.ValidationError` (field ``capture``) when it cannot be read.

    Only ``source`` itself is read: a curl command that names a local file (``-d @file``,
    ``--data-binary @file``, ``-T``, ``-K`` ...) is refused, never followed -- a capture comes
    from someone else, and following it would send one of your files to a webhook.
    ``base_dir`` is accepted for compatibility and unused.
    """
    del base_dir  # files named in a capture are never read, wherever they are
    if isinstance(source, os.PathLike):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValidationError("capture", f"cannot read {path}: {exc.strerror or exc}") from None
    else:
        data = source.encode("utf-8") if isinstance(source, str) else bytes(source)
    head = data.lstrip()
    if not head:
        raise ValidationError("capture", "is empty")
    if _looks_like_curl(head):
        return _parse_curl(head.decode("utf-8", "surrogateescape"))
    if head[:1] in (b"{", b"["):
        try:
            obj = json.loads(data)
        except RecursionError:
            raise ValidationError("capture", "the JSON is nested too deeply to read") from None
        except ValueError:
            pass
        else:
            return _parse_json(obj)
    return _parse_http(data)


def parse_headers(source: bytes | str | Mapping[str, str] | Iterable[Any]) -> list[tuple[str, str]]:
    """Headers from a JSON object, a JSON list of pairs, or ``Name: value`` lines (a request
    line such as ``POST /hook HTTP/1.1`` and blank lines are skipped)."""
    if isinstance(source, Mapping):
        return [(str(k), str(v)) for k, v in source.items()]
    if isinstance(source, bytes):
        source = source.decode("utf-8", "replace")
    if isinstance(source, str):
        text = source.strip()
        if text[:1] in ("{", "["):
            try:
                return parse_headers(json.loads(text))
            except RecursionError:
                raise ValidationError("headers", "the JSON is nested too deeply to read") from None
            except ValueError:
                pass
        out: list[tuple[str, str]] = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() and out:
                break  # the blank line after the headers: a body may follow
            if not line.strip() or re.match(r"^[A-Z]+ \S+ HTTP/\d", line):
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip() or " " in name.strip():
                raise ValidationError("headers", f"line {n} is not 'Name: value': {line[:60]!r}")
            out.append((name.strip(), value.strip()))
        return out
    pairs = []
    for item in source:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise ValidationError("headers", f"expected [name, value] pairs, got {item!r}")
        pairs.append((str(item[0]), str(item[1])))
    return pairs


# -- raw HTTP --------------------------------------------------------------------------------------


def _parse_http(data: bytes) -> Capture:
    cut = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
    if cut:
        i, n = min(cut)
        head, body = data[:i], data[i + n :]
    else:
        head, body = data, b""
    lines = head.decode("latin-1").splitlines()
    method, url, notes = "POST", None, []
    while lines and not lines[0].strip():
        lines.pop(0)
    m = re.match(r"^([A-Z]+) (\S+) HTTP/\d(\.\d)?$", lines[0].strip()) if lines else None
    if m:
        method, target = m.group(1), m.group(2)
        lines = lines[1:]
    else:
        target = None
    headers = parse_headers("\n".join(lines))
    if not headers:
        raise ValidationError("capture", "no headers found: expected raw HTTP, a JSON object or a curl command")
    lower = {k.lower(): v for k, v in headers}
    if "chunked" in lower.get("transfer-encoding", "").lower():
        body = _dechunk(body)
        notes.append("chunked body decoded")
    elif "content-length" in lower and lower["content-length"].isdigit():
        length = int(lower["content-length"])
        if len(body) > length:
            extra = body[length:]
            body = body[:length]
            what = "white space" if not extra.strip() else "bytes"
            notes.append(f"{len(extra)} {what} after Content-Length ({length}) dropped")
        elif len(body) < length:
            notes.append(f"body is {len(body)} bytes, shorter than Content-Length ({length}): truncated capture?")
    if target is not None:
        if target.startswith(("http://", "https://")):
            url = target
        elif "host" in lower:
            url = f"https://{lower['host']}{target}"
    return Capture(tuple(headers), body, method, url, "http", tuple(notes))


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise ValidationError("capture", "chunked body ends without a last chunk")
        size_text = data[pos:end].split(b";")[0].strip()
        try:
            size = int(size_text or b"x", 16)
        except ValueError:
            raise ValidationError("capture", f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            return b"".join(out)
        start = end + 1
        out.append(data[start : start + size])
        pos = start + size
        pos += 2 if data[pos : pos + 2] == b"\r\n" else 1


# -- JSON ------------------------------------------------------------------------------------------


def _parse_json(obj: Any) -> Capture:
    if isinstance(obj, list):
        if len(obj) != 1:
            raise ValidationError("capture", f"a JSON list of {len(obj)} requests: keep the one to import")
        obj = obj[0]
    if not isinstance(obj, dict):
        raise ValidationError("capture", "a JSON capture is an object with 'headers' and 'body'")
    notes: list[str] = []
    raw_headers = obj.get("headers", obj.get("request_headers"))
    if raw_headers is None:
        raise ValidationError("capture", "the JSON object has no 'headers' (or 'request_headers')")
    if isinstance(raw_headers, str):
        try:
            raw_headers = json.loads(raw_headers)
        except (ValueError, RecursionError):
            pass
    headers = parse_headers(raw_headers)
    if "body_base64" in obj:
        try:
            body = base64.b64decode(obj["body_base64"], validate=True)
        except (ValueError, TypeError):
            raise ValidationError("capture", "'body_base64' is not valid base64") from None
    else:
        raw = obj.get("body", obj.get("payload"))
        if raw is None:
            raise ValidationError("capture", "the JSON object has no 'body' (or 'body_base64', 'payload')")
        if isinstance(raw, str):
            body = raw.encode("utf-8")
        else:
            body = stringify_bytes(raw, non_finite="null")  # as Node's JSON.stringify would send it
            notes.append("'body' is parsed JSON, serialised here as JSON.stringify writes it: the original bytes may "
                         "have differed")
    response = obj.get("response")
    if response is None and ("http_status" in obj or "response_body" in obj):
        response = {"status": obj.get("http_status"), "body": obj.get("response_body")}
    method = str(obj.get("method") or "POST").upper()
    url = obj.get("url")
    return Capture(tuple(headers), body, method, url if isinstance(url, str) else None, "json", tuple(notes),
                   response if isinstance(response, dict) else None)


# -- curl ------------------------------------------------------------------------------------------

#: Options whose value is the body. In all but ``--data-raw``, curl reads ``@name`` as a file
#: (``@-``: standard input); simlib never reads a file a capture names (see _parse_curl).
_DATA = {"-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--json"}
#: Options that make curl read local files (or the environment) for what it sends: refused.
_READS_FILES = {
    "-T": "uploads a local file (-T)",
    "--upload-file": "uploads a local file (--upload-file)",
    "-K": "reads more options from a file (-K)",
    "--config": "reads more options from a file (--config)",
    "--variable": "sets curl variables, which can read files and the environment (--variable)",
    "--data-urlencode": "sends a form-encoded body (--data-urlencode), which can read a file and is not a webhook delivery",
}
_MULTIPART = {"-F", "--form", "--form-string"}
#: Options with a value that says nothing about the request's headers or body: skipped (and,
#: for the ones naming files -- certificates, cookie jars, outputs -- never opened).
_SKIP_VALUE = {
    "-o", "--output", "-m", "--max-time", "--connect-timeout", "-w", "--write-out", "--retry", "--cacert",
    "--cert", "--key", "-x", "--proxy", "-u", "--user", "-b", "--cookie", "-c", "--cookie-jar", "-e",
    "--referer", "--resolve", "--interface", "-r", "--range", "--limit-rate", "--max-redirs",
    "-D", "--dump-header", "-E", "-C", "--continue-at", "-P", "--ftp-port", "-Q", "--quote", "-t",
    "--telnet-option", "-U", "--proxy-user", "-y", "--speed-time", "-Y", "--speed-limit", "-z", "--time-cond",
    "--capath", "--crlfile", "--netrc-file", "--key-type", "--cert-type", "--pinnedpubkey", "--output-dir",
    "--trace", "--trace-ascii", "--stderr", "--connect-to", "--unix-socket", "--abstract-unix-socket",
    "--proxy-header", "--url-query", "--retry-delay", "--retry-max-time", "--expect100-timeout",
    "--keepalive-time", "--local-port", "--dns-servers", "--doh-url", "--noproxy", "--proto", "--proto-redir",
}
#: Short options that take a value (attached, ``-dVALUE``, or the next argument); the other
#: letters are flags and may be combined in front of one (``-sSd VALUE``).
_SHORT_WITH_VALUE = set("AbcCdDeEFHKmoPQrtTuUwxXyYz")
_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'", re.S)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "e": "\x1b",
            "f": "\f", "v": "\v", "?": "?"}


def _ansi_c(text: str) -> str:
    """Rewrite bash ``$'...'`` strings (Chrome's "Copy as cURL" uses them) as plain quoting.
    ``\\xHH`` are bytes: kept as surrogate escapes so that the body encodes back to them."""

    def one(m: re.Match[str]) -> str:
        def esc(e: re.Match[str]) -> str:
            s = e.group(1)
            if s[0] == "x":
                return chr(0xDC00 + int(s[1:], 16)) if int(s[1:], 16) >= 0x80 else chr(int(s[1:], 16))
            if s[0] in "uU":
                return chr(int(s[1:], 16))
            if s[0] in "01234567":
                v = int(s, 8) & 0xFF
                return chr(0xDC00 + v) if v >= 0x80 else chr(v)
            return _ESCAPES.get(s, "\\" + s)

        value = re.sub(r"\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|.)", esc, m.group(1), flags=re.S)
        return shlex.quote(value)

    return _ANSI_C.sub(one, text)


def _looks_like_curl(data: bytes) -> bool:
    """``curl ...`` (or ``$ curl``), possibly after comment lines and ``NAME='value'`` assignments
    (as ``simlib curl --exact`` writes them)."""
    lines = [ln for ln in data.splitlines() if ln.strip() and not ln.lstrip().startswith(b"#")]
    if not lines:
        return False
    first = lines[0].lstrip()
    if re.match(rb"(\$\s+)?curl(\s|\\|$)", first):
        return True
    return bool(re.match(rb"([A-Za-z_]\w*=|printf\s)", first)) and re.search(rb"(^|\|)\s*curl\s", data, re.M) is not None


_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _refuse_file(opt: str, raw: str) -> ValidationError:
    shown = raw if len(raw) <= 60 else raw[:60] + "…"
    return ValidationError(
        "capture", f"the curl command reads a local file ({opt} {shown}): simlib never reads files a capture "
        f"names; put the content itself into the capture ({opt} '<content>')"
    )


def _parse_curl(text: str) -> Capture:
    """A curl command as a Capture, without running anything or opening any file it names:
    ``-d @file``, ``--data-binary @file``, ``--json @file``, ``-H @file``, ``-T``, ``-K``,
    ``--variable`` and ``--data-urlencode`` are refused with a ValidationError; ``--data-raw``
    is literal, as in curl; ``@-`` is the body piped in by a ``printf`` written in the capture."""
    text = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    text = re.sub(r"\\\r?\n", " ", text)
    try:
        tokens = shlex.split(_ansi_c(text))
    except ValueError as exc:
        raise ValidationError("capture", f"cannot read the curl command: {exc}") from None
    if "curl" not in tokens:
        raise ValidationError("capture", "no curl command found")
    at = tokens.index("curl")
    before, tokens = tokens[:at], tokens[at + 1 :]
    # Shell variables set before the command (NAME=value) and a body piped in with printf.
    variables = dict(t.split("=", 1) for t in before if re.match(r"^[A-Za-z_]\w*=", t))

    def expand(token: str) -> str:  # only variables assigned above; anything else stays as written
        return _VAR.sub(lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), token)

    stdin: bytes | None = None
    if "printf" in before:
        piped = before[before.index("printf") + 1 :]
        if len(piped) >= 2 and piped[0] == "%s":
            stdin = expand(piped[1]).encode("utf-8", "surrogateescape")
    tokens = [expand(t) for t in tokens]
    headers: list[tuple[str, str]] = []
    data: list[bytes] = []
    json_body = False
    method: str | None = None
    url: str | None = None
    notes: list[str] = []
    i = 0

    def value() -> str:
        nonlocal i
        if i + 1 >= len(tokens):
            raise ValidationError("capture", f"curl option {tokens[i]} has no value")
        i += 1
        return tokens[i]

    while i < len(tokens):
        tok = tokens[i]
        opt, attached = tok, None
        if tok.startswith("-") and not tok.startswith("--") and len(tok) > 1:
            # Short options: flags may be combined, the first one that takes a value ends the group.
            letters = tok[1:]
            at_value = next((n for n, ch in enumerate(letters) if ch in _SHORT_WITH_VALUE), None)
            if at_value is None:
                i += 1
                continue  # only flags (-s, -sSi, -k, -L ...)
            opt = "-" + letters[at_value]
            attached = letters[at_value + 1 :] or None
        val = (lambda a=attached: a) if attached is not None else value
        if opt in _READS_FILES:
            raise ValidationError("capture", f"the curl command {_READS_FILES[opt]}: simlib never reads files a capture names")
        if opt in ("-H", "--header"):
            raw = val()
            if raw.startswith("@"):
                raise _refuse_file(opt, raw)
            name, sep, v = raw.partition(":")
            if sep and name.strip():
                headers.append((name.strip(), v.strip()))
        elif opt in _DATA:
            raw = val()
            if opt == "--data-raw":
                data.append(raw.encode("utf-8", "surrogateescape"))  # literal: curl reads no file here
            elif raw == "@-":
                if stdin is None:
                    raise ValidationError(
                        "capture", "the curl command reads its body from stdin (@-): put the body itself into the "
                        "capture (--data-raw '<body>')"
                    )
                data.append(stdin)
            elif raw.startswith("@"):
                raise _refuse_file(opt, raw)
            else:
                data.append(raw.encode("utf-8", "surrogateescape"))
            json_body = json_body or opt == "--json"
        elif opt in ("-X", "--request"):
            method = val().upper()
        elif opt == "--url":
            url = val()
        elif opt in ("-A", "--user-agent"):
            headers.append(("User-Agent", val()))
        elif opt in _MULTIPART:
            raise ValidationError("capture", "multipart (-F) bodies are not webhook deliveries")
        elif opt.startswith("--expand-"):
            raise ValidationError("capture", f"the curl command uses curl variables ({opt}), which simlib does not evaluate")
        elif opt in _SKIP_VALUE or (attached is None and opt[:2] != "--" and opt[1:] in _SHORT_WITH_VALUE):
            val()
        elif tok.startswith("-"):
            pass  # flags such as -s, -i, --compressed
        elif url is None:
            url = tok
        else:
            notes.append(f"ignored extra argument {tok[:40]!r}")
        i += 1
    if not headers and not data:
        raise ValidationError("capture", "the curl command has no headers and no body")
    if json_body:  # curl --json: these two headers unless the command sets them
        have = {k.lower() for k, _ in headers}
        headers += [(k, "application/json") for k in ("Content-Type", "Accept") if k.lower() not in have]
    body = (b"" if json_body else b"&").join(data)
    return Capture(tuple(headers), body, method or ("POST" if data else "GET"), url, "curl", tuple(notes))


# -- curl / httpx out ------------------------------------------------------------------------------


def _body_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("body", "is not UTF-8 text: it cannot be written into a command") from None


def to_curl(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
    encoding: str = "hex",
    timestamp_unit: str = "ms",
    user_agent: str | None = None,
    comment: str = "",
) -> str:
    """A bash script (curl + openssl) that POSTs ``body`` to ``url``.

    Without ``headers``: signed when it runs, with ``$WEBHOOK_SECRET`` (or ``secret`` written
    in, when given on purpose). With ``headers``: exactly those headers (a recorded request,
    its original timestamp and signature; no secret needed).
    """
    q = shlex.quote
    lines = [f"# {line}" for line in comment.splitlines()]
    lines.append(f"BODY={q(_body_text(body))}")
    if headers is not None:
        hs = [f"-H {q(f'{k}: {v}')}" for k, v in headers.items()]
    else:
        if secret is None:
            lines.append(f'{SECRET_VARIABLE}="${{{SECRET_VARIABLE}:?export {SECRET_VARIABLE}=<the webhook secret> first}}"')
        else:
            lines.append(f"{SECRET_VARIABLE}={q(secret)}  # revealed on purpose: do not paste this into a ticket")
        lines.append('TS="$(date +%s)000"' if timestamp_unit == "ms" else 'TS="$(date +%s)"')
        digest = (
            f'openssl dgst -sha256 -hmac "${SECRET_VARIABLE}" -r | cut -d" " -f1'
            if encoding == "hex"
            else f'openssl dgst -sha256 -hmac "${SECRET_VARIABLE}" -binary | base64'
        )
        lines.append(f"SIG=\"$(printf '%s.%s' \"$TS\" \"$BODY\" | {digest})\"")
        hs = [
            f"-H {q('content-type: application/json')}",
            f'-H "{TIMESTAMP_HEADER}: $TS"',
            f'-H "{SIGNATURE_HEADER}: $SIG"',
        ]
        if user_agent:
            hs.append(f"-H {q(f'user-agent: {user_agent}')}")
    parts = ["printf '%s' \"$BODY\" | curl -sS -i -X POST " + q(url), *hs, "--data-binary @-"]
    lines.append(" \\\n  ".join(parts))
    return "\n".join(lines) + "\n"


def to_httpx(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
    encoding: str = "hex",
    timestamp_unit: str = "ms",
    user_agent: str | None = None,
    comment: str = "",
) -> str:
    """The same request as :func:`to_curl`, as a Python snippet using ``httpx``."""
    text = _body_text(body)
    lines = [f"# {line}" for line in comment.splitlines()]
    if headers is not None:
        lines += [
            "import httpx",
            "",
            f"URL = {url!r}",
            f"BODY = {text!r}.encode(\"utf-8\")  # the exact bytes",
            f"HEADERS = {dict(headers)!r}",
            "",
            "response = httpx.post(URL, content=BODY, headers=HEADERS)",
            "print(response.status_code, response.text)",
        ]
        return "\n".join(lines) + "\n"
    secret_line = (
        f'WEBHOOK_SECRET = os.environ["{SECRET_VARIABLE}"]  # the webhook secret'
        if secret is None
        else f"WEBHOOK_SECRET = {secret!r}  # revealed on purpose: do not paste this into a ticket"
    )
    ts_expr = "time.time_ns() // 1_000_000" if timestamp_unit == "ms" else "time.time_ns() // 1_000_000_000"
    digest = (
        "mac.hexdigest()" if encoding == "hex" else 'base64.b64encode(mac.digest()).decode("ascii")'
    )
    extra = f',\n        "user-agent": {user_agent!r}' if user_agent else ""
    lines += ["import base64"] if encoding != "hex" else []
    lines += [
        "import hashlib",
        "import hmac",
        "import os",
        "import time",
        "",
        "import httpx",
        "",
        secret_line,
        f"URL = {url!r}",
        f"BODY = {text!r}.encode(\"utf-8\")  # the exact bytes: sign and send these",
        "",
        f"timestamp = str({ts_expr})",
        'mac = hmac.new(WEBHOOK_SECRET.encode("utf-8"), timestamp.encode("ascii") + b"." + BODY, hashlib.sha256)',
        f"signature = {digest}",
        "response = httpx.post(",
        "    URL,",
        "    content=BODY,",
        "    headers={",
        '        "content-type": "application/json",',
        f'        "{TIMESTAMP_HEADER}": timestamp,',
        f'        "{SIGNATURE_HEADER}": signature{extra},',
        "    },",
        ")",
        "print(response.status_code, response.text)",
    ]
    return "\n".join(lines) + "\n"
