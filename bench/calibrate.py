"""Calibrate and check a model pack's identification threshold on LFW (prints JSON).

- 1:1 verification: the LFW 10-fold threshold (pairs.txt), for reference;
- open-set identification: people with >= 2 images enrolled (up to 5 samples each, 1,680 people),
  one held-out image each as a genuine probe, the 4,069 single-image people as strangers. The threshold
  for the target stranger false-accept rate is fitted on half the strangers; DIR and FAR are reported
  on the other half, and at the pack's registered default threshold on all strangers.
- threshold by gallery size: a stranger's chance of a false match grows with the number of enrolled
  samples N, so the default threshold is ``t(N) = a - b*log10(N)``, fitted (shifted to stay at or below
  every measured point) to the thresholds giving the target FAR for random galleries of 5 to 3,925 samples.

    python bench/calibrate.py --model sface [--data ../shared/data/lfw] [--target-far 0.003]

The SFace pack's registered curve (facerec/embedders/packs.py) now comes from bench/openset.py, the
successor for open-set work (test-time flipping, a 0.1% stranger false-accept rate, LFW's mislabelled
"strangers" left out, harder variants); this script still calibrates any pack from one embedding pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _proc import emit  # noqa: E402

from facerec.config import Settings, shared_data_dir  # noqa: E402
from facerec.embedders import get_pack  # noqa: E402
from facerec.evaluation.lfw import embed_images, list_identities, parse_pairs, tar_at_far, verify_folds  # noqa: E402
from facerec.evaluation.openset import calibrate_openset, curve, fit_size_curve, openset_metrics, openset_protocol, size_curve  # noqa: E402
from facerec.matching import size_threshold  # noqa: E402
from facerec.pipeline import FaceAnalyzer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sface")
    ap.add_argument("--data", default=str(shared_data_dir() / "lfw"))
    ap.add_argument("--target-far", type=float, default=0.003)
    ap.add_argument("--cache", help="embedding cache .npz (default: in the facerec data dir)")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()

    root = Path(args.data)
    identities = list_identities(root)
    paths = [p for v in identities.values() for p in v]
    analyzer = FaceAnalyzer(Settings(model=args.model))
    t0 = time.time()
    emb = embed_images(analyzer, paths, cache=Path(args.cache) if args.cache else None)
    embed_s = time.time() - t0

    folds = parse_pairs(root / "pairs.txt", root)
    ver = verify_folds(folds, emb)
    pairs = [p for f in folds for p in f]
    d = np.array([1.0 - float(emb.get(p.a) @ emb.get(p.b)) for p in pairs])
    same = np.array([p.same for p in pairs])
    tar1, t1 = tar_at_far(d[same], d[~same], 0.01)
    tar01, t01 = tar_at_far(d[same], d[~same], 0.001)

    split = openset_protocol(identities)
    g = np.stack([emb.get(p) for p in split.gallery_paths])
    pr = np.stack([emb.get(p) for p in split.probe_paths])
    st = np.stack([emb.get(p) for p in split.stranger_paths])
    cal = calibrate_openset(g, split.gallery_labels, pr, split.probe_labels, st, args.target_far)
    pack = get_pack(args.model)
    sizes = size_curve(g, split.gallery_labels, st, args.target_far)
    fitted = fit_size_curve(sizes)
    registered = pack.threshold_curve or (pack.threshold, 0.0)
    at_default = openset_metrics(g, split.gallery_labels, pr, split.probe_labels, st, size_threshold(registered, len(g)))
    verification_t = float(np.mean(ver.thresholds))
    at_verification = openset_metrics(g, split.gallery_labels, pr, split.probe_labels, st, verification_t)

    out = {
        "model": args.model,
        "model_id": analyzer.model_id,
        "images": len(paths),
        "face_found": emb.counts(),
        "embed_seconds": round(embed_s, 1),
        "lfw_verification": {
            "mean_accuracy": round(ver.mean, 5),
            "std": round(ver.std, 5),
            "mean_fold_threshold": round(verification_t, 4),
            "tar_at_far_1e-2": round(tar1, 4),
            "tar_at_far_1e-3": round(tar01, 4),
        },
        "openset_calibration": cal,
        "threshold_by_gallery_size": {"points": sizes, "fitted_a_b": fitted, "registered_a_b": list(registered)},
        "openset_at_registered_threshold": at_default,
        "openset_at_verification_threshold": at_verification,
        "curve": curve(g, split.gallery_labels, pr, split.probe_labels, st, np.arange(0.30, 0.72, 0.02)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    emit(out, args.out)


if __name__ == "__main__":
    main()
