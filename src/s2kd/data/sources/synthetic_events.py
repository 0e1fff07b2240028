"""The events of the ``synthetic`` source: what they are, where they move, how strong they are when.

Two families, each drawn from its own random stream so that one never changes the other:

- **Slow events** (``EVENT_TYPES``: heat waves, cold outbreaks, storms, ``events_per_year`` of them,
  scaled by ``event_strength``): their ``sin^2`` envelope grows from zero at onset to the peak in the
  middle of the event and back, so they are mostly visible in the input frames before they matter.
- **Sudden events** (``SUDDEN_TYPES``: cold snaps and warm surges, ``sudden_per_year``, scaled by
  ``sudden_strength``), formed at eight genesis sites (``SUDDEN_SITES``, within 3 degrees): they
  reach their peak ``rise_hours`` (12 h) after onset, so one whose onset
  falls inside a sample's target window leaves no trace in its input frames. Only the hindsight
  narrative can tell the teacher about it (where, what, how strong, when); ``sudden_strength`` is the
  dial of how much the narratives know that the pixels do not (0: the same narratives, no event in
  the field).

Every event's envelope rises as ``sin^2`` from its ``onset_step`` to its ``peak_step`` (amplitude
exactly ``amplitude`` there) and falls as ``cos^2`` to its ``end_step``; when the peak is in the
middle this is the single ``sin^2(pi * (step - onset) / duration)`` bump.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from s2kd.data.sources.base import EVENT_COLUMNS

#: Compass headings, in the order of their bearing (degrees clockwise from north = index * 45).
HEADINGS = ("north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest")
_D = math.sqrt(0.5)
_UNIT_NORTH = (1.0, _D, 0.0, -_D, -1.0, -_D, 0.0, _D)  # exact components of each heading
_UNIT_EAST = (0.0, _D, 1.0, _D, 0.0, -_D, -1.0, -_D)

#: Per event type: sign and base amplitude (K), duration range (days), speed (degrees of great circle
#: per day), radius range (degrees), probability of being drawn, and (sudden types) hours from onset
#: to peak; without ``rise_hours`` the peak is in the middle of the event.
EVENT_TYPES: dict[str, dict[str, Any]] = {
    "heat_wave": {"amplitude": 8.0, "days": (3.0, 8.0), "speed": 1.5, "radius": (12.0, 20.0), "p": 0.35},
    "cold_outbreak": {"amplitude": -10.0, "days": (2.0, 6.0), "speed": 4.0, "radius": (10.0, 16.0), "p": 0.30},
    "storm": {"amplitude": -6.0, "days": (1.0, 3.0), "speed": 8.0, "radius": (5.0, 9.0), "p": 0.35},
}
SUDDEN_TYPES: dict[str, dict[str, Any]] = {
    "cold_snap": {"amplitude": -30.0, "days": (1.5, 3.0), "speed": 6.0, "radius": (20.0, 28.0), "p": 0.5,
                  "rise_hours": 12.0},
    "warm_surge": {"amplitude": 26.0, "days": (1.5, 3.0), "speed": 4.0, "radius": (20.0, 28.0), "p": 0.5,
                   "rise_hours": 12.0},
}
#: Where sudden events form (degrees north, east) and which kind each site forms, as real ones favour
#: the lee of mountains and the western boundary currents: cold snaps in the lee of the Rockies, over the
#: Gulf of Genoa, the Kuroshio and Patagonia; warm surges over the Gulf Stream, the North Pacific storm
#: track, Iceland and the Tasman Sea. Each forms within 3 degrees of its site, so a narrative's place
#: ("the central United States") says where to look and, with the kind, what comes.
SUDDEN_SITES: tuple[tuple[float, float, str], ...] = (
    (40.0, 255.0, "cold_snap"), (38.0, 285.0, "warm_surge"), (45.0, 180.0, "warm_surge"),
    (55.0, 320.0, "warm_surge"), (47.0, 10.0, "cold_snap"), (38.0, 140.0, "cold_snap"),
    (-42.0, 150.0, "warm_surge"), (-45.0, 295.0, "cold_snap"),
)
SITE_JITTER_DEG = 3.0


def event_centre(event_row: Mapping[str, Any] | pd.Series, step: Any) -> tuple[Any, Any]:
    """Centre of an event at a time step (it moves at a constant rate from its onset).

    Args:
        event_row: one row of the events table (a ``pandas.Series`` or a mapping) with ``lat0``,
            ``lon0``, ``dlat_per_step``, ``dlon_per_step`` and ``onset_step``.
        step: the time step (index from the series start); a number or an array of numbers.

    Returns:
        ``(lat, lon)`` in degrees: latitude clipped to +-89, longitude wrapped to ``[0, 360)``. Floats
        for a scalar ``step``, arrays for an array.
    """
    tau = np.asarray(step, dtype=float) - float(event_row["onset_step"])
    lat = np.clip(float(event_row["lat0"]) + float(event_row["dlat_per_step"]) * tau, -89.0, 89.0)
    lon = np.mod(float(event_row["lon0"]) + float(event_row["dlon_per_step"]) * tau, 360.0)
    if lat.ndim == 0:
        return float(lat), float(lon)
    return lat, lon


def event_envelope(event_row: Mapping[str, Any] | pd.Series, step: Any) -> np.ndarray:
    """The event's amplitude factor at a step: 0 at onset and end (and outside), 1 at the peak.

    ``sin^2`` from onset to peak, ``cos^2`` from peak to end; one ``sin^2`` bump when the peak is in
    the middle. Works on a number or an array of steps (returns an array of the same shape).
    """
    onset, peak, end = (int(event_row[k]) for k in ("onset_step", "peak_step", "end_step"))
    tau = np.asarray(step, dtype=float) - onset
    if end <= onset:
        return np.zeros_like(tau)
    if 2 * (peak - onset) == end - onset:
        env = np.sin(np.pi * tau / (end - onset)) ** 2
    else:
        rise, fall = max(peak - onset, 1), max(end - peak, 1)
        env = np.where(tau <= peak - onset, np.sin(0.5 * np.pi * tau / rise) ** 2,
                       np.cos(0.5 * np.pi * (tau - (peak - onset)) / fall) ** 2)
    return np.where((tau <= 0) | (tau >= end - onset), 0.0, env)


def draw_events(
    rng: np.random.Generator, types: Mapping[str, Mapping[str, Any]], *, n_times: int, step_hours: float,
    start: pd.Timestamp, per_year: float, strength: float, sites: tuple[tuple[float, float, str], ...] | None = None,
) -> pd.DataFrame:
    """Draw one family's event table (independent of the background; ``strength`` only scales amplitudes).

    Centres are uniform in the mid-latitudes (30-60 degrees) of either hemisphere, or, with ``sites``,
    within :data:`SITE_JITTER_DEG` of one of them, whose kind the event then takes (the site is drawn
    after every other attribute, so a family without sites draws exactly as before).

    Returns the table in :data:`EVENT_COLUMNS` order without ``event_id`` (numbered by the caller),
    keeping the events with at least one non-zero frame inside ``[0, n_times)``.
    """
    steps_per_day = 24.0 / step_hours
    lead = int(math.ceil(max(t["days"][1] for t in types.values()) * steps_per_day)) + 2
    span_years = (n_times + lead) * step_hours / (24.0 * 365.25)
    n = int(rng.poisson(per_year * span_years))
    names = list(types)
    probs = np.array([types[t]["p"] for t in names])
    # every attribute is drawn as one vector, always in this order (determinism)
    kind = rng.choice(len(names), size=n, p=probs / probs.sum())
    hemi = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    lat_abs = rng.uniform(30.0, 60.0, n)
    lon0 = rng.uniform(0.0, 360.0, n)
    heading = rng.integers(0, len(HEADINGS), n)
    speed_factor = rng.uniform(0.7, 1.3, n)
    u_days, u_radius = rng.random(n), rng.random(n)
    amp_factor = rng.uniform(0.75, 1.25, n)
    onset = rng.integers(-lead, n_times, n)
    lat_start, lon_start = hemi * lat_abs, lon0
    if sites:
        which = rng.integers(0, len(sites), n)
        site = np.asarray([s[:2] for s in sites], dtype=float)[which]  # (n, 2)
        jitter = rng.uniform(-SITE_JITTER_DEG, SITE_JITTER_DEG, (n, 2))
        lat_start, lon_start = site[:, 0] + jitter[:, 0], np.mod(site[:, 1] + jitter[:, 1], 360.0)
        kind = np.asarray([names.index(sites[w][2]) for w in which], dtype=int)  # the site's kind (drawn above only
        # to keep the draw order)

    rows = []
    for i in range(n):
        spec = types[names[kind[i]]]
        d_lo, d_hi = spec["days"]
        days = d_lo + (d_hi - d_lo) * u_days[i]
        duration = 2 * max(1, int(round(days * steps_per_day / 2)))  # even: the peak falls on a step
        rise = duration // 2
        if "rise_hours" in spec:
            rise = max(1, int(round(spec["rise_hours"] / step_hours)))
            duration = max(duration, rise + 1)
        r_lo, r_hi = spec["radius"]
        lat0 = float(lat_start[i])
        speed = spec["speed"] * speed_factor[i] / steps_per_day  # degrees of great circle per step
        o = int(onset[i])
        rows.append({
            "type": names[kind[i]],
            "onset_step": o,
            "peak_step": o + rise,
            "end_step": o + duration,
            "lat0": float(lat0),
            "lon0": float(lon_start[i]),
            "dlat_per_step": float(speed * _UNIT_NORTH[heading[i]]),
            "dlon_per_step": float(speed * _UNIT_EAST[heading[i]] / np.cos(np.deg2rad(lat0))),
            "heading": HEADINGS[heading[i]],
            "amplitude": float(spec["amplitude"] * amp_factor[i] * strength),
            "radius_deg": float(r_lo + (r_hi - r_lo) * u_radius[i]),
        })
    table = pd.DataFrame(rows, columns=[c for c in EVENT_COLUMNS if c not in ("event_id", "onset", "end")])
    return table[(table["end_step"] > 0) & (table["onset_step"] < n_times - 1)]


def number_events(tables: list[pd.DataFrame], *, start: pd.Timestamp, step_hours: float) -> pd.DataFrame:
    """Join the families' tables in onset order (stable), number them and add the onset/end timestamps."""
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=EVENT_COLUMNS)
    table = table.sort_values("onset_step", kind="stable").reset_index(drop=True)
    step = pd.Timedelta(hours=step_hours)
    table["event_id"] = np.arange(len(table), dtype=np.int64)
    table["onset"] = pd.DatetimeIndex([start + s * step for s in table["onset_step"]], dtype="datetime64[ns]")
    table["end"] = pd.DatetimeIndex([start + s * step for s in table["end_step"]], dtype="datetime64[ns]")
    return table[EVENT_COLUMNS].astype({
        "event_id": "int64", "type": "object", "onset_step": "int64", "peak_step": "int64", "end_step": "int64",
        "lat0": "float64", "lon0": "float64", "dlat_per_step": "float64", "dlon_per_step": "float64",
        "heading": "object", "amplitude": "float64", "radius_deg": "float64",
    })


