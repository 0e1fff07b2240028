"""benchmarks/results.py, tuning.py, records.py and results_doc.py: the runs they ask for, resuming (also on a
fresh clone, from the committed records), the equal tuning budget, and the document they write from the
records of finished runs (with intervals, never from the test split's choice)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import threading
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from s2kd.recipes.params import LOSS_KEYS
from s2kd.tracking import WINDOW_ERRORS_ARTIFACT, log_to_run
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


results = _load("results")
schedule = _load("schedule")
records = _load("records")
tuning = _load("tuning")
results_doc = _load("results_doc")

CONFIG = yaml.safe_load((REPO / "benchmarks" / "results.yml").read_text())


def test_every_run_has_the_same_budget_and_its_own_seeds_and_folder():
    a = results.run_params(CONFIG, "ncep", 0, 0)
    b = results.run_params(CONFIG, "ncep", 2, 1, {"distill.methods.s2kd.lambda": 0.1})
    assert (a["dataset"], b["dataset"]) == ("bench_ncep_t0_s0", "bench_ncep_t2_s1")
    assert (b["train_teacher.seed"], b["distill.seed"], b["distill.methods.s2kd.lambda"]) == (2, 1, 0.1)
    budget = {k: v for k, v in a.items() if k not in ("dataset", "train_teacher.seed", "distill.seed")}
    assert budget == {k: v for k, v in b.items() if k not in ("dataset", "train_teacher.seed", "distill.seed",
                                                              "distill.methods.s2kd.lambda")}
    assert a["train_teacher.max_train_samples"] is None and "train_teacher.max_train_samples=null" in \
        results.params_arg(a)
    assert results.seeds_of(CONFIG, "ncep") == ([0, 1, 2], [0, 1, 2])  # 3 x 3 on NCEP 4 -> 4
    assert results.seeds_of(CONFIG, "bikenyc") == ([0], [0, 1, 2])  # at least 1 x 3 elsewhere
    assert results.ablation_seeds(CONFIG, "ncep") == [0] and results.ablation_seeds(CONFIG, "ncep_context") == []
    with pytest.raises(ValueError, match="comma"):
        results.params_arg({"ingest.xarray.variables": "a,b"})


def test_a_runs_seconds_add_up_over_its_attempts_killed_ones_included(tmp_path, monkeypatch):
    """The clock beside a run's log keeps counting while the run goes (what a killed benchmark leaves), adds a
    failed attempt's time to the next one's, and starts again when the run's parameters change."""
    monkeypatch.setattr(results, "TICK", 0.05)
    log = tmp_path / "run" / "benchmark.log"
    clock = log.with_suffix(".seconds")
    sleep = [sys.executable, "-c", "import time; time.sleep(0.6)"]
    going = threading.Thread(target=results.kedro, args=(sleep, log, "exp", "k1"))
    going.start()
    time.sleep(0.4)
    mid = json.loads(clock.read_text())  # what a kill now would leave
    going.join()
    assert mid["attempts"] == 1 and 0.2 < mid["seconds"] < 0.6 and mid["key"] == "k1"
    first = json.loads(clock.read_text())["seconds"]
    assert first >= 0.6
    with pytest.raises(RuntimeError, match="exit 3"):
        results.kedro([sys.executable, "-c", "import time, sys; time.sleep(0.2); sys.exit(3)"], log, "exp", "k1")
    failed = json.loads(clock.read_text())
    assert failed["attempts"] == 2 and failed["seconds"] >= first + 0.2
    seconds, attempts = results.kedro(sleep, log, "exp", "k1")
    assert attempts == 3 and seconds >= failed["seconds"] + 0.6
    assert json.loads(clock.read_text()) == {"key": "k1", "seconds": seconds, "attempts": 3}
    seconds, attempts = results.kedro(sleep, log, "exp", "k2")  # other parameters: a new count
    assert attempts == 1 and 0.6 <= seconds < failed["seconds"] + 0.6


