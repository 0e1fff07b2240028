"""``train_teacher``: both teachers trained, saved as plain data, reproducible, and resumable."""

from __future__ import annotations

import copy

import pytest
import torch

from s2kd.models import build_model
from s2kd.pipelines.ingest import create_pipeline as ingest_pipeline
from s2kd.pipelines.narrate import create_pipeline as narrate_pipeline
from s2kd.pipelines.train_teacher import create_pipeline as train_teacher_pipeline
from tests.helpers import load_conf, run, tmp_catalog

TINY_DATA = {"n_times": 200, "height": 8, "width": 16, "events_per_year": 60.0}
TINY_TRAIN = {"preset": "tiny", "max_epochs": 2, "max_train_samples": 48, "max_val_samples": 16, "batch_size": 8,
              "enable_progress_bar": False}


def _run(root, **train):
    catalog, params = tmp_catalog(load_conf(None), root)
    ingest = copy.deepcopy(params["ingest"])
    ingest["synthetic"].update(TINY_DATA)
    catalog["params:ingest"] = ingest
    catalog["params:narrate"] = params["narrate"]
    tt = copy.deepcopy(params["train_teacher"]) | TINY_TRAIN | train
    tt["checkpoint_dir"] = str(root / "checkpoints")
    catalog["params:train_teacher"] = tt
    run(ingest_pipeline() + narrate_pipeline() + train_teacher_pipeline(), catalog)
    return catalog


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("teachers"))


def test_both_teachers_are_saved_as_rebuildable_plain_data(trained):
    table = trained.load("teacher_validation")
    assert list(table.model) == ["teacher_multimodal", "teacher_vision"]
    assert (table.epochs == 2).all() and (table.best_val_mse > 0).all()
    batch = next(iter(torch.utils.data.DataLoader([{"x": torch.randn(4, 1, 8, 16)}], batch_size=1)))
    for name, uses_text in (("teacher_multimodal", True), ("teacher_vision", False)):
        payload = trained.load(name)
        assert payload["kind"] == "teacher" and payload["config"]["use_text"] is uses_text
        model = build_model(payload["kind"], payload["config"])
        model.load_state_dict(payload["state_dict"])  # no training code, no pickled class
        out = model(batch["x"])
        assert out["y_hat"].shape == (1, 4, 1, 8, 16)
        assert payload["meta"]["best_val_mse"] == pytest.approx(table.set_index("model").loc[name, "best_val_mse"])


def test_the_same_seed_gives_the_same_validation_mse(trained, tmp_path):
    again = _run(tmp_path)
    a, b = trained.load("teacher_validation"), again.load("teacher_validation")
    assert a.best_val_mse.tolist() == b.best_val_mse.tolist()


def test_running_the_same_command_again_resumes_instead_of_retraining(tmp_path):
    first = _run(tmp_path, max_epochs=1).load("teacher_validation")
    second = _run(tmp_path, max_epochs=1).load("teacher_validation")
    assert (second.epochs_trained_now == 0).all() and (first.epochs_trained_now == 1).all()
    assert second.best_val_mse.tolist() == first.best_val_mse.tolist()
