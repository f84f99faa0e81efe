"""Open-set robustness on LFW: flipping, k-nearest aggregation and a face-quality gate, on clean and degraded
faces (prints JSON). The successor of bench/calibrate.py's open-set part.

Reads the embeddings bench/lfw_degraded.py cached (run it first for each variant), so a rerun takes seconds:

    nice python bench/lfw_degraded.py --variant clean      # 13,233 images
    nice python bench/lfw_degraded.py --variant small      # and blur, sunglasses, mask (probes + strangers)
    python bench/openset.py --out bench/results/openset.json

Protocol (facerec.evaluation.openset): 1,680 people with >= 2 images enrolled with up to 5 clean images each
(3,925 samples), one held-out image of each as a genuine probe, the 4,069 single-image people as strangers.
The threshold for the target stranger false-accept rate is fitted on the even strangers and the rates are
reported on the odd ones (held out). Each method is reported:

- at its own calibrated threshold (clean data), DIR and stranger FAR on the held-out strangers;
- on each degraded variant at that same threshold (does the calibration hold on harder faces?), without
  and with the quality gate;
- LFW 10-fold 1:1 verification accuracy.

Methods: ``plain`` (the chip's embedding), ``flip`` (the mean of the chip's and its mirror's embeddings,
re-normalised); ``centred_``: SFace's mean vector subtracted and the result normalised again (what the sface
pack does; the mean comes from bench/sface_centre.py); ``k=2`` / ``k=3``: a person's similarity is the mean of
their k most similar samples (all of them when they have fewer) instead of the single most similar one.

``app_default`` is what the app does (the pack's vectors, flipping as Settings says, its gallery-size curve);
``app_default.strangers_not_in_centre`` leaves out the strangers whose images went into the mean vector.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _proc import emit, machine_load  # noqa: E402
from lfw_degraded import DEFAULT_CACHE, VARIANTS, cache_path, load_cache  # noqa: E402

from facerec.config import shared_data_dir  # noqa: E402
from facerec.embedders.sface import centre  # noqa: E402
from facerec.evaluation.lfw import EmbeddingSet, list_identities, parse_pairs, tar_at_far, verify_folds  # noqa: E402
from facerec.evaluation.openset import LFW_NOT_STRANGERS, fit_size_curve, openset_protocol, size_curve, threshold_for_far  # noqa: E402
from facerec.quality import pose_from_landmarks  # noqa: E402


def embeddings(d: dict, flip: bool, centred: bool = False) -> np.ndarray:
    """The cached network vectors as an embedder would give them: flipped (the mean of the chip's and its
    mirror's) and/or centred (facerec.embedders.sface.centre, what the sface pack applies)."""
    if str(d["model_id"]).endswith("-centred"):  # written while bench/lfw_degraded.py stored the pack's vectors
        raise SystemExit(f"a cache of centred vectors ({d['model_id']}): delete it and rerun bench/lfw_degraded.py")
    e = d["emb"].astype(np.float32)
    if flip:
        e = e + d["emb_flip"]
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    return centre(e) if centred else e


def rows(d: dict, paths: list[str]) -> np.ndarray:
    index = {p: i for i, p in enumerate(d["paths"].tolist())}
    return np.array([index[p] for p in paths], np.int64)


class Gallery:
    """Enrolled samples grouped by person, scored by the mean of each person's k best similarities."""

    def __init__(self, emb: np.ndarray, labels: np.ndarray, max_samples: int = 5):
        self.emb = emb
        self.people = np.unique(labels)
        slots = np.full((len(self.people), max_samples), -1, np.int64)
        for j, person in enumerate(self.people):
            idx = np.flatnonzero(labels == person)[:max_samples]
            slots[j, : len(idx)] = idx
        self.slots = slots
        self.count = (slots >= 0).sum(1)

    def nearest(self, queries: np.ndarray, k: int, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """(label of the nearest person, cosine distance to them) per query."""
        labels, dists = [], []
        for i in range(0, len(queries), chunk):
            sims = queries[i : i + chunk] @ self.emb.T
            per = np.where(self.slots >= 0, sims[:, np.maximum(self.slots, 0)], -np.inf)  # Q x P x S
            per = -np.sort(-per, axis=2)[:, :, :k]
            take = np.minimum(self.count, k)
            score = np.where(np.isfinite(per), per, 0.0).sum(2) / take
            j = np.argmax(score, axis=1)
            labels.append(self.people[j])
            dists.append(1.0 - score[np.arange(len(j)), j])
        return np.concatenate(labels), np.concatenate(dists)


def quality_ok(d: dict, r: np.ndarray, gate: dict | None) -> np.ndarray:
    """Which faces pass the quality gate (all when ``gate`` is None); landmarks are in the pixels of the photo
    as the variant made it (the ``small`` variant's faces are small in their photo)."""
    if gate is None:
        return np.ones(len(r), bool)
    eye, yaw, _ = pose_from_landmarks(d["landmarks"][r])
    ok = (d["how"][r] == 0) & (eye >= gate["min_eye_distance"]) & (np.abs(yaw) <= gate["max_yaw"])
    return ok & (d["sharpness"][r] >= gate["min_sharpness"])


def rates(p_lab, p_dist, p_true, p_ok, s_dist, s_ok, t: float) -> dict:
    hit = (p_lab == p_true) & (p_dist <= t) & p_ok
    fa = (s_dist <= t) & s_ok
    return {
        "threshold": round(float(t), 4),
        "dir": round(float(hit.mean()), 4),
        "stranger_far": round(float(fa.mean()), 5),
        "false_accepts": int(fa.sum()),
        "strangers": int(len(s_dist)),
        "probes": int(len(p_dist)),
        "rank1": round(float((p_lab == p_true).mean()), 4),
        "unknown_by_quality": {"probes": int((~p_ok).sum()), "strangers": int((~s_ok).sum())},
    }


def dir_at_far(p_lab, p_dist, p_true, s_dist, far: float) -> float:
    t = threshold_for_far(s_dist, far)
    return float(((p_lab == p_true) & (p_dist <= t)).mean())


def data_args(ap: argparse.ArgumentParser) -> None:
    """The options of the LFW open-set benchmarks (this one and bench/quality_threshold.py)."""
    ap.add_argument("--model", default="sface")
    ap.add_argument("--data", default=str(shared_data_dir() / "lfw"))
    ap.add_argument("--cache-dir", default=str(DEFAULT_CACHE))
    ap.add_argument("--target-far", type=float, default=0.001)


@dataclass
class Protocol:
    """The open-set protocol on the clean cache: who is enrolled, the genuine probes, the strangers and their
    fit (even) and held-out (odd) halves, and the cache rows of each."""

    clean: dict
    split: Any
    stranger_paths: list[str]
    held_paths: list[str]
    fit: np.ndarray
    """Which of ``stranger_paths`` are in the fit half."""
    g_rows: np.ndarray
    p_rows: np.ndarray
    s_rows: np.ndarray

    @property
    def fit_paths(self) -> list[str]:
        return [p for p, f in zip(self.stranger_paths, self.fit) if f]


def load_protocol(cache: Path, model: str, root: Path, keep_duplicates: bool = False) -> Protocol:
    """The protocol over the clean run's cache (SystemExit until bench/lfw_degraded.py has made it)."""
    clean = load_cache(cache_path(cache, model, "clean", "all"))
    if clean is None or int(clean["done"]) < len(clean["paths"]):
        raise SystemExit("run bench/lfw_degraded.py --variant clean to the end first")
    split = openset_protocol(list_identities(root))
    # the fit / held-out halves of the strangers are the even / odd ones of the full list (the degraded variants
    # embedded the odd ones), then the enrolled people among them are dropped from both
    excluded = set() if keep_duplicates else set(LFW_NOT_STRANGERS)
    is_stranger = np.array([Path(p).parent.name not in excluded for p in split.stranger_paths])
    stranger_paths = [p for p, k in zip(split.stranger_paths, is_stranger) if k]
    held_paths = [p for i, p in enumerate(split.stranger_paths) if i % 2 == 1 and is_stranger[i]]
    fit = (np.arange(len(split.stranger_paths)) % 2 == 0)[is_stranger]
    return Protocol(
        clean, split, stranger_paths, held_paths, fit,
        rows(clean, split.gallery_paths), rows(clean, split.probe_paths), rows(clean, stranger_paths),
    )


def app_threshold(model: str, gallery_size: int) -> tuple[Any, bool, bool, float]:
    """What the app does with ``model``: its pack, whether it flips (Settings), whether its vectors are centred,
    and its threshold for a gallery of ``gallery_size`` samples (the pack's curve, never looser than 1:1)."""
    from facerec.config import Settings
    from facerec.embedders.packs import get_pack
    from facerec.matching import size_threshold

    pack = get_pack(model)
    centred = pack.legacy is not None  # the sface pack's vectors are centred
    t = min(size_threshold(pack.threshold_curve, gallery_size), pack.verification_threshold) if pack.threshold_curve else pack.threshold
    return pack, Settings().flip, centred, t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_args(ap)
    ap.add_argument("--min-eye-distance", type=float, default=12.0)
    ap.add_argument("--max-yaw", type=float, default=0.9)
    ap.add_argument("--min-sharpness", type=float, default=0.15)
    ap.add_argument("--keep-duplicates", action="store_true", help="count LFW_NOT_STRANGERS as strangers (they are enrolled people)")
    ap.add_argument("--out")
    args = ap.parse_args()
    cache = Path(args.cache_dir)
    root = Path(args.data)
    proto = load_protocol(cache, args.model, root, args.keep_duplicates)
    clean, split, stranger_paths, held_paths, fit = proto.clean, proto.split, proto.stranger_paths, proto.held_paths, proto.fit
    g_rows, p_rows, s_rows = proto.g_rows, proto.p_rows, proto.s_rows
    gate = {"min_eye_distance": args.min_eye_distance, "max_yaw": args.max_yaw, "min_sharpness": args.min_sharpness}
    variants = {}
    for v in VARIANTS[1:]:
        d = load_cache(cache_path(cache, args.model, v, "probes"))
        if d is not None and int(d["done"]) == len(d["paths"]):
            variants[v] = d
    folds = parse_pairs(root / "pairs.txt", root)

    out: dict = {
        "benchmark": "openset",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_load(),
        "model": args.model,
        "target_far": args.target_far,
        "gallery": {"people": int(len(np.unique(split.gallery_labels))), "samples": len(g_rows)},
        "genuine_probes": len(p_rows),
        "strangers": {"fit": int(fit.sum()), "held_out": int((~fit).sum())},
        "left_out_of_strangers": [] if args.keep_duplicates else sorted(LFW_NOT_STRANGERS),
        "quality_gate": gate,
        "detection": {"clean": {k: int((clean["how"] == i).sum()) for i, k in enumerate(("detected", "retried", "not_found"))}},
        "methods": {},
    }
    for v, d in variants.items():
        out["detection"][v] = {k: int((d["how"] == i).sum()) for i, k in enumerate(("detected", "retried", "not_found"))}
    for centred, flip in ((False, False), (False, True), (True, False), (True, True)):
        emb = embeddings(clean, flip, centred)
        eset = EmbeddingSet(args.model, clean["paths"].tolist(), emb, ["detected"] * len(emb))
        verification = verify_folds(folds, eset)
        pairs = [p for f in folds for p in f]
        pair_d = np.array([1.0 - float(eset.get(p.a) @ eset.get(p.b)) for p in pairs])
        same = np.array([p.same for p in pairs])
        tar = {f"lfw_tar_at_far_{far:g}": round(tar_at_far(pair_d[same], pair_d[~same], far)[0], 4) for far in (0.01, 0.001)}
        for k in (1, 2, 3):
            name = f"{'centred_' if centred else ''}{'flip' if flip else 'plain'}_k{k}"
            gal = Gallery(emb[g_rows], split.gallery_labels)
            p_lab, p_dist = gal.nearest(emb[p_rows], k)
            _, s_dist = gal.nearest(emb[s_rows], k)
            t = threshold_for_far(s_dist[fit], args.target_far)
            all_ok = np.ones(len(p_rows), bool)
            m = {
                "lfw_10fold_accuracy": round(verification.mean, 5),
                "lfw_10fold_std": round(verification.std, 5),
                "lfw_mean_fold_threshold": round(float(np.mean(verification.thresholds)), 4),
                **tar,
                "dir_at_far_1e-3_all_strangers": round(dir_at_far(p_lab, p_dist, split.probe_labels, s_dist, 0.001), 4),
                "calibrated": rates(p_lab, p_dist, split.probe_labels, all_ok, s_dist[~fit], np.ones((~fit).sum(), bool), t),
            }
            p_ok = quality_ok(clean, p_rows, gate)
            s_ok = quality_ok(clean, s_rows[~fit], gate)
            m["calibrated_with_quality_gate"] = rates(p_lab, p_dist, split.probe_labels, p_ok, s_dist[~fit], s_ok, t)
            m["variants"] = {}
            for v, d in variants.items():
                e = embeddings(d, flip, centred)
                vp, vs = rows(d, split.probe_paths), rows(d, held_paths)
                vp_lab, vp_dist = gal.nearest(e[vp], k)
                _, vs_dist = gal.nearest(e[vs], k)
                m["variants"][v] = {
                    "no_gate": rates(vp_lab, vp_dist, split.probe_labels, np.ones(len(vp), bool), vs_dist, np.ones(len(vs), bool), t),
                    "quality_gate": rates(vp_lab, vp_dist, split.probe_labels, quality_ok(d, vp, gate), vs_dist, quality_ok(d, vs, gate), t),
                    "own_threshold_for_target_far": round(threshold_for_far(vs_dist, args.target_far), 4),
                }
            out["methods"][name] = m
    # what the app does: the pack's registered gallery-size curve, flipping as Settings says, nearest sample
    pack, flip_on, centred, t_app = app_threshold(args.model, len(g_rows))
    emb = embeddings(clean, flip_on, centred)
    gal = Gallery(emb[g_rows], split.gallery_labels)
    p_lab, p_dist = gal.nearest(emb[p_rows], 1)
    _, s_dist = gal.nearest(emb[s_rows], 1)
    ones = np.ones(len(p_rows), bool)
    from sface_centre import unpaired_images

    in_centre = {Path(p).parent.name for p in unpaired_images(root)}
    outside = np.array([Path(p).parent.name not in in_centre for p in stranger_paths])
    app_name = f"{'centred_' if centred else ''}{'flip' if flip_on else 'plain'}_k1"
    app = {
        "method": app_name,
        "curve_a_b": list(pack.threshold_curve or ()),
        "all_strangers": rates(p_lab, p_dist, split.probe_labels, ones, s_dist, np.ones(len(s_dist), bool), t_app),
        "held_out_strangers": rates(p_lab, p_dist, split.probe_labels, ones, s_dist[~fit], np.ones((~fit).sum(), bool), t_app),
        "strangers_not_in_centre": rates(p_lab, p_dist, split.probe_labels, ones, s_dist[outside], np.ones(int(outside.sum()), bool), t_app),
        "dir_at_far_1e-3_strangers_not_in_centre": round(dir_at_far(p_lab, p_dist, split.probe_labels, s_dist[outside], 0.001), 4),
        "dir_at_far_1e-3_all_strangers": round(dir_at_far(p_lab, p_dist, split.probe_labels, s_dist, 0.001), 4),
        "at_verification_threshold": rates(p_lab, p_dist, split.probe_labels, ones, s_dist, np.ones(len(s_dist), bool), pack.verification_threshold),
        "variants": {},
    }
    for v, d in variants.items():
        e = embeddings(d, flip_on, centred)
        vp_lab, vp_dist = gal.nearest(e[rows(d, split.probe_paths)], 1)
        _, vs_dist = gal.nearest(e[rows(d, held_paths)], 1)
        app["variants"][v] = rates(vp_lab, vp_dist, split.probe_labels, ones, vs_dist, np.ones(len(vs_dist), bool), t_app)
    out["app_default"] = app
    # a gallery enrolled with flipping off (plain samples), searched with flipping switched on (the pack's vectors)
    plain, flipped = embeddings(clean, False, centred), embeddings(clean, True, centred)
    gal = Gallery(plain[g_rows], split.gallery_labels)
    p_lab, p_dist = gal.nearest(flipped[p_rows], 1)
    _, s_dist = gal.nearest(flipped[s_rows], 1)
    t = threshold_for_far(s_dist[fit], args.target_far)
    out["flip_queries_plain_gallery_k1"] = {
        "dir_at_far_1e-3_all_strangers": round(dir_at_far(p_lab, p_dist, split.probe_labels, s_dist, 0.001), 4),
        "calibrated": rates(p_lab, p_dist, split.probe_labels, np.ones(len(p_rows), bool), s_dist[~fit], np.ones((~fit).sum(), bool), t),
    }
    # how much the gain depends on which faces the mean comes from (the shipped one: LFW's unpaired people)
    plain = embeddings(clean, False)
    unpaired = rows(clean, unpaired_images(root))
    sources = {"unpaired LFW people (shipped)": unpaired, "50 of those photos": unpaired[:50], "the enrolled gallery": g_rows, "all LFW photos": np.arange(len(plain))}
    out["centre_sources"] = {}
    for label, src in sources.items():
        e = plain - plain[src].mean(axis=0)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        gal = Gallery(e[g_rows], split.gallery_labels)
        p_lab, p_dist = gal.nearest(e[p_rows], 1)
        _, s_dist = gal.nearest(e[s_rows], 1)
        eset = EmbeddingSet(args.model, clean["paths"].tolist(), e, ["detected"] * len(e))
        out["centre_sources"][label] = {
            "photos": int(len(src)),
            "lfw_10fold_accuracy": round(verify_folds(folds, eset).mean, 5),
            "dir_at_far_1e-3_all_strangers": round(dir_at_far(p_lab, p_dist, split.probe_labels, s_dist, 0.001), 4),
        }
    best = max(out["methods"], key=lambda n: (out["methods"][n]["dir_at_far_1e-3_all_strangers"], -out["methods"][n]["calibrated"]["stranger_far"]))
    out["best_method_on_clean"] = best
    emb = embeddings(clean, flip_on, centred)  # the curve the app's vectors need
    sizes = size_curve(emb[g_rows], split.gallery_labels, emb[s_rows], args.target_far)
    out["threshold_by_gallery_size"] = {"method": app_name, "points": sizes, "fitted_a_b": list(fit_size_curve(sizes))}
    out["machine"]["load_after"] = machine_load()["loadavg_1_5_15"]
    emit(out, args.out)


if __name__ == "__main__":
    main()
