"""The typed parameters of the training pipelines: every bad value is refused with the dotted
parameter's name and what is allowed; a model built in Python is the run ``kedro run`` trains."""

from __future__ import annotations

import re

import pytest

from s2kd.errors import ParameterError
from s2kd.recipes.params import DistillParams, TeacherParams
from s2kd.training.trainer import TrainerParams
from tests.helpers import load_conf

GOOD = {"checkpoint_dir": "ckpt", "dataset": "synthetic"}


def test_python_defaults_are_the_configured_run():
    """``DistillParams`` with only the dataset-dependent values is what ``kedro run`` trains (β, γ, λ on
    the forecasts, ...): before, a library user got β = 1, γ = 1 and L_spec on the latents."""
    conf = load_conf(None)["parameters"]
    built = DistillParams.model_validate(GOOD)
    assert built.beta == conf["distill"]["beta"] == 0.01 and built.gamma == 10.0
    assert built.methods == conf["distill"]["methods"]
    assert built == DistillParams.model_validate(conf["distill"] | GOOD)
    assert TeacherParams.model_validate({"checkpoint_dir": "c"}).lr == conf["train_teacher"]["lr"]
    assert TrainerParams() == TrainerParams.model_validate(conf["trainer"])


def test_each_method_reads_the_shared_loss_settings_overridden_by_its_own_entry():
    p = DistillParams.model_validate(GOOD | {"lambda": 0.02, "semantic": "cosine", "methods": {
        "s2kd": {"lambda": 0.5, "sem_target": "translator"}, "sdkd": {"alpha": 4.0}}})
    assert p.loss_for("s2kd").lam == 0.5 and p.loss_for("s2kd").sem_target == "translator"
    assert p.loss_for("s2kd").semantic == "cosine"  # shared
    assert p.loss_for("s2kd_spec_only") == p.loss_for("s2kd_shuffled_text") == p.loss_for("s2kd")  # ablations
    assert p.loss_for("sdkd_multimodal") == p.loss_for("sdkd") and p.loss_for("sdkd").alpha == 4.0
    assert p.loss_for("feature_kd").lam == 0.02 and p.loss_for("s2kd_forecast").lam == 0.02


def test_lambda_is_named_as_in_the_yaml():
    p = DistillParams.model_validate(GOOD | {"lambda": 0.1})
    assert p.lam == 0.1 and p.to_dict()["lambda"] == 0.1 and "lam" not in p.to_dict()


@pytest.mark.parametrize(("override", "name", "fix"), [
    ({"beta": -1}, "distill.beta", "greater than or equal to 0"),
    ({"lambda": -0.5}, "distill.lambda", "greater than or equal to 0"),
    ({"gamma": "big"}, "distill.gamma", "valid number"),
    ({"alpha": -1}, "distill.alpha", "greater than or equal to 0"),
    ({"cutoff": 0}, "distill.cutoff", "greater than 0"),
    ({"cutoff": 0.51}, "distill.cutoff", "less than or equal to 0.5"),
    ({"beta": float("nan")}, "distill.beta", "finite"),
    ({"backbone": "vit"}, "distill.backbone", "'simvp' or 'unet'"),
    ({"preset": "huge"}, "distill.preset", "'tiny', 'small' or 'paper'"),
    ({"projector": "linear"}, "distill.projector", "'conv1x1' or 'mlp'"),
    ({"semantic": "kl"}, "distill.semantic", "'relational'"),
    ({"sem_target": "z"}, "distill.sem_target", "'semantic', 'bands' or 'translator'"),
    ({"spectral_on": "latent"}, "distill.spectral_on", "use one of"),  # the method says where, not a parameter
    ({"methods": {"s2kd": {"lambda": -1}}}, "distill.methods",
     r"distill\.methods\.s2kd\.lambda is -1: use a value that is greater"),
    ({"methods": {"s2kd": {"lamda": 1}}}, "distill.methods", r"unknown loss setting\(s\) \['lamda'\]"),
    ({"methods": {"fitnets": {}}}, "distill.methods", "unknown method 'fitnets'"),
    ({"methods": {"s2kd_spec_only": {"lambda": 1}}}, "distill.methods", "takes the loss settings of s2kd"),
    ({"student": {"depth": 3}}, "distill.student", r"unknown option\(s\) \['depth'\]"),
    ({"student": {"d": 0}}, "distill.student", r"student\.d is 0"),
    ({"batch_size": 0}, "distill.batch_size", "greater than or equal to 1"),
    ({"batch_size": 2.0}, "distill.batch_size", "valid integer"),
    ({"lr": 0}, "distill.lr", "greater than 0"),
    ({"max_train_samples": 0}, "distill.max_train_samples", "greater than or equal to 1"),
    ({"max_epochs": 0}, "distill.max_epochs", "greater than or equal to 1"),
    ({"amplitude_only": "yes"}, "distill.amplitude_only", "valid boolean"),
    ({"max_epoch": 3}, "distill.max_epoch", "use one of .*'max_epochs'"),
    ({"methods": ["s2kd"]}, "distill.methods", "valid dictionary"),
    ({"weight_decay": -1}, "distill.weight_decay", "greater than or equal to 0"),
])
def test_bad_distill_values_name_the_parameter_and_the_fix(override, name, fix):
    with pytest.raises(ParameterError) as err:
        DistillParams.model_validate(GOOD | override)
    assert err.value.where == name
    assert re.search(fix, err.value.fix), err.value.fix


@pytest.mark.parametrize(("override", "name", "fix"), [
    ({"devices": 0}, "trainer.devices", "greater than or equal to 1"),
    ({"devices": []}, "trainer.devices", "at least 1"),
    ({"precision": "fp8"}, "trainer.precision", "bf16-mixed"),
    ({"num_nodes": 0}, "trainer.num_nodes", "greater than or equal to 1"),
    ({"enable_progress_bar": "no"}, "trainer.enable_progress_bar", "valid boolean"),
    ({"limit_train_batches": 1.5}, "trainer.limit_train_batches", "less than or equal to 1"),
])
def test_bad_trainer_values_name_the_parameter(override, name, fix):
    with pytest.raises(ParameterError) as err:
        TrainerParams.model_validate(override)
    assert err.value.where.startswith(name) and re.search(fix, str(err.value)), str(err.value)


def test_teacher_overrides_are_checked_by_the_teacher_config():
    with pytest.raises(ParameterError, match=r"train_teacher\.teacher: .*text_dropout is 1\.5"):
        TeacherParams.model_validate({"checkpoint_dir": "c", "teacher": {"text_dropout": 1.5}})
    with pytest.raises(ParameterError, match=r"unknown option\(s\) \['use_text'\]"):  # the pipeline sets it
        TeacherParams.model_validate({"checkpoint_dir": "c", "teacher": {"use_text": False}})
    assert TeacherParams.model_validate({"checkpoint_dir": "c", "teacher": {"d": 96}}).teacher == {"d": 96}


def test_several_bad_values_are_all_named():
    with pytest.raises(ParameterError) as err:
        DistillParams.model_validate(GOOD | {"beta": -1, "cutoff": 2})
    assert "2 bad parameters" in str(err.value) and "distill.beta" in str(err.value)
    assert "distill.cutoff" in str(err.value)


def test_a_missing_checkpoint_dir_is_named():
    with pytest.raises(ParameterError, match=r"distill\.checkpoint_dir: is missing"):
        DistillParams.model_validate({"dataset": "x"})
