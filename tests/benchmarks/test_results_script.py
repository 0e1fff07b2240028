"""benchmarks/results.py: the runs it asks for, resuming, and the document it writes from finished runs."""

from __future__ import annotations

import importlib.util
import json
import sys

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
_spec = importlib.util.spec_from_file_location("results", REPO / "benchmarks" / "results.py")
results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results)

CONFIG = yaml.safe_load((REPO / "benchmarks" / "results.yml").read_text())


def test_every_run_has_the_same_budget_and_its_own_seed_and_folder():
    a = results.run_params(CONFIG, "ncep", 0)
    b = results.run_params(CONFIG, "ncep", 2)
    assert (a["dataset"], b["dataset"]) == ("bench_ncep_s0", "bench_ncep_s2")
    assert (b["train_teacher.seed"], b["distill.seed"]) == (0, 2)  # one frozen teacher, students per seed
    budget = {k: v for k, v in a.items() if k not in ("dataset", "train_teacher.seed", "distill.seed")}
    assert budget == {k: v for k, v in b.items() if k not in ("dataset", "train_teacher.seed", "distill.seed")}
    long = results.run_params(CONFIG, "ncep_12x12", 1)
    assert long["ingest.windows.t_out"] == 12
    # the first seed trains the teachers; every seed its students, then the ablations (scoring every model),
    # or only evaluate for a dataset run on the core methods
    assert results.pipelines(CONFIG, "ncep", first=True) == ["ingest", "narrate", "train_teacher", "distill",
                                                             "ablations"]
    assert results.pipelines(CONFIG, "ncep", first=False) == ["distill", "ablations"]
    assert results.pipelines(CONFIG, "ncep_12x12", first=False) == ["distill", "evaluate"]
    arg = results.params_arg(a)
    assert arg.count(",") == len(a) - 1 and "distill.seed=0" in arg
    with pytest.raises(ValueError, match="comma"):
        results.params_arg({"ingest.xarray.variables": "a,b"})


