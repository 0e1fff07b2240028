"""The ``synthetic`` source: determinism, layout, climatology and the events it records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from s2kd.data.sources import load_source
from s2kd.data.sources.base import EVENT_COLUMNS, SourceData
from s2kd.data.sources.synthetic import load_synthetic
from s2kd.data.sources.synthetic_events import SUDDEN_SITES, event_centre
from s2kd.errors import ParameterError

SMALL = {"n_times": 200, "height": 16, "width": 32, "events_per_year": 60.0, "sudden_per_year": 0.0}


@pytest.fixture(scope="module")
def pair():
    """The same seed with and without events."""
    return load_synthetic(seed=3, **SMALL), load_synthetic(seed=3, event_strength=0.0, **SMALL)


def _active(events: pd.DataFrame, n_times: int) -> np.ndarray:
    """Per step: is any event's envelope non-zero there."""
    active = np.zeros(n_times, dtype=bool)
    for _, e in events.iterrows():
        active[max(e.onset_step + 1, 0):min(e.end_step, n_times)] = True
    return active


def _distance(lat, lon, clat, clon):
    """The generator's distance (degrees), dlon wrapped and scaled by cos of the mean latitude."""
    dlon = (lon[None, :] - clon + 180.0) % 360.0 - 180.0
    coslat = np.cos(np.deg2rad(0.5 * (lat[:, None] + clat)))
    return np.sqrt((lat[:, None] - clat) ** 2 + (dlon * coslat) ** 2)


def test_same_seed_identical_other_seed_different():
    a, b, c = (load_synthetic(seed=s, **SMALL) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.series.values, b.series.values)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not np.array_equal(a.series.values, c.series.values)
    assert not a.events.equals(c.events)
    assert float(np.abs(a.series.values - c.series.values).mean()) > 0.5


def test_layout_coords_and_attrs():
    data = load_synthetic(seed=0, n_times=30, height=16, width=32, start="2014-03-01 06:00", step_hours=3.0)
    assert isinstance(data, SourceData)
    s = data.series
    assert s.name == "series" and s.dtype == np.float32
    assert s.dims == ("time", "channel", "y", "x") and s.shape == (30, 1, 16, 32)
    assert list(s["channel"].values) == ["t"]
    np.testing.assert_array_equal(s["y"].values, np.arange(16))
    np.testing.assert_array_equal(s["x"].values, np.arange(32))
    lat, lon = s["lat"].values, s["lon"].values
    assert s["lat"].dims == ("y",) and s["lon"].dims == ("x",)
    np.testing.assert_allclose(lat, np.linspace(-90 + 5.625, 90 - 5.625, 16))
    np.testing.assert_allclose(lon, np.arange(32) * 11.25)
    times = pd.DatetimeIndex(s["time"].values)
    assert s["time"].dtype == np.dtype("datetime64[ns]")
    assert times[0] == pd.Timestamp("2014-03-01 06:00")
    assert (np.diff(times.values) == np.timedelta64(3, "h")).all()
    assert s.attrs["grid"] == "latlon" and s.attrs["source"] == "synthetic"
    assert json.loads(s.attrs["units"]) == {"t": "K"}
    gen = json.loads(s.attrs["generator"])
    assert gen["seed"] == 0 and gen["n_times"] == 30 and gen["step_hours"] == 3.0 and gen["event_strength"] == 1.0
    assert data.time_context.empty
    assert np.isfinite(s.values).all()
    assert 200.0 < float(s.min()) and float(s.max()) < 340.0


def test_weatherbench_default_grid_is_the_5625_grid():
    s = load_synthetic(n_times=1, event_strength=0.0, sudden_strength=0.0).series
    assert s.shape == (1, 1, 32, 64)
    assert s["lat"].values[0] == pytest.approx(-87.1875) and s["lat"].values[-1] == pytest.approx(87.1875)
    assert s["lon"].values[1] == pytest.approx(5.625)


