"""Timing for the benchmark: a device-synchronised timer and interleaved repeats (A, B, A, B, ...), so that load
from other processes hits every candidate alike; the number reported is the median of the timed repeats."""
import statistics
import time

import torch

__all__ = ["sync", "timed", "interleaved"]


def sync(device):
    """Wait for the GPU's queued work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    """``(seconds, fn())``, synchronised on both sides."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def interleaved(fns, device, repeats, warmup):
    """Run ``{name: fn}`` round-robin ``warmup + repeats`` times; medians (seconds) of the timed rounds, and every
    timed value per name."""
    times = {k: [] for k in fns}
    for rep in range(warmup + repeats):
        for name, fn in fns.items():
            t, _ = timed(fn, device)
            if rep >= warmup:
                times[name].append(t)
    return {k: statistics.median(v) for k, v in times.items()}, times
