"""Bad input gives an error naming the file or parameter and the fix, and leaves no output behind.

Each case runs the whole ``ingest`` pipeline as ``kedro run --pipeline ingest`` would, on a catalog
writing into a temp folder, and checks that the folder stays empty.
"""

from __future__ import annotations

import copy

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from kedro.validation import ParameterValidationError

from s2kd.errors import InputError
from s2kd.pipelines.ingest import create_pipeline
from tests.helpers import files_under, load_conf, run, tmp_catalog


def _nc(path, times, values=None, name="air", dims=("time", "lat", "lon")):
    shape = (len(times), 6, 8)[: len(dims)]
    values = np.random.default_rng(0).normal(280, 5, size=shape) if values is None else values
    coords = {"time": times} | ({"lat": np.linspace(60, 20, 6)} if "lat" in dims else {}) | (
        {"lon": np.arange(8) * 5.0} if "lon" in dims else {})
    xr.Dataset({name: (dims, values)}, coords=coords).to_netcdf(path, engine="h5netcdf")
    return path


def _times(n=200):
    return pd.date_range("2013-01-01", periods=n, freq="6h")


def _params(tmp_path, **xarray):
    conf = load_conf(None)
    params = copy.deepcopy(conf["parameters"]["ingest"])
    params["source"] = "xarray"
    params["xarray"].update(xarray)
    return params


def _bad_file(tmp_path, case):
    p = tmp_path / "in.nc"
    if case == "missing_file":
        return {"path": str(tmp_path / "nope.nc")}, {}, r"nope.nc.*no such file.*Fix: point ingest.xarray.path"
    if case == "corrupt_file":
        p.write_bytes(b"CDF\x01" + b"\x00garbage" * 50)
        return {"path": str(p)}, {}, r"in.nc.*could not read it.*Fix: check the file is complete"
    if case == "truncated_file":
        _nc(p, _times())
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3])
        return {"path": str(p)}, {}, r"in.nc.*could not read it"
    if case == "missing_variable":
        _nc(p, _times())
        return ({"path": str(p), "variables": ["t2m"]}, {},
                r"in.nc: variable 't2m'.*not in the file.*\['air'\].*Fix: set ingest.xarray.variables")
    if case == "missing_spatial_dims":
        _nc(p, _times(), values=np.zeros((200, 6)), dims=("time", "lat"))
        return ({"path": str(p)}, {},
                r"in.nc: variable 'air'.*needs a time dimension and two spatial.*Fix: name them in ingest.xarray.dims")
    if case == "extra_dim":
        t = _times()
        xr.Dataset({"air": (("time", "member", "lat", "lon"), np.zeros((200, 2, 6, 8)))},
                   coords={"time": t, "lat": np.arange(6.0), "lon": np.arange(8.0)}).to_netcdf(p)
        return {"path": str(p)}, {}, r"dimension\(s\) \['member'\].*Fix: pick one value with ingest.xarray.select"
    if case == "unordered_times":
        t = _times().values.copy()
        t[[50, 51]] = t[[51, 50]]
        _nc(p, pd.DatetimeIndex(t))
        return {"path": str(p)}, {}, r"in.nc.*not increasing.*Fix: sort the series by time"
    if case == "duplicate_times":
        t = _times().values.copy()
        t[60] = t[59]
        _nc(p, pd.DatetimeIndex(t))
        return {"path": str(p)}, {}, r"in.nc.*1 duplicate timestamp.*Fix: remove the repeated frames"
    if case == "gap_too_large":
        t = _times(210).delete(range(100, 105))
        _nc(p, t)
        return {"path": str(p)}, {}, r"in.nc.*gap of 5 missing step.*Fix: set ingest.validation.max_gap_steps: 5"
    if case == "irregular_step":
        t = _times().values.copy()
        t[100:] += np.timedelta64(1, "h")
        _nc(p, pd.DatetimeIndex(t))
        return {"path": str(p)}, {}, r"in.nc.*irregular.*Fix: resample"
    if case == "too_many_nan":
        v = np.random.default_rng(0).normal(280, 5, size=(200, 6, 8))
        v[:, :3] = np.nan
        _nc(p, _times(), values=v)
        return ({"path": str(p)}, {"max_nan_fraction": 0.1, "nan_fill": 0.0},
                r"in.nc.*50.0% NaN \(allowed: 10.0%\).*Fix: raise ingest.validation.max_nan_fraction")
    if case == "nan_without_fill":
        v = np.random.default_rng(0).normal(280, 5, size=(200, 6, 8))
        v[3, 2, 2] = np.nan
        _nc(p, _times(), values=v)
        return {"path": str(p)}, {"max_nan_fraction": 0.5}, r"in.nc.*holds 1 NaN.*Fix: set ingest.validation.nan_fill"
    if case == "infinite_values":
        v = np.random.default_rng(0).normal(280, 5, size=(200, 6, 8))
        v[7, 1, 1] = np.inf
        _nc(p, _times(), values=v)
        return {"path": str(p)}, {}, r"in.nc.*1 infinite value.*Fix: mask them as NaN"
    if case == "too_short":
        _nc(p, _times(20))
        return {"path": str(p)}, {}, r"in.nc.*too short: 20 steps.*Fix: use a series of at least"
    if case == "constant_channel":
        _nc(p, _times(), values=np.full((200, 6, 8), 273.15))
        return {"path": str(p)}, {}, r"in.nc.*\['air'\] are constant over the training split.*Fix:"
    raise AssertionError(case)


