"""Flow grids (traffic in and out of city cells): facts and sentences.

:func:`flow_facts` measures the total volume, its trend and its level against the climatology,
the rush hour (now, or coming within the target window: a calendar fact), weekday / weekend /
holiday, the hotspots (busiest cells, by compass name), the inflow vs outflow imbalance, where demand
rises and falls most, the weather when the source recorded it, and the day's public holiday by name
(``holiday_name``, from the ``holidays`` library); in hindsight the same for the target window and
the hour traffic peaks in it.
:func:`flow_sentences` writes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from s2kd.narrators.base import SampleContext
from s2kd.narrators.geometry import Geo, rounded, target_reference
from s2kd.narrators.text import Text, and_join

#: Rush hours (local time, weekdays that are not holidays): [start, end) hours.
MORNING_RUSH = (7, 10)
EVENING_RUSH = (16, 19)


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


def _volume_window(geo: Geo, x: np.ndarray, clim: np.ndarray | None, times: pd.DatetimeIndex,
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
        cells.append({"at": [i, j], "volume": rounded(last[i, j], 1)})
        name = geo.place(i, j)
        if name not in hotspots:
            hotspots.append(name)
        if len(hotspots) >= max(1, max_items - 1):
            break
    share = float(np.sort(last.ravel())[::-1][:3].sum() / max(last_total, 1e-9))
    # where demand rises and falls most across the window (a cell's change against the mean cell volume)
    delta = vol[-1] - vol[0]
    scale = max(float(vol.mean()), 1e-9)
    i, j = np.unravel_index(int(np.argmax(delta)), delta.shape)
    k, m = np.unravel_index(int(np.argmin(delta)), delta.shape)
    rises_at = geo.place(i, j) if delta[i, j] > 0.5 * scale else None
    falls_at = geo.place(k, m) if delta[k, m] < -0.5 * scale else None
    if falls_at == rises_at:  # both in one sector: name neither
        rises_at = falls_at = None
    out: dict[str, Any] = {
        "total": rounded(last_total, 1), "first_total": rounded(first_total, 1), "trend": trend,
        "change": rounded(change, 3), "level": level, "ratio_to_usual": None if ratio is None else rounded(ratio, 3),
        "hotspots": hotspots, "hotspot_cells": cells[:3], "top3_share": rounded(share, 3),
        "concentrated": share > 0.3, "rises_most_at": rises_at, "falls_most_at": falls_at,
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
            "inflow": rounded(tin, 1), "outflow": rounded(tout, 1), "imbalance": rounded(imb, 3), "balance": balance,
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
        out["temperature"] = rounded(v, 1)
        out["temperature_word"] = ("freezing" if v < 0 else "cold" if v < 10 else "mild" if v < 20 else
                                   "warm" if v < 28 else "hot")
    wind = meta.get("wind_speed")
    if isinstance(wind, (int, float, np.integer, np.floating)) and math.isfinite(float(wind)):
        v = float(wind)
        out["wind_speed"] = rounded(v, 1)
        out["wind_word"] = "calm" if v < 2 else "breezy" if v < 8 else "windy"
    return out or None


def flow_facts(sample: SampleContext, geo: Geo, cal: dict[str, Any], hindsight: bool, max_items: int) -> dict[str, Any]:
    """Traffic of the input window (and, in hindsight, of the target window) in words and numbers."""
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
        ref = None if clim is None else target_reference(clim, sample.input_times, times_out, x, strict=True)
        tw = _volume_window(geo, both, None if ref is None else np.concatenate([clim[-1:], ref]), times_out,
                            inflow, outflow, max_items)
        last = pd.Timestamp(times_out[-1])
        last_rush = _rush(last, workday_at(last))
        totals = np.nan_to_num(y).sum(axis=(1, 2, 3))
        top = int(np.argmax(totals))
        peak = pd.Timestamp(times_out[top]) if 0 < top < len(totals) - 1 else None  # a peak inside the window
        out["target"] = dict(tw, rush_hour=last_rush, peak_time=None if peak is None else peak.strftime("%H:%M"))
    return out


def _where_it_moves(w: Mapping[str, Any]) -> str:
    """", rising most in the north-east and falling in the centre" (the parts that apply)."""
    bits = [f"rising most in {w['rises_most_at']}" if w.get("rises_most_at") else None,
            f"falling most in {w['falls_most_at']}" if w.get("falls_most_at") else None]
    bits = [b for b in bits if b]
    return f", {' and '.join(bits)}" if bits else ""


def flow_sentences(d: dict[str, Any], text: Text) -> None:
    """Clauses of a flow narrative: the day and hour, traffic, hotspots, weather, what comes next."""
    cal, f = d["calendar"], d["flow"]
    day = {"weekday": "a working day", "weekend": "at the weekend", "holiday": "a public holiday"}[f["day_kind"]]
    if f["day_kind"] == "holiday" and cal.get("holiday_name"):
        day += f", {cal['holiday_name']}"
    first = f"{cal['weekday']} {cal['time_of_day']} at {cal['hour']:02d}:{cal['minute']:02d}, {day}"
    if f["rush_hour"]:
        first += f", in the {f['rush_hour']} rush hour"
    elif f["rush_hour_next"]:
        first += f", just before the {f['rush_hour_next']} rush hour"
    text.add(9, first)
    w = f["input"]
    traffic = f"traffic is {w['trend']}"
    if w.get("level"):
        traffic += f" and {w['level']}"
    traffic += _where_it_moves(w)
    text.add(7, traffic)
    if w["hotspots"]:
        text.add(7, f"the hotspots are in {and_join(w['hotspots'])}", group="hot")
        if "balance" in w:
            s = w["balance"]
            if w.get("arrivals_at") and w.get("departures_at") and w["arrivals_at"] != w["departures_at"]:
                s += f", with arrivals gathering in {w['arrivals_at']} and departures leaving {w['departures_at']}"
            text.add(5, s, group="hot")
    wx = f.get("weather")
    if wx:
        bits = [wx.get("weather"),
                wx.get("temperature_word") and f"{wx['temperature_word']} at {wx['temperature']:.0f} °C",
                wx.get("wind_word")]
        text.add(6, "Weather: " + ", ".join(b for b in bits if b))
    if "target" in f:
        t = f["target"]
        s = f"traffic is {t['trend']}"
        if t.get("level"):
            s += f" and {t['level']}"
        s += _where_it_moves(t)
        if t["hotspots"]:
            s += f", busiest in {t['hotspots'][0]}"
        if t.get("peak_time"):
            s += f", peaking at {t['peak_time']}"
        if t.get("rush_hour") and t["rush_hour"] != f["rush_hour"]:
            s += f", into the {t['rush_hour']} rush hour"
        elif f["rush_hour"] and not t.get("rush_hour"):
            s += f", as the {f['rush_hour']} rush hour ends"
        text.add(8, s, group="next", prefix="Next, ")
        if "balance" in t:
            text.add(5, t["balance"], group="next")
