"""Where the ``xarray`` source reads from: a local path or an fsspec URL, opened lazily with dask.

A path is one file, a glob of files (``folder/*.nc``), a folder of netCDF files or a Zarr store. A URL
(``gs://``, ``s3://``, ``https://``, ``file://``, ``memory://``, or chained such as
``zip::https://host/store.zarr.zip``) is the same through `fsspec <https://filesystem-spec.readthedocs.io>`_,
with its storage options (credentials: a token, a key and secret, ``anon: true``) given by the caller;
``s3://`` needs ``s3fs`` and ``gs://`` ``gcsfs`` installed.

``chunks: "auto"`` is resolved here (:func:`auto_chunks`): time chunks of about
:data:`AUTO_CHUNK_BYTES` along the file's time dimension, whatever its name, other dimensions whole.
"""

from __future__ import annotations

import glob
import logging
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from s2kd.errors import InputError

logger = logging.getLogger(__name__)

#: the size of one dask chunk of one variable that ``chunks: auto`` aims at (dask's own ``auto`` makes
#: 128 MiB chunks, and memory grows by about three chunks per dask thread: docs/scaling.md)
AUTO_CHUNK_BYTES = 8 * 2**20
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_ZARR_MARKERS = (".zgroup", ".zattrs", "zarr.json", ".zmetadata")
_GLOB = "*?["


def is_url(path: str) -> bool:
    """Whether ``path`` is an fsspec URL (``protocol://...`` or chained ``a::b://...``), not a local path."""
    return bool(_URL.match(path)) or "::" in path


@dataclass
class Store:
    """A located store: what to open and how.

    Attributes:
        kind: ``zarr``, ``files`` (a glob or folder, combined by coordinates) or ``file``.
        targets: the store's path or mapper (``zarr``), or the files' paths.
        open_file: turns a file's path into what xarray opens (itself, or an fsspec file object).
    """

    kind: str
    targets: list[Any]
    open_file: Callable[[str], Any]


def locate(path: str, storage_options: Mapping[str, Any] | None = None) -> Store:
    """Find what ``path`` (local or a URL) holds; raise :class:`InputError` if nothing is there."""
    if is_url(path):
        return _locate_url(path, dict(storage_options or {}))
    where = f"ingest.xarray.path ({path})"
    matches = sorted(glob.glob(path)) if any(c in path for c in _GLOB) else []
    p = Path(path)
    if not matches and not p.exists():
        raise InputError(
            where,
            f"no such file or folder (looked in {p.resolve()})",
            "point ingest.xarray.path at a netCDF/GRIB file, a glob such as 'folder/*.nc', a folder "
            "of netCDF files, or a Zarr store (or a URL: docs/data.md); relative paths are relative to the folder "
            "you run `kedro run` from",
        )
    if not matches and (p.suffix == ".zarr" or _is_zarr_dir(p)):
        return Store("zarr", [p], str)
    if not matches and p.is_dir():
        matches = sorted(str(f) for f in p.rglob("*.nc"))
        if not matches:
            raise InputError(where, "the folder holds no *.nc files and is no Zarr store",
                             "point the path at the files themselves or a Zarr store")
    return Store("files", matches, str) if matches else Store("file", [p], str)


def _is_zarr_dir(p: Path) -> bool:
    return p.is_dir() and any((p / m).exists() for m in _ZARR_MARKERS)


def _locate_url(url: str, storage_options: dict[str, Any]) -> Store:
    import fsspec  # a dependency of xarray's Zarr and dask paths; imported only for URLs

    where = f"ingest.xarray.path ({url})"
    fix = ("check the URL, and the storage options (credentials) under xarray_store in conf/local/credentials.yml "
           "(docs/data.md); gs:// needs gcsfs installed, s3:// needs s3fs")
    try:
        fs, root = fsspec.core.url_to_fs(url, **storage_options)
        opener = (lambda f: fs.open(f, "rb"))  # noqa: E731 - a file object xarray reads lazily
        if any(c in root for c in _GLOB):
            matches = sorted(fs.glob(root))
            if not matches:
                raise InputError(where, "the glob matches no file", fix)
            return Store("files", matches, opener)
        if root and not fs.exists(root):
            raise InputError(where, "no such file, folder or store", fix)
        if root.endswith(".zarr") or any(fs.exists(posixpath.join(root, m)) for m in _ZARR_MARKERS):
            return Store("zarr", [fs.get_mapper(root)], opener)
        if not root or fs.isdir(root):
            matches = sorted(fs.glob(posixpath.join(root, "**", "*.nc")))
            if not matches:
                raise InputError(where, "the folder holds no *.nc files and is no Zarr store", fix)
            return Store("files", matches, opener)
        return Store("file", [root], opener)
    except InputError:
        raise
    except Exception as exc:  # no such protocol, its package missing, refused credentials, unreachable host
        raise InputError(where, f"could not be reached ({type(exc).__name__}: {exc})", fix) from exc


