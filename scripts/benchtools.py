"""Timing shared by the benchmark scripts (run as `python scripts/NAME.py`, so this imports as `benchtools`)."""
from __future__ import annotations

import statistics
import time


def timed(fn, steps: int, warmup: int) -> float:
    """Median wall time of fn() in ms over `steps` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)
