"""Invalid parameters are rejected before any work starts: every node declares the pydantic model of
its ``params:<group>`` input, and ``kedro run`` (Kedro's own parameter validation) builds each group
the run uses before the first node runs; the error names the dotted parameter and what is allowed,
no data is read, no output written and no MLflow run opened."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.validation import ParameterValidationError

from tests.helpers import files_under

CASES = [
    ("distill", {"distill": {"beta": -1.0}},
     r"distill\.beta: is -1\.0\. Fix: use a value that is greater than or equal to 0"),
    ("distill", {"distill": {"lambda": -0.1}}, r"distill\.lambda: is -0\.1\. Fix: .*greater than or equal to 0"),
    ("distill", {"distill": {"cutoff": 0.6}}, r"distill\.cutoff: is 0\.6\. Fix: .*less than or equal to 0\.5"),
    ("distill", {"distill": {"cutoff": 0.0}}, r"distill\.cutoff: is 0\.0\. Fix: .*greater than 0"),
    ("distill", {"distill": {"methods": "student+fitnet"}}, r"distill\.methods: is 'student\+fitnet'.*dictionary"),
    ("distill", {"distill": {"methods": {"s2kd": {"lambda": -1}}}},
     r"distill\.methods: .*distill\.methods\.s2kd\.lambda is -1: use a value that is greater than or equal to 0"),
    ("distill", {"distill": {"max_epochs": 0}}, r"distill\.max_epochs: is 0\. Fix: .*greater than or equal to 1"),
    ("distill", {"trainer": {"devices": 0}}, r"trainer\.devices"),
    ("train_teacher", {"trainer": {"precision": "fp8"}}, r"trainer\.precision: is 'fp8'"),
    ("ingest", {"ingest": {"windows": {"t_out": 0}}},
     r"ingest\.windows\.t_out: is 0\. Fix: .*greater than or equal to 1"),
    ("ingest", {"ingest": {"splits": {"train": 0.8, "val": 0.3, "test": 0.1}}}, r"ingest\.splits.*sum to 1"),
    ("ingest", {"ingest": {"synthetic": {"n_times": 0}}}, r"ingest\.synthetic\.n_times: is 0"),
    ("narrate", {"narrate": {"mode": "future"}}, r"narrate\.mode: is 'future'\. Fix: .*'context' or 'hindsight'"),
    ("narrate", {"narrate": {"narrator": "openai", "openai": {"max_concurrency": 0}}},
     r"narrate\.openai\.max_concurrency: is 0"),
    ("narrate", {"narrate": {"embedding": {"max_length": 1000}}}, r"narrate\.embedding\.max_length: is 1000"),
    ("train_teacher", {"train_teacher": {"lr": 0}}, r"train_teacher\.lr: is 0\. Fix: .*greater than 0"),
    ("train_teacher", {"train_teacher": {"teacher": {"depth": 3}}}, r"train_teacher\.teacher: .*unknown option"),
    ("evaluate", {"evaluate": {"batch_size": 0}}, r"evaluate\.batch_size: is 0\. Fix: .*greater than or equal to 1"),
    ("__default__", {"distill": {"gamma": -2}}, r"distill\.gamma: is -2"),
    ("ablations", {"distill": {"alpha": -1}}, r"distill\.alpha: is -1"),
]


@pytest.mark.parametrize(("pipeline", "override", "pattern"), CASES,
                         ids=[f"{c[0]}-{next(iter(c[1]))}-{i}" for i, c in enumerate(CASES)])
def test_kedro_run_rejects_bad_parameters_before_any_node(project, pipeline, override, pattern):
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=override) as session:
        with pytest.raises(ParameterValidationError, match=pattern):
            session.run(pipeline_name=pipeline)
    assert files_under(project / "data") == [], "no node may run: nothing is written"
    assert not (project / "mlflow.db").exists(), "no MLflow run is opened for a run that never started"


def test_the_command_line_names_the_parameter_and_exits_non_zero(project):
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipeline", "distill", "--params",
                           "distill.beta=-0.5,distill.lambda=1"], cwd=project, capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode != 0
    said = " ".join((done.stderr + done.stdout).replace("│", " ").split())  # rich wraps long lines
    assert "distill.beta: is -0.5. Fix: use a value that is greater than or equal to 0" in said
    assert files_under(project / "data") == []
