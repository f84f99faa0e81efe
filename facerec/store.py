"""The gallery and library database: one SQLite file (WAL, foreign keys, versioned schema), or a shared
PostgreSQL database (``postgresql://...``): the same SQL and guarantees, see ``facerec.database``.

Tables: ``people``; ``samples`` (enrolment embeddings with model id, source path and hash, box, thumbnail);
``photos`` (scanned files with size, mtime, content hash, error); ``faces`` (detections in photos with
box, landmarks, score, embedding, assigned person and status auto / confirmed / rejected / unknown).

Every change is one transaction. Deleting a person erases their samples and thumbnails (``secure_delete``
overwrites the freed pages, and the WAL is checkpointed) and clears their face assignments.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from .database import Database, open_database, split_statements
from .errors import GalleryChangedError, StoreError
from .geometry import box_iou, l2_normalize
from .matching import GalleryIndex

log = logging.getLogger(__name__)

SCHEMA_VERSION = 7
ERASE_WAIT_S = 3.0
"""How long erasing a person waits for other readers of the gallery before it reports that they hold the
old data in the file (it never waits the full busy timeout)."""


class FaceStatus(StrEnum):
    """A library face's state (the stored value; see facerec.library.review for what each means)."""

    UNKNOWN = "unknown"
    SUGGESTED = "auto"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    IGNORED = "ignored"


FACE_STATUSES = tuple(s.value for s in FaceStatus)


def _in(statuses: Sequence[str]) -> str:
    """``IN (...)`` of SQL literals for a fixed tuple of statuses (enum values, never user input)."""
    return "IN (" + ", ".join(f"'{FaceStatus(s).value}'" for s in statuses) + ")"
NAMED_STATUSES = (FaceStatus.SUGGESTED, FaceStatus.CONFIRMED)
"""Faces shown with their person's name (a suggestion or a confirmation)."""
FACE_SOURCES = ("detected", "manual", "kept")
"""'detected' by the latest scan; 'manual': drawn by hand (stays as it is); 'kept': a face the user decided on
that a rescan no longer detects, kept with its box, embedding and decision (a later scan that finds it again
turns it back into 'detected', same id). Decisions are never dropped by a rescan."""
MACHINE_STATUSES = (FaceStatus.SUGGESTED, FaceStatus.UNKNOWN)
"""Statuses the matcher sets; every other status (and any face with a per-person rejection) is a user decision."""

_SCHEMA_V1 = """
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT,
    width INTEGER,
    height INTEGER,
    model_id TEXT,
    error TEXT,
    scanned_at REAL NOT NULL
);
CREATE TABLE faces (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    box TEXT NOT NULL,
    landmarks TEXT,
    score REAL NOT NULL,
    model_id TEXT NOT NULL,
    embedding BLOB NOT NULL,
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    distance REAL,
    status TEXT NOT NULL DEFAULT 'unknown' CHECK (status IN ('auto', 'confirmed', 'rejected', 'unknown'))
);
CREATE INDEX faces_photo ON faces(photo_id);
CREATE INDEX faces_person ON faces(person_id, status);
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    embedding BLOB NOT NULL,
    source_path TEXT,
    source_hash TEXT,
    box TEXT,
    thumbnail BLOB,
    face_id INTEGER REFERENCES faces(id) ON DELETE SET NULL,
    created_at REAL NOT NULL
);
CREATE INDEX samples_person ON samples(person_id);
CREATE INDEX samples_model ON samples(model_id);
"""

_SCHEMA_V2 = """
CREATE TABLE id_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO id_counters(name, value) SELECT 'faces', COALESCE(MAX(id), 0) FROM faces;
"""
"""Version 2: face ids are never reused (a rescan re-inserts a photo's faces; a window holding an old
face id must get "no such face", never another face that took the id)."""

_SCHEMA_V3 = """
CREATE TEMP TABLE _sample_faces AS SELECT id, face_id FROM samples WHERE face_id IS NOT NULL;
CREATE TABLE faces_v3 (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    box TEXT NOT NULL,
    landmarks TEXT,
    score REAL NOT NULL,
    model_id TEXT NOT NULL,
    embedding BLOB NOT NULL,
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    distance REAL,
    status TEXT NOT NULL DEFAULT 'unknown' CHECK (status IN ('auto', 'confirmed', 'rejected', 'unknown', 'ignored')),
    source TEXT NOT NULL DEFAULT 'detected' CHECK (source IN ('detected', 'manual'))
);
INSERT INTO faces_v3(id, photo_id, box, landmarks, score, model_id, embedding, person_id, distance, status)
    SELECT id, photo_id, box, landmarks, score, model_id, embedding, person_id, distance, status FROM faces;
DROP TABLE faces;
ALTER TABLE faces_v3 RENAME TO faces;
CREATE INDEX faces_photo ON faces(photo_id);
CREATE INDEX faces_person ON faces(person_id, status);
UPDATE samples SET face_id = (SELECT t.face_id FROM _sample_faces t WHERE t.id = samples.id) WHERE id IN (SELECT id FROM _sample_faces);
DROP TABLE _sample_faces;
CREATE TABLE face_rejections (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    PRIMARY KEY (face_id, person_id)
);
CREATE INDEX face_rejections_person ON face_rejections(person_id);
INSERT INTO face_rejections(face_id, person_id) SELECT id, person_id FROM faces WHERE status = 'rejected' AND person_id IS NOT NULL;
ALTER TABLE people ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN feature_face_id INTEGER REFERENCES faces(id) ON DELETE SET NULL;
ALTER TABLE photos ADD COLUMN taken_at TEXT;
ALTER TABLE photos ADD COLUMN min_face_size INTEGER;
CREATE INDEX photos_taken ON photos(taken_at);
CREATE TABLE operations (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE operation_rows (
    op_id INTEGER NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    tbl TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    before TEXT,
    PRIMARY KEY (op_id, seq)
)
"""
"""Version 3, the library (facerec.library): faces may be 'ignored' and drawn by hand (source 'manual');
per-person rejections (a face rejected for someone is never suggested for them again); hidden people and a
feature face; the EXIF date taken of photos (NULL: not read yet, '': none) and the minimum face size they
were scanned with; the undo log (operations, each with before-images of the rows it changed)."""

_SCHEMA_XMP = """
CREATE TABLE xmp_written (
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    embedded INTEGER NOT NULL DEFAULT 0,
    suggestions INTEGER NOT NULL DEFAULT 0,
    wanted TEXT NOT NULL,
    written TEXT NOT NULL,
    added TEXT NOT NULL,
    created INTEGER NOT NULL DEFAULT 0,
    written_at REAL NOT NULL,
    PRIMARY KEY (photo_id, target)
);
CREATE TABLE xmp_read (
    photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
    signature TEXT NOT NULL,
    read_at REAL NOT NULL
);
"""
"""XMP (facerec.library.xmp_sync): ``xmp_written`` = the sidecars / image XMP blocks facerec wrote and
exactly what it put there (so a rewrite replaces only its own regions and keywords); ``xmp_read`` = the
signature of the XMP last imported for a photo (so a scan imports a sidecar again only when it changed)."""

_SCHEMA_GROUPS = """
CREATE TABLE face_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    manual INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
ALTER TABLE faces ADD COLUMN group_id INTEGER REFERENCES face_groups(id) ON DELETE SET NULL;
CREATE INDEX faces_group ON faces(group_id);
"""
"""Groups of unknown faces with stable ids (facerec.library.grouping); ``manual`` marks groups the user merged
or split. A group id is never reused (AUTOINCREMENT)."""


