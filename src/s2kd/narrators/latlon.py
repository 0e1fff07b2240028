"""Lat/lon fields (temperature, geopotential, ...): facts and sentences.

:func:`latlon_facts` measures the anomaly field (inputs minus the climatology, or minus the window
mean when there is none): the strongest warm and cold anomaly blobs (connected areas beyond
``BLOB_SIGMA`` times the field's RMS) with the regions they cover and a magnitude word; each blob's
motion from phase correlation of the first and last frames under a Gaussian window centred on it;
the domain-mean anomaly and its trend across the window; the sharpest anomaly gradient (a front).
In hindsight also the target window: where it warms or cools, and where the anomalies end up.

:func:`latlon_sentences` writes them, with the calendar and the recorded events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from s2kd.narrators import events
from s2kd.narrators.base import SampleContext
from s2kd.narrators.geometry import (
    KELVIN_BOUNDS,
    KM_PER_DEG,
    SIGMA_BOUNDS,
    Geo,
    blobs,
    hours_spanned,
    magnitude_word,
    motion,
    motions,
    rounded,
    target_reference,
)
from s2kd.narrators.text import Text, and_join, motion_phrase, with_article

#: A pixel belongs to an anomaly blob when ``|anomaly| > BLOB_SIGMA * rms(anomaly)``.
BLOB_SIGMA = 1.0
_NOUNS = {"temperature": ("warm anomaly", "cold anomaly"), "geopotential": ("ridge", "trough")}


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


def _frame_scale(field: np.ndarray, kelvin: bool) -> float:
    rms = float(np.sqrt(np.mean(field**2)))
    floor = 1.0 if kelvin else 1e-6
    return max(rms, floor)


def _features(
    geo: Geo, first: np.ndarray, last: np.ndarray, hours: float, vocab: Mapping[str, Any], max_items: int,
    noun: str = "anomaly",
) -> list[dict[str, Any]]:
    """The strongest warm and cold blobs of ``last``, with regions, magnitude and motion since ``first``."""
    kelvin = bool(vocab["kelvin"])
    scale = _frame_scale(last, kelvin)
    thr = BLOB_SIGMA * scale
    bounds = KELVIN_BOUNDS if kelvin else tuple(b * scale for b in SIGMA_BOUNDS)
    cands: list[tuple[float, int, np.ndarray]] = []
    for sign in (1, -1):
        for mask, strength in blobs(last, thr, sign, geo.periodic_x, max_items):
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
    moves = motions(geo, first, last, hours, windows)
    out = []
    weight = np.abs(last)
    area_total = float(last.size)
    for (strength, sign, mask), (pi, pj), move in zip(chosen, peaks, moves, strict=True):
        peak = float(last[pi, pj])
        area = int(mask.sum())
        out.append({
            "sign": "positive" if sign > 0 else "negative",
            "word": vocab["pos"] if sign > 0 else vocab["neg"],
            "noun": noun,
            "magnitude": magnitude_word(peak, bounds),
            "peak": rounded(peak),
            "area_fraction": rounded(area / area_total, 3),
            "regions": geo.places(mask, weight),
            "peak_region": geo.place(pi, pj),
            "peak_at": [int(pi), int(pj)],
            "peak_latlon": geo.latlon_of(pi, pj),
            "motion": move,
            "strength": rounded(strength, 1),
        })
    return out


def _domain_mean(geo: Geo, field: np.ndarray) -> float:
    if geo.geographic:
        w = np.broadcast_to(np.maximum(geo.coslat, 0.0)[:, None], field.shape)
        return float((field * w).sum() / max(float(w.sum()), 1e-12))
    return float(field.mean())


def _level_words(mean: float, scale: float, vocab: Mapping[str, Any], climatology: bool) -> dict[str, Any]:
    if not climatology:
        return {"word": None, "mean": rounded(mean)}
    if vocab["kelvin"]:
        small, big = 0.5, 1.5
    else:
        small, big = 0.15 * scale, 0.5 * scale
    m = abs(mean)
    side = vocab["above"] if mean > 0 else vocab["below"]
    word = "near normal" if m < small else f"slightly {side} than normal" if m < big else f"much {side} than normal"
    return {"word": word, "mean": rounded(mean)}


def _trend_words(delta: float, scale: float, vocab: Mapping[str, Any]) -> dict[str, Any]:
    steady, fast = (0.15, 0.5) if vocab["kelvin"] else (0.05 * scale, 0.2 * scale)
    if abs(delta) < steady:
        word = "steady"
    else:
        word = vocab["up"] if delta > 0 else vocab["down"]
        if abs(delta) >= fast:
            word = f"rapidly {word}" if vocab["kelvin"] or vocab["quantity"] == "geopotential" else f"{word} fast"
    return {"word": word, "delta": rounded(delta)}


def _front(geo: Geo, field: np.ndarray, vocab: Mapping[str, Any]) -> dict[str, Any]:
    """The sharpest gradient of ``field``: where, and how sharp (per 100 km on lat/lon grids)."""
    gy, gx = np.gradient(field)
    if geo.geographic:
        gy = gy / (abs(geo.dlat) * KM_PER_DEG / 100.0)
        gx = gx / (geo.dlon * KM_PER_DEG * np.maximum(geo.coslat, 0.2)[:, None] / 100.0)
    g = np.hypot(gy, gx)
    i, j = np.unravel_index(int(np.argmax(g)), g.shape)
    value = float(g[i, j])
    if vocab["kelvin"] and geo.geographic:
        word = "weak" if value < 1.0 else "moderate" if value < 2.0 else "sharp"
    else:
        ref = float(np.mean(g)) or 1e-12
        word = "weak" if value < 3 * ref else "moderate" if value < 5 * ref else "sharp"
    return {"word": word, "region": geo.place(i, j), "value": rounded(value), "at": [int(i), int(j)],
            "unit": "per 100 km" if geo.geographic else "per pixel"}


def _inputs(sample: SampleContext, geo: Geo, max_items: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Input-window diagnostics of every channel; returns the dict and each channel's anomaly frames."""
    g = sample.grid
    x = np.asarray(sample.inputs, dtype=float)
    has_clim = sample.climatology is not None
    ref = np.asarray(sample.climatology, dtype=float) if has_clim else x.mean(axis=0, keepdims=True)
    anom_all = np.nan_to_num(x - ref)
    hours = hours_spanned(sample.input_times, g.step, x.shape[0])
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
            "scale": rounded(scale),
            "features": _features(geo, a[0], a[-1], hours, vocab, max_items if c == 0 else 1),
            "level": _level_words(means[1], scale, vocab, has_clim),
            "trend": _trend_words(means[1] - means[0], scale, vocab),
            # fronts: anomalous contrasts against a climatology, else the raw field's contrasts
            "front": (_front(geo, a[-1] if has_clim else np.nan_to_num(x[-1, c]), vocab) if c == 0 else None),
        })
    field_motion = motion(geo, anoms[0][0], anoms[0][-1], hours, None, None) if anoms else None
    return {"channels": channels, "field_motion": field_motion, "hours": rounded(hours, 1)}, anoms