def test_event_table_columns_and_consistency():
    n = 400
    ev = load_synthetic(seed=5, n_times=n, height=8, width=16, events_per_year=80.0, sudden_per_year=0.0).events
    assert list(ev.columns) == EVENT_COLUMNS
    assert len(ev) > 10
    assert (ev.event_id.to_numpy() == np.arange(len(ev))).all()
    assert set(ev.type) <= {"heat_wave", "cold_outbreak", "storm"} and len(set(ev.type)) == 3
    assert set(ev.heading) <= {"north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"}
    assert (ev.onset_step < ev.peak_step).all() and (ev.peak_step < ev.end_step).all()
    assert (ev.end_step > 0).all() and (ev.onset_step < n - 1).all()  # overlaps the series
    assert (ev.onset_step < 0).any() or (ev.end_step >= n).any() or len(ev) < 20  # some are cut
    assert (ev.onset == pd.Timestamp("2013-01-01") + ev.onset_step * pd.Timedelta(hours=6)).all()
    assert (ev.end == pd.Timestamp("2013-01-01") + ev.end_step * pd.Timedelta(hours=6)).all()
    assert ((ev.lat0.abs() >= 30) & (ev.lat0.abs() <= 60)).all()
    assert (ev.lat0 > 0).any() and (ev.lat0 < 0).any()
    assert ((ev.lon0 >= 0) & (ev.lon0 < 360)).all()
    days = (ev.end_step - ev.onset_step) * 6 / 24
    for kind, lo, hi, sign in (("heat_wave", 3, 8, 1), ("cold_outbreak", 2, 6, -1), ("storm", 1, 3, -1)):
        sub = ev[ev.type == kind]
        assert ((days[sub.index] >= lo - 0.25) & (days[sub.index] <= hi + 0.25)).all(), kind
        assert (np.sign(sub.amplitude) == sign).all(), kind
    assert ev[ev.type == "heat_wave"].radius_deg.min() > ev[ev.type == "storm"].radius_deg.max()
    speed = np.hypot(ev.dlat_per_step, ev.dlon_per_step * np.cos(np.deg2rad(ev.lat0)))
    assert speed[ev.type == "storm"].min() > speed[ev.type == "heat_wave"].max()
    north = ev[ev.heading == "north"]
    assert (north.dlat_per_step > 0).all() and (north.dlon_per_step == 0).all()
    west = ev[ev.heading == "west"]
    assert (west.dlon_per_step < 0).all() and (west.dlat_per_step == 0).all()


def test_event_count_follows_events_per_year():
    years = 4 * 365.25 * 24 / 6
    ev = load_synthetic(seed=0, n_times=int(years), height=4, width=8, events_per_year=30.0, anomaly_std=0.0,
                        sudden_per_year=365.0).events
    assert 90 <= ev.type.isin(["heat_wave", "cold_outbreak", "storm"]).sum() <= 150
    assert 4 * 365 * 0.9 <= ev.type.isin(["cold_snap", "warm_surge"]).sum() <= 4 * 365 * 1.1
    assert load_synthetic(seed=0, n_times=400, height=4, width=8, events_per_year=0.0,
                          sudden_per_year=0.0).events.empty


def test_event_centre_moves_along_heading():
    row = pd.Series({"onset_step": 10, "lat0": 40.0, "lon0": 355.0, "dlat_per_step": 0.5, "dlon_per_step": 2.0})
    assert event_centre(row, 10) == (40.0, 355.0)
    lat, lon = event_centre(row, 14)
    assert lat == pytest.approx(42.0) and lon == pytest.approx(3.0)  # wrapped past 360
    lats, lons = event_centre(row, np.array([10, 12]))
    np.testing.assert_allclose(lats, [40.0, 41.0])
    np.testing.assert_allclose(lons, [355.0, 359.0])
    assert event_centre({**row.to_dict(), "dlat_per_step": 10.0}, 20)[0] <= 90.0


def test_event_strength_zero_keeps_background_and_event_list(pair):
    with_ev, without = pair
    ev, ev0 = with_ev.events, without.events
    assert len(ev) > 3
    pd.testing.assert_frame_equal(ev.drop(columns="amplitude"), ev0.drop(columns="amplitude"))
    assert (ev0.amplitude == 0).all() and (ev.amplitude != 0).all()
    a, b = with_ev.series.values, without.series.values
    quiet = ~_active(ev, a.shape[0])
    assert quiet.any() and (~quiet).any()
    np.testing.assert_array_equal(a[quiet], b[quiet])  # bit-identical wherever no event is active
    assert not np.array_equal(a[~quiet], b[~quiet])
    strong = load_synthetic(seed=3, event_strength=2.0, **SMALL)
    np.testing.assert_allclose(strong.events.amplitude, 2 * ev.amplitude)
    np.testing.assert_allclose(strong.series.values - b, 2 * (a - b), atol=1e-3)