_SCHEMA_V6_SQLITE = """
CREATE TABLE people_v6 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0,
    feature_face_id INTEGER REFERENCES faces(id) ON DELETE SET NULL
);
INSERT INTO people_v6(id, name, created_at, updated_at, hidden, feature_face_id)
    SELECT id, name, created_at, updated_at, hidden, feature_face_id FROM people;
CREATE TABLE faces_v6 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    box TEXT NOT NULL,
    landmarks TEXT,
    score REAL NOT NULL,
    model_id TEXT NOT NULL,
    embedding BLOB NOT NULL,
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    distance REAL,
    status TEXT NOT NULL DEFAULT 'unknown' CHECK (status IN ('auto', 'confirmed', 'rejected', 'unknown', 'ignored')),
    source TEXT NOT NULL DEFAULT 'detected' CHECK (source IN ('detected', 'manual', 'kept')),
    group_id INTEGER REFERENCES face_groups(id) ON DELETE SET NULL
);
INSERT INTO faces_v6(id, photo_id, box, landmarks, score, model_id, embedding, person_id, distance, status, source, group_id)
    SELECT id, photo_id, box, landmarks, score, model_id, embedding, person_id, distance, status, source, group_id FROM faces;
CREATE TABLE samples_v6 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    embedding BLOB NOT NULL,
    source_path TEXT,
    source_hash TEXT,
    box TEXT,
    thumbnail BLOB,
    face_id INTEGER REFERENCES faces(id) ON DELETE SET NULL,
    created_at REAL NOT NULL
);
INSERT INTO samples_v6(id, person_id, model_id, embedding, source_path, source_hash, box, thumbnail, face_id, created_at)
    SELECT id, person_id, model_id, embedding, source_path, source_hash, box, thumbnail, face_id, created_at FROM samples;
DROP TABLE samples;
DROP TABLE faces;
DROP TABLE people;
ALTER TABLE people_v6 RENAME TO people;
ALTER TABLE faces_v6 RENAME TO faces;
ALTER TABLE samples_v6 RENAME TO samples;
CREATE INDEX faces_photo ON faces(photo_id);
CREATE INDEX faces_person ON faces(person_id, status);
CREATE INDEX faces_group ON faces(group_id);
CREATE INDEX samples_person ON samples(person_id);
CREATE INDEX samples_model ON samples(model_id);
DELETE FROM sqlite_sequence WHERE name IN ('people', 'faces', 'samples');
INSERT INTO sqlite_sequence(name, seq) SELECT 'people', COALESCE(MAX(id), 0) FROM people;
INSERT INTO sqlite_sequence(name, seq)
    SELECT 'faces', MAX(COALESCE((SELECT MAX(id) FROM faces), 0), COALESCE((SELECT value FROM id_counters WHERE name = 'faces'), 0));
INSERT INTO sqlite_sequence(name, seq) SELECT 'samples', COALESCE(MAX(id), 0) FROM samples;
DROP TABLE id_counters;
ALTER TABLE photos ADD COLUMN retry INTEGER NOT NULL DEFAULT 0;
UPDATE photos SET retry = 1 WHERE error IS NOT NULL;
CREATE TABLE gallery_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch TEXT NOT NULL,
    generation INTEGER NOT NULL
);
INSERT INTO gallery_state(id, epoch, generation) VALUES (1, lower(hex(randomblob(8))), 0);
CREATE TRIGGER people_insert_gen AFTER INSERT ON people BEGIN UPDATE gallery_state SET generation = generation + 1; END;
CREATE TRIGGER people_update_gen AFTER UPDATE ON people BEGIN UPDATE gallery_state SET generation = generation + 1; END;
CREATE TRIGGER people_delete_gen AFTER DELETE ON people BEGIN UPDATE gallery_state SET generation = generation + 1; END;
CREATE TRIGGER samples_insert_gen AFTER INSERT ON samples BEGIN UPDATE gallery_state SET generation = generation + 1; END;
CREATE TRIGGER samples_update_gen AFTER UPDATE OF person_id, model_id, embedding ON samples
    BEGIN UPDATE gallery_state SET generation = generation + 1; END;
CREATE TRIGGER samples_delete_gen AFTER DELETE ON samples BEGIN UPDATE gallery_state SET generation = generation + 1; END;
CREATE TRIGGER faces_confirmed_insert_gen AFTER INSERT ON faces WHEN NEW.status = 'confirmed'
    BEGIN UPDATE gallery_state SET generation = generation + 1; END;
CREATE TRIGGER faces_confirmed_update_gen AFTER UPDATE OF status, person_id ON faces
    WHEN (OLD.status = 'confirmed' OR NEW.status = 'confirmed') AND (OLD.status IS NOT NEW.status OR OLD.person_id IS NOT NEW.person_id)
    BEGIN UPDATE gallery_state SET generation = generation + 1; END;
CREATE TRIGGER faces_confirmed_delete_gen AFTER DELETE ON faces WHEN OLD.status = 'confirmed'
    BEGIN UPDATE gallery_state SET generation = generation + 1; END
"""
"""Version 6: ids are never reused (AUTOINCREMENT on people, faces and samples: a scan or a window holding
an old id gets "no such person", never a person who took the id); ``gallery_state.generation`` counts every
change to the evidence (people, samples, confirmed faces; triggers bump it) and ``gallery_state.epoch`` is
new after a restore, so a running scan notices a change and re-matches before it writes; face source 'kept'
(a decision whose face a rescan no longer detects); ``photos.retry`` marks failures of the file system
(permissions, a drive gone) that the next scan tries again."""

REBUILDS_TABLES = frozenset({3, 6})
"""Migrations that rebuild tables: run with foreign keys off (so dropping the old table neither cascades nor
nulls references), checked with ``foreign_key_check`` before they commit."""

_SCHEMA_V6_POSTGRESQL = """
SELECT setval(pg_get_serial_sequence('faces', 'id'), n) FROM (SELECT GREATEST(
    (SELECT COALESCE(MAX(id), 0) FROM faces), (SELECT COALESCE(MAX(value), 0) FROM id_counters WHERE name = 'faces')) AS n) AS t WHERE n > 0;
DROP TABLE id_counters;
ALTER TABLE photos ADD COLUMN retry INTEGER NOT NULL DEFAULT 0;
UPDATE photos SET retry = 1 WHERE error IS NOT NULL;
DO $$ DECLARE c text; BEGIN
    FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'faces'::regclass AND contype = 'c'
             AND position('source' in pg_get_constraintdef(oid)) > 0 LOOP
        EXECUTE 'ALTER TABLE faces DROP CONSTRAINT ' || quote_ident(c);
    END LOOP;
END $$;
ALTER TABLE faces ADD CONSTRAINT faces_source_check CHECK (source IN ('detected', 'manual', 'kept'));
CREATE TABLE gallery_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch TEXT NOT NULL,
    generation INTEGER NOT NULL
);
INSERT INTO gallery_state(id, epoch, generation) VALUES (1, md5(random()::text), 0);
CREATE FUNCTION facerec_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE gallery_state SET generation = generation + 1; RETURN NULL; END $$;
CREATE TRIGGER people_gen AFTER INSERT OR UPDATE OR DELETE ON people
    FOR EACH STATEMENT EXECUTE FUNCTION facerec_bump_generation();
CREATE TRIGGER samples_gen AFTER INSERT OR DELETE OR UPDATE OF person_id, model_id, embedding ON samples
    FOR EACH STATEMENT EXECUTE FUNCTION facerec_bump_generation();
CREATE TRIGGER faces_confirmed_insert_gen AFTER INSERT ON faces
    FOR EACH ROW WHEN (NEW.status = 'confirmed') EXECUTE FUNCTION facerec_bump_generation();
CREATE TRIGGER faces_confirmed_delete_gen AFTER DELETE ON faces
    FOR EACH ROW WHEN (OLD.status = 'confirmed') EXECUTE FUNCTION facerec_bump_generation();
CREATE TRIGGER faces_confirmed_update_gen AFTER UPDATE OF status, person_id ON faces
    FOR EACH ROW WHEN ((OLD.status = 'confirmed' OR NEW.status = 'confirmed')
                       AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.person_id IS DISTINCT FROM NEW.person_id))
    EXECUTE FUNCTION facerec_bump_generation()
"""
"""PostgreSQL's identity columns never reuse ids already: version 6 there adds the rest (no table rebuild)."""

_SCHEMA_V6 = {"sqlite": _SCHEMA_V6_SQLITE, "postgresql": _SCHEMA_V6_POSTGRESQL}

_SCHEMA_V7 = """
CREATE INDEX faces_model ON faces(model_id);
CREATE INDEX photos_model ON photos(model_id);
"""
"""Version 7: faces and photos indexed by model id (the vectors of a replaced model id are found, and converted,
without reading every row: ``GalleryStore._convert_legacy_vectors``)."""

CONVERSION_SCHEMA = 7
"""The schema ``GalleryStore._convert_legacy_vectors`` is written for (the undo log's table, the model-id indexes)."""

MIGRATIONS: dict[int, str | dict[str, str]] = {
    1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_XMP, 5: _SCHEMA_GROUPS, 6: _SCHEMA_V6, 7: _SCHEMA_V7,
}
"""Schema version -> SQL that brings version-1 to it. Add an entry (and a test) for every change. Write it in
SQLite's dialect (facerec.database translates it for PostgreSQL), or as {"sqlite": ..., "postgresql": ...}."""


@dataclass
class Person:
    id: int
    name: str
    sample_count: int = 0
    face_count: int = 0


@dataclass
class Sample:
    id: int
    person_id: int
    model_id: str
    source_path: str | None
    box: list[float] | None
    thumbnail: bytes | None
    created_at: float


@dataclass
class PhotoRecord:
    id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    width: int | None
    height: int | None
    model_id: str | None
    error: str | None
    taken_at: str | None = None
    """EXIF date taken, 'YYYY-MM-DD HH:MM:SS'; '' when the photo has none; None when not read yet."""
    min_face_size: int | None = None
    """The detector's minimum face size the photo was scanned with (None: not recorded)."""
    retry: bool = False
    """``error`` came from the file system (permissions, a drive gone, an I/O error): the next scan retries it."""


@dataclass
class FaceRecord:
    id: int
    photo_id: int
    path: str
    box: list[float]
    score: float
    person_id: int | None
    person: str | None
    distance: float | None
    status: FaceStatus
    landmarks: list[list[float]] | None = None
    source: str = "detected"
    """'detected' by a scan, or 'manual' (a box drawn by hand)."""


@dataclass
class FaceSource:
    """A stored face as the source of a new sample: its embedding, model, box and photo."""

    face_id: int
    person_id: int
    embedding: np.ndarray
    model_id: str
    box: list[float]
    path: str
    content_hash: str | None


@dataclass
class NewFace:
    """A detected face ready to be stored with its photo."""

    box: Sequence[float]
    landmarks: Sequence[Sequence[float]] | None
    score: float
    embedding: np.ndarray
    person_id: int | None
    distance: float | None


@dataclass
class XmpRecord:
    """One XMP file facerec wrote for a photo (a sidecar, or the image itself when ``embedded``)."""

    photo_id: int
    target: str
    embedded: bool
    suggestions: bool
    """Whether unconfirmed suggestions were written too (then they count in ``wanted``)."""
    wanted: list
    """The regions facerec meant the file to name, as ``Region.key()`` lists (compared to tell if stale)."""
    written: list
    """The regions facerec itself put in the file (``Region.key()``), taken out again on a rewrite."""
    added: list
    """[keyword list, value] pairs facerec added to the file."""
    created: bool
    """facerec created the file (it may delete it again when nothing of its own is left)."""
    written_at: float = 0.0


def _blob(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype="<f4").tobytes()


