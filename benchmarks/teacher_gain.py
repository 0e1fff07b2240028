"""What the narratives teach the teacher: real text vs shuffled text vs no text, on validation, per seed.

Usage (from the project root, in the project's environment)::

    python benchmarks/teacher_gain.py                          # every case and seed of teacher_gain.yml
    python benchmarks/teacher_gain.py --cases bikenyc --seeds 0
    python benchmarks/teacher_gain.py --report-only            # the table from the finished runs

Per case: ``kedro run [--env E] --pipelines ingest,narrate`` once (dataset ``tg_<case>``), then per seed
``kedro run --pipelines train_teacher,ablations --namespaces teacher_<a>,...`` with
``train_teacher.seed=<seed>``; the best validation MSE of each teacher is read from its validation row
(``data/08_reporting/tg_<case>/validation/teacher_<role>.json``). Results accumulate in
``data/08_reporting/teacher_gain.csv`` (a finished case and seed with the same parameters is skipped) and
the markdown table is printed (and written to ``docs/narratives/teacher_gain.md``). The test split is
never read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

import numpy as np
import pandas as pd
import yaml
from results import ROOT, digest, kedro_command, kedro_environ  # benchmarks/results.py

from s2kd.reporting import markdown_table  # noqa: E402  (results puts src/ on the path)

STORE = ROOT / "data" / "08_reporting" / "teacher_gain.csv"
OUT = ROOT / "docs" / "narratives" / "teacher_gain.md"


def commit() -> str:
    """The code a row was measured with: the commit, ``+dirty`` when src/ had uncommitted changes."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True).stdout
    return head.strip() + ("+dirty" if dirty.strip() else "")


def kedro(cmd: list[str], experiment: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=kedro_environ(experiment))
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - start


def run_case(config: dict, name: str, seeds: list[int], rows: pd.DataFrame) -> pd.DataFrame:
    spec = config["cases"][name]
    env, teachers = spec.get("env"), spec["teachers"]
    data_params = {"dataset": f"tg_{name}", **config["common"], **(spec.get("params") or {})}
    experiment = config["mlflow_experiment"]
    prepared = False
    for seed in seeds:
        params = {**data_params, "train_teacher.seed": seed}
        key = digest({"params": params, "teachers": teachers})
        if ((rows["case"] == name) & (rows["seed"] == seed) & (rows["digest"] == key)).any():
            continue
        if not prepared:
            seconds = kedro(kedro_command(env, ["ingest", "narrate"], data_params), experiment)
            print(f"{name}: ingest + narrate {seconds:.0f} s", flush=True)
            prepared = True
        cmd = kedro_command(env, ["train_teacher", "ablations"], params)
        cmd += ["--namespaces", ",".join(f"teacher_{t}" for t in teachers)]
        seconds = kedro(cmd, experiment)
        folder = ROOT / "data" / "08_reporting" / params["dataset"] / "validation"
        scores = {t: json.loads((folder / f"teacher_{t}.json").read_text())["best_val_mse"] for t in teachers}
        print(f"{name} seed {seed}: " + ", ".join(f"{t} {v:.5f}" for t, v in scores.items()) + f" ({seconds:.0f} s)",
              flush=True)
        rows = rows[~((rows["case"] == name) & (rows["seed"] == seed))]
        new = pd.DataFrame([{"case": name, "seed": seed, "teacher": t, "val_mse": v, "digest": key,
                             "seconds": seconds, "commit": commit()} for t, v in scores.items()])
        rows = pd.concat([rows, new], ignore_index=True)
        tmp = STORE.with_suffix(".tmp")
        rows.to_csv(tmp, index=False)
        tmp.replace(STORE)
    return rows


def gain_table(config: dict, rows: pd.DataFrame) -> pd.DataFrame:
    """Per case: each teacher's mean ± sd over seeds, and the real text's gain over the shuffled text
    and over no text (1 - real/other, per seed, then mean ± sd)."""
    out = []
    for name, spec in config["cases"].items():
        part = rows[rows["case"] == name].pivot_table(index="seed", columns="teacher", values="val_mse")
        if part.empty:
            continue
        borrowed = spec.get("vision_from")  # the vision teacher reads no text: the same run serves both modes
        if borrowed and "vision" not in part:
            other = rows[(rows["case"] == borrowed) & (rows["teacher"] == "vision")].set_index("seed")["val_mse"]
            part["vision"] = other.reindex(part.index)
        row = {"case": name, "what": spec["what"], "seeds": len(part)}
        for t in ("multimodal", "shuffled", "vision"):
            if t in part:
                row[t] = f"{part[t].mean():.5f} ± {part[t].std(ddof=1) if len(part) > 1 else 0:.5f}"
        for other in ("shuffled", "vision"):
            if other in part and "multimodal" in part:
                g = 1.0 - part["multimodal"] / part[other]
                sd = g.std(ddof=1) if len(g) > 1 else 0.0
                row[f"gain vs {other}"] = f"{100 * g.mean():+.1f} % ± {100 * sd:.1f}"
                row[f"wins vs {other}"] = f"{int(np.sum(g > 0))}/{len(g)}"
        out.append(row)
    return pd.DataFrame(out).fillna("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "benchmarks" / "teacher_gain.yml").read_text())
    names = args.cases or list(config["cases"])
    unknown = set(names) - set(config["cases"])
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}; benchmarks/teacher_gain.yml has {sorted(config['cases'])}")
    rows = pd.read_csv(STORE) if STORE.exists() else pd.DataFrame(
        columns=["case", "seed", "teacher", "val_mse", "digest", "seconds", "commit"])
    if not args.report_only:
        for name in names:
            rows = run_case(config, name, args.seeds or config["seeds"], rows)
    table = markdown_table(gain_table(config, rows))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("<!-- written by benchmarks/teacher_gain.py; validation split only -->\n\n" + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
