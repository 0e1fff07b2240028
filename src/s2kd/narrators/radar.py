"""Radar (projected ``xy`` grids of rain): facts and sentences.

:func:`radar_facts` measures the echo coverage (a share and a word), the peak intensity word and
where the cores are, the centroid, the motion by phase correlation and whether the rain is growing
or decaying; in hindsight the same from the last input frame through the target window.
:func:`radar_sentences` writes them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from s2kd.narrators.base import SampleContext
from s2kd.narrators.geometry import Geo, hours_spanned, rounded, stepwise_motion
from s2kd.narrators.text import Text, capitalise, motion_phrase, with_article


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


def _radar_window(geo: Geo, frames: np.ndarray, thr: float, unit: str, hours: float) -> dict[str, Any]:
    f = np.nan_to_num(frames, nan=-np.inf if "dbz" in unit.lower() else 0.0)
    excess = np.clip(f - thr, 0.0, None)
    excess = np.nan_to_num(excess, posinf=0.0)
    cov = (f > thr).mean(axis=(1, 2))
    last = excess[-1]
    mean_int = [float(e[e > 0].mean()) if (e > 0).any() else 0.0 for e in (excess[0], excess[-1])]
    out: dict[str, Any] = {
        "coverage": rounded(cov[-1], 4), "coverage_first": rounded(cov[0], 4),
        "coverage_word": _coverage_word(float(cov[-1])),
    }
    if last.sum() > 0:
        rows, cols = np.indices(last.shape)
        w = last / last.sum()
        ci, cj = float((rows * w).sum()), float((cols * w).sum())
        peak = float(np.max(f[-1]))
        i, j = np.unravel_index(int(np.argmax(f[-1])), last.shape)
        out.update({"centroid": geo.place(ci, cj), "centroid_at": [rounded(ci, 1), rounded(cj, 1)],
                    "peak": rounded(peak, 1), "peak_word": _intensity_word(peak, unit),
                    "peak_region": geo.place(i, j)})
    else:
        out.update({"centroid": None, "peak": None, "peak_word": None, "peak_region": None})
    if (excess.sum(axis=(1, 2)) > 0).all():  # an echo in every frame: follow it frame by frame
        out["motion"] = stepwise_motion(geo, excess, hours, max_step_px=max(2, round(min(geo.h, geo.w) / 32)))
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
    out.update({"trend": trend, "coverage_change": rounded(d_cov, 4), "intensity_change": rounded(d_int, 2)})
    return out


def radar_facts(sample: SampleContext, geo: Geo, hindsight: bool) -> dict[str, Any]:
    """The rain of the first channel in the input window (and, in hindsight, through the target window)."""
    name = sample.grid.channels[0] if sample.grid.channels else "precip"
    unit = str(sample.grid.units.get(name, ""))
    thr = echo_threshold(unit)
    x = np.asarray(sample.inputs, dtype=float)[:, 0]
    hours = hours_spanned(sample.input_times, sample.grid.step, x.shape[0])
    out = {"channel": name, "unit": unit, "threshold": thr, "input": _radar_window(geo, x, thr, unit, hours)}
    if hindsight and sample.targets is not None:
        y = np.asarray(sample.targets, dtype=float)[:, 0]
        tt = sample.target_times
        th = float((tt[-1] - sample.input_times[-1]) / pd.Timedelta(hours=1)) if tt is not None else hours
        out["target"] = _radar_window(geo, np.concatenate([x[-1:], y]), thr, unit, th)
    return out


# --------------------------------------------------------------------------------------------------
# sentences
# --------------------------------------------------------------------------------------------------


def _state(w: dict[str, Any]) -> str:
    pct = math.floor(100.0 * w["coverage"] + 0.5)  # half up: 2.5 % reads 3 %
    if not w.get("peak_word"):
        return "No rain to speak of"
    verb = "cover" if w["coverage_word"].endswith("showers") else "covers"
    s = f"{capitalise(w['coverage_word'])} {verb} {pct}% of the area, mostly in {w['centroid']}"
    if w["peak_region"] == w["centroid"]:
        return s + f", with {w['peak_word']} cores there"
    return s + f", with {w['peak_word']} cores in {w['peak_region']}"


def radar_sentences(d: dict[str, Any], text: Text) -> None:
    """Clauses of a radar narrative: season and time, coverage and cores, trend and motion, what comes next."""
    cal, r = d["calendar"], d["radar"]
    w = r["input"]
    text.add(9, f"{capitalise(with_article(cal['season']))} {cal['time_of_day']} in {cal['month']}, "
                f"{cal['hour']:02d}:{cal['minute']:02d}")
    text.add(8, _state(w))
    mp = motion_phrase(w.get("motion"))
    if w.get("peak_word"):
        text.add(7, f"the rain is {w['trend']}" + (f" and {mp}" if mp else ""))
    if "target" in r:
        t = r["target"]
        s = f"the rain is {t['trend']}, becoming {t['coverage_word']}"
        if t.get("peak_word"):
            s += f" with {t['peak_word']} cores in {t['peak_region']}"
        tm = motion_phrase(t.get("motion"))
        if tm:
            s += f", {tm}"
        text.add(8, s, group="next", prefix="Next, ")
