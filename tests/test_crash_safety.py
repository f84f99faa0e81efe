"""Crash safety: ``facerec`` killed with SIGKILL at any point leaves a sound gallery.

Two kinds of kill:
- by time: ``facerec tag`` on real photos is killed at random moments, then rerun;
- by statement: a prelude traces every SQL statement the process runs and SIGKILLs it just before
  statement N, for every N inside an operation (enrol, rename, merge, delete). Each result must be
  exactly the state before or exactly the state after the operation, never a mixture.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facerec.store import GalleryStore, NewFace

REPO = Path(__file__).resolve().parent.parent

# Runs ``facerec.cli.main(argv)``; with FACEREC_TEST_TRACE it writes every SQL statement to that file,
# with FACEREC_TEST_KILL_AT=N it SIGKILLs itself just before the N-th statement (1-based), and with
# FACEREC_TEST_KILL_MATCH=TEXT just before the statement SKIP (default 0) statements after the NTH
# (default 1) statement containing TEXT.
PRELUDE = r"""
import os, signal, sqlite3, sys
kill_at = int(os.environ.get("FACEREC_TEST_KILL_AT") or 0)
kill_match = os.environ.get("FACEREC_TEST_KILL_MATCH")
nth = int(os.environ.get("FACEREC_TEST_KILL_NTH") or 1)
skip = int(os.environ.get("FACEREC_TEST_KILL_SKIP") or 0)
trace = open(os.environ["FACEREC_TEST_TRACE"], "a") if os.environ.get("FACEREC_TEST_TRACE") else None
count = matches = 0
last = None

def on_statement(sql):
    global count, matches, kill_at, last
    if sql == last:  # a statement is reported again as each of its triggers starts: count it once
        return
    last = sql
    count += 1
    if trace:
        trace.write(" ".join(sql.split())[:200] + "\n")
        trace.flush()
    if kill_match and kill_match in sql:
        matches += 1
        if matches == nth:
            kill_at = count + skip
    if count == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

_connect = sqlite3.connect

def connect(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    conn.set_trace_callback(on_statement)
    return conn

sqlite3.connect = connect
sys.path.insert(0, os.environ["FACEREC_REPO"])
from facerec import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEREC_TEST_")}
    env.update(FACEREC_REPO=str(REPO), PYTHONPATH=str(REPO), **{k: str(v) for k, v in extra.items()})
    return env


def facerec(argv: list[str], timeout: float = 300, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PRELUDE, *argv], capture_output=True, text=True, timeout=timeout, env=_env(**env))


def statements(argv: list[str], tmp_path: Path) -> list[str]:
    """The SQL statements one run of ``argv`` executes (on a throwaway copy of the state)."""
    trace = tmp_path / f"trace-{time.monotonic_ns()}.txt"
    proc = facerec(argv, FACEREC_TEST_TRACE=trace)
    assert proc.returncode == 0, proc.stderr
    return trace.read_text().splitlines()


