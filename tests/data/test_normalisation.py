import numpy as np
import pandas as pd
import pytest
import xarray as xr

from s2kd.data.normalisation import compute_stats, denormalise, normalise
from s2kd.data.splits import make_sample_index, split_frames
from s2kd.errors import InputError


def _series(values):
    t, c, h, w = values.shape
    return xr.DataArray(values, dims=("time", "channel", "y", "x"),
                        coords={"time": pd.date_range("2020", periods=t, freq="h"),
                                "channel": [f"c{i}" for i in range(c)]})


def test_statistics_come_from_the_training_frames_only():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(120, 2, 4, 5)).astype("float32")
    index = make_sample_index(pd.date_range("2020", periods=120, freq="h"), t_in=3, t_out=2,
                              fractions={"train": 0.6, "val": 0.2, "test": 0.2})
    train = split_frames(index, "train", 5)
    stats = compute_stats(_series(values), train, method="zscore", where="t")
    changed = values.copy()
    changed[train.stop:] += 1000.0  # everything after the training frames
    stats2 = compute_stats(_series(changed), train, method="zscore", where="t")
    assert stats["offset"] == stats2["offset"] and stats["scale"] == stats2["scale"]
    np.testing.assert_allclose(stats["mean"], values[train].mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(stats["std"], values[train].std(axis=(0, 2, 3)), rtol=1e-4)
    changed_train = values.copy()
    changed_train[train.stop - 1] += 5.0  # last training frame
    assert compute_stats(_series(changed_train), train, method="zscore", where="t")["mean"] != stats["mean"]


@pytest.mark.parametrize("method", ["zscore", "minmax"])
def test_normalise_round_trip(method):
    values = np.random.default_rng(1).gamma(2.0, size=(50, 1, 3, 3)).astype("float32")
    s = _series(values)
    stats = compute_stats(s, slice(0, 30), method=method, where="t")
    n = normalise(s, stats)
    if method == "minmax":
        assert float(n.isel(time=slice(0, 30)).min()) == pytest.approx(0.0, abs=1e-6)
        assert float(n.isel(time=slice(0, 30)).max()) == pytest.approx(1.0, abs=1e-6)
    else:
        assert float(n.isel(time=slice(0, 30)).mean()) == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(denormalise(n, stats).values, values, rtol=1e-5, atol=1e-5)


def test_constant_channel_is_an_error():
    values = np.ones((40, 1, 2, 2), dtype="float32")
    with pytest.raises(InputError, match=r"constant over the training split"):
        compute_stats(_series(values), slice(0, 20), method="zscore", where="file.nc")
