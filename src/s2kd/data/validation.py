"""Checks on a raw series before anything is computed from it.

Each check raises :class:`~s2kd.errors.InputError` naming the source, the problem and the fix:
duplicate, unordered or irregular timestamps, gaps longer than allowed (shorter ones are filled by
linear interpolation in time between the frames either side, lazily; with ``segments``, longer ones
split the series into segments, e.g. separate radar events), infinities, and NaN beyond an allowed
fraction (the rest is filled).
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


#: ``ingest.validation.segments``: what ends a segment (an event) besides the series' ends
SEGMENTS = ("gaps", "files")


def check_times(times: pd.DatetimeIndex, where: str, max_gap_steps: int) -> tuple[pd.Timedelta, pd.DatetimeIndex]:
    """Check the timestamps of one series and return the step and the regular time axis they should lie
    on (``times`` itself when nothing is missing); :func:`time_axis` with no segments."""
    step, regular, _ = time_axis(times, where, max_gap_steps)
    return step, regular


def time_axis(
    times: pd.DatetimeIndex, where: str, max_gap_steps: int, *, segments: str | None = None,
    file_starts: pd.DatetimeIndex | None = None,
) -> tuple[pd.Timedelta, pd.DatetimeIndex, np.ndarray]:
    """Check timestamps and return the step, the regular time axis they should lie on and its segments.

    Args:
        times: the series' timestamps.
        where: the source, for error messages.
        max_gap_steps: the longest run of missing steps that may be filled.
        segments: ``None``: one series, a longer gap is an error; ``"gaps"``: a gap with more than
            ``max_gap_steps`` missing steps ends a segment (an event) instead; ``"files"``: so does
            the start of each file in ``file_starts``.
        file_starts: the first timestamp of each file the source read (``segments: files``).

    Returns:
        ``(step, regular_times, segment)``: ``regular_times`` equals ``times`` when nothing is
        missing, and is each segment's regular axis, one after the other, otherwise (the long gaps
        between segments are left out); ``segment`` numbers the segment of each regular time, from 0.
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
    breaks = _segment_breaks(times, ratio, max_gap_steps, segments, file_starts)
    whole = np.isclose(ratio, np.round(ratio))
    if (~whole & ~breaks).any():
        i = int(np.argmax(~whole & ~breaks))
        fix = "resample the series onto a regular time axis"
        if segments is None and ratio[i] >= max_gap_steps + 2:  # a long jump: separate events?
            fix += "; if it is separate events, set ingest.validation.segments: gaps (docs/data.md)"
        raise InputError(where, f"time step is irregular ({times[i]} -> {times[i + 1]} is not a multiple of {step})",
                         fix)
    missing = np.where(breaks, 0, np.round(ratio).astype(int) - 1)
    if missing.max(initial=0) > max_gap_steps:
        i = int(np.argmax(missing))
        raise InputError(where,
                         f"has a gap of {missing[i]} missing step(s) after {times[i]} (allowed: {max_gap_steps})",
                         _gap_fix(int(missing[i]), i, missing, max_gap_steps))
    firsts = np.flatnonzero(np.r_[True, breaks])  # the first recorded step of each segment
    if not missing.sum():
        return step, times, np.cumsum(np.r_[0, breaks]).astype(np.int64)
    lasts = np.r_[firsts[1:] - 1, len(times) - 1]
    pieces = [pd.date_range(times[a], times[b], freq=step) for a, b in zip(firsts, lasts, strict=True)]
    regular = pieces[0].append(pieces[1:]) if len(pieces) > 1 else pieces[0]
    return step, regular, np.repeat(np.arange(len(pieces), dtype=np.int64), [len(p) for p in pieces])


def _segment_breaks(times: pd.DatetimeIndex, ratio: np.ndarray, max_gap_steps: int, segments: str | None,
                    file_starts: pd.DatetimeIndex | None) -> np.ndarray:
    """Whether a new segment starts after each timestamp: after a gap of more than ``max_gap_steps``
    whole missing steps (``segments`` set), or where a new file starts (``segments: files``)."""
    assert segments in (None, *SEGMENTS), f"segments must be None or one of {SEGMENTS}, not {segments!r}"
    if segments is None:
        return np.zeros(len(ratio), dtype=bool)
    breaks = ratio >= max_gap_steps + 2 - 1e-6  # at least max_gap_steps + 1 whole steps missing
    if segments == "files" and file_starts is not None and len(file_starts):
        starts = np.sort(np.asarray(pd.DatetimeIndex(file_starts).values, dtype="datetime64[ns]"))
        file_of = np.searchsorted(starts, np.asarray(times.values, dtype="datetime64[ns]"), side="right")
        breaks |= np.diff(file_of) != 0
    return breaks


def _gap_fix(gap: int, i: int, missing: np.ndarray, max_gap_steps: int) -> str:
    """The fix for a gap of ``gap`` missing steps after recorded step ``i``: filling it for a short
    gap, segments for a gap longer than the recorded stretch on either side of it (separate events)."""
    cuts = np.flatnonzero(missing > max_gap_steps)
    before = i + 1 - (int(cuts[cuts < i].max()) + 1 if (cuts < i).any() else 0)
    after = (int(cuts[cuts > i].min()) if (cuts > i).any() else len(missing)) - i
    events = ("ingest.validation.segments: gaps if the series is separate events (each gap longer than "
              "max_gap_steps then starts a new segment, and no window crosses one; docs/data.md)")
    if gap > min(before, after):  # more missing steps than recorded ones around the gap: not one series
        return (f"set {events}; filling by linear interpolation (ingest.validation.max_gap_steps) is for short "
                "gaps; or cut the series with a time slice")
    fill = f"ingest.validation.max_gap_steps: {gap} to fill gaps by linear interpolation"
    return f"set {fill}, or {events}, or cut the series with a time slice"


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
    nan_fill: float | None = None, segments: str | None = None, file_starts: pd.DatetimeIndex | None = None,
) -> tuple[xr.DataArray, xr.DataArray, dict]:
    """Validate a raw series; fill short gaps and allowed NaN.

    Args:
        series: raw series ``(time, channel, y, x)``, possibly dask-backed.
        where: the source (file or ``synthetic``), for error messages.
        max_gap_steps: longest run of missing time steps filled by linear interpolation.
        max_nan_fraction: largest fraction of NaN values accepted.
        nan_fill: the value (physical units) NaN become; required when NaN are present.
        segments: what else ends a segment (an event): ``"gaps"`` longer than ``max_gap_steps``,
            ``"files"`` (those gaps and each new file); ``None``: one series (see :func:`time_axis`).
        file_starts: the first timestamp of each file the source read.

    Returns:
        ``(series, valid, report)``: the regular, NaN-free series (with segments, each segment
        regular, one after the other, and a ``segment(time)`` coordinate numbering them); the
        fraction of time each pixel was observed, ``valid(y, x)``; and a small report (step, gaps
        filled, NaN fraction, segments).
    """
    times = pd.DatetimeIndex(series["time"].values)
    step, regular, segment = time_axis(times, where, max_gap_steps, segments=segments, file_starts=file_starts)
    filled = len(regular) - len(times)
    if filled:
        logger.warning("%s: filling %d missing time step(s) by linear interpolation", where, filled)
        series = fill_gaps(series, times, regular)
    if segments is not None:
        series = series.assign_coords(segment=("time", segment))
        lengths = np.bincount(segment)
        logger.info("%s: %d segment(s) of %d to %d steps", where, len(lengths), lengths.min(), lengths.max())
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
    if segments is not None:
        report["segments"] = int(segment.max(initial=0)) + 1
    return series, valid, report
