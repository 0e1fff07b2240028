"""Train/val/test splits of window starts: contiguous in time with a purge gap, or whole segments.

A window starting at step ``s`` reads input frames ``s .. s+T_in-1`` and target frames
``s+T_in .. s+T_in+T_out-1``. A series may be made of segments (separate events, see
:func:`~s2kd.data.validation.time_axis`): a window never crosses from one segment into the next.

``by: time`` (the default): starts are cut into three contiguous blocks in time order; between two
blocks the starts whose windows would share a frame with the block before are dropped (the purge
gap: ``W - 1`` starts inside a segment, ``W = T_in + T_out``; none at a segment boundary), so no frame
belongs to windows of two splits.

``by: segment``: whole segments, in time order, go to train, then val, then test, the boundaries
placed so that each split's share of the windows is as near its fraction as whole segments allow.
No segment sits in two splits, so no purge is needed.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from s2kd.errors import InputError

SPLITS = ("train", "val", "test")
#: ``ingest.splits.by``
SPLIT_BY = ("time", "segment")

logger = logging.getLogger(__name__)


def window_starts(segment: np.ndarray, window: int) -> np.ndarray:
    """The steps a window of ``window`` frames may start at: those whose frames lie in one segment."""
    n = len(segment)
    starts = np.arange(max(n - window + 1, 0))
    return starts[segment[starts] == segment[starts + window - 1]]


def make_sample_index(
    times: pd.DatetimeIndex, *, t_in: int, t_out: int, fractions: dict[str, float], stride: int = 1,
    where: str = "series", segment: np.ndarray | None = None, by: str | None = None,
) -> pd.DataFrame:
    """The sample index: one row per window.

    Args:
        times: the time axis of the series (regular within each segment).
        t_in: input frames per window.
        t_out: target frames per window.
        fractions: share of window starts per split (``train``, ``val``, ``test``), summing to 1.
        stride: keep every ``stride``-th start inside each split.
        where: the source, for error messages.
        segment: the segment of each time step (non-decreasing from 0); ``None``: one segment.
        by: ``time`` (``None`` too) or ``segment``, see the module docstring.

    Returns:
        Columns ``sample_id, split, start, input_start, init_time, target_start, target_end,
        segment``; ``init_time`` is the last input frame's time (when the forecast is made).
    """
    assert by in (None, *SPLIT_BY), f"by must be None or one of {SPLIT_BY}, not {by!r}"
    n, w = len(times), t_in + t_out
    seg = np.zeros(n, dtype=np.int64) if segment is None else np.asarray(segment, dtype=np.int64)
    assert len(seg) == n and (np.diff(seg) >= 0).all(), "segment must number each time step, non-decreasing"
    starts = window_starts(seg, w)
    short = np.setdiff1d(np.unique(seg), seg[starts])
    if len(short):
        logger.warning("%s: %d segment(s) shorter than a window of %d steps give no window: %s", where, len(short), w,
                       short.tolist()[:20])
    if by == "segment":
        blocks = _by_segment(starts, seg, fractions, where)
    else:
        blocks = _by_time(starts, t_in, t_out, fractions, where, n)
    index = pd.concat([pd.DataFrame({"split": split, "start": blocks[split][::stride]}) for split in SPLITS],
                      ignore_index=True)
    index.insert(0, "sample_id", np.arange(len(index)))
    s = index["start"].to_numpy()
    index["input_start"] = times[s]
    index["init_time"] = times[s + t_in - 1]
    index["target_start"] = times[s + t_in]
    index["target_end"] = times[s + w - 1]
    index["segment"] = seg[s]
    return index


def _by_time(starts: np.ndarray, t_in: int, t_out: int, fractions: dict[str, float], where: str,
             n: int) -> dict[str, np.ndarray]:
    """Contiguous blocks of ``starts`` in time order with purge gaps (one segment: ``W - 1`` starts)."""
    w = t_in + t_out
    gap = w - 1
    avail = len(starts) - 2 * gap
    counts = {s: int(np.floor(fractions[s] * max(avail, 0))) for s in ("train", "val")}
    counts["test"] = max(avail, 0) - counts["train"] - counts["val"]
    blocks: dict[str, np.ndarray] = {}
    before = None
    for split in SPLITS:
        # purge: the next block starts at the first window sharing no frame with the block before
        first = 0 if before is None else int(np.searchsorted(starts, before[-1] + w))
        blocks[split] = before = starts[first:] if split == "test" else starts[first:first + counts[split]]
        if min(counts.values()) < 1 or len(before) < 1:
            need = 2 * gap + w + 2 + int(np.ceil(max(1 / max(f, 1e-9) for f in fractions.values())))
            raise InputError(
                where,
                f"is too short: {n} steps give {counts} windows of {w} steps (T_in={t_in}, T_out={t_out}) "
                f"with purge gaps of {gap} steps",
                f"use a series of at least ~{need} steps, shorter windows (ingest.windows.t_in/t_out) or other "
                "split fractions (ingest.splits)",
            )
    return blocks


def _by_segment(starts: np.ndarray, seg: np.ndarray, fractions: dict[str, float],
                where: str) -> dict[str, np.ndarray]:
    """Whole segments in time order: the first ones to train, the next to val, the rest to test."""
    ids, per = np.unique(seg[starts], return_counts=True)  # segments with windows, in time order
    if len(ids) < len(SPLITS):
        raise InputError(
            where,
            f"has {len(ids)} segment(s) long enough for a window; splitting by segment needs at least 3 "
            "(train, val and test each take whole segments)",
            "give more events, or set ingest.splits.by: time to cut the windows in time with purge gaps",
        )
    cum = np.cumsum(per) / per.sum()  # share of the windows in segments 0..k
    k1 = 1 + int(np.argmin(np.abs(cum[: len(ids) - 2] - fractions["train"])))  # train: segments [0, k1)
    target = fractions["train"] + fractions["val"]
    k2 = k1 + 1 + int(np.argmin(np.abs(cum[k1 : len(ids) - 1] - target)))  # val: [k1, k2), test: [k2, end)
    owner = dict.fromkeys(ids[:k1].tolist(), "train") | dict.fromkeys(ids[k1:k2].tolist(), "val")
    owner |= dict.fromkeys(ids[k2:].tolist(), "test")
    split_of = np.array([owner[int(s)] for s in seg[starts]])
    blocks = {split: starts[split_of == split] for split in SPLITS}
    logger.info("%s: segments %s to train, %s to val, %s to test", where, ids[:k1].tolist(), ids[k1:k2].tolist(),
                ids[k2:].tolist())
    return blocks


def split_frames(index: pd.DataFrame, split: str, window: int) -> slice:
    """The frames (a slice of steps) that the windows of one split read."""
    starts = index.loc[index["split"] == split, "start"]
    return slice(int(starts.min()), int(starts.max()) + window)
