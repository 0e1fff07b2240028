"""What every model is scored against: PSNR's and SSIM's range from the training split (fixed, whatever
test windows are scored), and ACC's climatology fitted with the source's cycles or read from a file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from s2kd.errors import InputError
from s2kd.metrics import ALL, score_forecast
from s2kd.recipes.evaluation import EvaluateParams, scoring_windows

T_IN = T_OUT = 2
LAT, LON = np.array([60.0, 45.0, 30.0, 15.0]), np.arange(0.0, 360.0, 45.0)


def _data(n=120):
    rng = np.random.default_rng(0)
    times = pd.date_range("2013-01-01", periods=n, freq="6h")
    physical = 280 + 10 * rng.standard_normal((n, 1, len(LAT), len(LON)))
    physical[100:] += 25  # the test period is warmer than training: its own range would differ
    train = physical[:70]
    stats = {"channels": ["t"], "t_in": T_IN, "t_out": T_OUT, "offset": [float(train.mean())],
             "scale": [float(train.std())], "min": [float(train.min())], "max": [float(train.max())],
             "cycles": ["annual", "diurnal"]}
    normalised = (physical - stats["offset"][0]) / stats["scale"][0]
    series = xr.Dataset({"series": (("time", "channel", "y", "x"), normalised.astype(np.float32))},
                        coords={"time": times, "channel": ["t"], "lat": ("y", LAT), "lon": ("x", LON)},
                        attrs={"grid": "latlon"})
    starts = np.arange(n - T_IN - T_OUT + 1)
    split = np.where(starts < 66, "train", np.where(starts < 90, "val", "test"))
    index = pd.DataFrame({"sample_id": starts, "start": starts, "split": split})
    return series, index, stats


def test_psnr_and_ssim_ranges_are_the_training_splits_whatever_the_test_windows():
    series, index, stats = _data()
    every, few = (scoring_windows(series, index, stats, EvaluateParams(max_test_samples=k)) for k in (None, 3))
    want = (stats["max"][0] - stats["min"][0]) / stats["scale"][0]
    assert every.data_range.item() == pytest.approx(want) and few.data_range.item() == every.data_range.item()
    assert every.scoring()["data_range"] == {"t": pytest.approx(want)}
    # the same forecasts score the same PSNR and SSIM under either number of test windows
    truth = torch.from_numpy(np.stack([few.values[s + T_IN:s + T_IN + T_OUT] for s in few.rows["start"]])).double()
    pred = truth + 0.1
    scored = (replace(w.forecast_set(pred, truth), climatology=few.climatology) for w in (every, few))
    a, b = ({(r["metric"], r["channel"], r["lead"]): r["value"] for r in score_forecast(f, ["t"])} for f in scored)
    for key in [("psnr", ALL, 0), ("ssim", "t", 1), ("psnr_openstl", ALL, 0)]:
        assert a[key] == b[key]
    test_range = float(truth.max() - truth.min())  # what the old code took as the range
    assert abs(test_range - want) > 0.1 * want


def test_acc_can_be_scored_against_an_external_climatology(tmp_path):
    series, index, stats = _data()
    doy, hour = np.arange(1, 367), np.array([0, 6, 12, 18])
    values = 275.0 + np.zeros((len(doy), len(hour), len(LAT), len(LON)))
    values += hour[None, :, None, None] / 6.0  # a diurnal cycle of 3 K
    xr.Dataset({"tas": (("dayofyear", "hour", "latitude", "longitude"), values)},
               coords={"dayofyear": doy, "hour": hour, "latitude": LAT, "longitude": LON}).to_netcdf(tmp_path / "c.nc")
    p = EvaluateParams.model_validate({"climatology": {"path": str(tmp_path / "c.nc"),
                                                       "variables": {"t": {"variable": "tas"}}}})
    windows = scoring_windows(series, index, stats, p)
    assert windows.climatology_source == f"external: {tmp_path / 'c.nc'}"
    first = windows.rows["start"].iloc[0] + T_IN
    hour_of = series["time"].to_index()[first].hour
    want = (275.0 + hour_of / 6.0 - stats["offset"][0]) / stats["scale"][0]
    np.testing.assert_allclose(windows.climatology[0, 0].numpy(), want, rtol=1e-5)
    fitted = scoring_windows(series, index, stats, EvaluateParams())
    assert fitted.climatology_source == "fitted on the training split (annual, diurnal)"
    with pytest.raises(InputError, match=r"normalisation_stats: records no climatology cycles.*rerun"):
        scoring_windows(series, index, {k: v for k, v in stats.items() if k != "cycles"}, EvaluateParams())