def auto_chunks(ds: xr.Dataset, time_names: Sequence[str], variables: Sequence[str] | None) -> dict[str, int] | None:
    """``chunks: auto`` for one dataset: about :data:`AUTO_CHUNK_BYTES` per chunk along time, other dims whole.

    Args:
        ds: the dataset as opened without dask (metadata only).
        time_names: the names the time dimension may have in the file (``ingest.xarray.dims.time`` or
            the usual ones), the first present wins.
        variables: the variables that will be read (``None``: all).

    Returns:
        ``{time_dim: steps, other_dim: -1, ...}``, ``steps`` a multiple of the file's own time chunk;
        ``None`` when no variable has a time dimension (dask's ``auto`` is then used).
    """
    t = next((n for n in time_names if n in ds.dims), None)
    names = [v for v in (variables or ds.data_vars) if v in ds.data_vars and t in ds[v].dims]
    if t is None or not names:
        return None
    step_bytes, stored = 1, 1
    for name in names:
        var = ds[name]
        step_bytes = max(step_bytes, var.dtype.itemsize * int(np.prod([n for d, n in var.sizes.items() if d != t])))
        stored = max(stored, int((var.encoding.get("preferred_chunks") or {}).get(t) or 1))
    steps = max(1, AUTO_CHUNK_BYTES // step_bytes)
    steps = max(stored, steps // stored * stored)  # whole stored chunks, so no stored chunk is read twice
    return {t: int(steps), **{str(d): -1 for d in ds.dims if d != t}}


def open_store(
    store: Store, *, engine: str | None, chunks: Any, time_names: Sequence[str], variables: Sequence[str] | None,
) -> tuple[xr.Dataset, pd.DatetimeIndex]:
    """Open a located store lazily.

    Returns:
        ``(dataset, file_starts)``: the dask-backed dataset; and the first timestamp of each file
        of a glob or folder (empty for one file or a Zarr store), for ``ingest.validation.segments: files``.
    """
    if chunks == "auto":
        probe = _open(store.kind, store.targets[:1], store.open_file, engine, None)
        try:
            chunks = auto_chunks(probe, time_names, variables) or "auto"
        finally:
            probe.close()
        logger.info("ingest.xarray.chunks: auto -> %s", chunks)
    starts: list[Any] = []

    def note_start(ds: xr.Dataset) -> xr.Dataset:
        t = next((n for n in time_names if n in ds.dims), None)
        if t is not None and ds.sizes[t]:
            starts.append(ds[t].values[0])
        return ds

    ds = _open(store.kind, store.targets, store.open_file, engine, chunks, note_start)
    try:
        file_starts = pd.DatetimeIndex(sorted(set(starts)))
    except (TypeError, ValueError):  # times that are not dates: validation says so
        file_starts = pd.DatetimeIndex([])
    return ds, file_starts


def _open(kind: str, targets: list[Any], open_file: Callable[[str], Any], engine: str | None, chunks: Any,
          preprocess: Callable[[xr.Dataset], xr.Dataset] | None = None) -> xr.Dataset:
    if kind == "zarr":
        return xr.open_zarr(targets[0], chunks=chunks, decode_timedelta=False)
    if kind == "files" and chunks is not None:
        return xr.open_mfdataset([open_file(f) for f in targets], engine=engine, chunks=chunks, combine="by_coords",
                                 decode_timedelta=False, preprocess=preprocess)
    ds = xr.open_dataset(open_file(targets[0]), engine=engine, chunks=chunks, decode_timedelta=False)
    return preprocess(ds) if preprocess is not None else ds
