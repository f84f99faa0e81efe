"""Schema migrations: a gallery at every earlier schema version opens, migrates and keeps its data.

Old databases are built from ``store.MIGRATIONS`` itself (applying versions 1..v), so a new schema
version is covered automatically. Each old version needs a filler in ``FILLERS`` that writes
representative data with that version's SQL; ``test_every_old_version_has_a_filler`` fails until one
is added, and ``SURVIVES`` says how to read that data back through the current API.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facerec import store as store_mod
from facerec.embedders.packs import get_pack
from facerec.embedders.sface import centre
from facerec.errors import StoreError
from facerec.store import MIGRATIONS, SCHEMA_VERSION, GalleryStore, NewFace, _split_sql

EMB = np.arange(128, dtype="<f4") / 128
SFACE = get_pack("sface").model_id  # what galleries before centring stored as 'sface-2021dec' becomes


def fill_v1(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO people(id, name, created_at, updated_at) VALUES (1, 'Ada', 1, 1), (2, 'Grace', 1, 1)")
    conn.execute(
        "INSERT INTO samples(person_id, model_id, embedding, source_path, source_hash, box, thumbnail, created_at) "
        "VALUES (1, 'sface-2021dec', ?, '/p/ada.jpg', 'h', '[1.0, 2.0, 3.0, 4.0]', x'ffd8ffd9', 1)",
        (EMB.tobytes(),),
    )
    conn.execute(
        "INSERT INTO photos(id, path, size, mtime_ns, content_hash, width, height, model_id, error, scanned_at) "
        "VALUES (1, '/lib/a.jpg', 10, 20, 'c', 640, 480, 'sface-2021dec', NULL, 1), (2, '/lib/bad.jpg', 1, 1, NULL, NULL, NULL, 'sface-2021dec', 'empty file', 1)"
    )
    conn.execute(
        "INSERT INTO faces(photo_id, box, landmarks, score, model_id, embedding, person_id, distance, status) "
        "VALUES (1, '[10, 10, 50, 60]', NULL, 0.99, 'sface-2021dec', ?, 1, 0.2, 'confirmed'), "
        "(1, '[70, 10, 110, 60]', NULL, 0.95, 'sface-2021dec', ?, 2, 0.4, 'auto')",
        (EMB.tobytes(), EMB.tobytes()),
    )


def survives_v1(store: GalleryStore) -> None:
    assert [(p.name, p.sample_count) for p in store.list_people() if p.name in ("Ada", "Grace")] == [("Ada", 1), ("Grace", 0)]
    (sample,) = store.list_samples("Ada")
    assert sample.source_path == "/p/ada.jpg" and sample.box == [1.0, 2.0, 3.0, 4.0] and sample.thumbnail == b"\xff\xd8\xff\xd9"
    index = store.gallery_index(SFACE, include_confirmed=False)  # SFace's plain vectors, converted on opening
    assert len(index) == store.stats()["samples"] and "Ada" in index.names.values()
    assert np.allclose(store.face_embeddings([f.id for f in store.photo_faces("/lib/a.jpg")])[0], centre(EMB)[0], atol=1e-6)
    assert [(f.person, f.status) for f in store.photo_faces("/lib/a.jpg")] == [("Ada", "confirmed"), ("Grace", "auto")]
    assert store.get_photo("/lib/bad.jpg").error == "empty file"


def fill_v2(conn: sqlite3.Connection) -> None:
    """A face promoted to a sample (samples.face_id), a rejected suggestion, and a face id counter past the
    largest id (faces 90..99 were deleted by a rescan)."""
    conn.execute("INSERT INTO people(id, name, created_at, updated_at) VALUES (7, 'Linus', 1, 1)")
    conn.execute(
        "INSERT INTO photos(id, path, size, mtime_ns, content_hash, width, height, model_id, error, scanned_at) "
        "VALUES (7, '/lib/v2.jpg', 10, 20, 'c2', 640, 480, 'sface-2021dec', NULL, 1)"
    )
    conn.execute(
        "INSERT INTO faces(id, photo_id, box, landmarks, score, model_id, embedding, person_id, distance, status) "
        "VALUES (80, 7, '[1, 1, 40, 40]', NULL, 0.9, 'sface-2021dec', ?, 7, 0.1, 'confirmed'), "
        "(81, 7, '[50, 1, 90, 40]', NULL, 0.9, 'sface-2021dec', ?, 7, 0.3, 'rejected')",
        (EMB.tobytes(), EMB.tobytes()),
    )
    conn.execute(
        "INSERT INTO samples(person_id, model_id, embedding, source_path, face_id, created_at) VALUES (7, 'sface-2021dec', ?, '/lib/v2.jpg', 80, 1)",
        (EMB.tobytes(),),
    )
    conn.execute("UPDATE id_counters SET value = 99 WHERE name = 'faces'")


def survives_v2(store: GalleryStore) -> None:
    conn = store._conn()
    assert conn.execute("SELECT face_id FROM samples WHERE person_id = 7").fetchone()[0] == 80  # the link survives the faces rebuild
    store.save_photo("/lib/v2-new.jpg", 1, 1, None, 10, 10, SFACE, [NewFace([0, 0, 5, 5], None, 0.9, EMB, None, None)])
    assert store.photo_faces("/lib/v2-new.jpg")[0].id > 99  # the ids of faces deleted before the migration stay unused
    assert [tuple(r) for r in conn.execute("SELECT face_id, person_id FROM face_rejections WHERE face_id = 81")] == [(81, 7)]
    assert [(f.id, f.status) for f in store.photo_faces("/lib/v2.jpg")] == [(80, "confirmed"), (81, "rejected")]


def fill_v3(conn: sqlite3.Connection) -> None:
    """An ignored face drawn by hand, a hidden person, an undo operation."""
    conn.execute("UPDATE people SET hidden = 1 WHERE id = 7")
    conn.execute(
        "INSERT INTO photos(id, path, size, mtime_ns, content_hash, width, height, model_id, error, scanned_at, taken_at, min_face_size) "
        "VALUES (8, '/lib/v3.jpg', 10, 20, 'c3', 640, 480, 'sface-2021dec', NULL, 1, '2020-01-02T03:04:05', 20)"
    )
    conn.execute(
        "INSERT INTO faces(id, photo_id, box, landmarks, score, model_id, embedding, person_id, distance, status, source) "
        "VALUES (82, 8, '[100, 1, 140, 40]', NULL, 0.0, 'sface-2021dec', ?, NULL, NULL, 'ignored', 'manual')",
        (EMB.tobytes(),),
    )
    conn.execute("INSERT INTO operations(id, created_at, kind, summary) VALUES (1, 1, 'ignore', 'ignore face 82')")


def survives_v3(store: GalleryStore) -> None:
    conn = store._conn()
    assert [tuple(r) for r in conn.execute("SELECT status, source FROM faces WHERE id = 82")] == [("ignored", "manual")]
    assert conn.execute("SELECT hidden FROM people WHERE id = 7").fetchone()[0] == 1
    assert conn.execute("SELECT summary FROM operations WHERE id = 1").fetchone()[0] == "ignore face 82"


def fill_v4(conn: sqlite3.Connection) -> None:
    """XMP facerec wrote (what it put in the file) and XMP it imported."""
    conn.execute(
        "INSERT INTO xmp_written(photo_id, target, embedded, suggestions, wanted, written, added, created, written_at) "
        "VALUES (7, '/lib/v2.jpg.xmp', 0, 0, '[[\"Linus\", 0.1, 0.1, 0.2, 0.2]]', '[[\"Linus\", 0.1, 0.1, 0.2, 0.2, \"mwg\"]]', "
        "'[[\"person\", \"Linus\"]]', 1, 5)"
    )
    conn.execute("INSERT INTO xmp_read(photo_id, signature, read_at) VALUES (7, '/lib/v2.jpg.xmp:10:20', 5)")
    conn.execute("UPDATE id_counters SET value = 200 WHERE name = 'faces'")  # faces up to 200 were deleted


def survives_v4(store: GalleryStore) -> None:
    (rec,) = store.xmp_records()
    assert (rec.photo_id, rec.target, rec.written, rec.added, rec.created) == (
        7, "/lib/v2.jpg.xmp", [["Linus", 0.1, 0.1, 0.2, 0.2, "mwg"]], [["person", "Linus"]], True)
    assert store.xmp_read_signature(7) == "/lib/v2.jpg.xmp:10:20"
    # from version 5 on no id is given twice: not a deleted face's (counted before), nor a deleted person's
    store.save_photo("/lib/v4-new.jpg", 1, 1, None, 10, 10, SFACE, [NewFace([0, 0, 5, 5], None, 0.9, EMB, None, None)])
    assert store.photo_faces("/lib/v4-new.jpg")[0].id > 200
    gone = store.add_person("Gone").id
    store.delete_person(gone)
    assert store.add_person("Someone new").id > gone


def fill_v5(conn: sqlite3.Connection) -> None:
    """A group of unknown faces the user made (manual), holding face 82."""
    conn.execute("INSERT INTO face_groups(id, manual, created_at) VALUES (3, 1, 1)")
    conn.execute("UPDATE faces SET group_id = 3 WHERE id = 82")


def survives_v5(store: GalleryStore) -> None:
    conn = store._conn()
    assert conn.execute("SELECT group_id FROM faces WHERE id = 82").fetchone()[0] == 3
    assert tuple(conn.execute("SELECT id, manual FROM face_groups").fetchone()) == (3, 1)


def fill_v6(conn: sqlite3.Connection) -> None:
    """A decided face a rescan no longer detected (source 'kept') and a photo to retry."""
    conn.execute("UPDATE faces SET source = 'kept' WHERE id = 80")
    conn.execute("UPDATE photos SET retry = 1, error = 'cannot read file (drive gone)' WHERE id = 7")


def survives_v6(store: GalleryStore) -> None:
    conn = store._conn()
    assert conn.execute("SELECT source FROM faces WHERE id = 80").fetchone()[0] == "kept"
    assert store.get_photo("/lib/v2.jpg").retry


FILLERS: dict[int, Callable[[sqlite3.Connection], None]] = {1: fill_v1, 2: fill_v2, 3: fill_v3, 4: fill_v4, 5: fill_v5, 6: fill_v6}
"""Old schema version -> writes representative data using exactly that version's tables."""
SURVIVES: dict[int, Callable[[GalleryStore], None]] = {
    1: survives_v1, 2: survives_v2, 3: survives_v3, 4: survives_v4, 5: survives_v5, 6: survives_v6,
}
"""Old schema version -> checks, through the current API, that the filler's data survived migration."""


