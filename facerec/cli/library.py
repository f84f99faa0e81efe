"""``facerec faces``, ``facerec photos``, ``facerec person``, ``facerec undo``, ``facerec rescan``: the library
from the command line (every GUI action on faces is scriptable; see facerec.library).

    facerec faces list [--person NAME] [--status S] [--photo PATH] [--json]
    facerec faces confirm|reject|ignore|reset ID...
    facerec faces assign ID... NAME
    facerec faces add PHOTO X1 Y1 X2 Y2 [--name NAME]
    facerec faces rematch
    facerec photos --person A [--person B] [--any] [--without C] [--folder DIR] [--from DATE] [--to DATE] [--json]
    facerec person show|hide|unhide|samples NAME, facerec person feature NAME FACE_ID, facerec person remove-sample ID
    facerec undo [--list]
    facerec rescan [--all] [--dry-run]
"""

from __future__ import annotations

import argparse
import json

from ..wording import plural
from .common import EXIT_FATAL, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, err, fmt_dist, out, sync_xmp_after_decisions


def match_policy(ctx):
    """The model and threshold in force (from the settings: no model is loaded for a decision)."""
    from ..library.review import MatchPolicy

    if getattr(ctx.args, "weights", None):
        return MatchPolicy.from_analyzer(ctx.analyzer)
    return MatchPolicy.from_settings(ctx.settings)


def _status(text: str) -> str:
    from ..store import FaceStatus

    t = text.strip().lower()
    if t == "suggested":
        return FaceStatus.SUGGESTED.value
    try:
        return FaceStatus(t).value
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown status {text!r} (unknown, suggested, confirmed, rejected, ignored)") from None


def _status_name(value: str) -> str:
    from ..store import FaceStatus

    return "suggested" if value == FaceStatus.SUGGESTED else value


def face_dict(f) -> dict:
    """One face as ``faces list --json`` prints it."""
    return {
        "id": f.id, "path": f.path, "box": f.box, "person": f.person if f.status != "rejected" else None,
        "status": _status_name(f.status), "distance": None if f.distance is None else round(f.distance, 4), "source": f.source,
    }


# -- faces --------------------------------------------------------------------------------------------
def cmd_faces(args, ctx) -> int:
    if args.action == "list":
        return _faces_list(args, ctx)
    if args.action == "add":
        return _faces_add(args, ctx)
    if args.action == "rematch":
        from ..library.review import rematch_logged

        rem = rematch_logged(ctx.store, match_policy(ctx), "re-match the library")
        out(f"re-matched {plural(rem.examined, 'undecided face')} at threshold {rem.threshold:.4f}: {rem.changed} changed, {rem.suggested} suggested")
        return EXIT_OK
    from ..library.review import Action, decide

    person = args.name if args.action == "assign" else None
    res = decide(ctx.store, match_policy(ctx), args.ids, Action(args.action), person)
    for fid, reason in res.refused:
        err(f"face {fid}: {reason}")
    if res.changed:
        verb = {"confirm": "confirmed", "reject": "rejected", "ignore": "ignored", "reset": "reset", "assign": f"assigned to {person}:"}[args.action]
        out(f"{verb} {plural(len(res.changed), 'face')} ({', '.join(map(str, res.changed))})")
    if res.rematch is not None:
        out(f"re-matched {plural(res.rematch.examined, 'undecided face')}: {res.rematch.changed} changed, {res.rematch.suggested} suggested")
    if res.changed:
        sync_xmp_after_decisions(ctx)
    return EXIT_PARTIAL if res.refused else EXIT_OK


def _faces_list(args, ctx) -> int:
    store = ctx.store
    photo_path: str | None = None
    if args.photo:
        from pathlib import Path

        photo_path = str(Path(args.photo).resolve())
    faces = store.faces(person=args.person, status=args.status, photo_path=photo_path, limit=args.limit)
    if args.json:
        out(json.dumps([face_dict(f) for f in faces], indent=2))
        return EXIT_OK
    if not faces:
        out("no faces")
    for f in faces:
        d = face_dict(f)
        box = ",".join(str(int(round(v))) for v in f.box)
        who = d["person"] or "-"
        if f.status == "rejected" and f.person_id is not None:
            p = store.find_person(f.person_id)
            who = f"not {p.name}" if p else "-"
        manual = " (drawn)" if f.source == "manual" else ""
        out(f"{f.id:>6}  {d['status']:<9}  {who:<20}  {fmt_dist(f.distance):>6}  {box:<19}  {f.path}{manual}")
    return EXIT_OK


def _faces_add(args, ctx) -> int:
    from pathlib import Path

    from ..errors import ImageError
    from ..library.manual import add_manual_face

    try:
        res = add_manual_face(ctx.store, ctx.analyzer, str(Path(args.photo).resolve()), args.box, args.name, match_policy(ctx))
    except ImageError as exc:
        err(f"error: {exc}")
        return EXIT_FATAL
    how = "detector found it within the box" if res.how == "detected" else "aligned from the box"
    named = f", assigned to {args.name}" if args.name else ""
    out(f"added face {res.face_id} ({how}){named}")
    if args.name:
        sync_xmp_after_decisions(ctx)
    return EXIT_OK


