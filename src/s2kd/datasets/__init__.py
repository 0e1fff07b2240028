"""Kedro dataset classes of this project (the only place, with the catalog, that does I/O)."""

from s2kd.datasets.netcdf import NetCDFDataset

__all__ = ["NetCDFDataset"]
