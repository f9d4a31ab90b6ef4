'''Minimal, verified Trackpilots webhook receivers to copy: Python (standard library) and Node.js.

    print(snippet("python"))      # or: simlib snippets --lang python > receiver.py

Both do what a correct receiver must (and what ``simlib check`` tests): read the raw body
bytes, require a millisecond timestamp within ±5 minutes (both directions), compare the
HMAC-SHA256 hex digest of ``timestamp + "." + body`` in constant time and case-insensitively,
refuse an exact replay inside the window, and only then parse the JSON. Both read the secret
from ``TRACKPILOTS_WEBHOOK_SECRET`` and the port from ``PORT`` (0 picks a free one), and print
``{"listening": PORT}`` on stdout once they accept connections. The test suite runs each one
against real sends and against the full ``check_receiver`` matrix.
'''

from __future__ import annotations

__all__ = ["LANGUAGES", "snippet"]

PYTHON = '''\
"""A Trackpilots webhook receiver: Python 3.9+, standard library only.

Run: TRACKPILOTS_WEBHOOK_SECRET=... PORT=3000 python receiver.py
"""
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["TRACKPILOTS_WEBHOOK_SECRET"].encode("utf-8")  # used as is, never decoded
TOLERANCE_MS = 5 * 60 * 1000  # x-webhook-timestamp is in MILLISECONDS
MAX_BODY_BYTES = 5 * 1024 * 1024  # Trackpilots events are a few KB; refuse more before reading it
seen = {}  # (timestamp, signature) -> when accepted; one process only: use a shared store to scale out
seen_lock = threading.Lock()


class TrackpilotsWebhook(BaseHTTPRequestHandler):
    def do_POST(self):
        length = (self.headers.get("Content-Length") or "").strip()
        if not (length.isascii() and length.isdigit()) or self.headers.get("Transfer-Encoding"):
            return self.answer(400, {"ok": False, "reason": "a body with a Content-Length is required"}, close=True)
        if int(length) > MAX_BODY_BYTES:  # refused before reading: nobody is verified yet
            return self.answer(413, {"ok": False, "reason": "body too large"}, close=True)
        body = self.rfile.read(int(length))  # the raw bytes
        timestamp = (self.headers.get("x-webhook-timestamp") or "").strip()
        signature = (self.headers.get("x-webhook-signature") or "").strip().lower()
        now = time.time() * 1000
        if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > TOLERANCE_MS:
            return self.answer(401, {"ok": False, "reason": "missing or stale timestamp"})
        expected = hmac.new(SECRET, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8")):
            return self.answer(401, {"ok": False, "reason": "bad signature"})
        with seen_lock:
            for key in [k for k, at in seen.items() if now - at > 2 * TOLERANCE_MS]:
                del seen[key]
            if (timestamp, signature) in seen:
                return self.answer(409, {"ok": False, "reason": "replayed request"})
            seen[(timestamp, signature)] = now
        try:
            event = json.loads(body)  # parse only after verifying
        except (ValueError, RecursionError):  # not JSON, or nested too deep for the parser
            return self.answer(400, {"ok": False, "reason": "body is not a JSON object"})
        if not isinstance(event, dict):
            return self.answer(400, {"ok": False, "reason": "body is not a JSON object"})
        # ... handle the event; simulations carry "simulation": true ...
        self.answer(200, {"ok": True, "event": event.get("event"), "simulation": event.get("simulation") is True})

    def answer(self, status, payload, close=False):
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:  # the unread body must not be taken for the next request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "3000"))), TrackpilotsWebhook)
    print(json.dumps({"listening": server.server_address[1]}), flush=True)
    server.serve_forever()
'''

NODE = '''\
// A Trackpilots webhook receiver: Node.js 18+, no dependencies.
// Run: TRACKPILOTS_WEBHOOK_SECRET=... PORT=3000 node receiver.js
const http = require("node:http");
const crypto = require("node:crypto");

const SECRET = process.env.TRACKPILOTS_WEBHOOK_SECRET; // used as is, never decoded
const TOLERANCE_MS = 5 * 60 * 1000; // x-webhook-timestamp is in MILLISECONDS
const MAX_BODY_BYTES = 5 * 1024 * 1024; // Trackpilots events are a few KB; refuse more unread
const seen = new Map(); // "timestamp.signature" -> when accepted; one process only

function answer(res, status, payload) {
  const data = JSON.stringify(payload);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
  res.end(data);
}

function tooLarge(req, res) { // refused before reading (more): nobody is verified yet
  if (res.headersSent) return;
  res.setHeader("Connection", "close");
  res.on("finish", () => req.destroy());
  answer(res, 413, { ok: false, reason: "body too large" });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = Number(req.headers["content-length"] || 0);
  if (size > MAX_BODY_BYTES) return tooLarge(req, res);
  size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    else tooLarge(req, res);
  });
  req.on("end", () => {
    if (size > MAX_BODY_BYTES) return;
    const body = Buffer.concat(chunks); // the raw bytes: verify them before JSON.parse
    const timestamp = (req.headers["x-webhook-timestamp"] || "").trim();
    const signature = (req.headers["x-webhook-signature"] || "").trim().toLowerCase();
    const now = Date.now();
    if (!/^\\d+$/.test(timestamp) || Math.abs(now - Number(timestamp)) > TOLERANCE_MS) {
      return answer(res, 401, { ok: false, reason: "missing or stale timestamp" });
    }
    const expected = crypto.createHmac("sha256", SECRET).update(timestamp + ".").update(body).digest("hex");
    const a = Buffer.from(expected);
    const b = Buffer.from(signature);
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) {
      return answer(res, 401, { ok: false, reason: "bad signature" });
    }
    for (const [key, at] of seen) if (now - at > 2 * TOLERANCE_MS) seen.delete(key);
    const key = timestamp + "." + signature;
    if (seen.has(key)) return answer(res, 409, { ok: false, reason: "replayed request" });
    seen.set(key, now);
    let event;
    try {
      event = JSON.parse(body.toString("utf8")); // parse only after verifying
    } catch (err) { // not JSON, or nested too deep (RangeError): an answer, never a crashed process
      return answer(res, 400, { ok: false, reason: "body is not a JSON object" });
    }
    if (event === null || typeof event !== "object" || Array.isArray(event)) {
      return answer(res, 400, { ok: false, reason: "body is not a JSON object" });
    }
    // ... handle the event; simulations carry "simulation": true ...
    answer(res, 200, { ok: true, event: event.event, simulation: event.simulation === true });
  });
});

server.listen(Number(process.env.PORT || 3000), "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
'''

LANGUAGES = {"python": PYTHON, "node": NODE}
FILENAMES = {"python": "receiver.py", "node": "receiver.js"}


def snippet(lang: str = "python") -> str:
    """The receiver source for ``lang`` ("python" or "node")."""
    try:
        return LANGUAGES[lang]
    except KeyError:
        from simlib.errors import ValidationError

        raise ValidationError("lang", f"unknown language {lang!r}: use python or node") from None
