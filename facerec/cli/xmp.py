"""``facerec xmp write|status FOLDER`` and ``facerec import-tags FOLDER``: face regions in the photos' XMP
(facerec.library.xmp_sync)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from ..wording import plural
from .common import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, Context, err, out


def _folder(args) -> Path | None:
    folder = Path(args.folder)
    if not folder.is_dir():
        err(f"error: {folder}: not a folder")
        return None
    return folder.resolve()


def cmd_xmp(args, ctx: Context) -> int:
    from ..library.xmp_sync import XmpState, write_xmp, xmp_status

    folder = _folder(args)
    if folder is None:
        return EXIT_USAGE
    settings = ctx.settings
    style = getattr(args, "style", None) or settings.xmp_sidecar_style
    if not ctx.store.photos(str(folder)) and not args.json:
        err(f"note: no scanned photos under {folder}: facerec knows nothing to write there yet (facerec tag {args.folder} -r)")
    if args.action == "status":
        entries = xmp_status(ctx.store, folder, style, suggestions=args.include_suggestions)
        counts = Counter(e.state.value for e in entries)
        if args.json:
            out(json.dumps({"counts": {s.value: counts.get(s.value, 0) for s in XmpState},
                             "photos": [{"path": e.path, "xmp": e.target, "state": e.state.value, "names": e.names} for e in entries]}, indent=2))
            return EXIT_OK
        for e in entries:
            if args.verbose or e.state != XmpState.CURRENT:
                out(f"{e.state.value:<9}  {e.target}  ({', '.join(e.names) or 'no names'})")
        out(", ".join(f"{counts.get(s.value, 0)} {s.value}" for s in XmpState) + f" (photos with names or XMP written by facerec under {folder})")
        return EXIT_OK
    summary = write_xmp(
        ctx.store, folder, style=style, embedded=args.embed, suggestions=args.include_suggestions, force=args.force,
    )
    if args.json:
        out(json.dumps(summary.to_dict(), indent=2))
    else:
        for path, reason in summary.errors:
            err(f"error: {path}: {reason}")
        where = "into the photos (embedded XMP)" if args.embed else f"as {style} sidecars"
        out(f"wrote {plural(summary.written, 'XMP file')} {where}, {summary.unchanged} already current, {summary.removed} removed, "
             f"{len(summary.errors)} failed ({summary.seconds:.2f} s)")
    return EXIT_PARTIAL if summary.errors else EXIT_OK


def cmd_import_tags(args, ctx: Context) -> int:
    import threading

    from tqdm import tqdm

    from ..library.xmp_sync import import_tags

    folder = _folder(args)
    if folder is None:
        return EXIT_USAGE
    analyzer, store = ctx.analyzer, ctx.store
    analyzer.prepare()  # fail early if a model is missing
    before = {p.name for p in store.list_people()}
    bar = tqdm(total=0, unit="photo", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)

    def progress(p) -> None:
        bar.total = p.total
        bar.n = p.done
        bar.refresh()

    cancel = threading.Event()
    try:
        outcome = import_tags(store, analyzer, folder, recursive=args.recursive, style=ctx.settings.xmp_sidecar_style,
                              promote=not args.no_samples, progress=progress, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        bar.close()
        err("interrupted: photos done so far are saved; run the same command again to go on")
        return 130
    bar.close()
    people = [p for p in store.list_people() if p.name not in before]
    if args.json:
        d = outcome.to_dict()
        d["new_people"] = [{"name": p.name, "samples": p.sample_count, "faces": p.face_count} for p in people]
        out(json.dumps(d, indent=2))
        return EXIT_PARTIAL if outcome.errors else EXIT_OK
    for path, reason in outcome.errors:
        err(f"error: {path}: {reason}")
    out(f"{plural(outcome.photos, 'photo')} with named face regions, {plural(outcome.regions, 'region')}: "
         f"{plural(outcome.confirmed, 'detected face')} confirmed, {plural(outcome.added, 'face')} added from region boxes, "
         f"{outcome.already} already confirmed, {outcome.kept} left as decided in facerec")
    if people:
        out(f"{plural(len(people), 'new person', 'new people')}:")
        for p in people:
            out(f"  {p.name}: {plural(p.sample_count, 'sample')}, {plural(p.face_count, 'tagged face')}")
    return EXIT_PARTIAL if outcome.errors else EXIT_OK


def register(sub, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("xmp", parents=[common], help="write face regions into XMP sidecars or photos; show what is stale",
                       description="Face regions in the photos' metadata (MWG and Microsoft regions, PersonInImage, keywords).")
    xs = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = xs.add_parser("write", parents=[common], help="write each photo's named faces (sidecars by default)")
    x.add_argument("folder")
    x.add_argument("--embed", action="store_true", help="write into the photos themselves (needs exiftool; pixels are never rewritten)")
    x.add_argument("--include-suggestions", action="store_true", help="also write faces facerec suggested but nobody confirmed")
    x.add_argument("--style", choices=["digikam", "lightroom"], help="sidecar name: photo.jpg.xmp (digikam) or photo.xmp (lightroom); default: the setting")
    x.add_argument("--force", action="store_true", help="rewrite files that are already current")
    x.add_argument("--json", action="store_true", help="print a JSON summary")
    x = xs.add_parser("status", parents=[common], help="which photos' XMP is current, stale, missing or not written")
    x.add_argument("folder")
    x.add_argument("--include-suggestions", action="store_true", help="count suggestions as names for photos not written yet")
    x.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_xmp)

    s = sub.add_parser("import-tags", parents=[common], help="bootstrap the gallery from face tags of digiKam, Lightroom, Picasa...",
                       description="Scan FOLDER and import the named face regions of its photos' XMP (sidecars or embedded): "
                                   "faces are confirmed for those people (created if new) and become their samples.")
    s.add_argument("folder")
    s.add_argument("-r", "--recursive", action="store_true", help="include subfolders")
    s.add_argument("--no-samples", action="store_true", help="confirm the faces but do not make them enrolment samples")
    s.add_argument("--json", action="store_true", help="print a JSON summary")
    s.set_defaults(func=cmd_import_tags)
