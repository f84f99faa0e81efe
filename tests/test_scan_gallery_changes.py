"""A running ``facerec tag`` notices gallery changes made by other processes (a person removed, another
enrolled, a restore) and matches against the current gallery before it writes: a face is never stored under
a person who was not in the gallery it was matched against, and ids are never reused.

These drive real ``facerec`` processes (``python -m facerec.cli``), as a user at two terminals would."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def facerec(*args: str, db: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facerec.cli", "--db", str(db), *args],
        env=_env(), capture_output=True, text=True, timeout=timeout, cwd=str(REPO),
    )


def _scanned(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _lfw(shared_data: Path, person: str) -> list[Path]:
    folder = shared_data / "lfw" / person
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return sorted(folder.iterdir())


# Y is someone who never stands next to X in X's photos (not Colin Powell: he is in George_W_Bush_0108.jpg, and
# is rightly named there); her nearest face among X's 120 photos is 0.68 away (threshold for 4 samples: 0.60).
Y_PERSON = "Jennifer_Capriati"


def _start_scan(db: Path, photos: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "facerec.cli", "--db", str(db), "--threads", "1", "-q", "tag", str(photos)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO),
    )


def _wait_until_scanning(scan: subprocess.Popen, db: Path, at_least: int = 3) -> None:
    deadline = time.monotonic() + 240
    while _scanned(db) < at_least:
        assert scan.poll() is None, f"the scan ended before the test could change the gallery: {scan.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "the scan did not start"
        time.sleep(0.05)


@pytest.mark.slow
def test_person_removed_and_another_enrolled_during_a_scan(tmp_path, shared_data, sface_installed):
    """Enrol X, start ``tag`` on X's photos, remove X and enrol Y while it runs: none of X's faces may be
    stored (or exported) as Y, and Y never gets X's id."""
    x_photos, y_photos = _lfw(shared_data, "George_W_Bush"), _lfw(shared_data, Y_PERSON)
    db, folder = tmp_path / "gallery.db", tmp_path / "bush"
    folder.mkdir()
    for p in x_photos[4:124]:
        shutil.copy(p, folder / p.name)
    r = facerec("enrol", "X", *map(str, x_photos[:4]), db=db)
    assert r.returncode == 0, r.stderr
    conn = sqlite3.connect(db)
    x_id = conn.execute("SELECT id FROM people WHERE name = 'X'").fetchone()[0]
    conn.close()

    scan = _start_scan(db, folder)
    try:
        _wait_until_scanning(scan, db)
        r = facerec("people", "remove", "X", "--yes", db=db)
        assert r.returncode == 0, r.stderr
        r = facerec("enrol", "Y", *map(str, y_photos[:4]), db=db)
        assert r.returncode == 0, r.stderr
        changed_at = _scanned(db)
        assert scan.poll() is None and changed_at < 120, "the scan must still be running when the gallery changes"
        out, err = scan.communicate(timeout=600)
    finally:
        if scan.poll() is None:
            scan.kill()
    assert scan.returncode in (0, 1), err[-3000:]

    conn = sqlite3.connect(db)
    try:
        y_id = conn.execute("SELECT id FROM people WHERE name = 'Y'").fetchone()[0]
        as_y = conn.execute(
            "SELECT ph.path, f.distance FROM faces f JOIN photos ph ON ph.id = f.photo_id WHERE f.person_id = ?", (y_id,)
        ).fetchall()
        total = conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
    finally:
        conn.close()
    assert y_id != x_id, "a new person must never get the id of a removed one"
    assert total == 120
    assert as_y == [], f"{len(as_y)} faces of X were stored as Y, e.g. {as_y[:3]}"
    r = facerec("tag", str(folder), "--csv", str(tmp_path / "out.csv"), "-q", db=db)  # and nothing exports as Y
    assert ",Y," not in (tmp_path / "out.csv").read_text()


@pytest.mark.slow
def test_restore_during_a_scan_is_noticed(tmp_path, shared_data, sface_installed):
    """A backup restored while a scan runs replaces the gallery: the scan matches against the restored one.
    The backup holds only Y (enrolled under X's id in that gallery); the scan started with X."""
    x_photos, y_photos = _lfw(shared_data, "George_W_Bush"), _lfw(shared_data, Y_PERSON)
    other, db, folder = tmp_path / "other.db", tmp_path / "gallery.db", tmp_path / "bush"
    folder.mkdir()
    for p in x_photos[4:124]:
        shutil.copy(p, folder / p.name)
    assert facerec("enrol", "Y", *map(str, y_photos[:4]), db=other).returncode == 0
    r = facerec("backup", str(tmp_path / "backup"), db=other)
    assert r.returncode == 0, r.stderr
    assert facerec("enrol", "X", *map(str, x_photos[:4]), db=db).returncode == 0

    scan = _start_scan(db, folder)
    try:
        _wait_until_scanning(scan, db)
        r = facerec("restore", str(tmp_path / "backup"), db=db)
        assert r.returncode == 0, r.stderr + r.stdout
        assert scan.poll() is None and _scanned(db) < 120, "the scan must still be running when the gallery is restored"
        out, err = scan.communicate(timeout=600)
    finally:
        if scan.poll() is None:
            scan.kill()
    assert scan.returncode in (0, 1), err[-3000:]
    conn = sqlite3.connect(db)
    try:
        named = conn.execute(
            "SELECT p.name, COUNT(*) FROM faces f JOIN people p ON p.id = f.person_id GROUP BY p.name"
        ).fetchall()
    finally:
        conn.close()
    assert dict(named).get("Y", 0) == 0, f"faces of X stored as Y after the restore: {named}"
