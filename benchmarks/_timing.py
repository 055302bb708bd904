"""Timing shared by the sampling benchmarks (``decoding.py``, ``masked_sampling.py``)."""

import statistics
import time
from collections.abc import Callable

import jax


def time_runs(fns: dict[str, Callable[[], jax.Array]], repeats: int) -> dict[str, float]:
    """Median seconds per call, the functions interleaved (alternating order)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for name in names:  # warm-up (the compile happened before)
        fns[name]().block_until_ready()
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            fns[name]().block_until_ready()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}
