"""Photos that fail: a photo that killed a scan is skipped, with the reason, on the rerun (real ``facerec``
processes, one SIGKILLed while it decodes the photo); a photo that failed for the file system's sake
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


@pytest.mark.slow
def test_a_photo_that_killed_the_scan_is_skipped_on_the_rerun(tmp_path, fr_faces, sface_installed):
    photos, db = tmp_path / "photos", tmp_path / "gallery.db"
    photos.mkdir()
    for name, src in [("a.jpg", "obama/obama.jpg"), ("b.jpg", "biden/biden.jpg"), ("d.jpg", "obama/obama2.jpg"), ("e.jpg", "biden/biden2.jpg")]:
        shutil.copy(fr_faces / src, photos / name)
    Image.new("RGB", (9000, 9000), (90, 120, 150)).save(photos / "c_heavy.png")  # seconds to decode: time to kill
    scan = subprocess.Popen(
        _cli("--db", str(db), "--threads", "1", "-q", "tag", str(photos)),
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO),
    )
    journals = tmp_path / ".facerec-scans"
    deadline = time.monotonic() + 240
    try:
        while True:  # kill it while it decodes the heavy photo (as the OOM killer would)
            assert scan.poll() is None, "the scan ended before it was killed: " + scan.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the scan never started the heavy photo"
            lines = [ln for j in journals.glob("scan-*.log") for ln in j.read_text().splitlines()] if journals.is_dir() else []
            if lines and lines[-1] == f"S\t{photos / 'c_heavy.png'}":
                scan.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        scan.wait(60)
    assert scan.returncode == -signal.SIGKILL

    rerun = subprocess.run(_cli("--db", str(db), "-q", "tag", str(photos)), env=_env(), capture_output=True, text=True, cwd=str(REPO), timeout=300, check=False)
    assert rerun.returncode == 1, rerun.stderr  # done, one input failed
    assert f"{photos / 'c_heavy.png'}: {KILLED_REASON}" in rerun.stderr
    conn = sqlite3.connect(db)
    try:
        rows = dict(conn.execute("SELECT path, error FROM photos").fetchall())
    finally:
        conn.close()
    assert rows.pop(str(photos / "c_heavy.png")) == KILLED_REASON
    assert sorted(rows) == sorted(str(photos / n) for n in ("a.jpg", "b.jpg", "d.jpg", "e.jpg")) and not any(rows.values())
    again = subprocess.run(_cli("--db", str(db), "-q", "tag", str(photos)), env=_env(), capture_output=True, text=True, cwd=str(REPO), timeout=300, check=False)
    assert again.returncode == 1 and KILLED_REASON in again.stderr  # still skipped while the file is unchanged
    assert list(journals.glob("scan-*.log")) == [], "a finished scan leaves no journal behind"


def test_several_photos_in_flight_are_retried_one_at_a_time(tmp_path):
    """When a scan died with several photos in flight, the next one analyses them alone; if it dies again,
    the photo that was alone is the culprit."""
    (tmp_path / "scan-1-0.log").write_text("S\t/p/a.jpg\nS\t/p/b.jpg\nE\t/p/c.jpg\nS\t/p/c.jpg\nE\t/p/c.jpg\n")
    j = ScanJournal.open(tmp_path)
    assert (j.culprits, j.suspects) == (set(), {"/p/a.jpg", "/p/b.jpg"})
    j.start("/p/a.jpg")  # this scan dies while analysing a.jpg alone
    os.close(j.fd)
    j2 = ScanJournal.open(tmp_path)
    assert (j2.culprits, j2.suspects) == ({"/p/a.jpg"}, set())
    j2.close()
    assert list(tmp_path.glob("scan-*.log")) == []


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