def test_every_dataset_gets_its_first_teacher_seed_before_any_second_one():
    order = schedule.run_order(CONFIG, ["ncep", "bikenyc"])
    assert len(order) == 12 and len(set(order)) == 12  # 3 x 3 + 1 x 3, each once
    assert order[:6] == [("ncep", 0, 0), ("ncep", 0, 1), ("ncep", 0, 2),
                         ("bikenyc", 0, 0), ("bikenyc", 0, 1), ("bikenyc", 0, 2)]
    assert order[6:] == [("ncep", t, s) for t in (1, 2) for s in (0, 1, 2)]


def _touch(root, files):
    for path, content in files.items():
        (root / "data" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / path).write_bytes(content)


def test_later_runs_take_over_the_data_and_frozen_teachers_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "ROOT", tmp_path)
    data = tmp_path / "data"
    _touch(tmp_path, {"03_primary/bench_x_t0_s0/series.nc": b"data",
                      "04_feature/bench_x_t0_s0/narratives.parquet": b"t",
                      "06_models/bench_x_t0_s0/teacher_multimodal.pt/v1/teacher_multimodal.pt": b"weights",
                      "06_models/bench_x_t0_s0/student_s2kd.pt/v1/student_s2kd.pt": b"the first seed's student",
                      "08_reporting/bench_x_t0_s0/teacher_validation.csv": b"model,best_val_mse\n",
                      "08_reporting/bench_x_t0_s0/validation/teacher_vision.json": b"{}",
                      "08_reporting/bench_x_t0_s0/validation/student_s2kd.json": b"{}"})
    stale = data / "03_primary" / "bench_x_t0_s1"
    stale.mkdir(parents=True)
    (stale / "old.txt").write_text("from an earlier run")
    results.copy_shared("bench_x_t0_s0", "bench_x_t0_s1")
    assert not (stale / "old.txt").exists() and (stale / "series.nc").read_bytes() == b"data"
    assert (data / "06_models/bench_x_t0_s1/teacher_multimodal.pt/v1/teacher_multimodal.pt").read_bytes() == b"weights"
    assert not (data / "06_models/bench_x_t0_s1/student_s2kd.pt").exists(), "students are each run's own"
    assert not (data / "08_reporting/bench_x_t0_s1/validation/student_s2kd.json").exists()
    # another teacher seed takes the data only: it trains its own teachers
    results.copy_shared("bench_x_t0_s0", "bench_x_t1_s0", results.DATA)
    assert (data / "04_feature/bench_x_t1_s0/narratives.parquet").exists()
    assert not (data / "06_models/bench_x_t1_s0").exists()
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(FileNotFoundError, match="did not finish"):
        results.copy_shared("bench_x_t5_s0", "bench_x_t5_s1")


def test_every_method_gets_the_same_number_of_validation_configurations(tmp_path):
    methods = tuning.configurations()
    assert set(methods) == {"output_kd", "feature_kd", "sdkd", "s2kd", "s2kd_forecast"}
    assert len({len(c) for c in methods.values()}) == 1 and len(methods["s2kd"]) >= 4
    # L_sem gets its best chance: at least three forms and both candidate teacher latents
    assert {c.get("semantic", "mse") for c in methods["s2kd"]} >= {"mse", "cosine", "relational"}
    assert {c.get("sem_target") for c in methods["s2kd"]} >= {"semantic", "translator"}
    # a configuration is complete: what it leaves out is the shared value, never the method's default entry
    shared = yaml.safe_load((REPO / "conf" / "base" / "parameters_distill.yml").read_text())["distill"]
    given = tuning.settings_params("s2kd", {"lambda": 0.1, "beta": 1.0})
    assert given == {f"distill.methods.s2kd.{k}": {"lambda": 0.1, "beta": 1.0}.get(k, shared[k])
                     for k in LOSS_KEYS}
    assert given["distill.methods.s2kd.semantic"] == shared["semantic"] != shared["methods"]["s2kd"]["semantic"]
    bad = tmp_path / "tuning.yml"
    bad.write_text("methods:\n  s2kd: [{beta: 1.0}]\n  sdkd: [{lambda: 1.0}, {lambda: 0.1}]\n")
    with pytest.raises(ValueError, match="same number of configurations"):
        tuning.configurations(bad)
    bad.write_text("methods:\n  s2kd_spec_only: [{beta: 1.0}]\n")
    with pytest.raises(ValueError, match="not a method with its own loss settings"):
        tuning.configurations(bad)
    bad.write_text("methods:\n  s2kd: [{betta: 1.0}]\n")
    with pytest.raises(ValueError, match="unknown loss setting"):
        tuning.configurations(bad)


