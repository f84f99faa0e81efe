"""Clustering of unknown faces at library scale: time to group N faces (synthetic 128-d unit vectors,
people with several faces each and noise like real embeddings), for the exact average-linkage path
(up to ``max_exact`` faces) and the one-pass leader path above it, as the Library view runs them.

    python bench/clustering.py                          # 1k, 3k, 20k, 50k faces
    python bench/clustering.py --sizes 3000 --out bench/results/clustering.json

Prints JSON: seconds per run, number of groups, and the purity of the groups (the share of faces whose
group's majority person is their own).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _proc import emit, machine_load  # noqa: E402

from facerec.clustering import MAX_EXACT, cluster_embeddings  # noqa: E402
from facerec.threads import set_threads  # noqa: E402


def faces(n: int, per_person: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    people = max(1, n // per_person)
    centres = rng.normal(size=(people, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    who = rng.integers(0, people, n)
    emb = centres[who] + 0.5 / np.sqrt(128) * rng.normal(size=(n, 128))  # ~0.2 cosine distance from the centre
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32), who


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 3_000, 20_000, 50_000])
    ap.add_argument("--per-person", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", metavar="FILE")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    rng = np.random.default_rng(0)
    result = {
        "benchmark": "clustering",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), **machine_load()},
        "threshold": args.threshold,
        "sizes": [],
    }
    for n in args.sizes:
        emb, who = faces(n, args.per_person, rng)
        t0 = time.perf_counter()
        groups = cluster_embeddings(emb, args.threshold)
        seconds = time.perf_counter() - t0
        pure = sum(int(np.bincount(who[g.members]).max()) for g in groups)
        result["sizes"].append({
            "faces": n, "path": "exact average linkage" if n <= MAX_EXACT else "leader pass",
            "seconds": round(seconds, 3), "groups": len(groups), "people": int(len(np.unique(who))),
            "purity": round(pure / n, 4),
        })
    result["machine"]["load_after"] = machine_load()["loadavg_1_5_15"]
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
