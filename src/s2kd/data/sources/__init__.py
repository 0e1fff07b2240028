"""Data sources: one registry, ``SOURCES``, from the ``ingest.source`` name to a loader.

Every loader takes keyword options (the ``ingest.<source>`` parameter group) and returns a
:class:`~s2kd.data.sources.base.SourceData` in the canonical layout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from s2kd.data.sources.base import SourceData
from s2kd.data.sources.st_grid_h5 import load_st_grid_h5
from s2kd.data.sources.synthetic import load_synthetic
from s2kd.data.sources.xarray_source import load_xarray
from s2kd.errors import ParameterError

SOURCES: dict[str, Callable[..., SourceData]] = {
    "synthetic": load_synthetic,
    "xarray": load_xarray,
    "st_grid_h5": load_st_grid_h5,
}


def load_source(name: str, options: Mapping[str, Any]) -> SourceData:
    """Load the source ``name`` with its options.

    Raises:
        ParameterError: unknown source, or an option the loader does not take.
    """
    if name not in SOURCES:
        raise ParameterError("ingest.source", f"unknown source '{name}'", f"use one of {sorted(SOURCES)}")
    try:
        return SOURCES[name](**dict(options or {}))
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise ParameterError(f"ingest.{name}", str(exc), f"see the docstring of {SOURCES[name].__name__} for the options") from exc
        raise


__all__ = ["SOURCES", "SourceData", "load_source"]
