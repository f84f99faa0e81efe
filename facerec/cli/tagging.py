"""``facerec identify IMG...`` and ``facerec tag FOLDER`` (incremental, resumable; --json/--csv streamed)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, Context, err, fmt_dist, out


def register(sub, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("identify", parents=[common], help="name the faces in photos")
    s.add_argument("images", nargs="+", metavar="IMG")
    s.add_argument("--json", action="store_true", help="print JSON records instead of lines")
    s.set_defaults(func=cmd_identify, read_only=True)

    s = sub.add_parser("tag", parents=[common], help="tag every photo in a folder (incremental, resumable)")
    s.add_argument("folder")
    s.add_argument("-r", "--recursive", action="store_true", help="include subfolders")
    s.add_argument("--json", metavar="OUT", help="write one JSON record per image")
    s.add_argument("--csv", metavar="OUT", help="write one CSV row per face")
    s.add_argument("--force", action="store_true", help="re-analyse photos even when unchanged")
    s.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="analyse the photos on a Ray cluster (HOST:PORT; no address: a local Ray instance); "
                        "the folder must have the same path on every node (pip install 'facerec[cluster]')")
    s.add_argument("--ray-workers", type=int, metavar="N", help="Ray workers (default: one per CPU of the cluster)")
    s.set_defaults(func=cmd_tag)


def cmd_identify(args, ctx: Context) -> int:
    from ..errors import GalleryMissingError, ImageError

    analyzer = ctx.analyzer
    model_id = analyzer.model_id  # a missing model is reported first
    try:
        gallery = ctx.store.gallery_index(model_id)
    except GalleryMissingError as exc:  # identifying reads the gallery: none is created for it
        from ..matching import GalleryIndex

        err(f"warning: {exc}")
        gallery = GalleryIndex.empty(model_id)
    if len(gallery) == 0:
        err(f"warning: the gallery has no samples for model {analyzer.model_id}; every face will be unknown")
    failed = 0
    records: list[dict] = []
    for img in args.images:
        try:
            faces = analyzer.analyze(img, gallery=gallery)
        except ImageError as exc:
            err(f"error: {exc}")
            records.append({"path": str(img), "faces": [], "error": exc.reason})
            failed += 1
            continue
        records.append({"path": str(img), "faces": [f.to_dict() for f in faces], "error": None})
        if args.json:
            continue
        if not faces:
            out(f"{img}: no faces")
        for f in faces:
            name = f.match.name if f.match.known else "unknown"
            box = ",".join(str(int(round(v))) for v in f.box)
            best = f" (nearest: {f.match.candidates[0].name})" if not f.match.known and f.match.candidates else ""
            out(f"{img}: {name}  distance={fmt_dist(f.match.distance)}{best}  box={box}")
    if args.json:
        out(json.dumps(records, indent=2))
    return EXIT_PARTIAL if failed else EXIT_OK


def cmd_tag(args, ctx: Context) -> int:
    import threading

    from tqdm import tqdm

    from ..library.export import TagOutputs
    from ..tagging import tag_folder

    folder = Path(args.folder)
    if not folder.is_dir():
        err(f"error: {folder}: not a folder")
        return EXIT_USAGE
    analyzer, store = ctx.analyzer, ctx.store
    analyzer.prepare()  # fail early if a model is missing
    bar = tqdm(total=0, unit="photo", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)

    retried = [0]

    def progress(p):
        retried[0] = p.retried
        bar.total = p.total
        bar.n = p.done
        bar.set_postfix(faces=p.faces, errors=p.errors, skipped=p.skipped, refresh=False)
        bar.refresh()

    cancel = threading.Event()
    images, faces, errors, named = 0, 0, 0, 0
    outputs = TagOutputs(args.json, args.csv)  # streamed: memory stays flat however big the folder
    options = dict(recursive=args.recursive, progress=progress, cancel=cancel, force=args.force)
    if getattr(args, "ray", None) is not None:  # a ClusterError (no Ray, cluster unreachable) exits 3 via main
        from ..ray_tagging import tag_folder_on_ray

        address = None if args.ray == "local" else args.ray
        results = tag_folder_on_ray(folder.resolve(), store, analyzer, address=address, workers=args.ray_workers, **options)
    else:
        results = tag_folder(folder.resolve(), store, analyzer, **options)
    try:
        for res in results:
            outputs.write(res.to_dict())
            images += 1
            faces += len(res.faces)
            if res.error:
                errors += 1
                bar.write(f"error: {res.path}: {res.error}", file=sys.stderr)
            named += sum(1 for f in res.faces if f.person)
            if args.verbose and not res.error:
                names = ", ".join(f.person or "unknown" for f in res.faces) or "no faces"
                bar.write(f"{res.path}: {names}{' (unchanged)' if res.skipped else ''}", file=sys.stderr)
    except KeyboardInterrupt:
        cancel.set()
        outputs.abort()
        bar.close()
        err("interrupted: finished photos are saved; run the same command again to resume")
        return EXIT_INTERRUPTED
    except BaseException:
        outputs.abort()
        raise
    bar.close()
    outputs.close()
    again = f"; {retried[0]} that failed last time retried" if retried[0] else ""
    out(f"{images} images, {faces} faces ({named} named), {errors} unreadable{again}")
    from ..library.rescan import rescan_offer

    offer = rescan_offer(store, analyzer.model_id, analyzer.settings.detector.min_face_size)
    if offer.outdated:  # other folders of the library were scanned with other settings
        err(offer.describe())
    return EXIT_PARTIAL if errors else EXIT_OK
