"""``forecast``: a trained student on NCEP frames it never saw (the last month of 2014, held back from
ingest as its own file) gives a CF-style NetCDF in kelvin with valid times after the last input, equal to
the student's eager output de-normalised; every bad input stops the run naming the file or parameter
and the fix, and writes nothing."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from s2kd.datasets import TrainedModelDataset
from s2kd.errors import InputError
from s2kd.models.export import OnnxRunner
from s2kd.pipelines.distill import create_pipeline as distill_pipeline
from s2kd.pipelines.export import create_pipeline as export_pipeline
from s2kd.pipelines.forecast import create_pipeline as forecast_pipeline
from s2kd.pipelines.ingest import create_pipeline as ingest_pipeline
from s2kd.recipes.jobs import load_model
from s2kd.serving import example_frames, log_forecaster
from tests.helpers import TINY_BUDGET, load_conf, run, tmp_catalog

HELD_BACK = "2014-12-01"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_data):
    """Ingest NCEP up to November 2014 (its own file), train the plain student for two epochs; the
    frames from December on are written apart, never read by ingest."""
    root = tmp_path_factory.mktemp("forecast")
    full = xr.open_dataset(shared_data / "ncep_air_temperature" / "air_temperature.nc")
    full.sel(time=slice(None, "2014-11-30")).to_netcdf(root / "train.nc")
    new = full.sel(time=slice(HELD_BACK, None))
    new.to_netcdf(root / "new.nc")
    conf = load_conf("ncep")
    overrides = {"ingest": {"xarray": {"path": str(root / "train.nc")}},
                 "distill": TINY_BUDGET | {"backbone": "unet"}, "trainer": {"enable_progress_bar": False}}
    catalog, params = tmp_catalog(conf, root, overrides)
    run(ingest_pipeline(), catalog)
    run(distill_pipeline().only_nodes_with_namespaces(["student_student"]), catalog)
    return root, conf, params, new


def _forecast(root, conf, params, model="student", folder=None, **forecast):
    catalog, _ = tmp_catalog(conf, root, {**{k: params[k] for k in ("ingest", "distill")},
                                          "forecast": {"model": model, **forecast}})
    catalog["forecast_model"] = TrainedModelDataset(folder=str(folder or root / "data/06_models/ncep"), model=model)
    out = root / "data/07_model_output/ncep/forecast_s2kd.nc"  # the entry's default name (forecast.model unset)
    out.unlink(missing_ok=True)
    run(forecast_pipeline(), catalog)
    return xr.open_dataset(out), catalog


def test_a_student_forecasts_frames_it_never_saw_in_physical_units(trained):
    root, conf, params, new = trained
    out, catalog = _forecast(root, conf, params, input=str(root / "new.nc"))
    assert list(out.data_vars) == ["air"] and out["air"].dims == ("time", "y", "x")
    assert out["air"].shape == (4, 25, 53) and out["air"].attrs["units"] == new["air"].attrs["units"]
    last = pd.Timestamp(new.time.values[-1])
    assert list(pd.DatetimeIndex(out.time.values)) == [last + pd.Timedelta(hours=6 * k) for k in (1, 2, 3, 4)]
    np.testing.assert_allclose(out.lat.values, new.lat.values) and np.testing.assert_allclose(out.lon.values,
                                                                                                new.lon.values)
    assert out.attrs["s2kd_model"] == "student" and out.attrs["s2kd_method"] == "student"
    assert out.attrs["Conventions"].startswith("CF") and out.attrs["s2kd_commit"]
    # the student's own eager output on the last four frames, de-normalised by hand
    stats = catalog.load("normalisation_stats")
    payload = catalog.load("student_student")
    x = (new["air"].values[-4:] - stats["offset"][0]) / stats["scale"][0]
    with torch.no_grad():
        y = load_model(payload).eval()(torch.from_numpy(x[None, :, None].astype(np.float32)))["y_hat"][0, :, 0]
    np.testing.assert_allclose(out["air"].values, y.numpy() * stats["scale"][0] + stats["offset"][0], rtol=1e-5)
    assert 200 < float(out["air"].min()) and float(out["air"].max()) < 330  # kelvin, not normalised units


def _write(root, name, ds):
    path = root / name
    ds.to_netcdf(path)
    return str(path)


@pytest.mark.parametrize("case, where", [
    ("unset", "forecast.input"),
    ("missing", "forecast.input"),
    ("variables", "new_variables.nc"),
    ("grid", "new_grid.nc"),
    ("step", "new_step.nc"),
    ("few", "new_few.nc"),
    ("nan", "new_nan.nc"),
    ("stats", "normalisation_stats"),
    ("model", "student_nope"),
])
def test_each_bad_input_is_named_with_its_fix_and_writes_nothing(trained, case, where):
    root, conf, params, new = trained
    model, forecast, folder = "student", {}, None
    if case == "missing":
        forecast["input"] = str(root / "nowhere.nc")
    elif case == "variables":
        forecast["input"] = _write(root, "new_variables.nc", new.rename({"air": "t2m"}))
    elif case == "grid":
        forecast["input"] = _write(root, "new_grid.nc", new.isel(lat=slice(0, 20)))
    elif case == "step":
        forecast["input"] = _write(root, "new_step.nc", new.isel(time=slice(None, None, 2)))
    elif case == "few":
        forecast["input"] = _write(root, "new_few.nc", new.isel(time=slice(-2, None)))
    elif case == "nan":
        broken = new.copy(deep=True)
        broken["air"][-1, :5, :5] = np.nan
        forecast["input"] = _write(root, "new_nan.nc", broken)
    elif case == "stats":  # a model trained on other statistics (another dataset's normalisation)
        forecast["input"] = str(root / "new.nc")
        other = root / "other_models"
        payload = TrainedModelDataset(folder=str(root / "data/06_models/ncep"), model="student").load()
        payload["meta"]["data"]["offset"] = [payload["meta"]["data"]["offset"][0] + 5.0]
        version = other / "students" / "student.pt" / "2026-12-01T00.00.00.000Z"
        version.mkdir(parents=True, exist_ok=True)
        torch.save(payload, version / "student.pt")
        folder = other
    elif case == "model":
        forecast["input"], model = str(root / "new.nc"), "student_nope"
    with pytest.raises(Exception) as caught:
        _forecast(root, conf, params, model=model, folder=folder, **forecast)
    message = str(caught.value)
    assert where in message and ("Fix:" in message or "fix" in message.lower()), message
    assert not (root / "data/07_model_output/ncep").exists() or not any((root / "data/07_model_output/ncep").iterdir())
    if case not in ("variables", "model"):
        assert isinstance(caught.value, InputError) or isinstance(caught.value.__cause__, InputError), message


def test_the_student_exports_to_onnx_and_forecasts_the_same_numbers_in_onnx_runtime(trained):
    root, conf, params, new = trained
    catalog, _ = tmp_catalog(conf, root, {**{k: params[k] for k in ("ingest", "distill")},
                                          "forecast": {"model": "student"}})
    catalog["forecast_model"] = TrainedModelDataset(folder=str(root / "data/06_models/ncep"), model="student")
    run(export_pipeline(), catalog)
    report = catalog.load("export_report")
    assert report["max_abs_diff"] <= 1e-5 and set(report["max_abs_diff_by_batch"]) == {"1", "16"}
    # the saved graph, independently: dynamic batch, the student's eager numbers
    runner = OnnxRunner(catalog.load("exported_model"))
    net = load_model(catalog.load("student_student")).eval()
    for batch in (1, 5):
        x = torch.randn(batch, 4, 1, 25, 53)
        with torch.no_grad():
            eager = net(x)["y_hat"].numpy()
        assert np.abs(runner(x.numpy()) - eager).max() <= 1e-5
    eager, _ = _forecast(root, conf, params, input=str(root / "new.nc"))
    eager = eager.load()
    onnx, _ = _forecast(root, conf, params, input=str(root / "new.nc"), runtime="onnx")
    assert onnx.attrs["s2kd_runtime"] == "onnxruntime" and float(onnx.attrs["s2kd_onnx_max_abs_diff"]) <= 1e-5
    np.testing.assert_allclose(onnx["air"].values, eager["air"].values, atol=1e-3)  # kelvin


def test_the_student_as_an_mlflow_model_forecasts_what_the_pipeline_writes(trained, tmp_path):
    """Logged with its signature and input example and registered, then loaded with pyfunc: its forecast
    of the new file's last frames equals the forecast pipeline's NetCDF."""
    root, conf, params, new = trained
    out, catalog = _forecast(root, conf, params, input=str(root / "new.nc"))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("serving", artifact_location=str(tmp_path / "artifacts"))
    with mlflow.start_run(experiment_id=experiment) as run:
        pass
    stats, payload = catalog.load("normalisation_stats"), catalog.load("student_student")
    example = example_frames(catalog.load("series"), catalog.load("sample_index"), stats)
    uri = log_forecaster(run.info.run_id, payload, stats, example, registered_name="s2kd-ncep-student")
    (version,) = mlflow.tracking.MlflowClient().search_model_versions("name = 's2kd-ncep-student'")
    assert version.run_id == run.info.run_id
    loaded = mlflow.pyfunc.load_model(f"models:/s2kd-ncep-student/{version.version}")
    inputs = loaded.metadata.get_input_schema().inputs[0]
    assert inputs.shape == (-1, 4, 1, 25, 53) and inputs.type == np.dtype("float32")
    frames = new["air"].values[-4:][None, :, None].astype(np.float32)  # kelvin, as in the file
    np.testing.assert_allclose(loaded.predict(frames)[0, :, 0], out["air"].values, rtol=1e-6)
    assert mlflow.pyfunc.load_model(uri).predict(np.repeat(frames, 3, axis=0)).shape == (3, 4, 1, 25, 53)
    # a kedro run started again after a kill logs its students to the same runs: once per run, registered once
    client = mlflow.tracking.MlflowClient()
    assert log_forecaster(run.info.run_id, payload, stats, example, registered_name="s2kd-ncep-student") == uri
    assert len(mlflow.search_logged_models(experiment_ids=[experiment], output_format="list")) == 1
    assert len(client.search_model_versions("name = 's2kd-ncep-student'")) == 1
    # killed between logging and registering: the next run registers the model it finds
    assert log_forecaster(run.info.run_id, payload, stats, example, registered_name="s2kd-ncep-other") == uri
    assert [v.source for v in client.search_model_versions("name = 's2kd-ncep-other'")] == [uri]


@pytest.mark.parametrize("transform, options", [("log1p", {}), ("dbz", {"rate_factor": 12, "threshold_mmh": 0.1,
                                                                        "zero_value": -15})])
def test_the_inverse_transforms_give_back_the_source_values(transform, options):
    """What ingest's transform does to rain amounts, the forecast's inverse undoes (below the dBZ
    threshold, no rain)."""
    from s2kd.data.sources.xarray_source import apply_transform
    from s2kd.recipes.forecast import inverse_transform

    amounts = xr.DataArray(np.array([0.0, 0.005, 0.02, 0.5, 3.0, 40.0]), dims="x")
    back = inverse_transform(apply_transform(amounts, transform, options), transform, options)
    if transform == "dbz":  # 0.005 mm per 5 min is 0.06 mm/h, under the 0.1 mm/h threshold: no rain
        np.testing.assert_allclose(back.values, [0.0, 0.0, 0.02, 0.5, 3.0, 40.0], rtol=1e-6)
    else:
        np.testing.assert_allclose(back.values, amounts.values, rtol=1e-9)