def test_each_event_is_visible_at_its_peak(pair):
    with_ev, without = pair
    s = with_ev.series
    lat, lon = s["lat"].values, s["lon"].values
    diff = (s.values - without.series.values)[:, 0].astype(float)
    checked = 0
    for _, e in with_ev.events.iterrows():
        p = int(e.peak_step)
        if not 0 <= p < s.sizes["time"] or e.radius_deg < 10:  # cut off, or too small for this grid
            continue
        clat, clon = event_centre(e, p)
        d = _distance(lat, lon, clat, clon)
        near = d < 0.5 * e.radius_deg
        if not near.any():
            continue
        others = with_ev.events.drop(index=e.name)
        alone = all(
            not (o.onset_step < p < o.end_step)
            or _distance(np.array([clat]), np.array([clon]), *event_centre(o, p))[0,
                                                                                  0] > 3 * (o.radius_deg + e.radius_deg)
            for _, o in others.iterrows()
        )
        if not alone:
            continue
        iy = int(np.argmin(np.abs(lat - clat)))
        ix = int(np.argmin(np.abs((lon - clon + 180) % 360 - 180)))
        # at the centre: the full amplitude, less the blob's fall-off to the nearest grid point
        expected = e.amplitude * np.exp(-0.5 * d[iy, ix] ** 2 / e.radius_deg**2)
        assert diff[p, iy, ix] == pytest.approx(expected, rel=0.05, abs=0.05)
        assert abs(diff[p, iy, ix]) > 0.6 * abs(e.amplitude)
        far = d > 4 * e.radius_deg
        assert np.abs(diff[p][far]).max() < 0.02 * abs(e.amplitude)
        assert np.abs(diff[p][near]).mean() > 20 * np.abs(diff[p][far]).mean()
        # the envelope: nothing at onset, the peak in the middle
        assert np.abs(diff[max(int(e.onset_step), 0), iy, ix]) < abs(diff[p, iy, ix])
        checked += 1
    assert checked >= 2


def test_event_field_is_the_recorded_moving_blob_under_its_envelope(pair):
    """Rebuild every event's contribution from its table row alone and compare with the field."""
    with_ev, without = pair
    s = with_ev.series
    lat, lon = s["lat"].values, s["lon"].values
    n = s.sizes["time"]
    expected = np.zeros((n, lat.size, lon.size))
    for _, e in with_ev.events.iterrows():
        for step in range(max(int(e.onset_step), 0), min(int(e.end_step) + 1, n)):
            env = np.sin(np.pi * (step - e.onset_step) / (e.end_step - e.onset_step)) ** 2
            d = _distance(lat, lon, *event_centre(e, step))
            expected[step] += e.amplitude * env * np.exp(-0.5 * d**2 / e.radius_deg**2)
    diff = (s.values - without.series.values)[:, 0].astype(float)
    assert np.abs(expected).max() > 5
    np.testing.assert_allclose(diff, expected, atol=2e-3)
    # an event crossing the date line must be one blob, not cut at lon 0
    wrap = [e for _, e in with_ev.events.iterrows() if e.peak_step < n and min(e.lon0, 360 - e.lon0) < e.radius_deg]
    assert wrap, "the fixture should hold an event near lon 0"


SUDDEN = {"n_times": 160, "height": 16, "width": 32, "events_per_year": 0.0, "sudden_per_year": 150.0}


@pytest.fixture(scope="module")
def sudden_pair():
    """Sudden events only, at full strength and at zero (the dial's two ends)."""
    return load_synthetic(seed=6, **SUDDEN), load_synthetic(seed=6, sudden_strength=0.0, **SUDDEN)


