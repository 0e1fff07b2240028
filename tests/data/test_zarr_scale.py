"""Ingest of a WeatherBench-2-like Zarr store several times larger than the memory it may use.

The store (float32 ``geopotential(time, level, latitude, longitude)`` on two levels and
``2m_temperature(time, latitude, longitude)`` on a 1-degree grid, one Zarr chunk per time step as in
WeatherBench 2, about 1.1 GB uncompressed) is written chunk by chunk. The ``ingest`` pipeline then
runs on it in a fresh Python process, as ``kedro run`` would, and that process reads the written
series window by window with :class:`~s2kd.data.windows.WindowDataset`; its peak resident memory
(``VmHWM`` of ``/proc/self/status``) is compared with its memory after the imports. Not
``ru_maxrss``: Linux carries the parent's peak across fork and exec into it, so under a large pytest
process it would report the parent's memory. Two runs: coarsened 4 x 4 (what one
does with WB2 0.25 deg data) with a two-step gap to fill, and at full resolution. The figures are
quoted in ``docs/scaling.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from s2kd.data.sources.xarray_source import load_xarray
from s2kd.data.validation import check_times, fill_gaps
from s2kd.data.windows import WindowDataset
from tests.helpers import REPO, load_conf, tmp_catalog

N_TIME = 1460  # one year, 6-hourly
LAT = np.linspace(-90.0, 90.0, 181)
LON = np.arange(360) * 1.0
LEVELS = (500, 850)
GAP = (1300, 1301)  # steps missing from the store, in the test split (training frames are all recorded)
CHANNELS = ["geopotential500", "geopotential850", "2m_temperature"]
CHUNKS = {"time": 8}  # dask chunks of 8 steps: 4.2 MB of geopotential, 2.1 MB of 2m_temperature
THREADS = 2  # dask threads in the measured process (memory grows by about 3 chunks per thread)
MEMORY_SHARE = 0.25  # the peak growth allowed, as a share of the store's uncompressed size
T_IN = T_OUT = 4


def _field(t0: int, t1: int, level: float | None, seed: int) -> np.ndarray:
    """Smooth weather-like values with noise, ``(t1 - t0, 181, 360)`` (``level`` None: 2 m temperature)."""
    t = np.arange(t0, t1, dtype=np.float32)[:, None, None]
    lat = np.deg2rad(LAT).astype(np.float32)[None, :, None]
    lon = np.deg2rad(LON).astype(np.float32)[None, None, :]
    wave = np.cos(lat) * np.sin(lon + 0.05 * t) + 0.3 * np.sin(2 * np.pi * t / N_TIME)
    noise = np.random.default_rng([seed, t0]).standard_normal((t1 - t0, LAT.size, LON.size), dtype=np.float32)
    if level is None:
        return (288.0 - 30.0 * np.sin(lat) ** 2 + 10.0 * wave + noise).astype(np.float32)
    return (9.81 * (16000.0 - 9.0 * level) + 600.0 * wave + 20.0 * noise).astype(np.float32)


def _write_store(path: Path) -> int:
    """Write the store chunk by chunk (dask, one time step a chunk); return its uncompressed bytes."""
    keep = np.setdiff1d(np.arange(N_TIME), GAP)
    times = pd.date_range("2020-01-01", periods=N_TIME, freq="6h")[keep]

    def geopotential(block_info=None):
        (t0, t1), *_ = block_info[None]["array-location"]
        return np.stack([_field(int(keep[t0]), int(keep[t0]) + (t1 - t0), lv, i) for i, lv in enumerate(LEVELS)],
                        axis=1)

    def temperature(block_info=None):
        (t0, t1), *_ = block_info[None]["array-location"]
        return _field(int(keep[t0]), int(keep[t0]) + (t1 - t0), None, 9)

    steps = (1,) * len(keep)
    z = da.map_blocks(geopotential, dtype=np.float32, chunks=(steps, (len(LEVELS),), (LAT.size,), (LON.size,)))
    t2m = da.map_blocks(temperature, dtype=np.float32, chunks=(steps, (LAT.size,), (LON.size,)))
    ds = xr.Dataset(
        {"geopotential": (("time", "level", "latitude", "longitude"), z, {"units": "m**2 s**-2"}),
         "2m_temperature": (("time", "latitude", "longitude"), t2m, {"units": "K"})},
        coords={"time": times, "level": np.asarray(LEVELS), "latitude": LAT, "longitude": LON},
    )
    with dask.config.set(scheduler="threads"):
        ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)  # WB2 stores are Zarr v2, consolidated
    return int(z.nbytes + t2m.nbytes)


#: The measured process's memory: resident after the imports (``baseline``), and its peak so far
PROBE = r'''
import resource

baseline = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 2**20


def high_water_mib():
    """Peak resident memory of this process's own address space (kB in /proc/self/status)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
