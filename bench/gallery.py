"""Identification time against galleries of 1k, 100k and 1M samples (synthetic 128-d unit vectors).

Exact search is ``facerec.matching.GalleryIndex.search`` (one matrix product + per-person max); when
``faiss`` is importable (optional: ``pip install faiss-cpu``) its exact ``IndexFlatIP`` and an approximate
``IndexIVFFlat`` are timed on the same vectors, with the IVF recall of the exact nearest sample for queries
of enrolled people (synthetic vectors are uniformly spread, the hardest case for IVF; real faces cluster).

    python bench/gallery.py                       # 1k, 100k, 1M
    python bench/gallery.py --sizes 1000 100000 --out bench/results/gallery.json

From ``facerec.matching.ANN_MIN_SAMPLES`` samples the app itself searches through a faiss IVF index when
faiss is installed; ``facerec_indexed`` times that path and compares its answers with exact search.

Prints JSON: p50/p95 milliseconds per call for a single query and for a batch of queries (and per query
in the batch), and the machine load, for each gallery size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # faiss's OpenMP threads: no spinning on a shared machine

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _proc import emit, machine_load  # noqa: E402

from facerec.matching import ANN_MIN_SAMPLES, GalleryIndex  # noqa: E402

DIM = 128


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_gallery(n: int, per_person: int, rng: np.random.Generator) -> tuple[GalleryIndex, np.ndarray]:
    """``n`` samples, ``per_person`` noisy samples around each person's centre, rows shuffled."""
    people = max(1, n // per_person)
    centres = unit(rng, people)
    pids = np.repeat(np.arange(people), per_person)[:n]
    emb = centres[pids] + 0.35 * unit(rng, n)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    order = rng.permutation(n)
    index = GalleryIndex(emb[order], pids[order], {int(p): f"p{p}" for p in range(people)}, "synthetic", ann_min_samples=None)
    return index, centres


def queries_for(centres: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Half near enrolled people (matches), half random (strangers)."""
    near = centres[rng.integers(0, len(centres), m // 2)] + 0.35 * unit(rng, m // 2)
    q = np.concatenate([near, unit(rng, m - m // 2)])
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def timed(fn, calls: list, warmup: int = 3) -> np.ndarray:
    for a in calls[:warmup]:
        fn(a)
    out = np.empty(len(calls))
    for i, a in enumerate(calls):
        t = time.perf_counter()
        fn(a)
        out[i] = time.perf_counter() - t
    return out * 1000.0


def pct(ms: np.ndarray) -> dict:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3), "calls": len(ms)}


def bench_size(n: int, args, rng: np.random.Generator) -> dict:
    t0 = time.perf_counter()
    index, centres = make_gallery(n, args.per_person, rng)
    build_s = time.perf_counter() - t0
    calls = max(20, min(args.queries, int(args.queries * 100_000 / n)))
    singles = [q[None] for q in queries_for(centres, calls, rng)]
    batches = [queries_for(centres, args.batch, rng) for _ in range(max(10, calls // 4))]
    res: dict = {"samples": n, "people": index.num_people, "index_build_s": round(build_s, 3)}
    single = timed(lambda q: index.search(q, 0.5, 3), singles)
    batch = timed(lambda q: index.search(q, 0.5, 3), batches)
    res["exact_numpy"] = {
        "single_query": pct(single),
        "batch": {"size": args.batch, **pct(batch), "per_query_p50_ms": round(float(np.percentile(batch, 50)) / args.batch, 4)},
    }
    res["exact_numpy"]["matches_found"] = sum(m.known for b in batches[:3] for m in index.search(b, 0.5, 3))
    if n >= ANN_MIN_SAMPLES:
        res["facerec_indexed"] = bench_indexed(index, singles)
    if not args.no_faiss:
        res.update(bench_faiss(index, singles, batches, args))
    return res


def bench_indexed(exact: GalleryIndex, singles: list) -> dict:
    """What the app does from ``ANN_MIN_SAMPLES`` samples: ``GalleryIndex.search`` through its faiss index
    (exact distances to the proposed samples), compared with exact search on the same queries."""
    index = GalleryIndex(exact.embeddings, exact.sample_person, exact.names, exact.model_id)
    t0 = time.perf_counter()
    if index._ann_index() is None:
        return {"mode": "exact (faiss not installed)"}
    build = time.perf_counter() - t0
    single = timed(lambda q: index.search(q, 0.5, 3), singles)
    half = len(singles) // 2  # enrolled people first, then strangers (queries_for)
    got = [index.search(q, 0.5, 3)[0] for q in singles]
    want = [exact.search(q, 0.5, 3)[0] for q in singles]
    return {
        "mode": "faiss IVF (facerec.matching)",
        "build_s": round(build, 2),
        "single_query": pct(single),
        "same_answer_as_exact_enrolled_queries": round(sum(g.person_id == w.person_id for g, w in zip(got[:half], want[:half])) / half, 4),
        "strangers_named": sum(g.known for g in got[half:]),
        "strangers_named_exact": sum(w.known for w in want[half:]),
    }


def bench_faiss(index: GalleryIndex, singles: list, batches: list, args) -> dict:
    try:
        import faiss
    except ImportError:
        return {"faiss": "not installed (pip install faiss-cpu)"}
    faiss.omp_set_num_threads(args.threads)
    out: dict = {}
    flat = faiss.IndexFlatIP(DIM)
    flat.add(index.embeddings)
    k = 8
    single = timed(lambda q: flat.search(q, k), singles)
    batch = timed(lambda q: flat.search(q, k), batches)
    out["faiss_flat_ip"] = {"version": faiss.__version__, "single_query": pct(single), "batch": {"size": args.batch, **pct(batch)}}
    if len(index) >= args.ann_min:
        # Approximate: an inverted file (k-means cells); a query scans only ``nprobe`` of ``nlist`` cells.
        t0 = time.perf_counter()
        nlist = 1024
        quantizer = faiss.IndexFlatIP(DIM)  # must outlive the IVF index
        ivf = faiss.IndexIVFFlat(quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(1)
        ivf.train(index.embeddings[rng.choice(len(index), min(len(index), 40 * nlist), replace=False)])
        ivf.add(index.embeddings)
        build = time.perf_counter() - t0
        ivf.nprobe = args.nprobe
        single = timed(lambda q: ivf.search(q, k), singles)
        qs = np.concatenate(singles[: len(singles) // 2])  # the queries of enrolled people (strangers have no true match)
        _, exact = flat.search(qs, 1)
        _, approx = ivf.search(qs, 1)
        out["faiss_ivf_flat"] = {
            "nlist": nlist,
            "nprobe": args.nprobe,
            "build_s": round(build, 1),
            "single_query": pct(single),
            "recall_at_1_enrolled_queries": round(float(np.mean(exact[:, 0] == approx[:, 0])), 4),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    ap.add_argument("--per-person", type=int, default=5, help="samples per enrolled person")
    ap.add_argument("--queries", type=int, default=400, help="single-query calls (fewer on big galleries)")
    ap.add_argument("--batch", type=int, default=32, help="queries per batch call (faces of a group photo, a scan chunk)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--ann-min", type=int, default=100_000, help="also time an approximate faiss IVF index from this size")
    ap.add_argument("--nprobe", type=int, default=32, help="IVF cells scanned per query (of 1024)")
    ap.add_argument("--no-faiss", action="store_true")
    ap.add_argument("--out", metavar="FILE")
    args = ap.parse_args(argv)
    from facerec.threads import set_threads

    set_threads(args.threads)  # the app's own limits (OpenCV threads; numpy's BLAS on one thread)
    rng = np.random.default_rng(0)
    result = {
        "benchmark": "gallery",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__, **machine_load()},
        "dim": DIM,
        "threads": args.threads,
        "target": "p95 <= 5 ms per single query at 100k samples",
        "sizes": [],
    }
    for n in args.sizes:
        result["sizes"].append(bench_size(n, args, rng))
        print(json.dumps(result["sizes"][-1]), file=sys.stderr, flush=True)
    hit = [s for s in result["sizes"] if s["samples"] == 100_000]
    if hit:
        result["target_met"] = hit[0]["exact_numpy"]["single_query"]["p95_ms"] <= 5.0
    result["machine"]["load_after"] = machine_load()["loadavg_1_5_15"]
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
