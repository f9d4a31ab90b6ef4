"""2,000 sends at concurrency 32: simlib's burst mode (fresh payload per send, signed, classified,
recorded) vs a bare ``httpx.AsyncClient`` loop sending the same pre-signed requests.
Target: throughput ratio >= 0.8.

The embedded receiver runs in its own process (ReceiverProcess): bench_receiver.py measures its
capacity, which is well above what either side sends here.
"""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
from _common import SECRET, alternate, machine, median, temp_store, verdict

from simlib import Simulator, sign
from simlib.receiver import ReceiverProcess

EVENT = "desktop.app_tracking.captured"
N = 2000
CONCURRENCY = 32
ROUNDS = 4


def main() -> None:
    print(f"bench_burst on {machine()}: {N} sends at concurrency {CONCURRENCY}")
    with ReceiverProcess([SECRET]) as rx, Simulator(temp_store()) as sim:
        wh = sim.create_webhook("bench", rx.url, [EVENT], secret=SECRET)
        sample = sim.preview(wh, EVENT, seed=1)

        def simlib_round() -> float:
            burst = sim.send_many(wh, EVENT, N, concurrency=CONCURRENCY, progress=False)
            assert all(r.delivered for r in burst.results), burst.summary
            return N / burst.elapsed_s

        async def bare_async() -> float:
            requests = [sign(SECRET, sample.body, sim.now_ms()) for _ in range(N)]
            transport = httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY),
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
            async with httpx.AsyncClient(transport=transport) as client:
                sem = asyncio.Semaphore(CONCURRENCY)

                async def one(headers: dict[str, str]) -> None:
                    async with sem:
                        resp = await client.post(rx.url, content=sample.body, headers=headers)
                        assert resp.status_code == 200

                start = time.perf_counter()
                await asyncio.gather(*(one(h) for h in requests))
                return N / (time.perf_counter() - start)

        def bare_round() -> float:
            return asyncio.run(bare_async())

        async def sharded_async() -> float:
            # The same sharding simlib uses (pools of two connections), without simlib's work:
            # shows how much of the ratio is httpcore's pool, not simlib.
            from simlib.core.delivery.http import DeliveryConfig, make_async_sender

            requests = [sign(SECRET, sample.body, sim.now_ms()) for _ in range(N)]
            sender = make_async_sender(DeliveryConfig(), max_connections=CONCURRENCY)
            async with sender:
                sem = asyncio.Semaphore(CONCURRENCY)

                async def one(headers: dict[str, str]) -> None:
                    async with sem:
                        transport = sender.transport_for(rx.url)
                        request = httpx.Request("POST", rx.url, content=sample.body, headers=headers)
                        resp = await transport.handle_async_request(request)
                        await resp.aread()
                        assert resp.status_code == 200

                start = time.perf_counter()
                await asyncio.gather(*(one(h) for h in requests))
                return N / (time.perf_counter() - start)

        xs, ys = alternate(ROUNDS, simlib_round, bare_round)
        s, b = median(xs), median(ys)
        sharded = median([asyncio.run(sharded_async()) for _ in range(2)])
        print(f"simlib send_many:         {s:8.1f} sends/s (rounds: {', '.join(f'{x:.0f}' for x in xs)})")
        print(f"bare httpx.AsyncClient:   {b:8.1f} requests/s (rounds: {', '.join(f'{y:.0f}' for y in ys)})")
        print(f"bare transports sharded like simlib's (reference): {sharded:8.1f} requests/s; simlib / that = {s / sharded:.3f}")
        print(f"history rows: {sim.store.history_count()}; receiver verified {rx.stats()['verified']}")
        ratio = s / b
        verdict("bench_burst", ratio, ">= 0.8", ratio >= 0.8)


if __name__ == "__main__":
    main()
