"""One simulation end to end (preview, sign, send, classify, append to history) vs a bare,
reused ``httpx.Client.post`` of the same pre-signed bytes. Target: ratio <= 1.2.

The embedded receiver runs in its own process (ReceiverProcess, same code as the in-process
receiver), so neither side competes with a receiver thread for this interpreter's lock.
"""

from __future__ import annotations

import socket

import httpx
from _common import SECRET, alternate, machine, median, temp_store, timed, verdict

from simlib import Simulator, sign
from simlib.receiver import ReceiverProcess

EVENT = "desktop.app_tracking.captured"
PER_ROUND = 200
ROUNDS = 10


def main() -> None:
    print(f"bench_send on {machine()}")
    with ReceiverProcess([SECRET]) as rx, Simulator(temp_store()) as sim:
        wh = sim.create_webhook("bench", rx.url, [EVENT], secret=SECRET)
        sample = sim.preview(wh, EVENT, seed=1)
        # The baseline gets the same advantage simlib gives itself (TCP_NODELAY).
        bare = httpx.Client(transport=httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]))
        presigned = [sign(SECRET, sample.body, sim.now_ms()) for _ in range(PER_ROUND)]
        seed = iter(range(10**9))

        def simlib_round() -> float:
            def run() -> None:
                for _ in range(PER_ROUND):
                    r = sim.send(sim.preview(wh, EVENT, seed=next(seed)))
                    assert r.delivered, r.detail
            return timed(run) / PER_ROUND

        def bare_round() -> float:
            def run() -> None:
                for headers in presigned:
                    resp = bare.post(rx.url, content=sample.body, headers=headers)
                    assert resp.status_code == 200, resp.text
            return timed(run) / PER_ROUND

        simlib_round(), bare_round()  # warm up connections and caches
        xs, ys = alternate(ROUNDS, simlib_round, bare_round)
        bare.close()
        s, b = median(xs) * 1e6, median(ys) * 1e6
        print(f"simlib send (preview+sign+send+classify+record): {s:8.1f} us per simulation")
        print(f"bare httpx.Client.post of pre-signed bytes:      {b:8.1f} us per request")
        print(f"receiver: {rx.stats()['requests']} requests, {rx.stats()['verified']} verified")
        ratio = s / b
        verdict("bench_send", ratio, "<= 1.2", ratio <= 1.2)


if __name__ == "__main__":
    main()
