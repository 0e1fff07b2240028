"""An API key from Kedro credentials or an environment variable, wrapped so it never prints."""

from __future__ import annotations

import os
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class Secret:
    """A string that shows as ``***`` in logs, reprs and f-strings; ``get()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value or None

    def get(self) -> str | None:
        return self._value

    def __bool__(self) -> bool:
        return self._value is not None

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret(None)"

    __str__ = __repr__

    def __reduce__(self):  # never pickled with its value
        raise TypeError("a Secret cannot be pickled")


class APIKeyDataset(AbstractDataset[None, Secret]):
    """Loads an API key: ``credentials["api_key"]`` first, else the environment variable ``env_var``.

    Credentials come from ``conf/local/credentials.yml`` (git-ignored) through the catalog's
    ``credentials:`` key. A missing key loads as an empty :class:`Secret`; the narrator that needs
    it raises a clear error before any request.

    Args:
        env_var: the environment variable to fall back on.
        credentials: the Kedro credentials entry (``{"api_key": ...}``).
    """

    def __init__(self, *, env_var: str = "OPENAI_API_KEY", credentials: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._env_var = env_var
        self._key = (credentials or {}).get("api_key")
        self.metadata = metadata

    def load(self) -> Secret:
        return Secret(self._key or os.environ.get(self._env_var))

    def save(self, data: Any) -> None:
        raise DatasetError("APIKeyDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"env_var": self._env_var, "from_credentials": bool(self._key)}


class CredentialsDataset(AbstractDataset[None, dict[str, Any]]):
    """Loads a Kedro credentials entry as a dict, e.g. the fsspec storage options of a remote store.

    The entry comes from ``conf/local/credentials.yml`` (git-ignored) through the catalog's
    ``credentials:`` key; an empty or absent entry loads as ``{}``. Its values are never described
    (``kedro catalog``, logs): only its keys are.

    Args:
        credentials: the Kedro credentials entry.
    """

    def __init__(self, *, credentials: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._options = dict(credentials or {})
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        return dict(self._options)

    def save(self, data: Any) -> None:
        raise DatasetError("CredentialsDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"keys": sorted(self._options)}
