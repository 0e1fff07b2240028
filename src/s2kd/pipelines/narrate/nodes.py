"""Nodes of the ``narrate`` pipeline: thin wrappers over :mod:`s2kd.narrators`.

Both take ``params:narrate`` as a :class:`~s2kd.narrators.params.NarrateParams`: Kedro builds and
checks it from the configuration before the first node runs.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from s2kd.data.climatology import cycles_of, fit_climatology
from s2kd.data.normalisation import denormalise
from s2kd.data.splits import split_frames
from s2kd.datasets.secret import Secret
from s2kd.errors import InputError
from s2kd.narrators.embedding import MODEL_NAME, embed_texts, shuffle_within_splits
from s2kd.narrators.params import NarrateParams
from s2kd.narrators.registry import build_narrator
from s2kd.narrators.run import grid_of, narrate_index, narration_metrics

logger = logging.getLogger(__name__)


def write_narratives(
    series: xr.Dataset,
    sample_index: pd.DataFrame,
    sample_metadata: pd.DataFrame,
    normalisation_stats: dict[str, Any],
    system_prompt: str,
    user_prompt: str,
    api_key: Secret,
    params: NarrateParams,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """One narrative per sample with the configured narrator.

    Args:
        series: the normalised series (``ingest``).
        sample_index: the sample index.
        sample_metadata: per-sample metadata.
        normalisation_stats: to turn the series back into physical units.
        system_prompt: the LMM's system prompt (``conf/base/prompts/narrator_system.txt``).
        user_prompt: the LMM's user prompt template (``conf/base/prompts/narrator_user.txt``).
        api_key: the LMM endpoint's key (only the ``openai`` narrator uses it).
        params: the ``narrate`` parameter group.

    Returns:
        ``(narratives, narration_metrics)``.
    """
    start = time.perf_counter()
    narrator = build_narrator(params, api_key=api_key.get(), system_prompt=system_prompt, user_prompt=user_prompt)
    t_in, t_out = int(normalisation_stats["t_in"]), int(normalisation_stats["t_out"])
    if set(sample_metadata["sample_id"]) != set(sample_index["sample_id"]):
        raise InputError("sample_metadata", "does not match the sample index", "rerun `kedro run --pipeline ingest`")
    physical = denormalise(series["series"], normalisation_stats)
    frames = split_frames(sample_index, "train", t_in + t_out)
    climatology = fit_climatology(physical, frames, cycles_of(normalisation_stats)).compute()
    table = narrate_index(narrator, physical, sample_index, sample_metadata,
                          grid=grid_of(series["series"], normalisation_stats), climatology=climatology, t_in=t_in,
                          t_out=t_out, mode=params.mode, chunk_size=params.chunk_size)
    metrics = narration_metrics(table, narrator, time.perf_counter() - start)
    logger.info("narrate: %d narratives, %.1f%% distinct, %d fallbacks", len(table), 100 * metrics["distinct_fraction"],
                metrics["fallbacks"])
    return table, metrics


def embed_narratives(narratives: pd.DataFrame, sample_index: pd.DataFrame, params: NarrateParams) -> dict[str, Any]:
    """Token embeddings of every narrative with the frozen all-MiniLM-L6-v2, in sample-index order.

    With ``embedding.shuffle`` the narratives are permuted across the samples of each split (a
    seeded permutation), so that every teacher trained on them reads text that no longer matches its
    frames, with its vocabulary and lengths unchanged: a control for a whole run. (The
    ``s2kd_shuffled_text`` ablation does not need it: its teacher shuffles its own copy.)

    Args:
        narratives: the narratives table.
        sample_index: the sample index the narratives must match.
        params: the ``narrate`` parameter group.

    Returns:
        ``{"sample_id", "tokens" (N, L, 384) float16, "mask" (N, L) bool, "meta"}``; ``meta`` says
        which narrator (``narrator``, ``narrator_model``) wrote them in which ``mode``, so every
        teacher trained on them says it too.
    """
    options = params.embedding
    ids = sample_index["sample_id"].to_numpy()
    table = narratives.set_index("sample_id")
    missing = np.setdiff1d(ids, table.index.to_numpy())
    extra = np.setdiff1d(table.index.to_numpy(), ids)
    if len(missing) or len(extra):
        raise InputError(
            "narratives", f"do not match the sample index ({len(missing)} sample(s) without a narrative, "
            f"{len(extra)} narrative(s) for unknown samples, e.g. {(list(missing) + list(extra))[:3]})",
            "rerun `kedro run --pipeline narrate` after `ingest`",
        )
    texts = table.loc[ids, "text"].tolist()
    tokens, mask = embed_texts(texts, max_length=options.max_length, batch_size=options.batch_size)
    if options.shuffle:
        perm = shuffle_within_splits(sample_index["split"].to_numpy(), options.shuffle_seed)
        tokens, mask = tokens[perm], mask[perm]
    written = table.loc[ids]
    provenance = {k: ",".join(sorted(map(str, written[c].dropna().unique()))) if c in written else ""
                  for k, c in (("narrator", "narrator"), ("narrator_model", "model"), ("mode", "mode"))}
    return {"sample_id": ids, "tokens": tokens, "mask": mask,
            "meta": {"model": MODEL_NAME, "max_length": options.max_length, "shuffled": options.shuffle,
                     "shuffle_seed": options.shuffle_seed, **provenance}}
