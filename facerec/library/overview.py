"""The library as the review views show it: suggestions to confirm or reject, faces by person, and unknown
faces in their stored groups (``facerec.library.grouping``), with photo and error counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..store import NAMED_STATUSES, FaceRecord, FaceStatus, GalleryStore
from .grouping import list_groups, update_groups

UNKNOWN_STATUSES = (FaceStatus.UNKNOWN, FaceStatus.REJECTED)
"""Faces shown as unknown (no person; a rejected suggestion counts as unknown)."""


@dataclass
class LibraryGroups:
    review: list[FaceRecord]
    """Suggestions (``FaceStatus.SUGGESTED``) waiting for confirm/reject."""
    by_person: dict[str, list[FaceRecord]]
    """Suggested and confirmed faces by person name."""
    unknown_clusters: list[list[FaceRecord]]
    """Unknown faces by stored group, the faces in no group last."""
    photos: int
    errors: int
    clustered: bool = True
    group_ids: list[int] = field(default_factory=list)
    """The stored group id of each of ``unknown_clusters``, 0 for ungrouped faces."""


def library_groups(store: GalleryStore, model_id: str, threshold: float, cluster: bool = True) -> LibraryGroups:
    """The faces of the library grouped for review, brought up to date first (new faces join groups; without
    ``cluster``, the stored groups as they are and new faces in one more group: cheap, for refreshes while a scan
    runs)."""
    if cluster:
        update_groups(store, model_id, threshold)
    faces = store.faces()
    review = [f for f in faces if f.status == FaceStatus.SUGGESTED]
    by_person: dict[str, list[FaceRecord]] = {}
    for f in faces:
        if f.status in NAMED_STATUSES and f.person:
            by_person.setdefault(f.person, []).append(f)
    unknown = {f.id: f for f in faces if f.status in UNKNOWN_STATUSES}
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
