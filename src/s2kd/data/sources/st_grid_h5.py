"""The ``st_grid_h5`` source: crowd-flow grids in the ST-ResNet layout (TaxiBJ, BikeNYC).

Each HDF5 file holds ``data (T, C, H, W)`` (in/out flows) and ``date`` byte strings
``YYYYMMDDSS``, SS being the slot of the day counted from 01: with 24 slots a day, slot 01 is
00:00-01:00, and its timestamp is the slot's start (00:00). Several files (TaxiBJ has one per
year) are concatenated in time. Optional side files feed the narratives: a holiday list (one
``YYYYMMDD`` per line, as ``BJ_Holiday.txt``) and a meteorology HDF5 (``date``, ``Temperature``,
``WindSpeed``, ``Weather`` one-hot, as ``BJ_Meteorology.h5``).
"""

from __future__ import annotations

import glob
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import h5py
import holidays
import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field, model_validator

from s2kd.data.sources.base import SourceData
from s2kd.errors import InputError, ParameterError
from s2kd.params import Params, PositiveInt

logger = logging.getLogger(__name__)

#: Weather categories of the TaxiBJ meteorology file, in the order of its one-hot columns.
TAXIBJ_WEATHER = (
    "sunny", "cloudy", "overcast", "rainy", "sprinkle", "moderate rain", "heavy rain", "rainstorm",
    "thunderstorm", "freezing rain", "snowy", "light snow", "moderate snow", "heavy snow", "foggy",
    "sandstorm", "dusty",
)


