"""Grouping unknown faces, side by side on real faces: facerec's method against the peers' on the same embeddings.

Data (bench/lfw_grouping_sets.py, embedded once through the real pipeline and cached under /tmp): LFW people with
at least 2 photos (1,680 people, their first 5 photos: 5,294 faces) plus 2,035 single-photo people as noise,
as they are (``clean``) and in harder variants made from the same photos (``small40``: faces about 40 px wide;
``blur``: Gaussian sigma 3 px; ``covered``: the lower face covered).

Methods, all on the same unit embeddings:

- ``facerec incremental``: the library's own path (facerec.library.grouping.update_groups): the faces stored in
  a throwaway gallery in 8 scan batches of a shuffled order, the groups brought up to date after each batch;
- ``facerec batch``: facerec.library.grouping.group_embeddings on all faces at once;
- ``average linkage (scikit-learn)``: AgglomerativeClustering, cosine, average linkage, the full distance
  matrix, cut at the same threshold as facerec;
- ``DBSCAN (Immich defaults)``: scikit-learn DBSCAN, cosine, max distance 0.5, min faces 3 (Immich's defaults);
- ``DBSCAN (tuned)``: the same with the max distance tuned (below);
- ``Chinese whispers (dlib, tuned)``: dlib.chinese_whispers_clustering at its tuned Euclidean threshold.

Tuning, in the same run: each method's threshold with the best BCubed F on the clean set's odd-numbered people
(and their noise) only; facerec itself runs at the model pack's grouping threshold (set from this sweep), and the
scores are on all faces of each set. Faces a method leaves as noise count as groups of their own. Scores: BCubed
precision/recall/F, pairwise F and the adjusted Rand index (scikit-learn).

Scale: ``--scale 100000`` groups 100,000 faces made of real embeddings: the clean set replicated under random
rotations (each copy keeps the real distances inside it; copies are unrelated people), in a child process whose
wall time, CPU time and peak memory are measured, with 2 threads.

    python bench/lfw_grouping_sets.py                              # once: embed the sets (cached under /tmp)
    python bench/clustering.py --out bench/results/clustering.json
    python bench/clustering.py --calibrate                         # only the threshold sweeps (the pack's value)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _proc import emit, machine_load, run_measured  # noqa: E402
from lfw_grouping_sets import VARIANTS, cache_file, load_variant  # noqa: E402

from facerec.library.grouping import group_embeddings, grouping_threshold, list_groups, unit, update_groups  # noqa: E402
from facerec.threads import set_threads  # noqa: E402

BATCHES = 8


# -- scores ------------------------------------------------------------------------------------------
def singletons(labels: np.ndarray) -> np.ndarray:
    """Noise (-1) as groups of one."""
    out = np.asarray(labels, np.int64).copy()
    noise = out < 0
    out[noise] = out.max(initial=0) + 1 + np.arange(int(noise.sum()))
    return out


def scores(truth: np.ndarray, pred: np.ndarray) -> dict:
    """BCubed precision/recall/F, pairwise precision/recall/F, adjusted Rand index, number of groups."""
    from sklearn.metrics import adjusted_rand_score
    from sklearn.metrics.cluster import contingency_matrix

    pred = singletons(pred)
    c = contingency_matrix(truth, pred, sparse=True).tocoo()
    n = len(truth)
    t_size = np.bincount(np.unique(truth, return_inverse=True)[1])
    p_size = np.bincount(np.unique(pred, return_inverse=True)[1])
    nij = c.data.astype(np.float64)
    bp = float(np.sum(nij**2 / p_size[c.col]) / n)
    br = float(np.sum(nij**2 / t_size[c.row]) / n)
    tp = float(np.sum(nij * (nij - 1) / 2))
    pp = float(np.sum(p_size * (p_size - 1) / 2))
    tt = float(np.sum(t_size * (t_size - 1) / 2))
    pw_p, pw_r = (tp / pp if pp else 1.0), (tp / tt if tt else 1.0)
    return {
        "bcubed_precision": round(bp, 4), "bcubed_recall": round(br, 4),
        "bcubed_f": round(2 * bp * br / (bp + br), 4),
        "pairwise_precision": round(pw_p, 4), "pairwise_recall": round(pw_r, 4),
        "pairwise_f": round(2 * pw_p * pw_r / (pw_p + pw_r) if pw_p + pw_r else 0.0, 4),
        "ari": round(float(adjusted_rand_score(truth, pred)), 4), "groups": int(len(p_size)),
    }


# -- methods -----------------------------------------------------------------------------------------
def facerec_incremental(emb: np.ndarray, threshold: float, seed: int = 0, batches: int = BATCHES) -> np.ndarray:
    """Labels from the library path: faces saved in ``batches`` scans of a shuffled order, groups updated after each."""
    from facerec.store import GalleryStore, NewFace

    model = "bench-model"
    order = np.random.default_rng(seed).permutation(len(emb))
    face_of = np.zeros(len(emb), np.int64)
    with tempfile.TemporaryDirectory() as tmp, GalleryStore(Path(tmp) / "g.db") as store:
        store._conn().execute("PRAGMA synchronous=OFF")  # a throwaway gallery: no fsync per photo
        for part in np.array_split(order, batches):
            with store.transaction():
                for i in part:
                    store.save_photo(f"/bench/{i}.jpg", 1, 1, None, 250, 250, model,
                                     [NewFace([0, 0, 1, 1], None, 1.0, emb[i], None, None)])
            ids = {f.path: f.id for f in store.faces(where="f.model_id = ?", params=(model,))}
            for i in part:
                face_of[i] = ids[f"/bench/{i}.jpg"]
            update_groups(store, model, threshold)
        group_of = {fid: g.id for g in list_groups(store, model) for fid in g.face_ids}
    return np.array([group_of[f] for f in face_of], np.int64)


def average_linkage(emb: np.ndarray, threshold: float) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average").fit_predict(emb)


def dbscan_immich(emb: np.ndarray, eps: float = 0.5, min_faces: int = 3) -> np.ndarray:
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=eps, min_samples=min_faces, metric="cosine").fit_predict(emb)


def chinese_whispers(emb: np.ndarray, euclidean: float) -> np.ndarray:
    import dlib

    return np.asarray(dlib.chinese_whispers_clustering([dlib.vector(v.astype(float).tolist()) for v in emb], float(euclidean)))


def run_methods(emb: np.ndarray, threshold: float, tuned: dict[str, float]) -> dict[str, tuple[np.ndarray, float]]:
    """Method name -> (labels, seconds)."""
    out = {}
    for name, fn in (
        ("facerec incremental", lambda: facerec_incremental(emb, threshold)),
        ("facerec batch", lambda: group_embeddings(emb, threshold)),
        ("average linkage (scikit-learn)", lambda: average_linkage(emb, threshold)),
        ("DBSCAN (Immich defaults)", lambda: dbscan_immich(emb)),
        ("DBSCAN (tuned)", lambda: dbscan_immich(emb, eps=tuned["dbscan_eps"])),
        ("Chinese whispers (dlib, tuned)", lambda: chinese_whispers(emb, tuned["chinese_whispers"])),
    ):
        t0 = time.perf_counter()
        labels = fn()
        out[name] = (labels, time.perf_counter() - t0)
    return out


# -- calibration and scale ---------------------------------------------------------------------------
def calibrate(model: str) -> dict:
    """Each method's BCubed F over its threshold on the clean set's odd-numbered people (and their noise)."""
    d = load_variant("clean", model)
    keep = d["labels"] % 2 == 1
    emb, truth = unit(d["embeddings"][keep]), d["labels"][keep]
    sweeps = {
        "facerec": (np.round(np.arange(0.40, 0.701, 0.02), 2), lambda t: group_embeddings(emb, t)),
        "dbscan_eps": (np.round(np.arange(0.20, 0.601, 0.02), 2), lambda t: dbscan_immich(emb, eps=t)),
        "chinese_whispers": (np.round(np.arange(0.80, 1.201, 0.02), 2), lambda t: chinese_whispers(emb, t)),
    }
    out: dict = {"faces": int(keep.sum()), "best": {}, "sweeps": {}}
    for name, (grid, fn) in sweeps.items():
        rows = [{"threshold": float(t), **scores(truth, fn(float(t)))} for t in grid]
        out["sweeps"][name] = rows
        out["best"][name] = max(rows, key=lambda r: (r["bcubed_f"], r["ari"]))["threshold"]
    return out


def replicated(emb: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` faces: copies of ``emb`` under random rotations (distances inside a copy are the real ones)."""
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    while total < n:
        q, _ = np.linalg.qr(rng.standard_normal((emb.shape[1], emb.shape[1])))
        parts.append(emb @ q.astype(np.float32))
        total += len(emb)
    return np.concatenate(parts)[:n]


