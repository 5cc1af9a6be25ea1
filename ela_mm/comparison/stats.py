"""Summary statistics of a comparison grid: mean and spread over seeds, and the paired
(seed-matched) difference to the plain baseline with its Student-t confidence interval."""

import math
from typing import Dict, NamedTuple, Optional

from scipy import stats


class Summary(NamedTuple):
    mean: float
    std: float  # sample standard deviation (n - 1); nan for one value
    n: int


class PairedDiff(NamedTuple):
    mean: float  # mean over the shared seeds of (attention - plain)
    low: float  # 95% confidence interval (Student t, n - 1 degrees of freedom); nan for n < 2
    high: float
    n: int  # number of seeds both have


def summarize(values: Dict[int, float]) -> Summary:
    """Mean, sample standard deviation and count of the per-seed values ``{seed: value}``."""
    xs = list(values.values())
    n = len(xs)
    if n == 0:
        raise ValueError('summarize: no values')
    mean = sum(xs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    return Summary(mean, std, n)


def paired_difference(
    values: Dict[int, float], baseline: Dict[int, float], level: float = 0.95
) -> Optional[PairedDiff]:
    """The difference ``values - baseline`` over the seeds both have (seed-matched pairs),
    with its ``level`` confidence interval; ``None`` when they share no seed."""
    seeds = sorted(set(values) & set(baseline))
    if not seeds:
        return None
    d = summarize({s: values[s] - baseline[s] for s in seeds})
    if d.n < 2:
        return PairedDiff(d.mean, math.nan, math.nan, d.n)
    half = float(stats.t.ppf(0.5 + level / 2, d.n - 1)) * d.std / math.sqrt(d.n)
    return PairedDiff(d.mean, d.mean - half, d.mean + half, d.n)
