"""``docs/results.md`` from the finished runs of ``benchmarks/results.py`` (its stage 3), every number
read from their records (:mod:`records`), which are exported from the benchmark's MLflow experiment as each
run finishes (each model's run: test metrics, validation MSE, efficiency, per-window test errors);
``docs/results/runs.csv`` names the MLflow run behind each number.

Every ratio of test MSE comes with a paired block-bootstrap 95 % interval over test windows (blocks of at
least a day and a window's span) and over teacher and student seeds (:mod:`s2kd.reporting.intervals`); a
method is called better only when the whole interval is below 1. Which S2-KD form and which baseline are
"best" is decided on the validation split (mean validation MSE over runs), never on the test split.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from results import ROOT, run_name, run_params, seeds_of
from tuning import STORE_DIR, compute_minutes, restored_note

from s2kd.reporting import expand, markdown_table, seed_lead_curves  # noqa: E402
from s2kd.reporting.intervals import Interval, block_length, ratio_interval  # noqa: E402
from s2kd.reporting.runs import tidy_metrics  # noqa: E402
from s2kd.reporting.seeds import efficiency_ratios, mean_std_table, seed_summary  # noqa: E402

TABLE_METRICS = ("mse", "mae", "rmse_physical", "acc", "ssim", "spectral_error_low", "spectral_error_mid",
                 "spectral_error_high")
S2KD_FORMS = ("s2kd", "s2kd_forecast")
BASELINES = ("output_kd", "feature_kd", "sdkd")
ABLATIONS = ("s2kd_sem_only", "s2kd_spec_only", "s2kd_shuffled_text", "feature_kd_multimodal", "sdkd_multimodal")
TARGETS = {"student": 0.85, "best baseline": 0.95}


EFFICIENCY = ("parameters", "flops", "latency_ms_b1", "latency_ms_b32")


def load(config: dict[str, Any], dataset: str) -> dict[str, Any] | None:
    """The recorded final runs of a dataset (:mod:`records`: exported from MLflow when each run finished):
    each model run's test metrics, validation MSE, efficiency and per-window test errors. A run counts when
    its record was made with today's parameters (``--params`` and parameter files)."""
    import records  # benchmarks/records.py

    teachers, students = seeds_of(config, dataset)
    found, seconds, stats, unclocked = [], {}, None, []
    for t in teachers:
        for s in students:
            name = run_name(dataset, t, s)
            path = records.record_dir(name) / "run.json"
            if not path.exists():
                continue
            settings = {k: v for k, v in json.loads(path.read_text())["params"].items()
                        if k.startswith("distill.methods.")}
            if records.recorded(name, run_params(config, dataset, t, s, settings)) is None:
                print(f"  {name}: its record was made with other parameters; left out", flush=True)
                continue
            rec = records.read_record(name)
            seconds[(t, s)] = rec["run"]["seconds"]
            if "attempts" not in rec["run"]:  # made before results.py summed the time of every attempt
                unclocked.append(name)
            if rec["run"].get("teacher_seconds") is not None:
                seconds[("teachers", t)] = rec["run"]["teacher_seconds"]
            stats = stats or rec["run"]["stats"]
            found.append((rec["models"].copy().assign(t=t, s=s), rec["errors"].copy().assign(t=t, s=s)))
    if not found:
        return None
    models = pd.concat([m for m, _ in found], ignore_index=True)
    errors = pd.concat([e for _, e in found], ignore_index=True)
    run_index = {f: i for i, f in enumerate(sorted(set(models["folder"])))}
    metrics = tidy_metrics(models.drop(columns=["t", "s"]), list(stats["channels"])).merge(
        models[["run_id", "t", "s"]], on="run_id")
    metrics["seed"] = metrics["folder"].map(run_index)
    return {"errors": errors, "metrics": metrics, "valid": models[["model", "best_val_mse", "t", "s", "run_id"]],
            "efficiency": models[["model", *EFFICIENCY, "t", "s"]], "seconds": seconds, "stats": stats,
            "runs": models, "unclocked": unclocked}


def cube(errors: pd.DataFrame, model: str) -> np.ndarray:
    """``(teacher seeds, student seeds, windows)`` of ``model``'s window errors (one teacher seed for a model
    that has no teacher, one student seed for a teacher: the same model in every run)."""
    rows = errors[errors["model"] == model]
    if rows.empty:
        raise KeyError(model)
    if model.startswith("teacher_") or model == "student_student":
        key = "s" if model.startswith("teacher_") else "t"
        rows = rows[rows[key] == rows[key].min()]
    wide = rows.pivot_table(index=["t", "s"], columns="time", values="mse")
    ts, ss = sorted(set(wide.index.get_level_values(0))), sorted(set(wide.index.get_level_values(1)))
    return wide.to_numpy().reshape(len(ts), len(ss), wide.shape[1])


