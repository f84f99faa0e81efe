"""Backups and restores leave no biometric data outside the documented places, even when killed, and a
restore trusts nothing it has not checked: the schema must be exactly facerec's (a trigger planted in a
valid backup is refused) and a member's size is checked against the manifest before anything is extracted.
The kills are of real ``facerec`` processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from facerec.backup import MANIFEST_NAME, BackupError, Manifest, backup_gallery, restore_gallery
from facerec.files import sha256_file
from facerec.library.scratch import registry_dir, sweep
from facerec.store import GalleryStore

REPO = Path(__file__).resolve().parent.parent
SFACE = "sface-2021dec-centred"


def _big_gallery(path: Path, mb: int = 40) -> None:
    """A gallery of about ``mb`` MB (random thumbnails: incompressible, so a zip backup takes a while)."""
    rng = np.random.default_rng(0)
    with GalleryStore(path) as store:
        for i in range(mb * 4):
            store.add_sample(f"P{i % 50}", rng.normal(size=128).astype(np.float32), SFACE, thumbnail=rng.bytes(256 * 1024))


def _stranded(places: list[Path]) -> list[Path]:
    return [p for place in places if place.is_dir() for p in place.iterdir() if p.name.startswith((".facerec-backup-", ".facerec-restore-"))]


def _kill_when(proc: subprocess.Popen, places: list[Path], timeout: float = 120) -> None:
    """SIGKILL ``proc`` once its scratch folder holds a gallery copy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any((d / "gallery.db").exists() and (d / "gallery.db").stat().st_size > 1 << 20 for d in _stranded(places)):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait(60)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["backup", "restore"])
def test_a_killed_backup_or_restore_leaves_no_copy_behind(tmp_path, command):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    db, out = tmp_path / "home" / "gallery.db", tmp_path / "out" / "b.zip"
    out.parent.mkdir()
    _big_gallery(db)
    if command == "restore":
        backup_gallery(db, out)
        argv = ["--db", str(db), "restore", str(out)]
    else:
        argv = ["--db", str(db), "backup", str(out)]
    places = [out.parent, Path(os.environ["FACEREC_HOME"])]
    for _attempt in range(5):  # the copy must be caught in flight: a fast machine may need another try
        proc = subprocess.Popen([sys.executable, "-m", "facerec.cli", *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _kill_when(proc, places)
        if proc.returncode == -signal.SIGKILL and _stranded(places):
            break
        if command == "backup":
            out.unlink(missing_ok=True)
    else:
        pytest.skip("could not kill the process while its copy existed")
    stranded = _stranded(places)
    assert stranded, "the kill left a scratch folder (the test's premise)"
    # the next backup, restore or scan sweeps it away
    r = subprocess.run([sys.executable, "-m", "facerec.cli", "--db", str(db), "backup", str(tmp_path / "out" / "again.zip")], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert _stranded(places) == [], "a killed backup or restore must not leave a copy of the gallery behind"
    assert list(registry_dir().iterdir()) == []


def test_a_live_scratch_folder_is_not_swept(tmp_path):
    from facerec.library.scratch import scratch_dir

    with scratch_dir(tmp_path, ".facerec-backup-") as d:
        (d / "gallery.db").write_bytes(b"x")
        assert sweep() == 0 and d.is_dir()
    assert not d.exists()


def _rewrite_backup(folder: Path, change) -> None:
    """Alter the backup's database with ``change(conn)`` and rewrite its manifest so the checksum matches."""
    db = folder / "gallery.db"
    conn = sqlite3.connect(db)
    change(conn)
    conn.commit()
    conn.close()
    man = Manifest.from_json((folder / MANIFEST_NAME).read_text())
    man.db_size, man.db_sha256 = db.stat().st_size, sha256_file(db)
    (folder / MANIFEST_NAME).write_text(man.to_json())


def test_a_planted_trigger_is_refused(tmp_path, sface_installed):
    db = tmp_path / "gallery.db"
    with GalleryStore(db) as store:
        store.add_sample("Ada", np.ones(128, np.float32), SFACE)
    backup_gallery(db, tmp_path / "b")
    _rewrite_backup(tmp_path / "b", lambda c: c.execute(
        "CREATE TRIGGER keep_erased BEFORE DELETE ON samples BEGIN SELECT RAISE(IGNORE); END"
    ))
    target = tmp_path / "target.db"
    with pytest.raises(BackupError, match="holds objects facerec does not create \\(trigger keep_erased\\)"):
        restore_gallery(tmp_path / "b", target)
    assert not target.exists()


def test_an_altered_table_is_refused(tmp_path, sface_installed):
    db = tmp_path / "gallery.db"
    GalleryStore(db).close()
    backup_gallery(db, tmp_path / "b")
    _rewrite_backup(tmp_path / "b", lambda c: c.execute("ALTER TABLE people ADD COLUMN spy TEXT"))
    with pytest.raises(BackupError, match="table people \\(altered\\)"):
        restore_gallery(tmp_path / "b", tmp_path / "target.db")


def test_a_member_larger_than_the_manifest_says_is_not_extracted(tmp_path, sface_installed):
    db = tmp_path / "gallery.db"
    GalleryStore(db).close()
    backup_gallery(db, tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        manifest = zf.read(MANIFEST_NAME)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST_NAME, manifest)
        zf.writestr("gallery.db", b"\0" * (64 << 20))  # 64 MB of zeros: a few KB compressed
    with pytest.raises(BackupError, match="nothing was extracted"):
        restore_gallery(evil, tmp_path / "target.db")
    assert json.loads(manifest)["db_size"] < (64 << 20)
