"""What every source returns: one canonical array plus what the narratives may need.

Canonical layout of a raw series: an ``xarray.DataArray`` named ``series`` with dims
``("time", "channel", "y", "x")``. On latitude/longitude grids the ``y``/``x`` dims carry the
coordinates ``lat(y)``/``lon(x)`` (degrees) and ``attrs["grid"] == "latlon"``; flow grids use
``"flow"`` and radar or other projected grids ``"xy"``. ``attrs["units"]`` names the physical unit
of each channel, ``attrs["source"]`` where the data came from (a file path or ``synthetic``),
``attrs["cycles"]`` the cycles its climatology fits (JSON: ``annual``, ``weekly``, ``diurnal``; weather
has no weekly cycle, flows do).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

DIMS = ("time", "channel", "y", "x")
GRIDS = ("latlon", "flow", "xy")

EVENT_COLUMNS = [
    "event_id",
    "type",
    "onset_step",
    "peak_step",
    "end_step",
    "onset",
    "end",
    "lat0",
    "lon0",
    "dlat_per_step",
    "dlon_per_step",
    "heading",
    "amplitude",
    "radius_deg",
]


def empty_events() -> pd.DataFrame:
    """An events table with the canonical columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in EVENT_COLUMNS})


@dataclass
class SourceData:
    """A raw series and its side information.

    Attributes:
        series: the raw (physical-unit) series, dims ``("time", "channel", "y", "x")``; may be
            dask-backed (lazy).
        events: one row per recorded event (columns :data:`EVENT_COLUMNS`); empty for sources that
            record none.
        time_context: extra per-timestamp information indexed by timestamp (for example
            ``is_holiday``, ``temperature``); empty when the source has none.
        file_starts: the first timestamp of each file the source read (a glob or folder of files),
            where ``ingest.validation.segments: files`` starts a segment; empty for one file.
    """

    series: xr.DataArray
    events: pd.DataFrame = field(default_factory=empty_events)
    time_context: pd.DataFrame = field(default_factory=pd.DataFrame)
    file_starts: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))

    def __post_init__(self) -> None:
        assert tuple(self.series.dims) == DIMS, f"series dims {self.series.dims} != {DIMS}"
        assert self.series.attrs.get("grid") in GRIDS, f"series.attrs['grid'] must be one of {GRIDS}"