def interval(data: dict[str, Any], num: str, den: str, block: int) -> Interval | None:
    """``num`` / ``den`` with its interval; two models that both have a teacher are paired on the teacher seeds
    both have (the ablations run under the first teacher seed only), the plain student is reused for each."""
    errors = data["errors"]
    if "student_student" not in (num, den):
        common = set(errors.loc[errors["model"] == num, "t"]) & set(errors.loc[errors["model"] == den, "t"])
        errors = errors[errors["t"].isin(common)]
    try:
        return ratio_interval(cube(errors, num), cube(errors, den), block=block)
    except (KeyError, ValueError):
        return None


def seeds_cell(data: dict[str, Any], model: str) -> str:
    """``teachers x students``: the seeds a model's test errors rest on."""
    rows = data["errors"][data["errors"]["model"] == model]
    return f"{rows['t'].nunique()} x {rows['s'].nunique()}"


def block_of(data: dict[str, Any]) -> int:
    times = pd.DatetimeIndex(sorted(data["errors"]["time"].unique()))
    step_hours = float(pd.Series(times).diff().median() / pd.Timedelta(hours=1))
    return block_length(step_hours, int(data["stats"]["t_in"]) + int(data["stats"]["t_out"]))


def best_on_validation(data: dict[str, Any], methods: tuple[str, ...]) -> str | None:
    """The method of ``methods`` with the lowest mean validation MSE over the runs."""
    v = data["valid"]
    means = {m: v.loc[v["model"] == f"student_{m}", "best_val_mse"].mean() for m in methods}
    means = {m: x for m, x in means.items() if x == x}
    return min(means, key=means.get) if means else None


def cell(iv: Interval | None) -> str:
    if iv is None:
        return "—"
    mark = {"better": " **better**", "worse": " worse", "tie": ""}[iv.verdict]
    return f"{iv}{mark}"


def month_lines(errors: pd.DataFrame, models: list[str]) -> list[str]:
    """Test MSE per calendar month of the windows' start (mean over runs and windows), each model over the plain
    student: whether a gain holds across the test period or belongs to part of it (a season)."""
    if "student_student" not in models or errors.empty:
        return []
    frame = errors[errors["model"].isin(models)]
    frame = frame.assign(month=pd.to_datetime(frame["time"]).dt.strftime("%Y-%m"))
    table = frame.pivot_table(index="month", columns="model", values="mse", aggfunc="mean")[models]
    if len(table) < 2:
        return []
    ratios = table.drop(columns="student_student").div(table["student_student"], axis=0).add_suffix(" / student")
    shown = pd.concat([table.add_prefix("mse "), ratios], axis=1).round(5).reset_index()
    shown.insert(1, "windows", frame[frame["model"] == "student_student"].groupby("month")["sample_id"].nunique()
                 .reindex(shown["month"]).to_numpy())
    return ["### By month of the test period", "",
            "Test MSE per month of the windows' start (mean over runs and windows) and each model over the plain "
            "student: the validation split precedes the test split in time, so a gain chosen on validation may "
            "belong to its season.", "", markdown_table(shown), ""]


