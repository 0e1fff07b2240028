"""Kedro dataset classes of this project (the only place, with the catalog, that does I/O)."""

from s2kd.datasets.netcdf import NetCDFDataset
from s2kd.datasets.npz import NpzDataset
from s2kd.datasets.secret import APIKeyDataset, CredentialsDataset, Secret
from s2kd.datasets.tables import CSVDataset, JSONDataset, ParquetDataset
from s2kd.datasets.text import BytesFileDataset, TextFileDataset
from s2kd.datasets.torch_model import TorchModelDataset, TrainedModelDataset

__all__ = ["APIKeyDataset", "BytesFileDataset", "CSVDataset", "CredentialsDataset", "JSONDataset", "NetCDFDataset",
           "NpzDataset", "ParquetDataset", "Secret", "TextFileDataset", "TorchModelDataset", "TrainedModelDataset"]
