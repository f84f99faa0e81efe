"""``facerec tag --force`` after changing detector settings keeps every user decision: each confirmation,
rejection and assignment is carried over to the re-detected face (by box overlap, keeping the face's id),
and a decision whose face is no longer detected is kept (source 'kept', a manual face), never dropped.

Driven through real ``facerec`` processes (``python -m facerec.cli``)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from facerec.store import GalleryStore, carry_over

REPO = Path(__file__).resolve().parent.parent


def facerec(*args: str, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facerec.cli", "--db", str(db), "-q", *args],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600, cwd=str(REPO),
    )


def _decisions(db: Path) -> tuple[dict[int, tuple], set[tuple[int, int]]]:
    """Confirmations and assignments (face id -> person, status), and rejections (face id, person id): a
    rejected face may be suggested for someone else later, its rejection stays (facerec.library.review)."""
    conn = sqlite3.connect(db)
    try:
        decided = {
            r[0]: tuple(r[1:])
            for r in conn.execute("SELECT id, person_id, status FROM faces WHERE status IN ('confirmed', 'ignored') ORDER BY id")
        }
        rejections = {tuple(r) for r in conn.execute("SELECT face_id, person_id FROM face_rejections")}
        return decided, rejections
    finally:
        conn.close()


@pytest.mark.slow
def test_force_rescan_with_other_detector_settings_keeps_every_decision(tmp_path, shared_data, fr_faces, sface_installed):
    photos, db = tmp_path / "photos", tmp_path / "gallery.db"
    photos.mkdir()
    for p in sorted((fr_faces / "_group").iterdir()):
        shutil.copy(p, photos / p.name)
    for p in sorted((shared_data / "lfw" / "George_W_Bush").iterdir())[:40]:
        shutil.copy(p, photos / p.name)
    r = facerec("tag", str(photos), db=db)
    assert r.returncode == 0, r.stderr
    with GalleryStore(db) as store:
        faces = store.faces()
        assert len(faces) >= 40
        for k, face in enumerate(faces):  # decide on every face: confirm, assign, reject
            if k % 3 == 0:
                store.set_face(face.id, "confirmed", "Ann")
            elif k % 3 == 1:
                store.set_face(face.id, "confirmed", "Bob")
            else:
                store.set_face(face.id, "rejected", "Ann")
    decisions = _decisions(db)
    assert len(decisions[0]) + len(decisions[1]) == len(faces)

    r = facerec("--min-face-size", "80", "tag", "--force", str(photos), db=db)  # small faces are no longer found
    assert r.returncode == 0, r.stderr
    assert _decisions(db) == decisions, "a rescan must carry every decision over, under the same face id"
    with GalleryStore(db) as store:
        kept = [f for f in store.faces() if f.source == "kept"]
        assert kept, "the test needs faces the second detector setting does not find"

    r = facerec("tag", "--force", str(photos), db=db)  # back to the first settings: the faces are found again
    assert r.returncode == 0, r.stderr
    assert _decisions(db) == decisions
    with GalleryStore(db) as store:
        after = store.faces()
    assert len(after) == len(faces), "re-detected faces take their decisions back: no duplicates"
    assert not [f for f in after if f.source == "kept"]


def test_carry_over_serves_decisions_first_one_to_one():
    old = [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]]
    new = [[0.5, 0.5, 10.5, 10.5], [100, 100, 110, 110]]
    # the second old face is the user's decision: it gets the overlapping detection, the undecided one does not
    assert carry_over(old, [False, True, False], new) == {0: 1}
    assert carry_over(old, [False, False, False], new) == {0: 0}
    assert carry_over(old, [True, True, True], []) == {}
