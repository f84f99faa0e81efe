"""Enrolling people: a face from a photo becomes a sample of a person in the gallery."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from .errors import EnrolmentError
from .files import file_digest
from .imaging import LoadedImage
from .pipeline import Face, FaceAnalyzer, chip_thumbnail
from .store import GalleryStore

log = logging.getLogger(__name__)


@dataclass
class EnrolResult:
    path: str | None
    person: str
    sample_id: int
    face: Face
    faces_in_image: int


def choose_face(faces: list[Face], path: str, largest: bool) -> Face:
    """The one face to enrol from a photo: refuse none or several, unless ``largest`` picks the biggest."""
    if not faces:
        raise EnrolmentError(f"{path}: no face found; use a photo where the face is clearly visible")
    if len(faces) > 1 and not largest:
        raise EnrolmentError(
            f"{path}: {len(faces)} faces found; use a photo of this person alone, or --largest to take the largest face"
        )
    return max(faces, key=lambda f: f.area)


def enrol_face(store: GalleryStore, analyzer: FaceAnalyzer, name: str, face: Face, source: str | None, source_hash: str | None) -> int:
    """Store one analysed face (with its chip) as a sample of ``name`` (created if new)."""
    if face.embedding is None or face.chip is None:
        raise ValueError("enrol_face needs a face analysed with keep_chips=True")
    return store.add_sample(
        name,
        face.embedding,
        analyzer.model_id,
        source_path=source,
        source_hash=source_hash,
        box=[float(v) for v in face.box],
        thumbnail=chip_thumbnail(face.chip),
    )


def enrol_image(
    store: GalleryStore,
    analyzer: FaceAnalyzer,
    name: str,
    image: str | os.PathLike | LoadedImage,
    largest: bool = False,
    face_index: int | None = None,
) -> EnrolResult:
    """Enrol the face in one photo. ``face_index`` picks one of several faces (as ordered by ``analyze``)."""
    if isinstance(image, LoadedImage):
        loaded, path, digest = image, image.path, None
    else:
        path = os.fspath(image)
        loaded = analyzer.load(path)
        digest = file_digest(path)
    faces = analyzer.analyze(loaded, keep_chips=True)
    label = path or "image"
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise EnrolmentError(f"{label}: face {face_index} does not exist ({len(faces)} faces found)")
        face = faces[face_index]
    else:
        face = choose_face(faces, label, largest)
    sample_id = enrol_face(store, analyzer, name, face, path, digest)
    log.info("%s: enrolled as %s (sample %d)", label, name, sample_id)
    return EnrolResult(path, name, sample_id, face, len(faces))