def _targets(sample: SampleContext, geo: Geo, anoms_in: list[np.ndarray], max_items: int) -> dict[str, Any]:
    g = sample.grid
    y = np.asarray(sample.targets, dtype=float)
    times_out = sample.target_times if sample.target_times is not None else pd.DatetimeIndex(
        [sample.input_times[-1] + (k + 1) * g.step for k in range(y.shape[0])])
    ref = target_reference(None if sample.climatology is None else np.asarray(sample.climatology, dtype=float),
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
    return {"channels": channels, "hours": rounded(hours, 1)}


def latlon_facts(sample: SampleContext, geo: Geo, hindsight: bool, max_items: int) -> dict[str, Any]:
    """The anomalies, trend, level and front of every channel; in hindsight a ``target`` part too."""
    fields, anoms = _inputs(sample, geo, max_items)
    if hindsight and sample.targets is not None:
        fields["target"] = _targets(sample, geo, anoms, max_items)
    return fields


# --------------------------------------------------------------------------------------------------
# sentences
# --------------------------------------------------------------------------------------------------


def _feature_phrase(f: dict[str, Any], quantity: str, *, with_motion: bool = True) -> str:
    pos, neg = _NOUNS.get(quantity, ("positive anomaly", "negative anomaly"))
    noun = pos if f["sign"] == "positive" else neg
    text = f"{with_article(f['magnitude'] + ' ' + noun)} over {and_join(f['regions'])}"
    mp = motion_phrase(f.get("motion")) if with_motion else ""
    return f"{text}, {mp}" if mp else text


def _trend_sentence(trend: str, quantity: str) -> str:
    if quantity == "temperature":
        if trend == "steady":
            return "temperatures hold steady"
        word = trend.replace("rapidly ", "")
        verb = {"warming": "warming", "cooling": "cooling"}.get(word, word)
        return f"the region is {verb}{' rapidly' if trend.startswith('rapidly') else ''}"
    if trend == "steady":
        return f"{quantity} holds steady"
    return f"{quantity} shows {trend}"


def latlon_sentences(d: dict[str, Any], text: Text, max_items: int) -> None:
    """Clauses of a lat/lon narrative: calendar and level, events, anomalies, trend or what comes next."""
    cal, f = d["calendar"], d["latlon"]
    hindsight = "target" in f
    main = f["channels"][0]
    q = main["vocabulary"]["quantity"]
    level = main["level"]["word"]
    if d["domain"] == "global":
        first = f"A {cal['month']} day in {cal['season']}, daylight over {cal['daytime_over']}"
    else:
        where = d.get("domain_phrase") or "the domain"
        first = f"A {cal['season']} {cal['time_of_day']} in {cal['month']} over {where}"
    if level:
        first += f", {level} overall"
    text.add(9, first)
    events.context_sentences(d["events"], text, 6 if hindsight else 7, max_items)
    for k, x in enumerate(main["features"][:max_items]):
        text.add((5 if hindsight else 7) if k == 0 else 3 if hindsight else 5, _feature_phrase(x, q), group="features")
    for ch in f["channels"][1:]:
        if ch["features"]:
            text.add(2, f"In {ch['name']}, {_feature_phrase(ch['features'][0], ch['vocabulary']['quantity'])}")
    if not hindsight:
        trend = _trend_sentence(main["trend"]["word"], q)
        front = main.get("front")
        text.add(4, trend, group="trend")
        if front and front["word"] in ("moderate", "sharp"):
            text.add(3, f"{with_article(front['word'])} contrast lies over {front['region']}", group="trend")
        return
    t = f["target"]["channels"][0]
    text.add(8, _trend_sentence(t["trend"]["word"], q), group="next", prefix="Next, ", joiner="with")
    for k, c in enumerate(t["changes"]):
        text.add(8 if k == 0 else 7, f"{c['magnitude']} {c['word']} over {and_join(c['regions'])}", group="next")
    events.next_sentences(d["events"], text, max_items)
    for k, x in enumerate(t["features"][:2]):
        text.add(4 if k == 0 else 2, _feature_phrase(x, q, with_motion=k == 0), group="end", prefix="By the end, ")
