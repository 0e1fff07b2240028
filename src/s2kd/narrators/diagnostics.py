"""Diagnostics of one sample, in numbers *and* in the words a narrative is written from.

Pure numpy/scipy, deterministic and offline. :func:`compute_diagnostics` returns a plain,
JSON-serialisable dict; the :class:`~s2kd.narrators.diagnostic.DiagnosticNarrator` turns it into
text. Every quantity a narrative states comes with a category word (``"strong"``, ``"east"``,
``"widespread rain"``) and a region name, because a sentence encoder separates words far better
than decimals (DESIGN.md section 6, "measured warning"); the numbers stay in the dict for the
curious.

What is computed, per grid kind:

- ``latlon``: the anomaly field (inputs minus the climatology, or minus the window mean when there is
  none); the strongest warm and cold anomaly blobs (connected areas beyond ``BLOB_SIGMA`` times the
  field's RMS) with the regions they cover and a magnitude word; each blob's motion from phase
  correlation of the first and last frames under a Gaussian window centred on it; the domain-mean
  anomaly and its trend across the window; the sharpest anomaly gradient (a front); month, season
  and local solar time at the domain centre.
- ``flow``: total volume, its trend and level against the climatology, rush hour, weekday /
  weekend / holiday, hotspots (busiest cells, compass names), inflow vs outflow imbalance, weather.
- ``xy`` (radar): echo coverage (a share and a word), peak intensity word, centroid, motion by phase
  correlation, growing or decaying.
- events recorded by the source (metadata ``events``), on any grid: type, region, heading and phase.

``hindsight`` adds a ``target`` section: the same analysis of the target window, the change from
the last input frame to the last target frame (where it warms or cools), and the events whose onset,
peak or end falls in the target window. Without ``hindsight`` nothing about the targets, and
nothing about recorded events beyond the input window, is read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from s2kd.data.sources.synthetic import HEADINGS, event_centre
from s2kd.narrators.base import SampleContext
from s2kd.narrators.regions import compass_name, pick_domain, region_map, region_name

#: A pixel belongs to an anomaly blob when ``|anomaly| > BLOB_SIGMA * rms(anomaly)``.
BLOB_SIGMA = 1.0
#: Magnitude words and their lower bounds: Kelvin for temperature-like channels, RMS units otherwise.
MAGNITUDES = ("slight", "moderate", "strong", "extreme")
KELVIN_BOUNDS = (5.0, 10.0, 16.0)
SIGMA_BOUNDS = (1.5, 2.5, 3.5)
#: Blob speeds (km/h on lat/lon grids): below the first "nearly stationary", below the second "slow".
SPEED_BOUNDS_KMH = (8.0, 30.0)
SPEED_BOUNDS_PX = (0.2, 1.0)  # pixels per time step on other grids
#: Rush hours (local time, weekdays that are not holidays): [start, end) hours.
MORNING_RUSH = (7, 10)
EVENING_RUSH = (16, 19)

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_SEASON_NORTH = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring", 6: "summer",
                 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}
_SEASON_FLIP = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}
_DOMAIN_PHRASE = {"north_america": "North America", "global": "the globe"}
_EVENT_WORDS = {"heat_wave": "heat wave", "cold_outbreak": "cold outbreak", "storm": "storm"}
_KM_PER_DEG = 111.195
#: Longitude sectors for "daytime over ..." on global grids: (west edge, east edge, name), -180..180.
_SECTORS = ((-30.0, 60.0, "Europe and Africa"), (60.0, 150.0, "Asia and Australia"),
            (150.0, 240.0, "the Pacific"), (240.0, 330.0, "the Americas"))


# --------------------------------------------------------------------------------------------------
# small word helpers
# --------------------------------------------------------------------------------------------------


def _r(x: float, nd: int = 2) -> float:
    """A rounded plain float (JSON-friendly; NaN becomes 0)."""
    x = float(x)
    return round(x, nd) if math.isfinite(x) else 0.0


def magnitude_word(value: float, bounds: Sequence[float]) -> str:
    """``slight`` / ``moderate`` / ``strong`` / ``extreme`` for ``|value|`` against three bounds."""
    v = abs(float(value))
    for word, b in zip(MAGNITUDES, bounds, strict=False):
        if v < b:
            return word
    return MAGNITUDES[-1]


def heading_word(east: float, north: float) -> str:
    """The compass heading (``north``, ``northeast``, ...) of a displacement."""
    angle = math.degrees(math.atan2(east, north)) % 360.0
    return HEADINGS[int(round(angle / 45.0)) % 8]


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


def event_phrase(kind: str) -> str:
    """``"heat_wave"`` -> ``"heat wave"`` (no article)."""
    return _EVENT_WORDS.get(str(kind), str(kind).replace("_", " "))


def channel_vocabulary(name: str, unit: str) -> dict[str, Any]:
    """Words for one channel: what a positive / negative anomaly and change are called.

    Temperature-like channels (``t``, ``air``, ``t2m``, ``t850``, or a Kelvin / Celsius unit) speak of
    warm and cold anomalies measured in Kelvin; geopotential of ridges and troughs; anything else of
    positive and negative anomalies measured in RMS units.
    """
    n, u = name.lower(), unit.lower().strip()
    kelvin = u in ("k", "degk", "kelvin", "degc", "c", "°c", "deg c", "celsius", "degrees_celsius")
    if kelvin or n in ("t", "air", "t2m", "tas", "temperature", "2t", "sst") or (n[:1] == "t" and n[1:].isdigit()):
        return {"quantity": "temperature", "pos": "warm", "neg": "cold", "up": "warming", "down": "cooling",
                "above": "warmer", "below": "colder", "kelvin": True}
    if n in ("z", "gh", "hgt", "geopotential", "height") or (n[:1] == "z" and n[1:].isdigit()):
        return {"quantity": "geopotential", "pos": "high", "neg": "low", "up": "rising heights",
                "down": "falling heights", "above": "higher", "below": "lower", "kelvin": False}
    return {"quantity": name, "pos": "positive", "neg": "negative", "up": "rising", "down": "falling",
            "above": "higher", "below": "lower", "kelvin": False}


# --------------------------------------------------------------------------------------------------
# phase correlation
# --------------------------------------------------------------------------------------------------


def _hann(n: int) -> np.ndarray:
    return np.hanning(n + 2)[1:-1] if n > 2 else np.ones(n)


def _weight(shape: tuple[int, int], centre: tuple[float, float] | None, sigma: float | None,
            periodic_x: bool) -> np.ndarray:
    h, w = shape
    if centre is None or sigma is None:
        wy = _hann(h)
        wx = np.ones(w) if periodic_x else _hann(w)
        return wy[:, None] * wx[None, :]
    dy = np.arange(h) - centre[0]
    dx = np.abs(np.arange(w) - centre[1])
    if periodic_x:
        dx = np.minimum(dx, w - dx)
    return np.exp(-0.5 * (dy[:, None] ** 2 + dx[None, :] ** 2) / sigma**2)


def _parabola(m1: float, c: float, p1: float) -> float:
    den = m1 - 2.0 * c + p1
    return 0.0 if den >= 0 else float(np.clip(0.5 * (m1 - p1) / den, -0.5, 0.5))


def phase_shifts(
    a0: np.ndarray, a1: np.ndarray, weights: np.ndarray, *, max_shift: tuple[int, int] | None = None,
) -> list[tuple[float, float, float]]:
    """Displacements of ``a1`` relative to ``a0`` under several windows at once (one batched FFT).

    Args:
        a0: the earlier field ``(H, W)``.
        a1: the later field ``(H, W)``.
        weights: ``(K, H, W)`` windows (see :func:`phase_shift`).
        max_shift: the largest shift searched, in rows and columns (default a third of the grid).

    Returns:
        One ``(dy, dx, peak)`` per window.
    """
    h, w = a0.shape
    sw = weights.sum(axis=(1, 2))
    sw[sw == 0] = 1.0
    m0 = (weights * a0).sum(axis=(1, 2)) / sw
    m1 = (weights * a1).sum(axis=(1, 2)) / sw
    f0 = np.fft.rfft2((a0[None] - m0[:, None, None]) * weights)
    f1 = np.fft.rfft2((a1[None] - m1[:, None, None]) * weights)
    cross = f1 * np.conj(f0)
    mag = np.abs(cross)
    top = mag.max(axis=(1, 2), keepdims=True)
    corr = np.fft.irfft2(cross / (mag + 1e-3 * np.maximum(top, 1e-300)), s=(h, w))
    my, mx = max_shift if max_shift is not None else (h // 3, w // 3)
    iy = np.arange(h)
    ix = np.arange(w)
    ok = (np.minimum(iy, h - iy) <= my)[:, None] & (np.minimum(ix, w - ix) <= mx)[None, :]
    out = []
    for k in range(weights.shape[0]):
        if top[k, 0, 0] <= 0:
            out.append((0.0, 0.0, 0.0))
            continue
        c2 = corr[k]
        i, j = divmod(int(np.argmax(np.where(ok, c2, -np.inf))), w)
        c = float(c2[i, j])
        sy = _parabola(float(c2[(i - 1) % h, j]), c, float(c2[(i + 1) % h, j])) if h >= 3 else 0.0
        sx = _parabola(float(c2[i, (j - 1) % w]), c, float(c2[i, (j + 1) % w])) if w >= 3 else 0.0
        dy = (i if i <= h // 2 else i - h) + sy
        dx = (j if j <= w // 2 else j - w) + sx
        out.append((float(dy), float(dx), max(c, 0.0)))
    return out


def phase_shift(
    a0: np.ndarray, a1: np.ndarray, *, centre: tuple[float, float] | None = None, sigma: float | None = None,
    periodic_x: bool = False, max_shift: tuple[int, int] | None = None,
) -> tuple[float, float, float]:
    """The displacement of ``a1`` relative to ``a0`` by (regularised) phase correlation.

    Both fields are weighted by the same window (a Hann window, or a Gaussian of ``sigma`` pixels
    centred on ``centre`` to follow one feature) after removing their weighted means.

    Returns:
        ``(dy, dx, peak)``: the shift in pixels along rows and columns (sub-pixel, by a parabola
        through the correlation peak; ``a1(y, x) ~ a0(y - dy, x - dx)``) and the height of the
        correlation peak (0..1, a confidence).
    """
    wgt = _weight(a0.shape, centre, sigma, periodic_x)
    return phase_shifts(np.asarray(a0, dtype=float), np.asarray(a1, dtype=float), wgt[None], max_shift=max_shift)[0]


# --------------------------------------------------------------------------------------------------
# geometry of a grid
# --------------------------------------------------------------------------------------------------


class _Geo:
    """Where pixels are: region names, distances and directions (lat/lon grids or plain pixels)."""

    def __init__(self, sample: SampleContext) -> None:
        g = sample.grid
        self.h, self.w = int(sample.inputs.shape[-2]), int(sample.inputs.shape[-1])
        self.step_hours = max(float(g.step / pd.Timedelta(hours=1)), 1e-9)
        self.geographic = g.kind == "latlon" and g.lat is not None and g.lon is not None
        if self.geographic:
            self.lat = np.asarray(g.lat, dtype=float)
            self.lon = np.asarray(g.lon, dtype=float)
            self.domain = g.domain if g.domain in ("global", "north_america") else pick_domain(self.lat, self.lon)
            self.map, self.names = region_map(self.lat, self.lon, self.domain)
            self.dlat = float(self.lat[1] - self.lat[0]) if self.h > 1 else 1.0
            self.dlon = float((self.lon[1] - self.lon[0]) % 360.0) if self.w > 1 else 1.0
            span = self.dlon * self.w
            self.periodic_x = abs(span - 360.0) < 1e-3 * 360.0
            self.north_up = self.dlat < 0
            self.coslat = np.cos(np.deg2rad(self.lat))
        else:
            self.domain = g.domain or ("city" if g.kind == "flow" else "image")
            self.periodic_x = False
            self.north_up = True
            self.lat = self.lon = None

    def place(self, row: float, col: float) -> str:
        """The name of one (possibly fractional) pixel position."""
        if self.geographic:
            i = min(max(int(round(row)), 0), self.h - 1)
            j = int(round(col)) % self.w if self.periodic_x else min(max(int(round(col)), 0), self.w - 1)
            return self.names[self.map[i, j]]
        return compass_name(row, col, self.h, self.w, north_up=self.north_up)

    def places(self, mask: np.ndarray, weight: np.ndarray, top: int = 2, share: float = 0.3) -> list[str]:
        """Regions holding a masked area, by weight: the heaviest, plus others of at least ``share``."""
        if self.geographic:
            idx = self.map[mask]
            names = self.names
        else:
            rows, cols = np.nonzero(mask)
            labels = [compass_name(r, c, self.h, self.w, north_up=self.north_up) for r, c in zip(rows, cols, strict=True)]
            names = tuple(dict.fromkeys(labels))
            lookup = {n: k for k, n in enumerate(names)}
            idx = np.array([lookup[n] for n in labels], dtype=np.int64)
        if idx.size == 0:
            return []
        sums = np.bincount(idx, weights=weight[mask], minlength=len(names))
        total = float(sums.sum()) or 1.0
        order = np.argsort(-sums, kind="stable")
        out = [names[order[0]]]
        for k in order[1:top]:
            if sums[k] / total >= share:
                out.append(names[k])
        return out

    def displacement_km(self, dy: float, dx: float, row: float) -> tuple[float, float]:
        """(east, north) displacement in km (lat/lon grids) or pixels (other grids) of a pixel shift."""
        if self.geographic:
            north = dy * self.dlat * _KM_PER_DEG
            i = min(max(int(round(row)), 0), self.h - 1)
            east = dx * self.dlon * _KM_PER_DEG * max(float(self.coslat[i]), 0.05)
            return east, north
        return dx, (-dy if self.north_up else dy)

    def latlon_of(self, row: float, col: float) -> list[float] | None:
        if not self.geographic:
            return None
        i = min(max(int(round(row)), 0), self.h - 1)
        j = min(max(int(round(col)), 0), self.w - 1)
        return [float(self.lat[i]), float(self.lon[j])]


def _motion_words(geo: _Geo, shift: tuple[float, float, float], hours: float, row: float) -> dict[str, Any]:
    dy, dx, peak = shift
    east, north = geo.displacement_km(dy, dx, row)
    speed = math.hypot(east, north) / hours
    if not geo.geographic:
        speed *= geo.step_hours  # pixels per time step
    slow, fast = SPEED_BOUNDS_KMH if geo.geographic else SPEED_BOUNDS_PX
    word = "nearly stationary" if speed < slow else "slow" if speed < fast else "fast"
    return {
        "heading": heading_word(east, north) if speed >= slow else None,
        "speed": word,
        "moving": speed >= slow,
        "speed_value": _r(speed, 1),
        "speed_unit": "km/h" if geo.geographic else "px/step",
        "shift_px": [_r(dy), _r(dx)],
        "confidence": _r(peak),
    }


_NO_MOTION = {"heading": None, "speed": "unknown", "moving": False, "speed_value": 0.0, "speed_unit": ""}


def _motions(geo: _Geo, a0: np.ndarray, a1: np.ndarray, hours: float,
             windows: list[tuple[tuple[float, float] | None, float | None]]) -> list[dict[str, Any]]:
    """Motion of a field (``(None, None)``) or of features (``(centre, sigma)``) between two frames."""
    if hours <= 0 or not windows:
        return [dict(_NO_MOTION) for _ in windows]
    weights = np.stack([_weight(a0.shape, c, s, geo.periodic_x) for c, s in windows])
    shifts = phase_shifts(a0, a1, weights)
    return [_motion_words(geo, sh, hours, c[0] if c is not None else (geo.h - 1) / 2)
            for sh, (c, _) in zip(shifts, windows, strict=True)]


def _motion(geo: _Geo, a0: np.ndarray, a1: np.ndarray, hours: float, centre: tuple[float, float] | None,
            sigma: float | None) -> dict[str, Any]:
    """Motion of a field (or of one feature, with ``centre``) between two frames, in words and numbers."""
    return _motions(geo, a0, a1, hours, [(centre, sigma)])[0]


# --------------------------------------------------------------------------------------------------
# lat/lon fields
# --------------------------------------------------------------------------------------------------


def _blobs(field: np.ndarray, threshold: float, sign: int, periodic_x: bool, top: int) -> list[tuple[np.ndarray, float]]:
    """The ``top`` connected areas where ``sign * field > threshold``, as (mask, integrated excess), strongest first."""
    mask = sign * field > threshold
    if not mask.any():
        return []
    labels, n = ndimage.label(mask)
    if periodic_x and n > 1:  # join labels that meet across the date line
        for i in range(labels.shape[0]):
            a, b = labels[i, 0], labels[i, -1]
            if a and b and a != b:
                labels[labels == b] = a
    strength = np.bincount(labels.ravel(), weights=np.abs(field).ravel(), minlength=n + 1)
    strength[0] = -1.0
    order = np.argsort(-strength, kind="stable")
    return [(labels == k, float(strength[k])) for k in order[:top] if strength[k] > 0]


def _frame_scale(field: np.ndarray, kelvin: bool) -> float:
    rms = float(np.sqrt(np.mean(field**2)))
    floor = 1.0 if kelvin else 1e-6
    return max(rms, floor)


def _features(
    geo: _Geo, first: np.ndarray, last: np.ndarray, hours: float, vocab: Mapping[str, Any], max_items: int,
    noun: str = "anomaly",
) -> list[dict[str, Any]]:
    """The strongest warm and cold blobs of ``last``, with regions, magnitude and motion since ``first``."""
    kelvin = bool(vocab["kelvin"])
    scale = _frame_scale(last, kelvin)
    thr = BLOB_SIGMA * scale
    bounds = KELVIN_BOUNDS if kelvin else tuple(b * scale for b in SIGMA_BOUNDS)
    cands: list[tuple[float, int, np.ndarray]] = []
    for sign in (1, -1):
        for mask, strength in _blobs(last, thr, sign, geo.periodic_x, max_items):
            cands.append((strength, sign, mask))
    if not cands:
        return []
    # the strongest blob of each sign first, then the rest by strength
    best = {}
    for c in cands:
        best.setdefault(c[1], c)
    rest = sorted((c for c in cands if best[c[1]] is not c), key=lambda c: -c[0])
    chosen = sorted(best.values(), key=lambda c: -c[0]) + rest
    chosen = chosen[:max_items]
    peaks = []
    for _, sign, mask in chosen:
        vals = np.where(mask, sign * last, -np.inf)
        peaks.append(divmod(int(np.argmax(vals)), last.shape[1]))
    windows = [((float(pi), float(pj)), max(2.5, 1.2 * math.sqrt(float(mask.sum()) / math.pi)))
               for (pi, pj), (_, _, mask) in zip(peaks, chosen, strict=True)]
    motions = _motions(geo, first, last, hours, windows)
    out = []
    weight = np.abs(last)
    area_total = float(last.size)
    for (strength, sign, mask), (pi, pj), motion in zip(chosen, peaks, motions, strict=True):
        peak = float(last[pi, pj])
        area = int(mask.sum())
        out.append({
            "sign": "positive" if sign > 0 else "negative",
            "word": vocab["pos"] if sign > 0 else vocab["neg"],
            "noun": noun,
            "magnitude": magnitude_word(peak, bounds),
            "peak": _r(peak),
            "area_fraction": _r(area / area_total, 3),
            "regions": geo.places(mask, weight),
            "peak_region": geo.place(pi, pj),
            "peak_at": [int(pi), int(pj)],
            "peak_latlon": geo.latlon_of(pi, pj),
            "motion": motion,
            "strength": _r(strength, 1),
        })
    return out


def _domain_mean(geo: _Geo, field: np.ndarray) -> float:
    if geo.geographic:
        w = np.broadcast_to(np.maximum(geo.coslat, 0.0)[:, None], field.shape)
        return float((field * w).sum() / max(float(w.sum()), 1e-12))
    return float(field.mean())


def _level_words(mean: float, scale: float, vocab: Mapping[str, Any], climatology: bool) -> dict[str, Any]:
    if not climatology:
        return {"word": None, "mean": _r(mean)}
    if vocab["kelvin"]:
        small, big = 0.5, 1.5
    else:
        small, big = 0.15 * scale, 0.5 * scale
    m = abs(mean)
    side = vocab["above"] if mean > 0 else vocab["below"]
    word = "near normal" if m < small else f"slightly {side} than normal" if m < big else f"much {side} than normal"
    return {"word": word, "mean": _r(mean)}


def _trend_words(delta: float, scale: float, vocab: Mapping[str, Any]) -> dict[str, Any]:
    steady, fast = (0.15, 0.5) if vocab["kelvin"] else (0.05 * scale, 0.2 * scale)
    if abs(delta) < steady:
        word = "steady"
    else:
        word = vocab["up"] if delta > 0 else vocab["down"]
        if abs(delta) >= fast:
            word = f"rapidly {word}" if vocab["kelvin"] or vocab["quantity"] == "geopotential" else f"{word} fast"
    return {"word": word, "delta": _r(delta)}


def _front(geo: _Geo, field: np.ndarray, vocab: Mapping[str, Any]) -> dict[str, Any]:
    """The sharpest gradient of ``field``: where, and how sharp (per 100 km on lat/lon grids)."""
    gy, gx = np.gradient(field)
    if geo.geographic:
        gy = gy / (abs(geo.dlat) * _KM_PER_DEG / 100.0)
        gx = gx / (geo.dlon * _KM_PER_DEG * np.maximum(geo.coslat, 0.2)[:, None] / 100.0)
    g = np.hypot(gy, gx)
    i, j = np.unravel_index(int(np.argmax(g)), g.shape)
    value = float(g[i, j])
    if vocab["kelvin"] and geo.geographic:
        word = "weak" if value < 1.0 else "moderate" if value < 2.0 else "sharp"
    else:
        ref = float(np.mean(g)) or 1e-12
        word = "weak" if value < 3 * ref else "moderate" if value < 5 * ref else "sharp"
    return {"word": word, "region": geo.place(i, j), "value": _r(value), "at": [int(i), int(j)],
            "unit": "per 100 km" if geo.geographic else "per pixel"}


def _clim_at(clim: np.ndarray | None, times_in: pd.DatetimeIndex, times_out: pd.DatetimeIndex,
             inputs: np.ndarray, *, strict: bool = False) -> np.ndarray | None:
    """A reference for target frames: the input climatology frame of the same time of day.

    The climatology is only known at the input times; a target time of day that no input frame
    shares gets the mean of the climatology frames, or makes the answer ``None`` with ``strict``.
    Without a climatology the reference is the input window mean.
    """
    if clim is None:
        return np.broadcast_to(inputs.mean(axis=0, keepdims=True), (len(times_out),) + inputs.shape[1:])
    tod_in = [(t.hour, t.minute) for t in times_in]
    mean = clim.mean(axis=0)
    frames = []
    for t in times_out:
        key = (t.hour, t.minute)
        if key not in tod_in and strict:
            return None
        frames.append(clim[tod_in.index(key)] if key in tod_in else mean)
    return np.stack(frames)


def _hours(times: pd.DatetimeIndex, step: pd.Timedelta, n: int) -> float:
    if len(times) >= 2:
        return float((times[-1] - times[0]) / pd.Timedelta(hours=1))
    return float(max(n - 1, 0) * step / pd.Timedelta(hours=1))


def _latlon_inputs(sample: SampleContext, geo: _Geo, max_items: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Input-window diagnostics of every channel; returns the dict and each channel's anomaly frames."""
    g = sample.grid
    x = np.asarray(sample.inputs, dtype=float)
    has_clim = sample.climatology is not None
    ref = np.asarray(sample.climatology, dtype=float) if has_clim else x.mean(axis=0, keepdims=True)
    anom_all = np.nan_to_num(x - ref)
    hours = _hours(sample.input_times, g.step, x.shape[0])
    channels = []
    anoms = []
    for c in range(x.shape[1]):
        name = g.channels[c] if c < len(g.channels) else f"channel{c}"
        vocab = channel_vocabulary(name, str(g.units.get(name, "")))
        a = anom_all[:, c]
        anoms.append(a)
        scale = _frame_scale(a[-1], vocab["kelvin"])
        means = [_domain_mean(geo, f) for f in (a[0], a[-1])]
        channels.append({
            "name": name,
            "vocabulary": vocab,
            "reference": "climatology" if has_clim else "window mean",
            "scale": _r(scale),
            "features": _features(geo, a[0], a[-1], hours, vocab, max_items if c == 0 else 1),
            "level": _level_words(means[1], scale, vocab, has_clim),
            "trend": _trend_words(means[1] - means[0], scale, vocab),
            # fronts: anomalous contrasts against a climatology, else the raw field's contrasts
            "front": (_front(geo, a[-1] if has_clim else np.nan_to_num(x[-1, c]), vocab) if c == 0 else None),
        })
    field_motion = _motion(geo, anoms[0][0], anoms[0][-1], hours, None, None) if anoms else None
    return {"channels": channels, "field_motion": field_motion, "hours": _r(hours, 1)}, anoms


