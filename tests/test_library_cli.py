"""The library from the command line, with real ``facerec`` processes on the shared photos (issue 13's
"done when"): scan with two people enrolled; assign one unknown Kit Harington face to a new person; without
any rescan his other photos' faces are suggested for him; ``facerec undo`` restores the previous state
exactly; ``facerec photos --person obama --person biden`` lists exactly the photos holding both."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.data, pytest.mark.slow]

BOTH = {"_group/obama_and_biden.jpg", "_group/two_people.jpg"}
"""The photos of the shared set that show Obama and Biden together."""


def facerec(db: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "FACEREC_HOME": str(db.parent / "home")}
    proc = subprocess.run([sys.executable, "-m", "facerec.cli", "--db", str(db), "-q", *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, f"facerec {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def state(db: Path) -> dict[str, list[tuple]]:
    """Every row a decision can touch, as stored (read with plain sqlite3, not through facerec)."""
    conn = sqlite3.connect(db)
    try:
        return {
            "faces": conn.execute("SELECT id, photo_id, box, person_id, status, distance, source, embedding FROM faces ORDER BY id").fetchall(),
            "people": conn.execute("SELECT * FROM people ORDER BY id").fetchall(),
            "samples": conn.execute("SELECT * FROM samples ORDER BY id").fetchall(),
            "rejections": conn.execute("SELECT * FROM face_rejections ORDER BY face_id, person_id").fetchall(),
            "photos": conn.execute("SELECT * FROM photos ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


def test_assign_teaches_undo_restores_and_search(tmp_path, fr_faces, sface_installed):
    db = tmp_path / "g.db"
    facerec(db, "enrol", "obama", str(fr_faces / "obama/obama.jpg"))
    facerec(db, "enrol", "biden", str(fr_faces / "biden/biden.jpg"))
    facerec(db, "tag", "-r", str(fr_faces))

    faces = json.loads(facerec(db, "faces", "list", "--json").stdout)
    kit = [f for f in faces if "/kit_harington/" in f["path"]]
    assert len(kit) == 3 and all(f["status"] == "unknown" and f["person"] is None for f in kit)
    before = state(db)

    chosen = next(f for f in kit if f["path"].endswith("johnsnow_test1.jpg"))
    out = facerec(db, "faces", "assign", str(chosen["id"]), "Kit Harington").stdout
    assert "assigned to Kit Harington: 1 face" in out
    after = state(db)
    assert after["photos"] == before["photos"]  # no rescan: no photo was touched
    assert [f[:3] + f[-2:] for f in after["faces"]] == [f[:3] + f[-2:] for f in before["faces"]]  # same faces, same embeddings

    mine = {f["path"]: f for f in json.loads(facerec(db, "faces", "list", "--person", "Kit Harington", "--json").stdout)}
    assert mine[chosen["path"]]["status"] == "confirmed"
    others = [f for f in kit if f["id"] != chosen["id"]]
    assert all(mine[f["path"]]["status"] == "suggested" and mine[f["path"]]["person"] == "Kit Harington" for f in others)
    suggested = json.loads(facerec(db, "faces", "list", "--status", "suggested", "--json").stdout)
    assert {f["id"] for f in others} <= {f["id"] for f in suggested if f["person"] == "Kit Harington"}

    assert "undid: assign face" in facerec(db, "undo").stdout
    assert state(db) == before  # exactly the previous state
    assert "nothing to undo" in facerec(db, "undo").stdout

    hits = json.loads(facerec(db, "photos", "--person", "obama", "--person", "biden", "--json").stdout)
    assert {os.path.relpath(h["path"], fr_faces) for h in hits} == BOTH
    assert all({"obama", "biden"} <= set(h["people"]) for h in hits)
    anyone = json.loads(facerec(db, "photos", "--person", "obama", "--person", "biden", "--any", "--json").stdout)
    assert {h["path"] for h in hits} < {h["path"] for h in anyone}
    without = json.loads(facerec(db, "photos", "--person", "obama", "--without", "biden", "--json").stdout)
    assert not {h["path"] for h in without} & {h["path"] for h in hits} and without


def test_decisions_from_the_command_line(tmp_path, fr_faces, sface_installed):
    """reject / ignore / reset / confirm, refusals with exit 1, a face drawn by hand, person pages, rescan offer."""
    db = tmp_path / "g.db"
    facerec(db, "enrol", "obama", str(fr_faces / "obama/obama.jpg"))
    facerec(db, "tag", str(fr_faces / "obama"))
    faces = json.loads(facerec(db, "faces", "list", "--json").stdout)
    ids = [f["id"] for f in faces if f["status"] == "suggested"]
    assert len(ids) >= 4
    facerec(db, "faces", "confirm", str(ids[0]))
    facerec(db, "faces", "reject", str(ids[1]))
    facerec(db, "faces", "ignore", str(ids[2]))
    refused = facerec(db, "faces", "confirm", str(ids[2]), "999999", check=False)
    assert refused.returncode == 1 and "face 999999" in refused.stderr
    by_id = {f["id"]: f for f in json.loads(facerec(db, "faces", "list", "--json").stdout)}
    assert [by_id[i]["status"] for i in ids[:3]] == ["confirmed", "rejected", "ignored"]
    facerec(db, "faces", "reset", str(ids[2]))
    assert {f["id"]: f for f in json.loads(facerec(db, "faces", "list", "--json").stdout)}[ids[2]]["status"] == "suggested"
    history = facerec(db, "undo", "--list").stdout
    assert "reset face" in history and "ignore face" in history and "reject face" in history

    photo = str(fr_faces / "obama/obama.jpg")
    (face,) = json.loads(facerec(db, "faces", "list", "--photo", photo, "--json").stdout)
    x1, y1, x2, y2 = face["box"]
    added = facerec(db, "faces", "add", photo, str(x1), str(y1), str(x2), str(y2), "--name", "Obama drawn").stdout
    assert "detector found it within the box" in added
    page = json.loads(facerec(db, "person", "show", "Obama drawn", "--json").stdout)
    assert page["counts"]["confirmed"] == 1 and page["faces"][0]["source"] == "manual"
    facerec(db, "undo")
    assert len(json.loads(facerec(db, "faces", "list", "--photo", photo, "--json").stdout)) == 1

    (sample,) = json.loads(facerec(db, "person", "samples", "obama", "--json").stdout)
    facerec(db, "person", "remove-sample", str(sample["id"]))
    assert json.loads(facerec(db, "person", "samples", "obama", "--json").stdout) == []
    facerec(db, "undo")
    assert json.loads(facerec(db, "person", "samples", "obama", "--json").stdout) == [sample]

    offer = json.loads(facerec(db, "--min-face-size", "40", "rescan", "--json").stdout)
    assert offer["outdated"] == offer["total"] > 0
    assert json.loads(facerec(db, "rescan", "--json").stdout)["outdated"] == 0
    assert "rescanned" in facerec(db, "--min-face-size", "40", "rescan").stdout
    assert json.loads(facerec(db, "--min-face-size", "40", "rescan", "--json").stdout)["outdated"] == 0
    kept = {(f["path"], f["status"]) for f in json.loads(facerec(db, "faces", "list", "--json").stdout)}
    assert {(by_id[i]["path"], s) for i, s in zip(ids[:2], ("confirmed", "rejected"))} <= kept  # decisions carried over
