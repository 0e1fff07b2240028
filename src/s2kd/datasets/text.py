"""A UTF-8 text file written atomically (the report documents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from s2kd.datasets.atomic import write_atomically


class TextFileDataset(AbstractDataset[str, str]):
    """``str`` <-> one UTF-8 text file, written to a temporary file and renamed into place.

    Args:
        filepath: the file.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> str:
        if not self._filepath.is_file():
            raise DatasetError(f"{self._filepath} does not exist: run the pipeline that writes it first")
        return self._filepath.read_text(encoding="utf-8")

    def save(self, data: str) -> None:
        if not isinstance(data, str):
            raise DatasetError(f"{self._filepath}: a text file takes a str, got {type(data).__name__}")
        write_atomically(self._filepath, lambda tmp: tmp.write_text(data, encoding="utf-8"))

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class BytesFileDataset(TextFileDataset):
    """``bytes`` <-> one binary file (an exported model), written atomically."""

    def load(self) -> bytes:  # type: ignore[override]
        if not self._filepath.is_file():
            raise DatasetError(f"{self._filepath} does not exist: run the pipeline that writes it first")
        return self._filepath.read_bytes()

    def save(self, data: bytes) -> None:  # type: ignore[override]
        if not isinstance(data, bytes):
            raise DatasetError(f"{self._filepath}: a binary file takes bytes, got {type(data).__name__}")
        write_atomically(self._filepath, lambda tmp: tmp.write_bytes(data))
