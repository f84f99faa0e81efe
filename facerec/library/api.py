"""``Library``: one gallery's library operations behind one object (the GUI's entry point; the CLI uses the
same functions). Every method is Qt-free, may run in a worker thread, and returns dataclasses.

    lib = Library(store, analyzer)                       # the threshold in force follows analyzer.settings
    lib.decide([12, 13], Action.CONFIRM)                 # -> DecisionResult (undoable; re-matches at once)
    lib.decide([14], Action.ASSIGN, "Kit Harington")
    lib.undo()                                           # -> UndoResult | None
    lib.history()                                        # -> [OperationInfo], newest first
    lib.rematch()                                        # -> RematchResult (after a threshold change, an enrolment)
    lib.person_page("Kit Harington", limit=200)          # -> PersonPage
    lib.people(include_hidden=False)                     # -> [PersonSummary]
    lib.search(PhotoQuery(people=["obama", "biden"]))    # -> [PhotoHit]
    lib.add_face("/photos/a.jpg", (x1, y1, x2, y2), "Kit")  # -> ManualFace
    lib.rescan_offer()                                   # -> RescanOffer
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..store import GalleryStore
from . import people as _people
from . import undo as _undo
from .manual import ManualFace, add_manual_face
from .rescan import RescanOffer, rescan_offer
from .review import (
    Action,
    DecisionResult,
    MatchPolicy,
    RematchResult,
    decide,
    rematch_logged,
)
from .search import PhotoHit, PhotoQuery, search_photos


class Library:
    def __init__(self, store: GalleryStore, analyzer):
        self.store = store
        self.analyzer = analyzer

    @property
    def policy(self) -> MatchPolicy:
        """The model and threshold in force now (read on every call, so a settings change applies at once;
        no model is loaded for it)."""
        return MatchPolicy.from_settings(self.analyzer.settings)

    def decide(self, face_ids: Sequence[int], action: Action | str, person: str | int | None = None) -> DecisionResult:
        return decide(self.store, self.policy, face_ids, action, person)

    def rematch(self, reason: str = "re-match the library") -> RematchResult:
        return rematch_logged(self.store, self.policy, reason)

    def undo(self) -> _undo.UndoResult | None:
        return _undo.undo(self.store)

    def history(self, limit: int = 20) -> list[_undo.OperationInfo]:
        return _undo.history(self.store, limit)

    def person_page(self, person: str | int, limit: int | None = None, offset: int = 0) -> _people.PersonPage:
        return _people.person_page(self.store, person, limit, offset)

    def people(self, include_hidden: bool = False) -> list[_people.PersonSummary]:
        return _people.people_overview(self.store, include_hidden)

    def set_hidden(self, person: str | int, hidden: bool):
        return _people.set_hidden(self.store, person, hidden)

    def set_feature_face(self, person: str | int, face_id: int | None):
        return _people.set_feature_face(self.store, person, face_id)

    def merge(self, source: str | int, target: str | int):
        return _people.merge_people(self.store, self.policy, source, target)

    def rename(self, old: str | int, new: str):
        return _people.rename_person(self.store, old, new)

    def remove_sample(self, sample_id: int) -> RematchResult | None:
        return _people.remove_sample(self.store, self.policy, sample_id)

    def remove_person(self, person: str | int):
        return _people.remove_person(self.store, self.policy, person)

    def search(self, query: PhotoQuery) -> list[PhotoHit]:
        return search_photos(self.store, query)

    def add_face(self, path: str | os.PathLike, box: Sequence[float], person: str | int | None = None) -> ManualFace:
        return add_manual_face(self.store, self.analyzer, path, box, person, self.policy)

    def rescan_offer(self) -> RescanOffer:
        return rescan_offer(self.store, self.analyzer.model_id, self.analyzer.settings.detector.min_face_size)