def dataset_section(config: dict[str, Any], dataset: str, data: dict[str, Any], figures: Path) -> tuple[list[str],
                                                                                                        dict]:
    spec = config["datasets"][dataset]
    block = block_of(data)
    metrics, errors = data["metrics"], data["errors"]
    models = list(dict.fromkeys(metrics["model"]))
    teachers, students = sorted(set(errors["t"])), sorted(set(errors["s"]))
    runs = [k for k in data["seconds"] if k[0] != "teachers"]
    compute = sum(data["seconds"].values()) / 60
    mode = (spec.get("params") or {}).get("narrate.mode", "hindsight")
    out = [f"## {dataset}: {spec['title']}", "",
           f"Teacher seeds {teachers}, student seeds {students} ({len(runs)} runs); compute "
           f"{'≥ ' if data['unclocked'] else ''}{compute:.0f} min. "
           f"Kedro environment `{spec.get('env') or 'base'}`"
           + (", parameters " + ", ".join(f"`{k}={v}`" for k, v in spec["params"].items()) if spec.get("params")
              else "")
           + f". Narratives: the `diagnostic` narrator (rule-based, not an LMM), `{mode}` mode. Intervals: "
           f"blocks of {block} consecutive test windows.", ""]
    once = metrics[(metrics["role"] != "teacher") | (metrics["s"] == students[0])]
    once = once[(once["model"] != "student_student") | (once["t"] == teachers[0])]
    names = expand(TABLE_METRICS, metrics)
    summary = seed_summary(once, names)
    out += ["### Test metrics, mean ± std over runs (averaged over lead times)", "",
            "MSE and MAE in normalised units, RMSE per variable in physical units; ACC and SSIM: higher is better. "
            "A teacher's spread is over teacher seeds, the plain student's over student seeds, a distilled "
            "student's over both.", "", markdown_table(mean_std_table(summary, names)), ""]

    rows, facts = [], {"dataset": dataset, "intervals": {}, "seeds": (len(teachers), len(students))}
    students_ = [m.removeprefix("student_") for m in models if m.startswith("student_") and m != "student_student"]
    for m in students_:
        iv = interval(data, f"student_{m}", "student_student", block)
        facts["intervals"][(m, "student")] = iv
        rows.append({"method": m, "teacher x student seeds": seeds_cell(data, f"student_{m}"), "/ student": cell(iv)})
    for form in S2KD_FORMS:
        for r in rows:
            iv = interval(data, f"student_{form}", f"student_{r['method']}", block) if r["method"] != form else None
            r[f"{form} / it"] = cell(iv)
    out += ["### Test MSE ratios with 95 % intervals", "",
            "`ratio [low, high]` of mean test MSE over every run and window; **better** when the interval is below "
            "1. Left column: each method over the plain student; right columns: each S2-KD form over each method, "
            "on the teacher seeds both have.",
            "", markdown_table(pd.DataFrame(rows)), ""]

    best_form = best_on_validation(data, S2KD_FORMS)
    best_base = best_on_validation(data, BASELINES)
    if best_form and best_base:
        iv_s = interval(data, f"student_{best_form}", "student_student", block)
        iv_b = interval(data, f"student_{best_form}", f"student_{best_base}", block)
        facts.update(best_form=best_form, best_base=best_base, vs_student=iv_s, vs_base=iv_b)
        out += [f"Chosen on validation: the best S2-KD form is `{best_form}`, the best baseline `{best_base}`. "
                f"Test: `{best_form}` / `student` = {cell(iv_s)}; `{best_form}` / `{best_base}` = {cell(iv_b)}.", ""]

    out += teacher_lines(data, block, teachers, facts)
    out += month_lines(errors, [m for m in ("teacher_vision", "teacher_multimodal", "student_student", "student_s2kd",
                                            "student_s2kd_forecast") if m in models])
    png = figures / f"{dataset}_lead_mse.png"
    curve = [m for m in ("teacher_multimodal", "teacher_vision", "student_student", "student_output_kd",
                         "student_feature_kd", "student_sdkd", "student_s2kd", "student_s2kd_forecast") if m in models]
    png.write_bytes(seed_lead_curves(once, curve, title=dataset))
    out += ["### Per lead time", "", f"![{dataset}: test MSE per lead time](results/{png.name})", ""]
    eff = efficiency_ratios(data["efficiency"], "student_student", "teacher_multimodal")
    facts["efficiency"] = efficiency_ratios(data["efficiency"], "student_student", "teacher_vision").set_index(
        "quantity")["teacher_over_student"].to_dict()  # the compression regime's teacher: the vision one
    out += ["### Efficiency (plain student vs multimodal teacher, eager PyTorch on this CPU, medians)", "",
            markdown_table(eff.rename(columns={"teacher_over_student": "teacher / student"})), ""]
    facts["summary"] = summary.assign(dataset=dataset)
    return out, facts


