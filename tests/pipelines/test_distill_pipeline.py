"""``distill`` and ``ablations``: one node per student, each from the same start, saved without the
projector, resumable and re-runnable alone, each its own MLflow run with the per-epoch loss terms."""

from __future__ import annotations

import logging

import mlflow
import pandas as pd
import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.validation import ParameterValidationError

from s2kd.data.params import LoadingParams
from s2kd.errors import InputError
from s2kd.models import build_model
from s2kd.narrators.params import NarrateParams
from s2kd.pipelines.ablations import create_pipeline as ablations_pipeline
from s2kd.pipelines.distill import create_pipeline as distill_pipeline
from s2kd.pipelines.evaluate.nodes import evaluate_models
from s2kd.pipelines.ingest import create_pipeline as ingest_pipeline
from s2kd.pipelines.narrate import create_pipeline as narrate_pipeline
from s2kd.pipelines.train_teacher import create_pipeline as train_teacher_pipeline
from s2kd.recipes.evaluation import EvaluateParams
from s2kd.recipes.teacher_check import check_teacher, verdict
from s2kd.tracking import WINDOW_ERRORS_ARTIFACT
from s2kd.training.methods import METHODS
from tests.helpers import TINY_BUDGET, TINY_DATA, load_conf, run, tiny, tmp_catalog

CORE = [m for m, spec in METHODS.items() if not spec.ablation]
ABLATIONS = [m for m, spec in METHODS.items() if spec.ablation]


def _catalog(root, s2kd=None, **distill):
    """The tiny chain's catalog; ``s2kd``: overrides of s2kd's own loss settings (``distill.methods.s2kd``)."""
    entry = {"beta": 0.1, "lambda": 0.01} | (s2kd or {})
    return tmp_catalog(load_conf(None), root, tiny(distill={"methods": {"s2kd": entry}} | distill))[0]


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    catalog = _catalog(root)
    run(ingest_pipeline() + narrate_pipeline() + train_teacher_pipeline() + distill_pipeline(), catalog)
    # later runs in the same folder add newer versions: keep this run's outputs
    students = {m: catalog.load(f"student_{m}") for m in CORE}
    return root, catalog, students, catalog.load("distill_validation").set_index("method")


def test_one_node_per_method_reading_only_its_own_teacher():
    nodes = {n.name: n for n in distill_pipeline().nodes}
    assert set(nodes) == {f"student_{m}.train" for m in CORE} | {"summarise_students"}
    assert {n.namespace for n in nodes.values()} == {f"student_{m}" for m in CORE} | {None}
    assert not {"teacher_multimodal", "teacher_vision",
                "narrative_embeddings"} & set(nodes["student_student.train"].inputs)
    assert "teacher_vision" in nodes["student_sdkd.train"].inputs
    assert "narrative_embeddings" not in nodes["student_sdkd.train"].inputs  # the vision teacher reads no text
    assert {"teacher_multimodal", "narrative_embeddings"} <= set(nodes["student_s2kd.train"].inputs)
    ablations = {n.name for n in ablations_pipeline().nodes}
    assert {f"student_{m}.train" for m in ABLATIONS} | {"teacher_shuffled.train", "evaluate_models"} <= ablations


def test_every_method_gives_a_student_without_its_projector(distilled):
    _, _, students, table = distilled
    x = torch.randn(2, 4, 1, 8, 16)
    for method, payload in students.items():
        assert payload["kind"] == "simvp" and payload["meta"]["method"] == method
        assert not any("projector" in k for k in payload["state_dict"])
        model = build_model(payload["kind"], payload["config"])
        model.load_state_dict(payload["state_dict"])  # strict: exactly the student's weights
        assert model(x)["y_hat"].shape == (2, 4, 1, 8, 16)
    assert list(table.index) == CORE and (table.epochs == 2).all()
    assert table.loc["s2kd", "teacher"] == "multimodal" and table.loc["feature_kd", "teacher"] == "vision"
    assert table.loc["s2kd", "beta"] == 0.1 and table.loc["s2kd", "lambda"] == 0.01
    assert table.loc["feature_kd", "lambda"] == 0.0 and table.loc["sdkd", "beta"] == 0.0


def test_one_student_retrains_alone_and_weights_of_zero_give_the_plain_student(distilled):
    """``--namespaces student_s2kd``: only that node runs. With both distillation weights at zero, s2kd is
    the plain student, bit for bit."""
    root, _, students, table = distilled
    zero = _catalog(root, s2kd={"beta": 0.0, "lambda": 0.0})
    alone = distill_pipeline().only_nodes_with_namespaces(["student_s2kd"])
    assert [n.name for n in alone.nodes] == ["student_s2kd.train"]
    run(alone, zero)
    a, b = students["student"]["state_dict"], zero.load("student_s2kd")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert zero.load("student_s2kd_validation")["best_val_mse"] == table.loc["student", "best_val_mse"]
    distilled_s2kd = students["s2kd"]["state_dict"]  # with the weights on, the student did move away
    assert not all(torch.equal(a[k], distilled_s2kd[k]) for k in a)


