"""``facerec backup`` / ``facerec restore``: consistent snapshots, verified restores, nothing destroyed."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from facerec import cli
from facerec.backup import BackupError, Manifest, backup_gallery, restore_gallery
from facerec.files import sha256_file
from facerec.store import SCHEMA_VERSION, GalleryStore, NewFace

SFACE = "sface-2021dec-centred"


def _fill(store: GalleryStore, model_id: str = SFACE, people=("Ada", "Grace"), photos: int = 3) -> None:
    rng = np.random.default_rng(len(people) + photos)
    for name in people:
        for k in range(2):
            store.add_sample(name, rng.normal(size=128).astype(np.float32), model_id, source_path=f"/p/{name}{k}.jpg", thumbnail=bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
    ada = store.get_person(people[0]).id
    for i in range(photos):
        faces = [NewFace([10, 10, 50, 60], [[1, 2]] * 5, 0.99, rng.normal(size=128).astype(np.float32), ada if i % 2 == 0 else None, 0.3)]
        store.save_photo(f"/lib/{i}.jpg", 1000 + i, i, f"h{i}", 640, 480, model_id, faces)
    face = store.faces(status="auto")[0]
    store.set_face(face.id, "confirmed", people[0])


def _dump(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        # gallery_state is the change counter: a restore is a change (new epoch), so it differs by design
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name != 'gallery_state' ORDER BY name")]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


@pytest.fixture
def gallery(tmp_path, sface_installed) -> Path:
    path = tmp_path / "home" / "gallery.db"
    with GalleryStore(path) as store:
        _fill(store)
    return path


@pytest.mark.parametrize("target", ["backup_dir", "backup.zip"])
def test_backup_and_restore_round_trip(tmp_path, gallery, target):
    before = _dump(gallery)
    out = tmp_path / target
    manifest = backup_gallery(gallery, out)
    assert manifest.schema_version == SCHEMA_VERSION and manifest.models == {SFACE: 4 + 3}
    assert manifest.counts == {"people": 2, "samples": 4, "photos": 3, "faces": 3}
    assert stat.S_IMODE(out.stat().st_mode) == (0o600 if out.suffix == ".zip" else 0o700)
    with GalleryStore(gallery) as store:  # the gallery changes after the backup...
        store.delete_person("Grace")
        store.add_sample("Linus", np.ones(128, np.float32), SFACE)
    changed = _dump(gallery)
    res = restore_gallery(out, gallery)  # ...and the restore brings the backed-up state back
    assert _dump(gallery) == before
    assert res.kept_copy is not None and _dump(res.kept_copy) == changed  # the replaced gallery is kept
    assert stat.S_IMODE(res.kept_copy.stat().st_mode) == 0o600
    assert stat.S_IMODE(gallery.stat().st_mode) == 0o600
    with GalleryStore(gallery) as store:
        assert store.integrity_check() == "ok"
        assert [p.name for p in store.list_people()] == ["Ada", "Grace"]


def test_manifest_checksums_the_database(tmp_path, gallery):
    out = tmp_path / "b"
    backup_gallery(gallery, out)
    man = json.loads((out / "manifest.json").read_text())
    for key in ("format", "facerec_version", "created", "schema_version", "models", "counts", "db_sha256", "db_size"):
        assert key in man
    assert man["db_sha256"] == sha256_file(out / "gallery.db")
    assert man["db_size"] == (out / "gallery.db").stat().st_size


def test_backup_is_consistent_while_another_writer_runs(tmp_path, gallery):
    """A writer adds a photo with 3 faces per transaction during the backups: every snapshot holds
    whole transactions only (faces == 3 x photos) and passes the integrity check."""
    stop = threading.Event()

    def writer():
        with GalleryStore(gallery) as store:
            rng = np.random.default_rng(0)
            i = 0
            while not stop.is_set():
                faces = [NewFace([k, k, k + 20, k + 20], None, 0.9, rng.normal(size=128).astype(np.float32), None, None) for k in range(3)]
                store.save_photo(f"/w/{i}.jpg", 1, 1, None, 10, 10, SFACE, faces)
                i += 1

    with GalleryStore(gallery) as store:  # start from a multiple of three
        store._conn().execute("DELETE FROM faces")
        store.checkpoint()
    t = threading.Thread(target=writer)
    t.start()
    try:
        manifests = [backup_gallery(gallery, tmp_path / f"b{k}") for k in range(5)]
    finally:
        stop.set()
        t.join()
    for k, m in enumerate(manifests):
        c = m.counts
        assert c["faces"] == 3 * (c["photos"] - 3), c
        conn = sqlite3.connect(tmp_path / f"b{k}" / "gallery.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == c["faces"]
        conn.close()
    assert manifests[-1].counts["photos"] > 3  # the writer really ran


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_restore_refuses_a_corrupted_backup_and_keeps_the_gallery(tmp_path, gallery):
    out = tmp_path / "b"
    backup_gallery(gallery, out)
    _flip(out / "gallery.db", 5000)
    original = gallery.read_bytes()
    with pytest.raises(BackupError, match="corrupted.*checksum"):
        restore_gallery(out, gallery)
    assert gallery.read_bytes() == original
    assert not list(gallery.parent.glob("*.before-restore-*"))


def test_restore_refuses_a_corrupted_zip(tmp_path, gallery):
    out = tmp_path / "b.zip"
    backup_gallery(gallery, out)
    with zipfile.ZipFile(out) as zf:
        info = zf.getinfo("gallery.db")
    _flip(out, info.header_offset + 30 + len(info.filename) + 40)  # inside the compressed database
    with pytest.raises(BackupError, match="corrupted"):
        restore_gallery(out, gallery)


def test_restore_refuses_a_database_that_fails_the_integrity_check(tmp_path, gallery):
    """Even with a matching checksum (a backup damaged before it was written, or a forged manifest)."""
    out = tmp_path / "b"
    backup_gallery(gallery, out)
    db = out / "gallery.db"
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'samples'").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    start = (root - 1) * page_size
    data[start + 8 : start + 100] = bytes(92)  # wipe the table's b-tree page header and cell pointers
    db.write_bytes(bytes(data))
    man = Manifest.from_json((out / "manifest.json").read_text())
    man.db_sha256, man.db_size = sha256_file(db), db.stat().st_size
    (out / "manifest.json").write_text(man.to_json())
    with pytest.raises(BackupError, match="integrity|unreadable"):
        restore_gallery(out, gallery)


def test_restore_refuses_a_foreign_model(tmp_path, sface_installed):
    g = tmp_path / "other.db"
    with GalleryStore(g) as store:
        _fill(store, model_id="acme-face-v9")
    backup_gallery(g, tmp_path / "b")
    target = tmp_path / "gallery.db"
    with GalleryStore(target) as store:
        _fill(store)
    original = _dump(target)
    with pytest.raises(BackupError, match="foreign model 'acme-face-v9'"):
        restore_gallery(tmp_path / "b", target)
    assert _dump(target) == original


def test_restore_refuses_a_model_that_is_not_installed(tmp_path, gallery, monkeypatch):
    backup_gallery(gallery, tmp_path / "b")
    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setenv("FACEREC_MODELS", str(empty))
    with pytest.raises(BackupError, match="not installed.*facerec models install sface"):
        restore_gallery(tmp_path / "b", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists()


def test_restore_refuses_a_newer_schema_and_junk(tmp_path, gallery):
    out = tmp_path / "b"
    backup_gallery(gallery, out)
    conn = sqlite3.connect(out / "gallery.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    man = Manifest.from_json((out / "manifest.json").read_text())
    man.db_sha256, man.db_size, man.schema_version = sha256_file(out / "gallery.db"), (out / "gallery.db").stat().st_size, 99
    (out / "manifest.json").write_text(man.to_json())
    with pytest.raises(BackupError, match="newer than this facerec supports"):
        restore_gallery(out, gallery)
    junk = tmp_path / "junk"
    junk.mkdir()
    with pytest.raises(BackupError, match="not a facerec backup"):
        restore_gallery(junk, gallery)
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 nonsense")
    with pytest.raises(BackupError, match="corrupted or not a facerec backup"):
        restore_gallery(tmp_path / "junk.zip", gallery)


def test_restore_under_an_open_connection(tmp_path, gallery):
    """The GUI keeps the gallery open during a restore: afterwards it reads the restored data."""
    backup_gallery(gallery, tmp_path / "b")
    with GalleryStore(gallery) as gui:
        gui.delete_person("Grace")
        assert [p.name for p in gui.list_people()] == ["Ada"]
        restore_gallery(tmp_path / "b", gallery)
        assert [p.name for p in gui.list_people()] == ["Ada", "Grace"]
        assert gui.integrity_check() == "ok"


def test_backup_refuses_to_overwrite(tmp_path, gallery):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(BackupError, match="already exists"):
        backup_gallery(gallery, tmp_path / "full")
    backup_gallery(gallery, tmp_path / "b.zip")
    with pytest.raises(BackupError, match="already exists"):
        backup_gallery(gallery, tmp_path / "b.zip")
    with pytest.raises(BackupError, match="no gallery"):
        backup_gallery(tmp_path / "missing.db", tmp_path / "c")


def test_cli_backup_and_restore(tmp_path, gallery, capsys):
    db = str(gallery)
    assert cli.main(["backup", "--db", db, str(tmp_path / "b.zip")]) == 0
    assert "backed up" in capsys.readouterr().out
    assert cli.main(["restore", "--db", db, "--check", str(tmp_path / "b.zip")]) == 0
    assert "intact" in capsys.readouterr().out
    assert cli.main(["people", "remove", "--db", db, "Ada", "--yes"]) == 0
    assert cli.main(["restore", "--db", db, str(tmp_path / "b.zip")]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "previous gallery is kept at" in out
    with GalleryStore(gallery) as store:
        assert store.find_person("Ada") is not None
    _flip(tmp_path / "b.zip", 200)
    assert cli.main(["restore", "--db", db, str(tmp_path / "b.zip")]) == cli.EXIT_FATAL
    assert "error:" in capsys.readouterr().err