def teacher_lines(data: dict[str, Any], block: int, teachers: list[int], facts: dict) -> list[str]:
    """Per teacher seed: the teachers' validation and test MSE, and the S2-KD forms over the student."""
    v, errors = data["valid"], data["errors"]
    student_val = v.loc[v["model"] == "student_student", "best_val_mse"].mean()
    rows = []
    for t in teachers:
        row: dict[str, Any] = {"teacher seed": t}
        for role in ("multimodal", "vision", "shuffled"):
            val = v.loc[(v["model"] == f"teacher_{role}") & (v["t"] == t), "best_val_mse"]
            test = errors.loc[(errors["model"] == f"teacher_{role}") & (errors["t"] == t)]
            if len(val):
                row[f"{role} val"] = f"{val.iloc[0]:.5f}"
                row[f"{role} test"] = f"{test.groupby('s')['mse'].mean().iloc[0]:.5f}" if len(test) else "—"
        sub = {**data, "errors": errors[errors["t"] == t]}
        for form in S2KD_FORMS:
            row[f"{form} / student"] = cell(interval(sub, f"student_{form}", "student_student", block))
        rows.append(row)
    vision_val = v.loc[v["model"] == "teacher_vision", "best_val_mse"].mean()
    facts["capacity_gap"] = 1.0 - vision_val / student_val if student_val == student_val else float("nan")
    text_gain = interval(data, "teacher_multimodal", "teacher_vision", block)
    return ["### Teachers, per teacher seed", "",
            f"Plain student, validation MSE {student_val:.5f} (mean over student seeds); the vision teacher is "
            f"{100 * facts['capacity_gap']:.1f} % below it on validation (mean over teacher seeds). Test MSE, "
            f"multimodal / vision teacher: {cell(text_gain)} (over teacher seeds and windows).", "",
            markdown_table(pd.DataFrame(rows)), ""]