def test_a_repeated_run_resumes_every_student_instead_of_retraining(distilled):
    root, _, _, first = distilled
    again = _catalog(root)
    run(distill_pipeline(), again)
    table = again.load("distill_validation").set_index("method")
    assert (table.epochs_trained_now == 0).all()
    assert table.best_val_mse.to_dict() == first.best_val_mse.to_dict()


def test_the_ablations_train_their_teacher_and_students_then_score_every_model(distilled):
    root = distilled[0]
    catalog = _catalog(root)
    run(ablations_pipeline(), catalog)
    table = catalog.load("ablation_validation").set_index("model")
    assert list(table.index) == ["teacher_shuffled", *(f"student_{m}" for m in ABLATIONS)]
    assert table.loc["student_s2kd_shuffled_text", "teacher"] == "shuffled"
    assert catalog.load("teacher_shuffled")["meta"]["text_shuffle_seed"] == 0
    scored = list(catalog.load("metrics_table")["model"].unique())
    assert scored == ["teacher_multimodal", "teacher_vision", "teacher_shuffled", *(f"student_{m}" for m in METHODS)]


@pytest.mark.parametrize(("override", "name"), [
    ({"beta": -0.1}, "distill.beta"), ({"cutoff": 0.0}, "distill.cutoff"), ({"cutoff": 0.7}, "distill.cutoff"),
    ({"backbone": "resnet"}, "distill.backbone"), ({"projector": "deep"}, "distill.projector"),
    ({"max_epochs": 0}, "distill.max_epochs"), ({"methods": ["s2kd"]}, "distill.methods"),
])
def test_bad_parameters_fail_before_any_training(distilled, tmp_path, override, name):
    bad = _catalog(distilled[0], checkpoint_dir=str(tmp_path / "ckpt"), **override)
    with pytest.raises(ParameterValidationError, match=name.replace(".", r"\.")):
        run(distill_pipeline(), bad)
    assert not (tmp_path / "ckpt").exists()


def test_each_student_is_its_own_mlflow_run_with_per_epoch_loss_terms(project):
    params = {"ingest": {"synthetic": TINY_DATA}, "train_teacher": TINY_BUDGET,
              "trainer": {"enable_progress_bar": False},
              "distill": TINY_BUDGET | {"lambda": 0.05, "methods": {"s2kd": {"beta": 0.5, "lambda": 0.05}}},
              "evaluate": {"latency_repeats": 2, "latency_warmup": 1, "progress": False}}
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
    assert s2kd.data.tags["method"] == "s2kd" and "mlflow.parentRunId" in s2kd.data.tags
    # tags to filter and group by in the UI, the shared ones repeated from the kedro run's own run
    tags = s2kd.data.tags
    assert (tags["role"], tags["teacher"], tags["seed"], tags["dataset"]) == ("student", "multimodal", "0", "synthetic")
    assert tags["narrator"] == "diagnostic" and tags["narrate_mode"] == "hindsight" and tags["commit"]
    assert runs["student_feature_kd"].data.tags["teacher"] == "vision"
    assert runs["student_feature_kd"].data.tags["narrator"] == "none"
    assert runs["teacher_multimodal"].data.tags["narrator"] == "diagnostic"
    assert runs["teacher_multimodal"].data.tags["role"] == "teacher"
    found = mlflow.search_runs(experiment_names=["s2kd"], filter_string="tags.method = 's2kd'", output_format="list")
    assert [r.info.run_id for r in found] == [s2kd.info.run_id]
    # each student is also an MLflow model in its run, registered per dataset and method
    (version,) = client.search_model_versions("name = 's2kd-synthetic-s2kd'")
    assert version.run_id == s2kd.info.run_id
    assert {m.name for m in client.search_registered_models()} == {
        f"s2kd-synthetic-{m}" for m, spec in METHODS.items() if not spec.ablation}
    assert float(s2kd.data.params["beta"]) == 0.5 and float(s2kd.data.params["lambda"]) == 0.05
    assert s2kd.data.params["r_c"] == "0.25" and s2kd.data.params["backbone"] == "simvp"
    for metric in ("loss_task", "loss_sem", "loss_spec", "val_mse"):
        assert len(client.get_metric_history(s2kd.info.run_id, metric)) == 2, metric
    assert float(runs["student_student"].data.params["beta"]) == 0.0
    assert len(client.get_metric_history(runs["student_student"].info.run_id, "val_mse")) == 2
    parent = client.get_run(s2kd.data.tags["mlflow.parentRunId"])
    assert parent.data.metrics["distill_metrics.s2kd.best_val_mse"] == s2kd.data.metrics["best_val_mse"]
    assert parent.data.params["distill.lambda"] == "0.05" and parent.data.params["trainer.accelerator"] == "cpu"
    # the saved student knows its run, so evaluate can add its test metrics there
    (version,) = (project / "data/06_models/synthetic/students/s2kd.pt").iterdir()
    student = torch.load(version / "s2kd.pt", weights_only=True)
    assert student["meta"]["mlflow_run_id"] == s2kd.info.run_id
    # evaluate adds the test metrics to that same run; report stores the HTML in its kedro run
    s2kd = client.get_run(s2kd.info.run_id)
    assert {"test_mse", "test_acc", "test_ssim", "test_mse_lead4", "flops", "latency_ms_b1"} <= set(s2kd.data.metrics)
    # with its per-window errors, whose mean is the test MSE (the benchmark's intervals resample them)
    windows = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=s2kd.info.run_id,
                                                                  artifact_path=WINDOW_ERRORS_ARTIFACT))
    assert set(windows["model"]) == {"student_s2kd"} and len(windows) > 10
    assert windows["mse"].mean() == pytest.approx(s2kd.data.metrics["test_mse"], rel=1e-5)
    report_run = next(r for r in mlflow.search_runs(experiment_names=["s2kd"], output_format="list")
                      if r.data.tags.get("kedro.pipeline") == "evaluate+report")
    assert [a.path for a in client.list_artifacts(report_run.info.run_id, "report")] == ["report/report.html",
                                                                                          "report/report.md"]


