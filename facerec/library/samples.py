"""Samples made from the library: a person's confirmed faces become enrolment samples ("use confirmed faces as
samples" in the GUI, and after ``facerec import-tags``), each face once, with a thumbnail cropped from its photo."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..store import GalleryStore
from .thumbnails import face_thumbnail_jpeg


def promote_confirmed(
    store: GalleryStore,
    person: str | int,
    thumbnail_for: Callable[[str, Sequence[float]], bytes | None] | None = face_thumbnail_jpeg,
) -> int:
    """Add each confirmed face of ``person`` that is not yet a sample as a sample (in one transaction); returns
    how many were added. ``thumbnail_for(path, box)`` makes each sample's thumbnail (None: no thumbnails)."""
    added = 0
    with store.transaction():
        for face in store.confirmed_faces_without_sample(person):
            thumb = thumbnail_for(face.path, face.box) if thumbnail_for else None
            store.add_sample(face.person_id, face.embedding, face.model_id, face.path, face.content_hash, face.box, thumb, face.face_id)
            added += 1
    return added