def parse_slots(dates: Sequence[bytes | str], slots_per_day: int | None, where: str) -> pd.DatetimeIndex:
    """Turn ``YYYYMMDDSS`` strings into slot-start timestamps.

    Args:
        dates: the ``date`` strings (bytes or str).
        slots_per_day: slots in a day (24 hourly, 48 half-hourly); inferred from the largest slot
            number when ``None``.
        where: the file, for error messages.

    Returns:
        The timestamps, slot 01 starting at 00:00.
    """
    text = [d.decode() if isinstance(d, bytes) else str(d) for d in dates]
    bad = [d for d in text if len(d) != 10 or not d.isdigit()]
    if bad:
        raise InputError(f"{where}: dataset 'date'", f"{len(bad)} entries are not YYYYMMDDSS (e.g. {bad[0]!r})",
                         "write dates as 10-digit strings: day YYYYMMDD then the 2-digit slot 01..N")
    slot = np.array([int(d[8:]) for d in text])
    n = int(slots_per_day or slot.max())
    if slot.min() < 1 or slot.max() > n or 24 * 60 % n:
        raise InputError(f"{where}: dataset 'date'", f"slots run {slot.min()}..{slot.max()}, not 01..{n}",
                         "set ingest.st_grid_h5.slots_per_day to the number of slots in a day (24, 48)")
    try:
        day = pd.to_datetime([d[:8] for d in text], format="%Y%m%d")
    except ValueError as exc:
        raise InputError(f"{where}: dataset 'date'", f"holds an impossible day ({exc})", "fix the dates") from exc
    return pd.DatetimeIndex(day + pd.to_timedelta((slot - 1) * (24 * 60 // n), unit="min"))


def _files(path: str | Sequence[str]) -> list[Path]:
    paths = [path] if isinstance(path, str) else list(path)
    files: list[Path] = []
    for p in paths:
        found = sorted(glob.glob(p)) if any(c in p for c in "*?[") else [p]
        files += [Path(f) for f in found]
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        raise InputError(f"ingest.st_grid_h5.path ({path})",
                         f"no such file: {missing[0].resolve() if missing else path}",
                         "point it at the .h5 file(s), e.g. ../shared/data/bikenyc/NYCBike1_grid.h5")
    return files


def _read_one(f: Path, data_key: str, date_key: str, slots_per_day: int | None) -> tuple[np.ndarray, pd.DatetimeIndex]:
    try:
        with h5py.File(f, "r") as h:
            for key in (data_key, date_key):
                if key not in h:
                    raise InputError(f"{f}: dataset '{key}'", f"missing (the file has {sorted(h.keys())})",
                                     f"set ingest.st_grid_h5.{'data_key' if key == data_key else 'date_key'}")
            data, dates = np.asarray(h[data_key][...], dtype="float32"), h[date_key][...]
    except InputError:
        raise
    except OSError as exc:
        raise InputError(str(f), f"is not a readable HDF5 file ({exc})", "check the file is complete") from exc
    if data.ndim != 4:
        raise InputError(f"{f}: dataset '{data_key}'", f"has shape {data.shape}, expected (T, C, H, W)",
                         "store flows as a 4-D array time x channel x height x width")
    if len(dates) != data.shape[0]:
        raise InputError(f"{f}: dataset '{date_key}'", f"has {len(dates)} entries for {data.shape[0]} frames",
                         "give one date per frame")
    return data, parse_slots(dates, slots_per_day, str(f))


def _holidays(path: str | None) -> set[pd.Timestamp]:
    if not path:
        return set()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"ingest.st_grid_h5.holidays_path ({p})", "no such file",
                         "point it at a YYYYMMDD-per-line file or null")
    lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    try:
        return set(pd.to_datetime(lines, format="%Y%m%d"))
    except ValueError as exc:
        raise InputError(str(p), f"holds a line that is no YYYYMMDD date ({exc})", "one date per line") from exc


def _public_holidays(country: str | None, subdivision: str | None, years: list[int]) -> dict[pd.Timestamp, str]:
    """The public holidays of a country (and subdivision) in ``years``, from the ``holidays`` library."""
    if not country:
        return {}
    table = holidays.country_holidays(country, subdiv=subdivision, years=years)
    return {pd.Timestamp(day): str(name) for day, name in sorted(table.items())}


def _meteorology(path: str | None, slots_per_day: int | None) -> pd.DataFrame:
    if not path:
        return pd.DataFrame()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"ingest.st_grid_h5.meteorology_path ({p})", "no such file",
                         "point it at the meteorology .h5 or null")
    with h5py.File(p, "r") as h:
        if "date" not in h:
            raise InputError(f"{p}: dataset 'date'", "missing", "store one YYYYMMDDSS date per row")
        index = parse_slots(h["date"][...], slots_per_day, str(p))
        frame = pd.DataFrame(index=index)
        if "Temperature" in h:
            frame["temperature"] = np.asarray(h["Temperature"][...], dtype=float)
        if "WindSpeed" in h:
            frame["wind_speed"] = np.asarray(h["WindSpeed"][...], dtype=float)
        if "Weather" in h:
            onehot = np.asarray(h["Weather"][...])
            n = onehot.shape[1]
            names = TAXIBJ_WEATHER if n == len(TAXIBJ_WEATHER) else tuple(f"weather_{i}" for i in range(n))
            frame["weather"] = [names[i] for i in onehot.argmax(axis=1)]
    return frame[~frame.index.duplicated()]


class StGridH5Options(Params):
    """The ``ingest.st_grid_h5`` options (conf/base/parameters_ingest.yml).

    Attributes:
        path: one file, a glob or a list of files (concatenated in time order).
        data_key: the HDF5 dataset holding ``(T, C, H, W)`` flows.
        date_key: the HDF5 dataset holding ``YYYYMMDDSS`` strings.
        channels: a name per channel (``C`` of them).
        slots_per_day: slots in a day; inferred from the largest slot when ``None``.
        holidays_path: optional holiday list, one ``YYYYMMDD`` a line.
        holidays_country: ISO code of the country whose public holidays (from the ``holidays``
            library) mark the days, e.g. ``US``; with a file too, a day either names is a holiday.
        holidays_subdivision: its state or province (e.g. ``NY``), or ``None`` for the national ones.
        meteorology_path: optional TaxiBJ-style meteorology HDF5.
    """

    group = "ingest.st_grid_h5"

    path: str | list[str] | None = None
    data_key: str = "data"
    date_key: str = "date"
    channels: Annotated[list[str], Field(min_length=1)] = ["inflow", "outflow"]
    slots_per_day: PositiveInt | None = None
    holidays_path: str | None = None
    holidays_country: str | None = None
    holidays_subdivision: str | None = None
    meteorology_path: str | None = None

    @model_validator(mode="after")
    def _known_holidays(self) -> StGridH5Options:
        known = holidays.list_supported_countries()
        if self.holidays_country is None:
            if self.holidays_subdivision is not None:
                raise ValueError("holidays_subdivision is set without holidays_country: set the country too (e.g. US)")
        elif self.holidays_country not in known:
            raise ValueError(f"holidays_country {self.holidays_country!r} is unknown to the holidays library: use an "
                             "ISO 3166-1 code such as US, GB or CN, or null")
        elif self.holidays_subdivision is not None and self.holidays_subdivision not in known[self.holidays_country]:
            raise ValueError(f"holidays_subdivision {self.holidays_subdivision!r} is not one of "
                             f"{self.holidays_country}'s: use one of {sorted(known[self.holidays_country])}, or null")
        return self


def load_st_grid_h5(options: StGridH5Options | None = None, /, **overrides: Any) -> SourceData:
    """Read TaxiBJ/BikeNYC-style flow grids.

    Args:
        options: the options (:class:`StGridH5Options`); or give them as keywords
            (``load_st_grid_h5(path=...)``).

    Returns:
        The series (``grid="flow"``) and a time context with ``is_holiday`` and any meteorology.
    """
    o = options if options is not None else StGridH5Options.model_validate(overrides)
    path, data_key, date_key, channels, slots_per_day = o.path, o.data_key, o.date_key, o.channels, o.slots_per_day
    if not path:
        raise ParameterError("ingest.st_grid_h5.path", "is not set", "give the .h5 file(s) to read")
    parts = [_read_one(f, data_key, date_key, slots_per_day) for f in _files(path)]
    data = np.concatenate([d for d, _ in parts])
    times = pd.DatetimeIndex(np.concatenate([t.values for _, t in parts]))
    order = np.argsort(times.values, kind="stable")
    if len(parts) > 1:
        data, times = data[order], times[order]
    if len(channels) != data.shape[1]:
        raise ParameterError("ingest.st_grid_h5.channels",
                             f"names {len(channels)} channels for {data.shape[1]} in the data",
                             "give one name per channel")
    series = xr.DataArray(
        data,
        dims=("time", "channel", "y", "x"),
        coords={"time": times, "channel": list(channels), "y": np.arange(data.shape[2]), "x": np.arange(data.shape[3])},
        name="series",
        attrs={"grid": "flow", "units": json.dumps(dict.fromkeys(channels, "count")), "source": str(path),
               "cycles": json.dumps(["annual", "weekly", "diurnal"]),
               "transform": "none"},
    )
    named = _public_holidays(o.holidays_country, o.holidays_subdivision, sorted(set(times.year)))
    days_off = _holidays(o.holidays_path) | set(named)
    context = pd.DataFrame(index=times.unique())
    if days_off:
        days = context.index.normalize()
        context["is_holiday"] = days.isin(list(days_off))
        if named:
            context["holiday_name"] = [named.get(d) for d in days]
    meteo = _meteorology(o.meteorology_path, slots_per_day)
    if not meteo.empty:
        context = context.join(meteo, how="left")
    logger.info("st_grid_h5 source %s: %d frames of %s, %s to %s", path, len(times), data.shape[1:], times[0],
                times[-1])
    return SourceData(series=series, time_context=context if len(context.columns) else pd.DataFrame())
