"""``kedro run`` itself trains with Lightning's DDP strategy: 2 CPU processes (gloo) train the teachers of
``train_teacher`` in lock-step, and the run still leaves one output and one MLflow run.

Lightning starts rank 1 by re-running the ``kedro run`` command of rank 0 (``LOCAL_RANK=1``). Both
processes run every node; only the global rank 0 writes outputs and tracks in MLflow, and a barrier
after each write keeps rank 1 from reading a file rank 0 has not finished (:mod:`s2kd.distributed`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import mlflow
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import Version

from s2kd.datasets import TorchModelDataset
from tests.training.test_ddp import _ddp_env

TINY = {"ingest": {"synthetic": {"n_times": 200, "height": 8, "width": 16, "events_per_year": 60.0}}}
TRAIN = ("train_teacher.preset=tiny,train_teacher.max_epochs=2,train_teacher.max_train_samples=32,"
         "train_teacher.max_val_samples=8,train_teacher.batch_size=8,trainer.enable_progress_bar=false")
DDP = "trainer.accelerator=cpu,trainer.devices=2,trainer.strategy=ddp"


def test_kedro_run_trains_the_teachers_on_two_cpu_processes(project):
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=TINY) as session:
        session.run(pipeline_names=["ingest", "narrate"])
    kedro = Path(sys.executable).with_name("kedro")
    env = _ddp_env() | {"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "true"}
    started = time.perf_counter()
    done = subprocess.run([str(kedro), "run", "--pipeline", "train_teacher", "--params", f"{TRAIN},{DDP}"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-5000:]
    # two processes met: Lightning names both members of the group, once per rank
    assert set(re.findall(r"GLOBAL_RANK: (\d), MEMBER: \d/2", log)) == {"0", "1"}, log[-3000:]
    # one output per model, written once: one version, no temporary left by the other rank
    models = project / "data/06_models/synthetic"
    for name in ("teacher_multimodal", "teacher_vision"):
        versions = sorted((models / f"{name}.pt").iterdir())
        assert len(versions) == 1, versions
        payload = TorchModelDataset(filepath=str(models / f"{name}.pt"), version=Version(None, None)).load()
        assert payload["meta"]["epochs"] == 2
    assert not [p for p in project.rglob("*.tmp-*")]
    # one MLflow run for the kedro run, one nested run per teacher: rank 1 tracked nothing
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["s2kd"], output_format="list")
    kinds = sorted(r.data.tags.get("kedro.pipeline") or r.data.tags.get("model") for r in runs)
    assert kinds == ["ingest+narrate", "teacher_multimodal", "teacher_vision", "train_teacher"], kinds
    assert elapsed < 400
