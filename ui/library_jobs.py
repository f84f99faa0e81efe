"""Background jobs of the library pages (undo, the photo viewer, person pages, search, look-alike mosaics).

Each takes a ``Control`` first (``workers.Task``), calls the Qt-free ``facerec.library.api.Library`` and returns
plain data (dataclasses, numpy arrays): no Qt object is ever made here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from facerec.errors import FacerecError
from facerec.library.api import Library
from facerec.library.people import PersonPage
from facerec.library.review import Action
from facerec.library.search import PhotoHit, PhotoQuery
from facerec.store import FaceRecord, GalleryStore


def decide(control, lib: Library, face_ids: Sequence[int], action: Action | str, person: str | int | None = None):
    """``Library.decide``: one undoable decision, the library re-matched at once -> DecisionResult."""
    return lib.decide(list(face_ids), action, person)


def undo(control, lib: Library):
    """``Library.undo``: the last operation undone -> UndoResult | None (nothing to undo)."""
    return lib.undo()


def last_operation(control, lib: Library) -> str | None:
    """The summary of the operation Ctrl+Z would undo, None when there is none."""
    ops = lib.history(1)
    return ops[0].summary if ops else None


# -- the photo viewer --------------------------------------------------------------------------------
@dataclass
class PhotoData:
    """A photo for the viewer: its pixels (reduced to ``max_side``), its original size and its faces."""

    path: str
    rgb: np.ndarray | None
    """H x W x 3 uint8 RGB, or None when the photo cannot be read (``error`` says why)."""
    full_size: tuple[int, int]
    faces: list[FaceRecord] = field(default_factory=list)
    error: str | None = None


def load_photo(control, store: GalleryStore, path: str, max_side: int = 2048) -> PhotoData:
    """Decode ``path`` (the GUI thread makes the QImage) and read its stored faces."""
    from facerec.imaging import load_image

    faces = store.photo_faces(path)
    try:
        img = load_image(path, max_side=max_side)
    except FacerecError as exc:
        return PhotoData(path, None, (0, 0), faces, str(getattr(exc, "reason", exc)))
    return PhotoData(path, img.rgb, img.full_size, faces)


def photo_faces(control, store: GalleryStore, path: str) -> list[FaceRecord]:
    return store.photo_faces(path)


def add_face(control, lib: Library, path: str, box: Sequence[float], person: str | None = None):
    """``Library.add_face``: a face drawn by hand (original photo pixels) embedded and stored -> ManualFace."""
    return lib.add_face(path, box, person)


def suggested_person(control, store: GalleryStore, face_id: int) -> str | None:
    """The person a face is suggested for or named as (the chooser's pre-selection), None if unknown."""
    rows = store.faces(ids=[face_id])
    return rows[0].person if rows else None


# -- person pages, search ----------------------------------------------------------------------------
def person_page(control, lib: Library, person: str, limit: int | None = 500) -> PersonPage:
    return lib.person_page(person, limit=limit)


def people(control, lib: Library, include_hidden: bool = False):
    return lib.people(include_hidden)


def set_hidden(control, lib: Library, person: str, hidden: bool):
    return lib.set_hidden(person, hidden)


def set_feature_face(control, lib: Library, person: str, face_id: int):
    return lib.set_feature_face(person, face_id)


def search(control, lib: Library, query: PhotoQuery) -> list[PhotoHit]:
    return lib.search(query)


def rescan_offer(control, lib: Library):
    return lib.rescan_offer()


def rescan(control, store: GalleryStore, analyzer, everything: bool):
    from facerec.library.rescan import rescan as run

    return run(store, analyzer, everything, progress=control.progress, cancel=control.cancel_event)


# -- look-alike groups as mosaics ----------------------------------------------------------------------
@dataclass
class GroupMosaic:
    """One look-alike group: its stable id and its faces (closest to the group's centre first)."""

    id: int
    faces: list[FaceRecord]
    manual: bool


def look_alike_groups(control, store: GalleryStore, model: str, min_size: int = 2, per_group: int = 12) -> list[GroupMosaic]:
    """``grouping.update_groups`` (cheap when nothing is new) then ``list_groups``: the groups, largest first."""
    from facerec.library.grouping import grouping_threshold, list_groups, pack_model_id, update_groups

    model_id = pack_model_id(model)
    update_groups(store, model_id, grouping_threshold(model))
    groups = list_groups(store, model_id, min_size=min_size)
    ids = [i for g in groups for i in g.face_ids]
    records: dict[int, FaceRecord] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for f in store.faces(ids=chunk):
            records[f.id] = f
    out = [GroupMosaic(g.id, [records[i] for i in g.face_ids if i in records], g.manual) for g in groups]
    out.sort(key=lambda g: (-len(g.faces), g.id))
    return out


def decide_group(control, store: GalleryStore, lib: Library, group_id: int, action: str, person: str | None = None):
    """Name (``'assign'``) or ignore a whole look-alike group (``grouping.decide_group``)."""
    from facerec.library.grouping import decide_group as run

    return run(store, group_id, action, person, lib.policy)


def merge_groups(control, store: GalleryStore, group_ids: Sequence[int]) -> int:
    from facerec.library.grouping import merge_groups as run

    return run(store, list(group_ids))


def split_group(control, store: GalleryStore, group_id: int, face_ids: Sequence[int]) -> int:
    from facerec.library.grouping import split_group as run

    return run(store, group_id, list(face_ids))
