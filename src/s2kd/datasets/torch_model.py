"""A trained model as a versioned file: its kind, config and ``state_dict`` — never a pickled class.

The file is a ``torch.save`` of plain data (strings, numbers, lists, dicts, tensors), loaded with
``weights_only=True``: a model is rebuilt from ``(kind, config)`` by the model registry
(``s2kd.models.build_model``) and its weights loaded, without the training code or its state.
Written atomically; with ``versioned: true`` in the catalog every save is kept under a timestamp.
"""

from __future__ import annotations

import glob
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError, Version

from s2kd.datasets.atomic import write_atomically

REQUIRED = ("kind", "config", "state_dict")


def check_model(data: Any) -> None:
    """Raise ``DatasetError`` unless ``data`` is a model as plain data (``REQUIRED`` keys)."""
    missing = [k for k in REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        raise DatasetError(f"a model to save needs {REQUIRED}, missing {missing}")


def read_model_file(path: Path) -> dict[str, Any]:
    """One model file, with an error naming the file and the fix when it is absent or unreadable."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise DatasetError(f"{path} does not exist: train the model first "
                           "(e.g. `kedro run --pipeline train_teacher`)") from exc
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DatasetError(f"{path} is not a readable model file ({first}); delete it and train again") from exc
    missing = [k for k in REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        raise DatasetError(f"{path} lacks {missing}: it was not written by TorchModelDataset")
    return data


class TorchModelDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any]]):
    """``{"kind", "config", "state_dict", "meta"}`` <-> one ``.pt`` file.

    Args:
        filepath: the ``.pt`` file (a folder of versions when versioned).
        version: Kedro's load/save version (set by the catalog for ``versioned: true``).
    """

    def __init__(self, *, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath=PurePosixPath(filepath), version=version, exists_function=lambda p: Path(p).exists(),
                         glob_function=glob.glob)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        return read_model_file(Path(str(self._get_load_path())))

    def save(self, data: dict[str, Any]) -> None:
        check_model(data)
        write_atomically(Path(str(self._get_save_path())), lambda tmp: torch.save(data, tmp))

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}


class TrainedModelDataset(AbstractDataset[None, dict[str, Any]]):
    """The latest saved version of one trained model chosen by name, read-only: ``teacher_<role>`` or a
    student's method (``s2kd``, or ``student_s2kd``), under a dataset's model folder, where the
    ``teacher_{role}`` and ``student_{method}`` entries save them (``catalog_models.yml``).

    Args:
        folder: the dataset's model folder (``data/06_models/<dataset>``).
        model: which model (the catalog sets it from ``forecast.model``).
    """

    def __init__(self, *, folder: str, model: str, metadata: dict[str, Any] | None = None) -> None:
        self._folder, self._model, self.metadata = Path(folder), str(model), metadata

    def _file(self) -> Path:
        if self._model.startswith("teacher_"):
            return self._folder / f"{self._model}.pt"
        return self._folder / "students" / f"{self._model.removeprefix('student_')}.pt"

    def load(self) -> dict[str, Any]:
        base = self._file()
        versions = sorted(base.glob(f"*/{base.name}")) if base.is_dir() else ([base] if base.is_file() else [])
        if not versions:
            saved = sorted({p.name.removesuffix(".pt") for p in self._folder.glob("*.pt")} |
                           {p.name.removesuffix(".pt") for p in (self._folder / "students").glob("*.pt")})
            raise DatasetError(f"{base} does not exist: no trained model '{self._model}' in {self._folder}. Fix: "
                               f"train it first (`kedro run --pipeline distill`), or set forecast.model to one of "
                               f"{saved or 'the models you trained'}")
        return read_model_file(versions[-1])

    def save(self, data: None) -> None:
        raise DatasetError("TrainedModelDataset is read-only: models are saved by their teacher_/student_ entries")

    def _describe(self) -> dict[str, Any]:
        return {"folder": str(self._folder), "model": self._model}
