"""Training data: windows joined with their narrative embeddings, and seeded data loaders.

The windows come from :class:`s2kd.data.windows.WindowDataset` (``{"x", "y", "sample_id"}``); the
embeddings are the ``narrate`` pipeline's output (see :mod:`s2kd.narrators.embedding` and
``src/s2kd/pipelines/narrate/nodes.py``): ``{"sample_id" (N,), "tokens" float16 (N, L, 384),
"mask" bool (N, L)}``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from s2kd.errors import InputError, ParameterError

logger = logging.getLogger(__name__)

_EMBEDDING_KEYS = ("sample_id", "tokens", "mask")


class TextWindowDataset(Dataset):
    """A window dataset whose items also carry the narrative of their sample.

    Each item is the window's dict plus ``"text"`` ``float32 (L, 384)`` and ``"text_mask"``
    ``bool (L,)`` (``True`` on real tokens), looked up by ``sample_id``. Without embeddings
    (``embeddings=None``) items pass through unchanged, so vision-only models use the same code.

    Args:
        windows: the windows (anything indexable returning ``{"x", "y", "sample_id", ...}`` with a
            ``sample_ids`` attribute, e.g. :class:`s2kd.data.windows.WindowDataset`).
        embeddings: ``{"sample_id" (N,), "tokens" (N, L, 384), "mask" (N, L)}`` or ``None``.

    Raises:
        InputError: when the embeddings lack a key, have inconsistent shapes, or miss a sample id
            of ``windows``.
    """

    def __init__(self, windows: Dataset, embeddings: Mapping[str, Any] | None) -> None:
        self.windows = windows
        self.embeddings = embeddings
        self._row: dict[int, int] | None = None
        if embeddings is None:
            return
        missing_keys = [k for k in _EMBEDDING_KEYS if k not in embeddings]
        if missing_keys:
            raise InputError("narrative_embeddings", f"has no {missing_keys} (keys: {sorted(embeddings)})",
                             fix="rerun `kedro run --pipeline narrate`")
        ids = np.asarray(embeddings["sample_id"]).astype(np.int64).ravel()
        tokens, mask = embeddings["tokens"], embeddings["mask"]
        if tokens.ndim != 3 or tuple(mask.shape) != tuple(tokens.shape[:2]) or tokens.shape[0] != len(ids):
            raise InputError("narrative_embeddings",
                             f"shapes disagree: sample_id {ids.shape}, tokens {tuple(tokens.shape)} (want (N, L, D)), "
                             f"mask {tuple(mask.shape)} (want (N, L))",
                             fix="rerun `kedro run --pipeline narrate`")
        self._row = {int(s): i for i, s in enumerate(ids)}
        if len(self._row) != len(ids):
            raise InputError("narrative_embeddings", f"{len(ids) - len(self._row)} sample ids appear twice",
                             fix="rerun `kedro run --pipeline narrate`")
        wanted = np.asarray(getattr(windows, "sample_ids", [windows[i]["sample_id"] for i in range(len(windows))]))
        absent = [int(s) for s in wanted if int(s) not in self._row]
        if absent:
            raise InputError("narrative_embeddings",
                             f"{len(absent)} of {len(wanted)} windows have no narrative embedding "
                             f"(sample ids {absent[:10]}{' ...' if len(absent) > 10 else ''}); the embeddings "
                             "are probably from another ingest run or a different sample index",
                             fix="rerun `kedro run --pipeline narrate`")
        self._tokens, self._mask = tokens, mask

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = dict(self.windows[i])
        if self._row is None:
            return item
        row = self._row[int(item["sample_id"])]
        item["text"] = torch.as_tensor(np.asarray(self._tokens[row]), dtype=torch.float32)  # (L, 384)
        item["text_mask"] = torch.as_tensor(np.asarray(self._mask[row]), dtype=torch.bool)  # (L,)
        return item


class EpochSeededSampler(RandomSampler):
    """A random permutation per epoch that depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` at the start of every epoch, so a run resumed at epoch ``k``
    sees exactly the batches an uninterrupted run would have seen. Under DDP, Lightning replaces it
    (it is a ``RandomSampler``) by a ``DistributedSampler`` seeded with the global seed.
    """

    def __init__(self, data_source: Dataset, *, seed: int) -> None:
        super().__init__(data_source)
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()


def make_loaders(
    train_ds: Dataset, val_ds: Dataset, *, batch_size: int, num_workers: int = 0, seed: int, prefetch_factor: int = 2
) -> tuple[DataLoader, DataLoader]:
    """Training loader (shuffled, seeded per epoch) and validation loader (in order).

    Args:
        train_ds: training items.
        val_ds: validation items.
        batch_size: items per batch (the last, smaller batch is kept).
        num_workers: loader worker processes (0: load in the main process).
        seed: seed of the shuffling (and of the workers' generator).
        prefetch_factor: batches each worker reads ahead (with workers).

    Returns:
        ``(train_loader, val_loader)``.
    """
    if int(batch_size) < 1:
        raise ParameterError("batch_size", f"is {batch_size}", fix="use a positive batch size")
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise InputError("training data", f"{len(train_ds)} training and {len(val_ds)} validation windows",
                         fix="check the split fractions and window lengths of `ingest`")
    common: dict[str, Any] = {"batch_size": int(batch_size), "num_workers": int(num_workers),
                              "persistent_workers": int(num_workers) > 0}
    if int(num_workers) > 0:
        common["prefetch_factor"] = int(prefetch_factor)
    train = DataLoader(train_ds, sampler=EpochSeededSampler(train_ds, seed=seed),
                       generator=torch.Generator().manual_seed(int(seed)), **common)
    val = DataLoader(val_ds, shuffle=False, **common)
    logger.debug("loaders: %d train / %d val items, batch %d", len(train_ds), len(val_ds), batch_size)
    return train, val
