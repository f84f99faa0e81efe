"""Shared geometry: box overlap, unit vectors, and the one rule for picking a face out of several.

Boxes are ``(x1, y1, x2, y2)`` in pixels. Embeddings are compared as unit vectors (cosine distance = 1 - dot).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, TypeVar

import numpy as np


def box_iou(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes: 0.0 (apart) to 1.0 (the same box)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``x`` (a vector, or vectors along the last axis) scaled to unit length, as float32; zero stays zero."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


class FaceSelection(StrEnum):
    """Which face of a photo to take when one is wanted (as facenet-pytorch's ``selection_method``)."""

    LARGEST = "largest"
    """The face with the largest box (enrolment, find-this-face, camera captures)."""
    CENTRAL = "central"
    """The face nearest the image centre among those at least a fifth the size of the largest (LFW and training
    chips: the subject is centred, bystanders are small or off-centre)."""


class _HasBox(Protocol):
    @property
    def box(self) -> np.ndarray: ...


F = TypeVar("F", bound=_HasBox)


def _area(box: Sequence[float] | np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def select_face(faces: Sequence[F], method: FaceSelection = FaceSelection.LARGEST, image_size: tuple[int, int] | None = None) -> F | None:
    """The face ``method`` picks from ``faces`` (objects with a ``box``); None when there is none.
    ``image_size`` (width, height) is needed by ``CENTRAL``."""
    if not faces:
        return None
    largest = max(faces, key=lambda f: _area(f.box))
    if method is FaceSelection.LARGEST:
        return largest
    if image_size is None:
        raise ValueError("FaceSelection.CENTRAL needs the image size")
    cx, cy = image_size[0] / 2, image_size[1] / 2
    big = [f for f in faces if _area(f.box) >= 0.2 * _area(largest.box)]
    return min(big, key=lambda f: ((f.box[0] + f.box[2]) / 2 - cx) ** 2 + ((f.box[1] + f.box[3]) / 2 - cy) ** 2)
