"""Backing up and restoring the gallery database.

A backup is a consistent snapshot taken with SQLite's online backup API (safe while the GUI or a scan
is writing) plus ``manifest.json``: format, facerec version, creation time, schema version, the
embedding models in it, row counts, and the database file's size and SHA-256. It is written as a
folder or, when the target ends in ``.zip``, a zip file; both are readable by the owner only.

Restoring verifies everything before touching the current gallery: the checksum, ``PRAGMA
integrity_check``, the schema version, and that every embedding model in the backup is known and
installed here (vectors of a foreign model cannot be compared with this installation's). The current
gallery is first copied aside (``<name>.before-restore-<time>.db``), then overwritten in place through
the backup API, so other open connections see either the old or the new gallery, never a mixture.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .config import data_dir, is_database_url, private_dir
from .errors import FacerecError
from .files import sha256_file
from .library.scratch import scratch_dir
from .store import MIGRATIONS, SCHEMA_VERSION, GalleryStore, _split_sql

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST_NAME = "manifest.json"
DB_NAME = "gallery.db"


class BackupError(FacerecError):
    """A backup could not be written, or a backup is corrupt, foreign or unusable."""


@dataclass
class Manifest:
    format: int
    facerec_version: str
    created: str
    """UTC time the snapshot was taken, ISO 8601."""
    schema_version: int
    models: dict[str, int]
    """Embedding model id -> number of vectors (enrolment samples and tagged faces) of that model."""
    counts: dict[str, int]
    db_file: str
    db_size: int
    db_sha256: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            d = json.loads(text)
            return cls(**{k: d[k] for k in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"the backup's {MANIFEST_NAME} is unreadable or incomplete ({exc})") from None


@dataclass
class RestoreResult:
    manifest: Manifest
    gallery: Path
    kept_copy: Path | None
    """Where the gallery that was replaced was saved (None when there was none)."""
    warnings: list[str] = field(default_factory=list)


# -- snapshots ----------------------------------------------------------------------------------------
def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
    else:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _private_file(path: Path) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def _fsync(path: Path) -> None:
    """Flush a file or folder to disk (a backup must survive a power cut right after it is reported)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def snapshot(src_path: Path, dst_path: Path) -> None:
    """Copy a live database to a new single file (rollback journal, owner-only) in one consistent step."""
    _private_file(dst_path)
    src = _connect(src_path)
    dst = _connect(dst_path)
    try:
        src.backup(dst)  # pages=-1: one step, one read transaction: a consistent snapshot
        dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"{src_path}: cannot copy the gallery ({exc})") from None
    finally:
        dst.close()
        src.close()


