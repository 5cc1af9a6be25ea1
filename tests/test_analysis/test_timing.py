"""Measurement helpers: exact CPU peak memory, paired ratios."""

import subprocess
import sys

import torch

from ela_mm.analysis.timing import paired_ratio, peak_bytes


def test_cpu_peak_bytes_is_exact():
    """The CPU peak replays every allocation and free: 4 MB + 8 MB live together, then 4 MB
    freed and 4 MB allocated again: peak 12 MB, whatever the heap did meanwhile."""

    def fn():
        a = torch.empty(1_000_000)
        b = torch.empty(2_000_000)
        del a
        c = torch.empty(1_000_000)
        del b, c

    assert peak_bytes(fn, 'cpu') == 12_000_000
    assert peak_bytes(lambda: None, 'cpu') == 0


def test_paired_ratio_takes_the_median_of_round_ratios():
    # per-round ratios 0.5, 0.5, 0.5, 2.0, 3.0 -> median 0.5; the ratio of the medians would be
    # median(1, 1, 4, 2, 3) / median(2, 2, 8, 1, 1) = 2 / 2 = 1.0
    assert paired_ratio([1.0, 1.0, 4.0, 2.0, 3.0], [2.0, 2.0, 8.0, 1.0, 1.0]) == 0.5
    assert paired_ratio([3.0], [2.0]) == 1.5


def test_cpu_peak_memory_is_quiet():
    code = (
        'import torch\nfrom ela_mm.analysis.timing import peak_bytes\n'
        'print(peak_bytes(lambda: torch.ones(1000), "cpu"))\n'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == '4000'
    assert 'gpuGetDeviceCount' not in out.stderr and 'USDT' not in out.stderr
