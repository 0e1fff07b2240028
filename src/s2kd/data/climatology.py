"""A climatology from the training frames: the expected value at a time of year, week and day.

Anomalies (narratives) and anomaly correlation (metrics) are measured against it. Per pixel and
channel, a least-squares fit over the training frames of a mean plus the harmonics the training span
can support:

- annual cycle (1 harmonic from 180 days of training data, 2 from 2 years),
- weekly cycle (3 harmonics from 28 days, for sub-daily data: traffic has weekdays and weekends),
- diurnal cycle (up to 4 harmonics from 2 days, fewer when there are few steps per day).

Unlike means per calendar slot, harmonics extrapolate smoothly to months the training split never
saw (one year of data split in time leaves the last months out of training), and need no minimum
number of samples per slot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

DAY = pd.Timedelta(days=1)


def _terms(span: pd.Timedelta, step: pd.Timedelta) -> list[tuple[str, float, int]]:
    """(name, period in days, harmonic) of each sinusoid the span supports."""
    terms = []
    if span >= 180 * DAY:
        terms += [("annual", 365.2425, k) for k in range(1, 3 if span >= 730 * DAY else 2)]
    if step < DAY:
        per_day = int(round(DAY / step))
        if span >= 28 * DAY:
            terms += [("weekly", 7.0, k) for k in range(1, 4)]
        if span >= 2 * DAY:
            terms += [("diurnal", 1.0, k) for k in range(1, min(4, max(per_day // 2 - 1, 1)) + 1)]
    return terms


def _design(times: pd.DatetimeIndex, terms: list[tuple[str, float, int]]) -> np.ndarray:
    days = (times - pd.Timestamp("2000-01-01")) / DAY
    days = np.asarray(days, dtype=float)
    cols = [np.ones_like(days)]
    for _, period, k in terms:
        angle = 2 * np.pi * k * days / period
        cols += [np.cos(angle), np.sin(angle)]
    return np.stack(cols, axis=1)  # (T, 1 + 2 * len(terms))


def fit_climatology(series: xr.DataArray, train_frames: slice) -> xr.Dataset:
    """Fit the climatology on the training frames.

    Args:
        series: ``(time, channel, y, x)`` in any units (the climatology is in the same units).
        train_frames: the steps the training windows read.

    Returns:
        ``coef(term, channel, y, x)`` with the attribute ``terms`` (a list of
        ``"name:period_days:harmonic"``), and ``mean(channel, y, x)``.
    """
    train = series.isel(time=train_frames)
    times = pd.DatetimeIndex(train["time"].values)
    step = pd.Timedelta(np.median(np.diff(times.values))) if len(times) > 1 else DAY
    terms = _terms(times[-1] - times[0], step)
    x = _design(times, terms)
    values = np.asarray(train.values, dtype=np.float64)  # (T, C, H, W)
    coef, *_ = np.linalg.lstsq(x, values.reshape(len(times), -1), rcond=None)
    coef = coef.reshape((x.shape[1],) + values.shape[1:]).astype(np.float32)
    dims = ("channel", "y", "x")
    return xr.Dataset(
        {"coef": (("term",) + dims, coef), "mean": (dims, values.mean(axis=0).astype(np.float32))},
        attrs={"terms": [f"{n}:{p}:{k}" for n, p, k in terms]},
    )


def climatology_at(clim: xr.Dataset, times: pd.DatetimeIndex) -> np.ndarray:
    """The climatology at the given times, ``(T, C, H, W)``."""
    terms = [(n, float(p), int(k)) for n, p, k in (t.split(":") for t in clim.attrs["terms"])]
    x = _design(pd.DatetimeIndex(times), terms)
    coef = clim["coef"].values
    return np.tensordot(x, coef, axes=(1, 0)).astype(np.float32)
