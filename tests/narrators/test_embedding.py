import os
import subprocess
import sys

import numpy as np
import pytest

from s2kd.narrators.embedding import EMBEDDING_DIM, embed_texts, load_encoder, shuffle_within_splits

TEXTS = [
    "A cold outbreak begins over Hudson Bay and moves southeast.",
    "Warm air covers Texas; a strong front lies over the Great Plains.",
    "A cold outbreak begins over Hudson Bay and moves southeast.",
    "Quiet.",
]


def test_token_embeddings_shapes_mask_and_padding():
    tokens, mask = embed_texts(TEXTS, show_progress=False)
    assert tokens.dtype == np.float16 and mask.dtype == bool
    assert tokens.shape[0] == 4 and tokens.shape[2] == EMBEDDING_DIM and mask.shape == tokens.shape[:2]
    lengths = mask.sum(axis=1)
    assert lengths[3] < lengths[1] and lengths[0] == lengths[2]
    assert (tokens[3, lengths[3]:] == 0).all()  # padding is zero
    np.testing.assert_array_equal(tokens[0], tokens[2])  # the same text, the same embedding
    assert np.abs(tokens[0, : lengths[0]] - tokens[1, : lengths[0]]).max() > 0.1


def test_mean_of_tokens_is_the_sentence_embedding():
    """Brute force: MiniLM's sentence vector is the masked mean of its token vectors, normalised."""
    tokens, mask = embed_texts(TEXTS[:2], show_progress=False)
    sentence = load_encoder().encode(TEXTS[:2], normalize_embeddings=True)
    pooled = (tokens.astype(np.float32) * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(pooled, sentence, atol=2e-3)


def test_max_length_truncates():
    long = " ".join(["cold"] * 300)
    tokens, mask = embed_texts([long], max_length=16, show_progress=False)
    assert tokens.shape[1] == 16 and mask.all()


def test_embedding_works_with_the_network_disabled(tmp_path):
    code = ("from s2kd.narrators.embedding import embed_texts; t, m = embed_texts(['a storm'], show_progress=False); "
            "print(t.shape)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty_hf_home"),
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(1, 4, 384)" in done.stdout  # [CLS] a storm [SEP]


def test_shuffle_stays_within_splits_and_is_seeded():
    splits = np.array(["train"] * 50 + ["val"] * 10 + ["test"] * 10)
    perm = shuffle_within_splits(splits, seed=3)
    assert sorted(perm) == list(range(70))
    assert (splits[perm] == splits).all()
    assert (perm != np.arange(70)).mean() > 0.8
    np.testing.assert_array_equal(perm, shuffle_within_splits(splits, seed=3))
    assert not np.array_equal(perm, shuffle_within_splits(splits, seed=4))


@pytest.mark.parametrize("n", [0])
def test_empty_input(n):
    tokens, mask = embed_texts([], show_progress=False)
    assert tokens.shape[0] == 0 and mask.shape[0] == 0
