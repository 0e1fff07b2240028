"""Stage 2 of ``benchmarks/results.py``: every method's validation configurations, the best one chosen.

Each method of ``benchmarks/tuning.yml`` lists the same number of configurations (its entry of
``distill.methods``); each is one ``kedro run --pipelines distill,ablations --namespaces student_<method>``
on ``bench_<dataset>_tuning`` (the tuning dataset's first teacher seed: its data and frozen teachers are
copied in; the plain student is trained first, as the reference and for the teacher check), at the
benchmark's budget and first student seed. Only the validation split is read: the validation row
``validation/student_<method>.json`` of each run. Then ``s2kd_spec_only`` and ``s2kd_sem_only`` run
with ``s2kd``'s chosen setting, so the table says whether ``L_sem`` adds anything to the spectral term.

Rows accumulate in ``benchmarks/records/tuning_<dataset>.csv`` (a configuration already run with the same
parameters is skipped; committed with the final runs' records, so that a fresh clone does not tune again)
and the table goes to ``docs/experiments/tuning_<dataset>.md``. Run alone::

    python benchmarks/tuning.py            # after `python benchmarks/results.py --until teachers`
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from results import ROOT, copy_shared, digest, kedro, kedro_command, run_name, run_params, seeds_of
from schedule import teacher_run  # benchmarks/schedule.py

from s2kd.recipes.params import LOSS_KEYS  # noqa: E402  (results puts src/ on the path)
from s2kd.reporting import markdown_table  # noqa: E402
from s2kd.training.methods import METHODS, settings_source  # noqa: E402

CONFIG = ROOT / "benchmarks" / "tuning.yml"
#: where the rows of every configuration run go, ``tuning_<dataset>.csv`` (see :mod:`records`: in the repository)
STORE_DIR = ROOT / "benchmarks" / "records"
#: the ablations run with s2kd's chosen setting after the tuning
CHECKS = ("s2kd_spec_only", "s2kd_sem_only")


def configurations(path: Path = CONFIG) -> dict[str, list[dict[str, Any]]]:
    """Each method's configurations, checked: known methods that take their own settings, known loss
    settings, and the same number of configurations for every method."""
    methods = yaml.safe_load(path.read_text())["methods"]
    for method, configs in methods.items():
        if method not in METHODS or METHODS[method].settings_from or METHODS[method].teacher is None:
            raise ValueError(f"{path}: {method!r} is not a method with its own loss settings")
        for c in configs:
            unknown = set(c) - set(LOSS_KEYS)
            if unknown:
                raise ValueError(f"{path}: {method} has unknown loss setting(s) {sorted(unknown)}")
    counts = {m: len(c) for m, c in methods.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"{path}: every method needs the same number of configurations, got {counts}")
    return methods


def settings_params(method: str, setting: dict[str, Any]) -> dict[str, Any]:
    """``--params`` that give ``method`` this loss setting: every loss setting of the method's entry, those
    the setting leaves out at the shared value (top of the ``distill`` group in ``conf/base``), so that what
    runs does not depend on the method's default entry there (which is itself set from this tuning)."""
    shared = yaml.safe_load((ROOT / "conf" / "base" / "parameters_distill.yml").read_text())["distill"]
    return {f"distill.methods.{method}.{k}": setting.get(k, shared[k]) for k in LOSS_KEYS}


def describe(setting: dict[str, Any]) -> str:
    names = {"beta": "β", "lambda": "λ", "gamma": "γ", "alpha": "α", "cutoff": "r_c"}
    return ", ".join(f"{names.get(k, k)} = {v}" for k, v in setting.items()) or "—"


