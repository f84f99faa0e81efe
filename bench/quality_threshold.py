"""Would a stricter threshold for small or blurred faces keep strangers out without costing clean faces? (prints JSON)

At the app's own threshold (bench/openset.py's ``app_default``: the pack's vectors, its gallery-size curve, 1,680
LFW people enrolled), small faces (12 px between the eyes) and blurred ones let strangers in more often than
clean ones. This tries the simplest remedy: a face counts as poor when its eye distance (from its landmarks, in
the photo's pixels: what the store keeps, so re-matching could apply the same rule) is under ``E0``, or its
chip's sharpness (facerec.quality.chip_sharpness) under ``S0``; a poor face must come ``delta`` closer than the
threshold. Reported, for each rule, on clean faces (all strangers) and on each degraded variant (the held-out
strangers, as openset.py): DIR, stranger FAR, false accepts, and how many probes and strangers were poor.

Reads the caches bench/lfw_degraded.py writes (see bench/openset.py). A degraded variant cached with ``--only all``
also has the other (even, "fit") half of its strangers: then, for each rule, ``chosen`` is the smallest ``delta``
(0 to 0.05, steps of 0.005) that keeps every variant's fit strangers at or under ``--target-far``, with its results
on the held-out (odd) strangers, which took no part in the choice:

    nice python bench/lfw_degraded.py --variant small --only all      # and blur: a few minutes each
    python bench/quality_threshold.py --out bench/results/quality_threshold.json

Nothing here changes the app: it is the measurement a decision would rest on.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _proc import emit, machine_load  # noqa: E402
from lfw_degraded import VARIANTS, cache_path, load_cache  # noqa: E402
from openset import Gallery, app_threshold, data_args, embeddings, load_protocol, rows  # noqa: E402

from facerec.quality import pose_from_landmarks  # noqa: E402


def outcome(p_lab, p_dist, p_true, p_poor, s_dist, s_poor, t: float, delta: float) -> dict:
    """DIR and stranger FAR when poor faces must be ``delta`` closer than ``t``."""
    tp = np.where(p_poor, t - delta, t)
    ts = np.where(s_poor, t - delta, t)
    hit = (p_lab == p_true) & (p_dist <= tp)
    fa = s_dist <= ts
    return {
        "dir": round(float(hit.mean()), 4),
        "stranger_far": round(float(fa.mean()), 5),
        "false_accepts": int(fa.sum()),
        "poor": {"probes": int(p_poor.sum()), "strangers": int(s_poor.sum())},
    }


def poor(d: dict, r: np.ndarray, e0: float, s0: float) -> np.ndarray:
    eye, _, _ = pose_from_landmarks(d["landmarks"][r])
    return (np.asarray(eye) < e0) | (d["sharpness"][r] < s0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_args(ap)
    ap.add_argument("--out")
    args = ap.parse_args()
    cache = Path(args.cache_dir)
    proto = load_protocol(cache, args.model, Path(args.data))
    clean, split, held_paths, fit_paths = proto.clean, proto.split, proto.held_paths, proto.fit_paths
    g_rows, p_rows, s_rows = proto.g_rows, proto.p_rows, proto.s_rows
    _, flip, centred, t = app_threshold(args.model, len(g_rows))
    emb = embeddings(clean, flip, centred)
    gal = Gallery(emb[g_rows], split.gallery_labels)
    sets = {"clean": (clean, p_rows, s_rows, gal.nearest(emb[p_rows], 1), gal.nearest(emb[s_rows], 1))}
    fits = {"clean": (clean, rows(clean, fit_paths), gal.nearest(emb[rows(clean, fit_paths)], 1)[1])}
    for v in VARIANTS[1:]:
        d = load_cache(cache_path(cache, args.model, v, "all"))
        whole = d is not None and int(d["done"]) == len(d["paths"])
        if not whole:
            d = load_cache(cache_path(cache, args.model, v, "probes"))
        if d is None or int(d["done"]) < len(d["paths"]):
            continue
        e = embeddings(d, flip, centred)
        vp, vs = rows(d, split.probe_paths), rows(d, held_paths)
        sets[v] = (d, vp, vs, gal.nearest(e[vp], 1), gal.nearest(e[vs], 1))
        if whole:
            vf = rows(d, fit_paths)
            fits[v] = (d, vf, gal.nearest(e[vf], 1)[1])

    clean_eye, _, _ = pose_from_landmarks(clean["landmarks"][p_rows])
    clean_sharp = clean["sharpness"][p_rows]
    rules = [("none", 0.0, 0.0)]
    rules += [(f"eye<{e0:g}", e0, 0.0) for e0 in (16.0, 20.0, 24.0)]
    s_pct = {p: float(np.percentile(clean_sharp, p)) for p in (1, 5)}
    rules += [(f"sharpness<p{p}({s:.3f})", 0.0, s) for p, s in s_pct.items()]
    rules += [(f"eye<20|sharpness<p5({s_pct[5]:.3f})", 20.0, s_pct[5])]
    out: dict = {
        "benchmark": "quality_threshold",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_load(),
        "threshold": round(float(t), 4),
        "clean_probes_eye_distance_px": {f"p{p}": round(float(np.percentile(clean_eye, p)), 1) for p in (1, 5, 50)},
        "clean_probes_sharpness": {f"p{p}": round(float(np.percentile(clean_sharp, p)), 3) for p in (1, 5, 50)},
        "rules": {},
    }
    def row(e0: float, s0: float, delta: float) -> dict:
        return {
            v: outcome(p_lab, p_dist, split.probe_labels, poor(d, pr, e0, s0), s_dist, poor(d, sr, e0, s0), t, delta)
            for v, (d, pr, sr, (p_lab, p_dist), (_, s_dist)) in sets.items()
        }

    for name, e0, s0 in rules:
        for delta in ((0.0,) if name == "none" else (0.01, 0.02, 0.03)):
            out["rules"][f"{name} delta={delta:g}"] = row(e0, s0, delta)
    if len(fits) > 1:  # some variant has its fit strangers: choose delta there, report on the held-out ones
        out["fit_variants"] = sorted(fits)
        out["chosen"] = {}
        for name, e0, s0 in rules[1:]:
            for delta in np.round(np.arange(0.0, 0.0501, 0.005), 3):
                fit_far = {v: float((fd <= np.where(poor(d, fr, e0, s0), t - delta, t)).mean()) for v, (d, fr, fd) in fits.items()}
                if all(f <= args.target_far for f in fit_far.values()):
                    out["chosen"][name] = {"delta": float(delta), "fit_far": {v: round(f, 5) for v, f in fit_far.items()}, "held_out": row(e0, s0, float(delta))}
                    break
            else:
                out["chosen"][name] = {"delta": None, "note": f"no delta up to 0.05 keeps every fit set at {args.target_far:g}"}
    emit(out, args.out)


if __name__ == "__main__":
    main()
