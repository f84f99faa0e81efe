"""Measure every installed embedder model pack through the full pipeline (MTCNN, alignment, embedder) on LFW.

For each pack (prints JSON):
- LFW View 2 10-fold verification accuracy (mean, std) and TAR at FAR 0.1% and 1% over the 6,000 pairs;
- open-set identification (facerec.evaluation.openset): people with >= 2 images enrolled (up to 5 samples),
  one held-out image each as a genuine probe, single-image people as strangers; rank-1 rate, DIR and stranger
  false-accept rate at the pack's registered threshold, and the threshold calibrated for a 0.3% stranger FAR
  (fitted on half the strangers, reported on the other half);
- speed on ``--threads`` CPU threads: embedder alone on one chip and per chip in a batch of 32, and the full
  pipeline (decode, detect, align, embed) per LFW image.

Embeddings are cached per pack in chunks of ``--chunk`` images (``--cache-dir``), the images of ``pairs.txt``
first: an interrupted run resumes where it stopped. A file ``lfw-all-NAME.npz`` there holding every image
(as written by ``embed_images`` for the whole of LFW) is used instead. Embedding all 13,233 images costs minutes (SFace) to tens
of minutes (dlib) of CPU.

    python bench/embedders.py --data ../shared/data/lfw --out bench/results/embedders.json
    python bench/embedders.py --packs dlib --limit 300     # quick look: the first 300 people only
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _proc import emit  # noqa: E402

from facerec.config import Settings, data_dir, shared_data_dir  # noqa: E402
from facerec import embedders  # noqa: E402
from facerec.evaluation.lfw import EmbeddingSet, embed_images, list_identities, parse_pairs, tar_at_far, verify_folds  # noqa: E402
from facerec.evaluation.openset import calibrate_openset, openset_metrics, openset_protocol  # noqa: E402
from facerec.matching import size_threshold  # noqa: E402
from facerec.pipeline import FaceAnalyzer  # noqa: E402

log = logging.getLogger("bench.embedders")


def r4(x: float) -> float:
    return round(float(x), 4)


def verification(root: Path, emb) -> dict:
    """10-fold accuracy and TAR@FAR over the pairs whose images were all embedded."""
    folds = parse_pairs(root / "pairs.txt", root)
    complete = all(p.a in emb.index and p.b in emb.index for f in folds for p in f)
    if not complete:
        folds = [[p for p in f if p.a in emb.index and p.b in emb.index] for f in folds]
        folds = [f for f in folds if any(p.same for p in f) and not all(p.same for p in f)]
    pairs = [p for f in folds for p in f]
    if not pairs:
        return {"pairs": 0}
    ver = verify_folds(folds, emb)
    d = np.array([1.0 - float(emb.get(p.a) @ emb.get(p.b)) for p in pairs])
    same = np.array([p.same for p in pairs])
    tar01, t01 = tar_at_far(d[same], d[~same], 0.001)
    tar1, t1 = tar_at_far(d[same], d[~same], 0.01)
    return {
        "pairs": len(pairs),
        "complete_view2": complete,
        "accuracy_mean": r4(ver.mean),
        "accuracy_std": r4(ver.std),
        "mean_fold_threshold": r4(np.mean(ver.thresholds)),
        "tar_at_far_0.1%": r4(tar01),
        "threshold_at_far_0.1%": r4(t01),
        "tar_at_far_1%": r4(tar1),
        "threshold_at_far_1%": r4(t1),
    }


def openset(identities: dict[str, list[str]], emb, pack, target_far: float) -> dict:
    identities = {k: [p for p in v if p in emb.index] for k, v in identities.items()}
    split = openset_protocol({k: v for k, v in identities.items() if v})
    if not split.gallery_paths or not split.stranger_paths:
        return {"skipped": "needs people with two or more images and single-image people"}
    g = np.stack([emb.get(p) for p in split.gallery_paths])
    pr = np.stack([emb.get(p) for p in split.probe_paths])
    st = np.stack([emb.get(p) for p in split.stranger_paths])
    # the registered default: the pack's gallery-size curve when it has one, else its fixed threshold
    threshold = size_threshold(pack.threshold_curve or (pack.threshold, 0.0), len(g))
    return {
        "at_registered_threshold": openset_metrics(g, split.gallery_labels, pr, split.probe_labels, st, threshold),
        "calibrated": calibrate_openset(g, split.gallery_labels, pr, split.probe_labels, st, target_far),
    }


def speed(analyzer: FaceAnalyzer, paths: list[str], n_images: int, repeats: int = 5) -> dict:
    """Milliseconds per face: embedder alone (1 chip, batch of 32) and the full pipeline per image.

    Wall-clock figures are the best of ``repeats``; on a shared machine they depend on the load, so the
    process CPU time (all threads together) is reported too."""
    chips = []
    for p in paths[:80]:
        img = analyzer.load(p)
        faces = analyzer.detect(img)
        if faces:
            chips.append(analyzer.embed_faces(img, faces[:1])[0][0])
        if len(chips) == 32:
            break
    chips = np.stack(chips)
    emb = analyzer.embedder
    emb.embed(chips[:2])  # warm up

    def best(fn, n) -> tuple[float, float]:
        wall, cpu = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall.append((time.perf_counter() - t) * 1000 / n)
            cpu.append((time.process_time() - c) * 1000 / n)
        return min(wall), min(cpu)

    single, single_cpu = best(lambda: [emb.embed(chips[i : i + 1]) for i in range(8)], 8)
    batch, batch_cpu = best(lambda: emb.embed(chips), len(chips))
    analyzer.analyze(paths[0])
    n_faces = 0

    def run_pipeline() -> None:
        nonlocal n_faces
        n_faces = sum(len(analyzer.analyze(p)) for p in paths[:n_images])

    pipeline, pipeline_cpu = best(run_pipeline, n_images)
    return {
        "embed_ms_per_face_single": round(single, 1),
        "embed_ms_per_face_batch32": round(batch, 1),
        "embed_cpu_ms_per_face_batch32": round(batch_cpu, 1),
        "pipeline_ms_per_image": round(pipeline, 1),
        "pipeline_cpu_ms_per_image": round(pipeline_cpu, 1),
        "pipeline_images": n_images,
        "pipeline_faces": n_faces,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def embed_chunked(
    analyzer: FaceAnalyzer, name: str, paths: list[str], cache_dir: Path, chunk: int, deadline: float | None = None,
    whole_order: list[str] | None = None,
):
    """``embed_images`` over chunks of ``paths``, each cached in its own file: a long run can be stopped and
    resumed, and whatever is done can be used. No new chunk is started after ``deadline`` (a time.time()).
    Returns the EmbeddingSet of the chunks done and the number of images left."""
    done, left = [], 0
    whole = cache_dir / f"lfw-all-{name}.npz"  # one file for every image (facerec.evaluation.lfw.embed_images)
    if whole.is_file():
        z = np.load(whole, allow_pickle=False)
        if str(z["model_id"]) == analyzer.model_id and set(map(str, z["paths"])) >= set(paths):
            log.info("%s: using %s", name, whole)
            full = EmbeddingSet(analyzer.model_id, list(map(str, z["paths"])), z["embeddings"], list(map(str, z["how"])))
            idx = [full.index[p] for p in paths]
            return EmbeddingSet(analyzer.model_id, paths, full.embeddings[idx], [full.how[i] for i in idx]), 0
    for i in range(0, len(paths), chunk):
        part = paths[i : i + chunk]
        key = hashlib.sha1(("\n".join(part) + analyzer.model_id).encode()).hexdigest()[:12]
        cache = cache_dir / f"lfw-{name}-{key}.npz"
        if deadline is not None and time.time() > deadline and not cache.exists():
            left += len(part)
            continue
        step = max(1, len(part) // 4)

        def progress(j: int, n: int, i=i, step=step) -> None:
            if j % step == 0:
                log.info("%s: image %d of %d detected and aligned", name, i + j, len(paths))

        done.append(embed_images(analyzer, part, progress=progress, cache=cache))
    emb = EmbeddingSet(
        analyzer.model_id,
        [p for e in done for p in e.paths],
        np.concatenate([e.embeddings for e in done]),
        [h for e in done for h in e.how],
    )
    if not left and whole_order:
        # the same images in embed_images' cache format (bench/calibrate.py --cache reads it)
        idx = [emb.index[p] for p in whole_order]
        np.savez(whole, paths=np.array(whole_order), embeddings=emb.embeddings[idx],
                 how=np.array([emb.how[i] for i in idx]), model_id=np.array(analyzer.model_id))
    return emb, left


def ordered_paths(identities: dict[str, list[str]], root: Path) -> list[str]:
    """The images of pairs.txt first (so a partial run already gives the verification figures), then the rest."""
    folds = parse_pairs(root / "pairs.txt", root) if (root / "pairs.txt").is_file() else []
    wanted = {p for v in identities.values() for p in v}
    first = sorted({q for f in folds for p in f for q in (p.a, p.b)} & wanted)
    seen = set(first)
    return first + [p for v in identities.values() for p in v if p not in seen]


def bench_pack(name: str, args, identities: dict[str, list[str]], root: Path) -> dict:
    pack = embedders.get_pack(name)
    if not embedders.is_installed(pack):
        return {"installed": False, "fix": f"facerec models install {name}"}
    analyzer = FaceAnalyzer(Settings(model=name, threads=args.threads))
    paths = ordered_paths(identities, root)
    t0 = time.time()
    deadline = time.time() + 60 * args.budget_minutes if args.budget_minutes else None
    whole_order = [p for v in identities.values() for p in v] if args.limit is None else None
    emb, left = embed_chunked(analyzer, name, paths, Path(args.cache_dir), args.chunk, deadline, whole_order)
    embed_s = time.time() - t0
    out = {
        "installed": True,
        "model_id": pack.model_id,
        "licence": pack.licence,
        "dim": pack.dim,
        "input_px": pack.template.size,
        "template": pack.template.name,
        "registered_threshold": pack.threshold,
        "registered_threshold_curve": pack.threshold_curve,
        "threshold_calibrated": pack.calibrated,
        "images": len(paths),
        "images_embedded": len(emb.paths),
        "images_left_by_budget": left,
        "face_found": emb.counts(),
        "embed_seconds_this_run": round(embed_s, 1),
        "lfw_verification": verification(root, emb),
        "openset": openset(identities, emb, pack, args.target_far),
    }
    if not args.no_speed:
        out["speed"] = speed(analyzer, paths, args.speed_images)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packs", help="comma-separated pack names (default: every installed pack)")
    ap.add_argument("--data", default=str(shared_data_dir() / "lfw"), help="LFW folder (person folders, pairs.txt)")
    ap.add_argument("--limit", type=int, help="only the first N people (sorted by name); pairs restricted to them")
    ap.add_argument("--cache-dir", default=str(data_dir() / "cache"), help="embedding caches (.npz)")
    ap.add_argument("--chunk", type=int, default=300, help="images per cached chunk (a stopped run resumes)")
    ap.add_argument("--budget-minutes", type=float, help="start no new chunk after this long (partial results)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch and OpenCV")
    ap.add_argument("--target-far", type=float, default=0.003, help="stranger FAR the threshold is calibrated for")
    ap.add_argument("--speed-images", type=int, default=20, help="LFW images timed through the full pipeline")
    ap.add_argument("--no-speed", action="store_true", help="skip the timings")
    ap.add_argument("--out", help="also write the JSON to this file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)

    root = Path(args.data)
    identities = list_identities(root)
    if args.limit is not None:
        identities = dict(list(identities.items())[: args.limit])
    names = args.packs.split(",") if args.packs else [p.name for p in embedders.list_packs() if embedders.is_installed(p)]
    result = {
        "command": "python bench/embedders.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": str(root),
        "people": len(identities),
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "packs": {},
    }
    for name in names:
        log.info("benchmarking %s", name)
        result["packs"][name] = bench_pack(name, args, identities, root)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