def add_events(field: np.ndarray, events: pd.DataFrame, lat: np.ndarray, lon: np.ndarray) -> None:
    """Add every event's moving Gaussian blob, scaled by its envelope, to ``field`` (in place).

    Each event is computed for all of its active steps at once, ``(steps, height, width)``.
    """
    n_times = field.shape[0]
    lat_r = np.deg2rad(lat)
    for row in events.to_dict("records"):
        if row["amplitude"] == 0.0:
            continue
        onset, end = row["onset_step"], row["end_step"]
        steps = np.arange(max(onset + 1, 0), min(end, n_times))  # the envelope is 0 at onset and end
        if steps.size == 0:
            continue
        clat, clon = event_centre(row, steps)
        env = event_envelope(row, steps)
        dlat = lat[None, :] - clat[:, None]  # (S, H)
        coslat = np.cos(0.5 * (lat_r[None, :] + np.deg2rad(clat)[:, None]))  # (S, H)
        dlon = (lon[None, :] - clon[:, None] + 180.0) % 360.0 - 180.0  # (S, W)
        d2 = dlat[:, :, None] ** 2 + (dlon[:, None, :] * coslat[:, :, None]) ** 2
        blob = np.exp(-0.5 * d2 / row["radius_deg"] ** 2)
        field[steps] += (row["amplitude"] * env)[:, None, None] * blob
