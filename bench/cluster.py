"""Beyond one machine, measured side by side in one run: the local tagger vs tagging on Ray (1 and 2 workers),
and the bottlenecks of a large library: decode I/O, model loading per worker, the gallery's write rate
(SQLite vs PostgreSQL, one and four writers) and nearest-face search (exact vs pgvector).

    python bench/cluster.py                              # 200 LFW photos, a local Ray instance with 2 CPUs
    python bench/cluster.py --photos 400 --out bench/results/cluster.json

The photos are copied from ``$FACEREC_DATA/lfw`` into a temporary folder (the same files for every run); five
people from ``faces/face_recognition`` are enrolled so matching does real work. PostgreSQL is a local pgserver
(PostgreSQL 16 + pgvector, fsync on), the same as the tests use.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import emit, machine_load  # noqa: E402

ENROL = {
    "obama": "obama/obama.jpg",
    "biden": "biden/biden.jpg",
    "kit_harington": "kit_harington/john1.jpeg",
    "rose_leslie": "rose_leslie/img1.jpg",
    "alex_lacamoire": "alex_lacamoire/img1.jpg",
}


def _photos(data: Path, n: int, dest: Path) -> list[Path]:
    people = sorted(p for p in (data / "lfw").iterdir() if p.is_dir())
    files = [sorted(p.iterdir())[0] for p in random.Random(0).sample(people, n)]
    dest.mkdir(parents=True)
    out = []
    for i, f in enumerate(files):
        target = dest / f"{i:05d}_{f.name}"
        shutil.copyfile(f, target)
        out.append(target)
    return out


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else float("inf")


def _enrolled(target, analyzer, faces_dir: Path):
    from facerec.enrolment import enrol_image
    from facerec.store import GalleryStore

    store = GalleryStore(target)
    for name, photo in ENROL.items():
        enrol_image(store, analyzer, name, faces_dir / photo)
    return store


def bench_decode(analyzer, photos: list[Path]) -> dict:
    from facerec.files import file_digest

    t0 = time.perf_counter()
    nbytes = 0
    for p in photos:
        analyzer.load(p)
        file_digest(p)
        nbytes += p.stat().st_size
    dt = time.perf_counter() - t0
    return {"photos_per_s": _rate(len(photos), dt), "mb_per_s": round(nbytes / 1e6 / dt, 2), "threads": 1}


def bench_local(analyzer, folder: Path, tmp: Path, faces_dir: Path) -> dict:
    from facerec.tagging import tag_folder

    tmp.mkdir(exist_ok=True)
    store = _enrolled(tmp / "local.db", analyzer, faces_dir)
    t0, c0 = time.perf_counter(), _cpu()
    results = list(tag_folder(folder, store, analyzer))
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    store.close()
    return {"workers": int(analyzer.settings.threads), "photos": len(results), "seconds": round(dt, 2),
            "photos_per_s": _rate(len(results), dt), "cpu_ms_per_photo": round(cpu / len(results) * 1000, 1),
            "faces": sum(len(r.faces) for r in results), "errors": sum(r.error is not None for r in results)}


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def bench_ray(analyzer, folder: Path, tmp: Path, faces_dir: Path, workers: int) -> dict:
    from facerec.ray_tagging import RayAnalysis, tag_folder_on_ray

    store = _enrolled(tmp / f"ray{workers}.db", analyzer, faces_dir)
    t0 = time.perf_counter()
    analysis = RayAnalysis(analyzer.settings, workers=workers)
    analysis.pids()  # every actor has loaded its models
    startup = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), _cpu() + analysis.cpu_seconds()
    results = list(tag_folder_on_ray(folder, store, analyzer, analysis=analysis))
    dt, cpu = time.perf_counter() - t1, _cpu() + analysis.cpu_seconds() - c1
    analysis.close()
    store.close()
    return {"workers": workers, "photos": len(results), "startup_s": round(startup, 2), "seconds": round(dt, 2),
            "photos_per_s": _rate(len(results), dt), "photos_per_s_with_startup": _rate(len(results), dt + startup),
            "cpu_ms_per_photo": round(cpu / len(results) * 1000, 1), "cpu_note": "driver + actors (Ray's own daemons not counted)",
            "faces": sum(len(r.faces) for r in results), "errors": sum(r.error is not None for r in results)}


def _writes(store, n: int, writers: int, dim: int = 128) -> float:
    """Photos saved per second (each with two faces, its own transaction) by ``writers`` threads."""
    from facerec.store import NewFace

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(n * 2, dim)).astype(np.float32)

    def work(w: int) -> None:
        for i in range(w, n, writers):
            faces = [NewFace([10, 10, 60, 60], None, 0.99, emb[2 * i], None, None),
                     NewFace([80, 10, 130, 60], None, 0.98, emb[2 * i + 1], None, None)]
            store.save_photo(f"/lib/{i:07d}.jpg", 1000, i, f"h{i}", 640, 480, "bench", faces)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _rate(n, time.perf_counter() - t0)


def new_database(server_url: str) -> str:
    """A fresh database on the pgserver; its URL."""
    import psycopg

    name = f"bench_{time.monotonic_ns()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.replace("/postgres?", f"/{name}?", 1)


def bench_db(tmp: Path, n: int, server_url: str, search_faces: int) -> dict:
    from facerec.store import GalleryStore

    out: dict = {"photos_written": n, "faces_per_photo": 2}
    for label, target in (("sqlite", lambda: tmp / f"w{time.monotonic_ns()}.db"), ("postgresql", lambda: new_database(server_url))):
        for writers in (1, 4):
            store = GalleryStore(target())
            out[f"{label}_{writers}_writer_photos_per_s"] = _writes(store, n, writers)
            store.close()
    # nearest-face search: exact (SQLite, every embedding read) vs pgvector HNSW, on the same faces
    rng = np.random.default_rng(1)
    lite, pg = GalleryStore(tmp / "search.db"), GalleryStore(new_database(server_url))
    from facerec.store import NewFace

    vecs = rng.normal(size=(search_faces, 128)).astype(np.float32)
    for s in (lite, pg):
        with s.transaction():
            for i in range(0, search_faces, 10):
                s.save_photo(f"/s/{i}.jpg", 1, 1, None, 9, 9, "bench", [NewFace([0, 0, 5, 5], None, 0.9, v, None, None) for v in vecs[i : i + 10]])
    queries = vecs[rng.choice(search_faces, 20, replace=False)] + rng.normal(scale=0.05, size=(20, 128)).astype(np.float32)
    t0 = time.perf_counter()
    pg.nearest_faces(queries[0], "bench", 10)  # builds the pgvector copy and its HNSW index
    build = time.perf_counter() - t0
    times, recall, first = {}, [], []
    for label, s in (("exact_sqlite", lite), ("pgvector_hnsw", pg)):
        t0 = time.perf_counter()
        answers = [s.nearest_faces(q, "bench", 10) for q in queries]
        times[label] = round((time.perf_counter() - t0) / len(queries) * 1000, 2)
        if label == "exact_sqlite":
            exact = answers
        else:
            recall = [len({f for f, _ in a} & {f for f, _ in e}) / 10 for a, e in zip(answers, exact)]
            first = [a[0][0] == e[0][0] for a, e in zip(answers, exact)]
    out["search"] = {"faces": search_faces, "k": 10, "ms_per_query": times, "pgvector_index_build_s": round(build, 2),
                     "pgvector_recall_at_10": round(float(np.mean(recall)), 3), "pgvector_nearest_same": round(float(np.mean(first)), 3),
                     "vectors": "random normal 128-d; each query = a stored vector + noise (sd 0.05)"}
    lite.close()
    pg.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--writes", type=int, default=400, help="photos written per database write-rate run")
    ap.add_argument("--search-faces", type=int, default=20000)
    ap.add_argument("--out")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="facerec-cluster-bench-"))
    from facerec.config import keep_models_dir

    os.environ.update(keep_models_dir())
    os.environ["FACEREC_HOME"] = str(tmp / "home")
    data = Path(os.environ.get("FACEREC_DATA") or REPO.parent / "shared" / "data")
    faces_dir = data / "faces" / "face_recognition"
    folder = tmp / "photos"
    photos = _photos(data, args.photos, folder)

    from facerec.config import Settings
    from facerec.pipeline import FaceAnalyzer

    analyzer = FaceAnalyzer(Settings())
    result: dict = {"machine": machine_load(), "photos": len(photos), "source": "LFW, one photo per person (random.Random(0))"}
    result["decode"] = bench_decode(analyzer, photos)
    result["local"] = bench_local(analyzer, folder, tmp, faces_dir)

    import ray

    from facerec.ray_tagging import connect

    connect(None, num_cpus=os.cpu_count())
    result["ray"] = [bench_ray(analyzer, folder, tmp, faces_dir, w) for w in (1, 2)]
    ray.shutdown()
    result["local_again"] = bench_local(analyzer, folder, tmp / "again", faces_dir)  # the machine's drift, side by side

    import pgserver

    server = pgserver.get_server(tempfile.mkdtemp(prefix="facerec-pgdata-"), cleanup_mode="delete")
    try:
        result["database"] = bench_db(tmp, args.writes, server.get_uri(), args.search_faces)
    finally:
        server.cleanup()
    result["machine_after"] = machine_load()
    shutil.rmtree(tmp, ignore_errors=True)
    emit(result, args.out)


if __name__ == "__main__":
    main()
