"""The ``ingest`` pipeline: nodes called directly, then whole runs as ``kedro run`` would do them."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from s2kd.data.params import IngestParams
from s2kd.data.windows import WindowDataset
from s2kd.pipelines.ingest import create_pipeline
from s2kd.pipelines.ingest.nodes import (
    describe_samples,
    load_and_validate,
    normalise_series,
    split_and_fit,
)
from tests.helpers import load_conf, run, tmp_catalog

TINY = {"n_times": 240, "height": 8, "width": 16, "events_per_year": 60.0}


def _tiny_params():
    params = copy.deepcopy(load_conf(None)["parameters"]["ingest"])
    params["synthetic"].update(TINY)
    return params


def test_nodes_one_by_one():
    params = IngestParams.model_validate(_tiny_params())  # what Kedro hands the nodes
    raw, events, context = load_and_validate(params)
    assert raw["series"].dims == ("time", "channel", "y", "x") and raw["series"].shape == (240, 1, 8, 16)
    assert raw["valid"].shape == (8, 16) and float(raw["valid"].min()) == 1.0
    index, stats = split_and_fit(raw, params)
    train = index[index.split == "train"]
    frames = slice(train.start.min(), train.start.max() + 8)
    np.testing.assert_allclose(stats["mean"][0], float(raw["series"].isel(time=frames).mean()), rtol=1e-5)
    series = normalise_series(raw, stats)
    assert series["series"].dtype == np.float32
    assert abs(float(series["series"].isel(time=frames).mean())) < 1e-4
    meta = describe_samples(index, events, context, params)
    assert len(meta) == len(index) and (meta.sample_id == index.sample_id).all()
    assert {"season", "hour", "day_of_week", "is_weekend", "events"} <= set(meta.columns)
    with_events = [json.loads(e) for e in meta.events if e != "[]"]
    assert with_events, "a tiny synthetic year with many events must place some in windows"
    first = with_events[0][0]
    assert {"type", "heading", "visible_in_input", "onset_in_target"} <= set(first)


def test_whole_pipeline_on_the_synthetic_default(tmp_path):
    catalog, _ = tmp_catalog(load_conf(None), tmp_path)
    catalog["params:ingest"] = _tiny_params()
    run(create_pipeline(), catalog)
    for name in ("series.nc", "normalisation_stats.json", "sample_index.parquet", "sample_metadata.parquet"):
        assert (tmp_path / "data/03_primary/synthetic" / name).is_file(), name
    ds = catalog.load("series")
    index = catalog.load("sample_index")
    stats = catalog.load("normalisation_stats")
    assert stats["t_in"] == 4 and stats["grid"] == "latlon" and stats["units"] == {"t": "K"}
    windows = WindowDataset.from_index(ds["series"], index, "test", t_in=4, t_out=4)
    item = windows[0]
    assert item["x"].shape == (4, 1, 8, 16) and item["y"].shape == (4, 1, 8, 16)
    assert ds["series"].chunks is not None  # the stored series is opened lazily


@pytest.mark.parametrize("env", ["ncep", "bikenyc", "knmi"])
def test_each_shared_dataset_ingests_with_its_environment(tmp_path, shared_data, repo, monkeypatch, env):
    monkeypatch.chdir(repo)  # the environments name ../shared/data relative to the project root
    conf = load_conf(env)
    params = conf["parameters"]["ingest"]
    if shared_data != (repo.parent / "shared" / "data").resolve():  # data elsewhere (S2KD_SHARED_DATA)
        key = params["source"]
        params[key]["path"] = str(shared_data / params[key]["path"].split("shared/data/", 1)[1])
    catalog, _ = tmp_catalog(conf, tmp_path)
    catalog["params:ingest"] = params
    run(create_pipeline(), catalog)
    out = tmp_path / f"data/03_primary/{env}"
    assert sorted(p.name for p in out.iterdir()) == ["normalisation_stats.json", "sample_index.parquet",
                                                     "sample_metadata.parquet", "series.nc"]
    series = catalog.load("series")["series"]
    index, stats = catalog.load("sample_index"), catalog.load("normalisation_stats")
    w = stats["t_in"] + stats["t_out"]
    train = index[index.split == "train"]
    # statistics are those of the training frames, in physical (or transformed) units
    frames = series.isel(time=slice(int(train.start.min()), int(train.start.max()) + w))
    physical = frames * xr.DataArray(stats["scale"], dims="channel") + xr.DataArray(stats["offset"], dims="channel")
    if stats["method"] == "zscore":
        np.testing.assert_allclose(physical.mean(("time", "y", "x")).values, stats["mean"], rtol=1e-4)
    else:
        np.testing.assert_allclose(physical.max(("time", "y", "x")).values, stats["max"], rtol=1e-4)
    assert set(index.split) == {"train", "val", "test"}
    meta = catalog.load("sample_metadata")
    if env == "bikenyc":
        assert series.shape[1:] == (2, 16, 8)
        first = pd.Timestamp(series.time.values[0])
        assert first == pd.Timestamp("2014-08-04 23:00")  # slot 24 of 4 August
        row = meta.iloc[0]
        assert row.init_time == first + pd.Timedelta(hours=5) and row.hour == 4  # t_in = 6
    if env == "knmi":
        assert series.sizes["y"] <= 128 and series.sizes["x"] <= 128
        assert not np.isnan(series.values).any()
        valid = catalog.load("series")["valid"]
        assert 0.1 < float((valid > 0).mean()) < 0.9  # the radar's coverage, kept as a mask
    if env == "ncep":
        assert series.shape == (2920, 1, 25, 53)
        assert meta.season.iloc[0] == "DJF"
