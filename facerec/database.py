"""Database backends of the gallery store: SQLite (the default, one file) or PostgreSQL (a shared server).

The store (``facerec.store``) writes its SQL once, in SQLite's dialect, and asks a ``Database`` for the few
things that differ: connecting, starting a write transaction, the schema version, a copy before a migration,
integrity checks, erasure. ``PostgresDatabase`` translates each statement once (cached):

- placeholders ``?`` / ``:name`` -> ``%s`` / ``%(name)s`` (client-side binding, so untyped ``? IS NULL`` works);
- DDL types: ``INTEGER PRIMARY KEY [AUTOINCREMENT]`` -> an identity column (ids never reused), ``INTEGER`` ->
  ``BIGINT``, ``REAL`` -> ``DOUBLE PRECISION``, ``BLOB`` -> ``BYTEA``; ``DROP TABLE t`` -> ``... CASCADE``;
- ``COLLATE NOCASE`` columns: a unique index on ``lower(col)``, and ``col = ?`` compares ``lower()`` of both;
  ``ORDER BY x COLLATE NOCASE`` -> ``ORDER BY lower(x)``; ``LIKE`` -> ``ILIKE`` (SQLite's LIKE ignores case);
- scalar ``MAX(a, b)`` / ``MIN(a, b)`` -> ``GREATEST`` / ``LEAST``; ``IFNULL`` -> ``COALESCE``; ``INSTR`` ->
  ``STRPOS``; ``GROUP_CONCAT(x[, sep])`` -> ``STRING_AGG``; ``IS ?`` -> ``IS NOT DISTINCT FROM``;
  ``CAST(x AS BLOB)`` -> ``convert_to(x, 'UTF8')``; ``INSERT OR IGNORE`` -> ``ON CONFLICT DO NOTHING``;
- ``PRAGMA ...`` -> nothing; an ``INSERT`` into a table with an ``id`` column returns it (``cursor.lastrowid``).

Write transactions are serialised on both (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-level advisory
lock), so the store's read-then-write logic (face id counter, rescans) behaves the same. A migration that cannot
be written portably may be a dict ``{"sqlite": ..., "postgresql": ...}`` in ``store.MIGRATIONS``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import sqlite3
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .config import is_database_url, private_dir
from .errors import GalleryMissingError, StoreError

log = logging.getLogger(__name__)

def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def open_database(target: str | os.PathLike, busy_timeout_s: float = 30.0, schema: Iterable[str | dict] = ()) -> Database:
    """A ``SqliteDatabase`` for a file path, a ``PostgresDatabase`` for a ``postgresql://`` URL. ``schema``: the
    migration scripts (the PostgreSQL translation reads their ``COLLATE NOCASE`` columns and ``id`` tables)."""
    if is_database_url(target):
        return PostgresDatabase(str(target), busy_timeout_s, schema)
    return SqliteDatabase(Path(target), busy_timeout_s)


class Database:
    """What differs between the store's backends. ``path`` is a local file: the SQLite gallery itself, or for a
    server the anchor of this machine's side files (e.g. personalisation heads, ``<path>.adapt-*.npz``)."""

    kind = ""
    path: Path
    label: str
    Error: type[Exception] = Exception
    OperationalError: type[Exception] = Exception
    DatabaseError: type[Exception] = Exception
    IntegrityError: type[Exception] = Exception

    def prepare(self, create: bool = True) -> None:
        """Check and create what must exist before the first connection (a new file: owner-only); with
        ``create`` False (read-only commands) nothing is created."""

    def connect(self):
        raise NotImplementedError

    def configure(self, conn, retry) -> None:
        """Set up a new connection (pragmas, type adapters); ``retry`` wraps busy retries."""
        raise NotImplementedError

    def begin(self, conn) -> None:
        """Start a write transaction that excludes every other writer until COMMIT/ROLLBACK."""
        raise NotImplementedError

    def begin_read(self, conn) -> None:
        """Start a read-only transaction: every query until COMMIT/ROLLBACK sees one snapshot of the database
        (commits made meanwhile by other connections are not seen); writers are not held up."""
        raise NotImplementedError

    def is_busy(self, exc: Exception) -> bool:
        """The error means "another writer holds the lock": worth retrying."""
        return False

    def get_version(self, conn) -> int:
        raise NotImplementedError

    def set_version(self, conn, version: int) -> None:
        raise NotImplementedError

    def script(self, migration: str | dict) -> list[str]:
        """The statements of one migration for this backend."""
        sql = migration.get(self.kind, migration.get("sql", "")) if isinstance(migration, dict) else migration
        return split_statements(sql, sqlite=self.kind == "sqlite")

    def keep_copy(self, conn, label: str) -> str:
        raise NotImplementedError

    def integrity_check(self, conn) -> str:
        raise NotImplementedError

    def erase_freed(self, conn, wait_s: float | None = None) -> bool:
        """Make deleted rows unrecoverable from the database's files (after a person is erased), waiting at most
        ``wait_s`` seconds for other connections (default: the busy timeout). True when it is done; False when
        another connection's open read still needs the old data (it stays in the files until then)."""
        return True

    def nearest_faces(self, conn, embedding: np.ndarray, model_id: str, k: int) -> list[tuple[int, float]] | None:
        """(face id, cosine distance) of the ``k`` nearest library faces by a database index, or None when the
        database has none (the store then searches exactly)."""
        return None

    def forget_vectors(self, conn, model_id: str) -> None:
        """Drop the database's own copies (index) of the faces' vectors of ``model_id``, inside the caller's
        transaction, after those faces' vectors or model id changed in place; a no-op where there are none."""


