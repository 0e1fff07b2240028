"""Paired block-bootstrap intervals for the ratio of two methods' test MSE, over windows and seeds.

Consecutive test windows overlap and share weather, so they are not independent draws: resampling
single windows would give intervals far too narrow. :func:`ratio_interval` resamples **blocks** of
consecutive windows (a moving-block bootstrap, blocks of at least a day and at least one window's
span) and, in the same replicate, the seeds of the runs (teacher seeds and student seeds, with
replacement). Both methods see the same drawn windows and the same drawn student seeds (students of
one seed share their initialisation and batch order), so the interval is paired: what is common to
both, a hard week or a lucky seed, cancels in the ratio.

A method is called better than another only when the whole 95 % interval of ``mean MSE(a) / mean
MSE(b)`` lies below 1. Library code: numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """``ratio`` (of the means over all runs and windows) with its ``low``–``high`` percentile interval."""

    ratio: float
    low: float
    high: float
    level: float
    replicates: int
    block: int

    @property
    def verdict(self) -> str:
        """``better`` (interval below 1), ``worse`` (above 1) or ``tie`` (it contains 1)."""
        return "better" if self.high < 1.0 else "worse" if self.low > 1.0 else "tie"

    def __str__(self) -> str:
        return f"{self.ratio:.3f} [{self.low:.3f}, {self.high:.3f}]"


def block_length(step_hours: float, window_steps: int, *, min_hours: float = 24.0) -> int:
    """Windows per block: at least ``min_hours`` of consecutive window starts and at least one window's
    span (``t_in + t_out`` steps), since windows that overlap are correlated."""
    if not step_hours > 0:
        raise ValueError(f"step_hours must be > 0, got {step_hours}")
    return max(int(math.ceil(min_hours / step_hours)), int(window_steps), 1)


def _as_runs(errors: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(errors, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, None, :]
    elif a.ndim == 2:
        a = a[None, :, :]
    if a.ndim != 3 or a.shape[-1] == 0:
        raise ValueError(f"{name} must be (teacher seeds, student seeds, windows), got shape {np.shape(errors)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds non-finite window errors")
    return a


def _block_counts(rng: np.random.Generator, n: int, block: int, replicates: int) -> np.ndarray:
    """``(replicates, n)``: how often each window is drawn by moving blocks of ``block`` windows."""
    block = min(block, n)
    per = int(math.ceil(n / block))
    starts = rng.integers(0, n - block + 1, size=(replicates, per))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(replicates, -1)[:, :n]
    counts = np.zeros((replicates, n))
    np.add.at(counts, (np.arange(replicates)[:, None], idx), 1.0)
    return counts


def ratio_interval(numerator: np.ndarray, denominator: np.ndarray, *, block: int, replicates: int = 2000,
                   level: float = 0.95, seed: int = 0) -> Interval:
    """The paired block-bootstrap interval of ``mean(numerator) / mean(denominator)``.

    Args:
        numerator, denominator: window errors ``(teacher seeds, student seeds, windows)`` (a 1-D array is
            one run, 2-D are student seeds); the windows in time order and the same in both. A method
            without a teacher has one teacher seed and is reused for each of the other's; student seeds
            must agree in number (paired by seed) unless one side has a single one.
        block: windows per block (:func:`block_length`).
        replicates: bootstrap replicates.
        level: the interval's coverage.
        seed: of the resampling, so a document is reproducible.
    """
    a, b = _as_runs(numerator, "numerator"), _as_runs(denominator, "denominator")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"numerator has {a.shape[-1]} windows, denominator {b.shape[-1]}: score both on the same")
    for axis, what in ((0, "teacher"), (1, "student")):
        if a.shape[axis] != b.shape[axis] and 1 not in (a.shape[axis], b.shape[axis]):
            raise ValueError(f"{a.shape[axis]} vs {b.shape[axis]} {what} seeds cannot be paired")
    n_t, n_s = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    a = np.broadcast_to(a, (n_t, n_s, a.shape[-1]))
    b = np.broadcast_to(b, (n_t, n_s, b.shape[-1]))
    rng = np.random.default_rng(seed)
    counts = _block_counts(rng, a.shape[-1], block, replicates)  # (R, N)
    counts /= counts.sum(axis=1, keepdims=True)
    run_a, run_b = a @ counts.T, b @ counts.T  # (T, S, R): each run's mean over the drawn windows
    ti = rng.integers(0, n_t, size=(replicates, n_t))
    si = rng.integers(0, n_s, size=(replicates, n_s))
    r = np.arange(replicates)[:, None, None]
    pick = (ti[:, :, None], si[:, None, :], r)
    ratios = run_a[pick].mean(axis=(1, 2)) / run_b[pick].mean(axis=(1, 2))
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return Interval(ratio=float(a.mean() / b.mean()), low=float(low), high=float(high), level=level,
                    replicates=replicates, block=int(min(block, a.shape[-1])))


__all__ = ["Interval", "block_length", "ratio_interval"]
