import h5py
import numpy as np
import pandas as pd
import pytest

from s2kd.data.sources.st_grid_h5 import load_st_grid_h5, parse_slots
from s2kd.errors import InputError


def test_slot_01_starts_at_midnight():
    t = parse_slots([b"2014080401", b"2014080402", b"2014080424"], 24, "f.h5")
    assert list(t) == [pd.Timestamp("2014-08-04 00:00"), pd.Timestamp("2014-08-04 01:00"),
                       pd.Timestamp("2014-08-04 23:00")]
    t48 = parse_slots(["2016080941", "2016080948"], None, "f.h5")  # inferred: 48 half-hour slots
    assert list(t48) == [pd.Timestamp("2016-08-09 20:00"), pd.Timestamp("2016-08-09 23:30")]


def test_bad_dates_name_the_file_and_fix():
    with pytest.raises(InputError, match=r"f.h5: dataset 'date'.*YYYYMMDDSS"):
        parse_slots([b"2014-08-04"], 24, "f.h5")
    with pytest.raises(InputError, match="slots_per_day"):
        parse_slots([b"2014080430"], 24, "f.h5")


def _write(path, n=72, slots=24, start="2015-03-06"):
    days = pd.date_range(start, periods=n // slots + 1, freq="D")
    dates = [f"{d:%Y%m%d}{s:02d}".encode() for d in days for s in range(1, slots + 1)][:n]
    with h5py.File(path, "w") as h:
        h["data"] = np.random.default_rng(0).poisson(5, size=(n, 2, 4, 3)).astype("float64")
        h["date"] = np.array(dates)
    return dates


def test_side_files_feed_the_time_context(tmp_path):
    _write(tmp_path / "bj.h5")
    (tmp_path / "holidays.txt").write_text("20150307\n")
    with h5py.File(tmp_path / "meteo.h5", "w") as h:
        dates = [f"2015030{d}{s:02d}".encode() for d in (6, 7, 8) for s in range(1, 25)]
        h["date"] = np.array(dates)
        h["Temperature"] = np.linspace(0, 10, 72)
        h["WindSpeed"] = np.ones(72)
        onehot = np.zeros((72, 17))
        onehot[:, 3] = 1
        h["Weather"] = onehot
    data = load_st_grid_h5(path=str(tmp_path / "bj.h5"), holidays_path=str(tmp_path / "holidays.txt"),
                           meteorology_path=str(tmp_path / "meteo.h5"))
    ctx = data.time_context
    assert ctx.loc[pd.Timestamp("2015-03-07 05:00"), "is_holiday"]
    assert not ctx.loc[pd.Timestamp("2015-03-06 05:00"), "is_holiday"]
    assert ctx["weather"].iloc[0] == "rainy"
    assert data.series.attrs["grid"] == "flow" and data.series.shape == (72, 2, 4, 3)


def test_several_files_are_concatenated_in_time(tmp_path):
    _write(tmp_path / "b.h5", start="2015-03-09")
    _write(tmp_path / "a.h5", start="2015-03-06")
    s = load_st_grid_h5(path=str(tmp_path / "*.h5")).series
    assert s.sizes["time"] == 144 and pd.DatetimeIndex(s.time.values).is_monotonic_increasing


def test_nycbike1(shared_data):
    s = load_st_grid_h5(path=str(shared_data / "bikenyc/NYCBike1_grid.h5")).series
    assert s.shape == (1369, 2, 16, 8)
    t = pd.DatetimeIndex(s.time.values)
    assert t[0] == pd.Timestamp("2014-08-04 23:00") and t[-1] == pd.Timestamp("2014-09-30 23:00")
    assert (t.to_series().diff().dropna() == pd.Timedelta("1h")).all()
    # the published daily cycle: fewest rides around 04-05 h, peaks at 08 h and 18 h
    by_hour = s.sum(("channel", "y", "x")).groupby("time.hour").mean().to_series()
    assert by_hour.idxmin() in (3, 4, 5) and by_hour.idxmax() in (8, 17, 18)
