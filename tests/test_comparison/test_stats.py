"""Grid statistics against numbers worked out by hand (and Student's t from its table)."""

import math

import pytest

from ela_mm.comparison.stats import paired_difference, summarize


def test_summarize_sample_std():
    s = summarize({0: 0.70, 1: 0.72, 2: 0.74})
    assert s.n == 3
    assert s.mean == pytest.approx(0.72, abs=1e-12)
    assert s.std == pytest.approx(0.02, abs=1e-12)  # n - 1 in the denominator (n: 0.01633)


def test_summarize_one_value_has_no_std():
    s = summarize({5: 0.5})
    assert (s.mean, s.n) == (0.5, 1) and math.isnan(s.std)
    with pytest.raises(ValueError, match='no values'):
        summarize({})


def test_paired_difference_matches_seeds_and_t_interval():
    plain = {0: 0.60, 1: 0.70, 2: 0.80, 7: 0.10}  # seed 7 has no partner: left out
    att = {0: 0.62, 1: 0.73, 2: 0.81, 9: 0.99}  # seed 9 neither
    d = paired_difference(att, plain)
    # differences 0.02, 0.03, 0.01: mean 0.02, sd 0.01, t(0.975, 2) = 4.302653
    half = 4.302652729749464 * 0.01 / math.sqrt(3)
    assert d.n == 3
    assert d.mean == pytest.approx(0.02, abs=1e-12)
    assert d.low == pytest.approx(0.02 - half, abs=1e-12)
    assert d.high == pytest.approx(0.02 + half, abs=1e-12)


def test_paired_beats_unpaired_when_seeds_share_noise():
    # a seed effect of +-0.1 shared by both models, a constant gain of 0.01: the paired interval
    # is exact (zero width), an unpaired one would span the seed effect
    plain = {0: 0.5, 1: 0.6, 2: 0.7}
    att = {k: v + 0.01 for k, v in plain.items()}
    d = paired_difference(att, plain)
    assert d.low == pytest.approx(0.01) and d.high == pytest.approx(0.01)


def test_paired_difference_edge_cases():
    assert paired_difference({0: 1.0}, {1: 1.0}) is None
    d = paired_difference({0: 0.5}, {0: 0.4})
    assert d.n == 1 and d.mean == pytest.approx(0.1) and math.isnan(d.low) and math.isnan(d.high)
