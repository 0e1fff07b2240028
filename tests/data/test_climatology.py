import numpy as np
import pandas as pd
import xarray as xr

from s2kd.data.climatology import climatology_at, fit_climatology


def _series(times, values):
    return xr.DataArray(values, dims=("time", "channel", "y", "x"), coords={"time": times})


def test_recovers_annual_and_diurnal_cycles_and_extrapolates():
    times = pd.date_range("2013-01-01", periods=4 * 365, freq="6h")
    days = np.asarray((times - pd.Timestamp("2000-01-01")) / pd.Timedelta(days=1))
    truth = 280 + 10 * np.cos(2 * np.pi * days / 365.2425) + 3 * np.sin(2 * np.pi * days)
    noise = np.random.default_rng(0).normal(0, 0.5, size=len(times))
    s = _series(times, (truth + noise).reshape(-1, 1, 1, 1) * np.ones((1, 1, 2, 3)))
    train = slice(0, 1000)  # ~8 months: the last months are never seen
    clim = fit_climatology(s, train)
    assert any(t.startswith("annual") for t in clim.attrs["terms"])
    est = climatology_at(clim, times)[:, 0, 0, 0]
    np.testing.assert_allclose(est[:1000], truth[:1000], atol=0.3)
    assert np.abs(est[1000:] - truth[1000:]).max() < 1.5  # smooth extrapolation to unseen months


def test_short_series_fall_back_to_the_mean():
    times = pd.date_range("2010-08-26", periods=40, freq="5min")
    values = np.random.default_rng(1).normal(size=(40, 1, 3, 3))
    clim = fit_climatology(_series(times, values), slice(0, 30))
    assert clim.attrs["terms"] == []
    np.testing.assert_allclose(climatology_at(clim, times[:2])[0], values[:30].mean(0), atol=1e-5)
