"""MLflow as the place where runs are compared: the experiment's kind, the tags to filter by, and runs of
killed processes closed instead of left ``RUNNING`` forever."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from s2kd.tracking import PROCESS_TAG, close_dead_runs, process_tag, use_experiment


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_runs_of_dead_processes_on_this_host_are_marked_killed(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    use_experiment("e")
    dead, alive, elsewhere, untagged = (f"{process_tag(_dead_pid())}", process_tag(),
                                        f"another-host:{os.getpid()}:1", None)
    ids = {}
    for name, tag in {"dead": dead, "alive": alive, "elsewhere": elsewhere, "untagged": untagged}.items():
        run = mlflow.start_run(run_name=name, tags={PROCESS_TAG: tag} if tag else {})
        ids[name] = run.info.run_id
        mlflow.end_run("RUNNING")  # leaves it RUNNING in the store, as a killed process would
    # a process of the same pid that started later is another process: its runs are dead too
    host, pid, _ = alive.split(":")
    run = mlflow.start_run(run_name="reused", tags={PROCESS_TAG: f"{host}:{pid}:0"})
    ids["reused"] = run.info.run_id
    mlflow.end_run("RUNNING")
    assert sorted(close_dead_runs()) == sorted([ids["dead"], ids["reused"]])
    status = {name: mlflow.get_run(i).info.status for name, i in ids.items()}
    assert status == {"dead": "KILLED", "alive": "RUNNING", "elsewhere": "RUNNING", "untagged": "RUNNING",
                      "reused": "KILLED"}
    assert close_dead_runs() == []
    # the experiment opens on its runs table in the UI (MLflow 3's kind for model training)
    assert mlflow.get_experiment_by_name("e").tags["mlflow.experimentKind"] == "custom_model_development"


def _runs(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        try:
            return con.execute("select name, status from runs").fetchall()
        except sqlite3.OperationalError:
            return []


def test_a_kedro_run_killed_with_sigkill_leaves_no_run_running(project):
    """Kill ``kedro run`` while a teacher trains (its own run and the nested model run are RUNNING); the
    next ``kedro run`` on the same store marks both KILLED."""
    kedro = str(Path(sys.executable).with_name("kedro"))
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    tiny = ("ingest.synthetic.n_times=200,ingest.synthetic.height=8,ingest.synthetic.width=16,"
            "train_teacher.preset=tiny,train_teacher.max_epochs=500,train_teacher.patience=500,"
            "train_teacher.max_train_samples=48,train_teacher.max_val_samples=16,trainer.enable_progress_bar=false")
    db = project / "mlflow.db"
    done = subprocess.run([kedro, "run", "--pipeline", "ingest", "--params", tiny], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    proc = subprocess.Popen([kedro, "run", "--pipeline", "train_teacher", "--namespaces", "teacher_vision",
                             "--params", tiny], cwd=project, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if any(name == "teacher_vision" and status == "RUNNING" for name, status in _runs(db)):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"no teacher run started (exit code {proc.poll()})")
        time.sleep(2)  # a few epochs in
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    left = _runs(db)
    assert ("kedro-train_teacher", "RUNNING") in left and ("teacher_vision", "RUNNING") in left
    done = subprocess.run([kedro, "run", "--pipeline", "ingest", "--params", tiny], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    status = _runs(db)
    assert "RUNNING" not in {s for _, s in status}, status
    assert {s for n, s in status if n in ("kedro-train_teacher", "teacher_vision")} == {"KILLED"}
    assert [s for n, s in status if n == "kedro-ingest"] == ["FINISHED", "FINISHED"]
    assert "marked KILLED" in done.stdout + done.stderr


def test_a_resumed_training_continues_the_run_of_the_killed_attempt(tmp_path):
    """The model's run id lives beside its checkpoints; a later attempt under the same dataset, env and
    commit continues it (moved under the new parent run), another dataset's attempt gets its own run."""
    from s2kd.tracking import RUN_FILE, model_run

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    use_experiment("e")
    folder = tmp_path / "ckpt" / "student_plain-abc"
    shared = {"dataset": "d", "kedro.env": "base", "commit": "c1"}

    def attempt(tags: dict[str, str], kill: bool) -> tuple[str, str]:
        with mlflow.start_run(run_name="kedro-distill", tags=tags) as parent:
            with model_run("student_plain", {"lr": 0.01}, tags={"model": "student_plain"},
                           checkpoint_dir=folder) as logger:
                logger.log_metrics({"val_mse": 1.0}, step=0)
                if kill:  # what close_dead_runs leaves of an attempt killed mid-training
                    mlflow.tracking.MlflowClient().set_terminated(logger.run_id, "KILLED")
                    mlflow.end_run("KILLED")
                    mlflow.end_run("KILLED")
                    return logger.run_id, parent.info.run_id
            return logger.run_id, parent.info.run_id

    first, _ = attempt(shared, kill=True)
    assert json.loads((folder / RUN_FILE).read_text())["run_id"] == first
    again, parent = attempt(shared, kill=False)
    assert again == first
    run = mlflow.get_run(first)
    assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == parent
    assert attempt(shared, kill=False)[0] == first  # a finished model found again: still its one run
    other, _ = attempt({**shared, "dataset": "d2"}, kill=False)
    assert other != first and json.loads((folder / RUN_FILE).read_text())["run_id"] == other
    newer, _ = attempt({**shared, "dataset": "d2", "commit": "c2"}, kill=False)
    assert newer not in (first, other)
    (folder / RUN_FILE).write_text('{"run_id": "0123456789abcdef"}')  # another store's run: a new one
    assert attempt(shared, kill=False)[0] not in (first, other, newer)
    named = mlflow.search_runs(experiment_names=["e"], filter_string="attributes.run_name = 'student_plain'")
    assert len(named) == 4


def test_models_left_pending_by_a_killed_run_are_marked_failed(tmp_path):
    """A run killed while its model's files were written leaves the logged model PENDING for ever; closing
    the dead run marks it FAILED. A live run's pending model is left to it."""
    from mlflow.entities import LoggedModelStatus

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    use_experiment("e")
    models = {}
    for name, tag in {"dead": process_tag(_dead_pid()), "alive": process_tag()}.items():
        mlflow.start_run(run_name=name, tags={PROCESS_TAG: tag})
        models[name] = mlflow.initialize_logged_model(name="forecaster").model_id
        mlflow.end_run("RUNNING")
    close_dead_runs()
    status = {name: mlflow.get_logged_model(i).status for name, i in models.items()}
    assert status == {"dead": LoggedModelStatus.FAILED, "alive": LoggedModelStatus.PENDING}
