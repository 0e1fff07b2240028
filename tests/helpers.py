"""Helpers to run a pipeline as ``kedro run`` would, but on a catalog that writes into a temp folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro.validation.model_factory import instantiate_model
from kedro.validation.type_extractor import TypeExtractor
from kedro.validation.utils import _unwrap_optional

from s2kd.settings import CONFIG_LOADER_ARGS

REPO = Path(__file__).resolve().parents[1]


def load_conf(env: str | None = None, runtime_params: dict[str, Any] | None = None) -> OmegaConfigLoader:
    """The project's configuration for an environment (``None``: ``local``, i.e. base), as ``kedro run`` sees it."""
    return OmegaConfigLoader(conf_source=str(REPO / "conf"), env=env or "local", runtime_params=runtime_params or {},
                             **CONFIG_LOADER_ARGS)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in key by key (nested dicts too), as ``--params`` does."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _moved(value: Any, root: Path) -> Any:
    if isinstance(value, dict):
        return {k: _moved(v, root) for k, v in value.items()}
    return str(root / value) if isinstance(value, str) and value.startswith("data/") else value


def tmp_catalog(conf: OmegaConfigLoader, root: Path,
                overrides: dict[str, Any] | None = None) -> tuple[DataCatalog, dict[str, Any]]:
    """The configured catalog with every ``data/`` path (catalog entries and parameters such as
    ``checkpoint_dir``) moved under ``root``, and the parameters with ``overrides`` merged in."""
    config = {}
    for name, entry in conf["catalog"].items():
        entry = dict(entry)
        for key in ("filepath", "path"):
            if str(entry.get(key, "")).startswith("data/"):
                entry[key] = str(root / entry[key])
            elif key in entry:
                entry[key] = str(REPO / entry[key])
        config[name] = entry
    catalog = DataCatalog.from_config(config, credentials=conf["credentials"])
    params = _moved(merge(conf["parameters"], overrides or {}), root)
    for key, value in params.items():
        catalog[f"params:{key}"] = MemoryDataset(value)
    return catalog, params


def typed_params(pipeline, catalog: DataCatalog) -> None:
    """Build every ``params:<group>`` the pipeline's nodes type-hint with its model, as ``kedro run``
    does before the first node (Kedro's own :class:`ParameterValidator`), in place in ``catalog``."""
    for key, model in TypeExtractor({"run": pipeline}).extract_types_from_pipelines().items():
        name = f"params:{key}"
        if name in catalog:
            value = catalog.load(name)
            if isinstance(value, dict):
                catalog[name] = MemoryDataset(instantiate_model(key, value, _unwrap_optional(model)))


def run(pipeline, catalog: DataCatalog) -> dict[str, Any]:
    """Run ``pipeline`` on ``catalog`` as ``kedro run`` would: typed parameters first."""
    typed_params(pipeline, catalog)
    return SequentialRunner().run(pipeline, catalog)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


#: a small synthetic grid and a seconds-long training budget for the chain tests
TINY_DATA = {"n_times": 200, "height": 8, "width": 16, "events_per_year": 60.0}
TINY_BUDGET = {"preset": "tiny", "max_epochs": 2, "max_train_samples": 48, "max_val_samples": 16, "batch_size": 8}
TINY_EVALUATE = {"latency_repeats": 3, "latency_warmup": 1, "progress": False, "panel_samples": 2}


def tiny(**groups: dict[str, Any]) -> dict[str, Any]:
    """Parameter overrides for a tiny chain (data, both training budgets, quiet trainer, quick
    evaluation), with ``groups`` merged on top (``tiny(distill={"beta": 0.5})``)."""
    return merge({"ingest": {"synthetic": TINY_DATA}, "train_teacher": TINY_BUDGET, "distill": TINY_BUDGET,
                  "trainer": {"enable_progress_bar": False}, "evaluate": TINY_EVALUATE}, groups)