def scale_child(n: int, threshold: float, model: str) -> None:
    """(In a child process) group ``n`` replicated faces; print seconds and groups as JSON."""
    set_threads(2)
    emb = replicated(unit(load_variant("clean", model)["embeddings"]), n)
    t0, c0 = time.perf_counter(), time.process_time()
    labels = group_embeddings(emb, threshold)
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "groups": int(labels.max()) + 1}))


def scale(n: int, threshold: float, model: str) -> dict:
    cmd = [sys.executable, __file__, "--scale-child", str(n), "--threshold", str(threshold), "--model", model]
    before = machine_load()["loadavg_1_5_15"]
    r = run_measured(cmd)
    if r.returncode != 0:
        raise SystemExit(f"scale run failed: {r.stderr[-2000:]}")
    child = json.loads(r.stdout.strip().splitlines()[-1])
    return {
        "faces": n, "data": "LFW clean embeddings replicated under random rotations", "threads": 2,
        "grouping_seconds": round(child["seconds"], 2), "grouping_cpu_seconds": round(child["cpu_seconds"], 2),
        "process_wall_seconds": round(r.wall_s, 2), "peak_rss_mb": round(r.peak_process_rss_mb, 1), "groups": child["groups"],
        "load_before": before, "load_after": machine_load()["loadavg_1_5_15"],
    }


