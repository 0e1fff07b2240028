"""Paired block-bootstrap intervals: exact where they must be, honest under correlation, paired by seed."""

from __future__ import annotations

import numpy as np
import pytest

from s2kd.reporting.intervals import _block_counts, block_length, ratio_interval


def _ar1(rng, n, phi, scale=1.0):
    e = np.empty(n)
    e[0] = rng.standard_normal()
    for i in range(1, n):
        e[i] = phi * e[i - 1] + np.sqrt(1 - phi**2) * rng.standard_normal()
    return scale * e


def test_block_length_is_at_least_a_day_and_a_window():
    assert block_length(6, 8) == 8  # NCEP 4 -> 4: a window spans 2 days
    assert block_length(6, 2) == 4  # a day of 6-hourly starts
    assert block_length(1, 9) == 24  # BikeNYC 6 -> 3, hourly
    with pytest.raises(ValueError, match="step_hours"):
        block_length(0, 4)


def test_moving_blocks_draw_every_window_count_once_in_total():
    counts = _block_counts(np.random.default_rng(0), 50, 8, 200)
    assert counts.shape == (200, 50) and (counts.sum(axis=1) == 50).all()
    # a window in the middle is drawn as often as one would expect; the first only by blocks starting there
    assert counts[:, 25].mean() == pytest.approx(50 / 43 * 8 / 8, rel=0.2)
    assert counts[:, 0].mean() < counts[:, 25].mean()


def test_identical_methods_give_exactly_one():
    errors = np.abs(np.random.default_rng(1).standard_normal((3, 3, 60)))
    interval = ratio_interval(errors, errors, block=4, replicates=300)
    assert (interval.ratio, interval.low, interval.high) == (1.0, 1.0, 1.0) and interval.verdict == "tie"


def test_ratio_is_the_ratio_of_means_and_the_interval_brackets_it():
    rng = np.random.default_rng(2)
    base = 1.0 + np.abs(_ar1(rng, 200, 0.8))
    better = 0.8 * base * (1 + 0.05 * rng.standard_normal(200))
    interval = ratio_interval(better, base, block=8, replicates=1000)
    assert interval.ratio == pytest.approx(better.mean() / base.mean())
    assert interval.low < interval.ratio < interval.high < 1.0 and interval.verdict == "better"
    assert str(interval).startswith(f"{interval.ratio:.3f} [")


def test_pairing_cancels_what_both_methods_share():
    """A method 5 % better on every window of a very noisy series: paired, the interval is narrow and below 1;
    the same numbers unpaired (the denominator's windows shuffled) would not say so."""
    rng = np.random.default_rng(3)
    shared = np.exp(_ar1(rng, 300, 0.9, scale=1.0))
    a, b = 0.95 * shared, shared
    paired = ratio_interval(a, b, block=8, replicates=1000)
    assert paired.verdict == "better" and paired.high - paired.low < 0.01
    unpaired = ratio_interval(a, rng.permutation(b), block=8, replicates=1000)
    assert unpaired.high - unpaired.low > 10 * (paired.high - paired.low)


def test_blocks_widen_the_interval_under_autocorrelation_and_cover_the_truth():
    """Strongly autocorrelated windows: blocks of a day give a wider interval than single windows, and over
    repeated experiments it covers the true ratio about as often as it claims (single windows do not)."""
    rng = np.random.default_rng(4)
    covered = {1: 0, 16: 0}
    widths = {1: [], 16: []}
    trials = 40
    for trial in range(trials):
        a = 1.2 + _ar1(rng, 240, 0.85, scale=0.3)  # true mean 1.2
        b = 1.0 + _ar1(rng, 240, 0.85, scale=0.3)  # true mean 1.0
        for block in covered:
            iv = ratio_interval(a, b, block=block, replicates=400, seed=trial)
            covered[block] += iv.low <= 1.2 <= iv.high
            widths[block].append(iv.high - iv.low)
    assert np.mean(widths[16]) > 1.8 * np.mean(widths[1])
    assert covered[16] / trials >= 0.8 > covered[1] / trials


def test_seeds_are_resampled_and_a_teacher_free_method_is_reused_for_each_teacher_seed():
    rng = np.random.default_rng(5)
    windows = 1.0 + np.abs(rng.standard_normal(80))
    student = np.stack([windows * f for f in (1.0, 1.02, 0.98)])  # (3 student seeds, windows)
    # three teacher seeds, one of which distils badly: the seed spread must show in the interval
    method = np.stack([student * f for f in (0.90, 0.92, 1.10)])  # (3, 3, windows)
    iv = ratio_interval(method, student, block=4, replicates=2000)
    assert iv.ratio == pytest.approx(method.mean() / student.mean())
    assert iv.low < 0.92 and iv.high > 1.0 and iv.verdict == "tie"
    same = ratio_interval(method[:2], student, block=4, replicates=2000)
    assert same.verdict == "better"
    with pytest.raises(ValueError, match="student seeds cannot be paired"):
        ratio_interval(method, np.stack([windows] * 2), block=4)
    with pytest.raises(ValueError, match="same"):
        ratio_interval(windows, windows[:-1], block=4)
    with pytest.raises(ValueError, match="non-finite"):
        ratio_interval(np.r_[windows[:-1], np.nan], windows, block=4)


def test_the_same_seed_gives_the_same_interval():
    rng = np.random.default_rng(6)
    a, b = 1 + rng.random((2, 3, 50)), 1 + rng.random((1, 3, 50))
    assert ratio_interval(a, b, block=5, seed=7) == ratio_interval(a, b, block=5, seed=7)
    assert ratio_interval(a, b, block=5, seed=7) != ratio_interval(a, b, block=5, seed=8)
