"""The undo log: every library operation keeps the before-images of the rows it changed, in the gallery.

An *operation* (a decision on faces, an assignment, a merge, a sample removal, an ignore, a face drawn by
hand...) runs in one transaction together with its log entry, so the log survives a restart and can never
disagree with the data. ``undo(store)`` takes the newest operation, puts back every row it touched exactly
as it was (faces, people, samples, the people a face was rejected for, including the re-matching the
operation caused), and drops the entry. Undo is a stack: the newest operation first.

Usage (the API the CLI and the GUI both use)::

    with operation(store, "assign", "face 12 -> Kit") as op:
        op.keep("faces", [12])          # before changing a row: snapshot it (first snapshot wins)
        ...change rows through store methods (they join the operation's transaction)...
    undo(store)                         # -> UndoResult(kind="assign", summary="face 12 -> Kit", rows=...)
    history(store)                      # -> [OperationInfo], newest first

Not undoable: removing a person (it erases their face data, and the log with it; see
``GalleryStore.delete_person``), scans, and settings. Rows an operation touched that a rescan has
replaced since (a face whose photo is gone) are skipped by undo, with a note in ``UndoResult.skipped``.
The log keeps the newest ``KEEP_OPERATIONS`` operations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..store import GalleryStore, decode_snapshot, encode_snapshot

log = logging.getLogger(__name__)

KEEP_OPERATIONS = 1000
"""The log keeps this many operations (older ones can no longer be undone)."""

TABLES = ("people", "samples", "faces")
"""Tables whose rows (by ``id``) an operation can snapshot; ``face_rejections`` is kept per face."""
REJECTIONS = "face_rejections"


@dataclass
class OperationInfo:
    id: int
    created_at: float
    kind: str
    summary: str
    rows: int


@dataclass
class UndoResult:
    id: int
    kind: str
    summary: str
    rows: int
    """Rows put back."""
    skipped: int = 0
    """Rows that could not be put back (their photo was rescanned or removed since)."""


_UNCHANGING = {"faces": ("embedding", "box", "landmarks")}
"""Columns no operation changes, left out of snapshots (a re-matching's log entry would be ten times bigger)."""


class Operation:
    """One operation being recorded: ``keep`` snapshots rows before they change (the first snapshot of a
    row wins, so an operation that touches a row twice is undone to its state before the operation)."""

    def __init__(self, store: GalleryStore, conn: sqlite3.Connection, op_id: int):
        self.store = store
        self.conn = conn
        self.id = op_id
        self._seen: set[tuple[str, int]] = set()
        self._seq = 0

    @property
    def rows(self) -> int:
        return len(self._seen)

    def _add(self, table: str, row_id: int, before: str | None) -> None:
        self._seen.add((table, row_id))
        self._seq += 1
        self.store.log_row(self.conn, self.id, self._seq, table, row_id, before)

    def keep(self, table: str, ids: Iterable[int]) -> None:
        """Snapshot rows of ``table`` (one of ``TABLES``) by id; an id with no row yet is recorded as
        absent, so undo deletes the row the operation creates (call ``created`` after inserting it)."""
        if table not in TABLES:
            raise ValueError(f"cannot keep rows of {table!r}")
        todo = sorted({int(i) for i in ids if (table, int(i)) not in self._seen})
        for start in range(0, len(todo), 500):
            chunk = todo[start : start + 500]
            rows = self.store.rows_by_id(self.conn, table, chunk)
            for i in chunk:
                self._add(table, i, encode_snapshot(rows[i], _UNCHANGING.get(table, ())) if i in rows else None)

    def created(self, table: str, row_id: int) -> None:
        """Record a row this operation inserted (undo deletes it)."""
        if (table, row_id) not in self._seen:
            self._add(table, int(row_id), None)

    def keep_rejections(self, face_ids: Iterable[int]) -> None:
        """Snapshot the people each face was rejected for."""
        for fid in sorted({int(i) for i in face_ids if (REJECTIONS, int(i)) not in self._seen}):
            people = self.store.rejected_people(self.conn, fid)
            self._add(REJECTIONS, fid, json.dumps(people))


@contextlib.contextmanager
def operation(store: GalleryStore, kind: str, summary: str) -> Iterator[Operation]:
    """Run one undoable operation in one transaction; yields the ``Operation`` to record changes with.
    An operation that kept no rows leaves no log entry."""
    with store.transaction() as conn:
        op = Operation(store, conn, store.log_operation(conn, kind, summary))
        yield op
        if op.rows == 0:
            store.drop_operation(conn, op.id)
        else:
            store.trim_operations(conn, KEEP_OPERATIONS)


def history(store: GalleryStore, limit: int = 20) -> list[OperationInfo]:
    """The newest undoable operations, newest first."""
    rows = store.operation_history(limit)
    return [OperationInfo(r["id"], r["created_at"], r["kind"], r["summary"], r["n"]) for r in rows]


def undo(store: GalleryStore) -> UndoResult | None:
    """Undo the newest operation (None when there is nothing to undo). Returns what was undone."""
    with store.transaction() as conn:
        top = store.newest_operation(conn)
        if top is None:
            return None
        first: dict[tuple[str, int], str | None] = {}
        for r in store.operation_log_rows(conn, top["id"]):
            first.setdefault((r["tbl"], r["row_id"]), r["before"])
        restored = skipped = 0
        for table in TABLES:  # rows that existed before: put back, parents first
            for (tbl, _row_id), before in first.items():
                if tbl == table and before is not None:
                    if _restore(store, conn, table, decode_snapshot(before)):
                        restored += 1
                    else:
                        skipped += 1
        for (tbl, face_id), before in first.items():
            if tbl == REJECTIONS and before is not None:
                if not store.row_exists(conn, "faces", face_id):
                    skipped += 1
                    continue
                store.replace_rejections(conn, face_id, json.loads(before))
                restored += 1
        for table in reversed(TABLES):  # rows the operation created: removed, children first
            for (tbl, row_id), before in first.items():
                if tbl == table and before is None:
                    store.delete_row(conn, table, row_id)
                    restored += 1
        store.drop_operation(conn, top["id"])
    if skipped:
        log.warning("undo %s: %d rows were not put back (their photos were rescanned or removed since)", top["summary"], skipped)
    return UndoResult(top["id"], top["kind"], top["summary"], restored, skipped)


SET_NULL_REFERENCES = {
    "faces": {"person_id": "people", "group_id": "face_groups"},
    "samples": {"face_id": "faces"},
    "people": {"feature_face_id": "faces"},
}
"""The ``ON DELETE SET NULL`` references of the logged tables: a row put back whose target is gone since (an
emptied group a regrouping deleted, a face a rescan replaced) gets NULL there, as the database itself would
have done had the row been in place when its target went."""


def _restore(store: GalleryStore, conn: sqlite3.Connection, table: str, row: dict) -> bool:
    """Put one row back as it was: update it in place, or insert it again with its id. False when it cannot
    or must not come back (a detected face a rescan replaced, a face whose photo is gone)."""
    row = dict(row)
    for col, target in SET_NULL_REFERENCES.get(table, {}).items():
        if row.get(col) is not None and not store.row_exists(conn, target, row[col]):
            row[col] = None
    if store.row_exists(conn, table, row["id"]):
        store.update_row(conn, table, row)
        return True
    if table == "faces" and row.get("source") != "manual":
        return False  # a detected face is only ever removed by a rescan, which found its successor
    try:
        store.insert_row(conn, table, row)
    except sqlite3.IntegrityError as exc:
        log.info("undo: %s row %s not put back (%s)", table, row["id"], exc)
        return False
    return True


def clear(store: GalleryStore) -> None:
    """Forget the whole undo log."""
    store.clear_operations()

