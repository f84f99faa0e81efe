"""Tagging results as files: one CSV row per face, a JSON array of per-image records, and the streamed
``--json``/``--csv`` outputs of ``facerec tag`` (written to temporary files that replace the targets on
success, so an interrupted scan leaves no half-written file). Used by the CLI and the GUI's export.

A record is ``TagResult.to_dict()``: ``{"path", "faces": [{"person", "distance", "score", "box", ...}], "error"}``;
``library_records`` makes the same records from the gallery (with each face's status), ``export_library`` writes them.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store import GalleryStore

CSV_HEADER = ["path", "person", "distance", "score", "x1", "y1", "x2", "y2", "error"]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet cell beginning with one of these is run as a formula (CSV injection, OWASP)."""


def csv_text(value: str) -> str:
    """A text cell that a spreadsheet shows as text: one beginning like a formula gets a leading ``'`` (as
    OWASP recommends for CSV injection); every other text is written as it is."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_rows(r: dict) -> list[list]:
    """One row per face (an image without faces or with an error gets one row with empty face fields). Names,
    paths and errors are neutralised against formula injection (``csv_text``); numbers are written as numbers."""
    path = csv_text(r["path"])
    if not r["faces"]:
        return [[path, "", "", "", "", "", "", "", csv_text(r["error"] or "")]]
    return [[path, csv_text(face["person"] or ""), face["distance"], face["score"], *face["box"], ""] for face in r["faces"]]


def write_csv(path: str | Path, records: Iterable[dict]) -> None:
    """Write ``records`` as CSV (``CSV_HEADER``, then ``csv_rows`` of each)."""
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(CSV_HEADER)
        for r in records:
            w.writerows(csv_rows(r))


class JsonArrayWriter:
    """Writes a JSON array one element at a time; the text equals ``json.dumps(items, indent=2)``."""

    def __init__(self, f: IO[str]):
        self._f = f
        self.count = 0

    def write(self, item: Any) -> None:
        self._f.write(("[\n  " if self.count == 0 else ",\n  ") + json.dumps(item, indent=2).replace("\n", "\n  "))
        self.count += 1

    def finish(self) -> None:
        self._f.write("\n]" if self.count else "[]")


class TagOutputs:
    """The --json and --csv files of ``facerec tag``, written as results arrive into temporary files that
    replace the targets on ``close()`` (``abort()`` removes them: an interrupted scan leaves no half-written file)."""

    def __init__(self, json_path: str | None, csv_path: str | None):
        self._files: list[tuple[Path, Path, IO[str]]] = []
        self._json: JsonArrayWriter | None = None
        self._csv: Any = None
        if json_path:
            self._json = JsonArrayWriter(self._open(json_path, newline=None))
        if csv_path:
            self._csv = csv.writer(self._open(csv_path, newline=""))
            self._csv.writerow(CSV_HEADER)

    def _open(self, path: str, newline: str | None) -> IO[str]:
        target = Path(path)
        # a name of its own (two scans writing one --json file must not share a temporary file)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp = Path(name)
        f = open(fd, "w", encoding="utf-8", errors="surrogateescape", newline=newline)
        self._files.append((target, tmp, f))
        return f

    def write(self, record: dict) -> None:
        if self._json is not None:
            self._json.write(record)
        if self._csv is not None:
            self._csv.writerows(csv_rows(record))

    def close(self) -> None:
        if self._json is not None:
            self._json.finish()
        for target, tmp, f in self._files:
            f.close()
            os.replace(tmp, target)
        self._files = []

    def abort(self) -> None:
        for _, tmp, f in self._files:
            f.close()
            tmp.unlink(missing_ok=True)
        self._files = []


def library_records(store: GalleryStore) -> list[dict]:
    """One record per scanned photo, in the format of ``facerec tag --json`` plus each face's ``status``."""
    out = []
    for photo in store.photos():
        faces = [
            {"box": f.box, "person": f.person, "distance": None if f.distance is None else round(f.distance, 4),
             "score": round(f.score, 4), "status": f.status}
            for f in store.photo_faces(photo.path)
        ]
        out.append({"path": photo.path, "faces": faces, "error": photo.error})
    return out


def export_library(store: GalleryStore, path: str | Path) -> Path:
    """Write ``library_records`` to ``path``: JSON when it ends in .json, else CSV (one row per face). Returns it."""
    path = Path(path)
    records = library_records(store)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    else:
        write_csv(path, records)
    return path
