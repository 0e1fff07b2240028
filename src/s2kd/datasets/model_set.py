"""A set of trained models as one versioned catalog entry: a folder with one ``<name>.pt`` per model.

``distill`` trains the students its parameters ask for (``distill.methods``) and
``train_teacher`` the ablation teachers the distillation needs; how many models a run makes is a
parameter, so they are saved together, each in the :class:`~s2kd.datasets.TorchModelDataset` file
format (kind, config, state_dict, meta; loaded with ``weights_only=True``). With ``versioned: true``
every run is kept as ``<filepath>/<version>/<basename>/<name>.pt`` and loading takes the latest.

The folder is written beside its final place and renamed into it: an interrupted save leaves no
folder that a later load would trust.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io import AbstractVersionedDataset, DatasetError, Version

from s2kd.datasets.atomic import once_per_run, remove_stale_temporaries, temporary_name
from s2kd.datasets.torch_model import check_model, read_model_file

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
ORDER_FILE = "order.json"


class ModelSetDataset(AbstractVersionedDataset[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]):
    """``{name: {"kind", "config", "state_dict", "meta"}}`` <-> a folder of ``<name>.pt`` files.

    Args:
        filepath: the folder (a folder of versions when versioned).
        version: Kedro's load/save version (set by the catalog for ``versioned: true``).
    """

    def __init__(self, *, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath=PurePosixPath(filepath), version=version, exists_function=lambda p: Path(p).is_dir(),
                         glob_function=glob.glob)
        self.metadata = metadata

    def load(self) -> dict[str, dict[str, Any]]:
        folder = Path(str(self._get_load_path()))
        if not folder.is_dir():
            raise DatasetError(f"{folder} does not exist: train the models first (e.g. `kedro run --pipeline distill`)")
        names = sorted(p.stem for p in folder.glob("*.pt"))
        order = folder / ORDER_FILE
        if order.is_file():  # the order they were saved in (e.g. distill.methods), when known
            saved = [n for n in json.loads(order.read_text()) if n in names]
            names = saved + [n for n in names if n not in saved]
        return {name: read_model_file(folder / f"{name}.pt") for name in names}

    def save(self, data: dict[str, dict[str, Any]]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"a model set to save is a dict of name -> model, got {type(data).__name__}")
        for name, model in data.items():
            if not NAME.match(str(name)):
                raise DatasetError(f"model name {name!r} is not a usable file name: use letters, digits, _ . -")
            check_model(model)
        with once_per_run() as writer:
            if writer:
                self._write(Path(str(self._get_save_path())), data)

    @staticmethod
    def _write(folder: Path, data: dict[str, dict[str, Any]]) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder)
        tmp = temporary_name(folder)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            for name, model in data.items():
                torch.save(model, tmp / f"{name}.pt")
            (tmp / ORDER_FILE).write_text(json.dumps(list(data)))
            if folder.exists():  # unversioned: replace the previous set as a whole
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).is_dir()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
