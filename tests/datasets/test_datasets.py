import pickle

import numpy as np
import pytest
import torch
import xarray as xr
from kedro.io import DataCatalog, DatasetError

from s2kd.datasets import APIKeyDataset, NetCDFDataset, NpzDataset, Secret, TorchModelDataset


def test_netcdf_round_trip_is_lazy_and_atomic(tmp_path, monkeypatch):
    ds = xr.Dataset({"series": (("time", "channel", "y", "x"), np.random.rand(5, 1, 2, 3).astype("float32"))})
    target = NetCDFDataset(filepath=str(tmp_path / "s.nc"))
    target.save(ds)
    loaded = target.load()
    assert loaded["series"].chunks is not None  # lazy
    np.testing.assert_array_equal(loaded["series"].values, ds["series"].values)

    def boom(self, path, **kw):
        path.write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises((OSError, DatasetError), match="disk full"):
        NetCDFDataset(filepath=str(tmp_path / "t.nc")).save(ds)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.nc"]  # no partial or temporary file


def test_npz_round_trip_with_meta(tmp_path):
    d = NpzDataset(filepath=str(tmp_path / "e.npz"))
    d.save({"tokens": np.ones((2, 3, 4), dtype=np.float16), "mask": np.array([[True, False, False]] * 2),
            "meta": {"model": "m", "max_length": 96}})
    out = d.load()
    assert out["tokens"].dtype == np.float16 and out["mask"].shape == (2, 3) and out["meta"] == {"model": "m",
                                                                                                 "max_length": 96}


def test_torch_model_is_versioned_plain_data(tmp_path):
    catalog = DataCatalog.from_config({"m": {"type": "s2kd.datasets.TorchModelDataset",
                                             "filepath": str(tmp_path / "m.pt"), "versioned": True}})
    catalog.save("m", {"kind": "simvp", "config": {"width": 8}, "state_dict": {"w": torch.arange(3.0)}})
    out = catalog.load("m")
    assert out["kind"] == "simvp" and torch.equal(out["state_dict"]["w"], torch.arange(3.0))
    assert len(list((tmp_path / "m.pt").iterdir())) == 1  # one timestamped version folder
    with pytest.raises(DatasetError, match="needs"):
        catalog.save("m", {"state_dict": {}})


def test_torch_model_refuses_a_corrupt_file(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"not a model")
    with pytest.raises(DatasetError, match="not a readable model file.*delete it and train again"):
        TorchModelDataset(filepath=str(tmp_path / "m.pt")).load()


def test_secret_never_shows(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-abc123")
    secret = APIKeyDataset(env_var="MY_KEY").load()
    assert secret.get() == "sk-abc123" and "sk-abc" not in f"{secret} {secret!r}"
    assert APIKeyDataset(env_var="MY_KEY", credentials={"api_key": "sk-cred"}).load().get() == "sk-cred"
    assert "sk-" not in str(APIKeyDataset(env_var="MY_KEY", credentials={"api_key": "sk-cred"}))
    with pytest.raises(TypeError):
        pickle.dumps(Secret("sk-x"))
    monkeypatch.delenv("MY_KEY")
    assert not APIKeyDataset(env_var="MY_KEY").load()
