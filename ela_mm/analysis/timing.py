"""Timing and memory measurement for the benchmark tools: interleaved rounds, paired ratios,
exact CPU peak memory."""

import contextlib
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List

import torch


def timer(device: str) -> Callable[[Callable[[], None]], float]:
    """Seconds one call of ``fn`` takes: CUDA events on GPU, perf_counter on CPU."""
    if device == 'cuda':

        def run(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3
    else:

        def run(fn):
            t = time.perf_counter()
            fn()
            return time.perf_counter() - t

    return run


def interleaved_samples(
    cands: Dict[str, Callable[[], None]], device: str, repeats: int, warmup: int = 3
) -> Dict[str, List[float]]:
    """Seconds per call of every candidate in each of ``repeats`` rounds; every round runs every
    candidate once, in turn, so that machine noise hits all of them alike."""
    run = timer(device)
    for _ in range(warmup):
        for fn in cands.values():
            run(fn)
    times: Dict[str, List[float]] = {k: [] for k in cands}
    for _ in range(repeats):
        for k, fn in cands.items():
            times[k].append(run(fn))
    return times


def interleaved(
    cands: Dict[str, Callable[[], None]], device: str, repeats: int, warmup: int = 3
) -> Dict[str, float]:
    """Median seconds per candidate over interleaved rounds (:func:`interleaved_samples`)."""
    return {
        k: statistics.median(v)
        for k, v in interleaved_samples(cands, device, repeats, warmup).items()
    }


def paired_ratio(num: List[float], den: List[float]) -> float:
    """Median over rounds of the per-round ratio ``num[i] / den[i]``: a slow spell of the
    machine that hits one round hits both of its terms, and the median drops the rest."""
    return statistics.median(a / b for a, b in zip(num, den))


def keep_freed_memory() -> None:
    """Have glibc keep freed blocks of up to 32 MiB in the heap (fixed mmap and trim
    thresholds) instead of returning them to the OS, so that every candidate reuses warm pages
    rather than page-faulting fresh ones, which otherwise happens at random, depending on the
    order of allocations (a steady training loop reuses its memory the same way). No effect
    on :func:`peak_bytes`, which counts tensors; no-op where glibc is absent."""
    try:
        import ctypes

        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return
    libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: glibc's maximum
    libc.mallopt(-1, 2**30)  # M_TRIM_THRESHOLD


#: what the profiler's C++ side (kineto) prints on a CPU-only machine, none of it a problem:
#: trace markers and "gpuGetDeviceCount failed" (there is no GPU to count)
_PROFILER_NOISE = ('USDT:', 'STAGE:', 'gpuGetDeviceCount failed')


@contextlib.contextmanager
def _quiet_profiler_logs():
    """Hold back the profiler's own log lines written to the process's stderr (file
    descriptor 2, below Python) and pass every other line on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors='replace').splitlines(keepends=True):
                if not any(n in line for n in _PROFILER_NOISE):
                    sys.stderr.write(line)


def peak_bytes(fn: Callable[[], None], device: str) -> int:
    """Peak bytes held by tensors above the starting level while ``fn`` runs.

    CUDA: the caching allocator's peak. CPU: replayed from the profiler's record of every
    allocation and free of PyTorch's CPU allocator (all tensors, those made inside C++
    extensions included), so the number is exact and repeats from run to run, unlike the
    process's resident set, which moves with the heap's own bookkeeping."""
    if device == 'cuda':
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    with _quiet_profiler_logs():
        with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
        ) as prof:
            fn()
    events = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == '[memory]'
    )
    level = peak = 0
    for _, nbytes in events:  # nbytes: + allocation, - free
        level += nbytes
        peak = max(peak, level)
    return peak