def _fake_run(root, dataset, t, s, factors, rng):
    """A finished final run, as MLflow holds it: one run per model (teachers only in the first student
    seed's folder, where the teachers stage trains them) with its test metrics, validation MSE, efficiency
    and per-window errors (the student's are the base, a method's a fixed factor of them with a little
    noise), and the ingest statistics on disk; then exported into its record, as the benchmark does."""
    name = results.run_name(dataset, t, s)
    folder = root / "data" / "08_reporting" / name
    folder.mkdir(parents=True)
    primary = root / "data" / "03_primary" / name
    primary.mkdir(parents=True)
    (primary / "normalisation_stats.json").write_text(json.dumps({"t_in": 4, "t_out": 4, "channels": ["t"]}))
    times = pd.date_range("2014-09-01", periods=120, freq="6h")
    base = 1.0 + 0.5 * np.sin(np.arange(120) / 9.0) + 0.02 * s
    for model, f in factors.items():
        mse = base * f * (1 + 0.01 * rng.standard_normal(120))
        role = "teacher" if model.startswith("teacher") else "student"
        if role == "teacher" and s != 0:
            continue
        metrics = {f"test_{m}": float(mse.mean()) for m in results_doc.TABLE_METRICS if m != "rmse_physical"}
        metrics |= {"test_rmse_physical_t": float(mse.mean()) ** 0.5, "test_mse_lead1": float(mse.mean()) * 0.9,
                    "test_mse_lead2": float(mse.mean()) * 1.1, "best_val_mse": 0.01 * f,
                    "parameters": 1e6 if role == "teacher" else 1e4, "flops": 100.0,
                    "latency_ms_b1": {"teacher_vision": 6.0, "teacher_multimodal": 9.0}.get(model, 1.0),
                    "latency_ms_b32": 1.0}
        tags = {"dataset": name, "model": model, "role": role, "seed": str(t if role == "teacher" else s),
                "method": model.removeprefix("student_") if role == "student" else ""}
        with mlflow.start_run(run_name=model, tags=tags) as run:
            window = pd.DataFrame({"model": model, "sample_id": np.arange(120), "time": times, "mse": mse})
            assert log_to_run(run.info.run_id, metrics, tables={WINDOW_ERRORS_ARTIFACT: window})
    params = results.run_params(CONFIG, dataset, t, s)
    marker = {"params": params, "params_digest": results.digest(params), "seconds": 60.0,
              **({} if (dataset, t, s) == ("ncep", 2, 2) else {"attempts": 1})}  # t2 s2: made by an older script
    records.write_record(CONFIG["mlflow_experiment"], marker, 600.0 if s == 0 else None)


