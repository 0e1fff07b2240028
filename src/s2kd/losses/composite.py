"""A weighted sum of named loss terms that reports every term and prints its own formula."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor

SYMBOLS = {"task": "L_task", "sem": "L_sem", "spec": "L_spec", "out": "L_out"}


class CompositeLoss:
    """``L = Σ_k w_k · L_k`` over named terms.

    Args:
        weights: the weight of each term by name (``task``, ``sem``, ``spec``, ``out``, or any name);
            terms of weight 0 are neither computed nor reported.

    Calling it with the value of each term (a dict of callables returning scalars, evaluated only
    for weighted terms) returns ``{"loss": total, "loss_<name>": value, ...}``.
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.weights = {k: float(v) for k, v in weights.items() if float(v) != 0.0}
        assert self.weights, "a composite loss needs at least one term of non-zero weight"

    def __call__(self, terms: Mapping[str, Callable[[], Tensor]]) -> dict[str, Tensor]:
        missing = set(self.weights) - set(terms)
        assert not missing, f"no value given for loss term(s) {sorted(missing)}"
        values = {name: terms[name]() for name in self.weights}
        total = sum(self.weights[n] * v for n, v in values.items())
        return {"loss": total, **{f"loss_{n}": v for n, v in values.items()}}

    def formula(self) -> str:
        """E.g. ``L = L_task + 0.5·L_sem + 0.1·L_spec``."""
        parts = []
        for name, w in self.weights.items():
            symbol = SYMBOLS.get(name, f"L_{name}")
            parts.append(symbol if w == 1.0 else f"{w:g}·{symbol}")
        return "L = " + " + ".join(parts)

    def __repr__(self) -> str:
        return f"CompositeLoss({self.formula()})"
