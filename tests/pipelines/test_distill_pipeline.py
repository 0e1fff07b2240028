"""``distill``: one student per method from the same start, saved without the projector, resumable,
each its own MLflow run with the per-epoch loss terms."""

from __future__ import annotations

import copy

import mlflow
import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from s2kd.errors import InputError, ParameterError
from s2kd.models import build_model
from s2kd.pipelines.distill import create_pipeline as distill_pipeline
from s2kd.pipelines.ingest import create_pipeline as ingest_pipeline
from s2kd.pipelines.narrate import create_pipeline as narrate_pipeline
from s2kd.pipelines.train_teacher import create_pipeline as train_teacher_pipeline
from s2kd.training.methods import METHODS
from tests.helpers import load_conf, run, tmp_catalog

TINY_DATA = {"n_times": 200, "height": 8, "width": 16, "events_per_year": 60.0}
TINY_TRAIN = {"preset": "tiny", "max_epochs": 2, "max_train_samples": 48, "max_val_samples": 16, "batch_size": 8,
              "enable_progress_bar": False}
ALL_METHODS = list(METHODS)


def _catalog(root, methods, **distill):
    catalog, params = tmp_catalog(load_conf(None), root)
    ingest = copy.deepcopy(params["ingest"])
    ingest["synthetic"].update(TINY_DATA)
    catalog["params:ingest"] = ingest
    catalog["params:train_teacher"] = copy.deepcopy(params["train_teacher"]) | TINY_TRAIN | {
        "checkpoint_dir": str(root / "checkpoints")}
    catalog["params:distill"] = copy.deepcopy(params["distill"]) | TINY_TRAIN | {
        "methods": methods, "checkpoint_dir": str(root / "checkpoints"), "beta": 0.1, "lambda": 0.01} | distill
    return catalog


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    catalog = _catalog(root, ALL_METHODS)
    run(ingest_pipeline() + narrate_pipeline() + train_teacher_pipeline() + distill_pipeline(), catalog)
    # later runs in the same folder add newer versions: keep this run's outputs
    return root, catalog, catalog.load("students"), catalog.load("distill_validation").set_index("method")


def test_every_requested_method_gives_a_student_without_its_projector(distilled):
    _, _, students, table = distilled
    assert sorted(students) == sorted(ALL_METHODS)
    x = torch.randn(2, 4, 1, 8, 16)
    for method, payload in students.items():
        assert payload["kind"] == "simvp" and payload["meta"]["method"] == method
        assert not any("projector" in k for k in payload["state_dict"])
        model = build_model(payload["kind"], payload["config"])
        model.load_state_dict(payload["state_dict"])  # strict: exactly the student's weights
        assert model(x)["y_hat"].shape == (2, 4, 1, 8, 16)
    assert list(table.index) == ALL_METHODS and (table.epochs == 2).all()
    assert table.loc["s2kd", "teacher"] == "multimodal" and table.loc["feature_kd", "teacher"] == "vision"
    assert table.loc["s2kd_shuffled_text", "teacher"] == "shuffled"
    assert table.loc["s2kd", "beta"] == 0.1 and table.loc["s2kd", "lambda"] == 0.01
    assert table.loc["feature_kd", "lambda"] == 0.0 and table.loc["sdkd", "beta"] == 0.0


def test_the_shuffled_text_teacher_is_trained_only_when_its_ablation_is_asked_for(distilled, tmp_path):
    _, catalog, _, _ = distilled
    assert list(catalog.load("teacher_ablations")) == ["teacher_shuffled"]
    assert list(catalog.load("teacher_validation").model) == ["teacher_multimodal", "teacher_vision", "teacher_shuffled"]
    plain = _catalog(tmp_path, ["student", "s2kd"])
    run(ingest_pipeline() + narrate_pipeline() + train_teacher_pipeline(), plain)
    assert plain.load("teacher_ablations") == {}
    with pytest.raises(InputError, match="teacher_shuffled.*s2kd_shuffled_text"):
        plain["params:distill"] = plain.load("params:distill") | {"methods": ["s2kd_shuffled_text"]}
        run(distill_pipeline(), plain)


