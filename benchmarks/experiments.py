"""Variants of ``s2kd`` judged on the validation split, on the benchmark's teachers and budget.

Usage (after ``python benchmarks/results.py --datasets <dataset>`` has trained that dataset's teachers)::

    python benchmarks/experiments.py --dataset ncep [--seeds 0 1 2] [--variants output_spec cosine]

Every variant of ``benchmarks/experiments.yml`` is one ``kedro run --pipelines distill,ablations
--namespaces student_<method>,...`` per seed on ``bench_<dataset>_s<seed>`` (only the variant's
students train) with the benchmark's parameters plus the variant's, in the MLflow experiment
``s2kd-experiments``; it reads the validation MSE of each student it trained from its validation row
``validation/student_<method>.json``. Only the validation split is read. Results accumulate in
``data/08_reporting/experiments_<dataset>.csv`` (a finished variant and seed is skipped) and the table
goes to ``docs/experiments/<dataset>.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

import pandas as pd
import yaml
from results import ROOT, digest, kedro_command, kedro_environ, run_params  # benchmarks/results.py

from s2kd.reporting import markdown_table  # noqa: E402  (results puts src/ on the path)


def run_variant(config: dict, dataset: str, seed: int, methods: list[str], extra: dict) -> tuple[dict, float]:
    """One distill run; ``{method: best val MSE}`` and its seconds."""
    params = run_params(config, dataset, seed)
    params = {k: v for k, v in params.items() if not k.startswith(("train_teacher.", "evaluate.", "ingest."))}
    params.update(extra)
    cmd = kedro_command(config["datasets"][dataset].get("env"), ["distill", "ablations"], params)
    cmd += ["--namespaces", ",".join(f"student_{m}" for m in methods)]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=kedro_environ("s2kd-experiments"))
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    folder = ROOT / "data" / "08_reporting" / params["dataset"] / "validation"
    rows = {m: json.loads((folder / f"student_{m}.json").read_text()) for m in methods}
    return {m: row["best_val_mse"] for m, row in rows.items()}, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--variants", nargs="+", default=None, help="a part of the YAML's variants")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "benchmarks" / "results.yml").read_text())
    variants = yaml.safe_load((ROOT / "benchmarks" / "experiments.yml").read_text())["variants"]
    names = args.variants or list(variants)
    unknown = set(names) - set(variants)
    if unknown:
        parser.error(f"unknown variant(s) {sorted(unknown)}; benchmarks/experiments.yml has {sorted(variants)}")
    seeds = args.seeds if args.seeds is not None else config["seeds"]
    store = ROOT / "data" / "08_reporting" / f"experiments_{args.dataset}.csv"
    rows = pd.read_csv(store) if store.exists() else pd.DataFrame(columns=["variant", "seed", "method", "val_mse",
                                                                          "digest", "seconds"])
    for name in names:
        spec = variants[name]
        extra = dict(spec.get("params") or {})
        methods = spec.get("methods", ["s2kd"])
        for seed in seeds:
            key = digest({"extra": extra, "methods": methods, **run_params(config, args.dataset, seed)})
            if ((rows["variant"] == name) & (rows["seed"] == seed) & (rows["digest"] == key)).any():
                continue
            scores, seconds = run_variant(config, args.dataset, seed, methods, extra)
            print(f"{name} seed {seed}: " + ", ".join(f"{m} {v:.5f}" for m,
                                                      v in scores.items()) + f" ({seconds:.0f} s)",
                  flush=True)
            rows = rows[~((rows["variant"] == name) & (rows["seed"] == seed))]
            new = pd.DataFrame([{"variant": name, "seed": seed, "method": m, "val_mse": v, "digest": key,
                                 "seconds": seconds} for m, v in scores.items()])
            rows = pd.concat([rows, new], ignore_index=True)
            tmp = store.with_suffix(".tmp")
            rows.to_csv(tmp, index=False)
            tmp.replace(store)
    write_table(rows, variants, args.dataset)


def write_table(rows: pd.DataFrame, variants: dict, dataset: str) -> None:
    """The variants' validation MSE, mean ± std over seeds, with the % change against the plain
    student and the default s2kd of the same seeds."""
    ref = rows[rows["variant"] == "defaults"].pivot_table(index="seed", columns="method", values="val_mse")
    lines = []
    for name, spec in variants.items():
        mine = rows[rows["variant"] == name]
        for method, part in mine.groupby("method", sort=False):
            v = part.set_index("seed")["val_mse"]
            cells = {"variant": name, "method": method, "what": spec.get("what", ""),
                     "val MSE": f"{v.mean():.5f}" + (f" ± {v.std(ddof=1):.5f}" if len(v) > 1 else ""), "seeds": len(v)}
            for base in ("student", "s2kd"):
                if base in ref and not (name == "defaults" and method == base):
                    common = v.index.intersection(ref[base].dropna().index)
                    change = 100 * (v.loc[common] / ref[base].loc[common] - 1)
                    cells[f"vs {base} (%)"] = f"{change.mean():+.1f}" if len(common) else "—"
            lines.append(cells)
    columns = ["variant", "method", "what", "val MSE", "seeds", "vs student (%)", "vs s2kd (%)"]
    table = pd.DataFrame(lines).reindex(columns=columns).fillna("—")
    out = ROOT / "docs" / "experiments" / f"{dataset}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = (f"<!-- Written by `python benchmarks/experiments.py --dataset {dataset}`; validation split only. -->\n\n"
            + markdown_table(table) + "\n")
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
