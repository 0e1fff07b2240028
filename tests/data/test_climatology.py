import numpy as np
import pandas as pd
import pytest
import xarray as xr

from s2kd.data.climatology import climatology_at, fit_climatology, read_climatology
from s2kd.errors import InputError


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


def test_weather_leaves_out_the_week_and_flows_keep_it():
    times = pd.date_range("2013-01-01", periods=4 * 90, freq="6h")
    s = _series(times, np.random.default_rng(2).normal(size=(len(times), 1, 2, 2)))
    weather = fit_climatology(s, slice(0, 300), ["annual", "diurnal"])
    flows = fit_climatology(s, slice(0, 300), ["annual", "weekly", "diurnal"])
    assert not any(t.startswith("weekly") for t in weather.attrs["terms"])
    assert any(t.startswith("diurnal") for t in weather.attrs["terms"])
    assert sum(t.startswith("weekly") for t in flows.attrs["terms"]) == 3


def _wb2_file(path, lat, lon, fn):
    doy, hour = np.arange(1, 367), np.array([0, 6, 12, 18])
    d, h, y, x = np.meshgrid(doy, hour, lat, lon, indexing="ij")
    ds = xr.Dataset({"2m_temperature": (("dayofyear", "hour", "latitude", "longitude"), fn(d, h, y, x))},
                    coords={"dayofyear": doy, "hour": hour, "latitude": lat, "longitude": lon})
    ds.to_netcdf(path)
    return path


def test_an_external_weatherbench2_climatology_is_read_at_each_time_on_the_series_grid(tmp_path):
    lat, lon = np.array([60.0, 30.0, 0.0]), np.array([0.0, 90.0, 180.0, 270.0])

    def fn(d, h, y, x):
        return 250.0 + 0.1 * d + h + 0.01 * y + 0.001 * x

    path = _wb2_file(tmp_path / "clim.nc", lat[::-1], lon, fn)  # the file ascends; the series descends
    times = pd.DatetimeIndex(["2013-02-01 06:00", "2013-07-04 18:00"])
    got = read_climatology(str(path), {"t": ("2m_temperature", None)}, lat=lat, lon=lon, times=times)
    assert got.shape == (2, 1, 3, 4)
    want = fn(times.day_of_year.to_numpy()[:, None, None], times.hour.to_numpy()[:, None, None],
              lat[None, :, None], lon[None, None, :])
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-6)
    with pytest.raises(InputError, match=r"clim.nc.*another grid.*regrid the climatology"):
        read_climatology(str(path), {"t": ("2m_temperature", None)}, lat=lat + 1, lon=lon, times=times)
    with pytest.raises(InputError, match=r"no variable 'air' for channel 't'.*evaluate.climatology.variables"):
        read_climatology(str(path), {"t": ("air", None)}, lat=lat, lon=lon, times=times)
