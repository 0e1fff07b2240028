"""Training jobs: the checkpoint folder a run resumes from is keyed by what changes the computation,
and a job refuses a teacher it does not need or lacks the one it needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from s2kd.errors import InputError
from s2kd.recipes.jobs import student_job
from s2kd.recipes.params import DistillParams
from s2kd.training.trainer import TrainerParams

VALUES = np.random.default_rng(0).standard_normal((60, 1, 8, 8)).astype(np.float32)
INDEX = pd.DataFrame({"sample_id": range(50), "start": range(50),
                      "split": ["train"] * 30 + ["val"] * 10 + ["test"] * 10})
STATS = {"t_in": 2, "t_out": 2, "channels": ["t"], "offset": [0.0], "scale": [1.0]}


def _folder(tmp_path, trainer=None, **params):
    p = DistillParams.model_validate({"checkpoint_dir": str(tmp_path), "dataset": "x", "preset": "tiny"} | params)
    return student_job(VALUES, INDEX, STATS, p, trainer or TrainerParams(), method="student").checkpoint_dir


def test_the_checkpoint_folder_changes_with_what_changes_the_run_only(tmp_path):
    base = _folder(tmp_path)
    assert base.parent == tmp_path and base.name.startswith("student_student-")
    # the progress bar and the logging interval change nothing a run computes: the same run resumes
    assert _folder(tmp_path, TrainerParams(enable_progress_bar=False, log_every_n_steps=1)) == base
    # the rest does: another folder, so a stale checkpoint is never resumed
    changed = [_folder(tmp_path, TrainerParams(devices=2)), _folder(tmp_path, TrainerParams(precision="64-true")),
               _folder(tmp_path, lr=1e-3), _folder(tmp_path, max_epochs=9), _folder(tmp_path, seed=1),
               _folder(tmp_path, max_train_samples=10)]
    assert base not in changed and len(set(changed)) == len(changed)


def test_a_student_gets_exactly_the_teacher_its_method_names(tmp_path):
    p = DistillParams.model_validate({"checkpoint_dir": str(tmp_path), "dataset": "x", "preset": "tiny"})
    with pytest.raises(InputError, match="student_s2kd: needs the multimodal teacher"):
        student_job(VALUES, INDEX, STATS, p, TrainerParams(), method="s2kd")
    with pytest.raises(InputError, match="student_student: needs no teacher"):
        student_job(VALUES, INDEX, STATS, p, TrainerParams(), method="student", teacher={"kind": "teacher"})


def test_a_student_of_a_text_reading_teacher_restarts_when_the_narratives_change(tmp_path):
    """Narrate again, keep the teachers: the multimodal teacher's outputs change, so its students must not
    resume checkpoints trained on the old narratives."""
    from s2kd.models import build_model
    from s2kd.models.presets import preset_configs
    from s2kd.narrators.embedding import MODEL_NAME
    from s2kd.recipes.jobs import model_payload

    config, _ = preset_configs("tiny", in_channels=1, t_in=2, t_out=2)
    teacher = model_payload("teacher", build_model("teacher", config), {})
    rng = np.random.default_rng(0)
    text = {"sample_id": np.arange(50), "tokens": rng.standard_normal((50, 4, 384)).astype(np.float16),
            "mask": np.ones((50, 4), bool), "meta": {"model": MODEL_NAME}}
    p = DistillParams.model_validate({"checkpoint_dir": str(tmp_path), "dataset": "x", "preset": "tiny"})

    def folder(embeddings):
        return student_job(VALUES, INDEX, STATS, p, TrainerParams(), method="s2kd", teacher=teacher,
                           embeddings=embeddings).checkpoint_dir

    first = folder(text)
    assert folder(dict(text)) == first
    assert folder(text | {"tokens": text["tokens"][::-1].copy()}) != first
