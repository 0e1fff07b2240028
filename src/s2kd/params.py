"""The base of every typed parameter group, and the constrained types they share.

Each pipeline's nodes take their settings as ``params:<group>`` with a pydantic model as the type
hint (``params: DistillParams``). Kedro (>= 1.7) builds every such input from the merged
configuration before the first node runs, so a bad value stops ``kedro run`` before any data is read,
any output written or any MLflow run opened. The same models serve library users:
``DistillParams.model_validate({...})`` or ``OpenAINarrator(options=OpenAIOptions(...), ...)``.

Defaults live in ``conf/base/parameters_*.yml``. Where a model has a Python default too, it equals
the YAML value (``tests/test_params_defaults.py`` fails otherwise), so a model built in Python
describes the same run as ``kedro run``.

``Model.model_validate(mapping)`` (what Kedro calls) raises :class:`~s2kd.errors.ParameterError`
naming the dotted parameter as written in the YAML (``distill.beta``), the value and the allowed
range, one line per bad value; Kedro reports it as a ``ParameterValidationError`` with that text.
Building a model with keywords (``DistillParams(beta=-1)``) raises pydantic's own
``ValidationError``, which names the field and the range too.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
)

from s2kd.errors import ParameterError

#: a whole number >= 0 / >= 1 (no bools, no 2.0)
Count = Annotated[StrictInt, Field(ge=0)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
#: finite real numbers (ints accepted, bools and strings not)
Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]
NonNegative = Annotated[StrictFloat, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[StrictFloat, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[StrictFloat, Field(ge=0, lt=1, allow_inf_nan=False)]
#: r_c, a radial frequency in cycles per sample
Cutoff = Annotated[StrictFloat, Field(gt=0, le=0.5, allow_inf_nan=False)]
Flag = StrictBool

__all__ = ["Count", "Cutoff", "Flag", "Fraction", "Number", "NonNegative", "Params", "Positive", "PositiveInt"]


class Params(BaseModel):
    """A parameter group: unknown keys refused, values immutable, errors named as in the YAML.

    Subclasses set ``group`` to their dotted place in the configuration (``"distill"``,
    ``"narrate.openai"``); nested models need none, the outer model names their errors.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)
    group: ClassVar[str] = ""

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Build from a mapping (what Kedro calls for ``params:<group>``); bad values raise
        :class:`~s2kd.errors.ParameterError`."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise parameter_error(exc, cls) from None

    def to_dict(self) -> dict[str, Any]:
        """The values as plain data under their YAML names (``lambda``, not ``lam``)."""
        return self.model_dump(mode="json", by_alias=True)


def parameter_error(exc: ValidationError, model: type[BaseModel]) -> ParameterError:
    """One :class:`ParameterError` for every problem pydantic found, each on its own line as
    ``<group>.<key>: is <value>. Fix: <what is allowed>``."""
    group = getattr(model, "group", "")
    lines = [_line(err, model, group) for err in exc.errors(include_url=False)]
    where, problem, fix = lines[0]
    error = ParameterError(where, problem, fix)
    if len(lines) > 1:
        text = "; ".join(f"{w}: {p}. Fix: {f}" for w, p, f in lines)
        error.args = (f"{len(lines)} bad parameters: {text}",)
    return error


def _line(err: dict[str, Any], model: type[BaseModel], group: str) -> tuple[str, str, str]:
    loc = [str(part) for part in err["loc"]]
    where = ".".join([group, *loc] if group else loc) or model.__name__
    kind, msg = err["type"], str(err["msg"])
    if kind == "missing":
        return where, "is missing", f"set {where} (conf/base/parameters_*.yml lists every parameter)"
    if kind == "extra_forbidden":
        known = _keys_at(model, err["loc"][:-1])
        listed = f"use one of {known}" if known else "remove it"
        return where, "is not a parameter (a typo does nothing, so it is refused)", listed
    if msg.startswith("Value error, "):  # our own validators say what to do
        return where, f"is {_short(err.get('input'))}", msg.removeprefix("Value error, ")
    if msg.startswith("Assertion failed, "):
        return where, f"is {_short(err.get('input'))}", msg.removeprefix("Assertion failed, ")
    return where, f"is {_short(err.get('input'))}", "use a value that " + msg.removeprefix("Input ").replace(
        "should be", "is", 1)


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a nested model at ``loc`` accepts (its YAML names), or [] when ``loc`` is no model."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None:
            return []
        match = [f for name, f in fields.items() if (f.alias or name) == part]
        if not match:
            return []
        current = match[0].annotation
    fields = getattr(current, "model_fields", None)
    return sorted((f.alias or name) for name, f in fields.items()) if fields else []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
