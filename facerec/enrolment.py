"""Enrolling people: a face from a photo (or a camera frame, or the live view) becomes a sample of a person in
the gallery. ``enrol_image`` is the CLI's one-photo rule; ``enrol_paths`` the GUI's batch (files and folders,
photos with several faces handed back for the user to choose)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import EnrolmentError, FacerecError, ModelNotInstalledError
from .files import file_digest, iter_image_files
from .geometry import FaceSelection, select_face
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
    return select_face(faces, FaceSelection.LARGEST)


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


@dataclass
class PendingChoice:
    """A photo with several faces: the user picks one (``enrol_chosen``)."""

    path: str
    image: LoadedImage
    faces: list[Face]


@dataclass
class EnrolReport:
    """What a batch enrolment did: photos enrolled, photos without a face, unreadable ones (path, reason), and
    photos with several faces waiting for a choice."""

    person: str
    enrolled: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    choices: list[PendingChoice] = field(default_factory=list)


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files as given, folders replaced by the images in them (recursively)."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out.extend(str(f) for f in iter_image_files(p, recursive=True))
        else:
            out.append(p)
    return out


def enrol_paths(
    store: GalleryStore,
    analyzer: FaceAnalyzer,
    person: str,
    paths: Sequence[str],
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> EnrolReport:
    """Enrol the one face of each photo (folders: every image in them); a photo with several faces comes back in
    ``choices``, an unreadable one in ``errors`` with the reason, and the rest goes on. ``progress(done, total,
    path)`` is called before each photo and once at the end (with path "")."""
    report = EnrolReport(person)
    files = expand_paths(paths)
    for i, path in enumerate(files):
        if cancelled():
            break
        if progress:
            progress(i, len(files), path)
        try:
            image = analyzer.load(path)
            faces = analyzer.analyze(image, keep_chips=True)
        except ModelNotInstalledError:
            raise  # not this photo's fault: stop (the GUI then offers to install the model)
        except FacerecError as exc:
            report.errors.append((path, str(getattr(exc, "reason", exc))))
            continue
        if not faces:
            report.no_face.append(path)
        elif len(faces) == 1:
            enrol_face(store, analyzer, person, faces[0], path, file_digest(path))
            report.enrolled.append(path)
        else:
            report.choices.append(PendingChoice(path, image, faces))
    if progress:
        progress(len(files), len(files), "")
    return report


def enrol_chosen(store: GalleryStore, analyzer: FaceAnalyzer, person: str, choice: PendingChoice, index: int) -> int:
    """Enrol face ``index`` of a photo with several faces; returns the sample id."""
    digest = file_digest(choice.path) if os.path.exists(choice.path) else None
    return enrol_face(store, analyzer, person, choice.faces[index], choice.path, digest)


def enrol_frames(store: GalleryStore, analyzer: FaceAnalyzer, person: str, frames: Sequence[np.ndarray]) -> EnrolReport:
    """Enrol the largest face of each camera frame (H x W x 3 uint8 RGB); frames without a face are reported
    as "capture N" in ``no_face``."""
    report = EnrolReport(person)
    for i, rgb in enumerate(frames):
        label = f"capture {i + 1}"
        faces = analyzer.analyze(LoadedImage.from_array(rgb), keep_chips=True)
        if not faces:
            report.no_face.append(label)
            continue
        enrol_face(store, analyzer, person, select_face(faces, FaceSelection.LARGEST), None, None)
        report.enrolled.append(label)
    return report


def enrol_embedding(store: GalleryStore, model_id: str, person: str, embedding: np.ndarray, chip: np.ndarray, box: Sequence[float]) -> int:
    """Store a face seen in the live view (its embedding and aligned chip) as a sample of ``person``; returns
    the sample id."""
    return store.add_sample(person, embedding, model_id, source_path=None, box=box, thumbnail=chip_thumbnail(chip))
