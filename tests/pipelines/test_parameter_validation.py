"""Invalid parameters are rejected before any work starts: ``kedro run`` checks every parameter group
its nodes take with the group's typed class before the first node runs, names the parameter and the
allowed range, reads no data, writes no output and opens no MLflow run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from s2kd.errors import ParameterError
from s2kd.pipelines.params import PARAMETER_GROUPS, validate_parameters
from tests.helpers import files_under, load_conf

CASES = [
    ("distill", {"distill": {"beta": -1.0}}, r"distill\.beta: is -1\. Fix: use a number >= 0"),
    ("distill", {"distill": {"lambda": -0.1}}, r"distill\.lambda: is -0\.1\. Fix: use a number >= 0"),
    ("distill", {"distill": {"cutoff": 0.6}}, r"distill\.cutoff: is 0\.6\. Fix: use a number in \(0, 0\.5\]"),
    ("distill", {"distill": {"cutoff": 0.0}}, r"distill\.cutoff: is 0\. Fix: use a number in \(0, 0\.5\]"),
    ("distill", {"distill": {"methods": "student+fitnet"}}, r"distill\.methods: unknown method\(s\) \['fitnet'\]"),
    ("distill", {"distill": {"max_epochs": 0}}, r"distill\.max_epochs: is 0\. Fix: use an integer >= 1"),
    ("ingest", {"ingest": {"windows": {"t_out": 0}}}, r"ingest\.windows\.t_out: is 0\. Fix: use an integer >= 1"),
    ("ingest", {"ingest": {"splits": {"train": 0.8, "val": 0.3, "test": 0.1}}}, r"ingest\.splits.*sum to 1"),
    ("narrate", {"narrate": {"mode": "future"}}, r"narrate\.mode: is 'future'\. Fix: use one of"),
    ("narrate", {"narrate": {"narrator": "openai", "openai": {"max_concurrency": 0}}},
     r"narrate\.openai\.max_concurrency: is 0"),
    ("narrate", {"narrate": {"embedding": {"max_length": 1000}}}, r"narrate\.embedding\.max_length: is 1000"),
    ("train_teacher", {"train_teacher": {"lr": 0}}, r"train_teacher\.lr: is 0\. Fix: use a number > 0"),
    ("train_teacher", {"train_teacher": {"teacher": {"depth": 3}}}, r"train_teacher\.teacher: has unknown key"),
    ("evaluate", {"evaluate": {"batch_size": 0}}, r"evaluate\.batch_size: is 0\. Fix: use an integer >= 1"),
    ("__default__", {"distill": {"gamma": -2}}, r"distill\.gamma: is -2"),
]


@pytest.mark.parametrize(("pipeline", "override", "pattern"), CASES, ids=[f"{c[0]}-{next(iter(c[1]))}-{i}" for i, c in enumerate(CASES)])
def test_kedro_run_rejects_bad_parameters_before_any_node(project, pipeline, override, pattern):
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=override) as session:
        with pytest.raises(ParameterError, match=pattern):
            session.run(pipeline_name=pipeline)
    assert files_under(project / "data") == [], "no node may run: nothing is written"
    assert not (project / "mlflow.db").exists(), "no MLflow run is opened for a run that never started"


def test_the_command_line_names_the_parameter_and_exits_non_zero(project):
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipeline", "distill", "--params",
                           "distill.beta=-0.5,distill.lambda=1"], cwd=project, capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode != 0
    assert "distill.beta: is -0.5. Fix: use a number >= 0" in done.stderr + done.stdout
    assert files_under(project / "data") == []


def test_every_pipeline_group_has_a_typed_check_and_the_defaults_pass():
    params = load_conf(None)["parameters"]
    groups = {k for k in params if isinstance(params[k], dict)}
    assert groups <= set(PARAMETER_GROUPS) | {"report"}, groups - set(PARAMETER_GROUPS)
    typed = validate_parameters({k: params[k] for k in PARAMETER_GROUPS})
    assert typed["distill"].beta == params["distill"]["beta"] and typed["ingest"].t_out == 4
    for env in ("ncep", "bikenyc", "knmi"):
        validate_parameters({k: v for k, v in load_conf(env)["parameters"].items() if k in PARAMETER_GROUPS})
