"""Data sources: one registry, ``SOURCES``, from the ``ingest.source`` name to a loader.

Every loader takes its typed options (the ``ingest.<source>`` parameter group:
:class:`SyntheticOptions`, :class:`XarrayOptions`, :class:`StGridH5Options`) and returns a
:class:`~s2kd.data.sources.base.SourceData` in the canonical layout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from s2kd.data.sources.base import SourceData
from s2kd.data.sources.st_grid_h5 import StGridH5Options, load_st_grid_h5
from s2kd.data.sources.synthetic import SyntheticOptions, load_synthetic
from s2kd.data.sources.xarray_source import XarrayOptions, load_xarray
from s2kd.errors import ParameterError

SOURCES: dict[str, Callable[..., SourceData]] = {
    "synthetic": load_synthetic,
    "xarray": load_xarray,
    "st_grid_h5": load_st_grid_h5,
}


#: the sources that read URLs through fsspec, and so take storage options (credentials)
URL_SOURCES = ("xarray",)


def load_source(name: str, options: Any, storage_options: Mapping[str, Any] | None = None) -> SourceData:
    """Load the source ``name`` with its options (its options model, or a mapping of them).

    ``storage_options``: fsspec options (credentials) for a URL path, passed to the sources in
    :data:`URL_SOURCES` only.

    Raises:
        ParameterError: unknown source, or a bad option (named ``ingest.<source>.<option>``).
    """
    if name not in SOURCES:
        raise ParameterError("ingest.source", f"unknown source '{name}'", f"use one of {sorted(SOURCES)}")
    extra = {"storage_options": storage_options} if name in URL_SOURCES and storage_options else {}
    if isinstance(options, dict) or options is None:
        return SOURCES[name](**dict(options or {}), **extra)
    return SOURCES[name](options, **extra)


__all__ = ["SOURCES", "URL_SOURCES", "SourceData", "StGridH5Options", "SyntheticOptions", "XarrayOptions",
           "load_source"]
