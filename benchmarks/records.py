"""The benchmark's record of each finished final run, kept in the repository (``benchmarks/records/``).

A final run of :mod:`results` ends by exporting what :mod:`results_doc` needs from the benchmark's MLflow
experiment into ``benchmarks/records/<run>/``: ``run.json`` (its ``--params``, their digest, its seconds, its
teachers' seconds, the ingest statistics the intervals need), ``models.csv`` (each model's MLflow run: test
metrics, validation MSE, efficiency, run id) and ``window_errors.parquet`` (each model's per-window test errors,
the artifact ``evaluation/window_errors.parquet`` of its run). A few hundred kB a run, no weights, no data.

Why in the repository: a benchmark of hours outlives the machine it starts on. ``data/``, ``mlflow.db`` and the
checkpoints are not committed (weights and data never are), so a fresh clone would otherwise train every run
again; with the records committed as runs finish, a fresh clone skips the recorded runs and trains only the
teachers of runs that are still missing. ``docs/results.md`` is written from the records alone, and each number
names its MLflow run (``docs/results/runs.csv``) for whoever still has the store.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from results import ROOT, digest

from s2kd.reporting.runs import model_runs  # noqa: E402  (results puts src/ on the path)
from s2kd.tracking import WINDOW_ERRORS_ARTIFACT  # noqa: E402

RECORDS = ROOT / "benchmarks" / "records"


def record_dir(name: str) -> Path:
    return RECORDS / name


def recorded(name: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The record of final run ``name`` if it was made with ``params`` (and today's parameter files)."""
    path = record_dir(name) / "run.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return record if record.get("params_digest") == digest(params) else None


def mlflow_models(experiment: str, name: str) -> pd.DataFrame:
    """The model runs of run folder ``name`` in the benchmark's experiment that ``evaluate`` scored: per
    model, the latest finished one (the one its saved model points to)."""
    import mlflow

    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=[experiment], max_results=100000,
                              filter_string=f"tags.dataset = '{name}' and attributes.status = 'FINISHED'")
    if runs.empty:
        raise RuntimeError(f"the MLflow experiment {experiment!r} has no finished run of {name}")
    models = model_runs(runs)
    models = models[models.get("test_mse", pd.Series(dtype=float)).notna()]
    return models.sort_values("start_time").drop_duplicates("model", keep="last").reset_index(drop=True)


def write_record(experiment: str, marker: dict[str, Any], teacher_seconds: float | None) -> Path:
    """Export final run ``marker["params"]["dataset"]`` from MLflow into its record (a temporary folder
    renamed into place, so that a record is whole or absent)."""
    import mlflow

    name = marker["params"]["dataset"]
    models = mlflow_models(experiment, name)
    errors = pd.concat([pd.read_parquet(mlflow.artifacts.download_artifacts(
        run_id=r, artifact_path=WINDOW_ERRORS_ARTIFACT)) for r in models["run_id"]], ignore_index=True)
    stats = json.loads((ROOT / "data" / "03_primary" / name / "normalisation_stats.json").read_text())
    final, tmp = record_dir(name), record_dir(name).with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    models.drop(columns=["start_time"]).to_csv(tmp / "models.csv", index=False)
    errors.to_parquet(tmp / "window_errors.parquet", index=False)
    run = {**marker, "teacher_seconds": teacher_seconds,
           "stats": {k: stats[k] for k in ("channels", "t_in", "t_out") if k in stats}}
    (tmp / "run.json").write_text(json.dumps(run, indent=2, default=str))
    shutil.rmtree(final, ignore_errors=True)
    tmp.replace(final)
    return final


def read_record(name: str) -> dict[str, Any]:
    """``run`` (run.json), ``models`` and ``errors`` of a record."""
    folder = record_dir(name)
    return {"run": json.loads((folder / "run.json").read_text()), "models": pd.read_csv(folder / "models.csv"),
            "errors": pd.read_parquet(folder / "window_errors.parquet")}
