"""Latency and throughput of teacher and students per runtime a user would deploy: eager PyTorch and
ONNX Runtime (the exported graph of ``s2kd.models.export``), at batch 1 and 16, on this CPU.

Usage (pause other work first: latency on a shared CPU measures the neighbours)::

    python benchmarks/latency.py [--height 25 --width 53 --channels 1 --t-in 4 --t-out 4]
        [--batches 1 16] [--repeats 60] [--threads 2]

Networks are those of the benchmark (``benchmarks/results.yml``): the ``small`` vision teacher, the compact
U-Net student and the default SimVP ``small`` student, freshly initialised (latency does not depend on the
weights). The teacher does not export to ONNX (its FNO operator assigns into complex spectra), so it runs in
eager PyTorch only; the speed-up is stated per pair of runtimes. Rows go to ``data/08_reporting/latency.csv``
and a Markdown table is printed (docs/forecast.md keeps the measured one).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
from pathlib import Path

import pandas as pd
import torch

from s2kd.metrics.efficiency import count_parameters, time_calls
from s2kd.models import build_model
from s2kd.models.export import ForecastOnly, OnnxRunner, to_onnx
from s2kd.models.presets import preset_configs
from s2kd.reporting import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def networks(channels: int, t_in: int, t_out: int) -> dict[str, torch.nn.Module]:
    teacher, _ = preset_configs("small", in_channels=channels, t_in=t_in, t_out=t_out)
    _, unet = preset_configs("small", in_channels=channels, t_in=t_in, t_out=t_out, backbone="unet")
    _, simvp = preset_configs("small", in_channels=channels, t_in=t_in, t_out=t_out, backbone="simvp")
    torch.manual_seed(0)
    return {"teacher_vision (small)": build_model("teacher", dataclasses.replace(teacher, use_text=False)),
            "student, compact U-Net (benchmark)": build_model("unet", dataclasses.replace(unet, width=8, d=16,
                                                                                           n_blocks=0)),
            "student, SimVP small (default)": build_model("simvp", simvp)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=25)
    parser.add_argument("--width", type=int, default=53)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--t-in", type=int, default=4)
    parser.add_argument("--t-out", type=int, default=4)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = (args.t_in, args.channels, args.height, args.width)
    rows = []
    for name, model in networks(args.channels, args.t_in, args.t_out).items():
        model.eval()
        eager = ForecastOnly(model).eval()
        try:
            runner = OnnxRunner(to_onnx(model, torch.randn(2, *shape)), threads=args.threads)
        except ValueError as exc:
            runner = None
            print(f"{name}: eager only ({str(exc)[:120]})", flush=True)
        for batch in args.batches:
            x = torch.randn(batch, *shape)
            with torch.inference_mode():
                timed = {"eager PyTorch": time_calls(lambda x=x, f=eager: f(x), warmup=5, repeats=args.repeats)}
            if runner is not None:
                xn = x.numpy()
                timed["ONNX Runtime"] = time_calls(lambda xn=xn, f=runner: f(xn), warmup=5, repeats=args.repeats)
            for runtime, t in timed.items():
                rows.append({"model": name, "parameters": count_parameters(model), "runtime": runtime,
                             "batch": batch, "median_ms": round(t["median_ms"], 3), "p90_ms": round(t["p90_ms"], 3),
                             "samples_per_s": round(1000.0 * batch / t["median_ms"], 1)})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    out = ROOT / "data" / "08_reporting" / "latency.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.assign(machine=platform.machine(), cpus=os.cpu_count(), threads=args.threads,
                 grid=f"{args.height}x{args.width}").to_csv(out, index=False)
    print(markdown_table(table))
    teacher = table[(table["model"].str.startswith("teacher")) & (table["runtime"] == "eager PyTorch")]
    for batch in args.batches:
        t = float(teacher.loc[teacher["batch"] == batch, "median_ms"].iloc[0])
        for _, r in table[(table["batch"] == batch) & table["model"].str.startswith("student")].iterrows():
            print(f"batch {batch}: teacher (eager) / {r['model']} ({r['runtime']}) = {t / r['median_ms']:.1f}x")


if __name__ == "__main__":
    main()
