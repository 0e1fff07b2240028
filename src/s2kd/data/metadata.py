"""Per-sample metadata: calendar fields, side information and the events around each window."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

SEASONS = {12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM", 6: "JJA", 7: "JJA", 8: "JJA", 9: "SON",
           10: "SON", 11: "SON"}


def _event_records(events: pd.DataFrame, start: int, t_in: int, t_out: int) -> list[dict]:
    """Events overlapping one window, each with where it stands relative to the window."""
    last_in, last = start + t_in - 1, start + t_in + t_out - 1
    hit = events[(events["onset_step"] <= last) & (events["end_step"] >= start)]
    out = []
    for row in hit.to_dict("records"):
        rec = {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v.item() if isinstance(v, np.generic) else v)
               for k, v in row.items()}
        rec["visible_in_input"] = bool(row["onset_step"] <= last_in and row["end_step"] >= start)
        rec["onset_in_target"] = bool(row["onset_step"] > last_in)
        rec["peak_in_target"] = bool(last_in < row["peak_step"] <= last)
        rec["ends_in_target"] = bool(last_in < row["end_step"] <= last)
        out.append(rec)
    return out


def build_sample_metadata(
    index: pd.DataFrame, *, events: pd.DataFrame, time_context: pd.DataFrame, t_in: int, t_out: int
) -> pd.DataFrame:
    """One row per sample: times, calendar fields of the forecast time, side information, events.

    Args:
        index: the sample index (see :func:`~s2kd.data.splits.make_sample_index`).
        events: the source's event table (may be empty).
        time_context: per-timestamp side information (may be empty), e.g. ``is_holiday``.
        t_in: input frames per window.
        t_out: target frames per window.

    Returns:
        Columns ``sample_id, split, input_start, init_time, target_start, target_end, year, month,
        day, day_of_year, day_of_week, weekday, hour, minute, season, is_weekend, is_holiday``, the
        time-context columns at ``init_time`` and ``events`` (a JSON list, one object per event
        overlapping the window, with ``visible_in_input``, ``onset_in_target``, ``peak_in_target``,
        ``ends_in_target``).
    """
    t = pd.DatetimeIndex(index["init_time"])
    meta = index[["sample_id", "split", "input_start", "init_time", "target_start", "target_end"]].copy()
    meta["year"], meta["month"], meta["day"] = t.year, t.month, t.day
    meta["day_of_year"], meta["day_of_week"] = t.day_of_year, t.day_of_week
    meta["weekday"] = t.day_name()
    meta["hour"], meta["minute"] = t.hour, t.minute
    meta["season"] = [SEASONS[m] for m in t.month]
    meta["is_weekend"] = t.day_of_week >= 5
    meta["is_holiday"] = False
    if not time_context.empty:
        ctx = time_context.reindex(t)
        for col in ctx.columns:
            meta[col] = ctx[col].to_numpy()
        meta["is_holiday"] = meta["is_holiday"].fillna(False).astype(bool)
    has_events = not events.empty
    meta["events"] = [
        json.dumps(_event_records(events, int(s), t_in, t_out) if has_events else []) for s in index["start"]
    ]
    return meta.reset_index(drop=True)