def test_later_seeds_take_over_the_data_and_frozen_teachers_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "ROOT", tmp_path)
    data = tmp_path / "data"
    first = {"03_primary/bench_x_s0/series.nc": b"data", "04_feature/bench_x_s0/narratives.parquet": b"text",
             "06_models/bench_x_s0/teacher_multimodal.pt/v1/teacher_multimodal.pt": b"weights",
             "06_models/bench_x_s0/teacher_vision.pt/v1/teacher_vision.pt": b"vision",
             "06_models/bench_x_s0/checkpoints/teacher_shuffled-abc/last.ckpt": b"ckpt",
             "06_models/bench_x_s0/students/s2kd.pt/v1/s2kd.pt": b"the first seed's student",
             "08_reporting/bench_x_s0/teacher_validation.csv": b"model,best_val_mse\n",
             "08_reporting/bench_x_s0/validation/teacher_vision.json": b"{}",
             "08_reporting/bench_x_s0/validation/student_s2kd.json": b"{}"}
    for path, content in first.items():
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        (data / path).write_bytes(content)
    stale = data / "03_primary" / "bench_x_s1"
    stale.mkdir(parents=True)
    (stale / "old.txt").write_text("from an earlier run")
    results.copy_shared("bench_x_s0", "bench_x_s1")
    assert not (stale / "old.txt").exists() and (stale / "series.nc").read_bytes() == b"data"
    assert (data / "06_models/bench_x_s1/teacher_multimodal.pt/v1/teacher_multimodal.pt").read_bytes() == b"weights"
    assert (data / "06_models/bench_x_s1/checkpoints/teacher_shuffled-abc/last.ckpt").read_bytes() == b"ckpt"
    assert (data / "08_reporting/bench_x_s1/validation/teacher_vision.json").exists()
    assert not (data / "06_models/bench_x_s1/students").exists(), "students are each seed's own"
    assert not (data / "08_reporting/bench_x_s1/validation/student_s2kd.json").exists()
    assert not list(tmp_path.rglob("*.tmp"))
    for path in sorted((data / "06_models/bench_x_s0").glob("teacher_*.pt/**/*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    for folder in (data / "06_models/bench_x_s0").glob("teacher_*.pt"):
        folder.rmdir()
    with pytest.raises(FileNotFoundError, match=r"teacher_\*\.pt is missing"):
        results.copy_shared("bench_x_s0", "bench_x_s2")


def _fake_run(root, config, dataset, seed, scale):
    params = results.run_params(config, dataset, seed)
    folder = root / "data" / "08_reporting" / params["dataset"]
    folder.mkdir(parents=True)
    rows = []
    values = {"teacher_multimodal": 0.8, "teacher_vision": 0.9, "teacher_shuffled": 0.95, "student_student": 1.0,
              "student_output_kd": 0.99, "student_feature_kd": 1.02, "student_sdkd": 1.0, "student_s2kd": 0.97}
    for model, v in values.items():
        role = "teacher" if model.startswith("teacher") else "student"
        for metric in results.TABLE_METRICS:
            for lead in (0, 1, 2):
                rows.append({"model": model, "method": model, "role": role, "oracle": role == "teacher",
                             "metric": metric, "lead": lead, "value": scale * v * (1 + 0.1 * lead)})
    pd.DataFrame(rows).to_parquet(folder / "metrics_table.parquet")
    pd.DataFrame({"model": list(values), "parameters": [1000 if m.startswith("teacher") else 50 for m in values],
                  "flops": 100, "latency_ms_b1": [6.0 if m.startswith("teacher") else 1.0 for m in values],
                  "latency_ms_b32": 1.0}).to_csv(folder / "efficiency.csv", index=False)
    pd.DataFrame({"model": ["teacher_multimodal", "teacher_vision"], "best_val_mse": [0.5, 0.6]}).to_csv(
        folder / "teacher_validation.csv", index=False)
    (folder / "benchmark_run.json").write_text(json.dumps({"params_digest": results.digest(params), "seconds": 60.0}))


def test_document_from_finished_runs_states_ratios_targets_and_missing_datasets(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "ROOT", tmp_path)
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "base" / "parameters_distill.yml").write_text(
        "distill:\n  beta: 0.5\n  lambda: 2.0\n  spectral_on: output\n")
    for seed, scale in ((0, 1.0), (1, 1.1)):
        _fake_run(tmp_path, CONFIG, "ncep", seed, scale)
    # a run whose parameters changed since is not finished: it must not count
    stale = results.run_params(CONFIG, "ncep", 2)
    (tmp_path / "data" / "08_reporting" / stale["dataset"]).mkdir(parents=True)
    (tmp_path / "data" / "08_reporting" / stale["dataset"] / "benchmark_run.json").write_text(
        json.dumps({"params_digest": "0ld", "seconds": 1.0}))
    assert results.finished(stale["dataset"], stale) is None
    done = results.run_params(CONFIG, "ncep", 0)
    assert results.finished(done["dataset"], done) is not None
    (tmp_path / "conf" / "base" / "parameters_distill.yml").write_text("distill:\n  beta: 0.7\n")
    assert results.finished(done["dataset"], done) is None  # a changed default: the run must be redone
    (tmp_path / "conf" / "base" / "parameters_distill.yml").write_text(
        "distill:\n  beta: 0.5\n  lambda: 2.0\n  spectral_on: output\n")
    out = tmp_path / "docs" / "results.md"
    monkeypatch.setattr(results.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": "abc1234\n"})())
    results.write_document(CONFIG, list(CONFIG["datasets"]), out)
    text = out.read_text()
    assert "Seeds 0, 1; compute 2.0 min" in text
    assert "β = 0.5, λ = 2.0" in text and "L_spec on = output" in text  # the loss settings the runs had
    assert "| s2kd / feature_kd | 0.951 ± 0.000" in text  # 0.97 / 1.02 in both seeds
    assert "| s2kd / feature_kd <= 0.91 | 0.951 (missed) |" in text
    assert "| ncep | 0.970 (2/2) | 0.951 (2/2) | 0.980 (2/2) | 0.970 (2/2) | 1.212 (0/2) |" in text
    assert "| student latency b1: teacher / student ≥ 5 | 6.00 (met) |" in text
    assert "## synthetic" in text and "No finished run yet." in text
    assert "teacher_multimodal / teacher_vision" in text
    assert (tmp_path / "docs" / "results" / "ncep_lead_mse.png").stat().st_size > 1000
    summary = pd.read_csv(tmp_path / "docs" / "results" / "summary.csv")
    row = summary[(summary["model"] == "student_s2kd") & (summary["metric"] == "mse")].iloc[0]
    assert row["mean"] == pytest.approx(0.97 * 1.05) and row["n"] == 2


@pytest.mark.parametrize(("changes", "words"), [
    ([-1.0, -3.0, -6.0], "it grows with lead time"),
    ([-6.0, -3.0, -1.0], "largest at lead 1 (-6.0 %)"),
    ([0.5, -7.5, -6.3, -4.3], "largest at lead 2 (-7.5 %), smaller at later leads"),
    ([0.5, 2.0, 0.0], "no better than the student at any lead"),
])
def test_lead_trend_reads_the_sign_and_the_slope(changes, words):
    assert words in results.lead_trend(pd.Series(changes))