def _latlon_targets(sample: SampleContext, geo: _Geo, anoms_in: list[np.ndarray], max_items: int) -> dict[str, Any]:
    g = sample.grid
    y = np.asarray(sample.targets, dtype=float)
    times_out = sample.target_times if sample.target_times is not None else pd.DatetimeIndex(
        [sample.input_times[-1] + (k + 1) * g.step for k in range(y.shape[0])])
    ref = _clim_at(None if sample.climatology is None else np.asarray(sample.climatology, dtype=float),
                   sample.input_times, times_out, np.asarray(sample.inputs, dtype=float))
    anom_all = np.nan_to_num(y - ref)
    hours = float((times_out[-1] - sample.input_times[-1]) / pd.Timedelta(hours=1))
    channels = []
    for c in range(y.shape[1]):
        name = g.channels[c] if c < len(g.channels) else f"channel{c}"
        vocab = channel_vocabulary(name, str(g.units.get(name, "")))
        a_in_last = anoms_in[c][-1]
        a = anom_all[:, c]
        change = a[-1] - a_in_last
        scale = _frame_scale(a[-1], vocab["kelvin"])
        change_vocab = dict(vocab, pos=vocab["up"], neg=vocab["down"])
        means = (_domain_mean(geo, a_in_last), _domain_mean(geo, a[-1]))
        channels.append({
            "name": name,
            "features": _features(geo, a_in_last, a[-1], hours, vocab, max_items if c == 0 else 1),
            "changes": _features(geo, np.zeros_like(change), change, 0.0, change_vocab, 2, noun="change"),
            "level": _level_words(means[1], scale, vocab, sample.climatology is not None),
            "trend": _trend_words(means[1] - means[0], scale, vocab),
        })
    return {"channels": channels, "hours": _r(hours, 1)}


