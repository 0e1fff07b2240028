"""``train_teacher``: one node per teacher, both trained, saved as plain data, reproducible, resumable."""

from __future__ import annotations

import pytest
import torch

from s2kd.models import build_model
from s2kd.pipelines.ingest import create_pipeline as ingest_pipeline
from s2kd.pipelines.narrate import create_pipeline as narrate_pipeline
from s2kd.pipelines.train_teacher import create_pipeline as train_teacher_pipeline
from tests.helpers import load_conf, run, tiny, tmp_catalog


def _run(root, **train):
    catalog, _ = tmp_catalog(load_conf(None), root, tiny(train_teacher=train))
    run(ingest_pipeline() + narrate_pipeline() + train_teacher_pipeline(), catalog)
    return catalog


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("teachers"))


def test_one_node_per_teacher_and_only_the_multimodal_one_reads_text():
    nodes = {n.name: n for n in train_teacher_pipeline().nodes}
    assert set(nodes) == {"teacher_multimodal.train", "teacher_vision.train", "summarise_teachers"}
    assert "narrative_embeddings" in nodes["teacher_multimodal.train"].inputs
    assert "narrative_embeddings" not in nodes["teacher_vision.train"].inputs
    assert nodes["teacher_vision.train"].outputs == ["teacher_vision", "teacher_vision_validation"]


def test_both_teachers_are_saved_as_rebuildable_plain_data(trained):
    table = trained.load("teacher_validation")
    assert list(table.model) == ["teacher_multimodal", "teacher_vision"]
    assert (table.epochs == 2).all() and (table.best_val_mse > 0).all()
    # which narrator wrote the text a teacher read, and in which mode (none for the vision teacher)
    assert table.set_index("model")[["narrator", "narrate_mode"]].fillna("").to_dict("index") == {
        "teacher_multimodal": {"narrator": "diagnostic", "narrate_mode": "hindsight"},
        "teacher_vision": {"narrator": "none", "narrate_mode": "none"}}
    batch = next(iter(torch.utils.data.DataLoader([{"x": torch.randn(4, 1, 8, 16)}], batch_size=1)))
    for name, uses_text in (("teacher_multimodal", True), ("teacher_vision", False)):
        payload = trained.load(name)
        assert payload["kind"] == "teacher" and payload["config"]["use_text"] is uses_text
        model = build_model(payload["kind"], payload["config"])
        model.load_state_dict(payload["state_dict"])  # no training code, no pickled class
        out = model(batch["x"])
        assert out["y_hat"].shape == (1, 4, 1, 8, 16)
        assert payload["meta"]["best_val_mse"] == pytest.approx(table.set_index("model").loc[name, "best_val_mse"])
        assert trained.load(f"{name}_validation")["best_val_mse"] == payload["meta"]["best_val_mse"]


def test_the_same_seed_gives_the_same_validation_mse(trained, tmp_path):
    again = _run(tmp_path)
    a, b = trained.load("teacher_validation"), again.load("teacher_validation")
    assert a.best_val_mse.tolist() == b.best_val_mse.tolist()


def test_running_the_same_command_again_resumes_instead_of_retraining(tmp_path):
    first = _run(tmp_path, max_epochs=1).load("teacher_validation")
    second = _run(tmp_path, max_epochs=1).load("teacher_validation")
    assert (second.epochs_trained_now == 0).all() and (first.epochs_trained_now == 1).all()
    assert second.best_val_mse.tolist() == first.best_val_mse.tolist()
