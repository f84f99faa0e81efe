"""The background jobs the views start (run by ``workers.Task``); each is a thin call into the core.

They take a ``Control`` first and never touch widgets; what they return goes to the GUI thread by signal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from facerec import enrolment
from facerec.enrolment import EnrolReport, PendingChoice
from facerec.library import overview
from facerec.library.export import export_library
from facerec.library.overview import LibraryGroups
from facerec.library.samples import promote_confirmed
from facerec.library.thumbnails import decode_thumbnail, load_face_crops
from facerec.pipeline import FaceAnalyzer
from facerec.store import FaceRecord, GalleryStore
from facerec.tagging import TagProgress, tag_folder


# -- enrolment (facerec.enrolment) ---------------------------------------------------------------
def enrol_paths(control, store: GalleryStore, analyzer: FaceAnalyzer, person: str, paths: list[str]) -> EnrolReport:
    """Enrol the face of each photo; photos with several faces come back in ``choices``."""
    return enrolment.enrol_paths(
        store, analyzer, person, paths, progress=lambda i, n, path: control.progress((i, n, path)), cancelled=lambda: control.cancelled
    )


def enrol_chosen(control, store: GalleryStore, analyzer: FaceAnalyzer, person: str, choice: PendingChoice, index: int) -> str:
    enrolment.enrol_chosen(store, analyzer, person, choice, index)
    return choice.path


def enrol_frames(control, store: GalleryStore, analyzer: FaceAnalyzer, person: str, frames: list[np.ndarray]) -> EnrolReport:
    """Enrol the largest face of each captured webcam frame."""
    return enrolment.enrol_frames(store, analyzer, person, frames)


def enrol_embedding(control, store: GalleryStore, model_id: str, person: str, embedding: np.ndarray, chip: np.ndarray, box) -> int:
    """Store a face seen in the live view as a sample of ``person``."""
    return enrolment.enrol_embedding(store, model_id, person, embedding, chip, box)


# -- people ----------------------------------------------------------------------------------------
@dataclass
class PersonRow:
    """One line of the People list."""

    name: str
    samples: int
    thumbnail: np.ndarray | None
    """H x W x 3 uint8 RGB, decoded on the worker thread; the GUI thread makes the pixmap (no Qt object is
    made off the GUI thread)."""


def people_list(control, store: GalleryStore, size: int = 56) -> list[PersonRow] | None:
    """Everyone in the gallery with their sample count and first thumbnail, decoded and scaled to ``size``
    (two queries whatever the number of people). None when cancelled."""
    people = store.list_people()
    thumbs = store.first_thumbnails()
    rows: list[PersonRow] = []
    for i, p in enumerate(people):
        if i % 16 == 0:
            if control is not None and control.cancelled:
                return None
            time.sleep(0)  # hand the GIL to the GUI thread now and then
        rows.append(PersonRow(p.name, p.sample_count, decode_thumbnail(thumbs.get(p.id), size)))
    return rows


# -- library ---------------------------------------------------------------------------------------
@dataclass
class ScanSummary:
    folder: str
    photos: int
    skipped: int
    errors: int
    faces: int
    cancelled: bool
    last: TagProgress | None


def scan_folder(control, store: GalleryStore, analyzer: FaceAnalyzer, folder: str, recursive: bool) -> ScanSummary:
    last: list[TagProgress] = []

    def progress(p: TagProgress) -> None:
        last[:] = [p]
        control.progress(p)

    photos = skipped = errors = faces = 0
    for res in tag_folder(folder, store, analyzer, recursive=recursive, progress=progress, cancel=control.cancel_event):
        photos += 1
        skipped += res.skipped
        errors += res.error is not None
        faces += len(res.faces)
        if control.cancelled:
            break
    return ScanSummary(folder, photos, skipped, errors, faces, control.cancelled, last[0] if last else None)


def library_groups(control, store: GalleryStore, model_id: str, threshold: float, cluster: bool = True) -> LibraryGroups:
    """facerec.library.overview.library_groups: the faces grouped for the review views."""
    return overview.library_groups(store, model_id, threshold, cluster)


def face_thumbnails(control, items: list[tuple[int, str, list[float]]], size: int = 96) -> int:
    """Report (face id, RGB array) crops in batches as they are made (the GUI thread makes the pixmaps)."""
    batch, n = [], 0
    for key, image in load_face_crops(items, size, cancelled=lambda: control.cancelled):
        batch.append((key, image))
        n += 1
        if len(batch) >= 8:
            control.progress(batch)
            batch = []
    if batch:
        control.progress(batch)
    return n


def export_tags(control, store: GalleryStore, path: str) -> str:
    """facerec.library.export.export_library: JSON or CSV of the library's tags."""
    return str(export_library(store, path))


def write_xmp(control, store: GalleryStore, folder: str | None, style: str):
    """``facerec xmp write``: each photo's named faces into its XMP sidecar (under ``folder``, or everywhere)."""
    from facerec.library.xmp_sync import write_xmp as write

    return write(store, folder or None, style=style, progress=lambda done, total: control.progress((done, total)), cancel=control.cancel_event)


def sync_xmp(control, store: GalleryStore, settings):
    """Rewrite the XMP files facerec wrote that decisions made stale (the ``xmp_sync`` setting); None when off."""
    from facerec.library.xmp_sync import after_decisions

    return after_decisions(store, settings)


def promote(control, store: GalleryStore, person: str) -> int:
    """Turn a person's confirmed faces into samples, with a thumbnail cropped from each photo."""
    return promote_confirmed(store, person)


def personalise(control, store: GalleryStore, analyzer: FaceAnalyzer):
    """``facerec adapt``: fit a projection head on the gallery, kept only if cross-validation improves."""
    from facerec.training.adapt import adapt_store

    return adapt_store(store, analyzer)


def undo_personalisation(control, store: GalleryStore, analyzer: FaceAnalyzer) -> bool:
    from facerec.training.adapt import revert

    return revert(store.path, analyzer.model_id)


# -- the map of faces, find this face --------------------------------------------------------------
def face_map(control, store: GalleryStore, model_id: str, method: str = "pca"):
    """facerec.library.facemap.FaceMap of the gallery and library (plain data; drawn on the GUI thread)."""
    from facerec.library.facemap import face_map as compute

    return compute(store, model_id, method)


@dataclass
class SimilarFaces:
    """A face and the library faces most like it (records with their distances), for the Library view."""

    face_id: int
    faces: list[FaceRecord]
    distances: dict[int, float]


def similar_faces(control, store: GalleryStore, face_id: int, top: int = 30) -> SimilarFaces:
    from facerec.library.similar import similar_to_face

    q = similar_to_face(store, face_id, top)
    ids = [m.face_id for m in q.matches]
    records = {f.id: f for f in store.faces(ids=ids)} if ids else {}
    return SimilarFaces(face_id, [records[i] for i in ids if i in records], {m.face_id: m.distance for m in q.matches})
