"""``facerec enrol`` and ``facerec people list|rename|merge|remove``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..wording import noun, plural
from .common import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, Context, err, out, sync_xmp_after_decisions
from .library import match_policy


def register(sub, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("enrol", parents=[common], help="add photos of a person to the gallery", description="Add one face per photo as a sample of NAME (a new name creates the person).")
    s.add_argument("name")
    s.add_argument("images", nargs="+", metavar="IMG")
    s.add_argument("--largest", action="store_true", help="when a photo has several faces, take the largest")
    s.set_defaults(func=cmd_enrol)

    s = sub.add_parser("people", parents=[common], help="list, rename, merge or remove people")
    ps = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = ps.add_parser("list", parents=[common], help="enrolled people with sample counts")
    x.add_argument("--json", action="store_true", help="print JSON")
    x.set_defaults(read_only=True)
    x = ps.add_parser("rename", parents=[common], help="rename a person")
    x.add_argument("old")
    x.add_argument("new")
    x = ps.add_parser("merge", parents=[common], help="merge SOURCE into TARGET (samples and tags move)")
    x.add_argument("source")
    x.add_argument("target")
    x = ps.add_parser("remove", parents=[common], help="delete a person and erase their face data")
    x.add_argument("name")
    x.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    s.set_defaults(func=cmd_people)


def cmd_enrol(args, ctx: Context) -> int:
    from ..enrolment import enrol_image
    from ..errors import EnrolmentError, ImageError

    failed = 0
    for img in args.images:
        try:
            res = enrol_image(ctx.store, ctx.analyzer, args.name, img, largest=args.largest)
        except (ImageError, EnrolmentError) as exc:
            err(f"refused: {exc}")
            failed += 1
            continue
        note = f" (largest of {res.faces_in_image} faces)" if res.faces_in_image > 1 else ""
        out(f"enrolled {img} as {args.name}{note}")
    person = ctx.store.find_person(args.name)
    if person:
        n = len(ctx.store.list_samples(person.id))
        out(f"{person.name}: {plural(n, 'sample')}")
    if failed < len(args.images):  # new evidence: the library's undecided faces are re-matched at once
        from ..library.review import rematch

        rem = rematch(ctx.store, match_policy(ctx))
        if rem.examined:
            out(f"re-matched {plural(rem.examined, 'undecided library face')}: {rem.changed} changed, {rem.suggested} suggested")
    return EXIT_PARTIAL if failed else EXIT_OK


def cmd_people(args, ctx: Context) -> int:
    if args.action == "list" and not getattr(args, "db", None) and _no_gallery_yet(ctx.settings.gallery_path):
        out("[]" if args.json else "no people enrolled yet (facerec enrol NAME PHOTO...)")
        return EXIT_OK
    store = ctx.store
    if args.action == "list":
        people = store.list_people()
        if args.json:
            out(json.dumps([{"name": p.name, "samples": p.sample_count, "faces": p.face_count} for p in people], indent=2))
        elif not people:
            out("no people enrolled yet (facerec enrol NAME PHOTO...)")
        else:
            width = max(len(p.name) for p in people)
            for p in people:
                samples, faces = p.sample_count, p.face_count
                out(f"{p.name:<{width}}  {samples:>3} {noun(samples, 'sample'):<7}  {faces:>5} tagged {noun(faces, 'face')}")
        return EXIT_OK
    from ..library import people as library_people

    if args.action == "rename":
        library_people.rename_person(store, args.old, args.new)  # undoable (facerec undo)
        out(f"renamed {args.old} to {args.new}")
    elif args.action == "merge":
        _, res = library_people.merge_people(store, match_policy(ctx), args.source, args.target)  # undoable, re-matches
        out(f"merged {args.source} into {args.target}")
        if res is not None and res.changed:
            out(f"re-matched {plural(res.examined, 'undecided library face')}: {res.changed} changed")
    elif args.action == "remove":
        person = store.get_person(args.name)
        if not args.yes:
            if not sys.stdin.isatty():
                err(f"refusing to delete {person.name} without --yes (it erases their face data)")
                return EXIT_USAGE
            answer = input(f"Delete {person.name} and erase all their face data? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                out("kept")
                return EXIT_OK
        library_people.remove_person(store, match_policy(ctx), person.id)  # not undoable; their faces are re-matched
        if not store.erase_complete:
            out(
                f"removed {person.name}: their samples are deleted, but another program (a facerec window?) is reading "
                "the gallery, so their old data stays in the file until it stops; facerec finishes erasing it the "
                "next time it opens the gallery"
            )
            return EXIT_PARTIAL
        out(f"removed {person.name} and erased their samples")
    sync_xmp_after_decisions(ctx)
    return EXIT_OK


def _no_gallery_yet(location) -> bool:
    """The default gallery file has not been created yet (a first run)."""
    from ..config import is_database_url

    return not is_database_url(location) and not Path(location).exists()
