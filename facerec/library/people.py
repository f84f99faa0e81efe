"""Person pages and changes to people that re-match the library.

A person page lists every face of the person in the library: confirmed ones first (by date taken, then
path), then the suggestions to confirm in place (nearest first), with counts and the feature face (the one
the user chose, else the first confirmed face). Hidden people stay recognised and searchable; they are
left out of ``people_overview`` unless asked for (the People view's "show hidden").

Every change here is one undoable operation (facerec.library.undo) except ``remove_person``, which erases
the person's face data (and the undo log with it). Merges, renames and removals re-match the library.

API (shapes)::

    people_overview(store)                      # -> [PersonSummary] (hidden ones left out)
    person_page(store, "Kit", limit=500)        # -> PersonPage(person, counts, feature_face_id, faces)
    set_feature_face(store, "Kit", face_id); set_hidden(store, "Kit", True)
    merge_people(store, policy, "Kit H", "Kit"); rename_person(store, policy, "Kit", "Kit Harington")
    remove_sample(store, policy, sample_id); remove_person(store, policy, "Kit")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import StoreError
from ..store import FaceStatus, GalleryStore, Person
from .review import MatchPolicy, RematchResult, rematch
from .undo import operation


@dataclass
class PersonFace:
    face_id: int
    photo_id: int
    path: str
    box: list[float]
    status: str
    """'confirmed' or 'auto' (a suggestion)."""
    distance: float | None
    taken_at: str | None
    width: int | None
    height: int | None
    source: str


@dataclass
class PersonCounts:
    photos: int
    """Photos holding the person (confirmed or suggested)."""
    confirmed: int
    suggested: int
    rejected: int
    samples: int


@dataclass
class PersonPage:
    person: Person
    hidden: bool
    feature_face_id: int | None
    feature_chosen: bool
    """True when the user chose the feature face; else it is the first confirmed face."""
    counts: PersonCounts
    faces: list[PersonFace] = field(default_factory=list)
    """Confirmed faces first, then suggestions; at most ``limit`` from ``offset``."""


@dataclass
class PersonSummary:
    id: int
    name: str
    hidden: bool
    samples: int
    confirmed: int
    suggested: int
    feature_face_id: int | None


def people_overview(store: GalleryStore, include_hidden: bool = False) -> list[PersonSummary]:
    """Everyone with counts and feature face, by name (hidden people only with ``include_hidden``)."""
    rows = store.people_summaries(include_hidden)
    return [PersonSummary(r["id"], r["name"], bool(r["hidden"]), r["ns"], r["nc"], r["na"], r["feature_face_id"] or r["first_face"]) for r in rows]


def person_page(store: GalleryStore, person: str | int, limit: int | None = None, offset: int = 0) -> PersonPage:
    """The person's page (see the module docstring). Raises StoreError for an unknown person."""
    with store.snapshot():  # the counts and the faces from the same state, whatever is decided meanwhile
        p = store.get_person(person)
        head = store.person_page_head(p.id)
        rows = store.person_page_faces(p.id, limit, offset)
    faces = [
        PersonFace(r["id"], r["photo_id"], r["path"], json.loads(r["box"]), r["status"], r["distance"], r["taken_at"], r["width"], r["height"], r["source"])
        for r in rows
    ]
    counts = PersonCounts(head["photos"], head["confirmed"], head["suggested"], head["rejected"], head["samples"])
    chosen = head["feature_face_id"]
    return PersonPage(p, bool(head["hidden"]), chosen or head["first_face"], chosen is not None, counts, faces)


def set_hidden(store: GalleryStore, person: str | int, hidden: bool) -> Person:
    """Hide a person from the people overview, or show them again (undoable)."""
    p = store.get_person(person)
    with operation(store, "hide" if hidden else "unhide", f"{'hide' if hidden else 'unhide'} {p.name}") as op:
        op.keep("people", [p.id])
        store.set_person_hidden(p.id, hidden)
    return p


def set_feature_face(store: GalleryStore, person: str | int, face_id: int | None) -> Person:
    """Choose the face that stands for the person (None: back to the first confirmed face). Undoable."""
    p = store.get_person(person)
    with operation(store, "feature", f"feature face of {p.name}: {face_id}") as op:
        if face_id is not None:
            row = store.face_state(face_id)
            if row is None:
                raise StoreError(f"no face with id {face_id}")
            if row["person_id"] != p.id or row["status"] not in (FaceStatus.CONFIRMED, FaceStatus.SUGGESTED):
                raise StoreError(f"face {face_id} is not {p.name}'s")
        op.keep("people", [p.id])
        store.set_feature_face(p.id, face_id)
    return p


def merge_people(store: GalleryStore, policy: MatchPolicy | None, source: str | int, target: str | int) -> tuple[Person, RematchResult | None]:
    """Move every sample, face and rejection of ``source`` to ``target``, delete ``source``, re-match.
    Undoable. Returns the target and the re-matching counts."""
    src, dst = store.get_person(source), store.get_person(target)
    with operation(store, "merge", f"merge {src.name} into {dst.name}") as op:
        op.keep("people", [src.id, dst.id])
        op.keep("samples", store.person_sample_ids(src.id))
        op.keep("faces", store.person_face_ids(src.id))
        op.keep_rejections(store.faces_rejected_for([src.id, dst.id]))
        merged = store.merge_people(src.id, dst.id)
        result = rematch(store, policy, op) if policy is not None else None
    return merged, result


def rename_person(store: GalleryStore, old: str | int, new: str) -> Person:
    """Rename a person (undoable; matching goes by id, so nothing needs re-matching)."""
    p = store.get_person(old)
    with operation(store, "rename", f"rename {p.name} to {new}") as op:
        op.keep("people", [p.id])
        return store.rename_person(p.id, new)


def remove_sample(store: GalleryStore, policy: MatchPolicy | None, sample_id: int) -> RematchResult | None:
    """Remove one enrolment sample (undoable: the log keeps it until the person is removed), re-match."""
    with operation(store, "remove-sample", f"remove sample {sample_id}") as op:
        op.keep("samples", [sample_id])
        store.remove_sample(sample_id)
        return rematch(store, policy, op) if policy is not None else None


def remove_person(store: GalleryStore, policy: MatchPolicy | None, person: str | int) -> tuple[Person, RematchResult | None]:
    """Erase a person (samples, thumbnails, assignments; NOT undoable: the undo log is cleared with it),
    then re-match their faces against everyone else."""
    gone = store.delete_person(person)
    return gone, (rematch(store, policy) if policy is not None else None)
