"""The project as a user meets it: ``kedro run``, MLflow, ``kedro viz``, the README and CI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from kedro.framework.project import configure_project
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from s2kd.pipeline_registry import register_pipelines
from s2kd.training.methods import METHODS

TINY = {"ingest": {"synthetic": {"n_times": 200, "height": 8, "width": 16}}}


def _runs(root: Path):
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=["s2kd"], output_format="list")


def test_registry_has_ingest_and_a_default():
    configure_project("s2kd")
    pipelines = register_pipelines()
    assert "ingest" in pipelines
    default = {n.name for n in pipelines["__default__"].nodes}
    assert {n.name for n in pipelines["ingest"].nodes} <= default
    assert "teacher_shuffled.train" not in default, "the ablations run on demand, not in the default kedro run"


def test_kedro_run_writes_outputs_and_an_mlflow_run_with_the_ingest_parameters(project):
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=TINY) as session:
        session.run(pipeline_names=["ingest"])
    assert (project / "data/03_primary/synthetic/series.nc").is_file()
    runs = _runs(project)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["kedro.pipeline"] == "ingest"
    params = run.data.params
    assert params["ingest.source"] == "synthetic"
    assert params["ingest.synthetic.n_times"] == "200"  # what the node received, runtime override included
    assert params["ingest.windows.t_in"] == "4" and params["ingest.synthetic.seed"] == "0"


def test_mlflow_experiment_name_from_the_environment_wins_over_the_file(project, monkeypatch):
    bootstrap_project(project)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "s2kd-benchmark-test")
    with KedroSession.create(project_path=project, runtime_params=TINY) as session:
        session.run(pipeline_names=["ingest"])
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    assert len(mlflow.search_runs(experiment_names=["s2kd-benchmark-test"], output_format="list")) == 1
    assert not _runs(project)


def test_a_failing_run_is_marked_failed_and_writes_nothing(project):
    bootstrap_project(project)
    # a node that fails on its input (bad parameters never get this far: test_parameter_validation.py)
    missing = {"ingest": {"source": "xarray", "xarray": {"path": str(project / "nope.nc")}}}
    with KedroSession.create(project_path=project, runtime_params=missing) as session:
        with pytest.raises(ValueError, match="nope.nc.*no such file"):
            session.run(pipeline_names=["ingest"])
    assert [r.info.status for r in _runs(project)] == ["FAILED"]
    assert not (project / "data").exists() or not any(p.is_file() for p in (project / "data").rglob("*"))


def test_kedro_registry_describe_lists_one_node_per_method(project):
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([str(kedro), "registry", "describe", "distill"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    listed = set(re.findall(r"- (\S+)", done.stdout))
    assert {f"student_{m}.train" for m, spec in METHODS.items() if not spec.ablation} <= listed, done.stdout
    done = subprocess.run([str(kedro), "registry", "describe", "ablations"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert {f"student_{m}.train" for m, spec in METHODS.items() if spec.ablation} | {"teacher_shuffled.train"} <= set(
        re.findall(r"- (\S+)", done.stdout)), done.stdout


def test_kedro_viz_build_shows_every_pipeline_and_one_node_per_trained_model(project):
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([str(kedro), "viz", "build"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    graph = json.loads((project / "build/api/main").read_text())
    tasks = {n["name"] for n in graph["nodes"] if n["type"] == "task"}
    data = {n["name"] for n in graph["nodes"] if n["type"] == "data"}
    assert {"load_and_validate_source", "split_and_fit_normalisation", "normalise_series", "describe_samples"} <= tasks
    assert {"series", "sample_index", "sample_metadata", "normalisation_stats"} <= data
    trained = {f"student_{m}" for m, spec in METHODS.items() if not spec.ablation} | {"teacher_multimodal",
                                                                                       "teacher_vision"}
    # one "train" task per trained model, each in its own namespace box
    train = [n for n in graph["nodes"] if n["type"] == "task" and n["name"] == "train"]
    assert sorted(n["full_name"] for n in train) == sorted(f"{name}.train" for name in trained)
    assert all(n["modular_pipelines"] == [n["full_name"].split(".")[0]] for n in train)
    assert trained <= data
    assert {"ingest", "distill", "ablations", "__default__"} <= {p["id"] for p in graph["pipelines"]}


def test_readme_commands_match_ci_and_the_environments(repo):
    readme = (repo / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    first = [ln for ln in blocks[0].splitlines() if ln and not ln.startswith("#")]
    assert len(first) == 2, "the README opens with exactly two commands"
    assert first[0].endswith("pip install -e . && kedro run")
    assert 'pip install -e ".[test]" && pytest' in first[1]
    ci = (repo / ".ci/run").read_text()
    pattern = re.search(r"grep -m1 -E '(.*?)' README.md", ci).group(1)
    assert re.search(pattern, first[1]), ".ci/run must find the README's test command"
    for env in re.findall(r"kedro run --env (\w+)", readme):
        assert (repo / "conf" / env / "parameters_ingest.yml").is_file(), env