def dial_section(facts: dict[str, dict], config: dict[str, Any], figures: Path) -> list[str]:
    """Each method's test MSE over the student as the synthetic text dial goes from none to strong."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dials = sorted((config["datasets"][d]["dial"], d) for d in facts if "dial" in config["datasets"][d])
    if not dials:
        return []
    methods = [*BASELINES, *S2KD_FORMS]
    rows = [{"sudden strength": level, "teacher x student seeds": "{} x {}".format(*facts[d]["seeds"]),
             **{m: cell(facts[d]["intervals"].get((m, "student"))) for m in methods}} for level, d in dials]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, m in enumerate(methods):
        pts = [(level, facts[d]["intervals"].get((m, "student"))) for level, d in dials]
        pts = [(x + 0.012 * (i - 2), iv) for x, iv in pts if iv is not None]
        if pts:
            x = [p[0] for p in pts]
            y = [p[1].ratio for p in pts]
            err = [[p[1].ratio - p[1].low for p in pts], [p[1].high - p[1].ratio for p in pts]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=m)
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.set_xlabel("sudden events' strength (0: the narratives name events the fields lack)")
    ax.set_ylabel("test MSE / student")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    (figures / "dial.png").write_bytes(_png(fig))
    plt.close(fig)
    return ["## The text dial (synthetic)", "",
            "The synthetic source's sudden events are announced by the hindsight narratives; their strength is "
            "the dial of how much the text knows that the frames do not. Each method's test MSE over the plain "
            "student, with 95 % intervals over test windows and seeds:", "",
            "![each method over the student as the dial turns](results/dial.png)", "",
            markdown_table(pd.DataFrame(rows)), ""]


def _png(fig: Any) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def targets_section(facts: dict[str, dict]) -> list[str]:
    out = ["## Targets", "",
           "Ours, after the paper's ~9 % claim over feature distillation. Ratios of test MSE with 95 % intervals; a "
           "ratio target is met only when the whole interval is at or below the bound.", "",
           "| target | measured | met |", "|---|---|---|"]
    ncep = facts.get("ncep")
    if ncep and "vs_student" in ncep:
        for what, iv, bound in ((f"NCEP: {ncep['best_form']} / student ≤ {TARGETS['student']}", ncep["vs_student"],
                                 TARGETS["student"]),
                                (f"NCEP: {ncep['best_form']} / {ncep['best_base']} ≤ {TARGETS['best baseline']}",
                                 ncep["vs_base"], TARGETS["best baseline"])):
            out.append(f"| {what} | {cell(iv)} | {'yes' if iv is not None and iv.high <= bound else 'no'} |")
        gap = ncep["capacity_gap"]
        out.append(f"| NCEP: vision teacher ≥ 10 % below the student (validation) | {100 * gap:.1f} % | "
                   f"{'yes' if gap >= 0.10 else 'no'} |")
        for what, key, bound in (("student ≥ 5× faster than the vision teacher at batch 1 (eager, median over the "
                                  "final runs, timed beside the benchmark's other work; a quiet measurement: "
                                  "docs/forecast.md)", "latency_ms_b1", 5.0),
                                 ("student ≤ 1/10 of the vision teacher's parameters", "parameters", 10.0)):
            value = ncep["efficiency"][key]
            out.append(f"| NCEP: {what} | {value:.1f}× | {'yes' if value >= bound else 'no'} |")
    bike = facts.get("bikenyc")
    if bike and "vs_student" in bike:
        iv = bike["vs_student"]
        out.append(f"| BikeNYC: {bike['best_form']} no worse than student | {cell(iv)} | "
                   f"{'yes' if iv is not None and iv.low <= 1.0 else 'no'} |")
    return out + [""]


def write_document(config: dict[str, Any], datasets: list[str], out_path: Path) -> None:
    figures = out_path.parent / "results"
    figures.mkdir(parents=True, exist_ok=True)
    sections, facts, summaries, runs, seconds, unclocked = [], {}, [], [], 0.0, []
    for dataset in datasets:
        data = load(config, dataset)
        if data is None:
            sections += [f"## {dataset}", "", "No finished run yet.", ""]
            continue
        lines, f = dataset_section(config, dataset, data, figures)
        sections += lines
        facts[dataset] = f
        summaries.append(f["summary"])
        runs.append(data["runs"][["dataset", "t", "s", "model", "run_id", "test_mse", "best_val_mse"]]
                    .rename(columns={"t": "teacher_seed", "s": "student_seed"}).assign(dataset=dataset))
        seconds += sum(data["seconds"].values())
        unclocked += data["unclocked"]
    tuning_csv = STORE_DIR / f"tuning_{config['tuning_dataset']}.csv"
    tuning_rows = pd.read_csv(tuning_csv) if tuning_csv.exists() else pd.DataFrame(columns=["seconds"])
    tuning_min = compute_minutes(tuning_rows)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    common = config["common"]
    head = [
        "# Results: S2-KD against its baselines, over teacher and student seeds", "",
        "<!-- Written by `python benchmarks/results.py` from the runs it made; do not edit by hand. -->", "",
        f"Produced by `python benchmarks/results.py` (configuration `benchmarks/results.yml`) at commit `{commit}`, "
        f"{dt.date.today().isoformat()}, on {platform.machine()} with {os.cpu_count()} CPU cores and no GPU; "
        f"compute {'at least ' if unclocked else ''}{seconds / 60:.0f} min for teachers and final runs, "
        f"{tuning_min:.0f} min for the tuning{restored_note(tuning_rows)}"
        + (" (counted by their last attempt only, since they were interrupted and resumed before the benchmark "
           f"summed the time of every attempt at a run: {', '.join(f'`{n}`' for n in unclocked)})" if unclocked
           else "")
        + ".", "",
        "Protocol: per dataset, teachers are trained once per teacher seed on every training window until the "
        "validation MSE stops improving; every method's loss setting is chosen on the validation split of "
        f"`{config['tuning_dataset']}` among the same number of configurations "
        f"([tuning_{config['tuning_dataset']}.md](experiments/tuning_{config['tuning_dataset']}.md)); "
        "then every method is trained per (teacher seed, student seed) and `evaluate` reads the test split once "
        "per run. `s2kd` is the paper's form (L_sem and L_spec on latents); `s2kd_forecast` moves L_spec onto "
        "the forecasts. Narratives are written by the rule-based `diagnostic` narrator, not by an LMM.", "",
        f"Every number comes from the MLflow experiment `{config['mlflow_experiment']}` (each model's run: its "
        "test metrics, validation MSE, efficiency and per-window test errors), through the runs' records in "
        "`benchmarks/records/` (exported as each run finished, so that the benchmark resumes on a fresh clone); "
        "[results/runs.csv](results/runs.csv) names the run behind each model of each final run. In the UI: "
        "filter `tags.dataset LIKE 'bench_ncep_%' and tags.role = 'student'`, group by `tags.method`.", "",
        "Budget (`common` in `benchmarks/results.yml`): " + ", ".join(
            f"`{k}={'null' if v is None else v}`" for k, v in common.items()
            if "progress" not in k and "checkpoint" not in k) + ".", ""]
    body = targets_section(facts) + dial_section(facts, config, figures) + sections
    text = "\n".join(head + body)
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out_path)
    if summaries:
        pd.concat(summaries, ignore_index=True).to_csv(figures / "summary.csv", index=False, float_format="%.6g")
    if runs:  # where each number came from: the MLflow run of every model of every final run
        pd.concat(runs, ignore_index=True).to_csv(figures / "runs.csv", index=False)
    print(f"wrote {out_path.relative_to(ROOT)} and {figures.relative_to(ROOT)}/", flush=True)
