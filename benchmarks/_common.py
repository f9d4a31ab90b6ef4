"""Shared helpers for the benchmark scripts (plain scripts, not tests).

Each benchmark runs simlib and its baseline in the same process, alternating rounds (A B A B …)
so that drift on the machine hits both alike, and reports medians and their ratio. The last
line printed is the ratio against the target.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

SECRET = "benchmark-secret-0123456789abcdef"


def machine() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs"


def temp_store() -> str:
    return os.path.join(tempfile.mkdtemp(prefix="simlib-bench-"), "bench.sqlite3")


def alternate(rounds: int, a: Callable[[], float], b: Callable[[], float]) -> tuple[list[float], list[float]]:
    """Run a and b alternately ``rounds`` times each; each returns the figure of one round."""
    xs, ys = [], []
    for i in range(rounds):
        if i % 2 == 0:
            xs.append(a())
            ys.append(b())
        else:
            ys.append(b())
            xs.append(a())
    return xs, ys


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def verdict(name: str, ratio: float, target: str, ok: bool) -> None:
    print(f"{name}: ratio {ratio:.3f} (target {target}) -> {'MET' if ok else 'MISSED'}")
    sys.stdout.flush()
