"""``facerec eval lfw``: LFW 10-fold verification through the full pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import EXIT_FATAL, EXIT_OK, EXIT_USAGE, Context, err, out


def register(sub, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("eval", parents=[common], help="evaluate accuracy on a benchmark")
    es = s.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    x = es.add_parser("lfw", parents=[common], help="LFW 10-fold verification through the full pipeline")
    x.add_argument("--data", required=True, metavar="DIR", help="LFW folder (person folders and pairs.txt)")
    x.add_argument("--pairs", metavar="FILE", help="pairs file (default DIR/pairs.txt)")
    x.add_argument("--folds", type=int, metavar="N", help="only the first N folds, N >= 2 (quick check)")
    x.add_argument("--cache", metavar="FILE", help="embedding cache file (.npz)")
    x.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_eval)


def cmd_eval(args, ctx: Context) -> int:
    from tqdm import tqdm

    from ..evaluation.lfw import embed_images, parse_pairs, verify_folds

    data = Path(args.data)
    pairs_file = Path(args.pairs) if args.pairs else data / "pairs.txt"
    if not pairs_file.is_file():
        err(f"error: {pairs_file}: LFW pairs file not found")
        return EXIT_USAGE
    folds = parse_pairs(pairs_file, data)
    if args.folds:
        if args.folds < 2:
            err("error: --folds needs at least 2 (each fold's threshold is chosen on the other folds)")
            return EXIT_USAGE
        folds = folds[: args.folds]
    paths = sorted({p for fold in folds for pair in fold for p in (pair.a, pair.b)})
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        err(f"error: {len(missing)} images named in {pairs_file} are missing, e.g. {missing[0]}")
        return EXIT_FATAL
    analyzer = ctx.analyzer
    # Two stages, each with its own bar: finding and aligning the face of every image, then embedding the
    # chips in batches (minutes with a large model); a cached run skips both.
    bars: dict[str, tqdm] = {}

    def stage(name: str, total: int):
        def update(i: int, n: int) -> None:
            if name not in bars:
                bars[name] = tqdm(total=total, unit="img" if name == "detecting" else "face", disable=args.quiet,
                                  file=sys.stderr, desc=name)
            bars[name].n = i if name == "embedding" else bars[name].n + 1
            bars[name].refresh()
            if bars[name].n >= total:
                bars[name].close()
        return update

    if not args.quiet:
        err(f"LFW: {len(paths)} images, {sum(len(f) for f in folds)} pairs in {len(folds)} folds; finding and aligning "
            f"each image's face, then embedding them with {ctx.settings.model} (cached for the next run)")
    emb = embed_images(analyzer, paths, progress=stage("detecting", len(paths)),
                       cache=Path(args.cache) if args.cache else None, embed_progress=stage("embedding", len(paths)))
    for bar in bars.values():
        bar.close()
    if not args.quiet:
        err("verifying: each fold's threshold chosen on the other folds")
    res = verify_folds(folds, emb)
    report = {
        "model": ctx.settings.model,
        "model_id": analyzer.model_id,
        "folds": len(folds),
        "mean_accuracy": round(res.mean, 5),
        "std": round(res.std, 5),
        "fold_accuracies": [round(a, 4) for a in res.accuracies],
        "fold_thresholds": [round(t, 4) for t in res.thresholds],
        "images": len(paths),
        "face_found": res.how,
    }
    if args.json:
        out(json.dumps(report, indent=2))
        return EXIT_OK
    out(f"LFW {len(folds)}-fold verification, model {report['model']} ({analyzer.model_id}), {len(paths)} images")
    for k, (a, t) in enumerate(zip(res.accuracies, res.thresholds), 1):
        out(f"  fold {k:2d}: accuracy {a * 100:6.2f}%   threshold (cosine distance) {t:.4f}")
    out(f"mean accuracy {res.mean * 100:.2f}% +- {res.std * 100:.2f}%")
    out(
        f"faces: {res.how['detected']} detected, {res.how['retried']} found on a retry with lower detector "
        f"thresholds, {res.how['fallback']} with no face found (aligned with the mean LFW landmarks, a centre crop)"
    )
    return EXIT_OK