def test_students_share_data_seed_and_budget_only_the_loss_differs(distilled):
    """With both distillation weights at zero, s2kd is the plain student, bit for bit."""
    root, _, students, table = distilled
    zero = _catalog(root, ["s2kd"], beta=0.0, **{"lambda": 0.0})
    run(distill_pipeline(), zero)
    a = students["student"]["state_dict"]
    b = zero.load("students")["s2kd"]["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert zero.load("distill_validation").best_val_mse.item() == table.loc["student", "best_val_mse"]
    # and with the weights on, the distilled student did move away from it
    distilled_s2kd = students["s2kd"]["state_dict"]
    assert not all(torch.equal(a[k], distilled_s2kd[k]) for k in a)


def test_a_repeated_run_resumes_every_student_instead_of_retraining(distilled):
    root, _, _, first = distilled
    again = _catalog(root, ["student", "s2kd"])
    run(distill_pipeline(), again)
    table = again.load("distill_validation").set_index("method")
    assert (table.epochs_trained_now == 0).all()
    assert table.best_val_mse.to_dict() == first.loc[["student", "s2kd"], "best_val_mse"].to_dict()


@pytest.mark.parametrize(("override", "name"), [
    ({"beta": -0.1}, "distill.beta"), ({"cutoff": 0.0}, "distill.cutoff"), ({"cutoff": 0.7}, "distill.cutoff"),
    ({"methods": ["s2kd", "fitnets"]}, "distill.methods"), ({"backbone": "resnet"}, "distill.backbone"),
    ({"projector": "deep"}, "distill.projector"), ({"max_epochs": 0}, "distill.max_epochs"),
])
def test_bad_parameters_fail_before_any_training(distilled, tmp_path, override, name):
    root = distilled[0]
    override = {"methods": ["student"]} | override
    bad = _catalog(root, override.pop("methods"), checkpoint_dir=str(tmp_path / "ckpt"), **override)
    with pytest.raises(ParameterError, match=name.replace(".", r"\.")):
        run(distill_pipeline(), bad)
    assert not (tmp_path / "ckpt").exists()


def test_each_student_is_its_own_mlflow_run_with_per_epoch_loss_terms(project):
    params = {
        "ingest": {"synthetic": TINY_DATA},
        "train_teacher": TINY_TRAIN,
        "distill": TINY_TRAIN | {"methods": ["student", "s2kd"], "beta": 0.5, "lambda": 0.05},
        "evaluate": {"latency_repeats": 2, "latency_warmup": 1, "progress": False},
    }
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=["ingest", "narrate", "train_teacher", "distill"])
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=["evaluate", "report"])
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = mlflow.tracking.MlflowClient()
    runs = {r.info.run_name: r for r in mlflow.search_runs(experiment_names=["s2kd"], output_format="list")}
    assert {"student_student", "student_s2kd", "teacher_multimodal", "teacher_vision"} <= set(runs)
    s2kd = runs["student_s2kd"]
    assert s2kd.data.tags["s2kd.method"] == "s2kd" and "mlflow.parentRunId" in s2kd.data.tags
    assert float(s2kd.data.params["beta"]) == 0.5 and float(s2kd.data.params["lambda"]) == 0.05
    assert s2kd.data.params["r_c"] == "0.25" and s2kd.data.params["backbone"] == "simvp"
    for metric in ("loss_task", "loss_sem", "loss_spec", "val_mse"):
        assert len(client.get_metric_history(s2kd.info.run_id, metric)) == 2, metric
    assert float(runs["student_student"].data.params["beta"]) == 0.0
    assert len(client.get_metric_history(runs["student_student"].info.run_id, "val_mse")) == 2
    parent = runs[s2kd.data.tags["mlflow.parentRunId"]] if s2kd.data.tags["mlflow.parentRunId"] in runs else \
        client.get_run(s2kd.data.tags["mlflow.parentRunId"])
    assert parent.data.metrics["distill_metrics.s2kd.best_val_mse"] == s2kd.data.metrics["best_val_mse"]
    # the saved student knows its run, so evaluate can add its test metrics there
    students = {}
    for folder in sorted((project / "data/06_models/synthetic/students").iterdir()):
        students = {p.stem: torch.load(p, weights_only=True) for p in (folder / "students").glob("*.pt")}
    assert students["s2kd"]["meta"]["mlflow_run_id"] == s2kd.info.run_id
    # evaluate adds the test metrics to that same run; report stores the HTML in its kedro run
    s2kd = client.get_run(s2kd.info.run_id)
    assert {"test_mse", "test_acc", "test_ssim", "test_mse_lead4", "flops", "latency_ms_b1"} <= set(s2kd.data.metrics)
    report_run = next(r for r in mlflow.search_runs(experiment_names=["s2kd"], output_format="list")
                      if r.data.tags.get("kedro.pipeline") == "evaluate+report")
    assert [a.path for a in client.list_artifacts(report_run.info.run_id, "report")] == ["report/report.html",
                                                                                          "report/report.md"]