def test_sudden_events_peak_half_a_day_after_onset_and_are_invisible_before(sudden_pair):
    """Cold snaps and warm surges rise from nothing at onset to the full amplitude 12 h later (sin^2 up,
    cos^2 down), so a window whose input ends at or before the onset has no trace of them."""
    on, off = sudden_pair
    ev = on.events
    assert set(ev.type) == {"cold_snap", "warm_surge"} and len(ev) > 12
    assert (ev.peak_step - ev.onset_step == 2).all()  # 12 h at 6-hourly steps
    days = (ev.end_step - ev.onset_step) * 6 / 24
    assert ((days >= 1.5 - 0.25) & (days <= 3 + 0.25)).all()
    assert (np.sign(ev[ev.type == "cold_snap"].amplitude) == -1).all()
    assert (np.sign(ev[ev.type == "warm_surge"].amplitude) == 1).all()
    # each forms near one of the genesis sites, and every site gets some
    site = np.array([s[:2] for s in SUDDEN_SITES])
    dlat = np.abs(ev.lat0.to_numpy()[:, None] - site[None, :, 0])
    dlon = np.abs((ev.lon0.to_numpy()[:, None] - site[None, :, 1] + 180) % 360 - 180)
    near = (dlat <= 3) & (dlon <= 3)
    assert near.any(axis=1).all() and near.any(axis=0).sum() >= 6
    # ... and takes that site's kind, so a narrative's place says what comes
    kind_of_site = np.array([s[2] for s in SUDDEN_SITES])
    assert (kind_of_site[near.argmax(axis=1)] == ev.type.to_numpy()).all()
    s = on.series
    lat, lon, n = s["lat"].values, s["lon"].values, s.sizes["time"]
    expected = np.zeros((n, lat.size, lon.size))
    for _, e in ev.iterrows():
        rise, fall = e.peak_step - e.onset_step, e.end_step - e.peak_step
        for step in range(max(int(e.onset_step), 0), min(int(e.end_step) + 1, n)):
            tau = step - e.onset_step
            env = (np.sin(0.5 * np.pi * tau / rise) ** 2 if tau <= rise
                   else np.cos(0.5 * np.pi * (tau - rise) / fall) ** 2)
            d = _distance(lat, lon, *event_centre(e, step))
            expected[step] += e.amplitude * env * np.exp(-0.5 * d**2 / e.radius_deg**2)
    diff = (s.values - off.series.values)[:, 0].astype(float)
    assert np.abs(expected).max() > 8
    np.testing.assert_allclose(diff, expected, atol=2e-3)
    # the dial at zero: the same rows with amplitude 0, and no trace in the field
    pd.testing.assert_frame_equal(ev.drop(columns="amplitude"), off.events.drop(columns="amplitude"))
    assert (off.events.amplitude == 0).all()
    np.testing.assert_array_equal(off.series.values, load_synthetic(seed=6, **{**SUDDEN, "sudden_per_year": 0.0}
                                                                    ).series.values)
    # an event starting after a window's last input frame leaves those frames untouched
    e = ev[(ev.onset_step > 10) & (ev.onset_step < n - 4)].iloc[0]
    others = ev.drop(index=e.name)
    before = [t for t in range(int(e.onset_step) + 1) if not ((others.onset_step < t) & (t < others.end_step)).any()]
    assert before and np.abs(diff[before]).max() == 0.0
    assert np.abs(diff[int(e.peak_step)]).max() > 0.5 * abs(e.amplitude)


def test_event_list_does_not_depend_on_the_background():
    kw = {"seed": 8, "n_times": 300, "height": 8, "width": 16}
    a = load_synthetic(anomaly_std=0.0, **kw).events
    b = load_synthetic(anomaly_std=5.0, **kw).events
    pd.testing.assert_frame_equal(a, b)
    assert len(a) > 0


def test_latitude_gradient_and_seasonal_cycle():
    data = load_synthetic(seed=0, n_times=365, height=16, width=32, step_hours=24.0, event_strength=0.0,
                          sudden_strength=0.0)
    s = data.series.isel(channel=0)
    lat = s["lat"].values
    zonal = s.mean(("time", "x")).values
    tropics, poles = zonal[np.abs(lat) < 20].mean(), zonal[np.abs(lat) > 70].mean()
    assert tropics > poles + 30
    assert 290 < tropics < 310 and 235 < poles < 265
    months = pd.DatetimeIndex(s["time"].values).month
    nh = s.sel(y=lat > 40).mean(("y", "x")).values
    sh = s.sel(y=lat < -40).mean(("y", "x")).values
    jul, jan = months == 7, months == 1
    assert nh[jul].mean() > nh[jan].mean() + 10  # northern summer in July
    assert sh[jan].mean() > sh[jul].mean() + 5  # southern summer in January
    assert np.argmax(nh) in range(170, 230)  # the warmest NH day is in summer


