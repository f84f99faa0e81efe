"""Find this face: the library faces most like a given face, with their cosine distances.

The query is a stored face (by id) or a photo (every face found in it, or the largest). The search runs over
every face of the same model in the library, nearest first (``GalleryStore.nearest_faces``: an exact scan on
SQLite, pgvector's index on PostgreSQL), whatever its status: named, suggested, unknown or ignored.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import FacerecError
from ..geometry import FaceSelection, select_face

log = logging.getLogger(__name__)


@dataclass
class SimilarFace:
    """One library face found like the query."""

    face_id: int
    distance: float
    """Cosine distance to the query (0 = the same direction)."""
    path: str
    box: list[float]
    person: str | None
    status: str

    def to_dict(self) -> dict:
        return {"face_id": self.face_id, "distance": round(self.distance, 4), "path": self.path,
                "box": [round(float(v), 1) for v in self.box], "person": self.person, "status": self.status}


@dataclass
class SimilarQuery:
    """One query face and what the library holds like it."""

    source: str
    """``face <id>`` or the photo's path."""
    box: list[float] | None
    matches: list[SimilarFace] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"query": self.source, "box": None if self.box is None else [round(float(v), 1) for v in self.box],
                "matches": [m.to_dict() for m in self.matches]}


def similar_to_embedding(store, embedding: np.ndarray, model_id: str, top: int = 10, exclude: set[int] | None = None) -> list[SimilarFace]:
    """The ``top`` library faces of ``model_id`` nearest to ``embedding`` (minus ``exclude``), nearest first."""
    exclude = exclude or set()
    found = [(fid, d) for fid, d in store.nearest_faces(np.asarray(embedding, np.float32), model_id, top + len(exclude)) if fid not in exclude][:top]
    if not found:
        return []
    records = {f.id: f for f in store.faces(ids=[fid for fid, _ in found])}
    return [
        SimilarFace(fid, float(d), records[fid].path, list(records[fid].box), records[fid].person, records[fid].status)
        for fid, d in found if fid in records
    ]


def similar_to_face(store, face_id: int, top: int = 10) -> SimilarQuery:
    """The library faces most like stored face ``face_id`` (itself left out). StoreError if there is no such face."""
    model_id = store.face_model(face_id)
    emb = store.face_embeddings([face_id])[0]
    (record,) = store.faces(ids=[int(face_id)]) or [None]
    return SimilarQuery(f"face {face_id}", None if record is None else list(record.box),
                        similar_to_embedding(store, emb, model_id, top, exclude={int(face_id)}))


def similar_to_photo(store, analyzer, path: str | os.PathLike, top: int = 10, all_faces: bool = False) -> list[SimilarQuery]:
    """For the largest face of the photo (or each face, with ``all_faces``), the most similar library faces.
    Raises FacerecError naming the photo when it holds no face (ImageError when it cannot be read)."""
    faces = analyzer.analyze(path)
    if not faces:
        raise FacerecError(f"{path}: no face found")
    if not all_faces:
        faces = [select_face(faces, FaceSelection.LARGEST)]
    return [
        SimilarQuery(str(path), [float(v) for v in f.box], similar_to_embedding(store, f.embedding, analyzer.model_id, top))
        for f in faces
    ]
