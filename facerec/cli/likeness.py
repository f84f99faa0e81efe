"""``facerec groups``, ``facerec map``, ``facerec search``: unknown faces grouped by likeness, the map of faces,
and find-this-face, from the command line (facerec.library.grouping, facemap, similar).

    facerec groups [--min-size N] [--regroup] [--json]        (brought up to date first, then listed)
    facerec groups merge ID ID...  |  split ID FACE_ID...  |  name ID NAME  |  ignore ID
    facerec map --out map.png [--method pca|tsne] [--no-samples] [--json]
    facerec search PHOTO [--top K] [--all-faces] [--json]     |  facerec search --face ID [--top K] [--json]
"""

from __future__ import annotations

import json

from .common import EXIT_FATAL, EXIT_OK, EXIT_USAGE, err, fmt_dist, out, sync_xmp_after_decisions


def _model(ctx) -> tuple[str, float]:
    from ..library.grouping import grouping_threshold, pack_model_id

    return pack_model_id(ctx.settings.model), grouping_threshold(ctx.settings.model)


# -- groups -------------------------------------------------------------------------------------------
def cmd_groups(args, ctx) -> int:
    from ..errors import StoreError
    from ..library import grouping

    store = ctx.store
    model_id, threshold = _model(ctx)
    action = getattr(args, "action", None) or "list"
    try:
        if action == "merge":
            kept = grouping.merge_groups(store, args.ids)
            out(f"merged groups {', '.join(map(str, args.ids))} into group {kept}")
            return EXIT_OK
        if action == "split":
            new = grouping.split_group(store, args.group, args.faces)
            out(f"moved {len(args.faces)} face(s) of group {args.group} into the new group {new}")
            return EXIT_OK
        if action in ("name", "ignore"):
            from ..library.review import MatchPolicy

            policy = MatchPolicy.from_settings(ctx.settings)
            r = grouping.decide_group(store, args.group, "assign" if action == "name" else "ignore",
                                      getattr(args, "name", None), policy)
            sync_xmp_after_decisions(ctx)
            what = f"named {args.name}" if action == "name" else "ignored"
            out(f"group {args.group}: {len(r.changed)} face(s) {what}" + (f", {len(r.refused)} left as they were" if r.refused else ""))
            return EXIT_OK
    except StoreError as exc:
        err(f"error: {exc}")
        return EXIT_FATAL
    update = grouping.update_groups(store, model_id, threshold, full=args.regroup)
    groups = grouping.list_groups(store, model_id, min_size=args.min_size)
    if args.json:
        out(json.dumps({"model_id": model_id, "threshold": threshold, "groups": [g.to_dict() for g in groups]}, indent=2))
        return EXIT_OK
    err(f"{update.faces} unknown face(s); {update.new_faces} new, {update.joined} joined a group, "
         f"{update.created} new group(s) ({update.seconds:.2f} s)")
    if not groups:
        out("no groups" + (f" of {args.min_size} or more faces" if args.min_size > 1 else ""))
    for g in groups:
        shown = " ".join(map(str, g.face_ids[:12])) + (" ..." if len(g) > 12 else "")
        out(f"group {g.id}{' (manual)' if g.manual else ''}: {len(g)} face(s): {shown}")
    return EXIT_OK


# -- map ----------------------------------------------------------------------------------------------
def cmd_map(args, ctx) -> int:
    from ..library.facemap import draw_map, face_map

    model_id, _ = _model(ctx)
    fmap = face_map(ctx.store, model_id, args.method, samples=not args.no_samples)
    if not fmap.points:
        err("no faces to map yet (facerec enrol / facerec tag first)")
        return EXIT_FATAL
    path = draw_map(fmap, args.out)
    if args.json:
        out(json.dumps({**fmap.to_dict(), "image": str(path)}, indent=2))
    else:
        out(f"map of {len(fmap.points)} face(s) ({fmap.method}) written to {path}")
    return EXIT_OK


# -- search -------------------------------------------------------------------------------------------
def cmd_search(args, ctx) -> int:
    from ..errors import FacerecError
    from ..library.similar import similar_to_face, similar_to_photo
    from ..store import FaceStatus

    if (args.photo is None) == (args.face is None):
        err("give a PHOTO or --face ID (one of them)")
        return EXIT_USAGE
    try:
        if args.face is not None:
            queries = [similar_to_face(ctx.store, args.face, args.top)]
        else:
            queries = similar_to_photo(ctx.store, ctx.analyzer, args.photo, args.top, all_faces=args.all_faces)
    except FacerecError as exc:
        err(f"error: {exc}")
        return EXIT_FATAL
    if args.json:
        out(json.dumps([q.to_dict() for q in queries], indent=2))
        return EXIT_OK
    for q in queries:
        box = "" if q.box is None else " at " + ",".join(f"{v:.0f}" for v in q.box)
        out(f"{q.source}{box}: {len(q.matches)} most similar face(s)")
        for m in q.matches:
            who = m.person or ("unknown" if m.status in (FaceStatus.UNKNOWN, FaceStatus.REJECTED) else m.status)
            out(f"  {fmt_dist(m.distance)}  face {m.face_id:<7} {who:<24} {m.path}")
    return EXIT_OK


def register(sub, common) -> None:
    s = sub.add_parser("groups", parents=[common], help="unknown faces grouped by likeness; merge, split, name or ignore a group")
    s.add_argument("--min-size", type=int, default=2, metavar="N", help="list groups of at least N faces (default 2)")
    s.add_argument("--regroup", action="store_true", help="regroup every automatic group from scratch (ids kept where faces overlap)")
    s.add_argument("--json", action="store_true", help="print JSON: each group's id and face ids")
    gs = s.add_subparsers(dest="action", metavar="ACTION")
    x = gs.add_parser("merge", parents=[common], help="merge groups into the first one given")
    x.add_argument("ids", nargs="+", type=int, metavar="ID")
    x = gs.add_parser("split", parents=[common], help="move some faces of a group into a new group")
    x.add_argument("group", type=int, metavar="ID")
    x.add_argument("faces", nargs="+", type=int, metavar="FACE_ID")
    x = gs.add_parser("name", parents=[common], help="name every face of a group (undoable: facerec undo)")
    x.add_argument("group", type=int, metavar="ID")
    x.add_argument("name", metavar="NAME")
    x = gs.add_parser("ignore", parents=[common], help="ignore every face of a group (undoable: facerec undo)")
    x.add_argument("group", type=int, metavar="ID")
    s.set_defaults(func=cmd_groups, action=None)

    s = sub.add_parser("map", parents=[common], help="draw the map of faces (PCA or t-SNE) to a PNG")
    s.add_argument("--out", default="map.png", metavar="PNG", help="image to write (default map.png)")
    s.add_argument("--method", choices=["pca", "tsne"], default="pca", help="pca (all faces) or tsne (a closer look; at most 5,000 faces)")
    s.add_argument("--no-samples", action="store_true", help="library faces only, without the enrolment samples")
    s.add_argument("--json", action="store_true", help="also print the points as JSON")
    s.set_defaults(func=cmd_map)

    s = sub.add_parser("search", parents=[common], help="find this face: the library faces most like a face of a photo, or a stored face")
    s.add_argument("photo", nargs="?", metavar="PHOTO", help="a photo (its largest face, or --all-faces)")
    s.add_argument("--face", type=int, metavar="ID", help="a stored face instead of a photo")
    s.add_argument("--top", type=int, default=10, metavar="K", help="how many faces (default 10)")
    s.add_argument("--all-faces", action="store_true", help="search for every face of the photo")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_search)
