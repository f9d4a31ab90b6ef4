"""The burst engine's candidates side by side (issue 12): aiohttp, geventhttpclient (what
Locust's FastHttpUser uses) and pycurl's CurlMulti, each a bare loop of 3,000 pre-signed POSTs at
concurrency 32 in its own interpreter, against one ``ReceiverProcess``, three rounds in turn;
prints requests/s and the client's CPU microseconds per request. pycurl is not a dependency:
without it that row says so. Not part of ``make bench``: it informed the choice of aiohttp."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from _common import SECRET, machine, temp_store

from simlib import Simulator, sign
from simlib.receiver import ReceiverProcess

E = "desktop.app_tracking.captured"
N = 3000
AIO = r'''
import asyncio, json, sys, time, aiohttp
url, body, reqs = sys.argv[1], open(sys.argv[2],"rb").read(), json.load(open(sys.argv[3]))
async def main():
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32), auto_decompress=False) as s:
        it = iter(reqs)
        async def w():
            for h in it:
                async with s.post(url, data=body, headers=h) as r:
                    await r.read(); assert r.status == 200
        await asyncio.gather(*(w() for _ in range(32)))
t, c = time.perf_counter(), time.process_time()
asyncio.run(main())
print(json.dumps([len(reqs)/(time.perf_counter()-t), (time.process_time()-c)/len(reqs)*1e6]))
'''
GEV = r'''
from gevent import monkey; monkey.patch_all()
import gevent, gevent.pool, json, sys, time
from geventhttpclient import HTTPClient, URL
url, body, reqs = sys.argv[1], open(sys.argv[2],"rb").read(), json.load(open(sys.argv[3]))
u = URL(url)
client = HTTPClient(u.host, u.port, concurrency=32)
it = iter(reqs)
def w():
    for h in it:
        r = client.post(u.request_uri, body=body, headers=h); r.read(); assert r.status_code == 200
t, c = time.perf_counter(), time.process_time()
gevent.joinall([gevent.spawn(w) for _ in range(32)])
print(json.dumps([len(reqs)/(time.perf_counter()-t), (time.process_time()-c)/len(reqs)*1e6]))
'''
CURL = r'''
import io, json, sys, time, pycurl
url, body, reqs = sys.argv[1], open(sys.argv[2],"rb").read(), json.load(open(sys.argv[3]))
m = pycurl.CurlMulti()
free = []
for _ in range(32):
    c = pycurl.Curl(); c.setopt(pycurl.URL, url); c.setopt(pycurl.POST, 1); c.setopt(pycurl.POSTFIELDS, body)
    c.setopt(pycurl.TCP_NODELAY, 1); free.append(c)
it = iter(reqs); done = 0
def start(c):
    h = next(it, None)
    if h is None: return False
    c.buf = io.BytesIO(); c.setopt(pycurl.WRITEDATA, c.buf)
    c.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in h.items()] + ["Expect:"])
    m.add_handle(c); return True
t, cpu = time.perf_counter(), time.process_time()
for c in free: start(c)
active = 32
while active:
    m.select(1.0)
    while True:
        ret, _ = m.perform()
        if ret != pycurl.E_CALL_MULTI_PERFORM: break
    _, ok, err = m.info_read()
    for c in ok:
        assert c.getinfo(pycurl.RESPONSE_CODE) == 200; m.remove_handle(c); done += 1
        if not start(c): active -= 1
    assert not err, err
print(json.dumps([len(reqs)/(time.perf_counter()-t), (time.process_time()-cpu)/len(reqs)*1e6]))
'''

def main() -> None:
    with ReceiverProcess([SECRET]) as rx, Simulator(temp_store()) as sim:
        wh = sim.create_webhook("p", rx.url, [E], secret=SECRET)
        p = sim.preview(wh, E, seed=1)
        work = os.path.dirname(temp_store())
        body_file, reqs_file = os.path.join(work, "body"), os.path.join(work, "requests.json")
        with open(body_file, "wb") as f:
            f.write(p.body)
        print(f"compare_http_clients on {machine()}: {N} POSTs at concurrency 32, 3 rounds")
        res: dict[str, list[list[float]]] = {"aiohttp": [], "geventhttpclient": [], "pycurl": []}
        for _ in range(3):
            for name, code in (("aiohttp", AIO), ("geventhttpclient", GEV), ("pycurl", CURL)):
                if name == "pycurl" and importlib.util.find_spec("pycurl") is None and "PYCURL_PATH" not in os.environ:
                    continue
                with open(reqs_file, "w") as f:
                    json.dump([{**sign(SECRET, p.body, sim.now_ms()), "user-agent": "probe"} for _ in range(N)], f)
                env = {**os.environ, "PYTHONPATH": os.environ.get("PYCURL_PATH", "")}
                cmd = [sys.executable, "-c", code, rx.url, body_file, reqs_file]
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
                if out.returncode:
                    print(name, "failed:", out.stderr[-500:])
                    continue
                res[name].append(json.loads(out.stdout))
        for name, v in res.items():
            if not v:
                print(f"{name:18s} not installed (PYCURL_PATH=<dir> points at a pip --target install)")
                continue
            print(f"{name:18s} requests/s {[round(x[0]) for x in v]}  CPU us per request {[round(x[1]) for x in v]}")


if __name__ == "__main__":
    main()