def test_diurnal_cycle_peaks_in_the_local_afternoon():
    data = load_synthetic(seed=0, n_times=8 * 60, height=8, width=16, step_hours=3.0, event_strength=0.0,
                          sudden_strength=0.0,
                          anomaly_std=0.0)
    s = data.series.isel(channel=0)
    hours = pd.DatetimeIndex(s["time"].values).hour
    eq = int(np.argmin(np.abs(s["lat"].values)))
    for ix in (0, 4):  # lon 0 and lon 90: local 15 h is 15 UTC and 9 UTC
        cell = s.isel(y=eq, x=ix).values
        by_hour = pd.Series(cell).groupby(hours).mean()
        local_peak = (by_hour.idxmax() + s["lon"].values[ix] / 15) % 24
        assert local_peak == pytest.approx(15, abs=1.5)
        assert by_hour.max() - by_hour.min() > 4
    polar = s.isel(y=0, x=0).values
    equator = s.isel(y=eq, x=0).values
    assert np.ptp(pd.Series(polar).groupby(hours).mean()) < np.ptp(pd.Series(equator).groupby(hours).mean()) / 3


def test_anomaly_std_sets_background_variability():
    kw = {"seed": 4, "n_times": 600, "height": 16, "width": 32, "event_strength": 0.0, "sudden_strength": 0.0}
    base = load_synthetic(anomaly_std=0.0, **kw).series.values.astype(float)
    anom = load_synthetic(anomaly_std=2.0, **kw).series.values.astype(float) - base
    assert anom.std() == pytest.approx(2.0, rel=0.25)
    assert anom[:300].std() == pytest.approx(anom[300:].std(), rel=0.25)  # stationary in variance
    lag1 = np.corrcoef(anom[1:].ravel(), anom[:-1].ravel())[0, 1]
    assert 0.6 < lag1 < 0.99  # persistent, evolving weather, not white noise
    assert not np.allclose(anom[0], anom[20], atol=0.5)


def test_anomalies_are_advected_eastward_in_the_jet():
    kw = {"seed": 2, "n_times": 400, "height": 32, "width": 64, "event_strength": 0.0, "sudden_strength": 0.0}
    base = load_synthetic(anomaly_std=0.0, **kw).series.values[:, 0].astype(float)
    anom = load_synthetic(anomaly_std=3.0, **kw).series.values[:, 0].astype(float) - base
    lat = load_synthetic(n_times=1, height=32, width=64).series["lat"].values
    rows = np.abs(np.abs(lat) - 45) < 6
    lags = np.arange(-5, 6)
    corr = [np.mean([np.corrcoef(np.roll(anom[:-1, r], k, axis=-1).ravel(), anom[1:, r].ravel())[0, 1]
                     for r in np.flatnonzero(rows)]) for k in lags]
    assert lags[int(np.argmax(corr))] > 0  # the next frame matches the previous one shifted east


@pytest.mark.parametrize(
    ("name", "value"),
    [("n_times", 0), ("height", 1), ("width", 1), ("step_hours", 0.0), ("step_hours", -6.0),
     ("anomaly_std", -1.0), ("event_strength", -0.5), ("events_per_year", -3.0), ("n_times", 2.5),
     ("start", "not a date")],
)
def test_bad_parameters_name_the_parameter(name, value):
    with pytest.raises(ParameterError, match=rf"ingest\.synthetic\.{name}") as info:
        load_synthetic(**{**SMALL, name: value})
    assert info.value.where == f"ingest.synthetic.{name}"
    assert info.value.fix


def test_registered_as_the_synthetic_source():
    data = load_source("synthetic", {"n_times": 10, "height": 4, "width": 8})
    assert data.series.shape == (10, 1, 4, 8)
