"""Rescans after a model or minimum-face-size change: what is out of date, and redoing it.

Each photo records the model and the detector's minimum face size it was scanned with. When the settings
differ, ``rescan_offer`` counts the photos a rescan would redo, so the CLI and the GUI can offer it;
``rescan`` redoes only those (and picks up new files in the library's folders), or every photo with
``everything``. Decisions are carried over by the store (``GalleryStore.save_photo``: confirmed, rejected
and ignored faces keep their state when the same face is found again; faces drawn by hand stay).

API::

    offer = rescan_offer(store, analyzer.model_id, settings.detector.min_face_size)
    offer.outdated, offer.describe()                      # -> int, "12 of 300 photos were scanned with..."
    rescan(store, analyzer, everything=False)             # -> RescanResult(photos, faces, errors)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..store import GalleryStore


@dataclass
class RescanOffer:
    total: int
    """Photos in the library."""
    other_model: int
    """Scanned with another embedder model."""
    other_min_face_size: int
    """Scanned with another minimum face size (photos that did not record it are not counted)."""
    outdated: int
    """Photos a rescan of "what is missing" would redo (either of the above)."""
    folders: list[str]
    model_id: str
    min_face_size: int

    def describe(self) -> str:
        if not self.outdated:
            return f"all {self.total} photos are up to date (model {self.model_id}, minimum face size {self.min_face_size} px)"
        why = []
        if self.other_model:
            why.append(f"{self.other_model} with another model")
        if self.other_min_face_size:
            why.append(f"{self.other_min_face_size} with another minimum face size")
        return (
            f"{self.outdated} of {self.total} photos were scanned with other settings ({', '.join(why)}): "
            "`facerec rescan` redoes them, `facerec rescan --all` every photo (decisions are kept)"
        )

    def to_dict(self) -> dict:
        return dict(vars(self).items())


@dataclass
class RescanResult:
    photos: int
    faces: int
    errors: int
    skipped: int


def rescan_offer(store: GalleryStore, model_id: str, min_face_size: int) -> RescanOffer:
    """How many photos were scanned with settings other than these (see ``RescanOffer``)."""
    total, other_model, other_size, outdated = store.rescan_counts(model_id, min_face_size)
    return RescanOffer(total, other_model, other_size, outdated, library_folders(store), model_id, int(min_face_size))


def library_folders(store: GalleryStore) -> list[str]:
    """Every folder that holds a photo of the library (sorted)."""
    return sorted({os.path.dirname(path) for path in store.photo_paths()})


def rescan(
    store: GalleryStore,
    analyzer,
    everything: bool = False,
    progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> RescanResult:
    """Rescan the library's folders: photos scanned with other settings (and new files), or with
    ``everything`` every photo. Folders that no longer exist are skipped. Returns the counts."""
    from ..tagging import tag_folder

    photos = faces = errors = skipped = 0
    for folder in library_folders(store):
        if not os.path.isdir(folder):
            continue
        for res in tag_folder(folder, store, analyzer, recursive=False, cancel=cancel, force=everything):
            photos += 1
            faces += len(res.faces)
            errors += res.error is not None
            skipped += res.skipped
            if progress and res.error:
                progress(f"error: {res.path}: {res.error}")
        if cancel is not None and cancel.is_set():
            break
    return RescanResult(photos - skipped, faces, errors, skipped)
