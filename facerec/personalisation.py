"""A personalisation head (``facerec adapt``): a linear projection applied to a gallery's embeddings and
to every query searched against it. Stored beside the gallery database as ``<db>.adapt-<model_id>.npz``.

This module is numpy-only: ``GalleryStore.gallery_index`` calls ``adapt_index`` (the one hook), so
identification, tagging and re-matching all see the projected space; stored vectors stay raw, so
``facerec adapt --revert`` (deleting the file) restores the original behaviour exactly.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .geometry import l2_normalize
from .matching import GalleryIndex

log = logging.getLogger(__name__)


def head_path(db_path: str | Path, model_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)
    return Path(f"{db_path}.adapt-{safe}.npz")


@dataclass
class ProjectionHead:
    """``x -> normalise(x @ weight)``; ``weight`` is D x D' (D = the embedder's dimension). Distances in
    the projected space are multiplied by ``scale`` so that the impostor tail stays where it was and the
    identification threshold keeps its false-accept rate."""

    weight: np.ndarray
    model_id: str
    meta: dict = field(default_factory=dict)
    scale: float = 1.0

    def apply(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, np.float32) @ self.weight.astype(np.float32)
        return l2_normalize(y)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".part.npz")
        np.savez(
            tmp, weight=self.weight.astype(np.float32), model_id=np.array(self.model_id), meta=np.array(json.dumps(self.meta)),
            scale=np.array(self.scale, np.float64),
        )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ProjectionHead:
        z = np.load(path, allow_pickle=False)
        scale = float(z["scale"]) if "scale" in z.files else 1.0
        return cls(z["weight"].astype(np.float32), str(z["model_id"]), json.loads(str(z["meta"])), scale)


class AdaptedGalleryIndex(GalleryIndex):
    """A gallery index whose samples and queries both go through a ``ProjectionHead``."""

    def __init__(self, raw: GalleryIndex, head: ProjectionHead):
        super().__init__(head.apply(raw.embeddings), raw.sample_person, raw.names, raw.model_id, raw.ann_min_samples, raw.sample_kind)
        self.raw = raw
        self.head = head
        self.distance_scale = float(head.scale)

    def project(self, queries: np.ndarray) -> np.ndarray:
        return self.head.apply(np.asarray(queries, np.float32).reshape(-1, self.raw.embeddings.shape[1]))


_cache: dict[Path, tuple[int, ProjectionHead]] = {}
_lock = threading.Lock()


def load_head(db_path: str | Path, model_id: str) -> ProjectionHead | None:
    """The head for this gallery and model, if ``facerec adapt`` made one (cached per file version)."""
    path = head_path(db_path, model_id)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    with _lock:
        hit = _cache.get(path)
        if hit and hit[0] == mtime:
            return hit[1]
        try:
            head = ProjectionHead.load(path)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: unreadable personalisation head, ignored (%s)", path, exc)
            return None
        _cache[path] = (mtime, head)
        return head


def adapt_index(db_path: str | Path, index: GalleryIndex) -> GalleryIndex:
    """``index`` projected by the gallery's personalisation head, or unchanged when there is none."""
    if len(index) == 0:
        return index
    head = load_head(db_path, index.model_id)
    if head is None:
        return index
    if head.model_id != index.model_id or head.weight.shape[0] != index.embeddings.shape[1]:
        log.warning("personalisation head for %s does not fit this gallery; ignored", index.model_id)
        return index
    return AdaptedGalleryIndex(index, head)
