"""Recorded events (metadata ``events``: heat waves, cold outbreaks, storms): facts and sentences.

:func:`event_facts` places each event (region, heading, phase: forming, growing, near its peak,
decaying, fading out) at the end of the input window; in hindsight also whether its onset, peak or
end falls in the target window, and where. Without hindsight, events that only start after the
input window are never read. :func:`context_sentences` and :func:`next_sentences` write them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from s2kd.data.sources.synthetic_events import event_centre, event_envelope
from s2kd.narrators.base import SampleContext
from s2kd.narrators.geometry import KELVIN_BOUNDS, Geo, magnitude_word, rounded
from s2kd.narrators.regions import region_name
from s2kd.narrators.text import Text, with_article

_PHASE = {"forming": "is just forming", "growing": "is growing", "near its peak": "is near its peak",
          "decaying": "is decaying", "fading out": "is fading out"}


def _when(steps_after_last_input: float, step: pd.Timedelta) -> str:
    """When an onset first shows, as the forecast hour of the first target frame it is in ("from hour 12")."""
    hours = (math.floor(max(steps_after_last_input, 0.0)) + 1) * step / pd.Timedelta(hours=1)
    return f"from hour {hours:g}"


def event_phrase(kind: str) -> str:
    """``"heat_wave"`` -> ``"heat wave"`` (no article)."""
    return str(kind).replace("_", " ")


def parse_events(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The metadata's ``events`` as a list of dicts (it may still be a JSON string)."""
    ev = meta.get("events")
    if ev is None:
        return []
    if isinstance(ev, str):
        ev = json.loads(ev or "[]")
    return [dict(e) for e in ev]


def _event_domain(geo: Geo) -> str:
    return geo.domain if geo.geographic else "global"


def event_facts(sample: SampleContext, geo: Geo, hindsight: bool, max_items: int) -> list[dict[str, Any]]:
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

        def env(k: float, e: dict[str, Any] = e, o: int = o) -> float:
            return float(event_envelope(e, o + k))

        amp = float(e.get("amplitude", 0.0) or 0.0)
        rec: dict[str, Any] = {
            "event_id": e.get("event_id"), "type": str(e.get("type", "event")),
            "phrase": event_phrase(e.get("type", "event")), "heading": e.get("heading"), "amplitude": rounded(amp),
            "visible_in_input": visible,
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
                        "current_amplitude": rounded(now), "rank": abs(amp) * (0.25 + env(tau_last))})
        if hindsight:
            last_in = tau_last
            tau_end = tau(t_end)
            rec["onset_in_target"] = bool(e.get("onset_in_target", last_in < 0 <= tau_end))
            rec["peak_in_target"] = bool(e.get("peak_in_target", last_in < peak_tau <= tau_end))
            rec["ends_in_target"] = bool(e.get("ends_in_target", last_in < end_tau <= tau_end))
            rec["onset_region"] = where(0.0) if rec["onset_in_target"] else None
            if rec["onset_in_target"]:  # how strong it gets, and when in the target window it starts
                rec["peak_magnitude"] = magnitude_word(amp, KELVIN_BOUNDS) if amp != 0 else None
                rec["onset_when"] = _when(-tau_last, step)
            rec["peak_region"] = where(float(peak_tau)) if rec["peak_in_target"] else None
            rec["end_region"] = where(float(end_tau)) if rec["ends_in_target"] else None
            rec["region_at_target_end"] = where(tau_end) if (tau_end >= 0 and tau_last <= end_tau) else None
            if not visible:  # what only hindsight knows ranks first: an event that begins unseen
                rec["rank"] = 2.0 * abs(amp) + 1.0 if rec["onset_in_target"] else 0.5 * abs(amp)
        elif not visible:
            continue  # context mode: events of the future stay unknown
        rec.setdefault("rank", 0.0)
        out.append(rec)
    out.sort(key=lambda r: (-r["rank"], str(r["event_id"])))
    for r in out:
        r["rank"] = rounded(r["rank"], 3)
    return out[: max(max_items, 0) * 2]


# --------------------------------------------------------------------------------------------------
# sentences
# --------------------------------------------------------------------------------------------------


def context_sentences(events: list[dict[str, Any]], text: Text, priority: int, max_items: int) -> None:
    """Clauses about the events visible in the input window (type, region, heading, phase)."""
    n = 0
    for e in events:
        if not e.get("visible_in_input") or n >= max_items:
            continue
        mag = f"{e['magnitude']} " if e.get("magnitude") else ""
        head = f", heading {e['heading']}," if e.get("heading") else ""
        text.add(priority if n == 0 else priority - 2,
                 f"{with_article(mag + e['phrase'])} over {e['region']}{head} {_PHASE.get(e['phase'], e['phase'])}",
                 group="events")
        n += 1


def next_sentences(events: list[dict[str, Any]], text: Text, max_items: int) -> None:
    """Clauses about what the events do in the target window (begin, peak, die out, move on)."""
    n = 0
    for e in events:
        if n >= max_items:
            break
        p = e["phrase"]
        parts = []
        if e.get("onset_in_target"):
            mag = f"{e['peak_magnitude']} " if e.get("peak_magnitude") else ""
            when = f" {e['onset_when']}" if e.get("onset_when") else ""
            parts.append(f"{with_article(mag + p)} begins over {e['onset_region']}{when}")
            if e.get("peak_in_target"):
                parts.append(f"it peaks over {e['peak_region']}")
        elif e.get("visible_in_input"):
            if e.get("peak_in_target"):
                moved = e["peak_region"] != e["region"]
                parts.append(f"the {p} over {e['region']} peaks" + (f" over {e['peak_region']}" if moved else ""))
            if e.get("ends_in_target"):
                parts.append(f"the {p} dies out over {e['end_region']}")
            elif not e.get("peak_in_target"):
                later = e.get("region_at_target_end")
                if later and later != e.get("region"):
                    parts.append(f"the {p} moves on to {later}")
                elif e.get("phase") in ("forming", "growing"):
                    parts.append(f"the {p} over {e['region']} keeps growing")
                else:
                    parts.append(f"the {p} over {e['region']} weakens")
        begins = bool(e.get("onset_in_target"))  # the pixels cannot show it: kept before anything else
        for k, part in enumerate(parts):
            text.add(9 if begins and k == 0 else 8 if n == 0 else 6 if k == 0 else 5, part, group="events_next")
        n += bool(parts)
