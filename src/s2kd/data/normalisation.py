"""Per-channel normalisation with statistics from the training frames only."""

from __future__ import annotations

import numpy as np
import xarray as xr

from s2kd.errors import InputError

METHODS = ("zscore", "minmax")


def compute_stats(series: xr.DataArray, train_frames: slice, *, method: str, where: str) -> dict:
    """Normalisation statistics of each channel over the training frames.

    Args:
        series: the validated series ``(time, channel, y, x)``.
        train_frames: the steps the training windows read (see :func:`~s2kd.data.splits.split_frames`).
        method: ``zscore`` (offset = mean, scale = std) or ``minmax`` (offset = min, scale = max - min).
        where: the source, for error messages.

    Returns:
        ``{"method", "channels", "offset", "scale", "mean", "std", "min", "max", "train_start",
        "train_end"}``, lists per channel; ``x_norm = (x - offset) / scale``.
    """
    train = series.isel(time=train_frames)
    dims = ("time", "y", "x")
    # one pass over the training frames for all four (a lazy series is read once, chunk by chunk)
    reduced = xr.Dataset({k: getattr(train, k)(dims) for k in ("mean", "std", "min", "max")}).compute()
    stats = {k: np.atleast_1d(np.asarray(reduced[k].values, dtype=float)) for k in ("mean", "std", "min", "max")}
    offset, scale = (stats["mean"], stats["std"]) if method == "zscore" else (stats["min"], stats["max"] - stats["min"])
    channels = [str(c) for c in series["channel"].values]
    # constant up to float32 round-off: no scale to divide by
    flat = [c for c, s, o in zip(channels, scale, offset, strict=True) if not s > 1e-6 * (abs(o) + 1.0)]
    if flat:
        raise InputError(where, f"channel(s) {flat} are constant over the training split",
                         "drop those channels or use a longer training period")
    return {
        "method": method,
        "channels": channels,
        "offset": offset.tolist(),
        "scale": scale.tolist(),
        **{k: v.tolist() for k, v in stats.items()},
        "train_start": str(series["time"].values[train_frames.start]),
        "train_end": str(series["time"].values[train_frames.stop - 1]),
    }


def _per_channel(values: list[float], series: xr.DataArray) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, dtype="float32"), dims="channel", coords={"channel": series["channel"]})


def normalise(series: xr.DataArray, stats: dict) -> xr.DataArray:
    """``(x - offset) / scale`` per channel; keeps coordinates and attributes."""
    out = ((series - _per_channel(stats["offset"], series)) / _per_channel(stats["scale"], series)).astype("float32")
    out.attrs = dict(series.attrs)
    out.name = series.name
    return out


def denormalise(values: xr.DataArray, stats: dict) -> xr.DataArray:
    """Inverse of :func:`normalise`."""
    return values * _per_channel(stats["scale"], values) + _per_channel(stats["offset"], values)