'''

#: Run in a fresh interpreter: ingest as ``kedro run`` does, then read windows; print the figures.
MEASURE = r'''
import copy, json, resource, sys, time
from pathlib import Path

import dask, dask.array, h5netcdf, numpy as np, xarray as xr, zarr  # everything the run uses, before the baseline
from s2kd.data.windows import WindowDataset
from s2kd.pipelines.ingest import create_pipeline
from tests.helpers import load_conf, run, tmp_catalog

cfg = json.loads(sys.argv[1])
dask.config.set(num_workers=cfg["threads"])
catalog, params = tmp_catalog(load_conf(None, {"dataset": "wb2"}), Path(cfg["out"]))
ingest = copy.deepcopy(params["ingest"])
ingest["source"] = "xarray"
ingest["xarray"].update(cfg["xarray"])
ingest["validation"].update(cfg["validation"])
catalog["params:ingest"] = ingest
''' + PROBE + r'''

t0 = time.perf_counter()
run(create_pipeline(), catalog)
ingest_s = time.perf_counter() - t0
peak_ingest = high_water_mib()

t0 = time.perf_counter()
series = catalog.load("series")["series"]
index = catalog.load("sample_index")
windows = WindowDataset(series, index["start"].to_numpy(), t_in=cfg["t_in"], t_out=cfg["t_out"])
picked = np.linspace(0, len(windows) - 1, min(cfg["windows"], len(windows))).astype(int)
total = 0.0
for i in picked:
    item = windows[int(i)]
    total += float(item["x"].sum()) + float(item["y"].sum())
