"""Calendar facts of a sample in words: month, weekday, season, local time of day.

On lat/lon grids the local solar time is taken at the domain centre, the season in its hemisphere,
and on global grids the sector of the globe in daylight is named. Weekend and holiday flags come
from the sample's metadata when the source recorded them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from s2kd.narrators.base import SampleContext
from s2kd.narrators.geometry import Geo, rounded

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
_SEASON_NORTH = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring", 6: "summer",
                 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}
_SEASON_FLIP = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}
#: Longitude sectors for "daytime over ..." on global grids: (west edge, east edge, name), -180..180.
_SECTORS = ((-30.0, 60.0, "Europe and Africa"), (60.0, 150.0, "Asia and Australia"),
            (150.0, 240.0, "the Pacific"), (240.0, 330.0, "the Americas"))


def time_of_day_word(hour: float) -> str:
    """``night`` (21-5 h), ``morning`` (5-12 h), ``afternoon`` (12-17 h) or ``evening`` (17-21 h)."""
    h = float(hour) % 24.0
    if 5.0 <= h < 12.0:
        return "morning"
    if 12.0 <= h < 17.0:
        return "afternoon"
    if 17.0 <= h < 21.0:
        return "evening"
    return "night"


def season_word(month: int, lat: float = 45.0) -> str:
    """The astronomical-ish season of a month in the hemisphere of ``lat``."""
    s = _SEASON_NORTH[int(month)]
    return _SEASON_FLIP[s] if lat < 0 else s


def _meta_bool(meta: Mapping[str, Any], key: str, default: bool) -> bool:
    v = meta.get(key, default)
    try:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return default
    except TypeError:
        return default
    return bool(v)


def calendar_facts(sample: SampleContext, geo: Geo) -> dict[str, Any]:
    """The calendar of the last input frame: month, weekday, time, season, weekend and holiday flags."""
    t = pd.Timestamp(sample.input_times[-1])
    meta = sample.metadata
    out: dict[str, Any] = {
        "init_time": t.isoformat(),
        "month": MONTHS[t.month - 1],
        "weekday": t.day_name(),
        "hour": int(t.hour),
        "minute": int(t.minute),
        "is_weekend": _meta_bool(meta, "is_weekend", t.day_of_week >= 5),
        "is_holiday": _meta_bool(meta, "is_holiday", False),
    }
    name = meta.get("holiday_name")
    if out["is_holiday"] and isinstance(name, str) and name:
        out["holiday_name"] = name
    if geo.geographic:
        lat_c = float(np.mean(geo.lat))
        if geo.periodic_x:
            lon_c = 180.0
        else:
            lon_c = float(np.angle(np.mean(np.exp(1j * np.deg2rad(geo.lon))), deg=True))
        utc = t.hour + t.minute / 60.0
        local = (utc + lon_c / 15.0) % 24.0
        out.update({"centre_latlon": [rounded(lat_c), rounded(lon_c % 360.0)], "local_hour": rounded(local, 1),
                    "time_of_day": time_of_day_word(local)})
        if abs(lat_c) < 10.0 and geo.domain == "global":
            out["season"] = f"northern {season_word(t.month, 45.0)}"
        else:
            out["season"] = season_word(t.month, lat_c)
        if geo.domain == "global":
            noon_lon = ((12.0 - utc) * 15.0) % 360.0  # where it is local noon, 0..360
            out["daytime_over"] = _sector(noon_lon)
            out["night_over"] = _sector((noon_lon + 180.0) % 360.0)
    else:
        out.update({"local_hour": rounded(t.hour + t.minute / 60.0, 2),
                    "time_of_day": time_of_day_word(t.hour + t.minute / 60.0), "season": season_word(t.month, 45.0)})
    return out


def _overlap(lon: float, lo: float, hi: float) -> bool:
    return (lon - lo) % 360.0 < (hi - lo)


def _sector(lon: float) -> str:
    for lo, hi, name in _SECTORS:
        if _overlap(lon, lo, hi):
            return name
    return _SECTORS[0][2]
