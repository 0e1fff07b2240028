"""``kedro run --pipeline narrate`` with the ``openai`` narrator against a local OpenAI-compatible server.

The API key travels only in the request header: after the run it is absent from the logs, the
MLflow run (parameters, tags, metrics), the cache, and every output file.
"""

from __future__ import annotations

import logging
import secrets

import mlflow
import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.narrators.fake_openai import FakeOpenAIServer

TINY = {"n_times": 100, "height": 8, "width": 16, "events_per_year": 40.0}


def _files_contain(root, needle: str) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            hits.append(str(path.relative_to(root)))
    return hits


def test_kedro_run_with_the_openai_narrator_never_leaks_the_key(project, monkeypatch, caplog):
    key = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(api_key=key, faults=["429", "500_echo"]) as server:
        params = {
            "ingest": {"synthetic": TINY, "windows": {"stride": 2}},  # ~45 samples to narrate
            "narrate": {"narrator": "openai", "openai": {
                "base_url": server.base_url, "model": "fake-vlm", "max_concurrency": 2, "timeout_s": 5.0,
                "backoff_initial_s": 0.01, "backoff_max_s": 0.05, "on_failure": "raise"}},
        }
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=params) as session:
            session.run(pipeline_names=["ingest", "narrate"])
        n_requests = server.count
    table = pd.read_parquet(project / "data/04_feature/synthetic/narratives.parquet")
    index = pd.read_parquet(project / "data/03_primary/synthetic/sample_index.parquet")
    assert list(table.sample_id) == list(index.sample_id)
    assert (table.narrator == "openai").all() and (table.model == "fake-vlm").all()
    distinct_images = len(table)  # every sample has its own frames
    assert n_requests == distinct_images + 2  # one 429 and one 500 retried
    assert all(r["auth_ok"] for r in server.requests)  # the key did travel, in the header

    # nowhere else: logs, files (outputs, cache, MLflow store), MLflow run
    assert key not in caplog.text and key[-12:] not in caplog.text
    assert _files_contain(project, key) == []
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    run = mlflow.search_runs(experiment_names=["s2kd"], output_format="list")[0]
    dump = repr(run.data.params) + repr(run.data.tags) + repr(run.data.metrics)
    assert key not in dump
    assert run.data.params["narrate.narrator"] == "openai" and run.data.params["narrate.openai.model"] == "fake-vlm"
    assert run.data.metrics["narration_metrics.narratives"] == len(table)
    assert run.data.metrics["narration_metrics.retries"] == 2
    assert run.data.metrics["narration_metrics.output_tokens"] > 0

    # a second run resumes from the cache: no request at all
    with FakeOpenAIServer(api_key=key) as server:
        params["narrate"]["openai"]["base_url"] = server.base_url
        with KedroSession.create(project_path=project, runtime_params=params) as session:
            session.run(pipeline_names=["narrate"])
        assert server.count == 0
    assert pd.read_parquet(project / "data/04_feature/synthetic/narratives.parquet").cached.all()
