"""Windows read from the series' file instead of memory (``loading``): the same windows, bit for bit, read
frame range by frame range, per process; teacher targets over their memory bound go to files and come back
identical; a teacher trained from the file equals the one trained from memory."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from s2kd.data.params import LoadingParams
from s2kd.data.windows import SeriesFile, WindowDataset, series_source
from s2kd.datasets import NetCDFDataset
from s2kd.errors import InputError
from s2kd.recipes.jobs import teacher_job
from s2kd.recipes.params import TeacherParams
from s2kd.training.data import make_loaders
from s2kd.training.distill import cache_teacher_targets
from s2kd.training.trainer import TrainerParams

T, C, H, W = 60, 2, 8, 8
VALUES = np.random.default_rng(0).standard_normal((T, C, H, W)).astype(np.float32)
INDEX = pd.DataFrame({"sample_id": range(50), "start": range(50),
                      "split": ["train"] * 30 + ["val"] * 10 + ["test"] * 10})
STATS = {"t_in": 2, "t_out": 2, "channels": ["a", "b"], "offset": [0.0, 0.0], "scale": [1.0, 1.0]}


def _loading(**kw) -> LoadingParams:
    return LoadingParams.model_validate({"store": "file", "max_memory_mib": 1024, "targets_max_memory_mib": 1024,
                                         "num_workers": 0, "prefetch_factor": 2} | kw)


@pytest.fixture
def saved(tmp_path) -> xr.Dataset:
    """The series as ingest saves it (``series.nc`` through the catalog's dataset), loaded back lazily."""
    ds = xr.Dataset({"series": (("time", "channel", "y", "x"), VALUES)},
                    coords={"time": pd.date_range("2020-01-01", periods=T, freq="6h"), "channel": ["a", "b"]})
    store = NetCDFDataset(filepath=str(tmp_path / "series.nc"))
    store.save(ds)
    return store.load()


def test_the_file_gives_the_frames_of_memory_counts_them_and_pickles_without_its_handle(saved, tmp_path):
    source = series_source(saved, _loading())
    assert isinstance(source, SeriesFile) and source.shape == VALUES.shape
    np.testing.assert_array_equal(source[5:9], VALUES[5:9])
    assert source.frames_read == 4
    opened = source.handle
    source._pid = -1  # as seen from a forked process: it opens its own handle
    assert source.handle is not opened and source._pid == os.getpid()
    copy = pickle.loads(pickle.dumps(source))  # what a DataLoader worker or a spawned rank receives
    assert copy._handle is None
    np.testing.assert_array_equal(copy[0:3], VALUES[0:3])
    item = WindowDataset(source, [7], t_in=2, t_out=2)[0]
    torch.testing.assert_close(item["y"], torch.from_numpy(VALUES[9:11]), rtol=0, atol=0)
    with pytest.raises(InputError, match="cannot read the variable"):
        SeriesFile(tmp_path / "series.nc", variable="nothing")
    (tmp_path / "broken.nc").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match=r"broken\.nc.*loading\.store: memory"):
        SeriesFile(tmp_path / "broken.nc")


def test_auto_keeps_a_small_series_in_memory_and_reads_a_large_one_from_its_file(saved):
    assert isinstance(series_source(saved, _loading(store="auto")), np.ndarray)
    assert isinstance(series_source(saved, _loading(store="auto", max_memory_mib=0.01)), SeriesFile)
    assert isinstance(series_source(saved, _loading(store="memory", max_memory_mib=0.01)), np.ndarray)
    in_memory = saved.load()
    in_memory.encoding.pop("source", None)
    with pytest.raises(InputError, match="loading.store"):
        series_source(in_memory, _loading())
    with pytest.raises(InputError, match="loading.store"):  # a value outside the choices, named
        _loading(store="disk")


def test_loader_workers_read_the_file_and_give_the_batches_of_memory(saved):
    def batches(values, workers):
        ds = WindowDataset(values, INDEX["start"][:30], t_in=2, t_out=2, sample_ids=INDEX["sample_id"][:30])
        train, _ = make_loaders(ds, ds, batch_size=4, seed=3, num_workers=workers, prefetch_factor=2)
        return [(b["x"], b["y"], b["sample_id"]) for b in train]

    for got, want in zip(batches(series_source(saved, _loading()), 2), batches(VALUES, 0), strict=True):
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


class _Teacher(torch.nn.Module):
    uses_text = False

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(2 * C, 3, 1)

    def forward(self, x):
        z = self.conv(x.flatten(1, 2))
        return {"z": z, "z_low": z, "z_high": z, "latent": z, "y_hat": x}


def test_teacher_targets_over_the_bound_go_to_files_and_come_back_identical(tmp_path):
    ds = WindowDataset(VALUES, INDEX["start"][:40][::-1], t_in=2, t_out=2, sample_ids=INDEX["sample_id"][:40][::-1])
    torch.manual_seed(0)
    teacher = _Teacher()
    memory = cache_teacher_targets(teacher, [ds], batch_size=7)
    stale = tmp_path / "spill" / "teacher-targets-999999999-dead"  # of a killed process
    stale.mkdir(parents=True)
    files = cache_teacher_targets(teacher, [ds], batch_size=7, max_memory_bytes=1000, spill_to=tmp_path / "spill")
    assert not stale.exists()
    folders = list((tmp_path / "spill").iterdir())
    assert len(folders) == 1 and {p.name for p in folders[0].iterdir()} == {f"{f}.f32" for f in memory.fields}
    torch.testing.assert_close(files.sample_id, memory.sample_id, rtol=0, atol=0)
    ids = torch.tensor([3, 0, 39, 17])
    for field in memory.fields:
        assert not isinstance(files[field], torch.Tensor)
        torch.testing.assert_close(files[field][files.rows(ids)], memory[field][memory.rows(ids)], rtol=0, atol=0)
    del files
    assert not folders[0].exists(), "the files go with the targets"


def test_a_teacher_trained_from_the_file_equals_the_one_trained_from_memory(saved, tmp_path):
    def train(values, folder):
        p = TeacherParams.model_validate({"checkpoint_dir": str(tmp_path / folder), "preset": "tiny", "max_epochs": 1,
                                          "batch_size": 8, "seed": 0})
        job = teacher_job(values, INDEX, STATS, None, p, TrainerParams(enable_progress_bar=False),
                          name="teacher_vision", use_text=False, loading=_loading(num_workers=0))
        job.fit(TrainerParams(enable_progress_bar=False))
        return job.model.state_dict()

    source = series_source(saved, _loading())
    from_file, from_memory = train(source, "file"), train(VALUES, "memory")
    assert source.frames_read >= (30 + 10) * 4  # every training and validation window came from the file
    for k, v in from_memory.items():
        torch.testing.assert_close(from_file[k], v, rtol=0, atol=0)
