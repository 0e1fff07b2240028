"""The benchmark behind ``docs/results.md``: every method and ablation, several seeds, three datasets.

Usage (from the project root, in the project's environment)::

    python benchmarks/results.py                       # all datasets and seeds of benchmarks/results.yml
    python benchmarks/results.py --datasets bikenyc --seeds 0   # a part of it
    python benchmarks/results.py --report-only         # rewrite docs/results.md from finished runs

For each dataset of ``benchmarks/results.yml`` the first seed runs::

    kedro run [--env <env>] --pipelines ingest,narrate,train_teacher,distill,ablations \
        --params dataset=bench_<dataset>_s<seed>,train_teacher.seed=<first>,distill.seed=<seed>,<common>,<dataset's>

(``evaluate`` instead of ``ablations`` for a dataset whose ``methods`` are ``core``: the ``ablations``
pipeline trains the ablation teacher and students, then scores every model), and every later seed
copies that run's ingest and narrate outputs and its frozen teachers with their finished checkpoints
(the privileged teacher is trained once and shared, so the seeds measure the students' spread) and
runs only ``distill,ablations`` (or ``distill,evaluate``) with its own ``distill.seed``. Outputs land
under ``data/<layer>/bench_<dataset>_s<seed>/``; MLflow runs go to the experiment named in the YAML. A
finished (dataset, seed) leaves
``benchmark_run.json`` beside its metrics and is skipped next time unless its parameters changed, so
an interrupted benchmark resumes where it stopped (and training resumes from checkpoints). Each run's
log is ``data/08_reporting/bench_<dataset>_s<seed>/benchmark.log``.

Then it writes ``docs/results.md``, ``docs/results/<dataset>_lead_mse.png`` and
``docs/results/summary.csv`` from every finished run. The test split is read by ``evaluate`` only,
once per (dataset, seed) and final configuration.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from s2kd.reporting import by_metric, expand, markdown_table, seed_lead_curves  # noqa: E402
from s2kd.reporting.seeds import (  # noqa: E402
    efficiency_ratios,
    lead_table,
    mean_std_table,
    ratios,
    seed_summary,
    stack_seeds,
)

FIRST_PIPELINES = ["ingest", "narrate", "train_teacher", "distill"]
LATER_PIPELINES = ["distill"]
#: what a later seed takes over from the first seed's run, relative to data/<layer>/<run>/: the
#: seed-independent outputs of ingest and narrate, and the frozen teachers with their finished checkpoints
#: and validation rows (so the ablation pipeline's teacher node finds its teacher trained)
SHARED = ["03_primary", "04_feature", "06_models/teacher_*.pt", "06_models/checkpoints/teacher_*",
          "08_reporting/teacher_validation.csv", "08_reporting/validation/teacher_*.json"]
TABLE_METRICS = ("mse", "mae", "rmse_physical", "acc", "ssim", "spectral_error_low", "spectral_error_mid",
                 "spectral_error_high")
CURVE_MODELS = ("teacher_multimodal", "student_student", "student_output_kd", "student_feature_kd", "student_sdkd",
                "student_s2kd")
TARGETS = (  # (what, denominator, bound) on NCEP test MSE: student_s2kd / denominator <= bound
    ("s2kd / feature_kd", "student_feature_kd", 0.91),
    ("s2kd / student", "student_student", 0.85),
    ("s2kd / teacher_multimodal", "teacher_multimodal", 1.10),
)


def run_name(dataset: str, seed: int) -> str:
    return f"bench_{dataset}_s{seed}"


def run_params(config: dict[str, Any], dataset: str, seed: int) -> dict[str, Any]:
    """The ``--params`` of one (dataset, seed): common budget, then the dataset's own, then the seeds
    (the teachers' is always the first seed's: they are trained once and shared)."""
    spec = config["datasets"][dataset]
    return {"dataset": run_name(dataset, seed), **config["common"], **(spec.get("params") or {}),
            "train_teacher.seed": config["seeds"][0], "distill.seed": seed}


def pipelines(config: dict[str, Any], dataset: str, *, first: bool) -> list[str]:
    """The pipelines of one run: the first seed trains the teachers; every seed its students, then the
    ablations (which score every model) or, for a dataset run on the core methods only, ``evaluate``."""
    scoring = "ablations" if config["datasets"][dataset].get("methods", "all") == "all" else "evaluate"
    return [*(FIRST_PIPELINES if first else LATER_PIPELINES), scoring]


def params_arg(params: dict[str, Any]) -> str:
    for key, value in params.items():
        if "," in str(value):
            raise ValueError(f"benchmarks/results.yml: the value of {key!r} has a comma, which kedro --params "
                             "splits on; join lists with '+'")
    return ",".join(f"{k}={v}" for k, v in params.items())


def digest(params: dict[str, Any]) -> str:
    """A run's identity: its ``--params`` and the parameter files under ``conf/`` (a changed default
    makes every run stale, so that a finished run is never one made with other settings)."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in sorted((ROOT / "conf").glob("*/*.yml")):
        if path.name.startswith(("parameters", "globals")):
            h.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    return h.hexdigest()[:12]


def marker_path(name: str) -> Path:
    return ROOT / "data" / "08_reporting" / name / "benchmark_run.json"


def finished(name: str, params: dict[str, Any]) -> dict[str, Any] | None:
    path = marker_path(name)
    if not path.exists():
        return None
    marker = json.loads(path.read_text())
    return marker if marker.get("params_digest") == digest(params) else None


def shared_paths(name: str) -> list[Path]:
    """What a later seed takes over from the first seed's run ``name`` (:data:`SHARED`), as found there."""
    data, found = ROOT / "data", []
    for pattern in SHARED:
        layer, _, rest = pattern.partition("/")
        matches = sorted((data / layer / name).glob(rest)) if rest else [data / layer / name]
        if not matches or not matches[0].exists():
            raise FileNotFoundError(f"{data / layer / name / rest} is missing: the first seed's run did not finish")
        found += matches
    return found


def copy_shared(source: str, target: str) -> None:
    """The first seed's ingest/narrate outputs and teachers into ``target``'s folders (each replaced whole,
    through a temporary copy, so an interrupted copy is never mistaken for a finished one)."""
    data = ROOT / "data"
    for src in shared_paths(source):
        layer, run, *rest = src.relative_to(data).parts
        dst = data.joinpath(layer, target, *rest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp) if src.is_dir() else shutil.copy2(src, tmp)
        if dst.is_dir():
            shutil.rmtree(dst)
        tmp.replace(dst)


def kedro_command(env: str | None, pipelines: list[str], params: dict[str, Any]) -> list[str]:
    """``kedro run`` of this environment's ``kedro`` with these pipelines and ``--params``."""
    return [str(Path(sys.executable).with_name("kedro")), "run", *(["--env", env] if env else []),
            "--pipelines", ",".join(pipelines), "--params", params_arg(params)]


def kedro_environ(experiment: str) -> dict[str, str]:
    """The environment of a benchmark ``kedro run``: offline, no telemetry, its own MLflow experiment."""
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1",
            "MLFLOW_EXPERIMENT_NAME": experiment}


def run_one(config: dict[str, Any], dataset: str, seed: int, first_seed: int) -> dict[str, Any]:
    """Run (or skip, when finished with these parameters) one (dataset, seed); its marker."""
    params = run_params(config, dataset, seed)
    name = params["dataset"]
    done = finished(name, params)
    if done is not None:
        print(f"  {name}: finished before ({done['seconds']:.0f} s), skipped", flush=True)
        return done
    if seed != first_seed:
        first_params = run_params(config, dataset, first_seed)
        if finished(first_params["dataset"], first_params) is None:
            raise RuntimeError(f"run seed {first_seed} of {dataset} first: it makes the data and the teachers "
                               "every seed shares")
        copy_shared(first_params["dataset"], name)
    names = pipelines(config, dataset, first=seed == first_seed)
    env = config["datasets"][dataset].get("env")
    cmd = kedro_command(env, names, params)
    log = ROOT / "data" / "08_reporting" / name / "benchmark.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    environ = kedro_environ(config.get("mlflow_experiment", "s2kd-benchmark"))
    print(f"  {name}: {' '.join(cmd[1:4] if env else cmd[1:2])} ... (log: {log.relative_to(ROOT)})", flush=True)
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=environ).returncode
    seconds = time.perf_counter() - start
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
        raise RuntimeError(f"{name} failed (exit {code}) after {seconds:.0f} s; the end of {log}:\n{tail}")
    marker = {"params": params, "params_digest": digest(params), "seconds": seconds, "pipelines": names,
              "command": " ".join(cmd[1:]), "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    tmp = marker_path(name).with_suffix(".tmp")
    tmp.write_text(json.dumps(marker, indent=2))
    tmp.replace(marker_path(name))
    print(f"  {name}: done in {seconds:.0f} s", flush=True)
    return marker


# ---------------------------------------------------------------- the document


def load_dataset(config: dict[str, Any], dataset: str) -> dict[str, Any] | None:
    """Every finished seed's tables of one dataset, stacked, or None when no seed has finished."""
    tables: dict[str, dict[int, pd.DataFrame]] = {"metrics": {}, "efficiency": {}, "teachers": {}}
    seconds = {}
    for seed in config["seeds"]:
        params = run_params(config, dataset, seed)
        marker = finished(params["dataset"], params)
        if marker is None:
            continue
        folder = ROOT / "data" / "08_reporting" / params["dataset"]
        tables["metrics"][seed] = by_metric(pd.read_parquet(folder / "metrics_table.parquet"))
        tables["efficiency"][seed] = pd.read_csv(folder / "efficiency.csv")
        teachers = [pd.read_csv(folder / "teacher_validation.csv")]
        if (folder / "ablation_validation.csv").exists():  # the shuffled-text teacher's row
            ablations = pd.read_csv(folder / "ablation_validation.csv")
            teachers.append(ablations[ablations["model"].str.startswith("teacher_")])
        tables["teachers"][seed] = pd.concat(teachers, ignore_index=True)
        seconds[seed] = marker["seconds"]
    if not seconds:
        return None
    return {**{k: stack_seeds(v) for k, v in tables.items()}, "seconds": seconds}


def fmt_ratio(row: pd.Series) -> str:
    std = "" if pd.isna(row["std"]) else f" ± {row['std']:.3f}"
    return f"{row['mean']:.3f}{std} (range {row['min']:.3f}–{row['max']:.3f}; better in {row['wins']}/{row['n']} seeds)"


def lead_trend(changes: pd.Series) -> str:
    """Plain words for % changes against the student per lead (negative: ``s2kd`` is better)."""
    if (changes >= 0).all():
        return "`s2kd` is no better than the student at any lead here."
    best = int(np.argmin(changes.to_numpy()))
    if best == len(changes) - 1:
        return "the gain is largest at the last lead: it grows with lead time here, as the paper claims."
    return (f"the gain is largest at lead {best + 1} ({changes.iloc[best]:+.1f} %), smaller at later leads: it does "
            "not keep growing with lead time here.")


def narrator_line(spec: dict[str, Any]) -> str:
    """Which narrator wrote the narratives the teachers read, in which mode (every result says it)."""
    params = spec.get("params") or {}
    narrator = params.get("narrate.narrator", "diagnostic")
    mode = params.get("narrate.mode", "hindsight")
    return f"Narratives: the `{narrator}` narrator, `{mode}` mode."


def dataset_section(config: dict[str, Any], dataset: str, data: dict[str, Any], figures: Path) -> tuple[list[str],
                                                                                                        dict]:
    spec = config["datasets"][dataset]
    metrics = data["metrics"]
    seeds = sorted(data["seconds"])
    models = list(dict.fromkeys(metrics["model"]))
    per_seed = ", ".join(f"{data['seconds'][s] / 60:.1f}" for s in seeds)
    out = [f"## {dataset}: {spec['title']}", "",
           f"Seeds {', '.join(map(str, seeds))}; compute {sum(data['seconds'].values()) / 60:.1f} min "
           f"({per_seed} min per seed). "
           f"Kedro environment `{spec.get('env') or 'base'}`"
           + (", parameters " + ", ".join(f"`{k}={v}`" for k, v in spec["params"].items())
              if spec.get("params") else "")
           + ". " + narrator_line(spec), ""]

    # the teachers are trained once and shared by the seeds: their rows are the first seed's (no spread)
    once = metrics[(metrics["role"] != "teacher") | (metrics["seed"] == seeds[0])]
    names = expand(TABLE_METRICS, metrics)  # a physical metric: one column per variable
    summary = seed_summary(once, names)
    out += ["### Test metrics, mean ± std over seeds (averaged over lead times)", "",
            "MSE and MAE are in normalised units, RMSE per variable in its physical units; ACC and SSIM: higher "
            "is better; spectral "
            "error per radial band (low ≤ 1/8, mid ≤ 1/4, high > 1/4 cycles/pixel): lower is better. "
            "`teacher_*` see the narratives (hindsight: an oracle, not a forecaster) and are trained once, so "
            "they have no spread.", "",
            markdown_table(mean_std_table(summary, names)), ""]

    r = ratios(metrics, "student_s2kd",
               ["student_feature_kd", "student_student", "teacher_multimodal", "student_output_kd",
                                         "student_sdkd"])
    out += ["### Ratios of test MSE (per seed, then mean ± std)", "",
            "| ratio | value |", "|---|---|"]
    out += [f"| s2kd / {row['denominator'].removeprefix('student_')} | {fmt_ratio(row)} |" for _, row in r.iterrows()]
    out.append("")

    curve_models = [m for m in CURVE_MODELS if m in models]
    png = figures / f"{dataset}_lead_mse.png"
    png.write_bytes(seed_lead_curves(metrics, curve_models, title=dataset))
    lead = lead_table(metrics, ["student_student", "student_feature_kd", "student_s2kd", "teacher_multimodal"],
                      reference="student_student")
    out += ["### Per lead time", "", f"![{dataset}: test MSE per lead time](results/{png.name})", "",
            "Test MSE per lead (mean over seeds) and the mean per-seed % change against `student`:", "",
            markdown_table(lead), ""]
    gains = lead["student_s2kd vs student_student (%)"] if "student_s2kd vs student_student (%)" in lead else None
    if gains is not None and len(gains) > 1:
        out += [f"The change of `s2kd` against `student` goes from {gains.iloc[0]:+.1f} % at lead 1 to "
                f"{gains.iloc[-1]:+.1f} % at lead {int(lead['lead'].iloc[-1])}: {lead_trend(gains)}", ""]

    teachers = [m for m in ("teacher_multimodal", "teacher_vision", "teacher_shuffled") if m in models]
    t_sum = seed_summary(once[once["model"].isin(teachers)], ("mse", "acc"))
    t_val = data["teachers"].groupby("model")["best_val_mse"].first()
    t_table = mean_std_table(t_sum, ("mse", "acc")).rename(columns={"mse": "test mse", "acc": "test acc"})
    t_table["val mse"] = [f"{t_val[m]:.4g}" if m in t_val.index else "—" for m in t_table["model"]]
    out += ["### Teacher sanity check", "",
            "The multimodal teacher should beat its vision-only twin (same network, text off) and the teacher "
            "trained on narratives shuffled across samples (text that carries no information about its window).", "",
            markdown_table(t_table.drop(columns="role")), ""]
    t_mse = t_sum[t_sum["metric"] == "mse"].set_index("model")["mean"]
    out += [f"- test MSE, teacher_multimodal / {t}: {t_mse['teacher_multimodal'] / t_mse[t]:.3f}"
            for t in teachers if t != "teacher_multimodal" and "teacher_multimodal" in t_mse] + [""]

    eff = efficiency_ratios(data["efficiency"], "student_s2kd", "teacher_multimodal")
    eff_table = eff.assign(quantity=eff["quantity"].map({"parameters": "parameters", "flops": "FLOPs (batch 1)",
                                                          "latency_ms_b1": "latency, batch 1 (ms)",
                                                          "latency_ms_b32": "latency, batch 32 (ms)"}))
    eff_table = eff_table.rename(columns={"teacher_over_student": "teacher / student"})
    out += ["### Efficiency (student vs multimodal teacher, CPU, median over seeds)", "", markdown_table(eff_table), ""]

    facts = {"ratios": r.set_index("denominator")["mean"].to_dict(), "ratio_rows": r,
             "efficiency": eff.set_index("quantity")["teacher_over_student"].to_dict(),
             "summary": summary.assign(dataset=dataset)}
    return out, facts


def summary_section(facts: dict[str, dict]) -> list[str]:
    """One line per dataset: test MSE of s2kd over each baseline (mean of per-seed ratios, seeds won)."""
    dens = ["student_student", "student_feature_kd", "student_output_kd", "student_sdkd", "teacher_multimodal"]
    out = ["## Summary: test MSE of `s2kd` over each baseline", "",
           "Mean of the per-seed ratios (below 1: `s2kd` is better), and in how many seeds `s2kd` was better.", "",
           "| dataset | " + " | ".join(f"/ {d.removeprefix('student_')}" for d in dens) + " |",
           "|---|" + "---|" * len(dens)]
    for dataset, f in facts.items():
        rows = f["ratio_rows"].set_index("denominator")
        cells = [f"{rows.loc[d, 'mean']:.3f} ({rows.loc[d, 'wins']}/{rows.loc[d, 'n']})" if d in rows.index else "—"
                 for d in dens]
        out.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return out + [""]


def targets_section(facts: dict[str, dict]) -> list[str]:
    out = ["## Targets", "", "Ours, after the paper's ~9 % claim; on NCEP test MSE (mean over seeds of the per-seed "
           "ratio), and CPU efficiency of the student against the multimodal teacher.", "",
           "| target | " + " | ".join(facts) + " |", "|---|" + "---|" * len(facts)]
    for what, den, bound in TARGETS:
        cells = []
        for f in facts.values():
            value = f["ratios"].get(den)
            cells.append("—" if value is None else f"{value:.3f} ({'met' if value <= bound else 'missed'})")
        out.append(f"| {what} <= {bound} | " + " | ".join(cells) + " |")
    for what, key, bound in (("student latency b1: teacher / student ≥ 5", "latency_ms_b1", 5.0),
                             ("parameters: teacher / student ≥ 10", "parameters", 10.0)):
        cells = [f"{f['efficiency'][key]:.2f} ({'met' if f['efficiency'][key] >= bound else 'missed'})"
                 for f in facts.values()]
        out.append(f"| {what} | " + " | ".join(cells) + " |")
    return out + [""]


def loss_settings(common: dict[str, Any]) -> str:
    """The loss settings the runs used: ``conf/base/parameters_distill.yml`` with ``common``'s overrides."""
    base = yaml.safe_load((ROOT / "conf" / "base" / "parameters_distill.yml").read_text())["distill"]
    names = {"beta": "β", "lambda": "λ", "gamma": "γ", "alpha": "α", "cutoff": "r_c", "semantic": "L_sem",
             "spectral_on": "L_spec on"}
    values = {k: common.get(f"distill.{k}", base.get(k)) for k in names}
    return ", ".join(f"{names[k]} = {v}" for k, v in values.items() if v is not None)


def write_document(config: dict[str, Any], datasets: list[str], out_path: Path) -> None:
    figures = out_path.parent / "results"
    figures.mkdir(parents=True, exist_ok=True)
    sections, facts, summaries, seconds = [], {}, [], 0.0
    for dataset in datasets:
        data = load_dataset(config, dataset)
        if data is None:
            sections += [f"## {dataset}", "", "No finished run yet.", ""]
            continue
        lines, f = dataset_section(config, dataset, data, figures)
        sections += lines
        facts[dataset] = f
        summaries.append(f["summary"])
        seconds += sum(data["seconds"].values())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    common = config["common"]
    head = [
        "# Results: S2-KD against its baselines, over seeds", "",
        "<!-- Written by `python benchmarks/results.py` from the runs it made; do not edit by hand. -->", "",
        f"Produced by `python benchmarks/results.py` (configuration `benchmarks/results.yml`) at commit `{commit}`"
        + (" with uncommitted changes" if dirty else "") + f", {dt.date.today().isoformat()}, on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores and no GPU; total compute {seconds / 60:.0f} min "
        "(the wall "
        "time of the final runs: a model already trained with identical settings, e.g. by "
        "`benchmarks/experiments.py`, resumes from its checkpoint at no cost). "
        f"Seeds {', '.join(map(str, config['seeds']))}: per dataset the teachers are trained once (seed "
        f"{config['seeds'][0]}) and frozen, and every student method is trained once per seed (initialisation and "
        "batch order); the data and the windows are the same for every seed, so the spread is the students'.", "",
        "Budget and settings, identical for every method of a dataset (`common` in `benchmarks/results.yml`, on top "
        "of `conf/base`): " + ", ".join(f"`{k}={v}`" for k, v in common.items() if "progress" not in k)
        + ". Everything else is the default of `conf/base`: `small` preset teacher and SimVP student, batch 16, "
        f"AdamW, loss settings {loss_settings(common)} (chosen on validation: "
        "docs/experiments.md). Every figure below is on the test split, which only `evaluate` reads, once per "
        "(dataset, seed).", "",
        "How to compare the runs in MLflow: see [In MLflow](#in-mlflow). What was tried to improve the method, on "
        "validation: [docs/experiments.md](experiments.md).", ""]
    body = (summary_section(facts) + targets_section({k: v for k, v in facts.items() if k.startswith("ncep")} or facts)
            + sections)
    mlflow_part = [
        "## In MLflow", "",
        f"Every trained model is its own nested MLflow run in the experiment `{config.get('mlflow_experiment')}` "
        "(one parent run per `kedro run`). To compare them side by side:", "",
        "```bash", "mlflow ui --backend-store-uri sqlite:///mlflow.db", "```", "",
        f"open the experiment `{config.get('mlflow_experiment')}`, filter with",
        "`params.dataset = 'bench_ncep_s0' and tags.\"s2kd.kind\" = 'student'` "
        "(or `params.dataset LIKE 'bench_ncep_s%'` "
        "for every seed; add `and params.spectral_on = 'output'` to leave out runs made earlier with other defaults), "
        "show the columns `params.method`, `params.seed`, `params.beta`, `params.lambda`, `params.gamma`, "
        "`metrics.best_val_mse`, `metrics.test_mse`, `metrics.test_spectral_error_high`, select the runs and press "
        "*Compare* for the per-epoch curves of `loss_task`, `loss_sem`, `loss_spec` and `val_mse`.", ""]
    text = "\n".join(head + body + mlflow_part)
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out_path)
    if summaries:
        pd.concat(summaries, ignore_index=True).to_csv(figures / "summary.csv", index=False, float_format="%.6g")
    print(f"wrote {out_path.relative_to(ROOT)} and {figures.relative_to(ROOT)}/", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "benchmarks" / "results.yml")
    parser.add_argument("--datasets", nargs="+", default=None, help="a part of the YAML's datasets (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="a part of the YAML's seeds (default: all)")
    parser.add_argument("--report-only", action="store_true", help="train nothing; rewrite the document")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    unknown = set(args.datasets or []) - set(config["datasets"])
    if unknown:
        parser.error(f"unknown dataset(s) {sorted(unknown)}; {args.config} has {sorted(config['datasets'])}")
    datasets = args.datasets or list(config["datasets"])
    seeds = args.seeds if args.seeds is not None else config["seeds"]
    if not args.report_only:
        start = time.perf_counter()
        for dataset in datasets:
            print(f"{dataset}: seeds {seeds}", flush=True)
            for seed in seeds:
                run_one(config, dataset, seed, first_seed=config["seeds"][0])
        print(f"benchmark runs took {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    write_document(config, list(config["datasets"]), args.out)


if __name__ == "__main__":
    main()
