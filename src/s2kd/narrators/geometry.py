"""The shared maths of the diagnostics: where pixels are, how features move, and magnitude words.

- :class:`Geo`: region names, distances and directions of pixels (lat/lon grids or plain pixels).
- :func:`phase_shift` / :func:`phase_shifts`: displacement between two frames by regularised phase
  correlation; :func:`motion` / :func:`motions` turn it into words (heading, speed).
- :func:`blobs`: connected areas beyond a threshold (anomalies, features).
- :func:`magnitude_word`, :func:`heading_word`, :func:`rounded`: numbers to words and plain floats.
- :func:`hours_spanned`, :func:`target_reference`: the time span of a window and the reference
  (climatology) frames for a target window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from s2kd.data.sources.synthetic_events import HEADINGS
from s2kd.narrators.base import SampleContext
from s2kd.narrators.regions import DOMAIN_PHRASES, DOMAINS, compass_name, pick_domain, region_map, regional_map

#: Magnitude words and their lower bounds: Kelvin for temperature-like channels, RMS units otherwise.
MAGNITUDES = ("slight", "moderate", "strong", "extreme")
KELVIN_BOUNDS = (5.0, 10.0, 16.0)
SIGMA_BOUNDS = (1.5, 2.5, 3.5)
#: Blob speeds (km/h on lat/lon grids): below the first "nearly stationary", below the second "slow".
SPEED_BOUNDS_KMH = (8.0, 30.0)
SPEED_BOUNDS_PX = (0.2, 1.0)  # pixels per time step on other grids
KM_PER_DEG = 111.195


def rounded(x: float, nd: int = 2) -> float:
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


class Geo:
    """Where pixels are: region names, distances and directions (lat/lon grids or plain pixels)."""

    def __init__(self, sample: SampleContext) -> None:
        g = sample.grid
        self.h, self.w = int(sample.inputs.shape[-2]), int(sample.inputs.shape[-1])
        self.step_hours = max(float(g.step / pd.Timedelta(hours=1)), 1e-9)
        self.geographic = g.kind == "latlon" and g.lat is not None and g.lon is not None
        if self.geographic:
            self.lat = np.asarray(g.lat, dtype=float)
            self.lon = np.asarray(g.lon, dtype=float)
            self.domain = g.domain if g.domain in DOMAINS else pick_domain(self.lat, self.lon)
            if self.domain == "regional":
                self.map, self.names, self.phrase = regional_map(self.lat, self.lon)
            else:
                self.map, self.names = region_map(self.lat, self.lon, self.domain)
                self.phrase = DOMAIN_PHRASES.get(self.domain)
            self.dlat = float(self.lat[1] - self.lat[0]) if self.h > 1 else 1.0
            self.dlon = float((self.lon[1] - self.lon[0]) % 360.0) if self.w > 1 else 1.0
            span = self.dlon * self.w
            self.periodic_x = abs(span - 360.0) < 1e-3 * 360.0
            self.north_up = self.dlat < 0
            self.coslat = np.cos(np.deg2rad(self.lat))
        else:
            self.domain = g.domain or ("city" if g.kind == "flow" else "image")
            self.phrase = None
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
            labels = [compass_name(r, c, self.h, self.w, north_up=self.north_up)
                      for r, c in zip(rows, cols, strict=True)]
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
            north = dy * self.dlat * KM_PER_DEG
            i = min(max(int(round(row)), 0), self.h - 1)
            east = dx * self.dlon * KM_PER_DEG * max(float(self.coslat[i]), 0.05)
            return east, north
        return dx, (-dy if self.north_up else dy)

    def latlon_of(self, row: float, col: float) -> list[float] | None:
        """``[lat, lon]`` of a pixel on lat/lon grids, else ``None``."""
        if not self.geographic:
            return None
        i = min(max(int(round(row)), 0), self.h - 1)
        j = min(max(int(round(col)), 0), self.w - 1)
        return [float(self.lat[i]), float(self.lon[j])]


# --------------------------------------------------------------------------------------------------
# motion
# --------------------------------------------------------------------------------------------------


def _motion_words(geo: Geo, shift: tuple[float, float, float], hours: float, row: float) -> dict[str, Any]:
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
        "speed_value": rounded(speed, 1),
        "speed_unit": "km/h" if geo.geographic else "px/step",
        "shift_px": [rounded(dy), rounded(dx)],
        "confidence": rounded(peak),
    }


_NO_MOTION = {"heading": None, "speed": "unknown", "moving": False, "speed_value": 0.0, "speed_unit": ""}


def motions(geo: Geo, a0: np.ndarray, a1: np.ndarray, hours: float,
            windows: list[tuple[tuple[float, float] | None, float | None]]) -> list[dict[str, Any]]:
    """Motion of a field (``(None, None)``) or of features (``(centre, sigma)``) between two frames."""
    if hours <= 0 or not windows:
        return [dict(_NO_MOTION) for _ in windows]
    weights = np.stack([_weight(a0.shape, c, s, geo.periodic_x) for c, s in windows])
    shifts = phase_shifts(a0, a1, weights)
    return [_motion_words(geo, sh, hours, c[0] if c is not None else (geo.h - 1) / 2)
            for sh, (c, _) in zip(shifts, windows, strict=True)]


def stepwise_motion(geo: Geo, frames: np.ndarray, hours: float, max_step_px: int) -> dict[str, Any]:
    """Motion of a field over a window, summed from consecutive frames, each step capped at
    ``max_step_px``: sparse fields (radar echoes) give whitened correlation spurious far peaks between
    distant frames, while between neighbours the true shift is a few pixels (on KNMI and BoM radar it
    agrees with a brute-force shift search in 28/28 and 31/38 windows, first-to-last in 28/28 and 15/38).
    """
    if hours <= 0 or frames.shape[0] < 2:
        return dict(_NO_MOTION)
    weight = _weight(frames.shape[1:], None, None, geo.periodic_x)[None]
    shifts = [phase_shifts(a, b, weight, max_shift=(max_step_px, max_step_px))[0]
              for a, b in zip(frames[:-1], frames[1:], strict=True)]
    dy, dx, peak = (float(v) for v in np.sum(shifts, axis=0))
    return _motion_words(geo, (dy, dx, peak / len(shifts)), hours, (geo.h - 1) / 2)


def motion(geo: Geo, a0: np.ndarray, a1: np.ndarray, hours: float, centre: tuple[float, float] | None,
           sigma: float | None) -> dict[str, Any]:
    """Motion of a field (or of one feature, with ``centre``) between two frames, in words and numbers."""
    return motions(geo, a0, a1, hours, [(centre, sigma)])[0]


# --------------------------------------------------------------------------------------------------
# areas and windows
# --------------------------------------------------------------------------------------------------


def blobs(field: np.ndarray, threshold: float, sign: int, periodic_x: bool, top: int) -> list[tuple[np.ndarray, float]]:
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


def target_reference(clim: np.ndarray | None, times_in: pd.DatetimeIndex, times_out: pd.DatetimeIndex,
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


def hours_spanned(times: pd.DatetimeIndex, step: pd.Timedelta, n: int) -> float:
    """Hours from the first to the last of ``n`` frames (from ``times``, or ``step`` when fewer than two)."""
    if len(times) >= 2:
        return float((times[-1] - times[0]) / pd.Timedelta(hours=1))
    return float(max(n - 1, 0) * step / pd.Timedelta(hours=1))
