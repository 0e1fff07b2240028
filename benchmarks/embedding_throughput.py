"""Throughput of the narrative embedding (frozen all-MiniLM-L6-v2, token level) on this machine.

Usage:
    HF_HUB_OFFLINE=1 python benchmarks/embedding_throughput.py [--narratives data/04_feature/ncep/narratives.parquet]
        [--n 1000] [--threads 1 2]

Embeds ``n`` real narratives (all distinct texts, so nothing is deduplicated away) after a warm-up,
once per torch thread count, and prints narratives/s and tokens/s. Results go in docs/narratives.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2kd.narrators.embedding import embed_texts, load_encoder


def _texts(path: Path, n: int) -> list[str]:
    if path.is_file():
        texts = pd.read_parquet(path)["text"].drop_duplicates().tolist()
    else:
        rng = np.random.default_rng(0)
        words = "a strong weak cold warm outbreak heat wave storm over Hudson Bay Texas the Great Plains moves east " \
                "north south west slowly quickly front rain rush hour weekend holiday".split()
        texts = [" ".join(rng.choice(words, size=rng.integers(20, 60))) + "." for _ in range(n)]
    reps = int(np.ceil(n / len(texts)))
    # make every text distinct so deduplication does not flatter the figure
    return [f"{t} ({i})" for i, t in enumerate((texts * reps)[:n])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--narratives", type=Path, default=Path("data/04_feature/ncep/narratives.parquet"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    texts = _texts(args.narratives, args.n)
    start = time.perf_counter()
    load_encoder()
    load_s = time.perf_counter() - start
    embed_texts(texts[:64], max_length=args.max_length, show_progress=False)  # warm-up
    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        start = time.perf_counter()
        _, mask = embed_texts(texts, max_length=args.max_length, show_progress=False)
        seconds = time.perf_counter() - start
        results.append({"threads": threads, "narratives": len(texts), "seconds": round(seconds, 2),
                        "narratives_per_s": round(len(texts) / seconds, 1),
                        "tokens_per_s": round(float(mask.sum()) / seconds, 0),
                        "mean_tokens": round(float(mask.sum(1).mean()), 1)})
    print(json.dumps({"source": str(args.narratives) if args.narratives.is_file() else "generated sentences",
                      "model_load_s": round(load_s, 2),
                      "machine": f"{platform.machine()}, {torch.get_num_threads()} threads max",
                      "torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
