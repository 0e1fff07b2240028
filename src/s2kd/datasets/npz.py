"""A dict of numpy arrays in one ``.npz`` file, written atomically (token embeddings, latents)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from s2kd.datasets.atomic import write_atomically


class NpzDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """``{"name": ndarray, ..., "meta": dict}`` <-> one uncompressed ``.npz`` file.

    The optional ``meta`` entry (a JSON-serialisable dict) is stored as a JSON string.

    Args:
        filepath: the ``.npz`` file.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        if not self._filepath.is_file():
            raise DatasetError(f"{self._filepath} does not exist: run the pipeline that writes it first")
        with np.load(self._filepath, allow_pickle=False) as f:
            out: dict[str, Any] = {k: f[k] for k in f.files if k != "meta"}
            if "meta" in f.files:
                out["meta"] = json.loads(str(f["meta"]))
        return out

    def save(self, data: dict[str, Any]) -> None:
        arrays = {k: np.asarray(v) for k, v in data.items() if k != "meta"}
        if "meta" in data:
            arrays["meta"] = np.asarray(json.dumps(data["meta"]))

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        write_atomically(self._filepath, write)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
