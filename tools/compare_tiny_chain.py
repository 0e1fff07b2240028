"""Does a refactor change results? The tiny end-to-end chain at a reference commit and in this tree.

Usage (from the project root, with the project's virtual environment active)::

    python tools/compare_tiny_chain.py --reference 80450ef [--keep DIR]

Each side is a copy of its tree (``git worktree`` of the reference commit; ``conf``, ``src`` and
``pyproject.toml`` of this one) with a ``conf/tiny`` environment written here, run by
``python -m kedro run --env tiny`` with that tree's ``src`` first on ``PYTHONPATH``: ingest on a small
synthetic grid, narrate, every teacher, every student (the ablations included), evaluate and report,
on the ``tiny`` preset. Then it compares, exactly: the narratives, every model's best validation MSE,
and the ``metrics_table`` (rows sorted by model, metric and lead). Exit status 0 when all three are
identical.

The parameter layout changed in issue 14 (a shared ``trainer`` group, ablations as their own
pipeline), so the tiny settings are written once per layout: ``LEGACY`` for commits before it,
``CURRENT`` for this tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = {"n_times": 200, "height": 8, "width": 16, "events_per_year": 60.0}
BUDGET = {"preset": "tiny", "max_epochs": 2, "max_train_samples": 32, "max_val_samples": 8, "batch_size": 8}
EVALUATE = {"latency_repeats": 3, "latency_warmup": 1, "progress": False, "panel_samples": 2}
ALL_METHODS = ["student", "output_kd", "feature_kd", "sdkd", "s2kd", "s2kd_sem_only", "s2kd_spec_only",
               "s2kd_shuffled_text"]

#: the layout before issue 14: trainer keys inside each group, students chosen by distill.methods
LEGACY = {
    "params": {"ingest": {"synthetic": DATA},
               "train_teacher": BUDGET | {"enable_progress_bar": False},
               "distill": BUDGET | {"enable_progress_bar": False, "methods": ALL_METHODS},
               "evaluate": EVALUATE},
    "pipelines": "ingest,narrate,train_teacher,distill,evaluate,report",
    "validation": ["teacher_validation.csv", "distill_validation.csv"],
}
#: this tree's layout: a shared trainer group, one node per model, the ablations as their own pipeline
CURRENT = {
    "params": {"ingest": {"synthetic": DATA}, "train_teacher": BUDGET, "distill": BUDGET,
               "trainer": {"enable_progress_bar": False}, "evaluate": EVALUATE},
    "pipelines": "ingest,narrate,train_teacher,distill,ablations",
    "validation": ["teacher_validation.csv", "distill_validation.csv", "ablation_validation.csv"],
}


def _copy_current(dest: Path) -> None:
    for name in ("conf", "src"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "local"))
    (dest / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, dest / name)


def _run(tree: Path, layout: dict) -> Path:
    env_dir = tree / "conf" / "tiny"
    env_dir.mkdir(parents=True, exist_ok=True)
    (env_dir / "parameters.yml").write_text(yaml.safe_dump(layout["params"], sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tree / 'mlflow.db'}", "MPLBACKEND": "Agg"}
    where = subprocess.run([sys.executable, "-c", "import s2kd; print(s2kd.__file__)"], cwd=tree, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(tree.resolve()), f"s2kd imported from {where}, not {tree}"
    cmd = [sys.executable, "-m", "kedro", "run", "--env", "tiny", "--pipelines", layout["pipelines"]]
    print("+", " ".join(cmd), f"(in {tree})", flush=True)
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"kedro run failed in {tree}:\n{done.stderr[-4000:]}")
    return tree / "data"


def _validation(data: Path, files: list[str]) -> pd.Series:
    rows = []
    for name in files:
        table = pd.read_csv(data / "08_reporting" / "synthetic" / name)
        key = table["model"] if "model" in table else "student_" + table["method"]
        rows.append(pd.Series(table["best_val_mse"].to_numpy(), index=key.to_numpy()))
    return pd.concat(rows).sort_index()


def _metrics(data: Path) -> pd.DataFrame:
    table = pd.read_parquet(data / "08_reporting" / "synthetic" / "metrics_table.parquet")
    return table.sort_values(["model", "metric", "lead"]).reset_index(drop=True)


def compare(reference: str, keep: Path | None) -> bool:
    work = Path(keep or tempfile.mkdtemp(prefix="tiny-chain-"))
    work.mkdir(parents=True, exist_ok=True)
    ref_tree, cur_tree = work / "reference", work / "current"
    subprocess.run(["git", "worktree", "add", "--detach", str(ref_tree), reference], cwd=ROOT, check=True)
    try:
        _copy_current(cur_tree)
        ref, cur = _run(ref_tree, LEGACY), _run(cur_tree, CURRENT)
        same = True
        a = pd.read_parquet(ref / "04_feature/synthetic/narratives.parquet")
        b = pd.read_parquet(cur / "04_feature/synthetic/narratives.parquet")
        ok = a.equals(b)
        print(f"narratives: {len(a)} vs {len(b)} rows, {'identical' if ok else 'DIFFERENT'}")
        same &= ok
        a, b = _validation(ref, LEGACY["validation"]), _validation(cur, CURRENT["validation"])
        ok = a.index.tolist() == b.index.tolist() and (a.to_numpy() == b.to_numpy()).all()
        print(f"best validation MSE of {len(a)} vs {len(b)} models: {'identical' if ok else 'DIFFERENT'}")
        if not ok:
            print(pd.DataFrame({"reference": a, "current": b}).to_string())
        same &= ok
        a, b = _metrics(ref), _metrics(cur)
        shared = [c for c in a.columns if c in b.columns]
        ok = list(a.columns) == list(b.columns) and a[shared].equals(b[shared])
        print(f"metrics_table: {len(a)} vs {len(b)} rows, columns {list(a.columns)} vs {list(b.columns)}: "
              f"{'identical' if ok else 'DIFFERENT'}")
        same &= ok
        return bool(same)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(ref_tree)], cwd=ROOT, check=False)
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="the commit to compare with, e.g. 80450ef")
    parser.add_argument("--keep", type=Path, help="keep both runs in this folder")
    args = parser.parse_args()
    sys.exit(0 if compare(args.reference, args.keep) else 1)


if __name__ == "__main__":
    main()
