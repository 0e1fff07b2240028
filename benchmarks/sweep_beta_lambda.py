"""A β × λ sweep of ``s2kd`` on the validation split, one ``kedro run --pipeline distill`` per pair.

Usage (from the project root, after ``kedro run`` has made the teachers of that environment)::

    python benchmarks/sweep_beta_lambda.py [--env ncep] [--betas 0.01 0.1 1] [--lambdas 0.01 0.1 1] \
        [--baselines student feature_kd sdkd] [--out docs/sweeps/synthetic.md]

Each pair is its own Kedro run of the one student's node (``kedro run --pipeline distill --namespaces
student_s2kd --params distill.methods.s2kd.beta=B,distill.methods.s2kd.lambda=L``) with its own nested
MLflow run ``student_s2kd`` tagged ``method=s2kd``: in the MLflow UI filter
``tags.method = 's2kd'`` and add the ``beta``, ``lambda`` and ``best_val_mse`` columns to see
them side by side. ``--baselines`` trains those methods once at each β (``feature_kd``) or λ
(``sdkd``) of the grid, so every method gets the same tuning budget along its own weight. Only the
validation split is read. Prints and writes a markdown table of the validation MSE.

Every run leaves a new version of the students it trained: rerun ``kedro run --pipeline distill`` with
the chosen defaults afterwards (finished students resume from their checkpoints and train no more epochs).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path
from typing import Any

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

ROOT = Path(__file__).resolve().parents[1]


def distill(env: str | None, methods: list[str], **weights: float) -> dict[str, float]:
    """The students of ``methods`` (their nodes of ``distill`` only) with these weights (each method's own entry
    of ``distill.methods``, which outranks the shared settings); ``{method: best val MSE}``."""
    overrides: dict[str, Any] = {"methods": {m: dict(weights) for m in methods}}
    with KedroSession.create(project_path=ROOT, env=env, runtime_params={"distill": overrides}) as session:
        session.run(pipeline_name="distill", namespaces=[f"student_{m}" for m in methods])
        catalog = session.load_context().catalog
        return {m: float(catalog.load(f"student_{m}_validation")["best_val_mse"]) for m in methods}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help="Kedro environment (conf/<env>); default: the synthetic base")
    parser.add_argument("--betas", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--baselines", nargs="*", default=["student", "feature_kd", "sdkd"],
                        help="methods trained alongside: student once, feature_kd per β, sdkd per λ")
    parser.add_argument("--out", type=Path, default=None, help="markdown file for the table")
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    bootstrap_project(ROOT)
    start = time.perf_counter()

    base: dict[str, float] = {}
    if "student" in args.baselines:
        base = distill(args.env, ["student"])
    fkd = {b: distill(args.env, ["feature_kd"],
                      beta=b)["feature_kd"] for b in args.betas} if "feature_kd" in args.baselines else {}
    sdkd = {lam: distill(args.env, ["sdkd"],
                         **{"lambda": lam})["sdkd"] for lam in args.lambdas} if "sdkd" in args.baselines else {}
    grid = {(b, lam): distill(args.env, ["s2kd"], beta=b, **{"lambda": lam})["s2kd"]
            for b, lam in itertools.product(args.betas, args.lambdas)}

    def cell(value: float) -> str:
        return f"{value:.5f}" if not base else f"{value:.5f} ({100 * (value / base['student'] - 1):+.1f}%)"

    lines = [f"Validation MSE (normalised) of `s2kd`, environment `{args.env or 'base (synthetic)'}`"
             + (f"; `student` alone: {base['student']:.5f}, % against it in brackets" if base else "") + ".", "",
             "| β \\ λ | " + " | ".join(f"{lam:g}" for lam in args.lambdas)
             + (" | `feature_kd` (β) |" if fkd else " |"),
             "|---|" + "---|" * (len(args.lambdas) + bool(fkd))]
    for b in args.betas:
        row = [cell(grid[(b, lam)]) for lam in args.lambdas] + ([cell(fkd[b])] if fkd else [])
        lines.append(f"| {b:g} | " + " | ".join(row) + " |")
    if sdkd:
        cells = " | ".join(cell(sdkd[lam]) for lam in args.lambdas)
        lines.append("| `sdkd` (λ) | " + cells + (" | |" if fkd else " |"))
    best = min(grid, key=grid.get)
    lines += ["", f"Best `s2kd`: β = {best[0]:g}, λ = {best[1]:g} (val MSE {grid[best]:.5f}). "
              f"Sweep time {time.perf_counter() - start:.0f} s."]
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