def test_document_states_intervals_targets_teacher_seeds_and_missing_datasets(tmp_path, monkeypatch):
    for module in (results, results_doc, records):
        monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(records, "RECORDS", tmp_path / "benchmarks" / "records")
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "base" / "parameters_distill.yml").write_text("distill:\n  beta: 0.5\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.create_experiment(CONFIG["mlflow_experiment"], artifact_location=str(tmp_path / "artifacts"))
    mlflow.set_experiment(CONFIG["mlflow_experiment"])
    rng = np.random.default_rng(0)
    for t in (0, 1, 2):
        for s in (0, 1, 2):
            _fake_run(tmp_path, "ncep", t, s, {
                "teacher_multimodal": 0.7, "teacher_vision": 0.8, "student_student": 1.0, "student_output_kd": 0.9,
                "student_feature_kd": 1.0, "student_sdkd": 0.97, "student_s2kd": 0.80 + 0.01 * t,
                "student_s2kd_forecast": 0.95}, rng)
    for dataset, gain in (("synthetic", 0.8), ("synthetic_dial_0.5", 0.9), ("synthetic_dial_0", 1.0)):
        for s in (0, 1, 2):  # the dial: the S2-KD gain grows with the events the text announces
            _fake_run(tmp_path, dataset, 0, s, {"teacher_multimodal": 0.7, "teacher_vision": 0.8,
                                                "student_student": 1.0, "student_output_kd": 0.95,
                                                "student_feature_kd": 1.0, "student_sdkd": 1.0,
                                                "student_s2kd": gain, "student_s2kd_forecast": 0.95}, rng)
    stale = records.record_dir(results.run_name("ncep_context", 0, 0))  # made with other parameters: left out
    stale.mkdir(parents=True)
    (stale / "run.json").write_text(json.dumps({"params": {}, "params_digest": "0ld", "seconds": 1.0}))
    # the document needs the records only: not MLflow, not data/ (a fresh clone of the repository)
    shutil.rmtree(tmp_path / "data")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    monkeypatch.setattr(results_doc.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": "abc1234\n"})())
    out = tmp_path / "docs" / "results.md"
    results_doc.write_document(CONFIG, list(CONFIG["datasets"]), out)
    text = out.read_text()
    assert "Teacher seeds [0, 1, 2], student seeds [0, 1, 2] (9 runs)" in text
    assert "`diagnostic` narrator (rule-based, not an LMM), `hindsight` mode" in text
    # chosen on validation: s2kd (val 0.0081) over s2kd_forecast; output_kd (0.009) the best baseline
    assert "the best S2-KD form is `s2kd`, the best baseline `output_kd`" in text
    row = next(line for line in text.splitlines() if line.startswith("| NCEP: s2kd / student"))
    ratio, low, high = (float(x) for x in row.split("|")[2].replace("[", " ").replace(",", " ").replace("]", " ")
                        .split()[:3])
    assert ratio == pytest.approx(0.81, abs=0.005) and low < ratio < high <= 0.85 and row.endswith("| yes |")
    row = next(line for line in text.splitlines() if line.startswith("| NCEP: s2kd / output_kd ≤ 0.95"))
    assert float(row.split("|")[2].split()[0]) == pytest.approx(0.9, abs=0.005) and row.endswith("| yes |")
    assert "`train_teacher.max_train_samples=null`" in text  # the budget as kedro reads it
    assert "| NCEP: vision teacher ≥ 10 % below the student (validation) | 20.0 % | yes |" in text
    assert "| NCEP: student ≥ 5× faster than the vision teacher at batch 1 (eager" in text
    assert "docs/forecast.md) | 6.0× | yes |" in text  # against the vision teacher (6 ms), not the multimodal (9)
    assert "**better**" in text and "| feature_kd | 3 x 3 | 1.000 [" in text  # a tie is not called better
    assert "blocks of 8 consecutive test windows" in text  # 6-hourly windows spanning 4 + 4 steps
    assert "## ncep_context" in text and "No finished run yet." in text
    assert "### Teachers, per teacher seed" in text and "| 2 |" in text
    assert (tmp_path / "docs" / "results" / "ncep_lead_mse.png").stat().st_size > 1000
    dial = text[text.index("## The text dial"):text.index("## ncep:")]
    rows = [line for line in dial.splitlines() if line.startswith("| 0") or line.startswith("| 1")]
    assert [float(r.split("|")[1]) for r in rows] == [0.0, 0.5, 1.0]
    assert [r.split("|")[2].strip() for r in rows] == ["1 x 3"] * 3  # the seeds behind each level
    assert [float(r.split("|")[6].split()[0]) for r in rows] == pytest.approx([1.0, 0.9, 0.8], abs=0.01)  # s2kd
    assert (tmp_path / "docs" / "results" / "dial.png").stat().st_size > 1000
    # 18 runs of 60 s, 6 teacher runs of 600 s; one record without its attempts counted: a lower bound
    assert "compute at least 78 min for teachers and final runs" in text
    assert "before the benchmark summed the time of every attempt at a run: `bench_ncep_t2_s2`)" in text
    assert "(9 runs); compute ≥ 39 min" in text and "(3 runs); compute 13 min" in text  # per dataset
    # every number comes from MLflow: the teacher's validation MSE in the document is its run's metric
    runs = pd.read_csv(tmp_path / "docs" / "results" / "runs.csv")
    assert len(runs) == 2 * 3 + 6 * 9 + 3 * (2 + 6 * 3)  # the teachers once per teacher seed, students per run
    teacher = runs[(runs["dataset"] == "ncep") & (runs["model"] == "teacher_multimodal") & (runs["teacher_seed"] == 1)]
    logged = mlflow.get_run(teacher["run_id"].item()).data.metrics["best_val_mse"]
    section = text[text.index("## ncep:"):text.index("## ncep_context")]
    row = next(line for line in section.splitlines() if line.startswith("| 1 |"))
    assert f"| {logged:.5f} |" in row
    student = runs[(runs["dataset"] == "ncep") & (runs["model"] == "student_s2kd")]
    assert student["test_mse"].tolist() == [mlflow.get_run(r).data.metrics["test_mse"] for r in student["run_id"]]


def test_tuning_chooses_each_methods_best_on_validation_and_resumes(tmp_path, monkeypatch):
    """With a fake kedro whose validation MSE depends on the setting: the lowest per method is chosen, the
    ablation checks run with s2kd's choice, a second call runs nothing, and the table says all of it."""
    for module in (results, tuning):
        monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(tuning, "STORE_DIR", tmp_path / "benchmarks" / "records")
    teachers = []
    monkeypatch.setattr(tuning, "teacher_run", lambda config, dataset, t: teachers.append((dataset, t)))
    (tmp_path / "conf" / "base").mkdir(parents=True)
    conf = yaml.safe_load((REPO / "conf" / "base" / "parameters_distill.yml").read_text())
    conf["distill"]["beta"] = 0.5
    (tmp_path / "conf" / "base" / "parameters_distill.yml").write_text(yaml.safe_dump(conf))
    shared = conf["distill"]
    source = results.run_name("ncep", 0, 0)
    _touch(tmp_path, {f"03_primary/{source}/series.nc": b"d", f"04_feature/{source}/n.parquet": b"n",
                      f"06_models/{source}/teacher_vision.pt/v1/t.pt": b"w",
                      f"08_reporting/{source}/teacher_validation.csv": b"model\n",
                      f"08_reporting/{source}/validation/teacher_vision.json": b"{}"})
    calls = []

    def fake_kedro(cmd, log, experiment, key=""):
        params = dict(p.split("=", 1) for p in cmd[cmd.index("--params") + 1].split(","))
        method = cmd[cmd.index("--namespaces") + 1].removeprefix("student_")
        calls.append(method)
        weights = [float(v) for k, v in params.items() if k.startswith("distill.methods.")
                   and k.rsplit(".", 1)[1] in ("beta", "lambda", "gamma")]
        val = 0.01 if method == "student" else 0.01 * (1 + abs(sum(weights) - 1.0) / 10)
        folder = tmp_path / "data" / "08_reporting" / params["dataset"] / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"student_{method}.json").write_text(json.dumps({"best_val_mse": val}))
        return 1.0, 1

    monkeypatch.setattr(tuning, "kedro", fake_kedro)
    configs = tuning.configurations()
    chosen = tuning.tune(CONFIG)
    n = len(configs["s2kd"])
    assert calls.count("student") == 1 and len(calls) == 1 + n * len(configs) + len(tuning.CHECKS)
    assert calls[-2:] == list(tuning.CHECKS)
    # output_kd: gamma closest to 1 wins; the choice comes back as --params of the method's own entry
    assert chosen["distill.methods.output_kd.gamma"] == 1.0
    s2kd = {k.removeprefix("distill.methods.s2kd."): v for k, v in chosen.items() if ".s2kd." in k}
    best = min(configs["s2kd"], key=lambda c: abs(sum(c.get(k, shared[k]) for k in ("beta", "lambda", "gamma")) - 1))
    assert s2kd == {k: best.get(k, shared[k]) for k in LOSS_KEYS}
    assert teachers == [("ncep", 0)]  # the tuning's teachers, trained (or found) before its first run
    assert tuning.tune(CONFIG) == chosen and len(calls) == 1 + n * len(configs) + len(tuning.CHECKS)  # resumed
    assert teachers == [("ncep", 0)]  # nothing to run, no teacher needed
    table = (tmp_path / "docs" / "experiments" / "tuning_ncep.md").read_text()
    assert f"Every method gets {n} configurations" in table and table.count("| yes |") == len(configs)
    assert table.count("| (check) |") == len(tuning.CHECKS)


def test_a_fresh_clone_skips_recorded_runs_and_trains_only_the_teachers_of_missing_ones(tmp_path, monkeypatch):
    """Records in the repository, nothing under data/ (a new machine): the recorded runs of teacher seed 0
    are skipped without training their teacher; teacher seed 1's first run trains its teacher, making the
    data itself (seed 0's teacher run is not here to copy it from), then its students, then its record."""
    for module in (results, records):
        monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(records, "RECORDS", tmp_path / "benchmarks" / "records")
    settings = {"distill.methods.s2kd.lambda": 0.01}
    for s in (0, 1, 2):
        params = results.run_params(CONFIG, "ncep", 0, s, settings)
        folder = records.record_dir(params["dataset"])
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"params": params, "params_digest": results.digest(params),
                                                     "seconds": 5.0}))
    calls, exported = [], []

    def fake_kedro(cmd, log, experiment, key=""):
        calls.append((cmd[cmd.index("--pipelines") + 1], dict(p.split("=", 1) for p in
                                                               cmd[cmd.index("--params") + 1].split(","))["dataset"]))
        return 2.0, 1

    monkeypatch.setattr(results, "kedro", fake_kedro)
    monkeypatch.setattr(records, "write_record", lambda exp, marker, teacher: exported.append(
        (marker["params"]["dataset"], teacher)) or tmp_path)
    for s in (0, 1, 2):
        assert schedule.final_run(CONFIG, "ncep", 0, s, settings)["seconds"] == 5.0
    assert calls == [] and exported == []
    schedule.final_run(CONFIG, "ncep", 1, 0, settings)
    assert calls == [("ingest,narrate,train_teacher", "bench_ncep_t1_s0"), ("distill,evaluate", "bench_ncep_t1_s0")]
    assert exported == [("bench_ncep_t1_s0", 2.0)]
    # the same run again: its final marker is under data/, so only the export is repeated (e.g. after a
    # kill between the run and its record)
    shutil.rmtree(records.record_dir("bench_ncep_t1_s0"), ignore_errors=True)
    schedule.final_run(CONFIG, "ncep", 1, 0, settings)
    assert len(calls) == 2 and exported[-1] == ("bench_ncep_t1_s0", 2.0)
    # a changed setting makes the records stale: the run is made again
    assert records.recorded("bench_ncep_t0_s0", results.run_params(CONFIG, "ncep", 0, 0, {})) is None


