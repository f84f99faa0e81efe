"""Search the library: photos by people (all of them, any of them, without someone), folder and date taken.

A photo "holds" a person when one of its faces is confirmed as them or suggested for them (suggestions
count by default, so a fresh scan is searchable; ``confirmed_only`` counts confirmed faces alone). Ignored
and rejected faces never count. Results are ordered by date taken (photos without a date last), then path.

API::

    search_photos(store, PhotoQuery(people=["obama", "biden"]))          # -> [PhotoHit], both in each
    search_photos(store, PhotoQuery(people=["obama"], without=["biden"], folder="/photos/2019",
                                    date_from="2019-06", date_to="2019-08"))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import StoreError
from ..store import FaceStatus, GalleryStore, _path_param
from .dates import fill_missing_dates, parse_bound


@dataclass
class PhotoQuery:
    people: list[str | int] = field(default_factory=list)
    """Names or ids; the photo holds all of them (``any_person``: at least one of them)."""
    any_person: bool = False
    without: list[str | int] = field(default_factory=list)
    """The photo holds none of these."""
    folder: str | None = None
    """Only photos under this folder (recursively)."""
    date_from: str | None = None
    """'YYYY', 'YYYY-MM', 'YYYY-MM-DD' or with a time: from the start of that period."""
    date_to: str | None = None
    """As ``date_from``: up to the end of that period."""
    confirmed_only: bool = False
    limit: int | None = None


@dataclass
class PhotoHit:
    photo_id: int
    path: str
    taken_at: str | None
    people: list[str]
    """Everyone the photo holds (confirmed or suggested), by name."""
    width: int | None = None
    height: int | None = None

    def to_dict(self) -> dict:
        return {"id": self.photo_id, "path": self.path, "taken_at": self.taken_at or None, "people": self.people}


def _person_ids(store: GalleryStore, names: list[str | int]) -> list[int]:
    return [store.get_person(n).id for n in names]


def search_photos(store: GalleryStore, query: PhotoQuery) -> list[PhotoHit]:
    """Photos matching ``query`` (see ``PhotoQuery``). Raises StoreError for an unknown person, ValueError
    for a malformed date. A date range first reads the dates of photos scanned before they were stored."""
    statuses = (FaceStatus.CONFIRMED,) if query.confirmed_only else (FaceStatus.CONFIRMED, FaceStatus.SUGGESTED)
    people = _person_ids(store, query.people)
    without = _person_ids(store, query.without)
    if set(people) & set(without):
        raise StoreError("a person cannot be both wanted and excluded")
    raw: bytes | None = None
    if query.folder:
        prefix = _path_param(os.path.abspath(query.folder).rstrip(os.sep) + os.sep)
        raw = prefix.encode("utf-8") if isinstance(prefix, str) else prefix
    dated = bool(query.date_from or query.date_to)
    if dated:
        fill_missing_dates(store)
    rows = store.search_photos(
        people,
        without,
        statuses,
        any_person=query.any_person,
        folder_prefix=raw,
        dated=dated,
        date_from=parse_bound(query.date_from) if query.date_from else None,
        date_to=parse_bound(query.date_to, end=True) if query.date_to else None,
        limit=query.limit,
    )
    names = _people_in(store, [r["id"] for r in rows], statuses)
    return [PhotoHit(r["id"], r["path"], r["taken_at"], names.get(r["id"], []), r["width"], r["height"]) for r in rows]


def _people_in(store: GalleryStore, photo_ids: list[int], statuses: tuple[str, ...]) -> dict[int, list[str]]:
    """Photo id -> the names of the people it holds (sorted)."""
    out: dict[int, set[str]] = {}
    for pid, name in store.people_in_photos(photo_ids, statuses):
        out.setdefault(pid, set()).add(name)
    return {k: sorted(v, key=str.casefold) for k, v in out.items()}
