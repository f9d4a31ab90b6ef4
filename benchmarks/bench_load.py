"""Load on Locust: simlib's locustfile (a fresh payload built and signed per request) vs a bare
Locust ``FastHttpUser`` posting one body signed per request (what a hand-written signing
locustfile does), same users, same run time, one Locust process. Target: throughput ratio >= 0.7
(the difference is building a fresh payload per request, which the bare user does not do; a
bare user posting one pre-signed request is printed for reference).

Throughput is what the embedded receiver (in its own process, verifying every signature) counted
during each run, over the run time. Locust is run as a child process, as ``simlib load`` runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _common import SECRET, alternate, machine, median, verdict

from simlib import LOCUSTFILE, sign
from simlib.core.payload import serialize
from simlib.core.signing import now_ms
from simlib.receiver import ReceiverProcess

EVENT = "desktop.app_tracking.captured"
USERS = 8
SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_LOAD_ROUNDS", "4"))

BARE = '''
import hashlib, hmac, json, os, time
from locust import FastHttpUser, task

BODY = open({body!r}, "rb").read()
HEADERS = json.load(open({headers!r}))
KEY = os.environ["SIMLIB_LOAD_SECRET"].encode()
RESIGN = os.environ.get("BARE_RESIGN") == "1"


class Bare(FastHttpUser):
    max_redirects = 0
    insecure = False

    @task
    def post(self):
        headers = HEADERS
        if RESIGN:  # what a hand-written signing locustfile does: the same body, signed now
            ts = str(time.time_ns() // 1_000_000)
            sig = hmac.new(KEY, ts.encode() + b"." + BODY, hashlib.sha256).hexdigest()
            headers = dict(HEADERS, **{{"x-webhook-timestamp": ts, "x-webhook-signature": sig}})
        with self.client.post({url!r}, data=BODY, headers=headers, name="bare", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(str(r.status_code))
'''


def run(locustfile: str, rx: ReceiverProcess, env: dict[str, str], *args: str) -> float:
    before = rx.stats()["requests"]
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", locustfile, "--headless", "--host", f"http://127.0.0.1:{rx.port}",
         "-u", str(USERS), "-r", str(USERS), "-t", f"{SECONDS}s", "--only-summary", *args],
        capture_output=True, text=True, env=env, timeout=SECONDS + 60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stats = rx.stats()
    assert stats["verified"] == stats["requests"], stats
    return (stats["requests"] - before) / SECONDS


def main() -> None:
    print(f"bench_load on {machine()}: {USERS} users, {SECONDS} s per run, one Locust process")
    tmp = Path(tempfile.mkdtemp(prefix="simlib-bench-load-"))
    with ReceiverProcess([SECRET]) as rx:
        from simlib.core.events import build_payload

        body = serialize(build_payload(EVENT, seed=1, now_ms=now_ms()))
        (tmp / "body.json").write_bytes(body)
        import json

        (tmp / "headers.json").write_text(json.dumps(sign(SECRET, body, now_ms())))  # valid for 5 minutes
        bare = tmp / "bare_locustfile.py"
        bare.write_text(textwrap.dedent(BARE.format(body=str(tmp / "body.json"), headers=str(tmp / "headers.json"),
                                                    url=rx.url)))
        env = {**os.environ, "SIMLIB_LOAD_URL": rx.url, "SIMLIB_LOAD_SECRET": SECRET, "SIMLIB_LOAD_EVENTS": EVENT}
        resign = {**env, "BARE_RESIGN": "1"}
        xs, ys = alternate(ROUNDS, lambda: run(LOCUSTFILE, rx, env), lambda: run(str(bare), rx, resign))
        presigned = median([run(str(bare), rx, env) for _ in range(2)])
    s, b = median(xs), median(ys)
    print(f"simlib WebhookUser (fresh payload, signed per request): {s:8.1f} requests/s "
          f"(rounds: {', '.join(f'{x:.0f}' for x in xs)})")
    print(f"bare FastHttpUser (one body, signed per request):      {b:8.1f} requests/s "
          f"(rounds: {', '.join(f'{y:.0f}' for y in ys)})")
    print(f"bare FastHttpUser, one pre-signed request (reference): {presigned:8.1f} requests/s; "
          f"simlib / that = {s / presigned:.3f}")
    ratio = s / b
    verdict("bench_load", ratio, ">= 0.7", ratio >= 0.7)

if __name__ == "__main__":
    main()
