"""The kedro-datasets table and JSON datasets, written atomically (see :class:`AtomicSaveMixin`).

Same arguments and behaviour as ``pandas.ParquetDataset``, ``pandas.CSVDataset`` and
``json.JSONDataset``; only the write differs: to a temporary file, renamed into place when complete.
"""

from __future__ import annotations

from kedro_datasets.json import JSONDataset as _JSONDataset
from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.pandas import ParquetDataset as _ParquetDataset

from s2kd.datasets.atomic import AtomicSaveMixin


class ParquetDataset(AtomicSaveMixin, _ParquetDataset):
    """``pandas.ParquetDataset``, written atomically."""


class CSVDataset(AtomicSaveMixin, _CSVDataset):
    """``pandas.CSVDataset``, written atomically."""


class JSONDataset(AtomicSaveMixin, _JSONDataset):
    """``json.JSONDataset``, written atomically."""
