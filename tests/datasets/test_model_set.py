"""``ModelSetDataset``: a versioned folder of model files, written atomically."""

from __future__ import annotations

import time

import pytest
import torch
from kedro.io import DatasetError, Version

from s2kd.datasets import ModelSetDataset
from s2kd.datasets.model_set import torch as model_set_torch


def _model(value: float) -> dict:
    return {"kind": "simvp", "config": {"d": 4}, "state_dict": {"w": torch.full((2,), value)}, "meta": {"v": value}}


def test_round_trip_loads_the_latest_version(tmp_path):
    ds = ModelSetDataset(filepath=str(tmp_path / "students"), version=Version(None, None))
    ds.save({"student": _model(1.0), "s2kd": _model(2.0)})
    time.sleep(0.01)
    later = ModelSetDataset(filepath=str(tmp_path / "students"), version=Version(None, None))
    later.save({"s2kd": _model(3.0)})
    loaded = ModelSetDataset(filepath=str(tmp_path / "students"), version=Version(None, None)).load()
    assert list(loaded) == ["s2kd"] and torch.equal(loaded["s2kd"]["state_dict"]["w"], torch.full((2,), 3.0))
    versions = sorted((tmp_path / "students").iterdir())
    assert len(versions) == 2
    assert sorted(p.name for p in (versions[0] / "students").iterdir()) == ["order.json", "s2kd.pt", "student.pt"]
    first = ModelSetDataset(filepath=str(tmp_path / "students"), version=Version(versions[0].name, None)).load()
    assert list(first) == ["student", "s2kd"]  # the order they were saved in, not alphabetical


def test_an_empty_set_round_trips(tmp_path):
    ds = ModelSetDataset(filepath=str(tmp_path / "ablations"))
    ds.save({})
    assert ds.exists() and ds.load() == {}


def test_a_save_interrupted_midway_leaves_no_folder(tmp_path, monkeypatch):
    ds = ModelSetDataset(filepath=str(tmp_path / "students"))
    ds.save({"student": _model(1.0)})
    real_save, calls = model_set_torch.save, []

    def failing_save(obj, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_save(obj, path)

    monkeypatch.setattr(model_set_torch, "save", failing_save)
    with pytest.raises(DatasetError, match="No space left"):
        ds.save({"a": _model(2.0), "b": _model(3.0)})
    monkeypatch.undo()
    assert list(ds.load()) == ["student"]  # the previous set is intact
    assert [p.name for p in tmp_path.iterdir()] == ["students"]  # no temporary folder left behind


@pytest.mark.parametrize(("data", "match"), [
    ({"../evil": _model(1.0)}, "not a usable file name"),
    ({"student": {"kind": "simvp"}}, "missing"),
    ([_model(1.0)], "dict of name"),
])
def test_bad_sets_are_refused_before_writing(tmp_path, data, match):
    ds = ModelSetDataset(filepath=str(tmp_path / "students"))
    with pytest.raises(DatasetError, match=match):
        ds.save(data)
    assert not (tmp_path / "students").exists()


def test_loading_a_missing_or_corrupt_set_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(DatasetError, match="kedro run --pipeline distill"):
        ModelSetDataset(filepath=str(tmp_path / "none")).load()
    folder = tmp_path / "students"
    folder.mkdir()
    (folder / "s2kd.pt").write_bytes(b"truncated")
    with pytest.raises(DatasetError, match=r"s2kd\.pt is not a readable model file.*delete it"):
        ModelSetDataset(filepath=str(folder)).load()
