"""Photos that fail: a photo that killed two scans is skipped, with the reason, on the next rerun (real
``facerec`` processes, SIGKILLed while they decode the photo; one kill alone never costs a photo); a photo that failed for the file system's sake
(permissions, an unplugged drive, an I/O error) is retried by the next scan, which says how many."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from facerec.errors import ImageError
from facerec.library.inflight import KILLED_REASON, ScanJournal
from facerec.tagging import tag_folder

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "facerec.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _kill_while_decoding(scan: subprocess.Popen, journals: Path, photo: Path) -> None:
    """SIGKILL ``scan`` while its own journal says it is analysing ``photo`` (as the OOM killer would)."""
    deadline = time.monotonic() + 240
    try:
        while True:
            assert scan.poll() is None, "the scan ended before it was killed: " + scan.stderr.read()[-2000:]
            assert time.monotonic() < deadline, f"the scan never started {photo.name}"
            own = journals.glob(f"scan-{scan.pid}-*.log") if journals.is_dir() else []  # not a dead scan's journal
            lines = [ln for j in own for ln in j.read_text().splitlines()]
            if lines and lines[-1] == f"S\t{photo}":
                scan.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        scan.wait(60)
    assert scan.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_photo_that_killed_the_scan_is_skipped_on_the_rerun(tmp_path, fr_faces, sface_installed):
    photos, db = tmp_path / "photos", tmp_path / "gallery.db"
    photos.mkdir()
    for name, src in [("a.jpg", "obama/obama.jpg"), ("b.jpg", "biden/biden.jpg"), ("d.jpg", "obama/obama2.jpg"), ("e.jpg", "biden/biden2.jpg")]:
        shutil.copy(fr_faces / src, photos / name)
    heavy = photos / "c_heavy.png"
    Image.new("RGB", (9000, 9000), (90, 120, 150)).save(heavy)  # seconds to decode: time to kill
    journals = tmp_path / ".facerec-scans"

    def scan() -> subprocess.Popen:
        return subprocess.Popen(
            _cli("--db", str(db), "--threads", "1", "-q", "tag", str(photos)),
            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO),
        )

    _kill_while_decoding(scan(), journals, heavy)  # one kill: a strike, not a verdict (it may have come from outside)
    rerun = scan()
    _kill_while_decoding(rerun, journals, heavy)  # the rerun analyses it first, alone, and dies on it again
    conn = sqlite3.connect(db)
    try:
        assert str(heavy) not in dict(conn.execute("SELECT path, error FROM photos").fetchall()), "a photo was skipped after one kill"
    finally:
        conn.close()

    rerun = subprocess.run(_cli("--db", str(db), "-q", "tag", str(photos)), env=_env(), capture_output=True, text=True, cwd=str(REPO), timeout=300, check=False)
    assert rerun.returncode == 1, rerun.stderr  # done, one input failed
    assert f"{heavy}: {KILLED_REASON}" in rerun.stderr
    conn = sqlite3.connect(db)
    try:
        rows = dict(conn.execute("SELECT path, error FROM photos").fetchall())
    finally:
        conn.close()
    assert rows.pop(str(heavy)) == KILLED_REASON
    assert sorted(rows) == sorted(str(photos / n) for n in ("a.jpg", "b.jpg", "d.jpg", "e.jpg")) and not any(rows.values())
    again = subprocess.run(_cli("--db", str(db), "-q", "tag", str(photos)), env=_env(), capture_output=True, text=True, cwd=str(REPO), timeout=300, check=False)
    assert again.returncode == 1 and KILLED_REASON in again.stderr  # still skipped while the file is unchanged
    assert list(journals.glob("scan-*.log")) == [], "a finished scan leaves no journal behind"


def _die(journal: ScanJournal) -> None:
    """The scan owning ``journal`` is killed: its lock goes, its file stays."""
    os.close(journal.fd)


def test_several_photos_in_flight_are_retried_one_at_a_time(tmp_path):
    """When a scan died with several photos in flight, the next one analyses them alone; a photo alone in
    flight at a death gets a strike, and alone at a second death it is the culprit."""
    (tmp_path / "scan-1-0.log").write_text("S\t/p/a.jpg\nS\t/p/b.jpg\nE\t/p/c.jpg\nS\t/p/c.jpg\nE\t/p/c.jpg\n")
    j = ScanJournal.open(tmp_path)
    assert (j.culprits, j.suspects, j.struck) == (set(), {"/p/a.jpg", "/p/b.jpg"}, set())
    j.start("/p/a.jpg")  # this scan dies while analysing a.jpg alone: one strike
    _die(j)
    j2 = ScanJournal.open(tmp_path)
    assert (j2.culprits, j2.suspects, j2.struck) == (set(), {"/p/a.jpg"}, {"/p/a.jpg"})
    j2.start("/p/a.jpg")  # and again: the second strike
    _die(j2)
    j3 = ScanJournal.open(tmp_path)
    assert (j3.culprits, j3.suspects, j3.struck) == ({"/p/a.jpg"}, set(), set())
    j3.close()
    assert list(tmp_path.glob("scan-*.log")) == []


def test_one_kill_never_condemns_a_photo(tmp_path):
    """A photo alone in flight at one death (a user's kill -9 looks the same as its own) is analysed again;
    its strike lasts until it is analysed to the end, even across a scan that dies before reaching it."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    j = ScanJournal.open(tmp_path)
    j.start(photo)
    _die(j)
    j2 = ScanJournal.open(tmp_path)
    assert (j2.culprits, j2.struck) == (set(), {str(photo)})
    _die(j2)  # dies while loading its models, before any photo
    j3 = ScanJournal.open(tmp_path)
    assert (j3.culprits, j3.struck) == (set(), {str(photo)})
    j3.start(photo)
    j3.end(photo)  # analysed to the end: the strike is gone
    j3.start(tmp_path / "b.jpg")
    _die(j3)
    j4 = ScanJournal.open(tmp_path)
    assert (j4.culprits, j4.struck) == (set(), {str(tmp_path / "b.jpg")})
    j4.close()


def test_a_live_scans_journal_is_left_alone(tmp_path):
    live = ScanJournal.open(tmp_path)
    live.start("/p/a.jpg")
    other = ScanJournal.open(tmp_path)
    assert other.culprits == set() and live.path.exists()
    other.close()
    live.close()


def test_file_system_failures_are_retried_on_the_next_scan(tmp_path, fr_faces, analyzer, store, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(fr_faces / "obama" / "obama.jpg", photos / "a.jpg")
    shutil.copy(fr_faces / "biden" / "biden.jpg", photos / "b.jpg")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)  # damaged content: not retried
    real_load = analyzer.load

    def drive_gone(path):
        if Path(path).name == "a.jpg":
            raise ImageError(path, "permission denied")
        return real_load(path)

    monkeypatch.setattr(analyzer, "load", drive_gone)
    first = {Path(r.path).name: r for r in tag_folder(photos, store, analyzer)}
    assert first["a.jpg"].error == "permission denied" and first["broken.jpg"].error
    monkeypatch.setattr(analyzer, "load", real_load)
    seen = []
    second = {Path(r.path).name: r for r in tag_folder(photos, store, analyzer, progress=seen.append)}
    assert second["a.jpg"].error is None and second["a.jpg"].faces, "the photo that failed must be retried"
    assert not second["a.jpg"].skipped and second["broken.jpg"].skipped
    assert seen[-1].retried == 1
