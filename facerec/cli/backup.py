"""``facerec backup OUT`` and ``facerec restore IN``: a consistent, checksummed snapshot of the gallery."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, Context, out


def cmd_backup(args, ctx: Context) -> int:
    from ..backup import backup_gallery

    manifest = backup_gallery(ctx.settings.gallery_path, args.out)
    counts = manifest.counts
    out(
        f"backed up {ctx.settings.gallery_path} to {args.out}: {counts.get('people', 0)} people, "
        f"{counts.get('samples', 0)} samples, {counts.get('photos', 0)} photos, {counts.get('faces', 0)} faces "
        f"(schema {manifest.schema_version}, sha256 {manifest.db_sha256[:12]}...)"
    )
    return EXIT_OK


def cmd_restore(args, ctx: Context) -> int:
    from ..backup import opened_backup, restore_gallery

    if args.check:
        with opened_backup(args.source) as (manifest, _):
            out(f"{args.source}: backup is intact (created {manifest.created}, facerec {manifest.facerec_version}, counts {manifest.counts})")
        return EXIT_OK
    res = restore_gallery(args.source, ctx.settings.gallery_path)
    counts = res.manifest.counts
    out(
        f"restored {args.source} (created {res.manifest.created}) into {res.gallery}: {counts.get('people', 0)} people, "
        f"{counts.get('samples', 0)} samples, {counts.get('photos', 0)} photos"
    )
    if res.kept_copy:
        out(f"the previous gallery is kept at {res.kept_copy}")
    return EXIT_OK


def register(sub, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser(
        "backup", parents=[common], help="write a consistent backup of the gallery",
        description="Snapshot the gallery (safe while it is in use) with a manifest of checksums, to a new folder or a .zip file.",
    )
    s.add_argument("out", metavar="OUT", help="a new folder, or a file name ending in .zip")
    s.set_defaults(func=cmd_backup)
    s = sub.add_parser(
        "restore", parents=[common], help="restore the gallery from a backup (the current one is kept)",
        description="Verify a backup (checksum, integrity, known and installed models) and make it the gallery. "
        "The current gallery is first saved next to it as <name>.before-restore-<time>.db.",
    )
    s.add_argument("source", metavar="IN", help="a backup folder or .zip written by 'facerec backup'")
    s.add_argument("--check", action="store_true", help="only verify the backup; change nothing")
    s.set_defaults(func=cmd_restore)
