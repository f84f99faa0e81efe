"""The gallery store on a real PostgreSQL server (pgserver: PostgreSQL 16 with pgvector): the same store tests
as SQLite (every backend-neutral test of test_store.py runs here too), migrations from every older schema
version, concurrent writers, erasure, and pgvector's nearest faces against the exact search."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import test_migrations
import test_store
from facerec import store as store_mod
from facerec.database import PostgresDialect, is_database_url, redact_url
from facerec.errors import StoreError
from facerec.store import MIGRATIONS, SCHEMA_VERSION, GalleryStore, NewFace
from postgres_server import postgres_server, postgres_url, rerun_on_postgres, store  # noqa: F401

vec = test_store.vec
# The SQLite store's tests, run against PostgreSQL (new ones join automatically).
rerun_on_postgres(test_store, globals(), skip={"test_schema_wal_foreign_keys_and_permissions", "test_refuses_non_database_and_newer_schema"})


def test_backend_schema_and_integrity(store, postgres_url):
    assert store.backend == "postgresql" and is_database_url(postgres_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.integrity_check() == "ok"
    conn = store._conn()
    types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'photos'").fetchall())
    assert types["mtime_ns"] == "bigint" and types["scanned_at"] == "double precision"
    assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is not None


def test_refuses_newer_schema_and_unreachable_server(postgres_url, tmp_path):
    s = GalleryStore(postgres_url)
    s._conn().raw.execute("UPDATE facerec_meta SET value = %s WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    s.close()
    with pytest.raises(StoreError, match="newer"):
        GalleryStore(postgres_url)
    with pytest.raises(StoreError, match=r"cannot open the gallery") as err:
        GalleryStore(f"postgresql://me:secret@/nodb?host={tmp_path}", busy_timeout_s=2)
    assert "secret" not in str(err.value)


def test_names_are_case_insensitive_and_unique(store):
    store.add_person("Ann Lee")
    assert store.add_person("ann lee").name == "Ann Lee" and store.find_person("ANN LEE").name == "Ann Lee"
    store.add_person("bob")
    assert [p.name for p in store.list_people()] == ["Ann Lee", "bob"]
    with pytest.raises(StoreError, match="taken"):
        store.rename_person("bob", "ANN LEE")


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_migrates_from_every_older_version(postgres_url, version, monkeypatch):
    """A PostgreSQL gallery made at an older schema version (by that version's migrations, filled with its
    data through the same fillers as the SQLite migration tests) opens, migrates and keeps everything."""
    for v in range(1, version + 1):  # each version's data written at that version (later fillers build on earlier data)
        monkeypatch.setattr(store_mod, "SCHEMA_VERSION", v)
        old = GalleryStore(postgres_url)
        with old.transaction() as conn:
            test_migrations.FILLERS[v](conn)
        old.close()
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", SCHEMA_VERSION)
    with GalleryStore(postgres_url) as s:
        assert s.schema_version() == SCHEMA_VERSION
        for v in range(1, version + 1):
            test_migrations.SURVIVES[v](s)
        kept = s._conn().raw.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'facerec_before_schema_%'").fetchall()
        assert kept, "a copy of the old tables is kept before migrating"
        assert s.add_person("Newcomer").id > 2  # identities continue after rows inserted with explicit ids


def test_concurrent_writers_never_share_face_ids(postgres_url):
    """Four threads (one connection each) save photos at once: per-photo transactions, unique face ids."""
    s = GalleryStore(postgres_url)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(15):
                faces = [NewFace([j, j, j + 5, j + 5], None, 0.9, vec(100 * t + i + j), None, None) for j in range(3)]
                s.save_photo(f"/p/{t}/{i}.jpg", 1, 1, f"h{t}{i}", 10, 10, "m1", faces)
                if i % 5 == 0:
                    s.save_photo(f"/p/{t}/{i}.jpg", 2, 2, f"h{t}{i}", 10, 10, "m1", faces)  # a rescan
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = [f.id for f in s.faces()]
    assert len(ids) == len(set(ids)) == 4 * 15 * 3 and s.stats()["photos"] == 60
    s.close()


def test_erasing_a_person_leaves_no_trace_in_the_table_files(store, postgres_server):
    marker = b"ERASE-ME-" + bytes(range(32)) * 3
    store.add_sample("Ann", vec(1), "m1", "/p/a.jpg", "h", [0, 0, 4, 4], marker)
    store.add_sample("Bob", vec(2), "m1", thumbnail=b"keep")
    store._conn().raw.execute("CHECKPOINT")
    store.delete_person("Ann")
    store._conn().raw.execute("CHECKPOINT")
    datadir = Path(store._conn().raw.execute("SHOW data_directory").fetchone()[0])
    leaked = [p for p in (datadir / "base").rglob("*") if p.is_file() and marker in p.read_bytes()]
    assert leaked == [] and [p.name for p in store.list_people()] == ["Bob"]


def test_nearest_faces_pgvector_matches_exact_search(store, tmp_path):
    rng = np.random.default_rng(7)
    lite = GalleryStore(tmp_path / "exact.db")
    for i in range(40):
        faces = [NewFace([0, 0, 5, 5], None, 0.9, rng.normal(size=16).astype(np.float32), None, None) for _ in range(5)]
        for s in (store, lite):
            s.save_photo(f"/p/{i}.jpg", 1, 1, None, 10, 10, "m1", faces)
    store.save_photo("/p/other.jpg", 1, 1, None, 10, 10, "m2", [NewFace([0, 0, 5, 5], None, 0.9, vec(3, 16), None, None)])
    query = rng.normal(size=16).astype(np.float32)
    by_index = store.nearest_faces(query, "m1", k=5)
    exact = lite.nearest_faces(query, "m1", k=5)
    assert store._db.has_vector
    assert [f for f, _ in by_index] == [f for f, _ in exact]  # same ids: both stores numbered the faces alike
    assert np.allclose([d for _, d in by_index], [d for _, d in exact], atol=1e-5)
    store.forget_photo(f"/p/{by_index[0][0] // 5 if by_index[0][0] % 5 else by_index[0][0] // 5 - 1}.jpg")
    assert by_index[0][0] not in [f for f, _ in store.nearest_faces(query, "m1", k=5)]  # deleted faces leave the index
    lite.close()


def test_dialect_translation():
    d = PostgresDialect(MIGRATIONS.values())
    (sql,), _ = d.translate("SELECT id FROM people WHERE name = ? ORDER BY p.name COLLATE NOCASE", True)
    assert sql == "SELECT id FROM people WHERE lower(name) = lower(%s) ORDER BY lower(p.name)"
    (sql,), _ = d.translate("SELECT MAX((SELECT value FROM t), COALESCE((SELECT MAX(id) FROM faces), 0)) WHERE b IS ?", True)
    assert sql == "SELECT GREATEST((SELECT value FROM t), COALESCE((SELECT MAX(id) FROM faces), 0)) WHERE b IS NOT DISTINCT FROM %s"
    (sql,), returns_id = d.translate("INSERT OR IGNORE INTO people(name) VALUES (:name)", True)
    assert sql == "INSERT INTO people(name) VALUES (%(name)s) ON CONFLICT DO NOTHING RETURNING id" and returns_id
    (sql,), _ = d.translate("SELECT '50%?' , x FROM t WHERE y LIKE ? AND z = x'ff00'", True)
    assert sql == "SELECT '50%%?' , x FROM t WHERE y ILIKE %s AND z = '\\xff00'::bytea"
    sql, index = d.translate("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE COLLATE NOCASE, r REAL, b BLOB)", False)[0]
    assert sql == "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name TEXT NOT NULL, r DOUBLE PRECISION, b BYTEA)"
    assert index == "CREATE UNIQUE INDEX IF NOT EXISTS t_name_nocase ON t (lower(name))"
    assert d.translate("PRAGMA foreign_keys=ON", False) == ((), False)
    (sql,), _ = d.translate("SELECT SUM(a IS NOT ? OR (b = 1)), SUM(x), TOTAL(CASE WHEN y = 1 THEN 2 ELSE 0 END) FROM t", True)
    assert sql == ("SELECT SUM(CASE WHEN a IS DISTINCT FROM %s OR (b = 1) THEN 1 ELSE 0 END), SUM(x), "
                   "COALESCE(SUM(CASE WHEN y = 1 THEN 2 ELSE 0 END), 0.0) FROM t")
    with pytest.raises(StoreError, match="ON CONFLICT"):
        d.translate("INSERT OR REPLACE INTO t(a) VALUES (?)", True)
    assert redact_url("postgresql://me:secret@host/db") == "postgresql://me:***@host/db"


def test_backup_of_a_postgresql_gallery_points_to_pg_dump(postgres_url, tmp_path):
    from facerec.backup import BackupError, backup_gallery, restore_gallery

    with pytest.raises(BackupError, match="pg_dump"):
        backup_gallery(postgres_url, tmp_path / "b.zip")
    with pytest.raises(BackupError, match="pg_dump"):
        restore_gallery(tmp_path / "b.zip", postgres_url)


def test_rescan_offer_counts_on_postgresql(store):
    """SQLite adds up comparisons as 0/1; the PostgreSQL translation must give the same counts."""
    from facerec.library.rescan import rescan_offer

    store.save_photo("/p/a.jpg", 1, 1, None, 10, 10, "m1", [], min_face_size=20)
    store.save_photo("/p/b.jpg", 1, 1, None, 10, 10, "m2", [], min_face_size=20)
    store.save_photo("/p/c.jpg", 1, 1, None, 10, 10, "m2", [], min_face_size=40)
    offer = rescan_offer(store, "m1", 20)
    assert (offer.total, offer.other_model, offer.other_min_face_size, offer.outdated) == (3, 2, 1, 2)
