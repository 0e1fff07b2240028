"""Climatologies: the expected value at a time of year and day, against which anomalies (narratives)
and anomaly correlation (metrics) are measured.

**Fitted** (:func:`fit_climatology`): per pixel and channel, a least-squares fit over the training
frames of a mean plus harmonics of the cycles the source has (``normalisation_stats["cycles"]``,
chosen per source at ingest: ``annual`` and ``diurnal`` for weather, also ``weekly`` for traffic
flows) as far as the training span supports them:

- annual: 1 harmonic from 180 days of training data, 2 from 2 years;
- weekly: 3 harmonics from 28 days, for sub-daily data;
- diurnal: up to 4 harmonics from 2 days, fewer when there are few steps per day.

Unlike means per calendar slot, harmonics extrapolate smoothly to months the training split never
saw (one year of data split in time leaves the last months out of training), and need no minimum
number of samples per slot.

**External** (:func:`read_climatology`): a file in WeatherBench 2's layout, a variable per channel
over ``(dayofyear, hour, latitude, longitude)`` (``level`` too where the variable has levels), on the
series' grid, in the series' physical units: what WeatherBench 2 scores ACC against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from s2kd.errors import InputError

DAY = pd.Timedelta(days=1)
#: the cycles a fitted climatology can hold
CYCLES = ("annual", "weekly", "diurnal")


def cycles_of(stats: Mapping[str, Any]) -> list[str]:
    """The climatology cycles ingest recorded for a dataset (``normalisation_stats["cycles"]``)."""
    if "cycles" not in stats:
        raise InputError("normalisation_stats", "records no climatology cycles (it was written by an older ingest)",
                         "rerun `kedro run --pipeline ingest`")
    return list(stats["cycles"])


def _terms(span: pd.Timedelta, step: pd.Timedelta, cycles: Sequence[str]) -> list[tuple[str, float, int]]:
    """(name, period in days, harmonic) of each sinusoid of ``cycles`` the span supports."""
    terms = []
    if "annual" in cycles and span >= 180 * DAY:
        terms += [("annual", 365.2425, k) for k in range(1, 3 if span >= 730 * DAY else 2)]
    if step < DAY:
        per_day = int(round(DAY / step))
        if "weekly" in cycles and span >= 28 * DAY:
            terms += [("weekly", 7.0, k) for k in range(1, 4)]
        if "diurnal" in cycles and span >= 2 * DAY:
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


def fit_climatology(series: xr.DataArray, train_frames: slice, cycles: Sequence[str] = CYCLES) -> xr.Dataset:
    """Fit the climatology on the training frames.

    Args:
        series: ``(time, channel, y, x)`` in any units (the climatology is in the same units).
        train_frames: the steps the training windows read.
        cycles: the cycles to fit (of :data:`CYCLES`).

    Returns:
        ``coef(term, channel, y, x)`` with the attribute ``terms`` (a list of
        ``"name:period_days:harmonic"``), and ``mean(channel, y, x)``.
    """
    unknown = sorted(set(cycles) - set(CYCLES))
    assert not unknown, f"unknown climatology cycle(s) {unknown}: use {CYCLES}"
    train = series.isel(time=train_frames)
    times = pd.DatetimeIndex(train["time"].values)
    step = pd.Timedelta(np.median(np.diff(times.values))) if len(times) > 1 else DAY
    terms = _terms(times[-1] - times[0], step, cycles)
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
    """The fitted climatology at the given times, ``(T, C, H, W)``."""
    terms = [(n, float(p), int(k)) for n, p, k in (t.split(":") for t in clim.attrs["terms"])]
    x = _design(pd.DatetimeIndex(times), terms)
    coef = clim["coef"].values
    return np.tensordot(x, coef, axes=(1, 0)).astype(np.float32)


def read_climatology(path: str, variables: Mapping[str, tuple[str, float | None]], *, lat: np.ndarray,
                     lon: np.ndarray, times: pd.DatetimeIndex) -> np.ndarray:
    """An external climatology (WeatherBench 2's layout) at the given times, ``(T, C, H, W)``.

    Args:
        path: a netCDF file or Zarr store with ``<variable>(dayofyear, hour, latitude, longitude)``
            (``level`` too for variables with levels); ``dayofyear`` 1..366, ``hour`` the hours of day.
        variables: per channel, in channel order: ``(variable, level or None)``.
        lat, lon: the series' latitudes and longitudes, which the file's must equal.
        times: the target times.

    Raises:
        InputError: naming the file and the fix when it lacks a variable, a level, a day, an hour, or
            is on another grid.
    """
    where = f"evaluate.climatology.path ({path})"
    if not Path(path).exists():
        raise InputError(where, "does not exist", "give a WeatherBench 2 climatology file, or null to fit one")
    ds = xr.open_zarr(path) if Path(path).is_dir() else xr.open_dataset(path)
    for dim in ("dayofyear", "hour", "latitude", "longitude"):
        if dim not in ds.dims:
            raise InputError(where, f"has no dimension {dim!r} (it has {sorted(map(str, ds.dims))})",
                             "use WeatherBench 2's layout: (dayofyear, hour, [level,] latitude, longitude)")
    for name, theirs, ours in (("latitude", ds["latitude"].values, lat), ("longitude", ds["longitude"].values, lon)):
        if len(theirs) != len(ours) or not np.allclose(np.sort(theirs), np.sort(ours), atol=1e-4):
            raise InputError(where, f"is on another grid ({name} {len(theirs)} values, "
                             f"{np.min(theirs):g}..{np.max(theirs):g}; the series has {len(ours)}, "
                             f"{np.min(ours):g}..{np.max(ours):g})",
                             "regrid the climatology to the series' grid (the same coarsening and selection)")
    doy = xr.DataArray(np.asarray(times.day_of_year), dims="time")
    hour = xr.DataArray(np.asarray(times.hour), dims="time")
    channels = []
    for channel, (variable, level) in variables.items():
        if variable not in ds.data_vars:
            raise InputError(where, f"has no variable {variable!r} for channel {channel!r} (it has "
                             f"{sorted(map(str, ds.data_vars))})", "name it in evaluate.climatology.variables")
        da = ds[variable]
        if level is not None:
            da = da.sel(level=level)
        try:
            da = da.sel(dayofyear=doy, hour=hour)
        except KeyError as exc:
            raise InputError(where, f"lacks a day of year or hour of the test targets ({exc})",
                             "give a climatology over every day of year and the series' hours") from None
        da = da.sel(latitude=xr.DataArray(lat, dims="y"), longitude=xr.DataArray(lon, dims="x"), method="nearest")
        channels.append(np.asarray(da.transpose("time", "y", "x").values, dtype=np.float32))
    return np.stack(channels, axis=1)