windows_s = time.perf_counter() - t0
peak = high_water_mib()
print("RESULT " + json.dumps({
    "baseline_mib": baseline, "peak_ingest_mib": peak_ingest, "peak_mib": peak, "ingest_s": ingest_s,
    "windows_s": windows_s, "windows_read": len(picked), "finite": bool(np.isfinite(total)),
    "lazy_series": isinstance(series.data, dask.array.Array), "series_shape": list(series.shape),
}))
'''


def _measure(tmp_path: Path, name: str, xarray_options: dict, validation: dict, windows: int) -> dict:
    script = tmp_path / "measure.py"
    script.write_text(MEASURE)
    cfg = {"out": str(tmp_path / name), "xarray": xarray_options, "validation": validation, "threads": THREADS,
           "t_in": T_IN, "t_out": T_OUT, "windows": windows}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(script), json.dumps(cfg)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"the measured run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["growth_mib"] = result["peak_mib"] - result["baseline_mib"]
    print(f"{name}: {json.dumps(result)}")  # the figures in docs/scaling.md (pytest -s shows them)
    return result


def _check_memory(result: dict, store_bytes: int, what: str) -> None:
    store_mib = store_bytes / 2**20
    ratio = result["growth_mib"] / store_mib
    assert ratio <= MEMORY_SHARE, (
        f"{what}: peak memory grew by {result['growth_mib']:.0f} MiB over the {result['baseline_mib']:.0f} MiB after "
        f"imports, {ratio:.2f} x the store's {store_mib:.0f} MiB (allowed: {MEMORY_SHARE} x, {THREADS} dask threads)"
    )
    assert result["lazy_series"] and result["finite"] and result["windows_read"] > 100


def _train_frames(index: pd.DataFrame) -> slice:
    starts = index.loc[index["split"] == "train", "start"]
    return slice(int(starts.min()), int(starts.max()) + T_IN + T_OUT)


def _store_channels(store: Path, factor: int) -> da.Array:
    """The store's channels ``(time, 3, y, x)`` as a dask array read straight from Zarr, block-mean coarsened."""
    group = zarr.open_group(str(store), mode="r")
    z = da.from_array(group["geopotential"], chunks=(8, len(LEVELS), LAT.size, LON.size))
    t2m = da.from_array(group["2m_temperature"], chunks=(8, LAT.size, LON.size))[:, None]
    x = da.concatenate([z, t2m], axis=1)
    if factor > 1:
        ny, nx = LAT.size // factor * factor, LON.size // factor * factor
        x = da.coarsen(np.mean, x[:, :, :ny, :nx], {2: factor, 3: factor})
    return x


def _check_outputs(out: Path, store: Path, factor: int) -> None:
    """Stats equal those computed chunk-wise from the store; windows equal the store's values normalised."""
    catalog, _ = tmp_catalog(load_conf(None, {"dataset": "wb2"}), out)
    stats = catalog.load("normalisation_stats")
    index = catalog.load("sample_index")
    series = catalog.load("series")["series"]
    ny, nx = LAT.size // factor, LON.size // factor
    assert series.shape == (N_TIME, 3, ny, nx) and list(series["channel"].values) == CHANNELS
    assert isinstance(series.data, da.Array), "series.nc must be opened lazily"
    assert stats["channels"] == CHANNELS and stats["method"] == "zscore"

    frames = _train_frames(index)
    assert frames.stop <= GAP[0], "the training frames must all be recorded ones for this check"
    x = _store_channels(store, factor)[frames].astype(np.float64)
    mean, std = da.compute(x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3)))
    np.testing.assert_allclose(stats["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(stats["std"], std, rtol=1e-4)
    offset = np.asarray(stats["offset"], dtype=np.float64)[:, None, None]
    scale = np.asarray(stats["scale"], dtype=np.float64)[:, None, None]

    windows = WindowDataset(series, index["start"].to_numpy(), t_in=T_IN, t_out=T_OUT)
    before_gap = index.index[index["start"] + T_IN + T_OUT <= GAP[0]]
    for i in (int(before_gap[0]), int(before_gap[len(before_gap) // 2]), int(before_gap[-1])):
        s = int(index["start"].iloc[i])
        item = windows[i]
        got = np.concatenate([item["x"].numpy(), item["y"].numpy()])
        expected = (_store_channels(store, factor)[s : s + T_IN + T_OUT].compute().astype(np.float64) - offset) / scale
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-4)
    # the two missing steps lie on the line between the recorded steps either side (normalising is linear)
    a, b, c, d = (series.isel(time=k).values.astype(np.float64) for k in (GAP[0] - 1, GAP[0], GAP[1], GAP[1] + 1))
    np.testing.assert_allclose(b, a + (d - a) / 3, rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(c, a + 2 * (d - a) / 3, rtol=1e-4, atol=2e-4)


@pytest.fixture(scope="module")
def wb2_store(tmp_path_factory) -> Iterator[tuple[Path, int]]:
    store = tmp_path_factory.mktemp("wb2") / "era5_1deg.zarr"
    yield store, _write_store(store)
    shutil.rmtree(store)  # 0.6 GB on disk; pytest keeps the temp folders of the last runs


def test_the_source_and_the_gap_filling_stay_lazy(wb2_store):
    store, _ = wb2_store
    series = load_xarray(path=str(store), variables=["geopotential", "2m_temperature"], chunks=CHUNKS,
                         coarsen={"y": 4, "x": 4}).series
    assert isinstance(series.data, da.Array) and series.chunks[0][0] == CHUNKS["time"]
    assert list(series["channel"].values) == CHANNELS
    times = pd.DatetimeIndex(series["time"].values)
    _, regular = check_times(times, "wb2", 2)
    filled = fill_gaps(series, times, regular)
    assert isinstance(filled.data, da.Array) and filled.sizes["time"] == N_TIME
    assert max(filled.chunks[0]) == CHUNKS["time"], "gap filling must keep the time chunks, not gather them"


def test_ingest_of_a_store_larger_than_its_memory_budget(wb2_store, tmp_path):
    """Peak memory grows by far less than the store's size, and the outputs are right."""
    store, store_bytes = wb2_store
    started = time.perf_counter()
    options = {"path": str(store), "variables": ["geopotential", "2m_temperature"], "chunks": CHUNKS}
    coarse = _measure(tmp_path, "coarse", {**options, "coarsen": {"y": 4, "x": 4}}, {"max_gap_steps": 2}, windows=400)
    _check_memory(coarse, store_bytes, "coarsened 4x4")
    _check_outputs(tmp_path / "coarse", store, factor=4)
    try:
        full = _measure(tmp_path, "full", options, {"max_gap_steps": 2}, windows=200)
        _check_memory(full, store_bytes, "full resolution")
        _check_outputs(tmp_path / "full", store, factor=1)
        _check_training(tmp_path, store_bytes)  # one epoch of a teacher and two students on it
    finally:
        shutil.rmtree(tmp_path / "full", ignore_errors=True)  # its series.nc is 1.1 GB
    print(f"store {store_bytes / 2**20:.0f} MiB uncompressed; both runs and checks "
          f"{time.perf_counter() - started:.0f} s")


def test_gap_filling_keeps_nan_of_recorded_frames_and_equals_linear_interpolation():
    """Missing steps are linear between their neighbours; recorded NaN are left to the NaN rule."""
    times = pd.date_range("2020-01-01", periods=40, freq="6h").delete([10, 11, 30])
    values = np.random.default_rng(1).normal(size=(37, 2, 3, 4)).astype("float32")
    values[5, 0, 1, 1] = np.nan  # a recorded NaN far from the gaps
    series = xr.DataArray(values, dims=("time", "channel", "y", "x"), coords={"time": times}, name="series")
    _, regular = check_times(pd.DatetimeIndex(times), "test", 2)
    for s in (series, series.chunk({"time": 6})):
        out = fill_gaps(s, pd.DatetimeIndex(times), regular)
        assert out.sizes["time"] == 40 and (out.chunks is None) == (s.chunks is None)
        v = out.values
        np.testing.assert_allclose(v[10], v[9] + (v[12] - v[9]) / 3, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(v[11], v[9] + 2 * (v[12] - v[9]) / 3, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(v[30], (v[29] + v[31]) / 2, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(np.delete(v, [10, 11, 30], axis=0), values)  # recorded frames untouched


#: Run in a fresh interpreter on the full-resolution ingest: one epoch of the tiny vision teacher, the plain
#: student and a distilled one through the Kedro nodes, windows and teacher targets read from files.
TRAIN = r'''
import gc, json, resource, sys, time
from pathlib import Path