def _describe(db: Path) -> tuple[int, dict[str, int], dict[str, int]]:
    """Schema version, vectors per model id and row counts of a gallery file."""
    conn = _connect(db, readonly=True)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        data_tables = ("people", "samples", "photos", "faces")
        counts = {t: int(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in data_tables if t in tables}
        models: dict[str, int] = {}
        for table in ("samples", "faces"):
            if table in tables:
                for model_id, n in conn.execute(f"SELECT model_id, COUNT(*) FROM {table} GROUP BY model_id"):
                    if model_id is not None:
                        models[model_id] = models.get(model_id, 0) + int(n)
        return version, models, counts
    finally:
        conn.close()


def _integrity(db: Path) -> str:
    conn = _connect(db, readonly=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()
    result = "; ".join(str(r[0]) for r in rows)
    if result == "ok" and fk:
        return f"{len(fk)} rows refer to missing rows (foreign key check)"
    return result


# -- backup -------------------------------------------------------------------------------------------
def _refuse_server(gallery) -> None:
    if is_database_url(gallery):
        raise BackupError(
            "a PostgreSQL gallery is backed up with the server's own tools: pg_dump -Fc DBNAME > gallery.dump "
            "(and pg_restore to restore); facerec backup/restore handle SQLite gallery files"
        )


def backup_gallery(gallery: str | os.PathLike, out: str | os.PathLike) -> Manifest:
    """Write a backup of ``gallery`` to the folder ``out`` (new or empty) or the zip file ``out``.zip."""
    _refuse_server(gallery)
    gallery, out = Path(gallery), Path(out)
    if not gallery.is_file():
        raise BackupError(f"{gallery}: no gallery to back up")
    as_zip = out.suffix.lower() == ".zip"
    if as_zip and out.exists():
        raise BackupError(f"{out}: already exists; choose a new file name")
    if not as_zip and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out}: already exists and is not an empty folder; choose a new name")
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    with scratch_dir(parent, ".facerec-backup-") as tmp:  # a killed backup leaves no copy behind (swept)
        db = Path(tmp) / DB_NAME
        snapshot(gallery, db)
        check = _integrity(db)
        if check != "ok":
            raise BackupError(f"{gallery}: the gallery itself fails the integrity check ({check}); not backing it up")
        version, models, counts = _describe(db)
        manifest = Manifest(
            format=FORMAT,
            facerec_version=__version__,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            schema_version=version,
            models=models,
            counts=counts,
            db_file=DB_NAME,
            db_size=db.stat().st_size,
            db_sha256=sha256_file(db),
        )
        man = Path(tmp) / MANIFEST_NAME
        _private_file(man)
        man.write_text(manifest.to_json(), encoding="utf-8")
        if as_zip:
            part = Path(tmp) / "backup.zip"
            _private_file(part)
            with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.write(man, MANIFEST_NAME)
                zf.write(db, DB_NAME)
            _fsync(part)
            os.replace(part, out)
        else:
            out.mkdir(mode=0o700, exist_ok=True)
            os.chmod(out, 0o700)
            for f in (db, man):  # the manifest last: a backup without one is visibly incomplete
                _fsync(f)
                os.replace(f, out / f.name)
            _fsync(out)
    _fsync(parent)
    log.info("backed up %s to %s (%s)", gallery, out, counts)
    return manifest


# -- verification -------------------------------------------------------------------------------------
def known_models() -> dict[str, tuple[str, bool]]:
    """Model id -> (pack name, installed here) for every model pack this facerec knows."""
    from . import embedders

    return {p.model_id: (p.name, embedders.is_installed(p)) for p in embedders.list_packs()}


@contextlib.contextmanager
def opened_backup(source: str | os.PathLike):
    """Yield (manifest, path of the verified database copy in a private temporary folder)."""
    source = Path(source)
    if not source.exists():
        raise BackupError(f"{source}: no such backup")
    with scratch_dir(private_dir(data_dir()), ".facerec-restore-") as tmp:  # swept if the restore is killed
        db = Path(tmp) / DB_NAME
        _private_file(db)
        if source.is_dir():
            man_path, db_src = source / MANIFEST_NAME, source / DB_NAME
            if not man_path.is_file():
                raise BackupError(f"{source}: not a facerec backup ({MANIFEST_NAME} is missing)")
            if man_path.stat().st_size > MAX_MANIFEST_BYTES:
                raise BackupError(f"{source}: {MANIFEST_NAME} is too large for a facerec manifest; refusing to restore it")
            manifest = Manifest.from_json(man_path.read_text(encoding="utf-8", errors="replace"))
            db_src = source / Path(manifest.db_file).name
            if not db_src.is_file():
                raise BackupError(f"{source}: the backup is incomplete ({manifest.db_file} is missing)")
            _check_size(source, db_src.stat().st_size, manifest, tmp)
            _copy_bounded(db_src.open("rb"), db, manifest.db_size, source)
        else:
            try:
                with zipfile.ZipFile(source) as zf:
                    try:
                        if zf.getinfo(MANIFEST_NAME).file_size > MAX_MANIFEST_BYTES:
                            raise BackupError(f"{source}: {MANIFEST_NAME} is too large for a facerec manifest; refusing to restore it")
                        with zf.open(MANIFEST_NAME) as fin:
                            manifest = Manifest.from_json(fin.read(MAX_MANIFEST_BYTES).decode("utf-8", "replace"))
                        member = zf.getinfo(Path(manifest.db_file).name)
                        _check_size(source, member.file_size, manifest, tmp)  # before anything is extracted
                        _copy_bounded(zf.open(member), db, manifest.db_size, source)
                    except KeyError as exc:
                        raise BackupError(f"{source}: the backup is incomplete ({exc.args[0]})") from None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError) as exc:
                raise BackupError(f"{source}: the backup is corrupted or not a facerec backup ({exc}); refusing to restore it") from None
        verify(manifest, db, source)
        yield manifest, db


MAX_MANIFEST_BYTES = 1 << 20
"""A manifest is a few hundred bytes: a larger one is not facerec's."""


def _check_size(source: Path, size: int, manifest: Manifest, workdir: str | os.PathLike) -> None:
    """Refuse, before extracting anything, a database whose stored size is not the manifest's, or that would
    not fit in the working folder."""
    if size != manifest.db_size:
        raise BackupError(
            f"{source}: {manifest.db_file} is {size} bytes but the manifest says {manifest.db_size}; the backup is "
            "corrupted or was altered; refusing to restore it (nothing was extracted)"
        )
    free = shutil.disk_usage(workdir).free
    if size > free:
        raise BackupError(f"{source}: {manifest.db_file} needs {size / 2**20:.0f} MB but only {free / 2**20:.0f} MB are free in {workdir}")


def _copy_bounded(fin, dest: Path, size: int, source: Path) -> None:
    """Copy at most ``size`` bytes (a member whose header lies about its size is stopped, not extracted)."""
    copied = 0
    with fin, open(dest, "wb") as fout:
        while chunk := fin.read(1 << 20):
            copied += len(chunk)
            if copied > size:
                raise BackupError(f"{source}: the database is larger than its manifest says; refusing to restore it")
            fout.write(chunk)


