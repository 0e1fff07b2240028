"""Kedro settings of the project (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html)."""

from kedro.config import OmegaConfigLoader

from s2kd.hooks import CatalogCheckHook, MlflowTrackingHook

# the catalog is checked first (tryfirst), before MLflow opens a run; Kedro checks the typed parameters
# of every node before any hook runs
HOOKS = (CatalogCheckHook(), MlflowTrackingHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # an environment (conf/ncep, ...) overrides single keys of conf/base, not whole groups
    "merge_strategy": {"parameters": "soft", "catalog": "soft"},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
