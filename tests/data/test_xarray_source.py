import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from s2kd.data.sources import load_source, stores
from s2kd.data.sources.xarray_source import load_xarray
from s2kd.errors import InputError, ParameterError


def _wb_field(name, times, lat, lon, level=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (len(times),) + ((len(level),) if level is not None else ()) + (len(lat), len(lon))
    dims = ("time",) + (("level",) if level is not None else ()) + ("lat", "lon")
    coords = {"time": times, "lat": lat, "lon": lon} | ({"level": level} if level is not None else {})
    return xr.DataArray(rng.normal(size=shape).astype("float32"), dims=dims, coords=coords, name=name,
                        attrs={"units": "m**2 s**-2"})


def test_weatherbench1_folder_of_netcdf_per_variable_and_year(tmp_path):
    """WB1: one folder per variable, one file per year, merged and concatenated by coordinates."""
    lat, lon = np.linspace(-87.1875, 87.1875, 8), np.arange(16) * 22.5
    for year in (2016, 2017):
        times = pd.date_range(f"{year}-01-01", periods=10, freq="6h")
        for var, folder in (("z", "geopotential_500"), ("t", "temperature_850")):
            (tmp_path / folder).mkdir(exist_ok=True)
            da = _wb_field(var, times, lat, lon, seed=year)
            da.to_dataset().to_netcdf(tmp_path / folder / f"{folder}_{year}_5.625deg.nc", engine="h5netcdf")
    data = load_xarray(path=str(tmp_path), variables=["z", "t"])
    s = data.series
    assert s.dims == ("time", "channel", "y", "x") and s.shape == (20, 2, 8, 16)
    assert list(s.channel.values) == ["z", "t"] and s.attrs["grid"] == "latlon"
    np.testing.assert_allclose(s.lat.values, lat)
    assert pd.DatetimeIndex(s.time.values).is_monotonic_increasing
    # a glob gives the same data
    data2 = load_xarray(path=str(tmp_path / "*" / "*.nc"), variables=["z", "t"])
    np.testing.assert_array_equal(data2.series.values, s.values)


def _wb2_store(path, n_time=24):
    times = pd.date_range("2020-01-01", periods=n_time, freq="6h")
    lat, lon = np.linspace(-90, 90, 9), np.arange(18) * 20.0
    ds = xr.Dataset({
        "geopotential": _wb_field("geopotential", times, lat, lon,
                                  level=np.array([250, 500, 850])).rename(lat="latitude", lon="longitude"),
        "2m_temperature": _wb_field("2m_temperature", times, lat, lon, seed=3).rename(lat="latitude", lon="longitude"),
    })
    ds.chunk({"time": 4}).to_zarr(path, mode="w")
    return ds


def test_weatherbench2_zarr_with_levels_is_read_lazily(tmp_path):
    store = tmp_path / "wb2.zarr"
    ds = _wb2_store(store)
    data = load_xarray(path=str(store), variables=["geopotential"], level=[500, 850], chunks={})
    s = data.series
    assert isinstance(s.data, dask.array.Array), "the Zarr store must stay lazy"
    assert s.chunks[0][0] == 4  # the store's own time chunks survive
    assert list(s.channel.values) == ["geopotential500", "geopotential850"]
    np.testing.assert_allclose(s.sel(channel="geopotential500").values,
                               ds.geopotential.sel(level=500).values, rtol=1e-6)
    np.testing.assert_allclose(s.lat.values, ds.latitude.values)


def test_all_levels_become_channels_and_coarsening_averages(tmp_path):
    store = tmp_path / "wb2.zarr"
    ds = _wb2_store(store)
    s = load_xarray(path=str(store), variables=["geopotential"], coarsen={"time": 2, "x": 3}).series
    assert s.sizes["channel"] == 3 and s.sizes["time"] == 12 and s.sizes["x"] == 6
    expected = ds.geopotential.sel(level=250).isel(time=slice(0, 2), longitude=slice(0, 3)).mean(("time", "longitude"))
    np.testing.assert_allclose(s.isel(time=0, channel=0, x=0).values, expected.values, rtol=1e-5)


def test_dbz_transform_marshall_palmer(tmp_path):
    precip = np.array([0.0, 1.0 / 12, 10.0 / 12, np.nan], dtype="float32").reshape(4, 1, 1)
    xr.Dataset({"precip": (("time", "y", "x"), precip)},
               coords={"time": pd.date_range("2020", periods=4, freq="5min")}).to_netcdf(tmp_path / "r.nc")
    s = load_xarray(path=str(tmp_path / "r.nc"), transform="dbz",
                    transform_options={"rate_factor": 12, "zero_value": -15.0}).series.values.ravel()
    assert s[0] == -15.0
    assert s[1] == pytest.approx(10 * np.log10(200.0), rel=1e-5)  # 1 mm/h
    assert s[2] == pytest.approx(10 * np.log10(200.0 * 10**1.6), rel=1e-5)  # 10 mm/h
    assert np.isnan(s[3])  # NaN stays NaN for validation to handle


def test_ncep_air_temperature(shared_data):
    s = load_source("xarray", {"path": str(shared_data / "ncep_air_temperature/air_temperature.nc"),
                               "variables": ["air"]}).series
    assert s.shape == (2920, 1, 25, 53) and s.attrs["grid"] == "latlon"
    assert s.lat.values[0] == 75.0 and s.lon.values[0] == 200.0
    assert 200 < float(s.isel(time=0).mean()) < 320  # Kelvin


def test_era5_members_need_a_selection(shared_data):
    path = str(shared_data / "era5_levels/era5-levels-members.nc")
    with pytest.raises(InputError, match=r"dimension\(s\) \['number'\].*Fix: pick one value with ingest.xarray.select"):
        load_xarray(path=path, variables=["z"])
    s = load_xarray(path=path, variables=["z", "t"], level=[500], select={"number": 0}).series
    assert list(s.channel.values) == ["z500", "t500"] and s.shape == (4, 2, 61, 120)
    with pytest.raises(ParameterError, match="ingest.xarray.level"):
        load_xarray(path=path, variables=["z"], level=[300], select={"number": 0})


def test_knmi_radar_coarsened_to_at_most_128(shared_data):
    s = load_xarray(path=str(shared_data / "radar/knmi.nc"), variables=["precip"], coarsen={"y": 6, "x": 6},
                    clip_min=0.0, transform="dbz", transform_options={"rate_factor": 12}).series
    assert s.sizes["y"] <= 128 and s.sizes["x"] <= 128 and s.attrs["grid"] == "xy"
    assert isinstance(s.data, dask.array.Array)
    values = s.values
    assert np.isnan(values).any() and np.nanmax(values) > 20  # NaN outside coverage, real echoes inside


def test_auto_chunks_are_time_chunks_along_the_files_own_time_name_with_other_dims_whole(tmp_path, monkeypatch):
    """``chunks: auto``: about AUTO_CHUNK_BYTES per chunk along time (by the file's name for it, here
    ``date`` named in ``dims``), in whole stored chunks; the stored chunks of the grid are merged."""
    times = pd.date_range("2020-01-01", periods=48, freq="6h")
    lat, lon = np.linspace(-80, 80, 9), np.arange(18) * 20.0
    field = _wb_field("geopotential", times, lat, lon, level=np.array([250, 500, 850]))
    field.rename(time="date").to_dataset().chunk({"date": 4, "lat": 3}).to_zarr(tmp_path / "s.zarr", mode="w")
    step_bytes = 3 * 9 * 18 * 4
    monkeypatch.setattr(stores, "AUTO_CHUNK_BYTES", 10 * step_bytes)  # 10 steps, rounded down to 8 (stored: 4)
    options = {"path": str(tmp_path / "s.zarr"), "variables": ["geopotential"], "dims": {"time": "date"}}
    s = load_xarray(**options, level=[500]).series
    assert s.chunks[0] == (8,) * 6 and s.chunks[2:] == ((9,), (18,))
    monkeypatch.setattr(stores, "AUTO_CHUNK_BYTES", step_bytes)  # less than a stored chunk: the stored chunk
    s = load_xarray(**options).series
    assert s.chunks[0] == (4,) * 12
    np.testing.assert_allclose(s.sel(channel="geopotential500").values, field.sel(level=500).values, rtol=1e-6)
