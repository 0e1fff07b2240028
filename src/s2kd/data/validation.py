"""Checks on a raw series before anything is computed from it.

Each check raises :class:`~s2kd.errors.InputError` naming the source, the problem and the fix:
duplicate, unordered or irregular timestamps, gaps longer than allowed (shorter ones are filled by
linear interpolation in time between the frames either side, lazily), infinities, and NaN beyond an
allowed fraction (the rest is filled).
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pandas as pd
import xarray as xr
from dask.diagnostics import ProgressBar

from s2kd.errors import InputError

logger = logging.getLogger(__name__)


def infer_step(times: pd.DatetimeIndex, where: str) -> pd.Timedelta:
    """The regular time step of a series: the most common difference between timestamps."""
    if len(times) < 2:
        raise InputError(where, f"has {len(times)} timestamp(s)", "give a series of many time steps")
    diffs = pd.Series(np.diff(times.values))
    return pd.Timedelta(diffs.mode().iloc[0])


def check_times(times: pd.DatetimeIndex, where: str, max_gap_steps: int) -> tuple[pd.Timedelta, pd.DatetimeIndex]:
    """Check timestamps and return the step and the regular time axis they should lie on.

    Args:
        times: the series' timestamps.
        where: the source, for error messages.
        max_gap_steps: the longest run of missing steps that may be filled.

    Returns:
        ``(step, regular_times)``; ``regular_times`` equals ``times`` when nothing is missing.
    """
    if not isinstance(times, pd.DatetimeIndex):
        raise InputError(where, "its time coordinate is not made of dates",
                         "decode times (CF units) or give datetime64 values")
    dup = times[times.duplicated()]
    if len(dup):
        raise InputError(where, f"has {len(dup)} duplicate timestamp(s), first {dup[0]}",
                         "remove the repeated frames (e.g. xarray `ds.drop_duplicates('time')`)")
    d = np.diff(times.values)
    if (d <= np.timedelta64(0)).any():
        i = int(np.argmax(d <= np.timedelta64(0)))
        raise InputError(where, f"timestamps are not increasing ({times[i]} is followed by {times[i + 1]})",
                         "sort the series by time (e.g. `ds.sortby('time')`)")
    step = infer_step(times, where)
    ratio = (pd.to_timedelta(d) / step).to_numpy()
    if not np.allclose(ratio, np.round(ratio)):
        i = int(np.argmax(~np.isclose(ratio, np.round(ratio))))
        raise InputError(where, f"time step is irregular ({times[i]} -> {times[i + 1]} is not a multiple of {step})",
                         "resample the series onto a regular time axis")
    missing = np.round(ratio).astype(int) - 1
    if missing.max(initial=0) > max_gap_steps:
        i = int(np.argmax(missing))
        raise InputError(where,
                         f"has a gap of {missing[i]} missing step(s) after {times[i]} (allowed: {max_gap_steps})",
                         f"set ingest.validation.max_gap_steps: {missing[i]} to fill gaps by linear interpolation, "
                         "or cut the series with a time slice")
    regular = pd.date_range(times[0], times[-1], freq=step) if missing.sum() else times
    return step, regular


def fill_gaps(series: xr.DataArray, times: pd.DatetimeIndex, regular: pd.DatetimeIndex) -> xr.DataArray:
    """The series on the regular time axis, each missing step linear in time between its two neighbours.

    The recorded frames are kept as they are (NaN included, for the NaN rules); each gap gets
    ``(1 - w) * before + w * after`` from the two recorded frames around it. A lazy series stays lazy
    and is never gathered into one chunk: the recorded stretches keep their chunks and each gap
    reads only its two neighbours, so filling costs no more memory than reading.
    """
    known = np.asarray(times.values, dtype="datetime64[ns]").astype(np.int64)
    axis = np.asarray(regular.values, dtype="datetime64[ns]").astype(np.int64)
    pos = np.searchsorted(axis, known)  # where each recorded step lies on the regular axis
    pieces, start = [], 0
    for i in np.flatnonzero(np.diff(pos) > 1):  # recorded step i is followed by a gap
        pieces.append(series.isel(time=slice(start, i + 1)))
        missing = slice(pos[i] + 1, pos[i + 1])
        weight = (axis[missing] - known[i]) / (known[i + 1] - known[i])
        w = xr.DataArray(weight.astype(series.dtype if series.dtype.kind == "f" else float), dims="time",
                         coords={"time": regular[missing]})
        before, after = series.isel(time=i, drop=True), series.isel(time=i + 1, drop=True)
        pieces.append((before + (after - before) * w).transpose(*series.dims))
        start = i + 1
    pieces.append(series.isel(time=slice(start, None)))
    out = xr.concat(pieces, dim="time", coords="minimal", compat="override", join="override")
    if series.chunks is not None:  # gaps cut the time chunks; restore the source's size
        out = out.chunk({"time": max(series.chunks[0])})
    out.name, out.attrs = series.name, dict(series.attrs)
    return out


def validate_series(
    series: xr.DataArray, *, where: str, max_gap_steps: int = 0, max_nan_fraction: float = 0.0,
    nan_fill: float | None = None
) -> tuple[xr.DataArray, xr.DataArray, dict]:
    """Validate a raw series; fill short gaps and allowed NaN.

    Args:
        series: raw series ``(time, channel, y, x)``, possibly dask-backed.
        where: the source (file or ``synthetic``), for error messages.
        max_gap_steps: longest run of missing time steps filled by linear interpolation.
        max_nan_fraction: largest fraction of NaN values accepted.
        nan_fill: the value (physical units) NaN become; required when NaN are present.

    Returns:
        ``(series, valid, report)``: the regular, NaN-free series; the fraction of time each pixel
        was observed, ``valid(y, x)``; and a small report (step, gaps filled, NaN fraction).
    """
    times = pd.DatetimeIndex(series["time"].values)
    step, regular = check_times(times, where, max_gap_steps)
    filled = len(regular) - len(times)
    if filled:
        logger.warning("%s: filling %d missing time step(s) by linear interpolation", where, filled)
        series = fill_gaps(series, times, regular)
    finite, nan = np.isfinite(series), series.isnull()
    counts = xr.Dataset({"inf": (~finite & ~nan).sum(), "nan": nan.sum(), "valid": finite.mean(("time", "channel"))})
    with ProgressBar(minimum=10, dt=1.0, out=sys.stderr):  # shown only when the pass is long
        counts = counts.compute()  # one pass over the data, whether in memory or lazy
    n_inf, n_nan, valid = int(counts["inf"]), int(counts["nan"]), counts["valid"].astype("float32")
    if n_inf:
        raise InputError(where, f"holds {n_inf} infinite value(s)", "mask them as NaN in the source or fix the file")
    fraction = n_nan / max(series.size, 1)
    if fraction > max_nan_fraction:
        raise InputError(where, f"is {fraction:.1%} NaN (allowed: {max_nan_fraction:.1%})",
                         "raise ingest.validation.max_nan_fraction and set ingest.validation.nan_fill if the NaN are "
                         "expected (e.g. outside radar coverage), or clean the data")
    if n_nan:
        if nan_fill is None:
            raise InputError(where, f"holds {n_nan} NaN value(s)",
                             "set ingest.validation.nan_fill to the physical value NaN stand for (e.g. 0 for rain)")
        logger.info("%s: %.1f%% NaN filled with %s", where, 100 * fraction, nan_fill)
        series = series.fillna(nan_fill)
    report = {"step": str(step), "steps_filled": filled, "nan_fraction": fraction}
    return series, valid, report
