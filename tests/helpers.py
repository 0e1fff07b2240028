"""Helpers to run a pipeline as ``kedro run`` would, but on a catalog that writes into a temp folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from s2kd.settings import CONFIG_LOADER_ARGS

REPO = Path(__file__).resolve().parents[1]


def load_conf(env: str | None = None, runtime_params: dict[str, Any] | None = None) -> OmegaConfigLoader:
    """The project's configuration for an environment (``None``: ``local``, i.e. base), as ``kedro run`` sees it."""
    return OmegaConfigLoader(conf_source=str(REPO / "conf"), env=env or "local", runtime_params=runtime_params or {},
                             **CONFIG_LOADER_ARGS)


def tmp_catalog(conf: OmegaConfigLoader, root: Path) -> tuple[DataCatalog, dict[str, Any]]:
    """The configured catalog with every ``data/`` path moved under ``root``, and the parameters."""
    config = {}
    for name, entry in conf["catalog"].items():
        entry = dict(entry)
        if str(entry.get("filepath", "")).startswith("data/"):
            entry["filepath"] = str(root / entry["filepath"])
        elif "filepath" in entry:
            entry["filepath"] = str(REPO / entry["filepath"])
        config[name] = entry
    catalog = DataCatalog.from_config(config, credentials=conf["credentials"])
    params = conf["parameters"]
    for key, value in params.items():
        catalog[f"params:{key}"] = MemoryDataset(value)
    return catalog, params


def run(pipeline, catalog: DataCatalog) -> dict[str, Any]:
    return SequentialRunner().run(pipeline, catalog)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