import h5netcdf, numpy as np, torch, xarray as xr, pytorch_lightning  # everything the run uses, before the baseline
from s2kd.data.params import LoadingParams
from s2kd.pipelines.distill.nodes import student_node
from s2kd.pipelines.train_teacher.nodes import teacher_node
from s2kd.recipes.params import DistillParams, TeacherParams
from s2kd.training.trainer import TrainerParams
from tests.helpers import load_conf, tmp_catalog

import s2kd.training.distill as distill
from s2kd.data.windows import series_source

cfg = json.loads(sys.argv[1])
torch.set_num_threads(2)
spills, spill_folder = [], distill._spill_folder
distill._spill_folder = lambda parent: spills.append(str(parent)) or spill_folder(parent)  # counts the spills
catalog, params = tmp_catalog(load_conf(None, {"dataset": "wb2"}), Path(cfg["out"]))
budget = {"preset": "tiny", "max_train_samples": cfg["windows"], "max_val_samples": cfg["windows"] // 4,
          "batch_size": 1, "max_epochs": 1, "checkpoint_dir": cfg["checkpoints"]}
teacher_p = TeacherParams.model_validate({**params["train_teacher"], **budget})
# the frozen teacher runs over the windows one at a time: at 181 x 360 a batch of them costs ~35 MiB a window
distill_p = DistillParams.model_validate({**params["distill"], **budget, "dataset": "wb2", "cache_batch_size": 1,
                                          "skip_weak_teachers": False})