# -- SQLite -----------------------------------------------------------------------------------------------
class SqliteDatabase(Database):
    kind = "sqlite"
    Error = sqlite3.Error
    OperationalError = sqlite3.OperationalError
    DatabaseError = sqlite3.DatabaseError
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: Path, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self.label = str(self.path)
        self.busy_timeout_s = busy_timeout_s

    def prepare(self, create: bool = True) -> None:
        """Check the file before any connection touches it (a connection switches it to WAL mode): a folder,
        another application's SQLite database or a missing file (when ``create`` is False, for read-only
        commands) is refused with the reason and left as it is. A new gallery is made owner-only; an existing
        one only loses group and other access (a read-only gallery stays read-only)."""
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a gallery file (give the path of a .db file)")
        if not self.path.exists():
            if not create:
                raise GalleryMissingError(f"{self.path}: no gallery there (nothing was created; check the path, or enrol someone to start one)")
            private_dir(self.path.parent)  # new folders: owner-only
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                os.close(fd)
                os.chmod(self.path, 0o600)  # whatever the umask
            except FileExistsError:  # another process created it at the same moment
                pass
            return
        st = self.path.stat()
        if st.st_size > 0:
            foreign = _foreign_objects(self.path)
            if foreign:
                raise StoreError(
                    f"{self.path}: is another application's SQLite database (it has {', '.join(foreign[:5])}"
                    f"{'...' if len(foreign) > 5 else ''} and no facerec schema version); refusing to add facerec's tables to it"
                )
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            with contextlib.suppress(OSError):  # a gallery: others lose access; no permission is ever added
                os.chmod(self.path, stat.S_IMODE(st.st_mode) & ~0o077)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.text_factory = _decode_text
        return conn

    def configure(self, conn: sqlite3.Connection, retry) -> None:
        retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")

    def begin(self, conn) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def begin_read(self, conn) -> None:
        conn.execute("BEGIN")  # deferred: the snapshot is taken at the first read (WAL readers never block writers)

    def is_busy(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))

    def get_version(self, conn) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def set_version(self, conn, version: int) -> None:
        conn.execute(f"PRAGMA user_version={int(version)}")

    def keep_copy(self, conn, label: str) -> str:
        dest = self.path.with_name(f"{self.path.stem}.{label}{self.path.suffix or '.db'}")
        os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        target = sqlite3.connect(dest)
        try:
            conn.backup(target)
        finally:
            target.close()
        return str(dest)

    def integrity_check(self, conn) -> str:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])

    def erase_freed(self, conn, wait_s: float | None = None) -> bool:
        """``secure_delete`` overwrote the freed pages; fold the WAL in and truncate it. A reader in another
        process that still sees the old rows keeps them in the main file until its read ends (False)."""
        if wait_s is not None:
            conn.execute(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
        try:
            row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return row is not None and int(row[0]) == 0
        except sqlite3.Error:
            return False
        finally:
            if wait_s is not None:
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")


FACEREC_TABLES = frozenset({
    "people", "photos", "faces", "samples", "id_counters", "face_rejections", "operations", "operation_rows",
    "xmp_written", "xmp_read", "face_groups", "gallery_state", "sqlite_sequence",
})


def _foreign_objects(path: Path) -> list[str]:
    """The tables of an existing SQLite file at schema version 0 that facerec did not create (a half-created
    facerec gallery has none); [] for a facerec gallery. Read through a read-only connection."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return []  # unreadable: the store's own opening says why
    try:
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) != 0:
            return []
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    except sqlite3.DatabaseError:
        return []  # not a database at all: reported as such when the store opens it
    finally:
        conn.close()
    return [n for n in names if n not in FACEREC_TABLES]


def split_statements(script: str, sqlite: bool = True) -> list[str]:
    """The statements of a script, split at semicolons that end a statement: not inside a trigger's
    ``BEGIN ...; END`` (SQLite) nor a ``$$ ... $$`` body (PostgreSQL functions, DO blocks)."""
    out, buf = [], ""
    for piece in script.split(";"):
        buf += piece + ";"
        if buf.count("$$") % 2 == 0 and (not sqlite or sqlite3.complete_statement(buf)):
            if buf.strip(" \n\t;"):
                out.append(buf.strip().rstrip(";").strip())
            buf = ""
    if buf.strip(" \n\t;"):
        out.append(buf.strip().rstrip(";").strip())
    return out


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# -- PostgreSQL -------------------------------------------------------------------------------------------
_LOCK_KEY = 0x66616365  # "face": the advisory lock every facerec write transaction holds


class PostgresDatabase(Database):
    """A gallery on a PostgreSQL server (psycopg 3), shared by every machine that can reach it."""

    kind = "postgresql"

    def __init__(self, url: str, busy_timeout_s: float = 30.0, schema: Iterable[str | dict] = ()):
        try:
            import psycopg
        except ImportError:
            raise StoreError("a PostgreSQL gallery needs psycopg: pip install 'facerec[postgres]'") from None
        self._psycopg = psycopg
        self.Error = psycopg.Error
        self.OperationalError = psycopg.OperationalError
        self.DatabaseError = psycopg.DatabaseError
        self.IntegrityError = psycopg.IntegrityError
        self.url = url
        self.label = redact_url(url)
        self.busy_timeout_s = busy_timeout_s
        from .config import data_dir

        digest = hashlib.sha256(self.label.encode()).hexdigest()[:16]
        self.path = data_dir() / "postgresql" / f"{digest}.gallery"
        self.dialect = PostgresDialect(schema)
        self.has_vector = False

    def prepare(self, create: bool = True) -> None:
        if create:
            private_dir(self.path.parent)

    def connect(self) -> PgConnection:
        psycopg = self._psycopg
        raw = psycopg.connect(
            self.url, autocommit=True, cursor_factory=psycopg.ClientCursor, connect_timeout=max(1, int(self.busy_timeout_s))
        )
        raw.execute(f"SET lock_timeout = {int(self.busy_timeout_s * 1000)}")
        conn = PgConnection(raw, self.dialect)
        if not self.has_vector:
            self.has_vector = raw.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is not None
        return conn

    def configure(self, conn, retry) -> None:
        pass

    def begin_read(self, conn: PgConnection) -> None:
        conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def begin(self, conn: PgConnection) -> None:
        conn.raw.execute("BEGIN")
        try:
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        except BaseException:
            conn.raw.execute("ROLLBACK")
            raise

    def is_busy(self, exc: Exception) -> bool:
        errors = self._psycopg.errors
        return isinstance(exc, (errors.LockNotAvailable, errors.SerializationFailure, errors.DeadlockDetected))

    def get_version(self, conn: PgConnection) -> int:
        if conn.raw.execute("SELECT to_regclass('facerec_meta')").fetchone()[0] is None:
            return 0
        row = conn.raw.execute("SELECT value FROM facerec_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def set_version(self, conn: PgConnection, version: int) -> None:
        if version == 1:  # the first migration: extensions where the server has them (pgvector)
            self._try_extension(conn, "vector")
        for table in sorted(self.dialect.id_tables):  # rows inserted with explicit ids: identities continue after them
            if conn.raw.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
                conn.raw.execute(
                    f"""SELECT setval(seq, n) FROM (SELECT seq, GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}),
                           COALESCE((SELECT last_value FROM pg_sequences WHERE format('%I.%I', schemaname, sequencename) = seq), 0)) AS n
                        FROM pg_get_serial_sequence('{table}', 'id') AS seq) AS t WHERE seq IS NOT NULL AND n > 0"""
                )
        conn.raw.execute("CREATE TABLE IF NOT EXISTS facerec_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)")
        conn.raw.execute(
            """INSERT INTO facerec_meta(key, value) VALUES ('schema_version', %s)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            (int(version),),
        )

    def _try_extension(self, conn: PgConnection, name: str) -> None:
        conn.raw.execute("SAVEPOINT ext")
        try:
            conn.raw.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
            conn.raw.execute("RELEASE SAVEPOINT ext")
            self.has_vector = self.has_vector or name == "vector"
        except self.Error as exc:  # not installed on the server, or no privilege: exact search instead
            conn.raw.execute("ROLLBACK TO SAVEPOINT ext")
            log.info("%s: extension %s not available (%s); nearest faces are searched exactly", self.label, name, exc)

    def keep_copy(self, conn: PgConnection, label: str) -> str:
        """Copy every table into the schema ``facerec_<label>`` of the same database."""
        schema = "facerec_" + re.sub(r"\W", "_", label)
        tables = [r[0] for r in conn.raw.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        conn.raw.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.raw.execute(f"CREATE SCHEMA {schema}")
        for table in tables:
            conn.raw.execute(f'CREATE TABLE {schema}."{table}" AS TABLE "{table}"')
        return f"{self.label} schema {schema}"

    def integrity_check(self, conn: PgConnection) -> str:
        """"ok" when every foreign key of the gallery holds (the server checks pages itself)."""
        bad = conn.raw.execute(
            """SELECT (SELECT COUNT(*) FROM faces f WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.id = f.photo_id))
                    + (SELECT COUNT(*) FROM samples s WHERE NOT EXISTS (SELECT 1 FROM people p WHERE p.id = s.person_id))"""
        ).fetchone()[0]
        return "ok" if bad == 0 else f"{bad} rows point to missing photos or people"

    def erase_freed(self, conn: PgConnection, wait_s: float | None = None) -> bool:
        """Rewrite the tables that held the erased person (VACUUM FULL): their old row versions go with the old files."""
        if conn.in_transaction:
            return False
        try:
            conn.raw.execute("VACUUM FULL samples, people")
        except self.Error:
            return False
        return True

    def forget_vectors(self, conn: PgConnection, model_id: str) -> None:
        """``face_vectors`` copies faces once and never looks at them again (faces are not updated in place, except
        by a conversion of their model's vectors): drop that model's rows, ``_sync_vectors`` copies them anew."""
        if conn.raw.execute("SELECT to_regclass('face_vectors')").fetchone()[0] is not None:
            conn.raw.execute("DELETE FROM face_vectors WHERE model_id = %s", (model_id,))

    def nearest_faces(self, conn: PgConnection, embedding: np.ndarray, model_id: str, k: int) -> list[tuple[int, float]] | None:
        if not self.has_vector:
            return None
        query = np.asarray(embedding, dtype=np.float32).ravel()
        dim = int(query.shape[0])
        self._sync_vectors(conn, model_id, dim)
        conn.raw.execute(f"SET hnsw.ef_search = {min(1000, max(100, 4 * int(k)))}")
        rows = conn.raw.execute(
            f"""SELECT face_id, (vec::vector({dim})) <=> %s::vector({dim}) AS d FROM face_vectors
                WHERE model_id = %s ORDER BY (vec::vector({dim})) <=> %s::vector({dim}) LIMIT %s""",
            (_vector_text(query), model_id, _vector_text(query), int(k)),
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def _sync_vectors(self, conn: PgConnection, model_id: str, dim: int) -> None:
        """Keep ``face_vectors`` (pgvector copies of the faces' embeddings, HNSW-indexed per model) up to date:
        face rows are never updated in place (a rescan inserts new ids), so copying the missing ones suffices."""
        raw = conn.raw
        raw.execute(
            """CREATE TABLE IF NOT EXISTS face_vectors (face_id BIGINT PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
                   model_id TEXT NOT NULL, vec vector NOT NULL)"""
        )
        while True:
            rows = raw.execute(
                """SELECT f.id, f.embedding FROM faces f WHERE f.model_id = %s
                   AND NOT EXISTS (SELECT 1 FROM face_vectors v WHERE v.face_id = f.id) LIMIT 5000""",
                (model_id,),
            ).fetchall()
            if not rows:
                break
            with raw.cursor() as cur, cur.copy("COPY face_vectors (face_id, model_id, vec) FROM STDIN") as copy:
                for fid, blob in rows:
                    copy.write_row((fid, model_id, _vector_text(np.frombuffer(blob, dtype="<f4"))))
        # Built once after the first bulk copy (much faster than growing it row by row), kept up to date after.
        index = "face_vectors_" + hashlib.sha1(f"{model_id}/{dim}".encode()).hexdigest()[:12]
        raw.execute(
            f"""CREATE INDEX IF NOT EXISTS {index} ON face_vectors USING hnsw ((vec::vector({dim})) vector_cosine_ops)
                WHERE model_id = {_sql_literal(model_id)}"""
        )


def _vector_text(vec: np.ndarray) -> str:
    return "[" + ",".join(f"{float(v):.7g}" for v in vec) + "]"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class PgRow(tuple):
    """A result row readable by position and by column name, like ``sqlite3.Row``."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence, names: dict[str, int]):
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _pg_row_factory(cursor):
    names = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: PgRow(values, names)


class PgCursor:
    """The part of ``sqlite3.Cursor`` the store uses: fetchone/fetchall/iteration, rowcount, lastrowid."""

    def __init__(self, cursor=None, returns_id: bool = False):
        self._cursor = cursor
        self.rowcount = cursor.rowcount if cursor is not None else -1
        self.lastrowid = None
        self._rows: list | None = None
        if returns_id and cursor is not None:
            rows = cursor.fetchall()
            self.lastrowid = int(rows[-1][0]) if rows else None
            self._rows = []

    def fetchone(self):
        if self._rows is not None:
            return self._rows.pop(0) if self._rows else None
        return self._cursor.fetchone() if self._cursor is not None and self._cursor.description else None

    def fetchall(self) -> list:
        if self._rows is not None:
            rows, self._rows = self._rows, []
            return rows
        return self._cursor.fetchall() if self._cursor is not None and self._cursor.description else []

    def fetchmany(self, size: int) -> list:
        if self._rows is not None:
            rows, self._rows = self._rows[:size], self._rows[size:]
            return rows
        return self._cursor.fetchmany(size) if self._cursor is not None and self._cursor.description else []

    def __iter__(self):
        return iter(self.fetchall())


class PgConnection:
    """A psycopg connection that takes the store's SQLite-dialect SQL (see the module docstring)."""

    def __init__(self, raw, dialect: PostgresDialect):
        self.raw = raw
        self.dialect = dialect

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence | dict | None = None) -> PgCursor:
        statements, returns_id = self.dialect.translate(sql, bool(params))
        if not statements:
            return PgCursor()
        args = _pg_params(params) if params else None
        cur = None
        for stmt in statements:
            cur = self.raw.cursor(row_factory=_pg_row_factory)
            self._run(stmt, lambda s, cur=cur: cur.execute(s, args))
        return PgCursor(cur, returns_id)

    def executemany(self, sql: str, seq: Iterable) -> PgCursor:
        statements, _ = self.dialect.translate(sql, True, many=True)
        cur = self.raw.cursor()
        rows = [_pg_params(p) for p in seq]
        for stmt in statements:
            self._run(stmt, lambda s: cur.executemany(s, rows))
        return PgCursor()

    def _run(self, stmt: str, run) -> None:
        """Run one statement as SQLite would: a failed statement inside a transaction undoes only itself (a
        savepoint around writes), and a table dropped to be rebuilt gets back the foreign keys that pointed to it."""
        dropped = _DROP_TABLE.match(stmt)
        if dropped:
            self._keep_foreign_keys(dropped.group(1))
        if self.in_transaction and _WRITE.match(stmt):
            self.raw.execute("SAVEPOINT facerec_stmt")
            try:
                run(stmt)
            except Exception:
                self.raw.execute("ROLLBACK TO SAVEPOINT facerec_stmt")
                self.raw.execute("RELEASE SAVEPOINT facerec_stmt")
                raise
            self.raw.execute("RELEASE SAVEPOINT facerec_stmt")
        else:
            run(stmt)
        renamed = _RENAME_TABLE.match(stmt)
        if renamed:
            self._restore_foreign_keys(renamed.group(1))

    def _keep_foreign_keys(self, table: str) -> None:
        rows = self.raw.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
               WHERE contype = 'f' AND confrelid = to_regclass(%s) AND conrelid <> confrelid""",
            (table,),
        ).fetchall()
        self._dropped_fks = getattr(self, "_dropped_fks", {})
        self._dropped_fks.setdefault(table.lower(), []).extend(rows)

    def _restore_foreign_keys(self, table: str) -> None:
        for relation, name, definition in getattr(self, "_dropped_fks", {}).pop(table.lower(), []):
            self.raw.execute(f'ALTER TABLE {relation} ADD CONSTRAINT "{name}" {definition}')

    def close(self) -> None:
        self.raw.close()


def _pg_params(params):
    if isinstance(params, dict):
        return {k: _pg_value(v) for k, v in params.items()}
    return [_pg_value(v) for v in params]


def _pg_value(value):
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


_DROP_TABLE = re.compile(r"\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)", re.I)
_RENAME_TABLE = re.compile(r"\s*ALTER\s+TABLE\s+\w+\s+RENAME\s+TO\s+(\w+)", re.I)
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE)\b", re.I)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_PARAM = re.compile(r"\?|(?<![:\w]):([A-Za-z_]\w*)")
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)
_ALTER_TABLE = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)", re.I)
_NOCASE_COLUMN = re.compile(r"\b(\w+)\s+TEXT\b([^,()]*?)\bCOLLATE\s+NOCASE", re.I)
_FUNCTIONS = {"IFNULL": "COALESCE", "INSTR": "STRPOS"}


class PostgresDialect:
    """Translates the store's SQLite SQL to PostgreSQL. ``schema``: the migration scripts, read for the tables
    that have an ``id`` column (their INSERTs return it) and the ``COLLATE NOCASE`` columns."""

    def __init__(self, schema: Iterable[str | dict] = ()):
        self.id_tables: set[str] = set()
        self.nocase: set[str] = set()
        for script in schema:
            if isinstance(script, dict):
                script = script.get("sqlite", "")
            for stmt in script.split(";"):
                m = _CREATE_TABLE.match(stmt) or _ALTER_TABLE.match(stmt)
                if m and re.search(r"\bid\s+INTEGER\s+PRIMARY\s+KEY", stmt, re.I):
                    self.id_tables.add(m.group(1).lower())
                self.nocase.update(c.lower() for c, _ in _NOCASE_COLUMN.findall(stmt))
        self.translate = functools.lru_cache(maxsize=1024)(self._translate)

    def _translate(self, sql: str, has_params: bool, many: bool = False) -> tuple[tuple[str, ...], bool]:
        """(statements, whether the last returns the inserted id)."""
        head = sql.lstrip().upper()
        if head.startswith("PRAGMA"):
            return (), False
        extra: list[str] = []
        code = re.sub(r"(?<!\w)[xX]'([0-9a-fA-F]*)'", r"'\\x\1'::bytea", sql)  # blob literals
        if head.startswith(("CREATE TABLE", "ALTER TABLE")):
            code, extra = self._ddl(code)
        elif head.startswith("DROP TABLE") and "CASCADE" not in head:
            code = code.rstrip() + " CASCADE"
        code = self._nocase_comparisons(_map_code(code, self._expressions))
        code = _rewrite_calls(code, self._call)
        returns_id = False
        insert = re.match(r"\s*INSERT\s+(OR\s+IGNORE\s+)?INTO\s+(\w+)", code, re.I)
        if insert:
            if insert.group(1):
                code = re.sub(r"\s*INSERT\s+OR\s+IGNORE\s+INTO", "INSERT INTO", code, count=1, flags=re.I)
                code = _append_before_returning(code, " ON CONFLICT DO NOTHING")
            if not many and insert.group(2).lower() in self.id_tables and not re.search(r"\bRETURNING\b", code, re.I):
                code = code.rstrip() + " RETURNING id"
                returns_id = True
        elif re.match(r"\s*(INSERT|REPLACE)\s+OR\s+REPLACE|\s*REPLACE\s+INTO", code, re.I):
            raise StoreError("INSERT OR REPLACE is not portable: use INSERT ... ON CONFLICT(col) DO UPDATE SET ...")
        if has_params:
            code = _map_code(code, _placeholders, quoted=lambda q: q.replace("%", "%%"))
        return (code, *extra), returns_id

    def _ddl(self, stmt: str) -> tuple[str, list[str]]:
        table = (_CREATE_TABLE.match(stmt) or _ALTER_TABLE.match(stmt)).group(1)
        extra: list[str] = []

        def nocase(m: re.Match) -> str:
            column, rest = m.group(1), m.group(2)
            if re.search(r"\bUNIQUE\b", rest, re.I):
                rest = re.sub(r"\s*\bUNIQUE\b", "", rest, flags=re.I)
                extra.append(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_{column}_nocase ON {table} (lower({column}))")
            return f"{column} TEXT{rest.rstrip()}"

        stmt = _map_code(stmt, lambda part: _NOCASE_COLUMN.sub(nocase, part))

        def types(part: str) -> str:
            part = re.sub(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", part, flags=re.I)
            part = re.sub(r"\bINTEGER\b", "BIGINT", part, flags=re.I)
            part = re.sub(r"\bREAL\b", "DOUBLE PRECISION", part, flags=re.I)
            return re.sub(r"\bBLOB\b", "BYTEA", part, flags=re.I)

        return _map_code(stmt, types), extra

    def _expressions(self, part: str) -> str:
        part = re.sub(r"\bCAST\(\s*([\w.]+)\s+AS\s+BLOB\s*\)", r"convert_to(\1, 'UTF8')", part, flags=re.I)
        part = re.sub(r"\bIS\s+NOT\s+\?", "IS DISTINCT FROM ?", part, flags=re.I)
        part = re.sub(r"\bIS\s+\?", "IS NOT DISTINCT FROM ?", part, flags=re.I)
        part = re.sub(r"\bNOT\s+LIKE\b", "NOT ILIKE", part, flags=re.I)
        part = re.sub(r"(?<!NOT )\bLIKE\b", "ILIKE", part, flags=re.I)
        part = re.sub(r"([\w.]+)\s+COLLATE\s+NOCASE", r"lower(\1)", part, flags=re.I)
        return part

    def _nocase_comparisons(self, sql: str) -> str:
        """``col = ?`` -> ``lower(col) = lower(?)`` for COLLATE NOCASE columns, outside quotes and SET lists."""
        if not self.nocase:
            return sql
        masked = _map_code(sql, lambda part: part, quoted=lambda q: "\0" * len(q))
        assignments = [(m.start(), m.end()) for m in re.finditer(r"\bSET\b.*?(?=\bWHERE\b|$)", masked, re.I | re.S)]
        names = "|".join(sorted(self.nocase))
        pattern = re.compile(rf"(?<![\w.])((?:\w+\.)?(?:{names}))\s*=\s*\?", re.I)
        for m in reversed(list(pattern.finditer(masked))):
            if not any(a <= m.start() < b for a, b in assignments):
                sql = sql[: m.start()] + f"lower({m.group(1)}) = lower(?)" + sql[m.end() :]
        return sql

    @staticmethod
    def _call(name: str, args: list[str]) -> str | None:
        upper = name.upper()
        if upper in ("MAX", "MIN") and len(args) > 1:
            return ("GREATEST(" if upper == "MAX" else "LEAST(") + ", ".join(args) + ")"
        if upper in _FUNCTIONS:
            return f"{_FUNCTIONS[upper]}({', '.join(args)})"
        if upper in ("SUM", "TOTAL", "AVG", "MAX", "MIN") and len(args) == 1:
            arg = f"CASE WHEN {args[0]} THEN 1 ELSE 0 END" if _looks_boolean(args[0]) else args[0]  # SQLite's true = 1
            if upper == "TOTAL":  # SQLite's TOTAL: a float sum, 0.0 over no rows
                return f"COALESCE(SUM({arg}), 0.0)"
            return None if arg == args[0] else f"{upper}({arg})"
        if upper == "GROUP_CONCAT":
            sep = args[1] if len(args) > 1 else "','"
            return f"STRING_AGG(CAST({args[0]} AS TEXT), {sep})"
        return None


_BOOLEAN = re.compile(r"(=|<|>|\b(IS|IN|LIKE|ILIKE|NOT|AND|OR|BETWEEN|EXISTS)\b)", re.I)


def _looks_boolean(expr: str) -> bool:
    """``expr`` is a comparison or logical expression (at its top level), which SQLite adds up as 0/1."""
    masked = _map_code(expr, lambda part: part, quoted=lambda q: "_" * len(q))
    if re.match(r"\s*CASE\b", masked, re.I):
        return False
    top, depth = [], 0
    for ch in masked:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        top.append(ch if depth == 0 and ch not in "()" else " ")
    return bool(_BOOLEAN.search("".join(top)))


def _map_code(sql: str, fn, quoted=lambda q: q) -> str:
    """Apply ``fn`` to the parts of ``sql`` outside quotes ('...' literals, "..." identifiers)."""
    out, pos = [], 0
    for m in _QUOTED.finditer(sql):
        out.append(fn(sql[pos : m.start()]))
        out.append(quoted(m.group(0)))
        pos = m.end()
    out.append(fn(sql[pos:]))
    return "".join(out)


def _placeholders(part: str) -> str:
    part = part.replace("%", "%%")
    return _PARAM.sub(lambda m: "%s" if m.group(0) == "?" else f"%({m.group(1)})s", part)


def _append_before_returning(sql: str, clause: str) -> str:
    m = re.search(r"\bRETURNING\b", sql, re.I)
    return sql.rstrip() + clause if not m else sql[: m.start()].rstrip() + clause + " " + sql[m.start() :]


def _rewrite_calls(sql: str, fn) -> str:
    """Rewrite function calls ``NAME(args)`` (outside quotes, innermost first) where ``fn(name, args)`` returns
    a replacement; ``args`` are split on top-level commas."""
    masked = _map_code(sql, lambda part: part, quoted=lambda q: "\0" * len(q))
    for m in reversed(list(re.finditer(r"\b(\w+)\s*\(", masked))):
        start, depth, i = m.end(), 1, m.end()
        while i < len(masked) and depth:
            depth += {"(": 1, ")": -1}.get(masked[i], 0)
            i += 1
        if depth:
            continue
        inner, inner_masked = sql[start : i - 1], masked[start : i - 1]
        args, level, last = [], 0, 0
        for j, ch in enumerate(inner_masked):
            level += {"(": 1, ")": -1}.get(ch, 0)
            if ch == "," and level == 0:
                args.append(inner[last:j].strip())
                last = j + 1
        args.append(inner[last:].strip())
        new = fn(m.group(1), args)
        if new is not None:
            sql = sql[: m.start()] + new + sql[i:]
            masked = masked[: m.start()] + _map_code(new, lambda part: part, quoted=lambda q: "\0" * len(q)) + masked[i:]
    return sql
