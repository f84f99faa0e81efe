"""Library benchmark: all 13,233 LFW photos as a people-tagged collection.

Builds the library once through the real pipeline (``tag_folder`` over ``$FACEREC_DATA/lfw``: MTCNN +
SFace, every face stored), then enrols everyone with at least two photos from the face of their first
photo (so most other photos get suggestions), and keeps it under ``--cache`` (default
``/tmp/facerec-bench-library``) so later runs start at once. Every run measures on a fresh copy:

- a decision and the re-matching it causes (``review.decide``: assign an unknown face to a new person, the
  undo log entry, re-matching every undecided face from its stored embedding), and its undo;
- a person page of 500+ photos (``people.person_page``: the query plus the data each thumbnail needs:
  face id, photo path, box, photo size), George W. Bush's, after confirming his photos;
- searches (``search.search_photos``): two people together, any of three, one without another, with a
  folder, with a date range.

    python bench/library.py --out bench/results/library.json
    python bench/library.py --rebuild          # tag LFW again (about 10 minutes on 2 cores)

Targets (issue 13): re-matching after a decision < 1 s; a person page with 500 photos < 300 ms; a search < 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import emit, machine_load  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BIG = "George_W_Bush"


def _lfw() -> Path:
    env = os.environ.get("FACEREC_DATA")
    return (Path(env) if env else REPO.parent / "shared" / "data") / "lfw"


def _central(faces, w, h):
    return min(faces, key=lambda f: ((f.box[0] + f.box[2]) / 2 - w / 2) ** 2 + ((f.box[1] + f.box[3]) / 2 - h / 2) ** 2)


def build(cache: Path, analyzer, workers: int) -> dict:
    """Tag every LFW photo into ``cache/gallery.db`` and enrol people with 2+ photos; returns build facts."""
    from facerec.library.review import MatchPolicy, rematch
    from facerec.store import GalleryStore
    from facerec.tagging import tag_folder

    cache.mkdir(parents=True, exist_ok=True)
    db = cache / "gallery.db"
    for p in cache.glob("gallery.db*"):
        p.unlink()
    lfw = _lfw()
    t0 = time.perf_counter()
    photos = faces = errors = 0
    with GalleryStore(db) as store:
        for res in tag_folder(lfw, store, analyzer, recursive=True, workers=workers):
            photos += 1
            faces += len(res.faces)
            errors += res.error is not None
            if photos % 1000 == 0:
                print(f"tagged {photos} photos ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        tag_s = time.perf_counter() - t0
        enrolled = 0
        for person_dir in sorted(p for p in lfw.iterdir() if p.is_dir()):
            files = sorted(person_dir.glob("*.jpg"))
            if len(files) < 2:
                continue
            rec = store.get_photo(str(files[0]))
            found = store.photo_faces(str(files[0])) if rec else []
            if not found:
                continue
            face = _central(found, rec.width or 250, rec.height or 250)
            emb = store.face_embeddings([face.id])[0]
            store.add_sample(person_dir.name, emb, analyzer.model_id, face.path, rec.content_hash, face.box, face_id=face.id)
            enrolled += 1
        rm = rematch(store, MatchPolicy.from_analyzer(analyzer))
        store.checkpoint()
    facts = {"photos": photos, "faces": faces, "errors": errors, "tag_s": round(tag_s, 1), "workers": workers, "people_enrolled": enrolled,
             "suggested_after_enrolment": rm.suggested, "model_id": analyzer.model_id}
    (cache / "built.json").write_text(json.dumps(facts, indent=2))
    return facts


def timed(fn, repeat: int) -> tuple[list[float], object]:
    out, last = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        last = fn()
        out.append((time.perf_counter() - t) * 1000)
    return out, last


def summary(ms: list[float]) -> dict:
    ms_sorted = sorted(ms)
    return {
        "n": len(ms), "first_ms": round(ms[0], 2), "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms_sorted[min(len(ms) - 1, int(0.95 * len(ms)))], 2), "max_ms": round(max(ms), 2),
    }


def measure(db: Path, analyzer, repeat: int, seed: int) -> dict:
    from facerec.library import people, undo
    from facerec.library.review import Action, MatchPolicy, decide, rematch
    from facerec.library.search import PhotoQuery, search_photos
    from facerec.store import GalleryStore

    rng = random.Random(seed)
    store = GalleryStore(db)
    policy = MatchPolicy.from_analyzer(analyzer)
    stats = store.stats()
    out: dict = {"library": stats}

    ms, res = timed(lambda: rematch(store, policy), repeat)
    out["rematch_nothing_changed"] = {**summary(ms), "undecided_faces": res.examined, "threshold": round(res.threshold, 4)}

    unknown = [f.id for f in store.faces(status="unknown")]
    picks = rng.sample(unknown, min(repeat, len(unknown)))
    decision_ms, undo_ms, changed = [], [], []
    for i, fid in enumerate(picks):
        t = time.perf_counter()
        r = decide(store, policy, [fid], Action.ASSIGN, f"Bench person {i}")
        decision_ms.append((time.perf_counter() - t) * 1000)
        changed.append(r.rematch.changed)
        t = time.perf_counter()
        undo.undo(store)
        undo_ms.append((time.perf_counter() - t) * 1000)
    out["decision_with_rematch"] = {**summary(decision_ms), "faces_changed_per_decision": changed, "undecided_faces": r.rematch.examined}
    out["undo_of_a_decision"] = summary(undo_ms)

    big = []  # the central face of each of his photos (others in the background are not him)
    for photo in store.photos(under=str(_lfw() / BIG)):
        found = store.photo_faces(photo.path)
        if found:
            big.append(_central(found, photo.width or 250, photo.height or 250).id)
    t = time.perf_counter()
    bulk = decide(store, policy, big, Action.ASSIGN, BIG)
    out["assign_all_photos_of_one_person"] = {"faces": len(big), "ms": round((time.perf_counter() - t) * 1000, 1), "rematch_changed": bulk.rematch.changed}

    def page():
        p = people.person_page(store, BIG)
        return p, [(f.face_id, f.path, f.box, f.width, f.height) for f in p.faces]  # what each thumbnail needs

    ms, (pg, thumbs) = timed(page, repeat)
    out["person_page"] = {**summary(ms), "photos": pg.counts.photos, "faces_listed": len(thumbs), "confirmed": pg.counts.confirmed, "suggested": pg.counts.suggested}

    pairs = _co_occurring(store)
    queries = {
        "two_people_together": PhotoQuery(people=list(pairs[0])) if pairs else PhotoQuery(people=[BIG]),
        "any_of_three": PhotoQuery(people=[BIG, "Colin_Powell", "Tony_Blair"], any_person=True),
        "one_without_another": PhotoQuery(people=[BIG], without=["Colin_Powell"]),
        "person_in_folder": PhotoQuery(people=["Tony_Blair"], folder=str(_lfw() / "Tony_Blair")),
        "person_and_date_range": PhotoQuery(people=[BIG], date_from="2001", date_to="2005-06"),
    }
    dated = store._conn().execute("SELECT COUNT(*) FROM photos WHERE taken_at != ''").fetchone()[0]
    out["search"] = {"photos_with_a_date_taken": dated}
    for name, q in queries.items():
        ms, hits = timed(lambda q=q: search_photos(store, q), repeat)
        out["search"][name] = {**summary(ms), "hits": len(hits), "people": q.people, "without": q.without, "any": q.any_person}
    store.close()
    return out


def _co_occurring(store) -> list[tuple[str, str]]:
    """Pairs of people suggested or confirmed in the same photo, most frequent first."""
    rows = store._conn().execute(
        """SELECT a.name, b.name, COUNT(*) AS n FROM faces fa JOIN faces fb ON fa.photo_id = fb.photo_id AND fa.person_id < fb.person_id
           JOIN people a ON a.id = fa.person_id JOIN people b ON b.id = fb.person_id
           WHERE fa.status IN ('auto', 'confirmed') AND fb.status IN ('auto', 'confirmed') GROUP BY fa.person_id, fb.person_id ORDER BY n DESC LIMIT 5"""
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="/tmp/facerec-bench-library", help="where the tagged library is kept between runs")
    ap.add_argument("--rebuild", action="store_true", help="tag LFW again even if the cache exists")
    ap.add_argument("--workers", type=int, default=2, help="tagging threads for the build")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()

    from facerec.config import Settings, keep_models_dir
    from facerec.pipeline import FaceAnalyzer

    keep_models_dir()
    analyzer = FaceAnalyzer(Settings())
    cache = Path(args.cache)
    built = cache / "built.json"
    if args.rebuild or not built.is_file():
        facts = build(cache, analyzer, args.workers)
    else:
        facts = json.loads(built.read_text())
    run_db = cache / "run.db"
    for p in cache.glob("run.db*"):
        p.unlink()
    shutil.copyfile(cache / "gallery.db", run_db)
    result = {
        "benchmark": "library", "built": facts, "cache": str(cache),
        **measure(run_db, analyzer, args.repeat, args.seed),
        "targets_ms": {"decision_with_rematch": 1000, "person_page": 300, "search": 200},
        "machine": {**machine_load(), "python": platform.python_version()},
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