def _vec(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def encode_snapshot(row, skip: tuple[str, ...] = ()) -> str:
    """A row (``sqlite3.Row`` or dict) as the undo log stores its before-image: JSON, bytes as ``{"$b64": ...}``,
    the columns in ``skip`` left out."""
    return json.dumps(
        {k: ({"$b64": base64.b64encode(row[k]).decode()} if isinstance(row[k], bytes) else row[k]) for k in row.keys() if k not in skip}  # noqa: SIM118 (sqlite3.Row)
    )


def decode_snapshot(text: str) -> dict:
    """``encode_snapshot``'s JSON back as a dict (bytes restored)."""
    return {k: (base64.b64decode(v["$b64"]) if isinstance(v, dict) else v) for k, v in json.loads(text).items()}


class GalleryStore:
    """Thread-safe access to one gallery database (one connection per thread): a SQLite file path, or a
    ``postgresql://`` URL (``location`` names it in messages; ``path`` is then this machine's side-file anchor)."""

    def __init__(self, path: str | os.PathLike, busy_timeout_s: float = 30.0, create: bool = True):
        """``create`` False (read-only commands): a missing gallery is an error, never created."""
        self._db: Database = open_database(path, busy_timeout_s, MIGRATIONS.values())
        self.path = self._db.path
        self.location = self._db.label
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: list = []
        self._all_lock = threading.Lock()
        self._copy_kept: Path | str | None = None
        """The copy of the gallery this opening kept before changing it (a schema upgrade, a vector conversion)."""
        self._db.prepare(create)
        try:
            self._migrate()
            self._convert_legacy_vectors()
            if self._db.kind == "sqlite":
                self.checkpoint(0)  # finishes an erase that a reader held up (a no-op when the WAL is empty)
        except self._db.OperationalError as exc:  # locked past the timeout, disk full, I/O error, server down...
            self.close()
            raise StoreError(f"{self.location}: cannot open the gallery ({exc})") from None
        except self._db.DatabaseError as exc:  # "file is not a database", corruption
            self.close()
            raise StoreError(f"{self.location}: not a facerec gallery database ({exc})") from None

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.kind

    # -- connections and transactions -------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._db.connect()
            self._db.configure(conn, self._retry_busy)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _retry_busy(self, op):
        """Run ``op``, retrying while another process holds a lock SQLite will not wait for by itself
        (switching a new file to WAL mode can fail at once with "database is locked")."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                return op()
            except self._db.OperationalError as exc:
                if not self._db.is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE, retried while another process holds the lock)."""
        conn = self._conn()
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        try:
            self._retry_busy(lambda: self._db.begin(conn))
        except self._db.OperationalError as exc:
            raise StoreError(f"{self.location}: database is busy or unavailable ({exc})") from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that must agree with each other (a page's counts and its list): every query in the block sees the
        same state of the gallery, whatever other threads or processes commit meanwhile. Inside a transaction it
        joins it."""
        conn = self._conn()
        if conn.in_transaction:
            yield
            return
        self._db.begin_read(conn)
        try:
            yield
        finally:
            conn.execute("ROLLBACK")  # nothing was written

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(self._db.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> GalleryStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def schema_version(self) -> int:
        return self._db.get_version(self._conn())

    def _migrate(self) -> None:
        conn = self._conn()
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.location}: schema version {version} is newer than this facerec supports ({SCHEMA_VERSION}); upgrade facerec"
            )
        if 0 < version < SCHEMA_VERSION:
            self._copy_kept = self.keep_copy(f"before-schema-{SCHEMA_VERSION}")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            rebuild = target in REBUILDS_TABLES and self._db.kind == "sqlite"
            if rebuild:
                conn.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set it before
            try:
                with self.transaction():
                    if self.schema_version() >= target:  # another process migrated it while we waited for the lock
                        continue
                    for statement in self._db.script(MIGRATIONS[target]):
                        conn.execute(statement)
                    if rebuild and conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                        raise StoreError(f"{self.location}: migration to schema {target} broke a reference; nothing was changed")
                    self._db.set_version(conn, target)
            finally:
                if rebuild:
                    conn.execute("PRAGMA foreign_keys=ON")
            # a new gallery is built by the same steps: only an upgrade of an existing one is news
            (log.info if version > 0 else log.debug)("%s: migrated gallery schema to version %d", self.location, target)

    def _convert_legacy_vectors(self) -> None:
        """Convert, once, vectors stored under a model id that a pack has replaced (``ModelPack.legacy``: e.g.
        SFace's plain vectors, now centred): samples, faces, the photos' model ids and the undo log's snapshots
        of them, in one transaction, after keeping a copy of the gallery (``before-<new model id>``, unless a schema
        upgrade in this same opening kept one)."""
        from .embedders.installer import resolve
        from .embedders.packs import vector_conversions

        if self.schema_version() < CONVERSION_SCHEMA:  # only a test pins an older schema (the tables differ)
            return
        conn = self._conn()
        for old, new, convert in vector_conversions():
            held = any(
                conn.execute(f"SELECT 1 FROM {table} WHERE model_id = ? LIMIT 1", (old,)).fetchone() is not None
                for table in ("samples", "faces", "photos")
            )
            if not held:
                continue
            fn = resolve(convert)
            if self._copy_kept is None:  # an upgrade in this same opening kept one already
                self._copy_kept = self.keep_copy(f"before-{new}")
            with self.transaction() as conn:
                counts = {table: self._convert_table(conn, table, old, new, fn) for table in ("samples", "faces")}
                conn.execute("UPDATE photos SET model_id = ? WHERE model_id = ?", (new, old))
                counts["undo snapshots"] = self._convert_undo_rows(conn, old, new, fn)
                self._db.forget_vectors(conn, old)
            log.info("%s: converted the vectors of %s to %s (%s)", self.location, old, new, ", ".join(f"{v} {k}" for k, v in counts.items()))

    @staticmethod
    def _convert_table(conn, table: str, old: str, new: str, fn, batch: int = 5000) -> int:
        """Rewrite every ``table`` row of model ``old`` with ``fn``'s vectors under model ``new``; the row count."""
        done = 0
        while True:
            rows = conn.execute(f"SELECT id, embedding FROM {table} WHERE model_id = ? LIMIT {int(batch)}", (old,)).fetchall()
            if not rows:
                return done
            vectors = fn(np.stack([_vec(r["embedding"]) for r in rows]))
            conn.executemany(
                f"UPDATE {table} SET model_id = ?, embedding = ? WHERE id = ?",
                [(new, _blob(v), r["id"]) for r, v in zip(rows, vectors)],
            )
            done += len(rows)

    @staticmethod
    def _convert_undo_rows(conn, old: str, new: str, fn) -> int:
        """The undo log's before-images (``encode_snapshot``) of rows of model ``old``: model id and vector
        converted as in the tables, so undoing an older operation puts back rows of the model in use. Returns how
        many snapshots changed."""
        changed = 0
        rows = conn.execute(
            "SELECT op_id, seq, before FROM operation_rows WHERE tbl IN ('samples', 'faces', 'photos') AND before LIKE ?",
            (f"%{old}%",),
        ).fetchall()
        for r in rows:
            snap = decode_snapshot(r["before"])
            if snap.get("model_id") != old:
                continue
            snap["model_id"] = new
            if isinstance(snap.get("embedding"), bytes):
                snap["embedding"] = _blob(fn(_vec(snap["embedding"])[None])[0])
            conn.execute("UPDATE operation_rows SET before = ? WHERE op_id = ? AND seq = ?", (encode_snapshot(snap), r["op_id"], r["seq"]))
            changed += 1
        return changed

    def keep_copy(self, label: str) -> Path | str:
        """Snapshot the database, e.g. before a migration: SQLite next to itself as ``<name>.<label>.db``
        (owner-only, returns its Path); PostgreSQL into the schema ``facerec_<label>`` (returns its name)."""
        dest = self._db.keep_copy(self._conn(), label)
        log.info("%s: kept a copy as %s", self.location, dest)
        return Path(dest) if self._db.kind == "sqlite" else dest

    def integrity_check(self) -> str:
        return self._db.integrity_check(self._conn())

    # -- people -----------------------------------------------------------------------------------
    def add_person(self, name: str) -> Person:
        name = _clean_name(name)
        now = time.time()
        with self.transaction() as conn:
            row = conn.execute("SELECT id, name FROM people WHERE name = ?", (name,)).fetchone()
            if row:
                return Person(row["id"], row["name"])
            cur = conn.execute("INSERT INTO people(name, created_at, updated_at) VALUES (?, ?, ?)", (name, now, now))
            return Person(int(cur.lastrowid), name)

    def find_person(self, name_or_id: str | int) -> Person | None:
        conn = self._conn()
        if isinstance(name_or_id, int):
            row = conn.execute("SELECT id, name FROM people WHERE id = ?", (name_or_id,)).fetchone()
        else:
            row = conn.execute("SELECT id, name FROM people WHERE name = ?", (_lookup_name(name_or_id),)).fetchone()
        return Person(row["id"], row["name"]) if row else None

    def get_person(self, name_or_id: str | int) -> Person:
        person = self.find_person(name_or_id)
        if person is None:
            raise StoreError(f"no person named {name_or_id!r} in the gallery")
        return person

    def list_people(self, model_id: str | None = None) -> list[Person]:
        rows = self._conn().execute(
            f"""SELECT p.id, p.name,
                      (SELECT COUNT(*) FROM samples s WHERE s.person_id = p.id AND (? IS NULL OR s.model_id = ?)) AS n,
                      (SELECT COUNT(*) FROM faces f WHERE f.person_id = p.id AND f.status {_in(NAMED_STATUSES)}) AS nf
               FROM people p ORDER BY p.name COLLATE NOCASE""",
            (model_id, model_id),
        ).fetchall()
        return [Person(r["id"], r["name"], r["n"], r["nf"]) for r in rows]

    def rename_person(self, old: str | int, new: str) -> Person:
        new = _clean_name(new)
        with self.transaction() as conn:
            person = self.get_person(old)
            clash = self.find_person(new)
            if clash and clash.id != person.id:
                raise StoreError(f"cannot rename {person.name!r} to {new!r}: that name is taken (merge them instead)")
            conn.execute("UPDATE people SET name = ?, updated_at = ? WHERE id = ?", (new, time.time(), person.id))
            return Person(person.id, new)

    def merge_people(self, source: str | int, target: str | int) -> Person:
        """Move every sample, face and rejection of ``source`` to ``target`` and delete ``source``."""
        with self.transaction() as conn:
            src, dst = self.get_person(source), self.get_person(target)
            if src.id == dst.id:
                raise StoreError(f"cannot merge {src.name!r} into itself")
            conn.execute("UPDATE samples SET person_id = ? WHERE person_id = ?", (dst.id, src.id))
            conn.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (dst.id, src.id))
            conn.execute("INSERT OR IGNORE INTO face_rejections(face_id, person_id) SELECT face_id, ? FROM face_rejections WHERE person_id = ?", (dst.id, src.id))
            conn.execute("DELETE FROM people WHERE id = ?", (src.id,))
            conn.execute("UPDATE people SET updated_at = ? WHERE id = ?", (time.time(), dst.id))
            return dst

    def delete_person(self, name_or_id: str | int) -> Person:
        """Erase a person: their samples (embeddings, thumbnails) and their face assignments."""
        with self.transaction() as conn:
            person = self.get_person(name_or_id)
            conn.execute("DELETE FROM samples WHERE person_id = ?", (person.id,))
            conn.execute(
                "UPDATE faces SET person_id = NULL, distance = NULL, status = ? WHERE person_id = ?", (FaceStatus.UNKNOWN, person.id)
            )
            conn.execute("DELETE FROM people WHERE id = ?", (person.id,))
            conn.execute("DELETE FROM operations")  # the undo log may hold their data: it goes too
        self.erase_complete = self.checkpoint(ERASE_WAIT_S)
        return person

    erase_complete: bool = True
    """Whether the last ``delete_person`` also erased the old data from the files. False while another
    connection (another process, the GUI) is in the middle of a read that still sees it: the data is deleted
    but its bytes stay in the file until that read ends; the next opening of the gallery finishes the erase."""

    def checkpoint(self, wait_s: float | None = None) -> bool:
        """Make erased rows unrecoverable from the files: SQLite folds the WAL into the main file and truncates
        it (``secure_delete`` overwrote the freed pages); PostgreSQL rewrites the tables (VACUUM FULL). Waits at
        most ``wait_s`` seconds for other readers (default: the busy timeout). Returns whether it is done."""
        return self._db.erase_freed(self._conn(), wait_s)

    # -- samples ----------------------------------------------------------------------------------
    def add_sample(
        self,
        person: str | int,
        embedding: np.ndarray,
        model_id: str,
        source_path: str | None = None,
        source_hash: str | None = None,
        box: Sequence[float] | None = None,
        thumbnail: bytes | None = None,
        face_id: int | None = None,
        create: bool = True,
    ) -> int:
        """Add one enrolment sample; with ``create`` a new name makes a new person. Returns the sample id."""
        with self.transaction() as conn:
            found = self.find_person(person)
            if found is None:
                if not create or isinstance(person, int):
                    raise StoreError(f"no person named {person!r} in the gallery")
                found = self.add_person(person)
            if source_hash is not None:
                dup = conn.execute(
                    "SELECT id FROM samples WHERE person_id = ? AND model_id = ? AND source_hash = ? AND box IS ?",
                    (found.id, model_id, source_hash, json.dumps(_round_box(box)) if box is not None else None),
                ).fetchone()
                if dup:
                    return int(dup["id"])
            cur = conn.execute(
                """INSERT INTO samples(person_id, model_id, embedding, source_path, source_hash, box, thumbnail, face_id, created_at)
                   VALUES (?, ?, ?, CAST(? AS TEXT), ?, ?, ?, ?, ?)""",
                (
                    found.id,
                    model_id,
                    _blob(embedding),
                    _path_param(source_path),
                    source_hash,
                    json.dumps(_round_box(box)) if box is not None else None,
                    thumbnail,
                    face_id,
                    time.time(),
                ),
            )
            conn.execute("UPDATE people SET updated_at = ? WHERE id = ?", (time.time(), found.id))
            return int(cur.lastrowid)

    def list_samples(self, person: str | int) -> list[Sample]:
        p = self.get_person(person)
        rows = self._conn().execute(
            "SELECT id, person_id, model_id, source_path, box, thumbnail, created_at FROM samples WHERE person_id = ? ORDER BY id",
            (p.id,),
        ).fetchall()
        return [
            Sample(r["id"], r["person_id"], r["model_id"], r["source_path"], json.loads(r["box"]) if r["box"] else None, r["thumbnail"], r["created_at"])
            for r in rows
        ]

    def first_thumbnails(self) -> dict[int, bytes]:
        """Person id -> the thumbnail of their first sample that has one (by sample id): one query for a
        list of everyone, instead of reading every sample of every person."""
        rows = self._conn().execute(
            """SELECT person_id, thumbnail FROM samples WHERE id IN
                   (SELECT MIN(id) FROM samples WHERE length(thumbnail) > 0 GROUP BY person_id)"""
        ).fetchall()
        return {int(r["person_id"]): bytes(r["thumbnail"]) for r in rows}

    def remove_sample(self, sample_id: int) -> None:
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM samples WHERE id = ?", (sample_id,))
            if cur.rowcount == 0:
                raise StoreError(f"no sample with id {sample_id}")

    def sample_models(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT model_id, COUNT(*) FROM samples GROUP BY model_id").fetchall()
        return {r[0]: r[1] for r in rows}

    def gallery_index(self, model_id: str, include_confirmed: bool = True) -> GalleryIndex:
        """The evidence of one model as an in-memory search index: every enrolment sample and (with
        ``include_confirmed``, the library's policy, see facerec.library.review) every face the user
        confirmed for a person that is not already a sample; ``sample_kind`` tells them apart."""
        conn = self._conn()
        rows = conn.execute(
            "SELECT s.person_id, s.embedding, p.name, 0 AS kind FROM samples s JOIN people p ON p.id = s.person_id WHERE s.model_id = ?",
            (model_id,),
        ).fetchall()
        if include_confirmed:
            rows += conn.execute(
                """SELECT f.person_id, f.embedding, p.name, 1 AS kind FROM faces f JOIN people p ON p.id = f.person_id
                   WHERE f.status = ? AND f.model_id = ? AND f.id NOT IN (SELECT face_id FROM samples WHERE face_id IS NOT NULL)""",
                (FaceStatus.CONFIRMED, model_id),
            ).fetchall()
        if not rows:
            return GalleryIndex.empty(model_id)
        emb = np.frombuffer(b"".join(r["embedding"] for r in rows), dtype="<f4").reshape(len(rows), -1)
        pids = np.array([r["person_id"] for r in rows], dtype=np.int64)
        kinds = np.array([r["kind"] for r in rows], dtype=np.int8)
        names = {r["person_id"]: r["name"] for r in rows}
        from .personalisation import adapt_index  # the personalisation head of `facerec adapt`, if any

        return adapt_index(self.path, GalleryIndex(emb, pids, names, model_id, kinds=kinds))

    def gallery_size(self, model_id: str, include_confirmed: bool = True) -> int:
        """``len(gallery_index(model_id, include_confirmed))`` without reading a vector (the calibrated
        threshold depends on it; the GUI shows it on every gallery change)."""
        conn = self._conn()
        n = conn.execute("SELECT COUNT(*) FROM samples s JOIN people p ON p.id = s.person_id WHERE s.model_id = ?", (model_id,)).fetchone()[0]
        if include_confirmed:
            n += conn.execute(
                """SELECT COUNT(*) FROM faces f JOIN people p ON p.id = f.person_id
                   WHERE f.status = ? AND f.model_id = ? AND f.id NOT IN (SELECT face_id FROM samples WHERE face_id IS NOT NULL)""",
                (FaceStatus.CONFIRMED, model_id),
            ).fetchone()[0]
        return int(n)

    # -- photos and faces -------------------------------------------------------------------------
    def get_photo(self, path: str) -> PhotoRecord | None:
        row = self._conn().execute("SELECT * FROM photos WHERE path = CAST(? AS TEXT)", (_path_param(path),)).fetchone()
        return _photo(row) if row else None

    def gallery_generation(self) -> tuple[str, int]:
        """The gallery's version as (epoch, change counter): the counter grows whenever a person, a sample or a
        confirmed face is added, changed or removed, and a restore brings a new epoch. Read it before
        ``gallery_index`` and pass it to ``save_photo``, so a scan never stores a match made against a gallery
        that has changed since."""
        row = self._conn().execute("SELECT epoch, generation FROM gallery_state WHERE id = 1").fetchone()
        return str(row[0]), int(row[1])

    def new_epoch(self) -> None:
        """Mark the gallery as replaced (a restore): every reader's ``gallery_generation`` is out of date."""
        with self.transaction() as conn:
            conn.execute("UPDATE gallery_state SET epoch = ?, generation = generation + 1 WHERE id = 1", (secrets.token_hex(8),))

    def save_photo(
        self,
        path: str,
        size: int,
        mtime_ns: int,
        content_hash: str | None,
        width: int | None,
        height: int | None,
        model_id: str | None,
        faces: Sequence[NewFace] = (),
        error: str | None = None,
        taken_at: str | None = None,
        min_face_size: int | None = None,
        retry: bool = False,
        gallery_generation: tuple[str, int] | None = None,
    ) -> int:
        """Store one scanned photo and its faces atomically, replacing an earlier scan of the same path.
        Returns the photo id.

        A rescan carries the photo's earlier faces over to the new detections that overlap them best (IoU >=
        ``CARRY_OVER_IOU``, one to one, the user's decisions first): such a face keeps its id, its decision and
        the people it was rejected for (it is never suggested for them again). A decided face that is not
        detected again is kept (source 'kept'), never dropped; undecided ones not found again are removed;
        faces drawn by hand (source 'manual') stay as they are. With ``gallery_generation`` (read before the
        gallery the faces were matched against), a gallery changed since raises ``GalleryChangedError`` and
        nothing is written; a face matched to a person who is gone is stored as unknown in any case.
        ``retry`` marks an ``error`` of the file system (permissions, a drive gone) for the next scan to retry.
        ``taken_at``: the EXIF date taken ('YYYY-MM-DD HH:MM:SS', '' when the photo has none).
        """
        with self.transaction() as conn:
            if gallery_generation is not None and self.gallery_generation() != tuple(gallery_generation):
                raise GalleryChangedError(f"{self.location}: the gallery changed while {path} was being matched")
            matched = {f.person_id for f in faces if f.person_id is not None}
            if matched:  # never store a face under a person who is not in the gallery
                marks = ",".join("?" * len(matched))
                present = {r[0] for r in conn.execute(f"SELECT id FROM people WHERE id IN ({marks})", sorted(matched))}
                faces = [f if f.person_id is None or f.person_id in present else dataclasses.replace(f, person_id=None, distance=None) for f in faces]
            old = conn.execute("SELECT id FROM photos WHERE path = CAST(? AS TEXT)", (_path_param(path),)).fetchone()
            earlier: list[sqlite3.Row] = []
            rejected: dict[int, set[int]] = {}
            if old:
                photo_id = int(old["id"])
                conn.execute(
                    """UPDATE photos SET size = ?, mtime_ns = ?, content_hash = ?, width = ?, height = ?, model_id = ?,
                       error = ?, retry = ?, scanned_at = ?, taken_at = COALESCE(?, taken_at), min_face_size = ? WHERE id = ?""",
                    (size, mtime_ns, content_hash, width, height, model_id, error, int(retry), time.time(), taken_at, min_face_size, photo_id),
                )
                earlier = conn.execute(
                    "SELECT id, box, person_id, distance, status FROM faces WHERE photo_id = ? AND source != 'manual' ORDER BY id",
                    (photo_id,),
                ).fetchall()
                for fid, pid in conn.execute(
                    "SELECT r.face_id, r.person_id FROM face_rejections r JOIN faces f ON f.id = r.face_id WHERE f.photo_id = ?", (photo_id,)
                ):
                    rejected.setdefault(int(fid), set()).add(int(pid))
            else:
                cur = conn.execute(
                    """INSERT INTO photos(path, size, mtime_ns, content_hash, width, height, model_id, error, retry, scanned_at, taken_at, min_face_size)
                       VALUES (CAST(? AS TEXT), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (_path_param(path), size, mtime_ns, content_hash, width, height, model_id, error, int(retry), time.time(), taken_at, min_face_size),
                )
                photo_id = int(cur.lastrowid)
            decided = [r["status"] not in MACHINE_STATUSES or r["id"] in rejected for r in earlier]
            boxes = [_round_box(f.box) for f in faces]
            pairs = carry_over([json.loads(r["box"]) for r in earlier], decided, boxes)
            for i, face in enumerate(faces):
                landmarks = json.dumps(np.round(np.asarray(face.landmarks, dtype=float), 2).tolist()) if face.landmarks is not None else None
                distance = None if face.distance is None or not np.isfinite(face.distance) else float(face.distance)
                person_id, status = face.person_id, (FaceStatus.SUGGESTED if face.person_id is not None else FaceStatus.UNKNOWN)
                values = (json.dumps(boxes[i]), landmarks, float(face.score), model_id, _blob(face.embedding))
                if i not in pairs:
                    conn.execute(
                        """INSERT INTO faces(photo_id, box, landmarks, score, model_id, embedding, person_id, distance, status, source)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'detected')""",
                        (photo_id, *values, person_id, distance, status),
                    )
                    continue
                prev = earlier[pairs[i]]
                if prev["status"] not in MACHINE_STATUSES:  # the user's decision stays with the face
                    if person_id != prev["person_id"]:
                        distance = prev["distance"]
                    person_id, status = prev["person_id"], prev["status"]
                elif person_id in rejected.get(prev["id"], ()):  # never suggested again for someone it was rejected for
                    person_id, status, distance = None, FaceStatus.UNKNOWN, None
                conn.execute(
                    """UPDATE faces SET box = ?, landmarks = ?, score = ?, model_id = ?, embedding = ?, person_id = ?,
                       distance = ?, status = ?, source = 'detected' WHERE id = ?""",
                    (*values, person_id, distance, status, prev["id"]),
                )
            carried = set(pairs.values())
            for j, prev in enumerate(earlier):
                if j in carried:
                    continue
                if decided[j]:
                    conn.execute("UPDATE faces SET source = 'kept' WHERE id = ?", (prev["id"],))
                else:
                    conn.execute("DELETE FROM faces WHERE id = ?", (prev["id"],))
            return photo_id

    def add_face(
        self, photo_id: int, box: Sequence[float], embedding: np.ndarray, model_id: str,
        landmarks: Sequence[Sequence[float]] | None = None, score: float = 0.0, source: str = "manual",
    ) -> int:
        """Insert one face into a stored photo (a face drawn by hand: facerec.library.manual). Returns its id."""
        if source not in FACE_SOURCES:
            raise StoreError(f"unknown face source {source!r}")
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM photos WHERE id = ?", (photo_id,)).fetchone() is None:
                raise StoreError(f"no photo with id {photo_id}")
            cur = conn.execute(
                """INSERT INTO faces(photo_id, box, landmarks, score, model_id, embedding, person_id, distance, status, source)
                   VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)""",
                (
                    photo_id, json.dumps(_round_box(box)),
                    json.dumps(np.round(np.asarray(landmarks, dtype=float), 2).tolist()) if landmarks is not None else None,
                    float(score), model_id, _blob(embedding), FaceStatus.UNKNOWN, source,
                ),
            )
            return int(cur.lastrowid)

    def photo_faces(self, path: str) -> list[FaceRecord]:
        return self.faces(where="ph.path = CAST(? AS TEXT)", params=(_path_param(path),))

    def faces(
        self,
        person: str | int | None = None,
        status: str | Sequence[str] | None = None,
        where: str | None = None,
        params: Sequence = (),
        limit: int | None = None,
        ids: Sequence[int] | None = None,
        photo_ids: Sequence[int] | None = None,
        photo_path: str | None = None,
    ) -> list[FaceRecord]:
        """Faces with their photo path and assigned person, by photo path then id, filtered by person,
        status, face ``ids``, ``photo_ids`` and/or the photo's path (``where``/``params``: a raw condition,
        for the store's own use)."""
        clauses: list[str] = []
        args: list = []
        for column, values in (("f.id", ids), ("f.photo_id", photo_ids)):
            if values is not None:
                if not len(values):
                    return []
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(int(v) for v in values)
        if photo_path is not None:
            clauses.append("ph.path = CAST(? AS TEXT)")
            args.append(_path_param(photo_path))
        if person is not None:
            clauses.append("f.person_id = ?")
            args.append(self.get_person(person).id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            clauses.append(f"f.status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if where:
            clauses.append(where)
            args.extend(params)
        sql = """SELECT f.id, f.photo_id, ph.path, f.box, f.landmarks, f.score, f.person_id, p.name, f.distance, f.status, f.source
                 FROM faces f JOIN photos ph ON ph.id = f.photo_id LEFT JOIN people p ON p.id = f.person_id"""
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY ph.path, f.id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [
            FaceRecord(
                r["id"], r["photo_id"], r["path"], json.loads(r["box"]), r["score"], r["person_id"],
                r["name"] if r["status"] in NAMED_STATUSES else None, r["distance"], FaceStatus(r["status"]),
                json.loads(r["landmarks"]) if r["landmarks"] else None, r["source"],
            )
            for r in self._conn().execute(sql, args).fetchall()
        ]

    def face_embeddings(self, face_ids: Sequence[int]) -> np.ndarray:
        conn = self._conn()
        out = []
        for fid in face_ids:
            row = conn.execute("SELECT embedding FROM faces WHERE id = ?", (fid,)).fetchone()
            if row is None:
                raise StoreError(f"no face with id {fid}")
            out.append(_vec(row["embedding"]))
        return np.stack(out) if out else np.zeros((0, 0), np.float32)

    def sample_vectors(self, model_id: str) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Every enrolment sample of ``model_id`` as stored (no personalisation head): (sample ids N int64,
        person names, embeddings N x D float32)."""
        rows = self._conn().execute(
            "SELECT s.id, p.name, s.embedding FROM samples s JOIN people p ON p.id = s.person_id WHERE s.model_id = ? ORDER BY s.id",
            (model_id,),
        ).fetchall()
        if not rows:
            return np.zeros(0, np.int64), [], np.zeros((0, 0), np.float32)
        return np.array([r[0] for r in rows], np.int64), [str(r[1]) for r in rows], np.stack([_vec(r[2]) for r in rows])

    def face_model(self, face_id: int) -> str:
        """The model id whose embedding face ``face_id`` holds (StoreError when there is no such face)."""
        row = self._conn().execute("SELECT model_id FROM faces WHERE id = ?", (int(face_id),)).fetchone()
        if row is None:
            raise StoreError(f"no face with id {face_id}")
        return str(row[0])

    def nearest_faces(self, embedding: np.ndarray, model_id: str, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` library faces of ``model_id`` nearest to ``embedding``: [(face id, cosine distance)], nearest
        first. PostgreSQL with pgvector answers from an HNSW index; otherwise an exact search of every face."""
        if self._db.kind != "sqlite":
            with self.transaction() as conn:
                found = self._db.nearest_faces(conn, embedding, model_id, k)
            if found is not None:
                return found
        query = l2_normalize(np.asarray(embedding, dtype=np.float32).ravel())
        best: list[tuple[float, int]] = []
        cur = self._conn().execute("SELECT id, embedding FROM faces WHERE model_id = ?", (model_id,))
        while rows := cur.fetchmany(8192):
            emb = np.stack([_vec(r[1]) for r in rows])
            dist = 1.0 - l2_normalize(emb) @ query
            best = sorted(best + list(zip(dist.tolist(), (int(r[0]) for r in rows))))[:k]
        return [(fid, float(d)) for d, fid in best]

    def set_face(self, face_id: int, status: FaceStatus | str, person: str | int | None = None) -> None:
        """Record the user's decision on a face: confirm (as ``person``), reject the suggestion (remembered for
        that person: facerec.library.review never suggests them again), ignore, or mark unknown. Storage only:
        facerec.library.review.decide logs it for undo and re-matches the library."""
        if status not in FACE_STATUSES:
            raise StoreError(f"unknown face status {status!r}")
        status = FaceStatus(status)
        with self.transaction() as conn:
            row = conn.execute("SELECT person_id FROM faces WHERE id = ?", (face_id,)).fetchone()
            if row is None:
                raise StoreError(f"no face with id {face_id}")
            person_id = row["person_id"]
            if person is not None:
                found = self.find_person(person)
                person_id = found.id if found else self.add_person(str(person)).id
            if status == FaceStatus.CONFIRMED and person_id is None:
                raise StoreError(f"face {face_id}: confirming needs a person")
            if status in (FaceStatus.UNKNOWN, FaceStatus.IGNORED):
                person_id = None
            if status == FaceStatus.REJECTED and person_id is not None:
                conn.execute("INSERT OR IGNORE INTO face_rejections(face_id, person_id) VALUES (?, ?)", (face_id, person_id))
            distance = "distance" if status in (FaceStatus.SUGGESTED, FaceStatus.REJECTED) else "NULL"
            conn.execute(f"UPDATE faces SET status = ?, person_id = ?, distance = {distance} WHERE id = ?", (status, person_id, face_id))

    def confirmed_faces_without_sample(self, person: str | int) -> list[FaceSource]:
        """The person's confirmed faces that no sample was made from yet (``facerec.library.samples``), by id."""
        p = self.get_person(person)
        rows = self._conn().execute(
            """SELECT f.id, f.embedding, f.model_id, f.box, ph.path, ph.content_hash FROM faces f JOIN photos ph ON ph.id = f.photo_id
               WHERE f.person_id = ? AND f.status = ? AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.face_id = f.id)
               ORDER BY f.id""",
            (p.id, FaceStatus.CONFIRMED),
        ).fetchall()
        return [FaceSource(r["id"], p.id, _vec(r["embedding"]), r["model_id"], json.loads(r["box"]), r["path"], r["content_hash"]) for r in rows]

    # -- groups of unknown faces (facerec.library.grouping) ----------------------------------------
    def grouping_pool(self, model_id: str, statuses: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces of ``model_id`` with one of ``statuses``: (face ids N int64, group ids N int64 with 0 for none,
        embeddings N x D float32), ordered by face id."""
        marks = ",".join("?" * len(statuses))
        rows = self._conn().execute(
            f"SELECT id, group_id, embedding FROM faces WHERE model_id = ? AND status IN ({marks}) ORDER BY id",
            (model_id, *statuses),
        ).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        gids = np.fromiter((r[1] or 0 for r in rows), np.int64, len(rows))
        return ids, gids, np.stack([_vec(r[2]) for r in rows])

    def group_flags(self) -> dict[int, bool]:
        """Group id -> manual (merged or split by the user)."""
        return {int(r[0]): bool(r[1]) for r in self._conn().execute("SELECT id, manual FROM face_groups")}

    def group_members(self, group_ids: Sequence[int]) -> dict[int, list[int]]:
        """Group id -> its face ids (ascending); ids without faces are left out."""
        out: dict[int, list[int]] = {}
        marks = ",".join("?" * len(group_ids))
        for r in self._conn().execute(f"SELECT group_id, id FROM faces WHERE group_id IN ({marks}) ORDER BY id", [int(g) for g in group_ids]):
            out.setdefault(int(r[0]), []).append(int(r[1]))
        return out

    def apply_groups(
        self,
        moves: dict[int, int],
        create: dict[int, bool],
        manual: Sequence[int] = (),
        statuses: Sequence[str] = (FaceStatus.UNKNOWN, FaceStatus.REJECTED),
    ) -> dict[int, int]:
        """In one transaction: make the groups of ``create`` (negative key -> manual flag), put each face of
        ``moves`` into its group (a negative id names a created one; faces gone meanwhile are skipped), mark
        ``manual`` groups, take faces whose status left ``statuses`` out of their group, and delete groups
        left without faces. Returns the created groups' ids by key."""
        now = time.time()
        with self.transaction() as conn:
            real = {
                key: int(conn.execute("INSERT INTO face_groups(manual, created_at) VALUES (?, ?)", (int(flag), now)).lastrowid)
                for key, flag in sorted(create.items(), reverse=True)
            }
            conn.executemany(
                "UPDATE faces SET group_id = ? WHERE id = ?", [(real[g] if g < 0 else int(g), int(f)) for f, g in moves.items()]
            )
            conn.executemany("UPDATE face_groups SET manual = 1 WHERE id = ?", [(int(g),) for g in manual])
            marks = ",".join("?" * len(statuses))
            conn.execute(f"UPDATE faces SET group_id = NULL WHERE group_id IS NOT NULL AND status NOT IN ({marks})", list(statuses))
            conn.execute("DELETE FROM face_groups WHERE id NOT IN (SELECT group_id FROM faces WHERE group_id IS NOT NULL)")
        return real

    def photos(self, under: str | None = None) -> list[PhotoRecord]:
        if under:
            prefix = _path_param(under.rstrip(os.sep) + os.sep)
            raw = prefix.encode("utf-8") if isinstance(prefix, str) else prefix
            rows = self._conn().execute(
                "SELECT * FROM photos WHERE substr(CAST(path AS BLOB), 1, ?) = ? ORDER BY path", (len(raw), raw)
            ).fetchall()
        else:
            rows = self._conn().execute("SELECT * FROM photos ORDER BY path").fetchall()
        return [_photo(r) for r in rows]

    def forget_photo(self, path: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM photos WHERE path = CAST(? AS TEXT)", (_path_param(path),))

    # -- XMP records (facerec.library.xmp_sync) ----------------------------------------------------
    def xmp_records(self, photo_ids: Sequence[int] | None = None) -> list[XmpRecord]:
        """The XMP files facerec wrote, for these photos (default: all), ordered by photo id."""
        if photo_ids is None:
            rows = self._conn().execute("SELECT * FROM xmp_written ORDER BY photo_id, target").fetchall()
        else:
            ids = sorted(set(photo_ids))
            rows = []
            for start in range(0, len(ids), 500):  # bound parameters are limited
                chunk = ids[start : start + 500]
                rows += self._conn().execute(
                    f"SELECT * FROM xmp_written WHERE photo_id IN ({','.join('?' * len(chunk))}) ORDER BY photo_id, target", chunk
                ).fetchall()
        return [
            XmpRecord(
                r["photo_id"], r["target"], bool(r["embedded"]), bool(r["suggestions"]), json.loads(r["wanted"]),
                json.loads(r["written"]), json.loads(r["added"]), bool(r["created"]), r["written_at"],
            )
            for r in rows
        ]

    def xmp_records_exist(self) -> bool:
        return self._conn().execute("SELECT 1 FROM xmp_written LIMIT 1").fetchone() is not None

    def save_xmp_record(self, rec: XmpRecord) -> None:
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO xmp_written(photo_id, target, embedded, suggestions, wanted, written, added, created, written_at)
                   VALUES (?, CAST(? AS TEXT), ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(photo_id, target) DO UPDATE SET embedded = excluded.embedded, suggestions = excluded.suggestions,
                   wanted = excluded.wanted, written = excluded.written, added = excluded.added, created = excluded.created,
                   written_at = excluded.written_at""",
                (
                    rec.photo_id, _path_param(rec.target), int(rec.embedded), int(rec.suggestions), json.dumps(rec.wanted),
                    json.dumps(rec.written), json.dumps(rec.added), int(rec.created), rec.written_at or time.time(),
                ),
            )

    def delete_xmp_record(self, photo_id: int, target: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM xmp_written WHERE photo_id = ? AND target = CAST(? AS TEXT)", (photo_id, _path_param(target)))

    def xmp_read_signature(self, photo_id: int) -> str | None:
        row = self._conn().execute("SELECT signature FROM xmp_read WHERE photo_id = ?", (photo_id,)).fetchone()
        return row["signature"] if row else None

    def set_xmp_read(self, photo_id: int, signature: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO xmp_read(photo_id, signature, read_at) VALUES (?, CAST(? AS TEXT), ?)
                   ON CONFLICT(photo_id) DO UPDATE SET signature = excluded.signature, read_at = excluded.read_at""",
                (photo_id, _path_param(signature), time.time()),
            )

    def note_file_rewritten(self, path: str, size: int, mtime_ns: int, content_hash: str | None) -> None:
        """A photo's file changed without its pixels changing (facerec wrote its XMP block): record the new
        size, time and hash so the next scan does not analyse it again."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE photos SET size = ?, mtime_ns = ?, content_hash = ? WHERE path = CAST(? AS TEXT)",
                (size, mtime_ns, content_hash, _path_param(path)),
            )

    def stats(self) -> dict[str, int]:
        conn = self._conn()
        return {
            "people": conn.execute("SELECT COUNT(*) FROM people").fetchone()[0],
            "samples": conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0],
            "photos": conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0],
            "faces": conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0],
        }

    # -- named queries for the library layer (facerec/library/*) -----------------------------------
    # Each takes ``conn`` where a library function runs it inside its own transaction (an undo
    # ``Operation``): then it reads through that connection, otherwise through this thread's.
    def rescan_counts(self, model_id: str, min_face_size: int) -> tuple[int, int, int, int]:
        """Photos scanned, and of them how many were scanned with another model, with another minimum face
        size, and with either: ``(total, other_model, other_size, outdated)``, all ints."""
        r = self._conn().execute(
            """SELECT COUNT(*) AS total,
                      COALESCE(SUM(CASE WHEN model_id IS NOT ? THEN 1 ELSE 0 END), 0) AS other_model,
                      COALESCE(SUM(CASE WHEN min_face_size IS NOT NULL AND min_face_size != ? THEN 1 ELSE 0 END), 0) AS other_size,
                      COALESCE(SUM(CASE WHEN model_id IS NOT ? OR (min_face_size IS NOT NULL AND min_face_size != ?) THEN 1 ELSE 0 END), 0) AS outdated
               FROM photos""",
            (model_id, int(min_face_size), model_id, int(min_face_size)),
        ).fetchone()
        return r["total"], r["other_model"], r["other_size"], r["outdated"]

    def photo_paths(self) -> list[str]:
        """The path of every stored photo (unordered)."""
        return [r[0] for r in self._conn().execute("SELECT path FROM photos")]

    def undecided_faces(self, model_id: str, statuses: Sequence[str], conn=None) -> list:
        """Faces of ``model_id`` in ``statuses``, by id: rows with ``id``, ``embedding`` (float32 LE bytes),
        ``person_id`` (int | None), ``status`` (str), ``distance`` (float | None)."""
        marks = ",".join("?" * len(statuses))
        return (conn or self._conn()).execute(
            f"SELECT id, embedding, person_id, status, distance FROM faces WHERE model_id = ? AND status IN ({marks}) ORDER BY id",
            (model_id, *statuses),
        ).fetchall()

    def rejections_of_faces(self, model_id: str, statuses: Sequence[str], conn=None) -> list[tuple[int, int]]:
        """``(face_id, person_id)`` for every rejection of a face of ``model_id`` in ``statuses``."""
        marks = ",".join("?" * len(statuses))
        return [
            (r[0], r[1])
            for r in (conn or self._conn()).execute(
                f"SELECT r.face_id, r.person_id FROM face_rejections r JOIN faces f ON f.id = r.face_id WHERE f.model_id = ? AND f.status IN ({marks})",
                (model_id, *statuses),
            )
        ]

    def operation_history(self, limit: int) -> list:
        """The newest undo log entries, newest first: rows with ``id``, ``created_at`` (float), ``kind``,
        ``summary`` (str) and ``n`` (int, rows the operation kept)."""
        return self._conn().execute(
            """SELECT o.id, o.created_at, o.kind, o.summary, (SELECT COUNT(*) FROM operation_rows r WHERE r.op_id = o.id) AS n
               FROM operations o ORDER BY o.id DESC LIMIT ?""",
            (int(limit),),
        ).fetchall()

    def search_photos(
        self,
        people: Sequence[int],
        without: Sequence[int],
        statuses: Sequence[str],
        any_person: bool = False,
        folder_prefix: bytes | None = None,
        dated: bool = False,
        date_from: str | None = None,
        date_to: str | None = None,
        limit: int | None = None,
    ) -> list:
        """Readable photos holding ``people`` (all of them, or with ``any_person`` any) and none of
        ``without`` (faces in ``statuses``), under the UTF-8 path prefix ``folder_prefix``, with ``dated``
        only those with a date taken, within ``date_from``..``date_to`` (comparable date strings). Rows
        with ``id``, ``path``, ``taken_at`` (str | None), ``width``, ``height``, by date then path."""
        smarks = ",".join("?" * len(statuses))
        where: list[str] = ["ph.error IS NULL"]
        args: list = []
        if people:
            marks = ",".join("?" * len(people))
            having = "" if any_person else f" HAVING COUNT(DISTINCT f.person_id) = {len(set(people))}"
            where.append(
                f"ph.id IN (SELECT f.photo_id FROM faces f WHERE f.person_id IN ({marks}) AND f.status IN ({smarks}) GROUP BY f.photo_id{having})"
            )
            args += [*people, *statuses]
        if without:
            marks = ",".join("?" * len(without))
            where.append(f"ph.id NOT IN (SELECT f.photo_id FROM faces f WHERE f.person_id IN ({marks}) AND f.status IN ({smarks}))")
            args += [*without, *statuses]
        if folder_prefix is not None:
            where.append("substr(CAST(ph.path AS BLOB), 1, ?) = ?")
            args += [len(folder_prefix), folder_prefix]
        if dated:
            where.append("ph.taken_at IS NOT NULL AND ph.taken_at != ''")
            if date_from:
                where.append("ph.taken_at >= ?")
                args.append(date_from)
            if date_to:
                where.append("ph.taken_at <= ?")
                args.append(date_to)
        sql = f"""SELECT ph.id, ph.path, ph.taken_at, ph.width, ph.height FROM photos ph WHERE {' AND '.join(where)}
                  ORDER BY (ph.taken_at IS NULL OR ph.taken_at = ''), ph.taken_at, ph.path"""
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._conn().execute(sql, args).fetchall()

    def people_in_photos(self, photo_ids: Sequence[int], statuses: Sequence[str]) -> list[tuple[int, str]]:
        """``(photo_id, person name)`` for every face in ``statuses`` on those photos (unordered, repeats kept)."""
        conn = self._conn()
        smarks = ",".join("?" * len(statuses))
        out: list[tuple[int, str]] = []
        for start in range(0, len(photo_ids), 500):
            chunk = list(photo_ids[start : start + 500])
            out += [
                (r[0], r[1])
                for r in conn.execute(
                    f"""SELECT f.photo_id, p.name FROM faces f JOIN people p ON p.id = f.person_id
                        WHERE f.photo_id IN ({','.join('?' * len(chunk))}) AND f.status IN ({smarks})""",
                    (*chunk, *statuses),
                )
            ]
        return out

    def photos_without_date(self, limit: int | None = None) -> list[tuple[int, str]]:
        """``(photo_id, path)`` of readable photos whose date taken was never read (at most ``limit``)."""
        sql = "SELECT id, path FROM photos WHERE taken_at IS NULL AND error IS NULL"
        return [(r["id"], r["path"]) for r in self._conn().execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()]

    def set_dates_taken(self, dates: Sequence[tuple[str | None, int]]) -> None:
        """Store ``(date taken, photo_id)`` pairs, in one transaction, for photos that have none yet."""
        with self.transaction() as c:
            c.executemany("UPDATE photos SET taken_at = ? WHERE id = ? AND taken_at IS NULL", dates)

    def people_summaries(self, include_hidden: bool = False) -> list:
        """Everyone (hidden people only with ``include_hidden``) by name, case-insensitive: rows with
        ``id``, ``name``, ``hidden``, ``feature_face_id`` (int | None), counts ``ns`` (samples), ``nc``
        (confirmed faces), ``na`` (suggested faces) and ``first_face`` (lowest confirmed face id | None)."""
        return self._conn().execute(
            """SELECT p.id, p.name, p.hidden, p.feature_face_id,
                      (SELECT COUNT(*) FROM samples s WHERE s.person_id = p.id) AS ns,
                      (SELECT COUNT(*) FROM faces f WHERE f.person_id = p.id AND f.status = 'confirmed') AS nc,
                      (SELECT COUNT(*) FROM faces f WHERE f.person_id = p.id AND f.status = 'auto') AS na,
                      (SELECT MIN(f.id) FROM faces f WHERE f.person_id = p.id AND f.status = 'confirmed') AS first_face
               FROM people p WHERE ? OR p.hidden = 0 ORDER BY p.name COLLATE NOCASE""",
            (include_hidden,),
        ).fetchall()

    def person_page_head(self, person_id: int):
        """One row for a person's page: ``hidden``, ``feature_face_id`` (int | None), counts ``photos``,
        ``confirmed``, ``suggested``, ``rejected``, ``samples`` and ``first_face`` (int | None)."""
        return self._conn().execute(
            """SELECT hidden, feature_face_id,
                      (SELECT COUNT(DISTINCT photo_id) FROM faces WHERE person_id = :p AND status IN ('confirmed', 'auto')) AS photos,
                      (SELECT COUNT(*) FROM faces WHERE person_id = :p AND status = 'confirmed') AS confirmed,
                      (SELECT COUNT(*) FROM faces WHERE person_id = :p AND status = 'auto') AS suggested,
                      (SELECT COUNT(*) FROM face_rejections WHERE person_id = :p) AS rejected,
                      (SELECT COUNT(*) FROM samples WHERE person_id = :p) AS samples,
                      (SELECT MIN(id) FROM faces WHERE person_id = :p AND status = 'confirmed') AS first_face
               FROM people WHERE id = :p""",
            {"p": person_id},
        ).fetchone()

    def person_page_faces(self, person_id: int, limit: int | None = None, offset: int = 0) -> list:
        """A person's confirmed then suggested faces (suggestions nearest first, then by date and path):
        rows with ``id``, ``photo_id``, ``path``, ``box`` (JSON text), ``status``, ``distance``,
        ``taken_at``, ``width``, ``height``, ``source``."""
        sql = """SELECT f.id, f.photo_id, ph.path, f.box, f.status, f.distance, ph.taken_at, ph.width, ph.height, f.source
                 FROM faces f JOIN photos ph ON ph.id = f.photo_id
                 WHERE f.person_id = ? AND f.status IN ('confirmed', 'auto')
                 ORDER BY f.status = 'auto',
                          CASE WHEN f.status = 'auto' THEN f.distance END,
                          (ph.taken_at IS NULL OR ph.taken_at = ''), ph.taken_at, ph.path, f.id"""
        args: list = [person_id]
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), int(offset)]
        return self._conn().execute(sql, args).fetchall()

    def sample_owner(self, sample_id: int) -> int | None:
        """The id of the person a sample belongs to, or None when there is no such sample."""
        row = self._conn().execute("SELECT person_id FROM samples WHERE id = ?", (sample_id,)).fetchone()
        return None if row is None else int(row[0])

    # Decisions inside an undo ``Operation``: writes go through ``transaction()``, so they join the
    # operation's transaction (same connection on this thread) and commit or roll back with it.
    def face_state(self, face_id: int):
        """One face's decision state: a row with ``id``, ``person_id`` (int | None), ``status`` (str), or None."""
        return self._conn().execute("SELECT id, person_id, status FROM faces WHERE id = ?", (face_id,)).fetchone()

    def assign_face(self, face_id: int, person_id: int) -> None:
        """Confirm a face as ``person_id`` (forgetting a rejection of that person; no distance)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM face_rejections WHERE face_id = ? AND person_id = ?", (face_id, person_id))
            conn.execute("UPDATE faces SET status = 'confirmed', person_id = ?, distance = NULL WHERE id = ?", (person_id, face_id))

    def confirm_face(self, face_id: int) -> None:
        """Confirm a face's suggested person (keeps person and distance)."""
        with self.transaction() as conn:
            conn.execute("UPDATE faces SET status = 'confirmed' WHERE id = ?", (face_id,))

    def reject_face(self, face_id: int, person_id: int) -> None:
        """Reject ``person_id`` for a face (remembered; keeps person and distance)."""
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO face_rejections(face_id, person_id) VALUES (?, ?)", (face_id, person_id))
            conn.execute("UPDATE faces SET status = 'rejected' WHERE id = ?", (face_id,))

    def clear_face(self, face_id: int, status: FaceStatus | str) -> None:
        """Set a face to ``status`` (ignored or unknown) with no person and no distance."""
        with self.transaction() as conn:
            conn.execute("UPDATE faces SET status = ?, person_id = NULL, distance = NULL WHERE id = ?", (str(status), face_id))

    def update_face_matches(self, updates: Sequence[tuple[int | None, str, float | None, int]]) -> None:
        """Write re-matching results, ``(person_id, status, distance, face_id)`` each, in one transaction."""
        with self.transaction() as conn:
            conn.executemany("UPDATE faces SET person_id = ?, status = ?, distance = ? WHERE id = ?", updates)

    def person_sample_ids(self, person_id: int) -> list[int]:
        """The ids of a person's samples (unordered)."""
        return [r[0] for r in self._conn().execute("SELECT id FROM samples WHERE person_id = ?", (person_id,))]

    def person_face_ids(self, person_id: int) -> list[int]:
        """The ids of the faces that name ``person_id`` (any status; unordered)."""
        return [r[0] for r in self._conn().execute("SELECT id FROM faces WHERE person_id = ?", (person_id,))]

    def faces_rejected_for(self, person_ids: Sequence[int]) -> list[int]:
        """The ids of faces rejected for any of ``person_ids`` (repeats possible; unordered)."""
        marks = ",".join("?" * len(person_ids))
        return [r[0] for r in self._conn().execute(f"SELECT face_id FROM face_rejections WHERE person_id IN ({marks})", tuple(person_ids))]

    def set_person_hidden(self, person_id: int, hidden: bool) -> None:
        """Hide a person from the overview, or show them again."""
        with self.transaction() as conn:
            conn.execute("UPDATE people SET hidden = ?, updated_at = ? WHERE id = ?", (int(bool(hidden)), time.time(), person_id))

    def set_feature_face(self, person_id: int, face_id: int | None) -> None:
        """Choose the face shown for a person (None: the default, their first confirmed face)."""
        with self.transaction() as conn:
            conn.execute("UPDATE people SET feature_face_id = ?, updated_at = ? WHERE id = ?", (face_id, time.time(), person_id))

    # -- the undo log (facerec.library.undo keeps its rules; these are its statements) -------------
    # Each takes ``conn``: the connection of the transaction the undoable operation runs in.
    _UNDO_TABLES = ("people", "samples", "faces")

    def _undo_table(self, table: str) -> str:
        if table not in self._UNDO_TABLES:
            raise ValueError(f"cannot keep rows of {table!r}")
        return table

    def log_operation(self, conn, kind: str, summary: str) -> int:
        """Add an undo log entry; returns its id (int)."""
        cur = conn.execute("INSERT INTO operations(created_at, kind, summary) VALUES (?, ?, ?)", (time.time(), kind, summary))
        return int(cur.lastrowid)

    def drop_operation(self, conn, op_id: int) -> None:
        """Remove one undo log entry (and, by cascade, its rows)."""
        conn.execute("DELETE FROM operations WHERE id = ?", (op_id,))

    def trim_operations(self, conn, keep: int) -> None:
        """Keep only the newest ``keep`` undo log entries."""
        conn.execute("DELETE FROM operations WHERE id <= (SELECT id FROM operations ORDER BY id DESC LIMIT 1 OFFSET ?)", (keep,))

    def clear_operations(self) -> None:
        """Forget the whole undo log (own transaction)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM operations")

    def log_row(self, conn, op_id: int, seq: int, table: str, row_id: int, before: str | None) -> None:
        """Record a row's before-image (JSON text, None: the row did not exist) for an undo log entry."""
        conn.execute("INSERT INTO operation_rows(op_id, seq, tbl, row_id, before) VALUES (?, ?, ?, ?, ?)", (op_id, seq, table, row_id, before))

    def rows_by_id(self, conn, table: str, ids: Sequence[int]) -> dict:
        """Whole rows of ``table`` (people, samples or faces) by id: ``{id: row}`` (every column)."""
        marks = ",".join("?" * len(ids))
        return {r["id"]: r for r in conn.execute(f"SELECT * FROM {self._undo_table(table)} WHERE id IN ({marks})", list(ids))}

    def rejected_people(self, conn, face_id: int) -> list[int]:
        """The ids of the people a face was rejected for, ascending."""
        return [r[0] for r in conn.execute("SELECT person_id FROM face_rejections WHERE face_id = ? ORDER BY person_id", (face_id,))]

    def newest_operation(self, conn):
        """The newest undo log entry: a row with ``id``, ``kind``, ``summary``; None when the log is empty."""
        return conn.execute("SELECT id, kind, summary FROM operations ORDER BY id DESC LIMIT 1").fetchone()

    def operation_log_rows(self, conn, op_id: int) -> list:
        """An entry's before-images in the order recorded: rows with ``tbl``, ``row_id``, ``before`` (str | None)."""
        return conn.execute("SELECT tbl, row_id, before FROM operation_rows WHERE op_id = ? ORDER BY seq", (op_id,)).fetchall()

    def row_exists(self, conn, table: str, row_id: int) -> bool:
        """Whether ``table`` (people, samples, faces or face_groups) has a row with this id."""
        if table != "face_groups":
            self._undo_table(table)
        return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is not None

    def replace_rejections(self, conn, face_id: int, person_ids: Sequence[int]) -> None:
        """Set the people a face was rejected for (those still present)."""
        conn.execute("DELETE FROM face_rejections WHERE face_id = ?", (face_id,))
        conn.executemany("INSERT INTO face_rejections(face_id, person_id) SELECT ?, id FROM people WHERE id = ?", [(face_id, p) for p in person_ids])

    def delete_row(self, conn, table: str, row_id: int) -> None:
        """Delete one row of ``table`` (people, samples or faces) by id."""
        conn.execute(f"DELETE FROM {self._undo_table(table)} WHERE id = ?", (row_id,))

    def update_row(self, conn, table: str, row: dict) -> None:
        """Overwrite the row ``row["id"]`` of ``table`` with the columns of ``row``."""
        cols = [c for c in row if c != "id"]
        sets = ", ".join(f"{c} = ?" for c in cols)
        conn.execute(f"UPDATE {self._undo_table(table)} SET {sets} WHERE id = ?", [row[c] for c in cols] + [row["id"]])

    def insert_row(self, conn, table: str, row: dict) -> None:
        """Insert ``row`` (every column, id included) into ``table``; raises the backend's IntegrityError
        when it cannot come back (e.g. its photo or person is gone)."""
        cols = list(row)
        conn.execute(f"INSERT INTO {self._undo_table(table)}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", [row[c] for c in cols])


def _path_param(path: str | None) -> str | bytes | None:
    """Bind a file path (with ``CAST(? AS TEXT)``): a name that is not valid UTF-8 (Python holds it with
    surrogate escapes) is stored as its raw bytes, and ``_decode_text`` gives back the same ``str``."""
    if path is None:
        return None
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        try:
            return path.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that did not come from the filesystem
            return path.encode("utf-8", "surrogatepass")


def _split_sql(script: str | dict) -> list[str]:
    """The statements of a migration, as SQLite runs them (a trigger's ``BEGIN ...; END`` stays one)."""
    return split_statements(script["sqlite"] if isinstance(script, dict) else script, sqlite=True)


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad\u180e"), None)
"""Zero-width space, word joiner, byte-order mark, soft hyphen, Mongolian vowel separator: invisible, so two
names differing only by them would look the same (ZWJ/ZWNJ stay: scripts and emoji need them)."""
_BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def normal_name(name: str) -> str:
    """A name as it is stored and looked up: Unicode NFC (a name typed with combining accents is the same
    person as one typed precomposed), invisible characters removed, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", str(name)).translate(_INVISIBLE).split())


def _lookup_name(name: str) -> str:
    """``normal_name`` for a lookup (a name that cannot be stored finds nobody, it does not raise)."""
    return normal_name(name.encode("utf-8", "replace").decode("utf-8", "replace"))


def _clean_name(name: str) -> str:
    """``normal_name``, refusing what cannot be a person's name: bytes that are not UTF-8, control characters
    (terminal escape sequences), direction overrides, an empty or overlong name."""
    if any("\ud800" <= ch <= "\udfff" for ch in str(name)):
        raise StoreError("a person's name must be text: it contains bytes that are not valid UTF-8")
    name = normal_name(name)
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise StoreError("a person's name cannot contain control characters (such as terminal escape sequences)")
    if any(ch in _BIDI_OVERRIDES for ch in name):
        raise StoreError("a person's name cannot contain text-direction override characters")
    if not name:
        raise StoreError("a person's name cannot be empty")
    if len(name) > 200:
        raise StoreError("a person's name is limited to 200 characters")
    return name


def _round_box(box: Sequence[float] | None) -> list[float] | None:
    return None if box is None else [round(float(v), 1) for v in box]


CARRY_OVER_IOU = 0.5
"""A rescanned face is the same face as an earlier one when their boxes overlap at least this much (IoU)."""


def carry_over(
    old_boxes: Sequence[Sequence[float]], old_decided: Sequence[bool], new_boxes: Sequence[Sequence[float]], min_iou: float = CARRY_OVER_IOU
) -> dict[int, int]:
    """Pair a rescan's detections with a photo's earlier faces, one to one by box overlap (IoU >= ``min_iou``):
    the faces the user decided on are served first, then by IoU, best first. Returns {new index: old index}."""
    candidates = [
        (not old_decided[j], -iou, i, j)
        for j, ob in enumerate(old_boxes)
        for i, nb in enumerate(new_boxes)
        if (iou := box_iou(ob, nb)) >= min_iou
    ]
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for _, _, i, j in sorted(candidates):
        if i not in pairs and j not in used:
            pairs[i] = j
            used.add(j)
    return pairs


def _photo(r: sqlite3.Row) -> PhotoRecord:
    return PhotoRecord(
        r["id"], r["path"], r["size"], r["mtime_ns"], r["content_hash"], r["width"], r["height"], r["model_id"], r["error"],
        r["taken_at"], r["min_face_size"], bool(r["retry"]),
    )