# --------------------------------------------------------------------------------------------------
# calendar
# --------------------------------------------------------------------------------------------------


def _meta_bool(meta: Mapping[str, Any], key: str, default: bool) -> bool:
    v = meta.get(key, default)
    try:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return default
    except TypeError:
        return default
    return bool(v)


def _calendar(sample: SampleContext, geo: _Geo) -> dict[str, Any]:
    t = pd.Timestamp(sample.input_times[-1])
    meta = sample.metadata
    out: dict[str, Any] = {
        "init_time": t.isoformat(),
        "month": _MONTHS[t.month - 1],
        "weekday": t.day_name(),
        "hour": int(t.hour),
        "minute": int(t.minute),
        "is_weekend": _meta_bool(meta, "is_weekend", t.day_of_week >= 5),
        "is_holiday": _meta_bool(meta, "is_holiday", False),
    }
    if geo.geographic:
        lat_c = float(np.mean(geo.lat))
        if geo.periodic_x:
            lon_c = 180.0
        else:
            lon_c = float(np.angle(np.mean(np.exp(1j * np.deg2rad(geo.lon))), deg=True))
        utc = t.hour + t.minute / 60.0
        local = (utc + lon_c / 15.0) % 24.0
        out.update({"centre_latlon": [_r(lat_c), _r(lon_c % 360.0)], "local_hour": _r(local, 1),
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
        out.update({"local_hour": _r(t.hour + t.minute / 60.0, 2), "time_of_day": time_of_day_word(t.hour + t.minute / 60.0),
                    "season": season_word(t.month, 45.0)})
    return out


def _overlap(lon: float, lo: float, hi: float) -> bool:
    return (lon - lo) % 360.0 < (hi - lo)


def _sector(lon: float) -> str:
    for lo, hi, name in _SECTORS:
        if _overlap(lon, lo, hi):
            return name
    return _SECTORS[0][2]


# --------------------------------------------------------------------------------------------------
# flow grids (traffic)
# --------------------------------------------------------------------------------------------------


def _flow_channels(sample: SampleContext) -> tuple[int | None, int | None]:
    names = [c.lower() for c in sample.grid.channels]
    inflow = next((k for k, n in enumerate(names) if n.startswith("in") or "arriv" in n or n == "end"), None)
    outflow = next((k for k, n in enumerate(names) if n.startswith("out") or "depart" in n or n == "start"), None)
    if inflow is None and outflow is None and len(names) == 2:
        return 0, 1
    return inflow, outflow


def _rush(t: pd.Timestamp, workday: bool) -> str | None:
    if not workday:
        return None
    if MORNING_RUSH[0] <= t.hour < MORNING_RUSH[1]:
        return "morning"
    if EVENING_RUSH[0] <= t.hour < EVENING_RUSH[1]:
        return "evening"
    return None


def _volume_window(geo: _Geo, x: np.ndarray, clim: np.ndarray | None, times: pd.DatetimeIndex,
                   inflow: int | None, outflow: int | None, max_items: int) -> dict[str, Any]:
    vol = np.nan_to_num(x).sum(axis=1)  # (T, H, W)
    totals = vol.sum(axis=(1, 2))
    last = vol[-1]
    first_total, last_total = float(totals[0]), float(totals[-1])
    base = max(float(np.mean(totals)), 1e-9)
    change = (last_total - first_total) / base
    trend = "steady" if abs(change) < 0.1 else ("rising" if change > 0 else "falling")
    if abs(change) >= 0.5:
        trend = f"{trend} sharply"
    level = None
    ratio = None
    if clim is not None:
        usual = float(np.nan_to_num(clim[-1]).sum())
        if usual > 0:
            ratio = last_total / usual
            level = ("much busier than usual" if ratio > 1.3 else "busier than usual" if ratio > 1.1 else
                     "much quieter than usual" if ratio < 0.7 else "quieter than usual" if ratio < 0.9 else
                     "about as busy as usual")
    # hotspots: the busiest cells, named by compass sector (distinct sectors, busiest first)
    order = np.argsort(-last.ravel(), kind="stable")
    hotspots: list[str] = []
    cells = []
    for k in order[: max(8, 3 * max_items)]:
        i, j = divmod(int(k), last.shape[1])
        if last[i, j] <= 0:
            break
        cells.append({"at": [i, j], "volume": _r(last[i, j], 1)})
        name = geo.place(i, j)
        if name not in hotspots:
            hotspots.append(name)
        if len(hotspots) >= max(1, max_items - 1):
            break
    share = float(np.sort(last.ravel())[::-1][:3].sum() / max(last_total, 1e-9))
    out: dict[str, Any] = {
        "total": _r(last_total, 1), "first_total": _r(first_total, 1), "trend": trend, "change": _r(change, 3),
        "level": level, "ratio_to_usual": None if ratio is None else _r(ratio, 3),
        "hotspots": hotspots, "hotspot_cells": cells[:3], "top3_share": _r(share, 3),
        "concentrated": share > 0.3,
    }
    if inflow is not None and outflow is not None:
        fin = np.nan_to_num(x[-1, inflow])
        fout = np.nan_to_num(x[-1, outflow])
        tin, tout = float(fin.sum()), float(fout.sum())
        imb = (tin - tout) / max(tin + tout, 1e-9)
        net = fin - fout
        balance = ("more arrivals than departures" if imb > 0.1 else "more departures than arrivals" if imb < -0.1
                   else "balanced arrivals and departures")
        i, j = np.unravel_index(int(np.argmax(net)), net.shape)
        k, m = np.unravel_index(int(np.argmin(net)), net.shape)
        out.update({
            "inflow": _r(tin, 1), "outflow": _r(tout, 1), "imbalance": _r(imb, 3), "balance": balance,
            "arrivals_at": geo.place(i, j) if net[i, j] > 0 else None,
            "departures_at": geo.place(k, m) if net[k, m] < 0 else None,
        })
    return out


def _weather(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    w = meta.get("weather")
    if isinstance(w, str) and w:
        out["weather"] = w.lower()
    temp = meta.get("temperature")
    if isinstance(temp, (int, float, np.integer, np.floating)) and math.isfinite(float(temp)):
        v = float(temp)
        out["temperature"] = _r(v, 1)
        out["temperature_word"] = ("freezing" if v < 0 else "cold" if v < 10 else "mild" if v < 20 else
                                   "warm" if v < 28 else "hot")
    wind = meta.get("wind_speed")
    if isinstance(wind, (int, float, np.integer, np.floating)) and math.isfinite(float(wind)):
        v = float(wind)
        out["wind_speed"] = _r(v, 1)
        out["wind_word"] = "calm" if v < 2 else "breezy" if v < 8 else "windy"
    return out or None


def _flow(sample: SampleContext, geo: _Geo, cal: dict[str, Any], hindsight: bool, max_items: int) -> dict[str, Any]:
    x = np.asarray(sample.inputs, dtype=float)
    clim = None if sample.climatology is None else np.asarray(sample.climatology, dtype=float)
    inflow, outflow = _flow_channels(sample)
    t = pd.Timestamp(sample.input_times[-1])
    workday = not cal["is_weekend"] and not cal["is_holiday"]
    rush = _rush(t, workday)
    day_kind = "holiday" if cal["is_holiday"] else "weekend" if cal["is_weekend"] else "weekday"
    n_out = 0 if sample.targets is None else int(np.shape(sample.targets)[0])
    times_out = (pd.DatetimeIndex(sample.target_times) if sample.target_times is not None
                 else pd.DatetimeIndex([t + (k + 1) * sample.grid.step for k in range(n_out)]))

    def workday_at(ts: pd.Timestamp) -> bool:  # another day's holiday status is unknown: weekdays count
        return workday if ts.normalize() == t.normalize() else ts.day_of_week < 5

    coming = None
    if rush is None:
        for ts in times_out:  # calendar facts: known to any forecaster
            r = _rush(pd.Timestamp(ts), workday_at(pd.Timestamp(ts)))
            if r is not None:
                coming = r
                break
    out = {
        "day_kind": day_kind, "rush_hour": rush, "rush_hour_next": coming,
        "input": _volume_window(geo, x, clim, sample.input_times, inflow, outflow, max_items),
        "weather": _weather(sample.metadata),
    }
    if hindsight and sample.targets is not None:
        y = np.asarray(sample.targets, dtype=float)
        both = np.concatenate([x[-1:], y])
        ref = None if clim is None else _clim_at(clim, sample.input_times, times_out, x, strict=True)
        tw = _volume_window(geo, both, None if ref is None else np.concatenate([clim[-1:], ref]), times_out,
                            inflow, outflow, max_items)
        last = pd.Timestamp(times_out[-1])
        last_rush = _rush(last, workday_at(last))
        out["target"] = dict(tw, rush_hour=last_rush)
    return out


# --------------------------------------------------------------------------------------------------
# radar
# --------------------------------------------------------------------------------------------------


def echo_threshold(unit: str) -> float:
    """The value above which a radar pixel counts as an echo, for a channel unit."""
    u = unit.lower()
    if "dbz" in u:
        return 10.0
    if u.startswith("log1p"):
        return math.log1p(0.1)
    if "mm" in u:
        return 0.1
    return 0.0


def _intensity_word(value: float, unit: str) -> str:
    u = unit.lower()
    if "dbz" in u:
        v = value
    else:
        rate = math.expm1(value) if u.startswith("log1p") else value
        v = 10.0 * math.log10(200.0 * max(rate, 1e-3) ** 1.6)
    return "light" if v < 25 else "moderate" if v < 35 else "heavy" if v < 45 else "intense"


def _coverage_word(frac: float) -> str:
    p = 100.0 * frac
    if p < 0.5:
        return "no rain to speak of"
    if p < 3:
        return "isolated showers"
    if p < 10:
        return "scattered showers"
    if p < 25:
        return "widespread rain"
    return "extensive rain"


def _radar_window(geo: _Geo, frames: np.ndarray, thr: float, unit: str, hours: float) -> dict[str, Any]:
    f = np.nan_to_num(frames, nan=-np.inf if "dbz" in unit.lower() else 0.0)
    excess = np.clip(f - thr, 0.0, None)
    excess = np.nan_to_num(excess, posinf=0.0)
    cov = (f > thr).mean(axis=(1, 2))
    last = excess[-1]
    mean_int = [float(e[e > 0].mean()) if (e > 0).any() else 0.0 for e in (excess[0], excess[-1])]
    out: dict[str, Any] = {
        "coverage": _r(cov[-1], 4), "coverage_first": _r(cov[0], 4), "coverage_word": _coverage_word(float(cov[-1])),
    }
    if last.sum() > 0:
        rows, cols = np.indices(last.shape)
        w = last / last.sum()
        ci, cj = float((rows * w).sum()), float((cols * w).sum())
        peak = float(np.max(f[-1]))
        i, j = np.unravel_index(int(np.argmax(f[-1])), last.shape)
        out.update({"centroid": geo.place(ci, cj), "centroid_at": [_r(ci, 1), _r(cj, 1)], "peak": _r(peak, 1),
                    "peak_word": _intensity_word(peak, unit), "peak_region": geo.place(i, j)})
    else:
        out.update({"centroid": None, "peak": None, "peak_word": None, "peak_region": None})
    if excess[0].sum() > 0 and last.sum() > 0:
        out["motion"] = _motion(geo, excess[0], last, hours, None, None)
    else:
        out["motion"] = None
    d_cov = float(cov[-1] - cov[0])
    d_int = mean_int[1] - mean_int[0]
    rel = d_cov / max(float(cov[0]), float(cov[-1]), 1e-6)
    int_step = 1.0 if "dbz" in unit.lower() else 0.1 * max(mean_int[0], mean_int[1], 1e-6)
    if rel > 0.15 or (abs(rel) <= 0.15 and d_int > int_step):
        trend = "growing"
    elif rel < -0.15 or (abs(rel) <= 0.15 and d_int < -int_step):
        trend = "decaying"
    else:
        trend = "steady"
    out.update({"trend": trend, "coverage_change": _r(d_cov, 4), "intensity_change": _r(d_int, 2)})
    return out


def _radar(sample: SampleContext, geo: _Geo, hindsight: bool) -> dict[str, Any]:
    name = sample.grid.channels[0] if sample.grid.channels else "precip"
    unit = str(sample.grid.units.get(name, ""))
    thr = echo_threshold(unit)
    x = np.asarray(sample.inputs, dtype=float)[:, 0]
    hours = _hours(sample.input_times, sample.grid.step, x.shape[0])
    out = {"channel": name, "unit": unit, "threshold": thr, "input": _radar_window(geo, x, thr, unit, hours)}
    if hindsight and sample.targets is not None:
        y = np.asarray(sample.targets, dtype=float)[:, 0]
        tt = sample.target_times
        th = float((tt[-1] - sample.input_times[-1]) / pd.Timedelta(hours=1)) if tt is not None else hours
        out["target"] = _radar_window(geo, np.concatenate([x[-1:], y]), thr, unit, th)
    return out


# --------------------------------------------------------------------------------------------------
# recorded events
# --------------------------------------------------------------------------------------------------


def parse_events(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The metadata's ``events`` as a list of dicts (it may still be a JSON string)."""
    ev = meta.get("events")
    if ev is None:
        return []
    if isinstance(ev, str):
        ev = json.loads(ev or "[]")
    return [dict(e) for e in ev]


def _event_domain(geo: _Geo) -> str:
    return geo.domain if geo.geographic else "global"


def _events(sample: SampleContext, geo: _Geo, hindsight: bool, max_items: int) -> list[dict[str, Any]]:
    """Events in words: the ones visible in the input window, and (hindsight) those of the target window."""
    events = parse_events(sample.metadata)
    if not events:
        return []
    step = sample.grid.step
    t0, t1 = pd.Timestamp(sample.input_times[0]), pd.Timestamp(sample.input_times[-1])
    tt = sample.target_times
    t_end = pd.Timestamp(tt[-1]) if tt is not None and len(tt) else t1
    domain = _event_domain(geo)
    out = []
    for e in events:
        try:
            onset = pd.Timestamp(e["onset"])
            o, p, n = int(e["onset_step"]), int(e["peak_step"]), int(e["end_step"])
        except (KeyError, TypeError, ValueError):
            continue
        peak_tau, end_tau = p - o, n - o

        def tau(t: pd.Timestamp, onset: pd.Timestamp = onset) -> float:
            return float((t - onset) / step)

        tau_first, tau_last = tau(t0), tau(t1)
        visible = bool(e.get("visible_in_input", tau_last >= 0 and tau_first <= end_tau))

        def where(k: float, e: dict[str, Any] = e, o: int = o, end_tau: int = end_tau) -> str:
            lat, lon = event_centre(e, o + float(np.clip(k, 0.0, end_tau)))
            return region_name(lat, lon, domain)

        def env(k: float, end_tau: int = end_tau) -> float:
            return float(np.sin(np.pi * np.clip(k, 0.0, end_tau) / end_tau) ** 2) if end_tau > 0 else 0.0

        amp = float(e.get("amplitude", 0.0) or 0.0)
        rec: dict[str, Any] = {
            "event_id": e.get("event_id"), "type": str(e.get("type", "event")), "phrase": event_phrase(e.get("type", "event")),
            "heading": e.get("heading"), "amplitude": _r(amp), "visible_in_input": visible,
        }
        if visible:
            if tau_first <= 0:
                phase = "forming"
            elif tau_last < peak_tau:
                phase = "growing"
            elif tau_first <= peak_tau <= tau_last:
                phase = "near its peak"
            elif tau_last >= end_tau:
                phase = "fading out"
            else:
                phase = "decaying"
            now = amp * env(tau_last)
            rec.update({"region": where(tau_last), "phase": phase,
                        "magnitude": magnitude_word(now, KELVIN_BOUNDS) if amp != 0 else None,
                        "current_amplitude": _r(now), "rank": abs(amp) * (0.25 + env(tau_last))})
        if hindsight:
            last_in = tau_last
            tau_end = tau(t_end)
            rec["onset_in_target"] = bool(e.get("onset_in_target", last_in < 0 <= tau_end))
            rec["peak_in_target"] = bool(e.get("peak_in_target", last_in < peak_tau <= tau_end))
            rec["ends_in_target"] = bool(e.get("ends_in_target", last_in < end_tau <= tau_end))
            rec["onset_region"] = where(0.0) if rec["onset_in_target"] else None
            rec["peak_region"] = where(float(peak_tau)) if rec["peak_in_target"] else None
            rec["end_region"] = where(float(end_tau)) if rec["ends_in_target"] else None
            rec["region_at_target_end"] = where(tau_end) if (tau_end >= 0 and tau_last <= end_tau) else None
            if not visible:
                rec["rank"] = abs(amp) * 0.5 + (1e-3 if rec["onset_in_target"] else 0.0)
        elif not visible:
            continue  # context mode: events of the future stay unknown
        rec.setdefault("rank", 0.0)
        out.append(rec)
    out.sort(key=lambda r: (-r["rank"], str(r["event_id"])))
    for r in out:
        r["rank"] = _r(r["rank"], 3)
    return out[: max(max_items, 0) * 2]


# --------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------


def compute_diagnostics(sample: SampleContext, *, hindsight: bool = False, max_items: int = 3) -> dict[str, Any]:
    """All diagnostics of one sample, as a JSON-serialisable dict.

    Args:
        sample: the sample.
        hindsight: also describe the target window (``sample.targets`` must be set) and the events
            that start, peak or end in it; ``False`` reads neither.
        max_items: anomalies / hotspots / events kept per list.

    Returns:
        ``{"kind", "domain", "calendar", "events", ...}`` plus ``"latlon"``, ``"flow"`` or ``"radar"``
        (each with a ``"target"`` part in hindsight).
    """
    geo = _Geo(sample)
    kind = sample.grid.kind
    cal = _calendar(sample, geo)
    out: dict[str, Any] = {"kind": kind, "domain": geo.domain, "domain_phrase": _DOMAIN_PHRASE.get(geo.domain),
                           "calendar": cal, "hindsight": bool(hindsight)}
    if kind == "flow":
        out["flow"] = _flow(sample, geo, cal, hindsight, max_items)
    elif kind == "xy" and not geo.geographic:
        out["radar"] = _radar(sample, geo, hindsight)
    else:
        fields, anoms = _latlon_inputs(sample, geo, max_items)
        if hindsight and sample.targets is not None:
            fields["target"] = _latlon_targets(sample, geo, anoms, max_items)
        out["latlon"] = fields
    out["events"] = _events(sample, geo, hindsight, max_items)
    return out