def test_a_teacher_no_better_than_the_plain_student_is_warned_about_flagged_and_skipped_on_request(distilled, caplog):
    """Every teacher is checked against the plain student's validation MSE before it teaches. With a plain
    student's row that no teacher beats, s2kd's teacher is warned about and flagged (and still teaches);
    with ``skip_weak_teachers`` the method is not trained and ``evaluate`` passes over it."""
    root, catalog, _, table = distilled
    for method in ("output_kd", "feature_kd", "sdkd", "s2kd"):  # the fixture's run checked every teacher
        gain = 1 - table.loc[method, "teacher_val_mse"] / table.loc["student", "best_val_mse"]
        assert table.loc[method, "teacher_gain"] == pytest.approx(gain)
        assert bool(table.loc[method, "teacher_beats_student"]) == (gain > 0)
    original = catalog.load("student_student_validation")
    try:
        catalog.save("student_student_validation", {**original, "best_val_mse": 1e-9})
        with caplog.at_level(logging.WARNING, logger="s2kd"):
            run(distill_pipeline().only_nodes_with_namespaces(["student_s2kd"]), _catalog(root))
        row = catalog.load("student_s2kd_validation")
        assert row["teacher_beats_student"] is False and row["skipped"] is False and row["teacher_gain"] < -1e6
        assert row["best_val_mse"] == table.loc["s2kd", "best_val_mse"]  # trained (resumed) all the same
        assert "teacher_multimodal" in caplog.text and "NOT better than the plain student" in caplog.text

        skip = _catalog(root, skip_weak_teachers=True)
        run(distill_pipeline().only_nodes_with_namespaces(["student_s2kd", "student_sdkd"]), skip)
        assert skip.load("student_s2kd")["kind"] == "skipped" and skip.load("student_sdkd")["kind"] == "skipped"
        row = skip.load("student_s2kd_validation")
        assert row["skipped"] is True and row["best_val_mse"] != row["best_val_mse"]  # NaN: nothing trained
        models = {m: skip.load(m) for m in ("teacher_vision", "student_student", "student_s2kd")}
        metrics = evaluate_models(skip.load("series"), skip.load("sample_index"), skip.load("normalisation_stats"),
                                  None, NarrateParams.model_validate(skip.load("params:narrate")),
                                  EvaluateParams.model_validate(skip.load("params:evaluate")),
                                  LoadingParams.model_validate(skip.load("params:loading")), **models)[0]  # metrics
        assert set(metrics["model"]) == {"teacher_vision", "student_student"}
        assert "student_s2kd was not trained" in caplog.text
    finally:
        catalog.save("student_student_validation", original)
        run(distill_pipeline().only_nodes_with_namespaces(["student_s2kd", "student_sdkd"]), _catalog(root))
    assert catalog.load("student_s2kd")["kind"] == "simvp"


def test_the_check_needs_the_plain_student_and_the_same_validation_windows():
    teacher = {"best_val_mse": 0.5, "val_windows": 16}
    with pytest.raises(InputError, match="student_student_validation.*--namespaces student_student"):
        check_teacher(teacher, None, teacher="teacher_multimodal")
    with pytest.raises(InputError, match="max_val_samples"):
        check_teacher(teacher, {"best_val_mse": 0.4, "val_windows": 32}, teacher="teacher_multimodal")
    check = check_teacher(teacher, {"best_val_mse": 0.4, "val_windows": 16}, teacher="teacher_multimodal")
    assert check == {"teacher_val_mse": 0.5, "student_val_mse": 0.4, "teacher_gain": pytest.approx(-0.25),
                     "teacher_beats_student": False}
    assert "NOT better" in verdict(check, "teacher_multimodal")
    assert check_teacher({**teacher, "best_val_mse": 0.3}, {"best_val_mse": 0.4, "val_windows": 16},
                         teacher="t")["teacher_beats_student"] is True
