"""A torch ``Dataset`` that cuts ``T_in -> T_out`` windows lazily from the stored series, held in memory or
read window by window from its file (:func:`series_source`, chosen by the ``loading`` parameters)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch.utils.data import Dataset

from s2kd.errors import InputError

logger = logging.getLogger(__name__)
MIB = 2**20


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
        cls, series: np.ndarray | xr.DataArray | SeriesFile, index: pd.DataFrame, split: str, *, t_in: int, t_out: int
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


class ProcessHandle:
    """An open file handle per process: opened on first use in each process (a DataLoader worker, a DDP rank),
    never pickled (a copy sent to a worker opens its own), so that handles are never shared across a fork."""

    _handle: Any = None
    _pid: int | None = None

    def _open(self) -> Any:
        raise NotImplementedError

    @property
    def handle(self) -> Any:
        if self._handle is None or self._pid != os.getpid():
            self._handle, self._pid = self._open(), os.getpid()
        return self._handle

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle": None, "_pid": None}


class SeriesFile(ProcessHandle):
    """The normalised series ``(time, C, H, W)`` read from its netCDF file frame range by frame range.

    ``series.nc`` is HDF5 with time as its slowest axis, so the frames of a window are one run of bytes: one
    h5py read per window (through the training loader about twice the cost of a slice in memory and a
    hundredth of a read through xarray and dask; docs/scaling.md), and memory holds only the windows in
    flight. ``frames_read`` counts the frames this process read (a DDP rank reads only its shard's).

    Args:
        path: the netCDF (HDF5) file.
        variable: the variable holding the series.
    """

    ndim = 4

    def __init__(self, path: str | Path, variable: str = "series") -> None:
        self.path, self.variable, self.frames_read = str(path), variable, 0
        try:
            ds = self.handle
        except (OSError, KeyError) as exc:
            raise InputError(self.path, f"cannot read the variable {variable!r} with h5py ({exc})",
                             "re-run `kedro run --pipeline ingest`, or set loading.store: memory") from None
        packed = sorted(set(ds.attrs) & {"scale_factor", "add_offset"})
        fill = ds.attrs.get("_FillValue")
        if fill is not None and not np.isnan(np.asarray(fill, dtype=np.float64)).all():
            packed.append(f"_FillValue {fill}")  # xarray would read those values as NaN
        if ds.ndim != 4 or ds.dtype != np.float32 or packed:
            raise InputError(self.path, f"{variable!r} is {ds.dtype} {ds.shape}{' packed by ' if packed else ''}"
                             f"{'/'.join(packed)}, not plain float32 (time, channel, y, x)",
                             "re-run `kedro run --pipeline ingest`, or set loading.store: memory")
        self.shape: tuple[int, ...] = tuple(int(n) for n in ds.shape)

    def _open(self) -> Any:
        return h5py.File(self.path, "r")[self.variable]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> np.ndarray:
        frames = np.asarray(self.handle[key], dtype=np.float32)
        self.frames_read += len(frames)
        return frames


def series_array(series: xr.Dataset) -> np.ndarray:
    """The normalised series of an ingested dataset as one float32 array ``(time, C, H, W)`` in memory."""
    return np.asarray(series["series"].values, dtype=np.float32)


def series_source(series: xr.Dataset, loading: Any) -> np.ndarray | SeriesFile:
    """Where windows are read from, by the ``loading`` parameters (:class:`s2kd.data.params.LoadingParams`):
    the series in memory, or its file (``store: file``; ``auto``: the file when the series is larger than
    ``max_memory_mib``). Both give the same windows, bit for bit."""
    mib = series["series"].size * 4 / MIB
    use_file = loading.store == "file" or (loading.store == "auto" and mib > loading.max_memory_mib)
    source = series.encoding.get("source")
    if use_file and not source:
        if loading.store == "file":
            raise InputError("loading.store", "is file, but the series was not read from a file",
                             "load `series` from the catalog, or set loading.store: memory")
        use_file = False
    logger.info("windows read from %s (series %.0f MiB, loading.store: %s, max_memory_mib: %s)",
                f"the file {source}" if use_file else "memory", mib, loading.store, loading.max_memory_mib)
    return SeriesFile(source) if use_file else series_array(series)