# -- photos -------------------------------------------------------------------------------------------
def cmd_photos(args, ctx) -> int:
    from ..library.search import PhotoQuery, search_photos

    if not (args.person or args.without or args.folder or args.date_from or args.date_to):
        err("error: say what to look for: --person, --without, --folder, --from or --to")
        return EXIT_USAGE
    query = PhotoQuery(
        people=args.person or [], any_person=args.any, without=args.without or [], folder=args.folder,
        date_from=args.date_from, date_to=args.date_to, confirmed_only=args.confirmed, limit=args.limit,
    )
    try:
        hits = search_photos(ctx.store, query)
    except ValueError as exc:
        err(f"error: {exc}")
        return EXIT_USAGE
    if args.json:
        out(json.dumps([h.to_dict() for h in hits], indent=2))
        return EXIT_OK
    for h in hits:
        date = f"{h.taken_at}  " if h.taken_at else ""
        out(f"{h.path}  {date}({', '.join(h.people) or 'nobody'})")
    if not args.quiet:
        err(plural(len(hits), "photo"))
    return EXIT_OK


# -- person -------------------------------------------------------------------------------------------
def cmd_person(args, ctx) -> int:
    from ..library import people

    store = ctx.store
    if args.action == "show":
        page = people.person_page(store, args.name, limit=args.limit)
        if args.json:
            out(json.dumps({
                "id": page.person.id, "name": page.person.name, "hidden": page.hidden, "feature_face": page.feature_face_id,
                "counts": vars(page.counts), "faces": [vars(f) for f in page.faces],
            }, indent=2))
            return EXIT_OK
        c = page.counts
        hidden = " (hidden)" if page.hidden else ""
        out(f"{page.person.name}{hidden}: {c.photos} photos, {c.confirmed} confirmed, {c.suggested} suggested, {c.rejected} rejected, {c.samples} samples")
        if page.feature_face_id is not None:
            out(f"feature face: {page.feature_face_id}{'' if page.feature_chosen else ' (first confirmed)'}")
        for f in page.faces:
            out(f"{f.face_id:>6}  {_status_name(f.status):<9}  {fmt_dist(f.distance):>6}  {f.path}")
        return EXIT_OK
    if args.action in ("hide", "unhide"):
        p = people.set_hidden(store, args.name, args.action == "hide")
        out(f"{p.name} is {'hidden' if args.action == 'hide' else 'shown'}")
        return EXIT_OK
    if args.action == "samples":
        samples = store.list_samples(args.name)
        if args.json:
            out(json.dumps([{"id": x.id, "model": x.model_id, "source": x.source_path, "box": x.box} for x in samples], indent=2))
            return EXIT_OK
        for x in samples:
            out(f"{x.id:>6}  {x.model_id:<16}  {x.source_path or '-'}")
        return EXIT_OK
    if args.action == "remove-sample":
        owner = store.sample_owner(args.sample)
        if owner is None:
            err(f"error: no sample with id {args.sample}")
            return EXIT_FATAL
        res = people.remove_sample(store, match_policy(ctx), args.sample)
        out(f"removed sample {args.sample} (facerec undo puts it back)")
        if res is not None and res.changed:
            out(f"re-matched {plural(res.examined, 'undecided face')}: {res.changed} changed")
        sync_xmp_after_decisions(ctx)
        return EXIT_OK
    p = people.set_feature_face(store, args.name, args.face)
    out(f"feature face of {p.name}: {args.face}")
    return EXIT_OK


# -- undo ---------------------------------------------------------------------------------------------
def cmd_undo(args, ctx) -> int:
    import time

    from ..library import undo

    if args.list:
        ops = undo.history(ctx.store, limit=args.limit)
        if not ops:
            out("nothing to undo")
        for op in ops:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(op.created_at))
            out(f"{op.id:>5}  {when}  {op.summary}")
        return EXIT_OK
    res = undo.undo(ctx.store)
    if res is None:
        out("nothing to undo")
        return EXIT_OK
    out(f"undid: {res.summary}")
    sync_xmp_after_decisions(ctx)
    if res.skipped:
        err(f"warning: {res.skipped} rows could not be put back (their photos were rescanned or removed since)")
    return EXIT_OK


# -- rescan -------------------------------------------------------------------------------------------
def cmd_rescan(args, ctx) -> int:
    from ..library.rescan import rescan, rescan_offer

    offer = rescan_offer(ctx.store, ctx.analyzer.model_id, ctx.settings.detector.min_face_size)
    todo = offer.total if args.all else offer.outdated
    if args.json or args.dry_run:
        if args.json:
            out(json.dumps(offer.to_dict(), indent=2))
        else:
            out(offer.describe())
        return EXIT_OK
    if not todo:
        out(offer.describe())
        return EXIT_OK
    res = rescan(ctx.store, ctx.analyzer, everything=args.all, progress=None if args.quiet else err)
    out(f"rescanned {res.photos} photos: {res.faces} faces, {res.errors} unreadable; decisions carried over")
    return EXIT_PARTIAL if res.errors else EXIT_OK


