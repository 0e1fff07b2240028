"""How much a trained multimodal teacher reads its narratives: its validation MSE with its own text,
with another sample's text, and with none.

Usage (after ``python benchmarks/teacher_gain.py`` trained the teacher of a dataset)::

    python benchmarks/text_reliance.py tg_synthetic_default tg_ncep_hindsight tg_bikenyc

For each dataset name, the latest ``teacher_multimodal`` under ``data/06_models/<name>/`` forecasts
its first 200 evenly spaced validation windows three times: with each window's narrative, with the
narratives permuted across the windows (seeded), and with no text (the null token only). Only the
validation split is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from s2kd.datasets.npz import NpzDataset  # noqa: E402
from s2kd.recipes.jobs import load_model, subsample, window_dataset  # noqa: E402


def reliance(name: str, windows: int = 200) -> dict[str, float]:
    """Validation MSE of ``name``'s multimodal teacher with its own text, shuffled text and none."""
    data = ROOT / "data"
    model = load_model(torch.load(sorted((data / "06_models" / name).glob("teacher_multimodal.pt/*/*.pt"))[-1],
                                  weights_only=True)).eval()
    values = np.asarray(xr.open_dataset(data / "03_primary" / name / "series.nc")["series"].values, np.float32)
    index = pd.read_parquet(data / "03_primary" / name / "sample_index.parquet")
    stats = json.loads((data / "03_primary" / name / "normalisation_stats.json").read_text())
    text = NpzDataset(filepath=str(data / "04_feature" / name / "narrative_embeddings.npz")).load()
    dataset = window_dataset(values, subsample(index, "val", windows), t_in=stats["t_in"], t_out=stats["t_out"],
                             embeddings=text)
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    perm = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = {"own text": model(batch["x"], batch["text"], batch["text_mask"])["y_hat"],
               "another sample's text": model(batch["x"], batch["text"][perm], batch["text_mask"][perm])["y_hat"],
               "no text": model(batch["x"])["y_hat"]}
    return {k: float(((v - batch["y"]) ** 2).mean()) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+")
    for name in parser.parse_args().datasets:
        scores = reliance(name)
        own = scores["own text"]
        print(f"{name}: " + ", ".join(f"{k} {v:.5f} ({100 * (v / own - 1):+.1f} %)" for k, v in scores.items()))


if __name__ == "__main__":
    main()
