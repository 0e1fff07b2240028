import numpy as np
import pandas as pd
import torch
import xarray as xr

from s2kd.data.splits import make_sample_index
from s2kd.data.windows import WindowDataset


def test_windows_have_the_canonical_shapes_and_values():
    values = np.arange(60 * 2 * 3 * 5, dtype="float32").reshape(60, 2, 3, 5)
    index = make_sample_index(pd.date_range("2020", periods=60, freq="h"), t_in=4, t_out=3,
                              fractions={"train": 0.6, "val": 0.2, "test": 0.2})
    ds = WindowDataset.from_index(values, index, "val", t_in=4, t_out=3)
    assert len(ds) == (index.split == "val").sum()
    item = ds[1]
    start = index[index.split == "val"].start.iloc[1]
    assert item["x"].shape == (4, 2, 3, 5) and item["y"].shape == (3, 2, 3, 5)
    assert torch.equal(item["x"], torch.from_numpy(values[start:start + 4]))
    assert torch.equal(item["y"], torch.from_numpy(values[start + 4:start + 7]))
    assert int(item["sample_id"]) == index[index.split == "val"].sample_id.iloc[1]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["x"].shape == (2, 4, 2, 3, 5)  # (B, T, C, H, W)


class _CountingArray:
    """An array that records which time steps were read."""

    def __init__(self, values):
        self.values_, self.read = values, []
        self.ndim, self.shape = values.ndim, values.shape

    def __getitem__(self, key):
        self.read.append((key.start, key.stop))
        return self.values_[key]


def test_windows_are_cut_lazily():
    values = np.random.default_rng(0).normal(size=(500, 1, 4, 4)).astype("float32")
    arr = _CountingArray(values)
    ds = WindowDataset(arr, [10, 200], t_in=2, t_out=3)
    assert arr.read == []  # nothing read at construction
    ds[1]
    assert arr.read == [(200, 205)]  # one window's frames only


def test_windows_read_from_a_lazy_netcdf(tmp_path):
    values = np.random.default_rng(0).normal(size=(40, 1, 4, 6)).astype("float32")
    da = xr.DataArray(values, dims=("time", "channel", "y", "x"), name="series")
    da.to_dataset().to_netcdf(tmp_path / "s.nc", engine="h5netcdf")
    lazy = xr.open_dataset(tmp_path / "s.nc", engine="h5netcdf", chunks={})["series"]
    ds = WindowDataset(lazy, [3], t_in=2, t_out=2)
    np.testing.assert_array_equal(ds[0]["y"].numpy(), values[5:7])