def build_at_version(path: Path, version: int) -> dict[str, int]:
    """A gallery created by applying migrations 1..version, each followed by its version's data."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for v in range(1, version + 1):  # each version's data written with its own SQL, then migrated on
            for statement in _split_sql(MIGRATIONS[v]):
                conn.execute(statement)
            if v in FILLERS:
                FILLERS[v](conn)
        conn.execute(f"PRAGMA user_version={version}")
        conn.execute("COMMIT")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        conn.close()


def _columns(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out = {}
        for n in names:
            info = conn.execute(f"PRAGMA table_info({n})").fetchall() or conn.execute(f"PRAGMA index_info({n})").fetchall()
            out[n] = [tuple(r)[1:] for r in info]
        return out
    finally:
        conn.close()


def test_migration_table_is_complete():
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))


def test_every_old_version_has_a_filler():
    missing = [v for v in range(1, SCHEMA_VERSION) if v not in FILLERS or v not in SURVIVES]
    assert not missing, f"add FILLERS/SURVIVES entries for schema versions {missing} (see this module's docstring)"


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_migrate_from_every_earlier_version(tmp_path, version):
    old = tmp_path / f"v{version}.db"
    counts = build_at_version(old, version)
    with GalleryStore(old) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.integrity_check() == "ok"
        for table, n in counts.items():  # no rows lost (id_counters gave way to AUTOINCREMENT in version 4)
            if table in ("id_counters", "sqlite_sequence"):
                continue
            assert store._conn().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == n, table
        for v in range(1, version + 1):
            if v in SURVIVES:
                SURVIVES[v](store)
        store.add_sample("New person", EMB, SFACE)  # and the migrated gallery is usable
    fresh = tmp_path / "fresh.db"
    GalleryStore(fresh).close()
    assert _columns(old) == _columns(fresh), "a migrated gallery must have the same tables, columns and indexes as a new one"


def test_failed_migration_changes_nothing(tmp_path, monkeypatch):
    """A migration that fails half-way is rolled back: the gallery stays at its version with its data."""
    path = tmp_path / "g.db"
    counts = build_at_version(path, SCHEMA_VERSION)
    broken = SCHEMA_VERSION + 1
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", broken)
    monkeypatch.setitem(MIGRATIONS, broken, "ALTER TABLE people ADD COLUMN nickname TEXT; CREATE TABLE oops (x); THIS IS NOT SQL")
    with pytest.raises((StoreError, sqlite3.Error)):
        GalleryStore(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "nickname" not in [r[1] for r in conn.execute("PRAGMA table_info(people)")]
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 'oops'").fetchall()
        for table, n in counts.items():
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == n
    finally:
        conn.close()


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "g.db"
    build_at_version(path, SCHEMA_VERSION)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    conn.close()
    before = _dump(path)
    with pytest.raises(StoreError, match="newer than this facerec supports"):
        GalleryStore(path)
    assert _dump(path) == before


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [*conn.iterdump(), f"user_version={conn.execute('PRAGMA user_version').fetchone()[0]}"]
    finally:
        conn.close()


def test_not_a_gallery_is_refused(tmp_path):
    path = tmp_path / "g.db"
    path.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(StoreError, match="not a facerec gallery"):
        GalleryStore(path)
    assert path.read_bytes() == b"this is a text file, not SQLite" * 100


def test_a_copy_is_kept_before_migrating(tmp_path, monkeypatch):
    """Before an existing gallery is migrated, a snapshot at its old version is kept next to it."""
    path = tmp_path / "gallery.db"
    build_at_version(path, SCHEMA_VERSION)
    old = _dump(path)
    new_version = SCHEMA_VERSION + 1
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", new_version)
    monkeypatch.setitem(MIGRATIONS, new_version, "ALTER TABLE people ADD COLUMN nickname TEXT")
    with GalleryStore(path) as store:
        assert store.schema_version() == new_version
    copy = tmp_path / f"gallery.before-schema-{new_version}.db"
    assert copy.is_file() and (copy.stat().st_mode & 0o777) == 0o600
    assert _dump(copy) == old
    copy.unlink()
    with GalleryStore(path) as store:  # reopening neither migrates nor copies again
        assert store.schema_version() == new_version
    assert not copy.exists()


def test_a_new_gallery_is_not_copied(tmp_path):
    GalleryStore(tmp_path / "gallery.db").close()
    assert [p.name for p in tmp_path.iterdir() if "before" in p.name] == []


def test_only_an_upgrade_is_logged_at_info_level(tmp_path, caplog):
    """A new gallery is built by the migration steps too; that is not news (no INFO line per step). Upgrading
    an existing gallery is: one INFO line per step and one for the copy kept."""
    import logging

    with caplog.at_level(logging.INFO, logger="facerec.store"):
        GalleryStore(tmp_path / "new.db").close()
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
    build_at_version(tmp_path / "old.db", 1)
    with caplog.at_level(logging.INFO, logger="facerec.store"):
        GalleryStore(tmp_path / "old.db").close()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert sum("migrated gallery schema" in line for line in lines) == SCHEMA_VERSION - 1
    assert any("kept a copy" in line for line in lines)
