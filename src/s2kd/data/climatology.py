"""A climatology from the training frames: the expected value for a calendar slot.

Anomalies (narratives) and anomaly correlation (metrics) are measured against it. The slot is
(month, hour of day) when the training frames cover every month, else the hour of day; a slot the
training frames never saw falls back to the training mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def slot_keys(times: pd.DatetimeIndex, by_month: bool) -> np.ndarray:
    """Calendar slot of each time: ``month * 100 + hour`` or ``hour``."""
    times = pd.DatetimeIndex(times)
    return np.asarray(times.month * 100 + times.hour if by_month else times.hour)


def fit_climatology(series: xr.DataArray, train_frames: slice) -> xr.Dataset:
    """Mean per calendar slot over the training frames.

    Args:
        series: ``(time, channel, y, x)`` in any units (the climatology is in the same units).
        train_frames: the steps the training windows read.

    Returns:
        A dataset with ``slot_mean(slot, channel, y, x)``, ``mean(channel, y, x)`` and the attribute
        ``by_month`` (1 or 0).
    """
    train = series.isel(time=train_frames)
    times = pd.DatetimeIndex(train["time"].values)
    by_month = len(set(times.month)) == 12
    keys = xr.DataArray(slot_keys(times, by_month), dims="time", name="slot")
    slot_mean = train.groupby(keys).mean("time")
    return xr.Dataset({"slot_mean": slot_mean, "mean": train.mean("time")}, attrs={"by_month": int(by_month)})


def climatology_at(clim: xr.Dataset, times: pd.DatetimeIndex) -> np.ndarray:
    """The climatology at the given times, ``(T, C, H, W)`` as a numpy array."""
    keys = slot_keys(times, bool(clim.attrs["by_month"]))
    known = set(clim["slot"].values.tolist())
    mean = clim["mean"].values
    return np.stack([clim["slot_mean"].sel(slot=k).values if k in known else mean for k in keys])
