"""One home for every default: ``conf/base``. Each parameter group a node takes is a pydantic model
(Kedro builds it before the first node); where a model has a Python default, it must equal
``conf/base``'s value, and every field must be listed (and documented) in ``conf/base``. Every
environment's configuration must pass the models."""

from __future__ import annotations

from typing import Any

import pytest
from kedro.framework.project import configure_project
from kedro.validation.type_extractor import TypeExtractor

from s2kd.params import Params
from s2kd.pipeline_registry import register_pipelines
from tests.helpers import load_conf

configure_project("s2kd")
TYPED = TypeExtractor(register_pipelines()).extract_types_from_pipelines()
BASE = load_conf(None)["parameters"]


def _params_class(annotation: Any) -> type[Params] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, Params) else None


def _required_only(model: type[Params], values: dict[str, Any]) -> dict[str, Any]:
    """The values of ``values`` the model has no default for (nested models likewise)."""
    out = {}
    for name, field in model.model_fields.items():
        key, nested = field.alias or name, _params_class(field.annotation)
        if field.is_required():
            out[key] = _required_only(nested, values[key]) if nested else values[key]
    return out


def _unlisted(model: type[Params], values: dict[str, Any], where: str) -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        key, nested = field.alias or name, _params_class(field.annotation)
        if key not in values:
            missing.append(f"{where}.{key}")
        elif nested and isinstance(values[key], dict):
            missing += _unlisted(nested, values[key], f"{where}.{key}")
    return missing


def test_every_parameter_group_is_a_typed_model():
    groups = {k for k, v in BASE.items() if isinstance(v, dict)}
    assert groups == set(TYPED), f"groups without a model: {groups - set(TYPED)}; models without a group: " \
                                 f"{set(TYPED) - groups}"
    assert all(issubclass(model, Params) for model in TYPED.values())


@pytest.mark.parametrize("group", sorted(TYPED))
def test_python_defaults_equal_conf_base(group):
    model, values = TYPED[group], BASE[group]
    assert model.group == group, f"{model.__name__}.group names errors {model.group!r}, not {group!r}"
    from_yaml = model.model_validate(values)
    from_python = model.model_validate(_required_only(model, values))
    differ = {k: (v, from_python.to_dict()[k]) for k, v in from_yaml.to_dict().items() if from_python.to_dict()[k] != v}
    assert from_yaml == from_python, f"{group}: Python defaults differ from conf/base (yaml, python): {differ}"


@pytest.mark.parametrize("group", sorted(TYPED))
def test_every_option_is_listed_in_conf_base(group):
    assert _unlisted(TYPED[group], BASE[group], group) == []


@pytest.mark.parametrize("env", ["ncep", "bikenyc", "knmi"])
def test_every_environment_passes_the_models(env):
    params = load_conf(env)["parameters"]
    for group, model in TYPED.items():
        model.model_validate(params[group])