trainer = TrainerParams.model_validate({**params["trainer"], "enable_progress_bar": False})
loading = LoadingParams.model_validate({**params["loading"], "targets_max_memory_mib": 1})
''' + PROBE + r'''

series, index, stats = catalog.load("series"), catalog.load("sample_index"), catalog.load("normalisation_stats")
peaks, seconds = {}, {}
t0 = time.perf_counter()
teacher, _ = teacher_node("vision")(series, index, stats, teacher_p, trainer, loading)
peaks["teacher_vision"], seconds["teacher_vision"] = high_water_mib(), time.perf_counter() - t0
_, row = student_node("student")(series, index, stats, distill_p, trainer, loading)
peaks["student_student"], seconds["student_student"] = high_water_mib(), time.perf_counter() - t0
_, kd = student_node("feature_kd")(series, index, stats, distill_p, trainer, loading, teacher=teacher, baseline=row)
peaks["student_feature_kd"], seconds["student_feature_kd"] = high_water_mib(), time.perf_counter() - t0
gc.collect()
print("RESULT " + json.dumps({"baseline_mib": baseline, "peaks_mib": peaks, "seconds": seconds, "spills": len(spills),
                              "store": type(series_source(series, loading)).__name__,
                              "trained": [m for m, r in (("student", row), ("feature_kd", kd)) if not r.get("skipped")],
                              "spilled": [p.name for p in Path(cfg["checkpoints"]).glob("teacher_targets/*")]}))
'''
#: glibc returns freed blocks of 256 KiB and more to the system at once (its default threshold grows up to 32 MiB
#: as large blocks are freed, after which freed full-resolution activations stay resident): docs/scaling.md
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "262144"}
TRAIN_SHARE = 0.3


def _check_training(tmp_path: Path, store_bytes: int) -> None:
    """Done-when 1 of issue 20, on the full-resolution ingest in ``tmp_path / "full"``: the series (1.1 GB,
    over loading.max_memory_mib) is read window by window from its file, the teacher's cached outputs go to
    files (targets_max_memory_mib: 1); the growth of peak memory over the imports is at most 0.3 x the store."""
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    cfg = {"out": str(tmp_path / "full"), "checkpoints": str(tmp_path / "checkpoints"), "windows": 8}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1", **MALLOC}
    proc = subprocess.run([sys.executable, str(script), json.dumps(cfg)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"the training run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    result = json.loads(lines[-1].removeprefix("RESULT "))
    print(f"training: {json.dumps(result)}")  # the figures in docs/scaling.md
    growth = max(result["peaks_mib"].values()) - result["baseline_mib"]
    store_mib = store_bytes / 2**20
    assert growth / store_mib <= TRAIN_SHARE, (
        f"training grew peak memory by {growth:.0f} MiB, {growth / store_mib:.2f} x the store's {store_mib:.0f} MiB "
        f"(allowed {TRAIN_SHARE} x): {result['peaks_mib']}")
    assert result["trained"] == ["student", "feature_kd"]
    assert result["store"] == "SeriesFile", "auto reads a series over loading.max_memory_mib from its file"
    assert result["spills"] == 1, "the feature_kd student's cached teacher outputs went to files"
    assert result["spilled"] == [], "the teacher's target files go with the targets"