def expected_schema(version: int) -> set[tuple[str, str, str]]:
    """The (type, name, SQL) of every object facerec creates at schema ``version`` (whitespace normalised)."""
    conn = sqlite3.connect(":memory:")
    try:
        for v in range(1, version + 1):
            for statement in _split_sql(MIGRATIONS[v]):
                conn.execute(statement)
        return _schema(conn)
    finally:
        conn.close()


def _schema(conn: sqlite3.Connection) -> set[tuple[str, str, str]]:
    return {(t, n, " ".join((sql or "").split())) for t, n, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")}


def _foreign_schema(db: Path, version: int) -> list[str]:
    """Objects in the backup that facerec does not create at its version (a planted trigger, a view...),
    and facerec objects that were altered; [] when the schema is exactly facerec's."""
    conn = _connect(db, readonly=True)
    try:
        found = _schema(conn)
    finally:
        conn.close()
    expected = expected_schema(version)
    names = {(t, n) for t, n, _ in expected}
    return sorted(f"{t} {n}" + (" (altered)" if (t, n) in names else "") for t, n, sql in found - expected)


def verify(manifest: Manifest, db: Path, label: str | os.PathLike = "backup") -> None:
    """Refuse a corrupted, newer or foreign-model backup with a message saying what is wrong."""
    if manifest.format > FORMAT:
        raise BackupError(f"{label}: backup format {manifest.format} is newer than this facerec reads ({FORMAT}); upgrade facerec")
    size, digest = db.stat().st_size, sha256_file(db)
    if size != manifest.db_size or digest != manifest.db_sha256:
        raise BackupError(
            f"{label}: the backup is corrupted: {manifest.db_file} does not match the checksum in its manifest "
            f"(sha256 {digest[:16]}..., expected {manifest.db_sha256[:16]}...); refusing to restore it"
        )
    try:
        check = _integrity(db)
        version, models, _ = _describe(db)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{label}: the backup's database is unreadable ({exc}); refusing to restore it") from None
    if check != "ok":
        raise BackupError(f"{label}: the backup's database fails the integrity check ({check}); refusing to restore it")
    if version != manifest.schema_version:
        raise BackupError(f"{label}: schema version {version} does not match the manifest ({manifest.schema_version})")
    if version > SCHEMA_VERSION:
        raise BackupError(
            f"{label}: the backup has schema version {version}, newer than this facerec supports ({SCHEMA_VERSION}); upgrade facerec"
        )
    if version >= 1:
        foreign = _foreign_schema(db, version)
        if foreign:
            raise BackupError(
                f"{label}: the backup's database holds objects facerec does not create ({', '.join(foreign[:5])}"
                f"{'...' if len(foreign) > 5 else ''}): it was altered; refusing to restore it"
            )
    known = known_models()
    for model_id in sorted(models):
        if model_id not in known:
            raise BackupError(
                f"{label}: the backup holds face data of the foreign model {model_id!r}, which this facerec does not "
                f"know (known: {', '.join(sorted(known)) or 'none'}); refusing to restore it"
            )
        pack, installed = known[model_id]
        if not installed:
            raise BackupError(
                f"{label}: the backup holds face data of model {model_id!r}, which is not installed here; "
                f"install it first (facerec models install {pack}), then restore again"
            )


# -- restore ------------------------------------------------------------------------------------------
def restore_gallery(source: str | os.PathLike, gallery: str | os.PathLike) -> RestoreResult:
    """Verify the backup at ``source``, keep a copy of the current ``gallery``, then replace it."""
    _refuse_server(gallery)
    gallery = Path(gallery)
    with opened_backup(source) as (manifest, db):
        kept: Path | None = None
        gallery.parent.mkdir(parents=True, exist_ok=True)
        if gallery.exists() and gallery.stat().st_size > 0:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            kept = gallery.with_name(f"{gallery.stem}.before-restore-{stamp}{gallery.suffix or '.db'}")
            n = 1
            while kept.exists():
                n += 1
                kept = gallery.with_name(f"{gallery.stem}.before-restore-{stamp}-{n}{gallery.suffix or '.db'}")
            snapshot(gallery, kept)
            log.info("kept the current gallery as %s", kept)
        else:
            _private_file(gallery)
        with GalleryStore(db) as restored:  # this facerec's schema, and a new epoch: running scans see the change
            restored.new_epoch()
            restored.checkpoint()
        src = _connect(db, readonly=True)
        dst = _connect(gallery)
        try:
            src.backup(dst)  # one step: other connections see the old or the new gallery, never a mix
        except sqlite3.Error as exc:
            raise BackupError(
                f"{gallery}: could not write the restored gallery ({exc}); "
                + (f"the previous gallery is kept at {kept}" if kept else "nothing was changed")
            ) from None
        finally:
            dst.close()
            src.close()
    with GalleryStore(gallery) as store:  # migrates an older schema, re-applies owner-only permissions
        check = store.integrity_check()
        store.checkpoint()
    if check != "ok":
        raise BackupError(f"{gallery}: the restored gallery fails the integrity check ({check}); the previous one is at {kept}")
    return RestoreResult(manifest, gallery, kept)
