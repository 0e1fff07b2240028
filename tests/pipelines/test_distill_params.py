"""``DistillParams``: every bad value is refused with the parameter's name and the allowed range."""

from __future__ import annotations

import re

import pytest

from s2kd.errors import ParameterError
from s2kd.pipelines.distill.params import DistillParams

GOOD = {"methods": ["student", "s2kd"], "max_epochs": 2, "patience": 1, "checkpoint_dir": "ckpt"}


def test_defaults_and_teachers():
    p = DistillParams.from_dict(GOOD | {"lambda": 0.1, "methods": ["feature_kd", "s2kd", "s2kd_shuffled_text"]})
    assert p.lam == 0.1 and p.beta == 1.0 and p.cutoff == 0.25 and p.trainer.max_epochs == 2
    assert p.teachers() == ["multimodal", "shuffled", "vision"]
    assert DistillParams.from_dict(GOOD | {"methods": "student"}).teachers() == []
    # several methods through `kedro run --params "distill.methods=student+s2kd"` (commas split params)
    assert DistillParams.from_dict(GOOD | {"methods": "student+s2kd_shuffled_text"}).methods == (
        "student", "s2kd_shuffled_text")


@pytest.mark.parametrize(("override", "name", "fix"), [
    ({"beta": -1}, "distill.beta", ">= 0"),
    ({"lambda": -0.5}, "distill.lambda", ">= 0"),
    ({"gamma": "big"}, "distill.gamma", "number"),
    ({"alpha": -1}, "distill.alpha", ">= 0"),
    ({"cutoff": 0}, "distill.cutoff", r"\(0, 0.5\]"),
    ({"cutoff": 0.51}, "distill.cutoff", r"\(0, 0.5\]"),
    ({"methods": []}, "distill.methods", "one or more"),
    ({"methods": ["s2kd", "s2kd"]}, "distill.methods", "once"),
    ({"methods": ["fitnet"]}, "distill.methods", "feature_kd"),
    ({"backbone": "vit"}, "distill.backbone", "simvp"),
    ({"preset": "huge"}, "distill.preset", "small"),
    ({"projector": "linear"}, "distill.projector", "conv1x1"),
    ({"semantic": "kl"}, "distill.semantic", "cosine"),
    ({"spectral_on": "input"}, "distill.spectral_on", "output"),
    ({"student": {"depth": 3}}, "distill.student", "StudentConfig"),
    ({"batch_size": 0}, "distill.batch_size", ">= 1"),
    ({"lr": 0}, "distill.lr", "> 0"),
    ({"max_train_samples": 0}, "distill.max_train_samples", ">= 1"),
    ({"max_epochs": 0}, "distill.max_epochs", ">= 1"),
    ({"devices": 0}, "distill.devices", "count >= 1"),
    ({"precision": "fp8"}, "distill.precision", "bf16-mixed"),
    ({"max_epoch": 3}, "distill", "use only"),
    ({"weight_decay": -1}, "distill.weight_decay", ">= 0"),
])
def test_bad_values_name_the_parameter_and_the_fix(override, name, fix):
    with pytest.raises(ParameterError, match=name.replace(".", r"\.")) as err:
        DistillParams.from_dict(GOOD | override)
    assert re.search(fix, err.value.fix), err.value.fix


def test_a_missing_checkpoint_dir_is_named():
    with pytest.raises(ParameterError, match="distill.checkpoint_dir"):
        DistillParams.from_dict({k: v for k, v in GOOD.items() if k != "checkpoint_dir"})