def test_a_runs_identity_changes_with_a_setting_not_with_comments_new_null_options_or_read_options(tmp_path,
                                                                                                  monkeypatch):
    monkeypatch.setattr(results, "ROOT", tmp_path)
    conf = tmp_path / "conf" / "base" / "parameters_ingest.yml"
    conf.parent.mkdir(parents=True)
    conf.write_text("ingest:\n  validation:\n    max_gap_steps: 0\n  xarray:\n    chunks: auto\n")
    before = results.digest({"dataset": "x"})
    conf.write_text("ingest:  # the source\n  validation:\n    max_gap_steps: 0   # filled\n    segments: null\n"
                    "  xarray:\n    chunks: {time: 8}\n")
    assert results.digest({"dataset": "x"}) == before  # a comment, a new option off by default, how it is read
    (tmp_path / "conf" / "base" / "parameters_loading.yml").write_text("loading:\n  store: file\n")
    assert results.digest({"dataset": "x"}) == before
    conf.write_text("ingest:\n  validation:\n    max_gap_steps: 2\n")
    assert results.digest({"dataset": "x"}) != before
    assert results.digest({"dataset": "y"}) != before


def _sleeping_runs(monkeypatch, tmp_path, job_of, seconds_of) -> list[list]:
    """The benchmark's ``kedro run``s replaced by sleeps of ``seconds_of(job)``, ``job_of(cmd, experiment)`` naming
    each; returns the jobs running at once, listed at every start (the new one last)."""
    lock, running, spans = threading.Lock(), [], []

    def fake_kedro(cmd, log, experiment, key=""):
        job = job_of(cmd, experiment)
        with lock:
            running.append(job)
            spans.append(list(running))
        time.sleep(seconds_of(job))
        with lock:
            running.remove(job)
        return 0.1, 1

    monkeypatch.setattr(results, "kedro", fake_kedro)
    monkeypatch.setattr(records, "write_record", lambda exp, marker, teacher: tmp_path)
    monkeypatch.setattr(results, "copy_shared", lambda *a, **k: None)
    return spans