def tune(config: dict[str, Any], path: Path = CONFIG) -> dict[str, Any]:
    """Run what is not run yet, write the table; the chosen settings as ``--params``."""
    dataset = config["tuning_dataset"]
    teachers, students = seeds_of(config, dataset)
    name = f"bench_{dataset}_tuning"
    base = {**run_params(config, dataset, teachers[0], students[0]), "dataset": name}
    store = STORE_DIR / f"tuning_{dataset}.csv"
    rows = pd.read_csv(store) if store.exists() else pd.DataFrame(
        columns=["method", "setting", "key", "val_mse", "seconds"])
    env, experiment = config["datasets"][dataset].get("env"), config["mlflow_experiment"]
    copied = ran = False

    def run(method: str, setting: dict[str, Any]) -> float:
        nonlocal rows, copied, ran
        params = {**base, **settings_params(settings_source(method), setting)}
        key = digest(params)
        done = rows[(rows["method"] == method) & (rows["key"] == key)]
        if len(done):
            return float(done["val_mse"].iloc[0])
        if not copied:
            teacher_run(config, dataset, teachers[0])
            copy_shared(run_name(dataset, teachers[0], students[0]), name)
            copied = True
        pipelines = ["distill", "ablations"] if METHODS[method].ablation else ["distill"]
        cmd = kedro_command(env, pipelines, params, namespaces=[f"student_{method}"])
        log = ROOT / "data" / "08_reporting" / name / f"tuning_{method}.log"
        print(f"  tuning {method}: {describe(setting)} ...", flush=True)
        (seconds, _), ran = kedro(cmd, log, experiment), True
        row = json.loads((ROOT / "data" / "08_reporting" / name / "validation" / f"student_{method}.json").read_text())
        val = float(row["best_val_mse"])
        print(f"  tuning {method}: {describe(setting)}: val MSE {val:.5f} ({seconds:.0f} s)", flush=True)
        new = pd.DataFrame([{"method": method, "setting": json.dumps(setting, sort_keys=True), "key": key,
                             "val_mse": val, "seconds": seconds}])
        rows = pd.concat([rows, new], ignore_index=True) if len(rows) else new
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_suffix(".tmp")
        rows.to_csv(tmp, index=False)
        tmp.replace(store)
        return val

    reference = run("student", {})
    table, chosen = [], {}
    for method, configs in configurations(path).items():
        values = [run(method, c) for c in configs]
        best = min(range(len(configs)), key=values.__getitem__)
        chosen[method] = configs[best]
        table += [{"method": method, "configuration": describe(c), "val MSE": f"{v:.5f}",
                   "vs student": f"{100 * (v / reference - 1):+.1f} %", "chosen": "yes" if i == best else ""}
                  for i, (c, v) in enumerate(zip(configs, values, strict=True))]
    for method in CHECKS:
        v = run(method, chosen["s2kd"])
        table.append({"method": method, "configuration": f"s2kd's: {describe(chosen['s2kd'])}", "val MSE": f"{v:.5f}",
                      "vs student": f"{100 * (v / reference - 1):+.1f} %", "chosen": "(check)"})
    if ran or not (ROOT / "docs" / "experiments" / f"tuning_{dataset}.md").exists():  # else the table stands
        write_table(config, dataset, reference, table, rows)
    return {k: v for m, s in chosen.items() for k, v in settings_params(m, s).items()}


def compute_minutes(rows: pd.DataFrame) -> float:
    """The tuning's compute: each configuration's longest run (its training; a rerun after a changed default
    resumes the finished checkpoint in seconds), in minutes."""
    return float(rows.groupby(["method", "setting"])["seconds"].max().sum() / 60) if len(rows) else 0.0


def restored_note(rows: pd.DataFrame) -> str:
    """What the rows without seconds say of themselves (rows restored from an earlier table)."""
    notes = rows["note"].dropna().unique() if "note" in rows else []
    return "".join(f" ({n})" for n in notes)


def write_table(config: dict[str, Any], dataset: str, reference: float, table: list[dict], rows: pd.DataFrame) -> None:
    out = ROOT / "docs" / "experiments" / f"tuning_{dataset}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = pd.Series([r["method"] for r in table if r["chosen"] != "(check)"]).value_counts()
    text = "\n".join([
        f"# Validation configurations on {dataset} (stage 2 of `python benchmarks/results.py`)", "",
        "<!-- Written by benchmarks/tuning.py; do not edit by hand. -->", "",
        f"Every method gets {int(counts.iloc[0])} configurations (`benchmarks/tuning.yml`), at the benchmark's "
        "budget (`common` in `benchmarks/results.yml`), on the first teacher seed and student seed; the lowest "
        "validation MSE is the method's setting in the final runs. Shared settings not listed are those of "
        f"`conf/base/parameters_distill.yml`. Plain student: val MSE {reference:.5f}. Compute "
        f"{compute_minutes(rows):.0f} min{restored_note(rows)}. The rows marked (check) run `s2kd`'s ablations "
        "with its chosen setting: does `L_sem` add anything to the spectral term, and the spectral term to "
        "`L_sem`?", "",
        markdown_table(pd.DataFrame(table)), ""])
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"wrote {out.relative_to(ROOT)}", flush=True)


if __name__ == "__main__":
    print(tune(yaml.safe_load((ROOT / "benchmarks" / "results.yml").read_text())))
