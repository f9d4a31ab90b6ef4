"""``import simlib`` vs ``import httpx`` in fresh interpreters. Target: ratio <= 1.5 (pandas,
ipywidgets and the receiver's server stack load lazily)."""

from __future__ import annotations

import subprocess
import sys

from _common import alternate, machine, median, verdict

CODE = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def cost(mod: str) -> float:
    out = subprocess.run([sys.executable, "-c", CODE.format(mod=mod)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def main() -> None:
    print(f"bench_import on {machine()}")
    cost("simlib"), cost("httpx")
    xs, ys = alternate(15, lambda: cost("simlib"), lambda: cost("httpx"))
    s, h = median(xs), median(ys)
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, simlib; print(sorted(m for m in ('pandas','ipywidgets','asyncio','aiohttp','hdrh','simlib.receiver') if m in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    print(f"import simlib: {s * 1e3:6.1f} ms   import httpx: {h * 1e3:6.1f} ms   (heavy modules loaded by simlib: {heavy})")
    ratio = s / h
    verdict("bench_import", ratio, "<= 1.5", ratio <= 1.5)


if __name__ == "__main__":
    main()
