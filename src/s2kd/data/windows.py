"""A torch ``Dataset`` that cuts ``T_in -> T_out`` windows lazily from the stored series."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch.utils.data import Dataset


class WindowDataset(Dataset):
    """Windows ``x (T_in, C, H, W) -> y (T_out, C, H, W)`` read on demand.

    The series is kept as given (a numpy array, or a lazily opened ``xarray.DataArray``): each item
    reads only its own ``T_in + T_out`` frames, so no window is ever materialised in advance.

    Args:
        series: the normalised series ``(time, channel, y, x)``.
        starts: the first input step of each window.
        t_in: input frames.
        t_out: target frames.
        sample_ids: an id per window, returned with it (defaults to ``0..len-1``).
    """

    def __init__(
        self, series: np.ndarray | xr.DataArray, starts: Sequence[int], *, t_in: int, t_out: int,
        sample_ids: Sequence[int] | None = None,
    ) -> None:
        assert series.ndim == 4, f"series must be (time, channel, y, x), got {series.shape}"
        self.series, self.t_in, self.t_out = series, int(t_in), int(t_out)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.sample_ids = np.arange(len(self.starts)) if sample_ids is None else np.asarray(sample_ids)
        last = int(self.starts.max(initial=-1)) + self.t_in + self.t_out
        assert last <= series.shape[0], f"a window ends at step {last} past the series' {series.shape[0]} steps"

    @classmethod
    def from_index(
        cls, series: np.ndarray | xr.DataArray, index: pd.DataFrame, split: str, *, t_in: int, t_out: int
    ) -> WindowDataset:
        """The windows of one split of a sample index."""
        rows = index[index["split"] == split]
        return cls(series, rows["start"].to_numpy(), t_in=t_in, t_out=t_out, sample_ids=rows["sample_id"].to_numpy())

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = int(self.starts[i])
        frames = self.series[s : s + self.t_in + self.t_out]  # (T_in+T_out, C, H, W)
        frames = np.asarray(frames.values if isinstance(frames, xr.DataArray) else frames, dtype=np.float32)
        return {
            "x": torch.from_numpy(frames[: self.t_in].copy()),
            "y": torch.from_numpy(frames[self.t_in :].copy()),
            "sample_id": torch.tensor(int(self.sample_ids[i])),
        }


def series_array(series: xr.Dataset) -> np.ndarray:
    """The normalised series of an ingested dataset as one float32 array ``(time, C, H, W)`` in memory
    (training and scoring read windows from it at random; docs/scaling.md says how big it may be)."""
    return np.asarray(series["series"].values, dtype=np.float32)
