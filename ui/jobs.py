"""The background jobs the views start (run by ``workers.Task``); each is a thin call into the core.

They take a ``Control`` first and never touch widgets; what they return goes to the GUI thread by signal.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facerec.enrolment import enrol_face
from facerec.errors import FacerecError
from facerec.files import file_digest, iter_image_files
from facerec.imaging import LoadedImage
from facerec.library.grouping import list_groups, update_groups
from facerec.pipeline import Face, FaceAnalyzer, chip_thumbnail
from facerec.store import NAMED_STATUSES, FaceRecord, FaceStatus, GalleryStore
from facerec.tagging import TagProgress, tag_folder

from .images import decode_thumbnail, load_face_crops


# -- enrolment -------------------------------------------------------------------------------------
@dataclass
class PendingChoice:
    """A photo with several faces: the user picks one."""

    path: str
    image: LoadedImage
    faces: list[Face]


@dataclass
class EnrolReport:
    person: str
    enrolled: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    choices: list[PendingChoice] = field(default_factory=list)


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given, folders replaced by the images in them (recursively)."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out.extend(str(f) for f in iter_image_files(p, recursive=True))
        else:
            out.append(p)
    return out


def enrol_paths(control, store: GalleryStore, analyzer: FaceAnalyzer, person: str, paths: list[str]) -> EnrolReport:
    """Enrol the face of each photo; photos with several faces come back in ``choices``."""
    report = EnrolReport(person)
    files = expand_paths(paths)
    for i, path in enumerate(files):
        if control.cancelled:
            break
        control.progress((i, len(files), path))
        try:
            image = analyzer.load(path)
            faces = analyzer.analyze(image, keep_chips=True)
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
    control.progress((len(files), len(files), ""))
    return report


def enrol_chosen(control, store: GalleryStore, analyzer: FaceAnalyzer, person: str, choice: PendingChoice, index: int) -> str:
    enrol_face(store, analyzer, person, choice.faces[index], choice.path, file_digest(choice.path) if os.path.exists(choice.path) else None)
    return choice.path


def enrol_frames(control, store: GalleryStore, analyzer: FaceAnalyzer, person: str, frames: list[np.ndarray]) -> EnrolReport:
    """Enrol the largest face of each captured webcam frame."""
    report = EnrolReport(person)
    for i, rgb in enumerate(frames):
        label = f"capture {i + 1}"
        faces = analyzer.analyze(LoadedImage.from_array(rgb), keep_chips=True)
        if not faces:
            report.no_face.append(label)
            continue
        enrol_face(store, analyzer, person, max(faces, key=lambda f: f.area), None, None)
        report.enrolled.append(label)
    return report


def enrol_embedding(control, store: GalleryStore, model_id: str, person: str, embedding: np.ndarray, chip: np.ndarray, box) -> int:
    """Store a face seen in the live view as a sample of ``person``."""
    return store.add_sample(person, embedding, model_id, source_path=None, box=box, thumbnail=chip_thumbnail(chip))


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


@dataclass
class LibraryGroups:
    review: list[FaceRecord]
    """Suggestions (status auto) waiting for confirm/reject."""
    by_person: dict[str, list[FaceRecord]]
    unknown_clusters: list[list[FaceRecord]]
    photos: int
    errors: int
    clustered: bool = True
    group_ids: list[int] = field(default_factory=list)
    """The stored group id of each of ``unknown_clusters`` (facerec.library.grouping), 0 for ungrouped faces."""


def library_groups(control, store: GalleryStore, model_id: str, threshold: float, cluster: bool = True) -> LibraryGroups:
    """The library as the views show it: suggestions, faces by person, unknown faces in their stored groups,
    brought up to date first (new faces join groups; without ``cluster``, the stored groups as they are and new
    faces in one more group: cheap, for refreshes while a scan runs)."""
    if cluster:
        update_groups(store, model_id, threshold)
    faces = store.faces()
    review = [f for f in faces if f.status == FaceStatus.SUGGESTED]
    by_person: dict[str, list[FaceRecord]] = {}
    for f in faces:
        if f.status in NAMED_STATUSES and f.person:
            by_person.setdefault(f.person, []).append(f)
    unknown = {f.id: f for f in faces if f.status in (FaceStatus.UNKNOWN, FaceStatus.REJECTED)}
    clusters: list[list[FaceRecord]] = []
    group_ids: list[int] = []
    grouped: set[int] = set()
    for g in list_groups(store, model_id):
        members = [unknown[i] for i in g.face_ids if i in unknown]
        if members:
            clusters.append(members)
            group_ids.append(g.id)
            grouped.update(f.id for f in members)
    rest = [f for i, f in unknown.items() if i not in grouped]
    if rest:
        clusters.append(rest)
        group_ids.append(0)
    photos = store.photos()
    return LibraryGroups(review, by_person, clusters, len(photos), sum(1 for p in photos if p.error), cluster, group_ids)


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


def export_records(store: GalleryStore) -> list[dict]:
    """One record per scanned photo, in the format of ``facerec tag --json``."""
    out = []
    for photo in store.photos():
        faces = [
            {"box": f.box, "person": f.person, "distance": None if f.distance is None else round(f.distance, 4),
             "score": round(f.score, 4), "status": f.status}
            for f in store.photo_faces(photo.path)
        ]
        out.append({"path": photo.path, "faces": faces, "error": photo.error})
    return out


def export_tags(control, store: GalleryStore, path: str) -> str:
    from facerec.library.export import write_csv

    records = export_records(store)
    if path.lower().endswith(".json"):
        Path(path).write_text(json.dumps(records, indent=2), encoding="utf-8")
    else:
        write_csv(path, records)
    return path


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
    from facerec.imaging import load_image

    from .images import face_crop

    def thumb(path: str, box) -> bytes | None:
        try:
            img = load_image(path, max_side=1024)
        except Exception:
            return None
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(face_crop(img.rgb, box, img.scale, 96, margin=0.1)).save(buf, format="JPEG", quality=85)
        return buf.getvalue()

    return store.promote_confirmed(person, thumbnail_for=thumb)


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
    records = {f.id: f for f in store.faces(where=f"f.id IN ({','.join('?' * len(ids))})", params=ids)} if ids else {}
    return SimilarFaces(face_id, [records[i] for i in ids if i in records], {m.face_id: m.distance for m in q.matches})
