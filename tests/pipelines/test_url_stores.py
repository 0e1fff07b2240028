"""A store at an fsspec URL ingests and trains through the same pipelines as a local path.

No remote store is reachable here: the URLs are fsspec's in-process ``memory://`` filesystem, a
zipped Zarr read through ``zip::``, and a test protocol that, like a bucket, refuses a request
without its token, given in ``conf/local/credentials.yml``.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import uuid

import mlflow
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from fsspec.implementations.memory import MemoryFileSystem
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from s2kd.errors import InputError
from s2kd.pipelines.distill import create_pipeline as distill_pipeline
from s2kd.pipelines.ingest import create_pipeline as ingest_pipeline
from s2kd.pipelines.train_teacher import create_pipeline as train_teacher_pipeline
from tests.helpers import files_under, load_conf, run, tiny, tmp_catalog

TOKEN = "s2kd-test-" + uuid.uuid4().hex


def _era5_like(n_time: int = 200) -> xr.Dataset:
    """A small ERA5-like field as in a WeatherBench 2 store: ``2m_temperature(valid_time, latitude, longitude)``."""
    t = np.arange(n_time, dtype=np.float32)[:, None, None]
    lat, lon = np.linspace(-80, 80, 8), np.arange(16) * 22.5
    wave = np.cos(np.deg2rad(lat))[None, :, None] * np.sin(np.deg2rad(lon)[None, None, :] + 0.3 * t)
    noise = np.random.default_rng(0).normal(size=(n_time, 8, 16))
    values = (280.0 + 8.0 * wave + noise).astype(np.float32)
    return xr.Dataset({"2m_temperature": (("valid_time", "latitude", "longitude"), values, {"units": "K"})},
                      coords={"valid_time": pd.date_range("2020-01-01", periods=n_time, freq="6h"),
                              "latitude": lat, "longitude": lon})


def _stores(tmp_path) -> dict[str, str]:
    """The same store at a local path, in fsspec's memory filesystem, and zipped (read through ``zip::``)."""
    ds = _era5_like().chunk({"valid_time": 50})
    local = tmp_path / "era5.zarr"
    ds.to_zarr(local, mode="w", zarr_format=2, consolidated=True)
    memory = f"memory://s2kd-{uuid.uuid4().hex}/era5.zarr"
    ds.to_zarr(memory, mode="w", zarr_format=2, consolidated=True)
    zipped = shutil.make_archive(str(tmp_path / "era5.zarr"), "zip", local)
    return {"local": str(local), "memory": memory, "zip": f"zip::file://{zipped}"}


def _catalog(root, path: str, **groups):
    ingest = {"source": "xarray", "xarray": {"path": path, "variables": ["2m_temperature"]}}
    return tmp_catalog(load_conf(None), root, tiny(ingest=ingest, **groups))[0]


def test_a_url_store_ingests_as_its_local_copy_and_trains_a_teacher_and_a_student(tmp_path):
    paths = _stores(tmp_path)
    out = {}
    for name, path in paths.items():
        catalog = _catalog(tmp_path / name, path)
        run(ingest_pipeline(), catalog)
        out[name] = catalog
    local = out["local"]
    series = local.load("series")["series"]
    assert series.shape == (200, 1, 8, 16) and series.attrs["source"] == paths["local"]
    for name in ("memory", "zip"):
        np.testing.assert_array_equal(out[name].load("series")["series"].values, series.values)
        pd.testing.assert_frame_equal(out[name].load("sample_index"), local.load("sample_index"))
        assert out[name].load("normalisation_stats")["offset"] == local.load("normalisation_stats")["offset"]
    # the URL's ingest trains like any other: the vision teacher and the plain student, one short epoch each
    budget = {"max_epochs": 1, "max_train_samples": 16, "max_val_samples": 8}
    catalog = _catalog(tmp_path / "memory", paths["memory"], train_teacher=budget, distill=budget)
    run(train_teacher_pipeline().only_nodes("teacher_vision.train")
        + distill_pipeline().only_nodes("student_student.train"), catalog)
    for name in ("teacher_vision", "student_student"):
        assert np.isfinite(catalog.load(f"{name}_validation")["best_val_mse"]), name


class _TokenFileSystem(MemoryFileSystem):
    """``s2kdtest://``: the memory filesystem behind a token, as a bucket behind its credentials."""

    protocol = ("s2kdtest",)

    def __init__(self, *args, token: str | None = None, **kwargs):
        if token != TOKEN:
            raise PermissionError("403 Forbidden: this bucket needs a token")
        super().__init__(*args, **kwargs)

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(str(path).replace("s2kdtest://", "memory://", 1))


@pytest.fixture
def token_protocol(monkeypatch):
    """``s2kdtest://`` registered with fsspec for one test (fsspec has no public way to unregister)."""
    monkeypatch.setitem(importlib.import_module("fsspec.registry")._registry, "s2kdtest", _TokenFileSystem)


def test_storage_options_come_from_conf_local_credentials_and_stay_out_of_logs_and_mlflow(project, token_protocol,
                                                                                         caplog):
    bucket = f"s2kd-{uuid.uuid4().hex}"
    _era5_like(120).to_zarr(f"memory://{bucket}/era5.zarr", mode="w", zarr_format=2, consolidated=True)
    params = {"ingest": {"source": "xarray", "xarray": {"path": f"s2kdtest://{bucket}/era5.zarr",
                                                        "variables": ["2m_temperature"]}}}
    bootstrap_project(project)
    with pytest.raises(InputError, match=r"403 Forbidden.*Fix: .*xarray_store in conf/local/credentials\.yml"):
        with KedroSession.create(project_path=project, runtime_params=params) as session:
            session.run(pipeline_names=["ingest"])
    assert files_under(project / "data") == []

    (project / "conf" / "local" / "credentials.yml").write_text(f"xarray_store:\n  token: {TOKEN}\n")
    caplog.set_level(logging.DEBUG)
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=["ingest"])
    index = pd.read_parquet(project / "data/03_primary/synthetic/sample_index.parquet")
    assert len(index) and set(index.split) == {"train", "val", "test"}
    assert TOKEN not in caplog.text
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    run_ = mlflow.search_runs(experiment_names=["s2kd"], output_format="list")[0]
    assert run_.data.params["ingest.xarray.path"] == f"s2kdtest://{bucket}/era5.zarr"
    assert TOKEN not in repr(run_.data.params) + repr(run_.data.tags)