def test_final_runs_go_two_at_a_time_with_a_share_of_the_cores_and_a_later_teacher_seed_after_the_first(
        tmp_path, monkeypatch):
    for module in (results, records):
        monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(records, "RECORDS", tmp_path / "benchmarks" / "records")
    monkeypatch.setattr(results.os, "cpu_count", lambda: 4)
    monkeypatch.setitem(results.JOBS, "n", 2)
    config = {**CONFIG, "datasets": {"ncep": {**CONFIG["datasets"]["ncep"], "teacher_seeds": [0, 1],
                                              "ablations": []}}}
    threads = set()

    def stage(cmd, experiment):
        threads.add(results.kedro_environ(experiment)["OMP_NUM_THREADS"])
        return cmd[cmd.index("--pipelines") + 1]

    spans = _sleeping_runs(monkeypatch, tmp_path, stage, lambda job: 0.2)
    schedule.final_runs(config, ["ncep"], {})
    assert threads == {"2"}  # 4 cores, 2 runs at once
    assert max(map(len, spans)) == 2
    assert all(sum("train_teacher" in stage for stage in span) <= 1 for span in spans)
    assert sum("train_teacher" in stage for span in spans for stage in span[-1:]) == 2  # one per teacher seed
    finals = [s for span in spans for s in span[-1:] if s.startswith("distill")]
    assert len(finals) == 6  # 2 teacher seeds x 3 student seeds

    def failing(cmd, log, experiment, key=""):
        raise RuntimeError("kedro run failed")

    monkeypatch.setattr(results, "kedro", failing)
    shutil.rmtree(tmp_path / "data")
    with pytest.raises(SystemExit, match="6 of 6 final runs failed"):
        schedule.final_runs(config, ["ncep"], {})


