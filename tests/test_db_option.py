"""``--db`` pointing at the wrong thing: another application's SQLite file is refused untouched (no facerec
tables, no WAL mode, no permission change); a folder is refused and keeps its permissions; a read-only
gallery is not made writable; a read-only command creates nothing at a mistyped path. Real ``facerec``
processes."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from facerec.errors import StoreError
from facerec.store import GalleryStore

REPO = Path(__file__).resolve().parent.parent


def facerec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facerec.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120, check=False,
    )


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_another_applications_database_is_refused_untouched(tmp_path):
    other = tmp_path / "places.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.execute("INSERT INTO moz_places(url) VALUES ('https://example.org')")
    conn.commit()
    conn.close()
    os.chmod(other, 0o644)
    before = other.read_bytes()
    r = facerec("--db", str(other), "people", "list")
    assert r.returncode == 3
    assert f"{other}: is another application's SQLite database (it has moz_places" in r.stderr
    r = facerec("--db", str(other), "enrol", "Ann", str(tmp_path / "nothing.jpg"))
    assert r.returncode == 3 and "another application's SQLite database" in r.stderr
    assert other.read_bytes() == before and _mode(other) == 0o644
    assert not Path(f"{other}-wal").exists()


def test_a_folder_given_as_db_is_refused_and_keeps_its_permissions(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    r = facerec("--db", str(folder), "people", "list")
    assert r.returncode == 3 and f"{folder}: is a folder, not a gallery file" in r.stderr
    assert _mode(folder) == 0o755 and list(folder.iterdir()) == []


def test_a_read_only_command_creates_nothing_at_a_mistyped_path(tmp_path):
    typo = tmp_path / "galery" / "gallery.db"
    r = facerec("--db", str(typo), "people", "list")
    assert r.returncode == 3 and "no gallery there (nothing was created" in r.stderr
    assert not typo.parent.exists()


def test_a_read_only_gallery_is_not_made_writable(tmp_path):
    path = tmp_path / "gallery.db"
    with GalleryStore(path) as store:
        store.add_person("Ann")
    os.chmod(path, 0o400)
    try:
        if os.access(path, os.W_OK) and os.geteuid() == 0:
            pass  # root may write anyway: the point is that the mode is left alone
        GalleryStore(path).close()
    except StoreError:
        pass  # refusing to write to it is fine too
    assert _mode(path) == 0o400


def test_the_first_people_list_needs_no_gallery(tmp_path):
    r = facerec("people", "list")  # the default gallery (FACEREC_HOME from conftest) does not exist yet
    assert r.returncode == 0 and "no people enrolled yet" in r.stdout
    assert not list(Path(os.environ["FACEREC_HOME"]).rglob("gallery.db"))


def test_a_new_gallery_is_owner_only_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "new" / "gallery.db"
        GalleryStore(path).close()
    finally:
        os.umask(old)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700


@pytest.mark.parametrize("mode", [0o644, 0o666])
def test_an_existing_gallery_only_loses_group_and_other_access(tmp_path, mode):
    path = tmp_path / "gallery.db"
    GalleryStore(path).close()
    os.chmod(path, mode)
    GalleryStore(path).close()
    assert _mode(path) == 0o600