CASES = ["missing_file", "corrupt_file", "truncated_file", "missing_variable", "missing_spatial_dims", "extra_dim",
         "unordered_times", "duplicate_times", "gap_too_large", "irregular_step", "too_many_nan", "nan_without_fill",
         "infinite_values", "too_short", "constant_channel"]


@pytest.mark.parametrize("case", CASES)
def test_bad_file_is_a_clear_error_and_leaves_no_output(tmp_path, case):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    xarray, validation, pattern = _bad_file(inputs, case)
    params = _params(tmp_path, **xarray)
    params["validation"].update(validation)
    out = tmp_path / "out"
    catalog, _ = tmp_catalog(load_conf(None), out)
    catalog["params:ingest"] = params
    with pytest.raises(InputError, match=pattern):
        run(create_pipeline(), catalog)
    assert files_under(out) == [], "a failed ingest must not leave outputs"


def test_a_short_gap_is_filled_by_interpolation(tmp_path):
    t = _times(210).delete([100, 101])
    v = np.random.default_rng(0).normal(280, 5, size=(208, 6, 8))
    _nc(tmp_path / "in.nc", t, values=v)
    params = _params(tmp_path, path=str(tmp_path / "in.nc"))
    params["validation"]["max_gap_steps"] = 2
    catalog, _ = tmp_catalog(load_conf(None), tmp_path / "out")
    catalog["params:ingest"] = params
    run(create_pipeline(), catalog)
    series = catalog.load("series")["series"]
    assert series.sizes["time"] == 210
    raw = (series * 1).values  # normalised; interpolation is linear in either units
    np.testing.assert_allclose(raw[100], raw[99] + (raw[102] - raw[99]) / 3, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"source": "grib_magic"}, r"ingest.source: is 'grib_magic'.*Fix: use a value that is 'synthetic', 'xarray'"),
        ({"windows": {"t_in": 0, "t_out": 4}}, r"ingest.windows.t_in: is 0.*Fix: .* greater than or equal to 1"),
        ({"windows": {"t_in": 4, "t_out": 0}}, r"ingest.windows.t_out: is 0"),
        ({"splits": {"train": 0.8, "val": 0.15, "test": 0.15}}, r"ingest.splits.*sum to 1"),
        ({"normalisation": {"method": "robust"}}, r"ingest.normalisation.method.*zscore"),
        ({"synthetic": {"frames": 10}}, r"ingest.synthetic.frames: is not a parameter.*use one of .*'n_times'"),
        ({"source": "xarray"}, r"ingest.xarray.path: is not set"),
        ({"source": "st_grid_h5"}, r"ingest.st_grid_h5.path: is not set"),
    ],
)
def test_bad_parameters_fail_before_any_output(tmp_path, change, pattern):
    """Kedro builds ``params:ingest`` before the first node (a ParameterValidationError naming the
    parameter); a source without its file stops the first node. Either way nothing is written."""
    catalog, params = tmp_catalog(load_conf(None), tmp_path)
    params = copy.deepcopy(params["ingest"]) | change
    catalog["params:ingest"] = params
    with pytest.raises((ParameterValidationError, InputError), match=pattern):
        run(create_pipeline(), catalog)
    assert files_under(tmp_path) == []


def test_h5_without_dates_names_the_dataset(tmp_path):
    with h5py.File(tmp_path / "bj.h5", "w") as h:
        h["data"] = np.zeros((10, 2, 4, 4))
    catalog, params = tmp_catalog(load_conf(None), tmp_path / "out")
    params = copy.deepcopy(params["ingest"]) | {"source": "st_grid_h5"}
    params["st_grid_h5"]["path"] = str(tmp_path / "bj.h5")
    catalog["params:ingest"] = params
    with pytest.raises(InputError, match=r"bj.h5: dataset 'date'.*missing.*Fix: set ingest.st_grid_h5.date_key"):
        run(create_pipeline(), catalog)
    assert files_under(tmp_path / "out") == []