def test_a_free_worker_trains_the_next_datasets_teachers_instead_of_waiting_for_the_ones_in_training(
        tmp_path, monkeypatch):
    for module in (results, records):
        monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(records, "RECORDS", tmp_path / "benchmarks" / "records")
    monkeypatch.setitem(results.JOBS, "n", 2)
    config = {**CONFIG, "datasets": {name: {**CONFIG["datasets"][name], "teacher_seeds": [0], "student_seeds": [0, 1],
                                            "ablations": []} for name in ("ncep", "bikenyc")}}

    def job(cmd, experiment):
        params = dict(p.split("=", 1) for p in cmd[cmd.index("--params") + 1].split(","))
        return (params["dataset"].split("_t")[0].removeprefix("bench_"),
                "teachers" if "train_teacher" in cmd[cmd.index("--pipelines") + 1] else "final")

    spans = _sleeping_runs(monkeypatch, tmp_path, job, lambda job: 0.6 if job[1] == "teachers" else 0.1)
    started = time.perf_counter()
    schedule.final_runs(config, ["ncep", "bikenyc"], {})
    elapsed = time.perf_counter() - started
    # while ncep's teachers train, the other worker trains bikenyc's instead of waiting for ncep's
    assert any({("ncep", "teachers"), ("bikenyc", "teachers")} <= set(span) for span in spans), spans
    assert sum(job == ("ncep", "teachers") for span in spans for job in span[-1:]) == 1
    assert sum(job[1] == "final" for span in spans for job in span[-1:]) == 4
    assert elapsed < 0.6 + 0.6 + 0.5  # the two teacher runs overlap: not 2 x 0.6 + the finals one after another


