"""An ``xarray.Dataset`` stored as one netCDF file, written atomically and read lazily.

kedro-datasets keeps its NetCDF dataset in the experimental package, which we do not install (see
``docs/architecture.md``); this one is small and does exactly what the pipelines need: the file is
written to a temporary name beside the target and renamed into place, so an interrupted save never
leaves a file that the next run would trust, and it is opened lazily (dask chunks) so a window
reads only its own frames.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import xarray as xr
from dask.diagnostics import ProgressBar
from kedro.io import AbstractDataset, DatasetError

from s2kd.datasets.atomic import write_atomically


class NetCDFDataset(AbstractDataset[xr.Dataset, xr.Dataset]):
    """``xarray.Dataset`` <-> one netCDF file (h5netcdf engine).

    Args:
        filepath: the ``.nc`` file.
        load_args: passed to ``xarray.open_dataset`` (default ``{"chunks": {}}``, lazy).
        save_args: passed to ``xarray.Dataset.to_netcdf``.
    """

    def __init__(self, *, filepath: str, load_args: dict[str, Any] | None = None,
                 save_args: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._load_args = {"chunks": {}, **(load_args or {})}
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    def load(self) -> xr.Dataset:
        if not self._filepath.is_file():
            raise DatasetError(f"{self._filepath} does not exist: run the pipeline that writes it first "
                               "(e.g. `kedro run --pipeline ingest`)")
        return xr.open_dataset(self._filepath, engine="h5netcdf", **self._load_args)

    def save(self, data: xr.Dataset) -> None:
        def write(tmp: Path) -> None:
            with ProgressBar(minimum=10, dt=1.0, out=sys.stderr):  # shown only for long (lazy) writes
                data.to_netcdf(tmp, engine="h5netcdf", **self._save_args)

        write_atomically(self._filepath, write)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args, "save_args": self._save_args}
