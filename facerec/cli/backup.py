"""``facerec backup OUT`` and ``facerec restore IN``: a consistent, checksummed snapshot of the gallery."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, Context, out


def describe_counts(counts: dict) -> str:
    """``"2 people, 1 sample, 30 photos, 41 faces"`` from a backup manifest's counts."""
    from ..wording import plural

    return ", ".join(
        plural(int(counts.get(key, 0)), word, many) for key, word, many in
        (("people", "person", "people"), ("samples", "sample", None), ("photos", "photo", None), ("faces", "face", None))
    )


def cmd_backup(args, ctx: Context) -> int:
    from ..backup import backup_gallery

    manifest = backup_gallery(ctx.settings.gallery_path, args.out)
    counts = manifest.counts
    out(
        f"backed up {ctx.settings.gallery_path} to {args.out}: {describe_counts(counts)} "
        f"(schema {manifest.schema_version}, sha256 {manifest.db_sha256[:12]}...)"
    )
    return EXIT_OK


def cmd_restore(args, ctx: Context) -> int:
    from ..backup import opened_backup, restore_gallery

    if args.check:
        with opened_backup(args.source) as (manifest, _):
            out(
                f"{args.source}: the backup is intact (checksums, database integrity, models known and installed); "
                f"made {manifest.created} by facerec {manifest.facerec_version}: {describe_counts(manifest.counts)}"
            )
        return EXIT_OK
    res = restore_gallery(args.source, ctx.settings.gallery_path)
    counts = res.manifest.counts
    out(
        f"restored {args.source} (made {res.manifest.created}) into {res.gallery}: {describe_counts(counts)}"
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