def test_later_teacher_seeds_train_at_once_after_the_first_seeds_data(tmp_path, monkeypatch):
    for module in (results, records):
        monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(records, "RECORDS", tmp_path / "benchmarks" / "records")
    monkeypatch.setitem(results.JOBS, "n", 2)
    config = {**CONFIG, "datasets": {"ncep": {**CONFIG["datasets"]["ncep"], "teacher_seeds": [0, 1, 2],
                                              "student_seeds": [0], "ablations": []}}}

    def job(cmd, experiment):
        params = dict(p.split("=", 1) for p in cmd[cmd.index("--params") + 1].split(","))
        stage = "teachers" if "train_teacher" in cmd[cmd.index("--pipelines") + 1] else "final"
        return params["train_teacher.seed"], stage

    spans = _sleeping_runs(monkeypatch, tmp_path, job, lambda job: 0.5 if job[1] == "teachers" else 0.05)
    schedule.final_runs(config, ["ncep"], {})
    teachers = [[seed for seed, stage in span if stage == "teachers"] for span in spans]
    assert sum(job[1] == "teachers" for span in spans for job in span[-1:]) == 3
    assert not any("0" in seeds and len(seeds) > 1 for seeds in teachers), spans  # seed 0 makes the data alone
    assert any(set(seeds) == {"1", "2"} for seeds in teachers), spans  # then seeds 1 and 2 train at once
    assert sum(job[1] == "final" for span in spans for job in span[-1:]) == 3


def test_the_month_table_shows_where_in_the_test_period_a_gain_lies():
    errors = pd.DataFrame({
        "model": ["teacher_vision"] * 4 + ["student_student"] * 4,
        "sample_id": [1, 2, 3, 4] * 2,
        "time": pd.to_datetime(["2014-09-01", "2014-09-02", "2014-12-01", "2014-12-02"] * 2),
        "mse": [0.8, 0.8, 1.2, 1.2, 1.0, 1.0, 1.0, 1.0]})
    text = "\n".join(results_doc.month_lines(errors, ["teacher_vision", "student_student"]))
    assert "| 2014-09 | 2 | 0.8 | 1 | 0.8 |" in text and "| 2014-12 | 2 | 1.2 | 1 | 1.2 |" in text
    assert results_doc.month_lines(errors[errors["time"].dt.month == 9], ["teacher_vision", "student_student"]) == []


def test_an_ablation_of_the_first_teacher_seed_is_compared_on_that_seed_only():
    """``s2kd`` under three teacher seeds against an ablation run under the first one: paired on teacher seed 0
    (equal there, ratio 1), not averaged over seeds 1 and 2 that the ablation never saw (ratio 5/3)."""
    times = pd.date_range("2014-09-01", periods=16, freq="6h")
    rows = [{"model": model, "t": t, "s": s, "time": time, "mse": (2.0 if t else 1.0) + 0.01 * i}
            for model, seeds in (("student_s2kd", (0, 1, 2)), ("student_s2kd_sem_only", (0,)),
                                 ("student_student", (0,)))
            for t in seeds for s in (0, 1) for i, time in enumerate(times)]
    errors = pd.DataFrame(rows)
    data = {"errors": errors}
    assert results_doc.interval(data, "student_s2kd", "student_s2kd_sem_only", 4).ratio == pytest.approx(1.0)
    assert results_doc.interval(data, "student_s2kd", "student_student", 4).ratio > 1.5  # every seed, reused student
    assert results_doc.seeds_cell(data, "student_s2kd") == "3 x 2"
    assert results_doc.seeds_cell(data, "student_s2kd_sem_only") == "1 x 2"