def _face_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a face id: {text!r}") from None
    return value


def register(sub, common) -> None:
    s = sub.add_parser("faces", parents=[common], help="list faces of the library and decide on them (confirm, reject, ignore, assign)")
    fs = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = fs.add_parser("list", parents=[common], help="faces with id, photo, box, person, status, distance")
    x.add_argument("--person", metavar="NAME", help="only faces of this person (confirmed, suggested or rejected for them)")
    x.add_argument("--status", type=_status, metavar="S", help="unknown, suggested, confirmed, rejected or ignored")
    x.add_argument("--photo", metavar="PATH", help="only faces in this photo")
    x.add_argument("--limit", type=int, metavar="N", help="at most N faces")
    x.add_argument("--json", action="store_true", help="print JSON")
    for name, text in (
        ("confirm", "confirm the suggested person of each face"),
        ("reject", "not the person suggested: never suggested for them again"),
        ("ignore", "not a face / don't care: out of suggestions and groups"),
        ("reset", "forget the decision on each face (undecided again, re-matched)"),
    ):
        x = fs.add_parser(name, parents=[common], help=text)
        x.add_argument("ids", nargs="+", type=_face_id, metavar="ID")
    x = fs.add_parser("assign", parents=[common], help="confirm faces as NAME (a new name creates the person)")
    x.add_argument("ids", nargs="+", type=_face_id, metavar="ID")
    x.add_argument("name", metavar="NAME")
    x = fs.add_parser("add", parents=[common], help="a face the detector missed: embed the box X1 Y1 X2 Y2 (photo pixels)")
    x.add_argument("photo", metavar="PHOTO")
    x.add_argument("box", nargs=4, type=float, metavar=("X1", "Y1", "X2", "Y2"))
    x.add_argument("--name", metavar="NAME", help="assign the face to this person")
    fs.add_parser("rematch", parents=[common], help="re-match undecided faces now (e.g. after a threshold change)")
    s.set_defaults(func=cmd_faces)

    s = sub.add_parser("photos", parents=[common], help="search photos by people, folder and date taken")
    s.add_argument("--person", action="append", metavar="NAME", help="photos holding this person (repeat: all of them)")
    s.add_argument("--any", action="store_true", help="any of the --person names, not all of them")
    s.add_argument("--without", action="append", metavar="NAME", help="photos not holding this person (repeatable)")
    s.add_argument("--folder", metavar="DIR", help="only photos under this folder")
    s.add_argument("--from", dest="date_from", metavar="DATE", help="taken on or after DATE (YYYY, YYYY-MM, YYYY-MM-DD)")
    s.add_argument("--to", dest="date_to", metavar="DATE", help="taken on or before DATE (the whole period)")
    s.add_argument("--confirmed", action="store_true", help="count confirmed faces only (not suggestions)")
    s.add_argument("--limit", type=int, metavar="N", help="at most N photos")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_photos)

    s = sub.add_parser("person", parents=[common], help="a person's page: photos, counts, feature face, hide")
    ps = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = ps.add_parser("show", parents=[common], help="the person's faces (confirmed, then suggestions) and counts")
    x.add_argument("name")
    x.add_argument("--limit", type=int, metavar="N")
    x.add_argument("--json", action="store_true", help="print JSON")
    for name, text in (("hide", "leave the person out of the people list"), ("unhide", "show a hidden person again")):
        x = ps.add_parser(name, parents=[common], help=text)
        x.add_argument("name")
    x = ps.add_parser("feature", parents=[common], help="choose the face that stands for the person")
    x.add_argument("name")
    x.add_argument("face", type=_face_id, metavar="FACE_ID")
    x = ps.add_parser("samples", parents=[common], help="the person's enrolment samples (id, model, source photo)")
    x.add_argument("name")
    x.add_argument("--json", action="store_true", help="print JSON")
    x = ps.add_parser("remove-sample", parents=[common], help="remove one enrolment sample (undoable; re-matches)")
    x.add_argument("sample", type=int, metavar="SAMPLE_ID")
    s.set_defaults(func=cmd_person)

    s = sub.add_parser("undo", parents=[common], help="undo the last decision, assignment, merge, sample removal or ignore")
    s.add_argument("--list", action="store_true", help="list what can be undone, newest first")
    s.add_argument("--limit", type=int, default=20, metavar="N")
    s.set_defaults(func=cmd_undo)

    s = sub.add_parser("rescan", parents=[common], help="rescan photos scanned with another model or minimum face size (decisions kept)")
    s.add_argument("--all", action="store_true", help="rescan every photo of the library")
    s.add_argument("--dry-run", action="store_true", help="only say what would be rescanned")
    s.add_argument("--json", action="store_true", help="print the rescan offer as JSON (nothing is rescanned)")
    s.set_defaults(func=cmd_rescan)
