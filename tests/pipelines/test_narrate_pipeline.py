"""The ``narrate`` pipeline: after ``ingest``, a narratives table and token embeddings for every sample."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from kedro.validation.exceptions import ModelInstantiationError

from s2kd.errors import InputError, ParameterError
from s2kd.narrators.params import NarrateParams
from s2kd.pipelines.ingest import create_pipeline as ingest_pipeline
from s2kd.pipelines.narrate import create_pipeline as narrate_pipeline
from s2kd.pipelines.narrate.nodes import embed_narratives
from tests.helpers import load_conf, run, tmp_catalog

TINY = {"n_times": 240, "height": 8, "width": 16, "events_per_year": 60.0}


def _catalog(tmp_path, env=None, stride=None, **narrate):
    conf = load_conf(env)
    catalog, params = tmp_catalog(conf, tmp_path)
    ingest = copy.deepcopy(params["ingest"])
    if env is None:
        ingest["synthetic"].update(TINY)
    if stride is not None:
        ingest["windows"]["stride"] = stride
    catalog["params:ingest"] = ingest
    catalog["params:narrate"] = copy.deepcopy(params["narrate"]) | narrate
    return catalog


def test_narrate_after_ingest_on_the_synthetic_default(tmp_path):
    catalog = _catalog(tmp_path)
    run(ingest_pipeline() + narrate_pipeline(), catalog)
    table = catalog.load("narratives")
    index = catalog.load("sample_index")
    assert list(table.sample_id) == list(index.sample_id)
    assert {"sample_id", "split", "text", "narrator", "model", "prompt_hash", "fallback"} <= set(table.columns)
    assert (table.narrator == "diagnostic").all() and not table.fallback.any()
    assert (table.split == index.split).all()
    assert table.text.str.len().min() > 20
    emb = catalog.load("narrative_embeddings")
    assert emb["tokens"].shape[0] == len(index) and emb["tokens"].shape[2] == 384
    assert emb["mask"].shape == emb["tokens"].shape[:2] and emb["mask"].sum(1).min() >= 3
    np.testing.assert_array_equal(emb["sample_id"], index.sample_id.to_numpy())
    assert emb["meta"]["model"].endswith("all-MiniLM-L6-v2") and emb["meta"]["max_length"] == 96
    metrics = catalog.load("narration_metrics")
    assert metrics["narratives"] == len(index) and 0 < metrics["distinct_fraction"] <= 1


def test_hindsight_adds_the_target_window(tmp_path):
    context = _catalog(tmp_path / "c", mode="context")
    run(ingest_pipeline() + narrate_pipeline(), context)
    hindsight = _catalog(tmp_path / "h", mode="hindsight")
    run(ingest_pipeline() + narrate_pipeline(), hindsight)
    c, h = context.load("narratives"), hindsight.load("narratives")
    assert h.text.str.contains("Next,").mean() > 0.9  # what happens in the target window
    assert not c.text.str.contains("Next,").any()
    assert (h.text != c.text).mean() > 0.9
    assert (c["mode"] == "context").all() and (h["mode"] == "hindsight").all()
    assert c.prompt_hash.iloc[0] != h.prompt_hash.iloc[0]


def configured(**narrate) -> NarrateParams:
    """The configured ``narrate`` group with some values replaced, typed as Kedro types it."""
    return NarrateParams.model_validate(copy.deepcopy(load_conf(None)["parameters"]["narrate"]) | narrate)


def test_embeddings_refuse_narratives_that_do_not_match_the_index():
    index = pd.DataFrame({"sample_id": [0, 1, 2], "split": ["train", "val", "test"]})
    narratives = pd.DataFrame({"sample_id": [0, 1, 5], "text": ["a", "b", "c"]})
    with pytest.raises(InputError,
                       match=r"narratives: do not match the sample index.*Fix: rerun `kedro run --pipeline narrate`"):
        embed_narratives(narratives, index, configured())
    with pytest.raises(ParameterError, match=r"narrate.embedding.max_length: is 1000\. Fix: .*or equal to 256"):
        configured(embedding={"max_length": 1000})
    with pytest.raises(ParameterError, match=r"narrate.embedding.max_length: is 4\. Fix: .*greater than or equal to 8"):
        configured(embedding={"max_length": 4})


@pytest.mark.parametrize(("group", "value", "where"), [
    ({"mode": "future"}, "'future'", "narrate.mode"), ({"chunk_size": 0}, "0", "narrate.chunk_size"),
    ({"diagnostic": {"max_items": 0}}, "0", "narrate.diagnostic.max_items"),
    ({"embedding": {"batch_size": 0}}, "0", "narrate.embedding.batch_size"),
    ({"embedding": {"shuffle": "yes"}}, "'yes'", "narrate.embedding.shuffle"),
    ({"embedding": {"shuffle_seed": -1}}, "-1", "narrate.embedding.shuffle_seed"),
    ({"chunk_sise": 8}, "8", "narrate.chunk_sise"),
])
def test_bad_narrate_parameters_are_named(group, value, where):
    with pytest.raises(ParameterError) as info:
        configured(**group)
    assert info.value.where == where and info.value.fix
    assert str(info.value).startswith(f"{where}: is ")


def test_the_typed_defaults_are_the_configured_values():
    conf = load_conf(None)["parameters"]["narrate"]
    typed = configured().to_dict()
    assert typed == conf
    defaults = {name: f.get_default(call_default_factory=True) for name, f in NarrateParams.model_fields.items()
                if name != "openai"}
    assert {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in defaults.items()} == {
        k: v for k, v in conf.items() if k != "openai"}


def test_shuffled_embeddings_are_a_permutation_within_splits(tmp_path):
    catalog = _catalog(tmp_path)
    run(ingest_pipeline() + narrate_pipeline(), catalog)
    plain = catalog.load("narrative_embeddings")
    params = catalog.load("params:narrate")
    assert isinstance(params, NarrateParams)  # typed by run(), as kedro run types it
    params = params.model_copy(update={"embedding": params.embedding.model_copy(update={"shuffle": True,
                                                                                      "shuffle_seed": 1})})
    shuffled = embed_narratives(catalog.load("narratives"), catalog.load("sample_index"), params)
    assert shuffled["meta"]["shuffled"]
    assert not np.array_equal(shuffled["tokens"], plain["tokens"])
    key = lambda t: sorted(map(bytes, t.reshape(len(t), -1)))  # noqa: E731  multiset of rows
    assert key(shuffled["tokens"]) == key(plain["tokens"])


def test_unknown_narrator_fails_before_writing(tmp_path):
    catalog = _catalog(tmp_path, narrator="gpt5_magic")
    with pytest.raises(ModelInstantiationError) as info:  # Kedro builds params:narrate before any node
        run(ingest_pipeline() + narrate_pipeline(), catalog)
    assert isinstance(info.value.__cause__, ParameterError)
    assert info.value.__cause__.where == "narrate.narrator"
    assert "narrate.narrator: is 'gpt5_magic'. Fix: use a value that is 'diagnostic' or 'openai'" in str(info.value)
    assert not (tmp_path / "data").exists()  # not even ingest ran


def test_openai_without_a_key_fails_before_any_request(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    catalog = _catalog(tmp_path, narrator="openai")
    with pytest.raises(ParameterError, match=r"credentials.*Fix: put api_key under openai_narrator"):
        run(ingest_pipeline() + narrate_pipeline(), catalog)
    assert not (tmp_path / "data/04_feature").exists()


@pytest.mark.parametrize("env", ["ncep", "bikenyc"])
def test_narrate_on_shared_data(tmp_path, shared_data, repo, monkeypatch, env):
    monkeypatch.chdir(repo)
    catalog = _catalog(tmp_path, env, stride=4)  # every 4th window: ~700 NCEP narratives, not ~2,900
    run(ingest_pipeline() + narrate_pipeline(), catalog)
    table = catalog.load("narratives")
    assert len(table) == len(catalog.load("sample_index"))
    distinct = table.text.nunique() / len(table)
    if env == "ncep":
        assert distinct >= 0.9, f"only {distinct:.1%} of NCEP narratives are distinct"
    else:
        assert distinct >= 0.5
        assert table.text.str.contains("rush hour|weekend|weekday", case=False).any()
