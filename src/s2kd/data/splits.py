"""Contiguous train/val/test splits of window starts, separated by a purge gap.

A window starting at step ``s`` reads input frames ``s .. s+T_in-1`` and target frames
``s+T_in .. s+T_in+T_out-1``. Starts are cut into three contiguous blocks in time order; between
two blocks ``W - 1`` starts are dropped (``W = T_in + T_out``), so no frame belongs to windows of
two splits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from s2kd.errors import InputError

SPLITS = ("train", "val", "test")


def make_sample_index(
    times: pd.DatetimeIndex, *, t_in: int, t_out: int, fractions: dict[str, float], stride: int = 1,
    where: str = "series"
) -> pd.DataFrame:
    """The sample index: one row per window.

    Args:
        times: the regular time axis of the series.
        t_in: input frames per window.
        t_out: target frames per window.
        fractions: share of window starts per split (``train``, ``val``, ``test``), summing to 1.
        stride: keep every ``stride``-th start inside each split.
        where: the source, for error messages.

    Returns:
        Columns ``sample_id, split, start, input_start, init_time, target_start, target_end``;
        ``init_time`` is the last input frame's time (when the forecast is made).
    """
    n, w = len(times), t_in + t_out
    gap = w - 1
    n_starts = n - w + 1
    avail = n_starts - 2 * gap
    counts = {s: int(np.floor(fractions[s] * max(avail, 0))) for s in ("train", "val")}
    counts["test"] = max(avail, 0) - counts["train"] - counts["val"]
    if min(counts.values()) < 1:
        need = 2 * gap + w + 2 + int(np.ceil(max(1 / max(f, 1e-9) for f in fractions.values())))
        raise InputError(
            where,
            f"is too short: {n} steps give {counts} windows of {w} steps (T_in={t_in}, T_out={t_out}) "
            f"with purge gaps of {gap} steps",
            f"use a series of at least ~{need} steps, shorter windows (ingest.windows.t_in/t_out) or other "
            "split fractions (ingest.splits)",
        )
    firsts = {"train": 0, "val": counts["train"] + gap}
    firsts["test"] = firsts["val"] + counts["val"] + gap
    rows = []
    for split in SPLITS:
        starts = np.arange(firsts[split], firsts[split] + counts[split], stride)
        rows.append(pd.DataFrame({"split": split, "start": starts}))
    index = pd.concat(rows, ignore_index=True)
    index.insert(0, "sample_id", np.arange(len(index)))
    s = index["start"].to_numpy()
    index["input_start"] = times[s]
    index["init_time"] = times[s + t_in - 1]
    index["target_start"] = times[s + t_in]
    index["target_end"] = times[s + w - 1]
    return index


def split_frames(index: pd.DataFrame, split: str, window: int) -> slice:
    """The frames (a slice of steps) that the windows of one split read."""
    starts = index.loc[index["split"] == split, "start"]
    return slice(int(starts.min()), int(starts.max()) + window)
