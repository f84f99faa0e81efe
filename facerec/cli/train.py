"""``facerec train`` (triplet-loss training of a compact embedder) and ``facerec adapt`` (personalisation).

Both need PyTorch: the handlers check it first (the standalone bundle has none)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .common import EXIT_FATAL, EXIT_OK, EXIT_USAGE, Context, err, out


def register(sub, common) -> None:
    s = sub.add_parser(
        "train",
        parents=[common],
        help="train or fine-tune an embedder with triplet loss",
        description=(
            "Train (or fine-tune, with --init) a compact embedder on DIR/<identity>/<images> with triplet loss: "
            "P identities x K images per batch, online semi-hard or batch-hard mining, augmentation, "
            "checkpoints (resumable) and a loss-curve PNG. Identities are split into train and validation "
            "sets that share no one (checked)."
        ),
    )
    s.add_argument("--data", required=True, metavar="DIR", help="folder of identity folders")
    s.add_argument("--crop", choices=["align", "resize"], default="align", help="align: MTCNN + alignment (default); resize: images are already face crops")
    s.add_argument("--cache", metavar="DIR", help="chip cache folder (default: <checkpoint dir>/chips)")
    s.add_argument("--min-images", type=int, default=2, help="train on identities with at least this many images")
    s.add_argument("--max-identities", type=int, default=0, help="use only the first N identities (0: all)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--val-fraction", type=float, default=0.1, help="fraction of identities held out for validation")
    g.add_argument("--lfw-pairs", metavar="FILE", help="LFW View 2 pairs.txt: validate on the identities of --val-fold, train on the rest")
    s.add_argument("--val-fold", type=int, default=10, help="with --lfw-pairs: the held-out fold (1-10)")
    s.add_argument("--miner", choices=["semi-hard", "batch-hard"], default="semi-hard")
    s.add_argument("--margin", type=float, default=0.2, help="triplet margin (Euclidean distance of unit vectors)")
    s.add_argument("-P", "--identities-per-batch", dest="p", type=int, default=16)
    s.add_argument("-K", "--images-per-identity", dest="k", type=int, default=4)
    s.add_argument("--steps", type=int, help="training steps (default: from --epochs)")
    s.add_argument("--epochs", type=float, default=10, help="passes over the identities (one step per P identities)")
    s.add_argument("--lr", type=float, default=2e-3)
    s.add_argument("--max-minutes", type=float, help="stop, checkpointed, after this long")
    s.add_argument("--checkpoint-dir", default="train-run", metavar="DIR", help="checkpoints, loss.png, history.json (default: ./train-run)")
    s.add_argument("--checkpoint-every", type=int, default=100, metavar="N")
    s.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    s.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    s.add_argument("--init", metavar="FILE", help="fine-tune this weights file (e.g. resources/models/compact-v1.pt)")
    s.add_argument("--width", type=int, default=24, help="network width for a new model")
    s.add_argument("--dim", type=int, default=128, help="embedding size for a new model")
    s.add_argument("--distill", metavar="MODEL", help="also distil from this installed model pack (e.g. sface)")
    s.add_argument("--distill-weight", type=float, default=1.0)
    s.add_argument("--no-augment", action="store_true")
    s.add_argument("--out", metavar="FILE", help="export the trained weights here (default: <checkpoint dir>/model.pt)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_train)

    from ..training.adapt import MIN_PEOPLE, MIN_SAMPLES  # light: torch is imported inside its functions

    s = sub.add_parser(
        "adapt",
        parents=[common],
        help="personalise recognition to your gallery (or --revert)",
        description=(
            f"Fit a small projection on your gallery's samples with triplet loss (needs {MIN_PEOPLE}+ people with "
            f"{MIN_SAMPLES}+ samples each). It is kept only if cross-validated identification on the gallery improves."
        ),
    )
    s.add_argument("--revert", action="store_true", help="remove the personalisation for the current model")
    s.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    s.add_argument("--steps", type=int, default=150, help="optimisation steps per fit")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(func=cmd_adapt)


def cmd_train(args, ctx: Context) -> int:
    from ..threads import require_torch

    require_torch("facerec train")  # before any work: the standalone bundle has no torch

    import numpy as np

    from ..training.data import cached_chips, scan_identities
    from ..training.model import CompactNet, load_weights_file, save_weights_file
    from ..training.splits import check_disjoint, lfw_split, random_split
    from ..training.trainer import TrainConfig, Trainer

    data = Path(args.data)
    if not data.is_dir():
        err(f"error: {data}: not a folder")
        return EXIT_USAGE
    ckpt_dir = Path(args.checkpoint_dir)
    identities = scan_identities(data)
    if args.max_identities:
        identities = {n: identities[n] for n in sorted(identities)[: args.max_identities]}
    if args.lfw_pairs:
        split = lfw_split(identities, Path(args.lfw_pairs), args.val_fold)
    else:
        split = random_split(list(identities), args.val_fraction, args.seed)
    check_disjoint(split.train, split.val)
    train_ids = {n: identities[n] for n in split.train if len(identities[n]) >= args.min_images}
    val_ids = {n: identities[n] for n in split.val if n in identities}
    if len(train_ids) < args.p:
        err(f"error: only {len(train_ids)} training identities have >= {args.min_images} images; need at least P={args.p}")
        return EXIT_USAGE
    cache = Path(args.cache) if args.cache else ckpt_dir / "chips"
    settings = ctx.settings
    from ..threads import set_threads

    set_threads(settings.threads)  # the global --threads option, else the settings file
    out(f"chips: {sum(map(len, train_ids.values()))} training images of {len(train_ids)} identities, "
         f"{sum(map(len, val_ids.values()))} validation images of {len(val_ids)} identities (no identity in both)")
    train = cached_chips(train_ids, cache, mode=args.crop)
    val = cached_chips(val_ids, cache, mode=args.crop) if val_ids else None

    if args.init:
        model, blob = load_weights_file(args.init)
        arch, kwargs = blob["arch"], blob.get("kwargs", {})
        model.train()
    else:
        arch, kwargs = "compact", {"dim": args.dim, "width": args.width}
        model = CompactNet(**kwargs)
    teacher = None
    if args.distill:
        from ..embedders import load_embedder

        t = load_embedder(args.distill)
        if t.dim != kwargs.get("dim", 128):
            err(f"error: teacher {args.distill} is {t.dim}-d but the model is {kwargs.get('dim', 128)}-d")
            return EXIT_USAGE
        teacher = np.concatenate([t.embed(np.asarray(train.chips[i : i + 256])) for i in range(0, len(train), 256)])
    steps_per_epoch = max(1, len(train_ids) // args.p)
    steps = args.steps or max(1, int(round(args.epochs * steps_per_epoch)))
    cfg = TrainConfig(
        miner=args.miner, margin=args.margin, p=args.p, k=args.k, steps=steps, lr=args.lr,
        warmup=min(50, max(1, steps // 10)), distill_weight=args.distill_weight if teacher is not None else 0.0,
        augment=not args.no_augment, device=args.device, checkpoint_dir=str(ckpt_dir),
        checkpoint_every=args.checkpoint_every, resume=args.resume, log_every=0 if args.quiet else 10,
        val_every=max(args.checkpoint_every, steps // 5), seed=args.seed,
        max_seconds=args.max_minutes * 60 if args.max_minutes else None,
    )
    if not args.quiet:
        logging.getLogger("facerec.training").setLevel(logging.INFO)
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.WARNING, format="%(message)s")
    trainer = Trainer(model, cfg, arch, kwargs)
    res = trainer.fit(train, teacher=teacher, val=val)
    weights_out = Path(args.out) if args.out else ckpt_dir / "model.pt"
    save_weights_file(trainer.model.cpu(), arch, kwargs, weights_out, f"trained-{weights_out.stem}", {"steps": res.step, "data": str(data)})
    summary = {
        "steps": res.step,
        "loss_first": round(res.mean_loss(first=10), 4),
        "loss_last": round(res.mean_loss(last=10), 4),
        "validation_before": res.val[0] if res.val else None,
        "validation": res.val[-1] if res.val else None,
        "checkpoint": res.checkpoint,
        "loss_curve": res.curve,
        "weights": str(weights_out),
        "seconds": round(res.seconds, 1),
    }
    out(json.dumps(summary, indent=2))
    return EXIT_OK


def cmd_adapt(args, ctx: Context) -> int:
    from ..training.adapt import MIN_PEOPLE, MIN_SAMPLES, AdaptConfig, adapt_store, revert

    analyzer = ctx.analyzer
    model_id = analyzer.model_id
    if args.revert:
        removed = revert(ctx.settings.gallery_path, model_id)
        out(f"personalisation for {model_id} {'removed' if removed else 'was not set'}")
        return EXIT_OK
    report = adapt_store(ctx.store, analyzer, AdaptConfig(steps=args.steps, folds=args.folds))
    if args.json:
        out(json.dumps(report.to_dict(), indent=2))
    else:
        out(f"gallery: {report.people} people, {report.samples} samples ({report.eligible_people} with {MIN_SAMPLES}+ samples)")
        if report.baseline == report.baseline:
            out(f"cross-validated identification: {report.baseline * 100:.1f}% without, {report.adapted * 100:.1f}% with personalisation")
        out(("kept: " if report.kept else "not kept: ") + report.reason + (f" ({report.path})" if report.path else ""))
    if report.eligible_people < MIN_PEOPLE:
        err("hint: enrol more people (facerec enrol NAME PHOTO...)")
        return EXIT_FATAL
    return EXIT_OK