def table(rows: list[dict]) -> str:
    head = "| set | method | BCubed P | BCubed R | BCubed F | pairwise F | ARI | groups | seconds |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['method']} | {r['bcubed_precision']:.3f} | {r['bcubed_recall']:.3f} | **{r['bcubed_f']:.3f}** | "
            f"{r['pairwise_f']:.3f} | {r['ari']:.3f} | {r['groups']} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--model", default="sface")
    ap.add_argument("--threshold", type=float, help="grouping threshold (default: the model pack's)")
    ap.add_argument("--scale", type=int, default=100_000, help="faces for the scale run (0: skip)")
    ap.add_argument("--calibrate", action="store_true", help="only the threshold sweeps on the calibration people")
    ap.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", metavar="FILE")
    args = ap.parse_args(argv)
    threshold = args.threshold if args.threshold is not None else grouping_threshold(args.model)
    if args.scale_child:
        scale_child(args.scale_child, threshold, args.model)
        return 0
    set_threads(args.threads)
    result = {
        "benchmark": "clustering",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), **machine_load()},
        "model": args.model,
        "threshold": threshold,
    }
    if not cache_file("clean", args.model).exists():
        raise SystemExit("the clean set is not embedded yet: python bench/lfw_grouping_sets.py")
    result["calibration"] = calibrate(args.model)
    tuned = result["calibration"]["best"]
    print(f"tuned on the calibration people: {tuned}; facerec runs at the pack's {threshold}", file=sys.stderr, flush=True)
    if args.calibrate:
        emit(result, args.out)
        return 0
    rows, sets = [], {}
    for variant in args.sets:
        if not cache_file(variant, args.model).exists():
            print(f"skipping {variant}: not embedded yet (python bench/lfw_grouping_sets.py --variants {variant})", file=sys.stderr)
            continue
        d = load_variant(variant, args.model)
        emb, truth = unit(d["embeddings"]), d["labels"]
        how = {k: int(np.sum(d["how"] == k)) for k in ("detected", "retried", "fallback")}
        sets[variant] = {"faces": int(len(truth)), "people": int(len(np.unique(truth))), "how": how}
        methods = run_methods(emb, threshold, tuned)
        for name, (labels, seconds) in methods.items():
            rows.append({"set": variant, "method": name, **scores(truth, labels), "seconds": round(seconds, 2)})
        again = facerec_incremental(emb, threshold, seed=1)
        from sklearn.metrics import adjusted_rand_score

        sets[variant]["incremental_order_ari"] = {
            "two_shuffled_orders": round(float(adjusted_rand_score(methods["facerec incremental"][0], again)), 4),
            "incremental_vs_batch": round(float(adjusted_rand_score(methods["facerec incremental"][0], methods["facerec batch"][0])), 4),
        }
        print(table([r for r in rows if r["set"] == variant]), file=sys.stderr, flush=True)
    result["sets"] = sets
    result["rows"] = rows
    if args.scale:
        result["scale"] = scale(args.scale, threshold, args.model)
    result["machine"]["load_after"] = machine_load()["loadavg_1_5_15"]
    print(table(rows), file=sys.stderr)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