# -- checking a gallery -------------------------------------------------------------------------------
def logical_state(db: Path) -> dict[str, list]:
    """Everything that matters in a gallery, without timestamps."""
    conn = sqlite3.connect(db)
    try:
        return {
            "people": conn.execute("SELECT id, name FROM people ORDER BY id").fetchall(),
            "samples": conn.execute("SELECT id, person_id, model_id, embedding, source_path, source_hash, box, thumbnail, face_id FROM samples ORDER BY id").fetchall(),
            "photos": conn.execute("SELECT id, path, size, mtime_ns, content_hash, width, height, model_id, error FROM photos ORDER BY id").fetchall(),
            "faces": conn.execute("SELECT id, photo_id, box, score, model_id, embedding, person_id, distance, status FROM faces ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


def assert_sound(db: Path, context: str = "") -> None:
    """Integrity, foreign keys, one row per photo, no face stored twice."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", context
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], context
        paths = [r[0] for r in conn.execute("SELECT path FROM photos")]
        assert len(paths) == len(set(paths)), f"a photo is stored twice ({context})"
        dup = conn.execute(
            "SELECT photo_id, box, COUNT(*) FROM faces GROUP BY photo_id, box HAVING COUNT(*) > 1"
        ).fetchall()
        assert dup == [], f"faces stored twice: {dup} ({context})"
    finally:
        conn.close()


# -- tag killed inside a transaction and at random moments -------------------------------------------
# (source in the shared data, name in the test folder); "a_group.jpg" sorts first, so a rescan starts with it.
FIRST = [("_group/obama_and_biden.jpg", "a_group.jpg"), ("obama/obama_small.jpg", "b_obama_small.jpg"), ("_variants/obama-240p.jpg", "c_obama_240p.jpg")]
LATER = [("biden/biden2.jpg", "d_biden2.jpg"), ("_group/kit_with_rose.jpg", "e_kit_with_rose.jpg"), ("_variants/obama-480p.jpg", "f_obama_480p.jpg")]


def _count_photos(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def _decisions(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT ph.path, f.box, f.status, f.person_id FROM faces f JOIN photos ph ON ph.id = f.photo_id "
            "WHERE f.status IN ('confirmed', 'rejected') ORDER BY ph.path, f.box"
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_tag_killed_then_resumed(tmp_path, fr_faces, analyzer):
    """An enrolled gallery with a first scan and user decisions; then ``facerec tag`` on a folder with a
    changed photo and three new ones is killed (1) inside the rescan transaction of the changed photo,
    just after its old faces were deleted, and (2) at a random moment; then rerun to the end. After every
    kill: integrity, no photo or face twice, no enrolment or decision lost; the rerun skips finished work."""
    from facerec.enrolment import enrol_image
    from facerec.tagging import tag_folder

    seed = int(os.environ.get("FACEREC_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    photos, db = tmp_path / "photos", tmp_path / "gallery.db"
    photos.mkdir()
    for src, name in FIRST:
        shutil.copy(fr_faces / src, photos / name)
    with GalleryStore(db) as store:
        enrol_image(store, analyzer, "Obama", fr_faces / "obama" / "obama.jpg")
        enrol_image(store, analyzer, "Biden", fr_faces / "biden" / "biden.jpg")
        list(tag_folder(photos, store, analyzer))
        group = store.photo_faces(str(photos / "a_group.jpg"))
        assert len(group) >= 2
        store.set_face(group[0].id, "confirmed", "Biden")
        store.set_face(group[1].id, "rejected")
    decisions = _decisions(db)
    samples = logical_state(db)["samples"]
    now = time.time_ns()
    os.utime(photos / "a_group.jpg", ns=(now, now))  # changed: it will be rescanned
    for src, name in LATER:
        shutil.copy(fr_faces / src, photos / name)
    total = len(FIRST) + len(LATER)
    argv = ["tag", "--db", str(db), "-q", str(photos)]

    def check(context: str) -> None:
        assert_sound(db, context)
        assert logical_state(db)["samples"] == samples, f"enrolment lost ({context})"
        assert _decisions(db) == decisions, f"a confirmed or rejected face was lost ({context})"

    state = logical_state(db)
    proc = facerec(argv, FACEREC_TEST_KILL_MATCH="UPDATE faces SET box", FACEREC_TEST_KILL_SKIP=1)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    check("killed inside the rescan transaction")
    after = logical_state(db)  # (the run's start re-matched undecided faces: a committed change of its own)
    assert after["photos"] == state["photos"], "the interrupted rescan must be rolled back entirely"
    assert [f[:6] for f in after["faces"]] == [f[:6] for f in state["faces"]], "the interrupted rescan must be rolled back entirely"

    target = rng.randint(len(FIRST), total - 1)
    delay = rng.uniform(0.0, 0.8)
    proc = subprocess.Popen([sys.executable, "-c", PRELUDE, *argv], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while proc.poll() is None and _count_photos(db) < target and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    check(f"seed {seed}: killed after photo {target} + {delay:.2f}s")

    done_before = _count_photos(db)
    with GalleryStore(db) as store:  # the rerun (in-process: the same code as the CLI, without a second model load)
        results = list(tag_folder(photos, store, analyzer))
    check("after the rerun")
    assert sorted(r.path for r in results) == sorted(str(p) for p in photos.iterdir())
    assert all(r.error is None for r in results)
    assert _count_photos(db) == total
    unchanged = sum(r.skipped for r in results)
    if killed:
        assert unchanged >= done_before - 1, f"the rerun redid finished photos (seed {seed}): {unchanged} unchanged of {done_before}"
    with GalleryStore(db) as store:  # every photo is done, at its current version (the rescan included)
        for p in photos.iterdir():
            rec = store.get_photo(str(p))
            assert (rec.size, rec.mtime_ns, rec.error) == (p.stat().st_size, p.stat().st_mtime_ns, None), p.name
    assert any(f.person == "Obama" for r in results for f in r.faces)


# -- operations killed at every statement -------------------------------------------------------------
def _seed_gallery(db: Path) -> None:
    rng = np.random.default_rng(3)
    with GalleryStore(db) as store:
        for name in ("Ada", "Grace", "Linus"):
            for k in range(2):
                store.add_sample(name, rng.normal(size=16).astype(np.float32), "m", source_path=f"/{name}{k}.jpg", thumbnail=bytes(500))
        people = {p.name: p.id for p in store.list_people()}
        for i in range(4):
            faces = [NewFace([10 * k, 0, 10 * k + 8, 8], None, 0.9, rng.normal(size=16).astype(np.float32), people["Ada" if k else "Grace"], 0.3) for k in range(3)]
            store.save_photo(f"/lib/{i}.jpg", 1, 1, None, 100, 100, "m", faces)
        store.set_face(store.photo_faces("/lib/0.jpg")[1].id, "confirmed", "Ada")
        store.set_face(store.photo_faces("/lib/1.jpg")[0].id, "confirmed", "Grace")


OPERATIONS = {
    "rename": ["people", "rename", "Ada", "Ada Lovelace"],
    "merge": ["people", "merge", "Grace", "Ada"],
    "delete": ["people", "remove", "--yes", "Grace"],
}


@pytest.mark.slow
@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_people_operation_killed_at_every_statement(tmp_path, op):
    base = tmp_path / "base.db"
    _seed_gallery(base)
    before = logical_state(base)
    after_db = tmp_path / "after.db"
    shutil.copy(base, after_db)
    trace = statements([*OPERATIONS[op], "--db", str(after_db)], tmp_path)
    after = logical_state(after_db)
    assert after != before
    first = next(i for i, sql in enumerate(trace) if sql.startswith("BEGIN"))
    points = range(first + 1, len(trace) + 1)  # 1-based: kill just before each statement of the operation
    assert len(points) >= 4
    for n in points:
        db = tmp_path / f"kill{n}.db"
        shutil.copy(base, db)
        proc = facerec([*OPERATIONS[op], "--db", str(db)], FACEREC_TEST_KILL_AT=n)
        assert proc.returncode == -signal.SIGKILL, f"{op}: statement {n} ({trace[n - 1]}) was never reached"
        assert_sound(db)
        state = logical_state(db)
        assert state in (before, after), f"{op} killed before statement {n} ({trace[n - 1]}): partly applied"
        if op == "delete":
            # whatever happened, confirmed faces of the people who remain are kept
            assert state["faces"][1][-1] == "confirmed"
        db.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)


@pytest.mark.slow
def test_enrol_killed_mid_way_keeps_earlier_enrolments(tmp_path, fr_faces, analyzer):
    """``facerec enrol`` of three photos, killed inside the second one's transaction: the first sample is
    kept, the second is absent (not half-written), and a rerun completes without duplicates."""
    from facerec.enrolment import enrol_image

    db = tmp_path / "gallery.db"
    images = [str(fr_faces / n) for n in ("obama/obama_small.jpg", "_variants/obama-240p.jpg", "_variants/obama-480p.jpg")]
    argv = ["enrol", "--db", str(db), "Obama", *images]
    # add_sample runs INSERT INTO samples, then UPDATE people, then COMMIT: kill at the second photo's UPDATE.
    proc = facerec(argv, FACEREC_TEST_KILL_MATCH="UPDATE people SET updated_at", FACEREC_TEST_KILL_NTH=2)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert_sound(db)
    state = logical_state(db)
    assert [s[4] for s in state["samples"]] == [images[0]], "the first enrolment must be kept, the second not half-written"
    assert state["people"] == [(1, "Obama")]
    first_embedding = state["samples"][0][3]
    with GalleryStore(db) as store:  # the rerun, in-process (same code as the CLI's enrol loop)
        for image in images:
            enrol_image(store, analyzer, "Obama", image)
    assert_sound(db)
    final = logical_state(db)
    assert sorted(s[4] for s in final["samples"]) == sorted(images), "the rerun adds each missing sample once"
    assert final["samples"][0][3] == first_embedding
