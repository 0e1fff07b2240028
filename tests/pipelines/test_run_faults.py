"""Faults of a whole ``kedro run``: a run that dies in a node is resumed with ``--from-nodes`` without
redoing (or re-paying for) the nodes that finished; a catalog entry that went missing stops the run
before any work; embeddings from another text encoder are refused before a teacher trains on them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from s2kd.datasets import NpzDataset
from s2kd.errors import InputError
from tests.helpers import files_under

TINY = {"ingest": {"synthetic": {"n_times": 200, "height": 8, "width": 16, "events_per_year": 60.0}},
        "train_teacher": {"preset": "tiny", "max_epochs": 1, "max_train_samples": 16, "max_val_samples": 8,
                          "batch_size": 8},
        "trainer": {"enable_progress_bar": False}}


def _session(project, **extra):
    bootstrap_project(project)
    return KedroSession.create(project_path=project, runtime_params=TINY | extra)


def test_a_run_that_dies_in_a_node_resumes_with_from_nodes(project, monkeypatch):
    feature = project / "data/04_feature/synthetic"

    def killed(*args, **kwargs):
        raise RuntimeError("killed while embedding")

    monkeypatch.setattr("s2kd.pipelines.narrate.nodes.embed_texts", killed)
    with _session(project) as session, pytest.raises(RuntimeError, match="killed while embedding"):
        session.run(pipeline_names=["ingest", "narrate"])
    # what finished is saved whole; the node that died left nothing a later run would trust
    assert (feature / "narratives.parquet").is_file()
    assert not (feature / "narrative_embeddings.npz").exists()
    assert not [p for p in files_under(project / "data") if ".tmp-" in p.name]
    done = {p: p.stat().st_mtime_ns for p in files_under(project / "data")}
    monkeypatch.undo()
    # kedro run --from-nodes=embed_narratives: only the node that died runs again
    with _session(project) as session:
        session.run(pipeline_names=["ingest", "narrate"], from_nodes=["embed_narratives"])
    assert {p: p.stat().st_mtime_ns for p in done} == done, "finished nodes must not run again"
    emb = NpzDataset(filepath=str(feature / "narrative_embeddings.npz")).load()
    index = pd.read_parquet(project / "data/03_primary/synthetic/sample_index.parquet")
    np.testing.assert_array_equal(emb["sample_id"], index["sample_id"].to_numpy())
    assert emb["tokens"].shape[-1] == 384 and np.isfinite(emb["tokens"]).all()


@pytest.mark.parametrize(("key", "entry", "conf_file", "pipeline", "verb"), [
    ("student_{method}", "student_feature_kd", "catalog_models.yml", "distill", "writes"),
    ("series", "series", "catalog.yml", "train_teacher", "reads"),
])
def test_a_missing_catalog_entry_stops_the_run_before_any_node(project, key, entry, conf_file, pipeline, verb):
    path = project / "conf/base" / conf_file
    catalog = yaml.safe_load(path.read_text())
    del catalog[key]
    path.write_text(yaml.safe_dump(catalog))
    with _session(project) as session:
        said = rf"catalog entry '{entry}': is missing, and the run {verb} it.*Fix: add the entry back"
        with pytest.raises(InputError, match=said):
            session.run(pipeline_name=pipeline)
    assert files_under(project / "data") == []
    assert not (project / "mlflow.db").exists()


def test_embeddings_of_another_text_encoder_are_refused_before_training(project):
    with _session(project) as session:
        session.run(pipeline_names=["ingest", "narrate"])
    path = project / "data/04_feature/synthetic/narrative_embeddings.npz"
    emb = NpzDataset(filepath=str(path)).load()
    other = "sentence-transformers/all-mpnet-base-v2"
    NpzDataset(filepath=str(path)).save(emb | {"meta": emb["meta"] | {"model": other}})
    with _session(project) as session:
        with pytest.raises(InputError, match=re.escape("narrative_embeddings: were made by text encoder "
                                                       "'sentence-transformers/all-mpnet-base-v2'")):
            session.run(pipeline_name="train_teacher")
    assert not list((project / "data").rglob("*.pt")), "no teacher may be trained on them"
    # the wrong width is refused too, whatever the file says of its model
    NpzDataset(filepath=str(path)).save(emb | {"tokens": np.zeros((*emb["tokens"].shape[:2], 768), np.float16)})
    with _session(project) as session:
        with pytest.raises(InputError, match="are 768 wide"):
            session.run(pipeline_name="train_teacher")


def test_a_checkpoint_of_other_data_or_settings_is_never_resumed():
    """A training run resumes from the checkpoint folder its fingerprint names; any change of settings,
    data statistics, windows or teacher weights gives another folder, so a stale run is never resumed."""
    from s2kd.recipes.jobs import fingerprint

    rows = pd.DataFrame({"sample_id": [0, 1, 2], "start": [0, 1, 2]})
    base = fingerprint({"lr": 1e-3, "preset": "tiny"}, {"mean": [1.0]}, rows, arrays=(np.zeros(3),))
    assert base == fingerprint({"preset": "tiny", "lr": 1e-3}, {"mean": [1.0]}, rows.copy(), arrays=(np.zeros(3),))
    changed = [
        fingerprint({"lr": 2e-3, "preset": "tiny"}, {"mean": [1.0]}, rows, arrays=(np.zeros(3),)),
        fingerprint({"lr": 1e-3, "preset": "tiny"}, {"mean": [1.5]}, rows, arrays=(np.zeros(3),)),
        fingerprint({"lr": 1e-3, "preset": "tiny"}, {"mean": [1.0]}, rows.assign(start=[0, 1, 3]),
                    arrays=(np.zeros(3),)),
        fingerprint({"lr": 1e-3, "preset": "tiny"}, {"mean": [1.0]}, rows, arrays=(np.ones(3),)),
    ]
    assert base not in changed and len(set(changed)) == 4
